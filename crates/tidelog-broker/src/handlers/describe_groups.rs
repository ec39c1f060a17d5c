//! DescribeGroups: state, protocol and members of each group. A group not known here is
//! described as Dead, and from v6 also gets GROUP_ID_NOT_FOUND, as Kafka does (KIP-1043).
//! A KIP-848 consumer group is described with protocol type "consumer" and its members
//! (its assignments are ConsumerGroupDescribe's to tell).

use std::ops::RangeInclusive;
use tidelog_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use tidelog_protocol::messages::describe_groups_response::{
    DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
};

use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorized_operations;
use crate::authorizer::ResourceType;
use crate::coordinator::consumer::group::ConsumerGroup;
use crate::coordinator::group::state::{Group, GroupState};
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 6.
pub const VERSIONS: RangeInclusive<i16> = 0..=6;

pub async fn handle(ctx: &RequestContext, request: DescribeGroupsRequest) -> Reply {
    Reply::Now(ResponseBody::DescribeGroups(respond(ctx, request)))
}

pub(crate) fn respond(ctx: &RequestContext, request: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let (broker, version) = (&ctx.broker, ctx.api_version);
    let asked = request.include_authorized_operations;
    let groups = request
        .groups
        .into_iter()
        .map(|id| {
            if !ctx.authorize(ResourceType::Group, &id) {
                return DescribedGroup {
                    error_code: ErrorCode::GROUP_AUTHORIZATION_FAILED.0,
                    group_id: id,
                    ..Default::default()
                };
            }
            if let Some(described) = broker.consumer_groups.with_existing(&id, |g| describe_consumer(g)) {
                return described;
            }
            broker.groups.with_existing(&id, describe).unwrap_or_else(|| {
                let (error_code, error_message) = match version >= 6 {
                    true => (ErrorCode::GROUP_ID_NOT_FOUND.0, Some(format!("Group {id} not found."))),
                    false => (0, None),
                };
                DescribedGroup {
                    error_code,
                    error_message,
                    group_id: id,
                    group_state: GroupState::Dead.name().to_string(),
                    ..Default::default()
                }
            })
        })
        .map(|group| DescribedGroup {
            authorized_operations: match group.error_code {
                0 => authorized_operations::if_asked(asked, authorized_operations::group(ctx, &group.group_id)),
                _ => authorized_operations::NOT_ASKED,
            },
            ..group
        })
        .collect();
    DescribeGroupsResponse {
        groups,
        ..Default::default()
    }
}

fn describe(group: &mut Group) -> DescribedGroup {
    let protocol = group.protocol_name.clone().unwrap_or_default();
    // Members and their assignments are meaningful only once the leader has assigned.
    let show_assignments = group.state == GroupState::Stable;
    let members = group
        .members
        .values()
        .map(|m| DescribedGroupMember {
            member_id: m.id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            member_metadata: m.metadata(&protocol),
            member_assignment: if show_assignments {
                m.assignment.clone()
            } else {
                Default::default()
            },
            ..Default::default()
        })
        .collect();
    DescribedGroup {
        group_id: group.id.clone(),
        group_state: group.state.name().to_string(),
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        protocol_data: protocol,
        members,
        ..Default::default()
    }
}

fn describe_consumer(group: &ConsumerGroup) -> DescribedGroup {
    let members = group
        .members
        .values()
        .map(|m| DescribedGroupMember {
            member_id: m.id.clone(),
            group_instance_id: m.instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            ..Default::default()
        })
        .collect();
    DescribedGroup {
        group_id: group.id.clone(),
        group_state: group.state().to_string(),
        protocol_type: "consumer".to_string(),
        protocol_data: group.assignor.clone(),
        members,
        ..Default::default()
    }
}
