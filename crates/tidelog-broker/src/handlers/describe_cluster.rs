//! DescribeCluster: the live brokers (v2: the fenced ones too, if asked) and the controller,
//! at their endpoints on the listener the request came in on.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::describe_cluster_request::DescribeClusterRequest;
use tidelog_protocol::messages::describe_cluster_response::{DescribeClusterBroker, DescribeClusterResponse};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::handlers::{Reply, RequestContext};
use crate::{authorized_operations, cluster};

/// The versions served, as ApiVersions advertises them: 0 to 2.
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

/// Kafka's endpoint type for brokers; 2 asks for controllers, which we do not expose.
const ENDPOINT_TYPE_BROKERS: i8 = 1;

pub async fn handle(ctx: &RequestContext, request: DescribeClusterRequest) -> Reply {
    Reply::Now(ResponseBody::DescribeCluster(respond(ctx, request)))
}

fn respond(ctx: &RequestContext, request: DescribeClusterRequest) -> DescribeClusterResponse {
    let broker = &ctx.broker;
    if request.endpoint_type != ENDPOINT_TYPE_BROKERS {
        return DescribeClusterResponse {
            error_code: ErrorCode::MISMATCHED_ENDPOINT_TYPE.0,
            error_message: Some("The request was sent to an endpoint of type BROKER".into()),
            endpoint_type: ENDPOINT_TYPE_BROKERS,
            cluster_id: broker.cluster_id.clone(),
            ..Default::default()
        };
    }
    let brokers = cluster::brokers(broker, &ctx.listener, request.include_fenced_brokers)
        .into_iter()
        .map(|b| DescribeClusterBroker {
            broker_id: b.id,
            host: b.host,
            port: i32::from(b.port),
            rack: b.rack,
            is_fenced: b.fenced,
            ..Default::default()
        })
        .collect();
    DescribeClusterResponse {
        cluster_id: broker.cluster_id.clone(),
        controller_id: cluster::controller_id(broker),
        brokers,
        cluster_authorized_operations: authorized_operations::if_asked(
            request.include_cluster_authorized_operations,
            authorized_operations::cluster(ctx),
        ),
        ..Default::default()
    }
}
