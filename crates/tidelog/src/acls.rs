//! `tidelog acls`: list, add and remove ACLs through DescribeAcls, CreateAcls and
//! DeleteAcls, as Kafka's `kafka-acls.sh --list`, `--add` and `--remove` do. On a SASL
//! listener the command logs in with `--user` and `--password` (or TIDELOG_SASL_PASSWORD).

use clap::{Args, Subcommand};
use tidelog_broker::authorizer::{AclOperation, PatternType, Permission, ResourceType, CLUSTER_NAME};
use tidelog_protocol::messages::create_acls_request::{AclCreation, CreateAclsRequest};
use tidelog_protocol::messages::delete_acls_request::{DeleteAclsFilter, DeleteAclsRequest};
use tidelog_protocol::messages::describe_acls_request::DescribeAclsRequest;

use crate::admin::{check, single, AdminClient};
use crate::failure::Failure;
use crate::output;

#[derive(Args)]
pub struct AclsArgs {
    /// Log in with SASL/PLAIN as this user.
    #[arg(long, global = true, requires = "password")]
    user: Option<String>,
    /// The user's password.
    #[arg(long, global = true, env = "TIDELOG_SASL_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    #[command(subcommand)]
    command: AclsCommand,
}

#[derive(Subcommand)]
enum AclsCommand {
    /// The ACLs the selection matches (every one without), a line each: resource type,
    /// name, pattern, principal, host, operation, permission.
    List(Selection),
    /// Adds an ACL.
    Add(Selection),
    /// Removes every ACL the selection matches, and prints them.
    Remove(Selection),
}

/// An ACL, or a filter over ACLs (what is not given matches anything; `add` needs the
/// resource, the principal and the operation).
#[derive(Args)]
struct Selection {
    /// topic, group, cluster, transactional-id, delegation-token, user.
    #[arg(long, value_parser = resource_type)]
    resource_type: Option<ResourceType>,
    /// The resource's name (`kafka-cluster` for the cluster, the default there).
    #[arg(long)]
    resource_name: Option<String>,
    /// LITERAL (the default for `add`) or PREFIXED.
    #[arg(long, value_parser = pattern)]
    pattern: Option<PatternType>,
    /// `User:alice`, or `User:*` for everyone.
    #[arg(long)]
    principal: Option<String>,
    /// The client's IP address, `*` for any (the default for `add`).
    #[arg(long)]
    host: Option<String>,
    /// all, read, write, create, delete, alter, describe, cluster-action, describe-configs,
    /// alter-configs, idempotent-write.
    #[arg(long, value_parser = operation)]
    operation: Option<AclOperation>,
    /// A DENY ACL (ALLOW without).
    #[arg(long, conflicts_with = "allow")]
    deny: bool,
    /// Only ALLOW ACLs (for `list` and `remove`).
    #[arg(long)]
    allow: bool,
}

/// A clap parser of one of the authorizer's Kafka names (`topic`, `TRANSACTIONAL_ID`).
macro_rules! parse_name {
    ($fn:ident, $type:ty) => {
        fn $fn(name: &str) -> Result<$type, String> {
            <$type>::from_name(name).ok_or_else(|| format!("not a Kafka name: {name}"))
        }
    };
}
parse_name!(resource_type, ResourceType);
parse_name!(pattern, PatternType);
parse_name!(operation, AclOperation);

/// Kafka's name of `code`, as `kafka-acls.sh` prints it.
fn name<T>(from_code: fn(i8) -> Option<T>, to_name: fn(T) -> &'static str, code: i8) -> &'static str {
    from_code(code).map_or("UNKNOWN", to_name)
}

impl Selection {
    fn permission(&self) -> Permission {
        match (self.deny, self.allow) {
            (true, _) => Permission::Deny,
            (false, true) => Permission::Allow,
            (false, false) => Permission::Any,
        }
    }

    /// The resource name, `kafka-cluster` for the cluster when none is given.
    fn resource_name(&self) -> Option<String> {
        match self.resource_type {
            Some(ResourceType::Cluster) => Some(self.resource_name.clone().unwrap_or(CLUSTER_NAME.into())),
            _ => self.resource_name.clone(),
        }
    }

    fn filter(&self) -> DeleteAclsFilter {
        DeleteAclsFilter {
            resource_type_filter: self.resource_type.unwrap_or(ResourceType::Any).code(),
            resource_name_filter: self.resource_name(),
            pattern_type_filter: self.pattern.unwrap_or(PatternType::Any).code(),
            principal_filter: self.principal.clone(),
            host_filter: self.host.clone(),
            operation: self.operation.unwrap_or(AclOperation::Any).code(),
            permission_type: self.permission().code(),
            ..Default::default()
        }
    }

    fn creation(&self) -> Result<AclCreation, String> {
        let missing = |what: &str| format!("`acls add` needs --{what}");
        Ok(AclCreation {
            resource_type: self.resource_type.ok_or_else(|| missing("resource-type"))?.code(),
            resource_name: self.resource_name().ok_or_else(|| missing("resource-name"))?,
            resource_pattern_type: self.pattern.unwrap_or(PatternType::Literal).code(),
            principal: self.principal.clone().ok_or_else(|| missing("principal"))?,
            host: self.host.clone().unwrap_or("*".into()),
            operation: self.operation.ok_or_else(|| missing("operation"))?.code(),
            permission_type: match self.deny {
                true => Permission::Deny.code(),
                false => Permission::Allow.code(),
            },
            ..Default::default()
        })
    }
}

/// One ACL's line: resource type, name, pattern, principal, host, operation, permission.
struct Line<'a>(i8, &'a str, i8, &'a str, &'a str, i8, i8);

impl std::fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Line(resource_type, resource, pattern, principal, host, operation, permission) = *self;
        write!(
            f,
            "{}\t{resource}\t{}\t{principal}\t{host}\t{}\t{}",
            name(ResourceType::from_code, ResourceType::name, resource_type),
            name(PatternType::from_code, PatternType::name, pattern),
            name(AclOperation::from_code, AclOperation::name, operation),
            name(Permission::from_code, Permission::name, permission)
        )
    }
}

pub fn run(args: AclsArgs, bootstrap: &str) -> Result<(), Failure> {
    let mut admin = AdminClient::connect(bootstrap)?;
    if let (Some(user), Some(password)) = (&args.user, &args.password) {
        admin.login(user, password)?;
    }
    match args.command {
        AclsCommand::List(selection) => {
            let filter = selection.filter();
            let response = admin.call(DescribeAclsRequest {
                resource_type_filter: filter.resource_type_filter,
                resource_name_filter: filter.resource_name_filter,
                pattern_type_filter: filter.pattern_type_filter,
                principal_filter: filter.principal_filter,
                host_filter: filter.host_filter,
                operation: filter.operation,
                permission_type: filter.permission_type,
                ..Default::default()
            })?;
            check(response.error_code, response.error_message.as_deref())
                .map_err(|e| format!("cannot list ACLs: {e}"))?;
            for r in &response.resources {
                for a in &r.acls {
                    let line = Line(
                        r.resource_type,
                        &r.resource_name,
                        r.pattern_type,
                        &a.principal,
                        &a.host,
                        a.operation,
                        a.permission_type,
                    );
                    output::line(line)?;
                }
            }
        }
        AclsCommand::Add(selection) => {
            let response = admin.call(CreateAclsRequest {
                creations: vec![selection.creation()?],
                ..Default::default()
            })?;
            let result = single(response.results)?;
            check(result.error_code, result.error_message.as_deref())
                .map_err(|e| format!("cannot add the ACL: {e}"))?;
        }
        AclsCommand::Remove(selection) => {
            let response = admin.call(DeleteAclsRequest {
                filters: vec![selection.filter()],
                ..Default::default()
            })?;
            let result = single(response.filter_results)?;
            check(result.error_code, result.error_message.as_deref())
                .map_err(|e| format!("cannot remove ACLs: {e}"))?;
            for a in &result.matching_acls {
                let line = Line(
                    a.resource_type,
                    &a.resource_name,
                    a.pattern_type,
                    &a.principal,
                    &a.host,
                    a.operation,
                    a.permission_type,
                );
                output::line(line)?;
            }
        }
    }
    Ok(())
}
