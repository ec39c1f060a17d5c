//! DescribeConfigs: topic configs (effective values with their sources and synonyms) and
//! broker configs, with Kafka's names.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::describe_configs_request::{DescribeConfigsRequest, DescribeConfigsResource};
use tidelog_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResponse, DescribeConfigsResult, DescribeConfigsSynonym,
};
use tidelog_protocol::{ErrorCode, ResponseBody};

use crate::broker::{unknown_topic, ApiError, Broker};
use crate::config::SENSITIVE_CONFIGS;
use crate::config_docs;
use crate::handlers::{Reply, RequestContext};
use crate::topic_config::{self, ConfigSource, ConfigType, RESOURCE_BROKER, RESOURCE_TOPIC};

/// The versions served, as ApiVersions advertises them: 1 to 4.
pub const VERSIONS: RangeInclusive<i16> = 1..=4;

pub async fn handle(ctx: &RequestContext, request: DescribeConfigsRequest) -> Reply {
    Reply::Now(ResponseBody::DescribeConfigs(respond(ctx, request)))
}

fn respond(ctx: &RequestContext, request: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let broker = &ctx.broker;
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let (resource_type, resource_name) = (resource.resource_type, resource.resource_name.clone());
            let described = ctx
                .authorize_config_resource(resource_type, &resource_name)
                .and_then(|()| {
                    describe(
                        broker,
                        resource,
                        request.include_synonyms,
                        request.include_documentation,
                    )
                });
            match described {
                Ok(configs) => DescribeConfigsResult {
                    resource_type,
                    resource_name,
                    configs,
                    ..Default::default()
                },
                Err(err) => DescribeConfigsResult {
                    error_code: err.code.0,
                    error_message: Some(err.message),
                    resource_type,
                    resource_name,
                    ..Default::default()
                },
            }
        })
        .collect();
    DescribeConfigsResponse {
        results,
        ..Default::default()
    }
}

fn describe(
    broker: &Broker,
    resource: DescribeConfigsResource,
    include_synonyms: bool,
    include_documentation: bool,
) -> Result<Vec<DescribeConfigsResourceResult>, ApiError> {
    let documented = |doc: Option<&str>| doc.filter(|_| include_documentation).map(str::to_string);
    let wanted = |name: &str| {
        resource
            .configuration_keys
            .as_ref()
            .is_none_or(|keys| keys.iter().any(|k| k == name))
    };
    match resource.resource_type {
        RESOURCE_TOPIC => {
            let image = broker.metadata.image();
            let topic = image
                .topic(&resource.resource_name)
                .ok_or_else(|| unknown_topic(&resource.resource_name))?;
            Ok(topic_config::resolve(&broker.config, &topic.configs)
                .into_iter()
                .filter(|c| wanted(c.name))
                .map(|c| {
                    let synonyms = if include_synonyms {
                        c.synonyms
                            .into_iter()
                            .map(|(name, value, source)| DescribeConfigsSynonym {
                                name,
                                value: Some(value),
                                source: source as i8,
                                ..Default::default()
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    let mut entry = entry(c.name, c.value, c.source, c.ty, synonyms);
                    entry.documentation = documented(config_docs::topic(c.name));
                    entry
                })
                .collect())
        }
        RESOURCE_BROKER => {
            if resource.resource_name != broker.config.node_id.to_string() && !resource.resource_name.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::INVALID_REQUEST,
                    format!(
                        "Unexpected broker id, expected {} but received {}",
                        broker.config.node_id, resource.resource_name
                    ),
                ));
            }
            let source = |explicit| match explicit {
                true => ConfigSource::StaticBroker,
                false => ConfigSource::Default,
            };
            let values = broker
                .config
                .describe()
                .into_iter()
                .filter(|(name, _, _)| wanted(name))
                .map(|(name, value, explicit)| {
                    let (ty, doc) =
                        config_docs::broker(name).map_or((ConfigType::String, None), |(ty, doc)| (ty, Some(doc)));
                    let mut entry = entry(name, value, source(explicit), ty, Vec::new());
                    entry.documentation = documented(doc);
                    entry
                });
            // Secrets: whether they were set, never their value (Kafka's null).
            let secrets = SENSITIVE_CONFIGS.into_iter().filter(|name| wanted(name)).map(|name| {
                let given = broker.config.secrets_given.contains(name);
                DescribeConfigsResourceResult {
                    value: None,
                    is_sensitive: true,
                    ..entry(name, String::new(), source(given), ConfigType::Password, Vec::new())
                }
            });
            Ok(values.chain(secrets).collect())
        }
        other => Err(ApiError::new(
            ErrorCode::INVALID_REQUEST,
            format!("Unsupported resource type {other}"),
        )),
    }
}

fn entry(
    name: &str,
    value: String,
    source: ConfigSource,
    ty: ConfigType,
    synonyms: Vec<DescribeConfigsSynonym>,
) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult {
        name: name.to_string(),
        value: Some(value),
        read_only: false,
        config_source: source as i8,
        is_sensitive: false,
        synonyms,
        config_type: ty as i8,
        documentation: None,
        ..Default::default()
    }
}
