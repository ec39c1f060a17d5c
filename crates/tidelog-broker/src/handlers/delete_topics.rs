//! DeleteTopics: by name (v1-5) or by name or topic id (v6+).

use std::ops::RangeInclusive;
use tidelog_protocol::messages::delete_topics_request::DeleteTopicsRequest;
use tidelog_protocol::messages::delete_topics_response::{DeletableTopicResult, DeleteTopicsResponse};
use tidelog_protocol::{ErrorCode, ResponseBody, Uuid};

use crate::authorizer::ResourceType;
use crate::broker::{ApiError, Broker};
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 1 to 6.
pub const VERSIONS: RangeInclusive<i16> = 1..=6;

pub async fn handle(ctx: &RequestContext, request: DeleteTopicsRequest) -> Reply {
    let may_delete = |name: &str| ctx.authorize(ResourceType::Topic, name);
    Reply::Now(ResponseBody::DeleteTopics(respond(&ctx.broker, request, may_delete)))
}

/// `may_delete` says whether the principal may delete the topic of that name; the others
/// are refused TOPIC_AUTHORIZATION_FAILED.
pub(crate) fn respond(
    broker: &Broker,
    request: DeleteTopicsRequest,
    may_delete: impl Fn(&str) -> bool,
) -> DeleteTopicsResponse {
    let by_name = request.topic_names.into_iter().map(|name| (Some(name), Uuid::NIL));
    let by_state = request.topics.into_iter().map(|t| (t.name, t.topic_id));
    let responses = by_name
        .chain(by_state)
        .map(|(name, id)| delete(broker, name, id, &may_delete))
        .collect();
    DeleteTopicsResponse {
        responses,
        ..Default::default()
    }
}

fn delete(broker: &Broker, name: Option<String>, id: Uuid, may_delete: impl Fn(&str) -> bool) -> DeletableTopicResult {
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
