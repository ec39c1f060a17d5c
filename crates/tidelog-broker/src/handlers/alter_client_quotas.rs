//! AlterClientQuotas (v0-1): sets and removes quota values of entities, as Kafka's
//! `ClientQuotaControlManager.alterClientQuotas` does, written to the metadata log as
//! `ClientQuotaRecord`s in one commit. Each entity is accepted or refused on its own: an
//! entity must be `user`, `client-id`, both, or `ip` alone, names non-empty (`None` is the
//! default entity); `user`/`client-id` entities take `producer_byte_rate`,
//! `consumer_byte_rate` (whole numbers), `request_percentage` and
//! `controller_mutation_rate`, an `ip` entity `connection_creation_rate` (a whole number)
//! and is named by an address or a host name that resolves (Kafka's `isValidIpEntity`;
//! the broker resolves it again when it applies the quota).
//! `validate_only` answers without changing anything.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::RangeInclusive;

use tidelog_protocol::messages::alter_client_quotas_request::{AlterClientQuotasRequest, EntryData as RequestEntry};
use tidelog_protocol::messages::alter_client_quotas_response::{
    AlterClientQuotasResponse, EntityData, EntryData as ResponseEntry,
};
use tidelog_protocol::{ErrorCode, ResponseBody};
use tracing::info;

use crate::broker::ApiError;
use crate::client_quotas::{
    QuotaEntity, CLIENT_ID, CONNECTION_CREATION_RATE, CONSUMER_BYTE_RATE, CONTROLLER_MUTATION_RATE, IP,
    PRODUCER_BYTE_RATE, REQUEST_PERCENTAGE, USER,
};
use crate::handlers::{Reply, RequestContext};
use crate::ip_connection_rate;
use crate::metadata::{MetadataEvent, MetadataImage};

/// The versions served, as ApiVersions advertises them: 0 and 1.
pub const VERSIONS: RangeInclusive<i16> = 0..=1;

/// How a quota key's value must look: any number, or a whole one up to a maximum.
#[derive(Clone, Copy)]
enum ValueType {
    Double,
    Whole(f64),
}

/// The keys of a user, client id or user and client id entity.
const CLIENT_KEYS: &[(&str, ValueType)] = &[
    (PRODUCER_BYTE_RATE, ValueType::Whole(i64::MAX as f64)),
    (CONSUMER_BYTE_RATE, ValueType::Whole(i64::MAX as f64)),
    (REQUEST_PERCENTAGE, ValueType::Double),
    (CONTROLLER_MUTATION_RATE, ValueType::Double),
];

/// The keys of an ip entity.
const IP_KEYS: &[(&str, ValueType)] = &[(CONNECTION_CREATION_RATE, ValueType::Whole(i32::MAX as f64))];

/// One key's change: a value, or `None` to remove it.
type Changes = BTreeMap<String, Option<f64>>;

pub async fn handle(ctx: &RequestContext, request: AlterClientQuotasRequest) -> Reply {
    // Names are resolved for those allowed to set quotas only: no one else makes the
    // broker ask the resolver.
    let host_names: BTreeSet<&String> = match ctx.authorize_cluster() {
        true => request
            .entries
            .iter()
            .flat_map(|entry| &entry.entity)
            .filter(|e| e.entity_type == IP)
            .filter_map(|e| e.entity_name.as_ref())
            .filter(|name| name.parse::<IpAddr>().is_err())
            .collect(),
        false => BTreeSet::new(),
    };
    let mut resolvable = BTreeSet::new();
    for name in host_names {
        if ip_connection_rate::resolve(name).await.is_some() {
            resolvable.insert(name.clone());
        }
    }
    Reply::Now(ResponseBody::AlterClientQuotas(respond(ctx, request, &resolvable)))
}

/// `resolvable`: the host names among the `ip` entities' that resolve.
fn respond(
    ctx: &RequestContext,
    request: AlterClientQuotasRequest,
    resolvable: &BTreeSet<String>,
) -> AlterClientQuotasResponse {
    // Entities in the order the request first names them, each once, with its outcome.
    let mut order: Vec<QuotaEntity> = Vec::new();
    let mut outcome: BTreeMap<QuotaEntity, Result<Changes, ApiError>> = BTreeMap::new();
    for entry in &request.entries {
        let entity = entity_of(entry);
        let result = match outcome.contains_key(&entity) {
            true => Err(invalid(format!("Ignoring duplicate entity {}", describe(&entity)))),
            false => {
                order.push(entity.clone());
                match ctx.authorize_cluster() {
                    true => validate(&entity, entry, resolvable),
                    false => Err(ApiError::new(
                        ErrorCode::CLUSTER_AUTHORIZATION_FAILED,
                        "Cluster authorization failed.",
                    )),
                }
            }
        };
        outcome.insert(entity, result);
    }
    let committed = ctx.broker.change_metadata(
        |image: &MetadataImage| {
            let current = image.client_quotas();
            let mut changes = Vec::new();
            for (entity, result) in &outcome {
                let Ok(entity_changes) = result else { continue };
                let values = current.get(entity);
                for (key, value) in entity_changes {
                    let now = values.and_then(|v| v.get(key)).copied();
                    // Only what changes is written (a removal of nothing is nothing).
                    if now != *value {
                        changes.push((entity.clone(), key.clone(), *value));
                    }
                }
            }
            Ok(MetadataEvent::ClientQuotasAltered { changes })
        },
        request.validate_only,
    );
    let entries = order
        .into_iter()
        .map(|entity| {
            let error = match (&outcome[&entity], &committed) {
                (Err(e), _) | (Ok(_), Err(e)) => Some(e.clone()),
                (Ok(changes), Ok(())) => {
                    if !request.validate_only {
                        info!(entity = %describe(&entity), ?changes, "client quotas altered");
                    }
                    None
                }
            };
            ResponseEntry {
                error_code: error.as_ref().map_or(ErrorCode::NONE, |e| e.code).0,
                error_message: error.map(|e| e.message),
                entity: entity
                    .into_iter()
                    .map(|(entity_type, entity_name)| EntityData {
                        entity_type,
                        entity_name,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }
        })
        .collect();
    AlterClientQuotasResponse {
        entries,
        ..Default::default()
    }
}

/// The request's entity, as Kafka reads it: a type named twice keeps its last name.
fn entity_of(entry: &RequestEntry) -> QuotaEntity {
    entry
        .entity
        .iter()
        .map(|e| (e.entity_type.clone(), e.entity_name.clone()))
        .collect()
}

/// Kafka's `ClientQuotaEntity` as its messages show it.
fn describe(entity: &QuotaEntity) -> String {
    let entries: Vec<String> = entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("null")))
        .collect();
    format!("ClientQuotaEntity(entries={{{}}})", entries.join(", "))
}

/// The entity's changes, or why Kafka refuses them.
fn validate(entity: &QuotaEntity, entry: &RequestEntry, resolvable: &BTreeSet<String>) -> Result<Changes, ApiError> {
    let keys = keys_of(entity, resolvable)?;
    let mut changes = Changes::new();
    for op in &entry.ops {
        if changes.contains_key(&op.key) {
            return Err(invalid(format!(
                "Duplicate quota key {} not updating quota for this entity {}",
                op.key,
                describe(entity)
            )));
        }
        let value = match op.remove {
            true => None,
            false => Some(validate_value(keys, &op.key, op.value)?),
        };
        changes.insert(op.key.clone(), value);
    }
    Ok(changes)
}

/// The keys the entity's types take (Kafka's `validateEntity` and
/// `configKeysForEntityType`).
fn keys_of(
    entity: &QuotaEntity,
    resolvable: &BTreeSet<String>,
) -> Result<&'static [(&'static str, ValueType)], ApiError> {
    if entity.is_empty() {
        return Err(invalid("Invalid empty client quota entity".into()));
    }
    for (entity_type, name) in entity {
        if ![USER, CLIENT_ID, IP].contains(&entity_type.as_str()) {
            return Err(invalid(format!("Unhandled client quota entity type: {entity_type}")));
        }
        if name.as_deref() == Some("") {
            return Err(invalid(format!("Empty {entity_type} not supported")));
        }
    }
    match entity.get(IP) {
        None => Ok(CLIENT_KEYS),
        // Kafka's text, which lacks the space between "should" and "not".
        Some(_) if entity.len() > 1 => Err(invalid(
            "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId".into(),
        )),
        Some(Some(ip)) if ip.parse::<IpAddr>().is_err() && !resolvable.contains(ip) => {
            Err(invalid(format!("{ip} is not a valid IP or resolvable host.")))
        }
        Some(_) => Ok(IP_KEYS),
    }
}

/// Kafka's `validateQuotaKeyValue`.
fn validate_value(keys: &[(&str, ValueType)], key: &str, value: f64) -> Result<f64, ApiError> {
    let Some((_, value_type)) = keys.iter().find(|(k, _)| *k == key) else {
        return Err(invalid(format!("Invalid configuration key {key}")));
    };
    match value_type {
        ValueType::Double => Ok(value),
        ValueType::Whole(max) => {
            let whole = value.round();
            match (value - whole).abs() <= 1e-6 && whole.abs() <= *max {
                true => Ok(value),
                false => Err(invalid(format!("Configuration {key} must be a Long value"))),
            }
        }
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::INVALID_REQUEST, message)
}
