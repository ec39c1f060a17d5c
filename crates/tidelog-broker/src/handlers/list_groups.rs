//! ListGroups: every group with its protocol type, filtered by state (v4+) and type (v5+);
//! all groups here are classic ones.

use tidelog_protocol::messages::list_groups_request::ListGroupsRequest;
use tidelog_protocol::messages::list_groups_response::{ListGroupsResponse, ListedGroup};

use crate::broker::Broker;

const CLASSIC: &str = "classic";

pub fn handle(broker: &Broker, request: ListGroupsRequest) -> ListGroupsResponse {
    // Kafka compares states and types case-insensitively.
    let matches =
        |filter: &[String], value: &str| filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value));
    let mut groups = Vec::new();
    broker.groups.for_each(|g| {
        let state = g.state.name();
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
