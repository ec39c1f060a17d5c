//! Metadata: brokers, cluster id, controller, and topics with their partitions. Unknown
//! topics are created on the fly when both the client and `auto.create.topics.enable`
//! allow it.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use tidelog_protocol::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use tidelog_protocol::{ApiKey, ErrorCode, ResponseBody, Uuid};

use crate::authorized_operations;
use crate::authorizer::{ResourceType, CLUSTER_NAME};
use crate::broker::is_internal_topic;
use crate::cluster;
use crate::handlers::{Reply, RequestContext};
use crate::metadata::{MetadataImage, TopicMeta};

/// The versions served, as ApiVersions advertises them: 0 to 13.
pub const VERSIONS: RangeInclusive<i16> = 0..=13;

/// The first version whose response may name a topic by id alone.
const FIRST_VERSION_WITH_TOPIC_IDS: i16 = 12;

pub async fn handle(ctx: &RequestContext, request: MetadataRequest) -> Reply {
    Reply::Now(ResponseBody::Metadata(respond(ctx, request)))
}

fn respond(ctx: &RequestContext, request: MetadataRequest) -> MetadataResponse {
    let (broker, version) = (&ctx.broker, ctx.api_version);
    if let Some(refused) = refuse_topic_ids_before_v12(&request, version) {
        return refused;
    }
    let brokers = cluster::brokers(broker, &ctx.listener, false)
        .into_iter()
        .map(|b| MetadataResponseBroker {
            node_id: b.id,
            host: b.host,
            port: i32::from(b.port),
            rack: b.rack,
            ..Default::default()
        })
        .collect();
    // v0 asks for every topic with an empty list; later versions with null.
    let wanted = match request.topics {
        None => None,
        Some(topics) if topics.is_empty() && version == 0 => None,
        Some(topics) => Some(topics),
    };
    let mut topics: Vec<MetadataResponseTopic> = match wanted {
        // Every topic the principal may describe; the others are not shown.
        None => {
            let image = broker.metadata.image();
            image
                .topics()
                .filter(|t| ctx.authorize(ResourceType::Topic, &t.name))
                .map(|t| describe_topic(ctx, &image, t))
                .collect()
        }
        Some(requested) => {
            let auto_create = request.allow_auto_topic_creation && broker.config.auto_create_topics_enable;
            requested
                .into_iter()
                // A topic asked by id may carry a name too: the Java client's is "", the
                // schema's default. As in Kafka, the id wins.
                .map(|t| match t.name {
                    Some(name) if t.topic_id.is_nil() => lookup_by_name(ctx, &name, auto_create),
                    _ => lookup_by_id(ctx, t.topic_id),
                })
                .collect()
        }
    };
    if request.include_topic_authorized_operations {
        // Unknown topics too: what may be done to a topic of that name (creating it).
        for topic in topics
            .iter_mut()
            .filter(|t| t.error_code != ErrorCode::TOPIC_AUTHORIZATION_FAILED.0)
        {
            let name = topic.name.as_deref().unwrap_or_default();
            topic.topic_authorized_operations = authorized_operations::topic(ctx, name);
        }
    }
    MetadataResponse {
        brokers,
        cluster_id: Some(broker.cluster_id.clone()),
        controller_id: cluster::controller_id(broker),
        topics,
        cluster_authorized_operations: authorized_operations::if_asked(
            request.include_cluster_authorized_operations,
            authorized_operations::cluster(ctx),
        ),
        ..Default::default()
    }
}

/// Versions 10 and 11 carry topic ids but may not use them, and their response cannot
/// carry a topic without a name. Kafka refuses such a request: INVALID_REQUEST for every
/// topic, named as asked or "".
fn refuse_topic_ids_before_v12(request: &MetadataRequest, version: i16) -> Option<MetadataResponse> {
    let topics = request.topics.as_ref()?;
    let by_id = |t: &MetadataRequestTopic| t.name.is_none() || !t.topic_id.is_nil();
    if version >= FIRST_VERSION_WITH_TOPIC_IDS || !topics.iter().any(by_id) {
        return None;
    }
    let topics = topics
        .iter()
        .map(|t| {
            topic_error(
                Some(t.name.clone().unwrap_or_default()),
                t.topic_id,
                ErrorCode::INVALID_REQUEST,
            )
        })
        .collect();
    Some(MetadataResponse {
        topics,
        ..Default::default()
    })
}

/// A topic named in the request: TOPIC_AUTHORIZATION_FAILED unless the principal may
/// describe it, and created only if it may create it too (as CreateTopics would).
fn lookup_by_name(ctx: &RequestContext, name: &str, auto_create: bool) -> MetadataResponseTopic {
    let broker = &ctx.broker;
    if !ctx.authorize(ResourceType::Topic, name) {
        return topic_error(Some(name.to_string()), Uuid::NIL, ErrorCode::TOPIC_AUTHORIZATION_FAILED);
    }
    {
        let image = broker.metadata.image();
        if let Some(topic) = image.topic(name) {
            return describe_topic(ctx, &image, topic);
        }
    }
    let may_create = || {
        ctx.authorize_as(ApiKey::CreateTopics, ResourceType::Cluster, CLUSTER_NAME)
            || ctx.authorize_as(ApiKey::CreateTopics, ResourceType::Topic, name)
    };
    if auto_create && !may_create() {
        return topic_error(Some(name.to_string()), Uuid::NIL, ErrorCode::TOPIC_AUTHORIZATION_FAILED);
    }
    if auto_create {
        match broker.create_topic(name, -1, -1, Default::default(), false) {
            Ok(topic) => return describe_topic(ctx, &broker.metadata.image(), &topic),
            // Another request created it in between.
            Err(e) if e.code == ErrorCode::TOPIC_ALREADY_EXISTS => return lookup_by_name(ctx, name, false),
            Err(e) => return topic_error(Some(name.to_string()), Uuid::NIL, e.code),
        }
    }
    topic_error(Some(name.to_string()), Uuid::NIL, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
}

/// A topic asked by id; one the principal may not describe is TOPIC_AUTHORIZATION_FAILED
/// without its name.
fn lookup_by_id(ctx: &RequestContext, id: Uuid) -> MetadataResponseTopic {
    let image = ctx.broker.metadata.image();
    match image.topic_by_id(id) {
        Some(topic) if !ctx.authorize(ResourceType::Topic, &topic.name) => {
            topic_error(None, id, ErrorCode::TOPIC_AUTHORIZATION_FAILED)
        }
        Some(topic) => describe_topic(ctx, &image, topic),
        None => topic_error(None, id, ErrorCode::UNKNOWN_TOPIC_ID),
    }
}

fn topic_error(name: Option<String>, topic_id: Uuid, code: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: code.0,
        name,
        topic_id,
        ..Default::default()
    }
}

/// Each partition with its leader, its only replica and in sync, and leader epoch; one
/// whose leader is away is LEADER_NOT_AVAILABLE with no leader, as Kafka answers an
/// offline partition.
fn describe_topic(ctx: &RequestContext, image: &MetadataImage, topic: &TopicMeta) -> MetadataResponseTopic {
    let partitions = (0..topic.partitions)
        .map(|p| {
            let view = cluster::partition_view(&ctx.broker, image, topic, p);
            MetadataResponsePartition {
                error_code: view.error.0,
                partition_index: p,
                leader_id: view.leader,
                leader_epoch: view.leader_epoch,
                replica_nodes: view.replicas,
                isr_nodes: view.isr,
                offline_replicas: view.offline,
                ..Default::default()
            }
        })
        .collect();
    MetadataResponseTopic {
        name: Some(topic.name.clone()),
        topic_id: topic.id,
        is_internal: is_internal_topic(&topic.name),
        partitions,
        ..Default::default()
    }
}
