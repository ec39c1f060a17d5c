//! AlterConfigs: replaces the whole set of a topic's config overrides; what the request
//! does not list goes back to its default, and a null value is refused, as in Kafka. Also
//! what IncrementalAlterConfigs shares: which resources can be altered (topics: broker
//! configs are static here, read from `server.properties` and `--override` at start) and
//! the checks for duplicates.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeInclusive;

use tidelog_protocol::messages::alter_configs_request::{AlterConfigsRequest, AlterableConfig};
use tidelog_protocol::messages::alter_configs_response::{AlterConfigsResourceResponse, AlterConfigsResponse};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::broker::{ApiError, Broker};
use crate::handlers::{Reply, RequestContext};
use crate::topic_config::{RESOURCE_BROKER, RESOURCE_TOPIC};

/// The versions served, as ApiVersions advertises them: 0 to 2.
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

pub async fn handle(ctx: &RequestContext, request: AlterConfigsRequest) -> Reply {
    Reply::Now(ResponseBody::AlterConfigs(respond(ctx, request)))
}

fn respond(ctx: &RequestContext, request: AlterConfigsRequest) -> AlterConfigsResponse {
    let resources: Vec<Resource<'_, AlterableConfig>> = request
        .resources
        .iter()
        .map(|r| (r.resource_type, r.resource_name.as_str(), r.configs.as_slice()))
        .collect();
    let answers = alter_each(ctx, &resources, request.validate_only, |configs, _| {
        configs
            .iter()
            .map(|c| Ok((c.name.clone(), c.value.clone().ok_or_else(|| null_value(&c.name))?)))
            .collect()
    });
    AlterConfigsResponse {
        responses: resource_responses!(AlterConfigsResourceResponse, answers),
        ..Default::default()
    }
}

/// A config entry of either API, named by its key.
pub trait ConfigKey {
    fn key(&self) -> &str;
}

impl ConfigKey for AlterableConfig {
    fn key(&self) -> &str {
        &self.name
    }
}

/// Kafka's answer to a config given without a value where one is needed.
pub fn null_value(key: &str) -> ApiError {
    ApiError::new(
        ErrorCode::INVALID_REQUEST,
        format!("Null value not supported for : {key}"),
    )
}

/// A resource of either API: (type, name, its configs as the API gives them).
pub type Resource<'a, C> = (i8, &'a str, &'a [C]);

/// One resource's answer, as both APIs give it.
pub struct Answer {
    pub resource_type: i8,
    pub resource_name: String,
    pub error_code: i16,
    pub error_message: Option<String>,
}

/// The response entries of either API from their answers (the generated types differ,
/// their fields do not).
macro_rules! resource_responses {
    ($entry:ident, $answers:expr) => {
        $answers
            .into_iter()
            .map(|answer| $entry {
                error_code: answer.error_code,
                error_message: answer.error_message,
                resource_type: answer.resource_type,
                resource_name: answer.resource_name,
                ..Default::default()
            })
            .collect()
    };
}
pub(crate) use resource_responses;

/// Alters every resource of a request in turn: a topic's overrides become what `change`
/// makes of the resource's configs and the current overrides. A resource named twice, or
/// naming a key twice, is refused.
pub fn alter_each<C: ConfigKey>(
    ctx: &RequestContext,
    resources: &[Resource<'_, C>],
    validate_only: bool,
    change: impl Fn(&[C], &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ApiError>,
) -> Vec<Answer> {
    let mut times_named: HashMap<(i8, &str), usize> = HashMap::new();
    for (resource_type, name, _) in resources {
        *times_named.entry((*resource_type, name)).or_default() += 1;
    }
    resources
        .iter()
        .map(|(resource_type, name, configs)| {
            let altered = match times_named[&(*resource_type, *name)] {
                1 => ctx
                    .authorize_config_resource(*resource_type, name)
                    .and_then(|()| no_duplicate_keys(configs.iter().map(ConfigKey::key)))
                    .and_then(|()| {
                        alter(&ctx.broker, (*resource_type, name), validate_only, |current| {
                            change(configs, current)
                        })
                    }),
                _ => Err(ApiError::new(
                    ErrorCode::INVALID_REQUEST,
                    format!("Error due to duplicate resources: {name}"),
                )),
            };
            let (error_code, error_message) = match altered {
                Ok(()) => (ErrorCode::NONE.0, None),
                Err(e) => (e.code.0, Some(e.message)),
            };
            Answer {
                resource_type: *resource_type,
                resource_name: name.to_string(),
                error_code,
                error_message,
            }
        })
        .collect()
}

/// Alters one resource: a topic's overrides become what `change` makes of the current ones.
fn alter(
    broker: &Broker,
    (resource_type, name): (i8, &str),
    validate_only: bool,
    change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ApiError>,
) -> Result<(), ApiError> {
    match resource_type {
        RESOURCE_TOPIC => broker.alter_topic_configs(name, validate_only, change),
        RESOURCE_BROKER => Err(ApiError::new(
            ErrorCode::INVALID_REQUEST,
            "Broker configs cannot be altered while the broker runs: set them in server.properties or with --override",
        )),
        other => Err(ApiError::new(
            ErrorCode::INVALID_REQUEST,
            format!("Unsupported resource type {other}"),
        )),
    }
}

/// A resource may name each config key once.
fn no_duplicate_keys<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), ApiError> {
    let mut seen = BTreeSet::new();
    match names.into_iter().find(|name| !seen.insert(*name)) {
        Some(name) => Err(ApiError::new(
            ErrorCode::INVALID_REQUEST,
            format!("Error due to duplicate config keys: {name}"),
        )),
        None => Ok(()),
    }
}
