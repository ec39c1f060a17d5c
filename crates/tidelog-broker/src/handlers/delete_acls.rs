//! DeleteAcls (v1-3): removes every ACL each filter selects, written to the metadata log as
//! RemoveAccessControlEntryRecords; each filter's result lists what it removed.

use std::ops::RangeInclusive;

use tidelog_protocol::messages::delete_acls_request::DeleteAclsRequest;
use tidelog_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl, DeleteAclsResponse,
};
use tidelog_protocol::{ErrorCode, ResponseBody};
use tracing::info;

use crate::authorizer::{AclBinding, AclFilter};
use crate::handlers::acls::{denied_or_disabled, WireFilter};
use crate::handlers::{Reply, RequestContext};
use crate::metadata::MetadataEvent;

/// The versions served, as ApiVersions advertises them: 1 to 3.
pub const VERSIONS: RangeInclusive<i16> = 1..=3;

pub async fn handle(ctx: &RequestContext, request: DeleteAclsRequest) -> Reply {
    Reply::Now(ResponseBody::DeleteAcls(respond(ctx, request)))
}

fn respond(ctx: &RequestContext, request: DeleteAclsRequest) -> DeleteAclsResponse {
    let failed = |code: ErrorCode, message: String| DeleteAclsFilterResult {
        error_code: code.0,
        error_message: Some(message),
        ..Default::default()
    };
    if let Some((code, message)) = denied_or_disabled(ctx) {
        return DeleteAclsResponse {
            filter_results: request.filters.iter().map(|_| failed(code, message.clone())).collect(),
            ..Default::default()
        };
    }
    let filters: Vec<Result<AclFilter, String>> = request
        .filters
        .iter()
        .map(|f| {
            WireFilter {
                resource_type: f.resource_type_filter,
                resource_name: f.resource_name_filter.as_ref(),
                pattern_type: f.pattern_type_filter,
                principal: f.principal_filter.as_ref(),
                host: f.host_filter.as_ref(),
                operation: f.operation,
                permission_type: f.permission_type,
            }
            .parse()
        })
        .collect();
    // What each filter removes (an ACL two filters select is listed by both).
    let mut matched: Vec<Vec<AclBinding>> = vec![Vec::new(); filters.len()];
    let outcome = ctx.broker.change_metadata(
        |image| {
            let mut ids = Vec::new();
            for (filter, matched) in filters.iter().zip(&mut matched) {
                let Ok(filter) = filter else { continue };
                for (id, acl) in image.acls().iter().filter(|(_, acl)| filter.matches(acl)) {
                    matched.push(acl.clone());
                    if !ids.contains(id) {
                        ids.push(*id);
                    }
                }
            }
            Ok(MetadataEvent::AclsDeleted { ids })
        },
        false,
    );
    let filter_results = filters
        .iter()
        .zip(matched)
        .map(|(filter, matched)| match (filter, &outcome) {
            (Err(why), _) => failed(ErrorCode::INVALID_REQUEST, why.clone()),
            (Ok(_), Err(e)) => failed(e.code, e.message.clone()),
            (Ok(_), Ok(())) => DeleteAclsFilterResult {
                matching_acls: matched
                    .into_iter()
                    .map(|acl| {
                        info!(?acl, "ACL deleted");
                        DeleteAclsMatchingAcl {
                            resource_type: acl.resource_type.code(),
                            resource_name: acl.resource_name,
                            pattern_type: acl.pattern_type.code(),
                            principal: acl.principal,
                            host: acl.host,
                            operation: acl.operation.code(),
                            permission_type: acl.permission.code(),
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            },
        })
        .collect();
    DeleteAclsResponse {
        filter_results,
        ..Default::default()
    }
}
