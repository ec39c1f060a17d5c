//! IncrementalAlterConfigs: changes single keys of a topic's config overrides. SET and
//! DELETE (back to the default) for any key; APPEND and SUBTRACT for list configs only
//! (`cleanup.policy`), starting from the topic's override or else the default, as Kafka
//! does. Every operation of a resource applies, or none.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use tidelog_protocol::messages::incremental_alter_configs_request::{AlterableConfig, IncrementalAlterConfigsRequest};
use tidelog_protocol::messages::incremental_alter_configs_response::{
    AlterConfigsResourceResponse, IncrementalAlterConfigsResponse,
};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::broker::ApiError;
use crate::handlers::alter_configs::{alter_each, null_value, resource_responses, ConfigKey, Resource};
use crate::handlers::{Reply, RequestContext};
use crate::topic_config::{self, ConfigType};

/// The versions served, as ApiVersions advertises them: 0 to 1.
pub const VERSIONS: RangeInclusive<i16> = 0..=1;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub async fn handle(ctx: &RequestContext, request: IncrementalAlterConfigsRequest) -> Reply {
    Reply::Now(ResponseBody::IncrementalAlterConfigs(respond(ctx, request)))
}

fn respond(ctx: &RequestContext, request: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
    let resources: Vec<Resource<'_, AlterableConfig>> = request
        .resources
        .iter()
        .map(|r| (r.resource_type, r.resource_name.as_str(), r.configs.as_slice()))
        .collect();
    let answers = alter_each(ctx, &resources, request.validate_only, |operations, current| {
        let mut configs = current.clone();
        for operation in operations {
            apply(&mut configs, operation)?;
        }
        Ok(configs)
    });
    IncrementalAlterConfigsResponse {
        responses: resource_responses!(AlterConfigsResourceResponse, answers),
        ..Default::default()
    }
}

impl ConfigKey for AlterableConfig {
    fn key(&self) -> &str {
        &self.name
    }
}

fn apply(configs: &mut BTreeMap<String, String>, operation: &AlterableConfig) -> Result<(), ApiError> {
    let name = &operation.name;
    let value = || operation.value.as_deref().ok_or_else(|| null_value(name));
    match operation.config_operation {
        SET => {
            configs.insert(name.clone(), value()?.to_string());
        }
        DELETE => {
            configs.remove(name);
        }
        op @ (APPEND | SUBTRACT) => {
            let def = topic_config::def(name).ok_or_else(|| {
                ApiError::new(ErrorCode::INVALID_CONFIG, format!("Unknown topic config name: {name}"))
            })?;
            let verb = if op == APPEND { "APPEND" } else { "SUBTRACT" };
            if def.ty != ConfigType::List {
                return Err(ApiError::new(
                    ErrorCode::INVALID_CONFIG,
                    format!("Can't {verb} to key {name} because its type is not LIST."),
                ));
            }
            let items = |list: &str| -> Vec<String> {
                list.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(String::from)
                    .collect()
            };
            let mut list = items(configs.get(name).map_or(def.default, String::as_str));
            let given = items(value()?);
            if op == APPEND {
                for item in given {
                    if !list.contains(&item) {
                        list.push(item);
                    }
                }
            } else {
                list.retain(|item| !given.contains(item));
            }
            configs.insert(name.clone(), list.join(","));
        }
        other => {
            return Err(ApiError::new(
                ErrorCode::INVALID_REQUEST,
                format!("Unknown operation type {other}"),
            ))
        }
    }
    Ok(())
}
