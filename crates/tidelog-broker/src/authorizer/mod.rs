//! ACLs with the semantics of Kafka's `StandardAuthorizer` (KIP-11, KIP-290):
//! `allowed(principal, host, operation, resource)` answers from the ACLs in the metadata
//! image, the super users and `allow.everyone.if.no.acl.found`.
//!
//! An ACL matches a resource when its pattern does (a LITERAL name equal to the resource's,
//! the LITERAL wildcard `*`, or a PREFIXED name the resource's name starts with), its
//! principal is the request's or `User:*`, and its host is the peer's address or `*`. A
//! matching DENY wins over any ALLOW; an ALLOW of ALL allows everything, and an ALLOW of
//! READ, WRITE, DELETE or ALTER allows DESCRIBE, one of ALTER_CONFIGS allows
//! DESCRIBE_CONFIGS (a DENY denies only its own operation, or all for ALL). A resource some
//! ACL names (whatever its principal, host or operation) is denied when none allows; only a
//! resource no ACL names gets `allow.everyone.if.no.acl.found`.
//!
//! A check looks up the resource's exact name, the wildcard and each prefix length some
//! PREFIXED ACL of that resource type has: its cost depends on the ACLs of the resource,
//! not on how many there are (docs/PERFORMANCE.md).

pub mod table;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use tidelog_protocol::Uuid;

/// The cluster resource's only name, as Kafka's.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// The resource name and principal name that match any.
pub const WILDCARD: &str = "*";
/// The principal that matches every principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// The class name that turns the authorizer on (`authorizer.class.name`).
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

macro_rules! codes {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal $kafka:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant = $code),* }

        impl $name {
            /// The value of Kafka's wire code, if it has one here.
            pub fn from_code(code: i8) -> Option<$name> {
                match code {
                    $($code => Some($name::$variant),)*
                    _ => None,
                }
            }

            pub fn code(self) -> i8 {
                self as i8
            }

            /// Kafka's name (`TRANSACTIONAL_ID`), as its tools print it.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $kafka,)*
                }
            }

            /// The value of Kafka's name, in any case, `-` for `_` (`transactional-id`).
            pub fn from_name(name: &str) -> Option<$name> {
                let name = name.to_ascii_uppercase().replace('-', "_");
                match name.as_str() {
                    $($kafka => Some($name::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

codes!(
    /// Kafka's `ResourceType` codes (ANY only in filters).
    ResourceType {
        Any = 1 "ANY",
        Topic = 2 "TOPIC",
        Group = 3 "GROUP",
        Cluster = 4 "CLUSTER",
        TransactionalId = 5 "TRANSACTIONAL_ID",
        DelegationToken = 6 "DELEGATION_TOKEN",
        User = 7 "USER",
    }
);

codes!(
    /// Kafka's `PatternType` codes (ANY and MATCH only in filters).
    PatternType {
        Any = 1 "ANY",
        Match = 2 "MATCH",
        Literal = 3 "LITERAL",
        Prefixed = 4 "PREFIXED",
    }
);

codes!(
    /// Kafka's `AclOperation` codes (ANY only in filters).
    AclOperation {
        Any = 1 "ANY",
        All = 2 "ALL",
        Read = 3 "READ",
        Write = 4 "WRITE",
        Create = 5 "CREATE",
        Delete = 6 "DELETE",
        Alter = 7 "ALTER",
        Describe = 8 "DESCRIBE",
        ClusterAction = 9 "CLUSTER_ACTION",
        DescribeConfigs = 10 "DESCRIBE_CONFIGS",
        AlterConfigs = 11 "ALTER_CONFIGS",
        IdempotentWrite = 12 "IDEMPOTENT_WRITE",
        CreateTokens = 13 "CREATE_TOKENS",
        DescribeTokens = 14 "DESCRIBE_TOKENS",
    }
);

codes!(
    /// Kafka's `AclPermissionType` codes (ANY only in filters).
    Permission {
        Any = 1 "ANY",
        Deny = 2 "DENY",
        Allow = 3 "ALLOW",
    }
);

/// One ACL: who may (or may not) do what to which resources, from where.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `User:alice`, or [`WILDCARD_PRINCIPAL`].
    pub principal: String,
    /// An IP address, or `*`.
    pub host: String,
    pub operation: AclOperation,
    pub permission: Permission,
}

/// What a DescribeAcls or DeleteAcls filter selects: `None` fields match anything, as do
/// the ANY codes; MATCH selects the ACLs that would apply to a resource of that name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: Permission,
}

impl AclFilter {
    /// Kafka's `AclBindingFilter.matches`.
    pub fn matches(&self, acl: &AclBinding) -> bool {
        let resource = self.resource_type == ResourceType::Any || self.resource_type == acl.resource_type;
        let name_and_pattern = match (self.pattern_type, &self.resource_name) {
            (PatternType::Any, None) => true,
            (PatternType::Any, Some(name)) => *name == acl.resource_name,
            (PatternType::Match, None) => true,
            (PatternType::Match, Some(name)) => match acl.pattern_type {
                PatternType::Literal => *name == acl.resource_name || acl.resource_name == WILDCARD,
                PatternType::Prefixed => name.starts_with(&acl.resource_name),
                _ => false,
            },
            (pattern, name) => pattern == acl.pattern_type && name.as_ref().is_none_or(|n| *n == acl.resource_name),
        };
        let principal = self.principal.as_ref().is_none_or(|p| *p == acl.principal);
        let host = self.host.as_ref().is_none_or(|h| *h == acl.host);
        let operation = self.operation == AclOperation::Any || self.operation == acl.operation;
        let permission = self.permission == Permission::Any || self.permission == acl.permission;
        resource && name_and_pattern && principal && host && operation && permission
    }
}

/// The authorizer's settings (`super.users`, `allow.everyone.if.no.acl.found`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerSettings {
    /// Principals allowed everything (`User:admin`).
    pub super_users: Vec<String>,
    /// The answer when no ACL matches (Kafka: false).
    pub allow_everyone_if_no_acl_found: bool,
}

/// The request's side of a check: who asks, from where.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// The principal as Kafka writes it: `User:alice`.
    pub principal: &'a str,
    pub host: IpAddr,
}

/// An ACL as a check reads it: principal and host parsed once.
#[derive(Debug, Clone)]
struct Entry {
    id: Uuid,
    /// `None` for `User:*`.
    principal: Option<String>,
    /// `None` for `*`; an ACL whose host is no address matches no request.
    host: Option<Result<IpAddr, ()>>,
    operation: AclOperation,
    permission: Permission,
}

impl Entry {
    /// Kafka's `StandardAuthorizerData.findResult`: `None` when the ACL says nothing of
    /// the request.
    fn result(&self, who: Requester<'_>, operation: AclOperation) -> Option<Permission> {
        if self.principal.as_deref().is_some_and(|p| p != who.principal) {
            return None;
        }
        if self.host.as_ref().is_some_and(|h| *h != Ok(who.host)) {
            return None;
        }
        if self.operation != AclOperation::All {
            let applies = match (self.permission, operation) {
                (Permission::Allow, AclOperation::Describe) => matches!(
                    self.operation,
                    AclOperation::Describe
                        | AclOperation::Read
                        | AclOperation::Write
                        | AclOperation::Delete
                        | AclOperation::Alter
                ),
                (Permission::Allow, AclOperation::DescribeConfigs) => {
                    matches!(
                        self.operation,
                        AclOperation::DescribeConfigs | AclOperation::AlterConfigs
                    )
                }
                _ => self.operation == operation,
            };
            if !applies {
                return None;
            }
        }
        Some(self.permission)
    }
}

/// The ACLs of one resource type, by pattern and name.
#[derive(Debug, Clone, Default)]
struct Section {
    literal: HashMap<String, Vec<Entry>>,
    prefixed: HashMap<String, Vec<Entry>>,
    /// How many PREFIXED names of each length there are: the lengths a check looks up.
    prefix_lengths: BTreeMap<usize, usize>,
}

/// Every ACL, by id (as the metadata log names them) and indexed for checks.
#[derive(Debug, Clone, Default)]
pub struct Acls {
    by_id: BTreeMap<Uuid, AclBinding>,
    sections: HashMap<ResourceType, Section>,
}

impl Acls {
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every ACL, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&Uuid, &AclBinding)> {
        self.by_id.iter()
    }

    /// The id of an ACL equal to `acl`, if there is one.
    pub fn id_of(&self, acl: &AclBinding) -> Option<Uuid> {
        let section = self.sections.get(&acl.resource_type)?;
        let names = match acl.pattern_type {
            PatternType::Prefixed => &section.prefixed,
            _ => &section.literal,
        };
        names
            .get(&acl.resource_name)?
            .iter()
            .map(|e| e.id)
            .find(|id| self.by_id.get(id) == Some(acl))
    }

    pub fn insert(&mut self, id: Uuid, acl: AclBinding) {
        self.remove(id);
        let entry = Entry {
            id,
            principal: (acl.principal != WILDCARD_PRINCIPAL).then(|| acl.principal.clone()),
            host: (acl.host != WILDCARD).then(|| acl.host.parse().map_err(|_| ())),
            operation: acl.operation,
            permission: acl.permission,
        };
        let section = self.sections.entry(acl.resource_type).or_default();
        if acl.pattern_type == PatternType::Prefixed {
            *section.prefix_lengths.entry(acl.resource_name.len()).or_default() += 1;
            section
                .prefixed
                .entry(acl.resource_name.clone())
                .or_default()
                .push(entry);
        } else {
            section
                .literal
                .entry(acl.resource_name.clone())
                .or_default()
                .push(entry);
        }
        self.by_id.insert(id, acl);
    }

    pub fn remove(&mut self, id: Uuid) -> Option<AclBinding> {
        let acl = self.by_id.remove(&id)?;
        let section = self.sections.get_mut(&acl.resource_type).expect("an indexed ACL");
        let prefixed = acl.pattern_type == PatternType::Prefixed;
        let names = if prefixed {
            &mut section.prefixed
        } else {
            &mut section.literal
        };
        let entries = names.get_mut(&acl.resource_name).expect("an indexed ACL");
        entries.retain(|e| e.id != id);
        if entries.is_empty() {
            names.remove(&acl.resource_name);
        }
        if prefixed {
            let count = section
                .prefix_lengths
                .get_mut(&acl.resource_name.len())
                .expect("a prefix length");
            *count -= 1;
            if *count == 0 {
                section.prefix_lengths.remove(&acl.resource_name.len());
            }
        }
        Some(acl)
    }

    /// Kafka's `StandardAuthorizerData.authorize`, super users aside: whether the ACLs
    /// allow `who` to do `operation` on the resource; DENY when ACLs name the resource but
    /// none allows (Kafka's `MatchingRuleBuilder`: `hasResourceAcls`), `None` only when no
    /// ACL names it.
    pub fn verdict(
        &self,
        who: Requester<'_>,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> Option<Permission> {
        let section = self.sections.get(&resource_type)?;
        let literal = [name, WILDCARD].into_iter().filter_map(|n| section.literal.get(n));
        let prefixed = section
            .prefix_lengths
            .keys()
            .take_while(|&&len| len <= name.len())
            .filter_map(|&len| name.get(..len))
            .filter_map(|prefix| section.prefixed.get(prefix));
        let mut verdict = None;
        for entry in literal.chain(prefixed).flatten() {
            match entry.result(who, operation) {
                Some(Permission::Deny) => return Some(Permission::Deny),
                Some(_) => verdict = Some(Permission::Allow),
                None => verdict = verdict.or(Some(Permission::Deny)),
            }
        }
        verdict
    }

    /// Kafka's `authorizeByResourceType`: whether `who` may do `operation` on some
    /// resource of `resource_type` (an ALLOW for it that no DENY of the same or a wider
    /// pattern overrides), as InitProducerId takes WRITE on any topic for IDEMPOTENT_WRITE.
    pub fn allowed_on_some(&self, who: Requester<'_>, operation: AclOperation, resource_type: ResourceType) -> bool {
        let Some(section) = self.sections.get(&resource_type) else {
            return false;
        };
        let allows = |entries: &Vec<Entry>| {
            entries
                .iter()
                .any(|e| e.permission == Permission::Allow && e.result(who, operation).is_some())
        };
        let denied = |name: &str, prefixed: bool| {
            let deny = |entries: Option<&Vec<Entry>>| {
                entries.is_some_and(|entries| {
                    entries
                        .iter()
                        .any(|e| e.permission == Permission::Deny && e.result(who, operation).is_some())
                })
            };
            deny(section.literal.get(WILDCARD))
                || (!prefixed && deny(section.literal.get(name)))
                || section
                    .prefix_lengths
                    .keys()
                    .filter_map(|&len| name.get(..len))
                    .any(|prefix| deny(section.prefixed.get(prefix)))
        };
        section
            .literal
            .iter()
            .any(|(name, entries)| allows(entries) && !denied(name, false))
            || section
                .prefixed
                .iter()
                .any(|(name, entries)| allows(entries) && !denied(name, true))
    }
}

/// Whether `who` may do `operation` on the resource: the one check every API goes through
/// (`RequestContext::authorize`).
pub fn allowed(
    settings: &AuthorizerSettings,
    acls: &Acls,
    who: Requester<'_>,
    operation: AclOperation,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    if settings.super_users.iter().any(|u| u == who.principal) {
        return true;
    }
    match acls.verdict(who, operation, resource_type, name) {
        Some(permission) => permission == Permission::Allow,
        None => settings.allow_everyone_if_no_acl_found,
    }
}

/// The error a request refused on a resource of this type answers.
pub fn denied_code(resource_type: ResourceType) -> tidelog_protocol::ErrorCode {
    use tidelog_protocol::ErrorCode;
    match resource_type {
        ResourceType::Topic => ErrorCode::TOPIC_AUTHORIZATION_FAILED,
        ResourceType::Group => ErrorCode::GROUP_AUTHORIZATION_FAILED,
        ResourceType::TransactionalId => ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        // DELEGATION_TOKEN_AUTHORIZATION_FAILED (65) once tokens are served.
        _ => ErrorCode::CLUSTER_AUTHORIZATION_FAILED,
    }
}

/// Kafka's CreateAcls validation of one ACL, in its order and with its messages (all
/// INVALID_REQUEST): the broker's (`AclApis.handleCreateAcls`) then the controller's
/// (`AclControlManager.validateNewAcl`, which takes any principal with a colon).
pub fn invalid(acl: &AclBinding) -> Option<String> {
    if acl.resource_type == ResourceType::Cluster && acl.resource_name != CLUSTER_NAME {
        return Some(format!(
            "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        ));
    }
    if acl.resource_name.is_empty() {
        return Some("Invalid empty resource name".into());
    }
    if acl.resource_type == ResourceType::Any {
        return Some("Invalid resourceType ANY".into());
    }
    if !matches!(acl.pattern_type, PatternType::Literal | PatternType::Prefixed) {
        return Some(format!("Invalid patternType {}", acl.pattern_type.name()));
    }
    if acl.operation == AclOperation::Any {
        return Some("Invalid operation ANY".into());
    }
    if acl.permission == Permission::Any {
        return Some("Invalid permissionType ANY".into());
    }
    if !acl.principal.contains(':') {
        return Some(format!(
            "Could not parse principal from `{}` (no colon is present separating the principal type from the principal name)",
            acl.principal
        ));
    }
    None
}

#[cfg(test)]
mod tests;
