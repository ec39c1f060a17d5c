//! What the three ACL APIs (CreateAcls, DescribeAcls, DeleteAcls) share: Kafka's refusal
//! when no authorizer is configured or the principal may not, and their filters.

use tidelog_protocol::{ApiKey, ErrorCode};

use crate::authorizer::{AclFilter, AclOperation, PatternType, Permission, ResourceType};
use crate::handlers::RequestContext;

/// SECURITY_DISABLED with no authorizer, CLUSTER_AUTHORIZATION_FAILED without the right
/// the table gives the API on the cluster; `None` when the request may go on.
pub fn denied_or_disabled(ctx: &RequestContext) -> Option<(ErrorCode, String)> {
    if ctx.broker.config.authorizer.is_none() {
        // Kafka's AclApis words DescribeAcls's refusal apart.
        let message = match ctx.api_key {
            ApiKey::DescribeAcls => "No Authorizer is configured on the broker",
            _ => "No Authorizer is configured.",
        };
        return Some((ErrorCode::SECURITY_DISABLED, message.into()));
    }
    if !ctx.authorize_cluster() {
        return Some((
            ErrorCode::CLUSTER_AUTHORIZATION_FAILED,
            "Cluster authorization failed.".into(),
        ));
    }
    None
}

/// Kafka's message for an unknown code in an ACL or filter.
pub fn acl_refusal(what: &str) -> String {
    format!("Invalid {what}")
}

/// The fields of a DescribeAcls or DeleteAcls filter, as on the wire.
pub struct WireFilter<'a> {
    pub resource_type: i8,
    pub resource_name: Option<&'a String>,
    pub pattern_type: i8,
    pub principal: Option<&'a String>,
    pub host: Option<&'a String>,
    pub operation: i8,
    pub permission_type: i8,
}

impl WireFilter<'_> {
    /// The filter, or why Kafka refuses it (INVALID_REQUEST).
    pub fn parse(&self) -> Result<AclFilter, String> {
        Ok(AclFilter {
            resource_type: ResourceType::from_code(self.resource_type).ok_or_else(|| acl_refusal("resource type"))?,
            resource_name: self.resource_name.cloned(),
            pattern_type: PatternType::from_code(self.pattern_type).ok_or_else(|| acl_refusal("pattern type"))?,
            principal: self.principal.cloned(),
            host: self.host.cloned(),
            operation: AclOperation::from_code(self.operation).ok_or_else(|| acl_refusal("operation"))?,
            permission: Permission::from_code(self.permission_type).ok_or_else(|| acl_refusal("permission type"))?,
        })
    }
}
