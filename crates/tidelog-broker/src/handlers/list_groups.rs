//! ListGroups: every group with its protocol type, filtered by state (v4+) and type (v5+);
//! classic groups have type "classic", KIP-848 groups type "consumer".

use std::ops::RangeInclusive;
use tidelog_protocol::messages::list_groups_request::ListGroupsRequest;
use tidelog_protocol::messages::list_groups_response::{ListGroupsResponse, ListedGroup};
use tidelog_protocol::ResponseBody;

use crate::authorizer::ResourceType;
use crate::broker::Broker;
use crate::coordinator::group::state::GroupState;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 5.
pub const VERSIONS: RangeInclusive<i16> = 0..=5;

const CLASSIC: &str = "classic";
const CONSUMER: &str = "consumer";

pub async fn handle(ctx: &RequestContext, request: ListGroupsRequest) -> Reply {
    let mut response = respond(&ctx.broker, request);
    // Without DESCRIBE on the cluster, the groups the principal may describe.
    if !ctx.authorize_cluster() {
        response
            .groups
            .retain(|g| ctx.authorize(ResourceType::Group, &g.group_id));
    }
    Reply::Now(ResponseBody::ListGroups(response))
}

pub(crate) fn respond(broker: &Broker, request: ListGroupsRequest) -> ListGroupsResponse {
    // Kafka compares states and types case-insensitively.
    let matches =
        |filter: &[String], value: &str| filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value));
    let mut groups = Vec::new();
    let mut consumer_groups = Vec::new();
    broker.consumer_groups.for_each(|g| {
        consumer_groups.push(g.id.clone());
        let state = g.state();
        if matches(&request.states_filter, state) && matches(&request.types_filter, CONSUMER) {
            groups.push(ListedGroup {
                group_id: g.id.clone(),
                protocol_type: CONSUMER.to_string(),
                group_state: state.to_string(),
                group_type: CONSUMER.to_string(),
                ..Default::default()
            });
        }
    });
    broker.groups.for_each(|g| {
        let state = g.state.name();
        // A consumer group's offsets are kept by an empty classic group of the same id.
        if consumer_groups.contains(&g.id) && g.state == GroupState::Empty {
            return;
        }
        if matches(&request.states_filter, state) && matches(&request.types_filter, CLASSIC) {
            groups.push(ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                group_state: state.to_string(),
                group_type: CLASSIC.to_string(),
                ..Default::default()
            });
        }
    });
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    ListGroupsResponse {
        groups,
        ..Default::default()
    }
}
