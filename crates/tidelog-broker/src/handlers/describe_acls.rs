//! DescribeAcls (v1-3): the ACLs a filter selects, grouped by resource pattern, as Kafka's
//! `kafka-acls.sh --list` shows them.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use tidelog_protocol::messages::describe_acls_request::DescribeAclsRequest;
use tidelog_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource, DescribeAclsResponse};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::handlers::acls::{denied_or_disabled, WireFilter};
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 1 to 3.
pub const VERSIONS: RangeInclusive<i16> = 1..=3;

pub async fn handle(ctx: &RequestContext, request: DescribeAclsRequest) -> Reply {
    Reply::Now(ResponseBody::DescribeAcls(respond(ctx, request)))
}

fn respond(ctx: &RequestContext, r: DescribeAclsRequest) -> DescribeAclsResponse {
    let refused = |code: ErrorCode, message: String| DescribeAclsResponse {
        error_code: code.0,
        error_message: Some(message),
        ..Default::default()
    };
    if let Some((code, message)) = denied_or_disabled(ctx) {
        return refused(code, message);
    }
    let filter = WireFilter {
        resource_type: r.resource_type_filter,
        resource_name: r.resource_name_filter.as_ref(),
        pattern_type: r.pattern_type_filter,
        principal: r.principal_filter.as_ref(),
        host: r.host_filter.as_ref(),
        operation: r.operation,
        permission_type: r.permission_type,
    };
    let filter = match filter.parse() {
        Ok(filter) => filter,
        Err(why) => return refused(ErrorCode::INVALID_REQUEST, why),
    };
    let image = ctx.broker.metadata.image();
    let mut resources: BTreeMap<_, Vec<AclDescription>> = BTreeMap::new();
    for (_, acl) in image.acls().iter().filter(|(_, acl)| filter.matches(acl)) {
        let key = (acl.resource_type, acl.resource_name.clone(), acl.pattern_type);
        resources.entry(key).or_default().push(AclDescription {
            principal: acl.principal.clone(),
            host: acl.host.clone(),
            operation: acl.operation.code(),
            permission_type: acl.permission.code(),
            ..Default::default()
        });
    }
    DescribeAclsResponse {
        resources: resources
            .into_iter()
            .map(
                |((resource_type, resource_name, pattern_type), acls)| DescribeAclsResource {
                    resource_type: resource_type.code(),
                    resource_name,
                    pattern_type: pattern_type.code(),
                    acls,
                    ..Default::default()
                },
            )
            .collect(),
        ..Default::default()
    }
}
