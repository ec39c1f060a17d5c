//! `tidelog quotas`: client quotas, as Kafka's `kafka-configs.sh --entity-type users |
//! clients | ips` manages them, over DescribeClientQuotas and AlterClientQuotas. An entity
//! is a user, a client id, both, or an IP address, each named or the type's default.

use clap::{Args, Subcommand};
use tidelog_broker::client_quotas::{CLIENT_ID, IP, USER};
use tidelog_protocol::messages::alter_client_quotas_request::{
    AlterClientQuotasRequest, EntityData, EntryData, OpData,
};
use tidelog_protocol::messages::describe_client_quotas_request::{ComponentData, DescribeClientQuotasRequest};

use crate::admin::{check, single, AdminClient};
use crate::failure::Failure;
use crate::output;

/// How a describe filter matches an entity type's name (DescribeClientQuotas).
const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;

#[derive(Args)]
pub struct QuotasArgs {
    /// Log in with SASL/PLAIN as this user.
    #[arg(long, global = true, requires = "password")]
    login_user: Option<String>,
    /// The login user's password.
    #[arg(long, global = true, env = "TIDELOG_SASL_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    #[command(subcommand)]
    command: QuotasCommand,
}

#[derive(Subcommand)]
enum QuotasCommand {
    /// Quotas of the entity given exactly (of every entity without one), a line each: the
    /// entity, then its values.
    Describe(Entity),
    /// Set and remove quota values of an entity.
    Alter {
        #[command(flatten)]
        entity: Entity,
        /// KEY=VALUE to set (repeatable): producer_byte_rate, consumer_byte_rate,
        /// request_percentage, controller_mutation_rate; connection_creation_rate for an IP.
        #[arg(long = "add", value_name = "KEY=VALUE", value_parser = key_value)]
        add: Vec<(String, f64)>,
        /// KEY to remove (repeatable).
        #[arg(long = "delete", value_name = "KEY")]
        delete: Vec<String>,
        /// Check the change with the broker without making it.
        #[arg(long)]
        validate_only: bool,
    },
}

/// An entity: each type named, its default, or absent.
#[derive(Args)]
struct Entity {
    /// The user principal's name.
    #[arg(long, conflicts_with = "user_default")]
    user: Option<String>,
    /// The default user entity.
    #[arg(long)]
    user_default: bool,
    #[arg(long, conflicts_with = "client_id_default")]
    client_id: Option<String>,
    /// The default client id entity.
    #[arg(long)]
    client_id_default: bool,
    #[arg(long, conflicts_with_all = ["ip_default", "user", "user_default", "client_id", "client_id_default"])]
    ip: Option<String>,
    /// The default IP entity.
    #[arg(long, conflicts_with_all = ["user", "user_default", "client_id", "client_id_default"])]
    ip_default: bool,
}

impl Entity {
    /// Entity type to name (`None`: the default), in type order.
    fn parts(&self) -> Vec<(&'static str, Option<String>)> {
        let part = |entity_type, name: &Option<String>, default: bool| match (name, default) {
            (Some(name), _) => Some((entity_type, Some(name.clone()))),
            (None, true) => Some((entity_type, None)),
            (None, false) => None,
        };
        [
            part(USER, &self.user, self.user_default),
            part(CLIENT_ID, &self.client_id, self.client_id_default),
            part(IP, &self.ip, self.ip_default),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

fn key_value(text: &str) -> Result<(String, f64), String> {
    let (key, value) = text.split_once('=').ok_or("expected KEY=VALUE")?;
    let value = value.trim().parse().map_err(|_| format!("{value} is not a number"))?;
    Ok((key.trim().to_string(), value))
}

pub fn run(args: QuotasArgs, bootstrap: &str) -> Result<(), Failure> {
    let mut admin = AdminClient::connect(bootstrap)?;
    if let (Some(user), Some(password)) = (&args.login_user, &args.password) {
        admin.login(user, password)?;
    }
    match args.command {
        QuotasCommand::Describe(entity) => describe(&mut admin, &entity),
        QuotasCommand::Alter {
            entity,
            add,
            delete,
            validate_only,
        } => {
            let parts = entity.parts();
            if parts.is_empty() {
                return Err("name an entity: --user, --client-id, --ip or their --*-default"
                    .to_string()
                    .into());
            }
            let ops = add
                .into_iter()
                .map(|(key, value)| OpData {
                    key,
                    value,
                    remove: false,
                    ..Default::default()
                })
                .chain(delete.into_iter().map(|key| OpData {
                    key,
                    remove: true,
                    ..Default::default()
                }))
                .collect();
            let request = AlterClientQuotasRequest {
                entries: vec![EntryData {
                    entity: parts
                        .iter()
                        .map(|(entity_type, entity_name)| EntityData {
                            entity_type: entity_type.to_string(),
                            entity_name: entity_name.clone(),
                            ..Default::default()
                        })
                        .collect(),
                    ops,
                    ..Default::default()
                }],
                validate_only,
                ..Default::default()
            };
            let response = admin.call(request)?;
            let entry = single(response.entries)?;
            check(entry.error_code, entry.error_message.as_deref())
                .map_err(|e| format!("cannot alter the quotas of {}: {e}", shown(&parts)))?;
            Ok(())
        }
    }
}

fn describe(admin: &mut AdminClient, entity: &Entity) -> Result<(), Failure> {
    let parts = entity.parts();
    let components = parts
        .iter()
        .map(|(entity_type, name)| ComponentData {
            entity_type: entity_type.to_string(),
            match_type: if name.is_some() { MATCH_EXACT } else { MATCH_DEFAULT },
            r#match: name.clone(),
            ..Default::default()
        })
        .collect();
    // An entity named is that entity alone (kafka-configs.sh's describe); none is every one.
    let response = admin.call(DescribeClientQuotasRequest {
        strict: !parts.is_empty(),
        components,
        ..Default::default()
    })?;
    check(response.error_code, response.error_message.as_deref())
        .map_err(|e| format!("cannot describe client quotas: {e}"))?;
    for entry in response.entries.unwrap_or_default() {
        let parts: Vec<(&str, Option<String>)> = entry
            .entity
            .iter()
            .map(|e| (e.entity_type.as_str(), e.entity_name.clone()))
            .collect();
        let values: Vec<String> = entry.values.iter().map(|v| format!("{}={}", v.key, v.value)).collect();
        output::line(format_args!("{}\t{}", shown(&parts), values.join(",")))?;
    }
    Ok(())
}

/// `user=alice,client-id=<default>`.
fn shown(parts: &[(&str, Option<String>)]) -> String {
    let shown: Vec<String> = parts
        .iter()
        .map(|(entity_type, name)| format!("{entity_type}={}", name.as_deref().unwrap_or("<default>")))
        .collect();
    shown.join(",")
}
