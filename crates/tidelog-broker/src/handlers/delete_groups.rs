//! DeleteGroups: removes groups without members and their committed offsets, answering
//! once the tombstones are durable. Groups with members get NON_EMPTY_GROUP.

use std::ops::RangeInclusive;

use tidelog_protocol::messages::delete_groups_request::DeleteGroupsRequest;
use tidelog_protocol::messages::delete_groups_response::{DeletableGroupResult, DeleteGroupsResponse};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::authorizer::ResourceType;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 2.
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

pub async fn handle(ctx: &RequestContext, request: DeleteGroupsRequest) -> Reply {
    let broker = &ctx.broker;
    let mut writes = Vec::new();
    let results = request
        .groups_names
        .into_iter()
        .map(|group_id| {
            let deleted = match broker.consumer_groups.has_members(&group_id) {
                _ if !ctx.authorize(ResourceType::Group, &group_id) => Err(ErrorCode::GROUP_AUTHORIZATION_FAILED),
                true => Err(ErrorCode::NON_EMPTY_GROUP),
                false => broker.groups.delete_group(&broker.partitions, &group_id),
            };
            let error = match deleted {
                Ok(write) => {
                    writes.extend(write);
                    ErrorCode::NONE
                }
                Err(code) => code,
            };
            DeletableGroupResult {
                group_id,
                error_code: error.0,
                ..Default::default()
            }
        })
        .collect();
    Reply::Later(Box::pin(async move {
        for write in &writes {
            write.durable().await;
        }
        ResponseBody::DeleteGroups(DeleteGroupsResponse {
            results,
            ..Default::default()
        })
    }))
}
