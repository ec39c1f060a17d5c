//! The authorized-operation bit sets Kafka's describe APIs answer (KIP-430): bit `n` set
//! when the operation with code `n` is allowed on the resource. Without an authorizer, a
//! principal may do everything a resource type has, as Kafka answers then; with one, each
//! operation of the type is checked as a request for it would be.

use crate::authorizer::AclOperation::{self, *};
use crate::authorizer::{ResourceType, CLUSTER_NAME};
use crate::handlers::RequestContext;

/// What may be done to a topic.
const TOPIC: &[AclOperation] = &[
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    DescribeConfigs,
    AlterConfigs,
];

/// What may be done to a group (its configs too, since KIP-848).
const GROUP: &[AclOperation] = &[Read, Delete, Describe, DescribeConfigs, AlterConfigs];

/// What may be done to the cluster.
const CLUSTER: &[AclOperation] = &[
    Create,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
];

/// The bits of the operations of `operations` the request's principal may do on the
/// resource.
fn allowed(ctx: &RequestContext, operations: &[AclOperation], resource_type: ResourceType, name: &str) -> i32 {
    operations
        .iter()
        .filter(|&&op| ctx.authorize_operation(op, resource_type, name))
        .fold(0, |bits, &op| bits | 1 << op.code())
}

/// What the request's principal may do to topic `name`.
pub fn topic(ctx: &RequestContext, name: &str) -> i32 {
    allowed(ctx, TOPIC, ResourceType::Topic, name)
}

/// What the request's principal may do to group `id`.
pub fn group(ctx: &RequestContext, id: &str) -> i32 {
    allowed(ctx, GROUP, ResourceType::Group, id)
}

/// What the request's principal may do to the cluster: nothing (0) without DESCRIBE on
/// it, as Kafka's Metadata and DescribeCluster answer.
pub fn cluster(ctx: &RequestContext) -> i32 {
    match ctx.authorize_operation(Describe, ResourceType::Cluster, CLUSTER_NAME) {
        true => allowed(ctx, CLUSTER, ResourceType::Cluster, CLUSTER_NAME),
        false => 0,
    }
}

/// The value of an authorized-operations field the client did not ask for.
pub const NOT_ASKED: i32 = i32::MIN;

/// `operations` if the request asked for them, [`NOT_ASKED`] otherwise.
pub fn if_asked(asked: bool, operations: i32) -> i32 {
    if asked {
        operations
    } else {
        NOT_ASKED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(operations: &[AclOperation]) -> i32 {
        operations.iter().fold(0, |bits, &op| bits | 1 << op.code())
    }

    /// The values a Kafka 4.4 broker without an authorizer answers.
    #[test]
    fn sets_are_kafkas() {
        assert_eq!(bits(TOPIC), 3576);
        assert_eq!(bits(GROUP), 3400);
        assert_eq!(bits(CLUSTER), 8096);
    }
}
