//! CreatePartitions: raises a topic's partition count.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::create_partitions_request::CreatePartitionsRequest;
use tidelog_protocol::messages::create_partitions_response::{CreatePartitionsResponse, CreatePartitionsTopicResult};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorizer::ResourceType;
use crate::broker::{too_many_partitions, ApiError, Broker, MAX_NEW_PARTITIONS_PER_REQUEST};
use crate::client_quotas::controller_mutation::MutationQuota;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 3.
pub const VERSIONS: RangeInclusive<i16> = 0..=3;

/// The first version whose client knows THROTTLING_QUOTA_EXCEEDED (KIP-599).
const STRICT_QUOTA_VERSION: i16 = 3;

pub async fn handle(ctx: &RequestContext, request: CreatePartitionsRequest) -> Reply {
    let mut quota = ctx.broker.controller_mutations.quota_for(ctx, STRICT_QUOTA_VERSION);
    let mut response = respond(ctx, request, &mut quota);
    response.throttle_time_ms = quota.throttle(ctx);
    Reply::Now(ResponseBody::CreatePartitions(response))
}

/// The partitions added are charged to `quota`, topic by topic.
fn respond(
    ctx: &RequestContext,
    request: CreatePartitionsRequest,
    quota: &mut MutationQuota,
) -> CreatePartitionsResponse {
    let broker = &ctx.broker;
    let too_many = new_partitions(broker, &request) > MAX_NEW_PARTITIONS_PER_REQUEST;
    let results = request
        .topics
        .into_iter()
        .map(|topic| {
            let assignment = topic
                .assignments
                .map(|assignments| assignments.into_iter().map(|a| a.broker_ids).collect());
            let outcome = if !ctx.authorize(ResourceType::Topic, &topic.name) {
                Err(ApiError::new(
                    ErrorCode::TOPIC_AUTHORIZATION_FAILED,
                    "Authorization failed.",
                ))
            } else if too_many {
                Err(too_many_partitions())
            } else {
                charge(broker, quota, &topic.name, topic.count, request.validate_only).and_then(|()| {
                    broker
                        .create_partitions(&topic.name, topic.count, assignment, request.validate_only)
                        .map(|_| ())
                })
            };
            let (error_code, error_message) = match outcome {
                Ok(()) => (0, None),
                Err(err) => (err.code.0, Some(err.message)),
            };
            CreatePartitionsTopicResult {
                name: topic.name,
                error_code,
                error_message,
                ..Default::default()
            }
        })
        .collect();
    CreatePartitionsResponse {
        results,
        ..Default::default()
    }
}

/// Charges the partitions a topic would gain to the client's `controller_mutation_rate`;
/// nothing for a validation, or for a count that adds none (refused anyway).
fn charge(
    broker: &Broker,
    quota: &mut MutationQuota,
    name: &str,
    count: i32,
    validate_only: bool,
) -> Result<(), ApiError> {
    let current = broker.metadata.image().topic(name).map(|t| t.partitions);
    match current {
        Some(current) if !validate_only && count > current => quota.record(i64::from(count - current)),
        _ => Ok(()),
    }
}

/// The partitions the request would add to existing topics.
fn new_partitions(broker: &Broker, request: &CreatePartitionsRequest) -> i64 {
    let image = broker.metadata.image();
    request
        .topics
        .iter()
        .filter_map(|t| Some(i64::from(t.count) - i64::from(image.topic(&t.name)?.partitions)))
        .filter(|added| *added > 0)
        .sum()
}
