//! DeleteTopics: by name (v1-5) or by name or topic id (v6+).

use std::ops::RangeInclusive;
use tidelog_protocol::messages::delete_topics_request::DeleteTopicsRequest;
use tidelog_protocol::messages::delete_topics_response::{DeletableTopicResult, DeleteTopicsResponse};
use tidelog_protocol::{ErrorCode, ResponseBody, Uuid};

use crate::authorizer::ResourceType;
use crate::broker::{ApiError, Broker};
use crate::client_quotas::controller_mutation::MutationQuota;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 1 to 6.
pub const VERSIONS: RangeInclusive<i16> = 1..=6;

/// The first version whose client knows THROTTLING_QUOTA_EXCEEDED (KIP-599).
const STRICT_QUOTA_VERSION: i16 = 5;

pub async fn handle(ctx: &RequestContext, request: DeleteTopicsRequest) -> Reply {
    let may_delete = |name: &str| ctx.authorize(ResourceType::Topic, name);
    let mut quota = ctx.broker.controller_mutations.quota_for(ctx, STRICT_QUOTA_VERSION);
    let mut response = respond(&ctx.broker, request, may_delete, &mut quota);
    response.throttle_time_ms = quota.throttle(ctx);
    Reply::Now(ResponseBody::DeleteTopics(response))
}

/// `may_delete` says whether the principal may delete the topic of that name; the others
/// are refused TOPIC_AUTHORIZATION_FAILED. The partitions deleted are charged to `quota`.
fn respond(
    broker: &Broker,
    request: DeleteTopicsRequest,
    may_delete: impl Fn(&str) -> bool,
    quota: &mut MutationQuota,
) -> DeleteTopicsResponse {
    let by_name = request.topic_names.into_iter().map(|name| (Some(name), Uuid::NIL));
    let by_state = request.topics.into_iter().map(|t| (t.name, t.topic_id));
    let responses = by_name
        .chain(by_state)
        .map(|(name, id)| delete(broker, name, id, &may_delete, quota))
        .collect();
    DeleteTopicsResponse {
        responses,
        ..Default::default()
    }
}

fn delete(
    broker: &Broker,
    name: Option<String>,
    id: Uuid,
    may_delete: impl Fn(&str) -> bool,
    quota: &mut MutationQuota,
) -> DeletableTopicResult {
    let resolved = match &name {
        Some(name) => Ok(name.clone()),
        None => broker
            .metadata
            .image()
            .topic_by_id(id)
            .map(|t| t.name.clone())
            .ok_or_else(|| ApiError::new(ErrorCode::UNKNOWN_TOPIC_ID, format!("Topic id {id} not found"))),
    };
    let outcome = resolved.and_then(|n| {
        if !may_delete(&n) {
            return Err(ApiError::new(
                ErrorCode::TOPIC_AUTHORIZATION_FAILED,
                "Authorization failed.",
            ));
        }
        if !broker.config.delete_topic_enable {
            return Err(ApiError::new(
                ErrorCode::TOPIC_DELETION_DISABLED,
                "Topic deletion is disabled.",
            ));
        }
        if let Some(topic) = broker.metadata.image().topic(&n) {
            quota.record(i64::from(topic.partitions))?;
        }
        broker.delete_topic(&n)
    });
    match outcome {
        Ok(topic) => DeletableTopicResult {
            name: Some(topic.name),
            topic_id: topic.id,
            ..Default::default()
        },
        Err(err) => DeletableTopicResult {
            name,
            topic_id: id,
            error_code: err.code.0,
            error_message: Some(err.message),
            ..Default::default()
        },
    }
}
