//! CreateAcls (v1-3): adds ACLs, each written to the metadata log as an
//! AccessControlEntryRecord with a new id, as Kafka's controller does. An ACL equal to one
//! that exists is not added twice; one Kafka refuses is answered INVALID_REQUEST alone.

use std::ops::RangeInclusive;

use tidelog_protocol::messages::create_acls_request::{AclCreation, CreateAclsRequest};
use tidelog_protocol::messages::create_acls_response::{AclCreationResult, CreateAclsResponse};
use tidelog_protocol::{ErrorCode, ResponseBody};
use tracing::info;

use crate::authorizer::{self, AclBinding};
use crate::handlers::acls::{denied_or_disabled, WireFilter};
use crate::handlers::{Reply, RequestContext};
use crate::ids::random_uuid;
use crate::metadata::MetadataEvent;

/// The versions served, as ApiVersions advertises them: 1 to 3.
pub const VERSIONS: RangeInclusive<i16> = 1..=3;

pub async fn handle(ctx: &RequestContext, request: CreateAclsRequest) -> Reply {
    Reply::Now(ResponseBody::CreateAcls(respond(ctx, request)))
}

fn respond(ctx: &RequestContext, request: CreateAclsRequest) -> CreateAclsResponse {
    let result = |code: ErrorCode, message: Option<String>| AclCreationResult {
        error_code: code.0,
        error_message: message,
        ..Default::default()
    };
    if let Some((code, message)) = denied_or_disabled(ctx) {
        return CreateAclsResponse {
            results: request
                .creations
                .iter()
                .map(|_| result(code, Some(message.clone())))
                .collect(),
            ..Default::default()
        };
    }
    let bindings: Vec<Result<AclBinding, String>> = request.creations.iter().map(binding).collect();
    let valid: Vec<AclBinding> = bindings.iter().filter_map(|b| b.as_ref().ok().cloned()).collect();
    let outcome = ctx.broker.change_metadata(
        |image| {
            let mut acls: Vec<(_, AclBinding)> = Vec::new();
            for acl in valid {
                if image.acls().id_of(&acl).is_none() && !acls.iter().any(|(_, a)| *a == acl) {
                    acls.push((random_uuid(), acl));
                }
            }
            Ok(MetadataEvent::AclsCreated { acls })
        },
        false,
    );
    let results = bindings
        .into_iter()
        .map(|binding| match (&binding, &outcome) {
            (Err(why), _) => result(ErrorCode::INVALID_REQUEST, Some(why.clone())),
            (Ok(_), Err(e)) => result(e.code, Some(e.message.clone())),
            (Ok(acl), Ok(())) => {
                info!(?acl, "ACL created");
                result(ErrorCode::NONE, None)
            }
        })
        .collect();
    CreateAclsResponse {
        results,
        ..Default::default()
    }
}

/// The ACL a creation asks for, or why Kafka refuses it.
fn binding(c: &AclCreation) -> Result<AclBinding, String> {
    let codes = WireFilter {
        resource_type: c.resource_type,
        resource_name: Some(&c.resource_name),
        pattern_type: c.resource_pattern_type,
        principal: Some(&c.principal),
        host: Some(&c.host),
        operation: c.operation,
        permission_type: c.permission_type,
    }
    .parse()?;
    let acl = AclBinding {
        resource_type: codes.resource_type,
        resource_name: c.resource_name.clone(),
        pattern_type: codes.pattern_type,
        principal: c.principal.clone(),
        host: c.host.clone(),
        operation: codes.operation,
        permission: codes.permission,
    };
    match authorizer::invalid(&acl) {
        Some(why) => Err(why),
        None => Ok(acl),
    }
}
