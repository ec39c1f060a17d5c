//! DescribeClientQuotas (v0-1): the quota values of the entities a filter selects, as
//! Kafka's `ClientQuotasImage.describe` answers. Each filter component names an entity type
//! (`user`, `client-id`, `ip`, each once; `ip` never with the others) and matches an exact
//! name, the type's default entity, or any entity of the type; `strict` keeps only the
//! entities with no other type. A filter Kafka refuses is the whole response's error.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use tidelog_protocol::messages::describe_client_quotas_request::DescribeClientQuotasRequest;
use tidelog_protocol::messages::describe_client_quotas_response::{
    DescribeClientQuotasResponse, EntityData, EntryData, ValueData,
};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::broker::ApiError;
use crate::client_quotas::{ClientQuotaConfigs, QuotaEntity, CLIENT_ID, IP, USER};
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 and 1.
pub const VERSIONS: RangeInclusive<i16> = 0..=1;

const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_ANY: i8 = 2;

pub async fn handle(ctx: &RequestContext, request: DescribeClientQuotasRequest) -> Reply {
    let result = match ctx.authorize_cluster() {
        true => describe(ctx.broker.metadata.image().client_quotas(), &request),
        false => Err(ApiError::new(
            ErrorCode::CLUSTER_AUTHORIZATION_FAILED,
            "Cluster authorization failed.",
        )),
    };
    let response = match result {
        Ok(entries) => DescribeClientQuotasResponse {
            entries: Some(entries),
            ..Default::default()
        },
        Err(e) => DescribeClientQuotasResponse {
            error_code: e.code.0,
            error_message: Some(e.message),
            entries: None,
            ..Default::default()
        },
    };
    Reply::Now(ResponseBody::DescribeClientQuotas(response))
}

/// What a filter asks: entity types to a name (`None`: the default entity), and entity
/// types of any name.
#[derive(Default)]
struct Filter {
    exact: BTreeMap<String, Option<String>>,
    any: Vec<String>,
    strict: bool,
}

impl Filter {
    fn parse(request: &DescribeClientQuotasRequest) -> Result<Filter, ApiError> {
        let invalid = |message: String| ApiError::new(ErrorCode::INVALID_REQUEST, message);
        let mut filter = Filter {
            strict: request.strict,
            ..Filter::default()
        };
        for component in &request.components {
            let entity_type = &component.entity_type;
            if entity_type.is_empty() {
                return Err(invalid("Invalid empty entity type.".into()));
            }
            if filter.has(entity_type) {
                return Err(invalid(format!(
                    "Entity type {entity_type} cannot appear more than once in the filter."
                )));
            }
            if ![USER, CLIENT_ID, IP].contains(&entity_type.as_str()) {
                return Err(ApiError::new(
                    ErrorCode::UNSUPPORTED_VERSION,
                    format!("Unsupported entity type {entity_type}"),
                ));
            }
            match (component.match_type, &component.r#match) {
                (MATCH_EXACT, None) => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_EXACT, but set match string to null.".into(),
                    ))
                }
                (MATCH_EXACT, Some(name)) => {
                    filter.exact.insert(entity_type.clone(), Some(name.clone()));
                }
                (MATCH_DEFAULT, Some(_)) => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.".into(),
                    ))
                }
                (MATCH_DEFAULT, None) => {
                    filter.exact.insert(entity_type.clone(), None);
                }
                (MATCH_ANY, Some(_)) => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.".into(),
                    ))
                }
                (MATCH_ANY, None) => filter.any.push(entity_type.clone()),
                (other, _) => return Err(invalid(format!("Unknown match type {other}"))),
            }
        }
        if filter.has(IP) && (filter.has(USER) || filter.has(CLIENT_ID)) {
            return Err(invalid(
                "Invalid entity filter component combination. IP filter component should not be used \
                 with user or clientId filter component."
                    .into(),
            ));
        }
        Ok(filter)
    }

    fn has(&self, entity_type: &str) -> bool {
        self.exact.contains_key(entity_type) || self.any.iter().any(|t| t == entity_type)
    }

    fn matches(&self, entity: &QuotaEntity) -> bool {
        if self.strict && entity.len() != self.exact.len() + self.any.len() {
            return false;
        }
        self.exact.iter().all(|(t, name)| entity.get(t) == Some(name))
            && self.any.iter().all(|t| entity.contains_key(t))
    }
}

fn describe(quotas: &ClientQuotaConfigs, request: &DescribeClientQuotasRequest) -> Result<Vec<EntryData>, ApiError> {
    let filter = Filter::parse(request)?;
    let entries = quotas
        .entities()
        .iter()
        .filter(|(entity, _)| filter.matches(entity))
        .map(|(entity, values)| EntryData {
            entity: entity
                .iter()
                .map(|(entity_type, entity_name)| EntityData {
                    entity_type: entity_type.clone(),
                    entity_name: entity_name.clone(),
                    ..Default::default()
                })
                .collect(),
            values: values
                .iter()
                .map(|(key, value)| ValueData {
                    key: key.clone(),
                    value: *value,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    Ok(entries)
}
