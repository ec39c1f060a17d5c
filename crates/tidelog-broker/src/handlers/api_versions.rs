//! ApiVersions: the APIs and versions this broker handles in full.

use std::ops::RangeInclusive;
use tidelog_protocol::messages::api_versions_request::ApiVersionsRequest;
use tidelog_protocol::messages::api_versions_response::{
    ApiVersion, ApiVersionsResponse, FinalizedFeatureKey, SupportedFeatureKey,
};
use tidelog_protocol::{ApiKey, ErrorCode, ResponseBody};

use crate::features;
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 4.
pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// Every handled API with the versions advertised. Only what is fully handled, at every
/// version listed, goes here: each handler's `VERSIONS`, and the SASL APIs, which the
/// connection's `sasl::Session` answers.
const ADVERTISED: &[(ApiKey, RangeInclusive<i16>)] = &[
    (ApiKey::Produce, super::produce::VERSIONS),
    (ApiKey::Fetch, super::fetch::VERSIONS),
    (ApiKey::ListOffsets, super::list_offsets::VERSIONS),
    (ApiKey::OffsetForLeaderEpoch, super::offset_for_leader_epoch::VERSIONS),
    (ApiKey::Metadata, super::metadata::VERSIONS),
    (ApiKey::ApiVersions, VERSIONS),
    (ApiKey::CreateTopics, super::create_topics::VERSIONS),
    (ApiKey::DeleteTopics, super::delete_topics::VERSIONS),
    (ApiKey::DeleteRecords, super::delete_records::VERSIONS),
    (ApiKey::DescribeConfigs, super::describe_configs::VERSIONS),
    (ApiKey::AlterConfigs, super::alter_configs::VERSIONS),
    (
        ApiKey::IncrementalAlterConfigs,
        super::incremental_alter_configs::VERSIONS,
    ),
    (ApiKey::CreatePartitions, super::create_partitions::VERSIONS),
    (ApiKey::DescribeCluster, super::describe_cluster::VERSIONS),
    (ApiKey::DescribeQuorum, super::describe_quorum::VERSIONS),
    (ApiKey::DescribeLogDirs, super::describe_log_dirs::VERSIONS),
    (ApiKey::ElectLeaders, super::elect_leaders::VERSIONS),
    (ApiKey::UpdateFeatures, super::update_features::VERSIONS),
    (
        ApiKey::DescribeTopicPartitions,
        super::describe_topic_partitions::VERSIONS,
    ),
    (ApiKey::FindCoordinator, super::find_coordinator::VERSIONS),
    (ApiKey::JoinGroup, super::join_group::VERSIONS),
    (ApiKey::SyncGroup, super::sync_group::VERSIONS),
    (ApiKey::Heartbeat, super::heartbeat::VERSIONS),
    (ApiKey::LeaveGroup, super::leave_group::VERSIONS),
    (ApiKey::OffsetCommit, super::offset_commit::VERSIONS),
    (ApiKey::OffsetFetch, super::offset_fetch::VERSIONS),
    (ApiKey::ListGroups, super::list_groups::VERSIONS),
    (ApiKey::SaslHandshake, 1..=1),
    (ApiKey::SaslAuthenticate, 0..=2),
    (ApiKey::DescribeGroups, super::describe_groups::VERSIONS),
    (ApiKey::DeleteGroups, super::delete_groups::VERSIONS),
    (ApiKey::OffsetDelete, super::offset_delete::VERSIONS),
    (ApiKey::InitProducerId, super::init_producer_id::VERSIONS),
    (ApiKey::AddPartitionsToTxn, super::add_partitions_to_txn::VERSIONS),
    (ApiKey::AddOffsetsToTxn, super::add_offsets_to_txn::VERSIONS),
    (ApiKey::EndTxn, super::end_txn::VERSIONS),
    (ApiKey::TxnOffsetCommit, super::txn_offset_commit::VERSIONS),
    (ApiKey::DescribeTransactions, super::describe_transactions::VERSIONS),
    (ApiKey::ListTransactions, super::list_transactions::VERSIONS),
    (ApiKey::WriteTxnMarkers, super::write_txn_markers::VERSIONS),
    (ApiKey::DescribeProducers, super::describe_producers::VERSIONS),
    (
        ApiKey::ConsumerGroupHeartbeat,
        super::consumer_group_heartbeat::VERSIONS,
    ),
    (ApiKey::ConsumerGroupDescribe, super::consumer_group_describe::VERSIONS),
    (
        ApiKey::DescribeUserScramCredentials,
        super::describe_user_scram_credentials::VERSIONS,
    ),
    (
        ApiKey::AlterUserScramCredentials,
        super::alter_user_scram_credentials::VERSIONS,
    ),
    (ApiKey::DescribeAcls, super::describe_acls::VERSIONS),
    (ApiKey::CreateAcls, super::create_acls::VERSIONS),
    (ApiKey::DeleteAcls, super::delete_acls::VERSIONS),
    (ApiKey::DescribeClientQuotas, super::describe_client_quotas::VERSIONS),
    (ApiKey::AlterClientQuotas, super::alter_client_quotas::VERSIONS),
];

/// Every API served, with its versions.
pub fn served() -> impl Iterator<Item = (ApiKey, RangeInclusive<i16>)> {
    ADVERTISED.iter().cloned()
}

pub fn advertised(api_key: ApiKey, version: i16) -> bool {
    ADVERTISED
        .iter()
        .any(|(k, versions)| *k == api_key && versions.contains(&version))
}

fn api_list() -> Vec<ApiVersion> {
    ADVERTISED
        .iter()
        .map(|(key, versions)| ApiVersion {
            api_key: *key as i16,
            min_version: *versions.start(),
            max_version: *versions.end(),
            ..Default::default()
        })
        .collect()
}

pub async fn handle(ctx: &RequestContext, request: ApiVersionsRequest) -> Reply {
    Reply::Now(ResponseBody::ApiVersions(respond(ctx, request)))
}

/// KIP-511's client name and version are accepted as given (they only label the client).
/// The features (v3+): their epoch counts the changes, so clients keep the newest view.
/// Clients asking with v3 are not shown supported ranges starting at level 0, which older
/// ones cannot read (Kafka leaves them out too, KAFKA-17492); v4+ see them all.
fn respond(ctx: &RequestContext, _request: ApiVersionsRequest) -> ApiVersionsResponse {
    let (broker, version) = (&ctx.broker, ctx.api_version);
    let image = broker.metadata.image();
    let supported_features = match version >= 4 {
        true => features::SUPPORTED
            .iter()
            .map(|(name, level)| SupportedFeatureKey {
                name: name.to_string(),
                min_version: 0,
                max_version: *level,
                ..Default::default()
            })
            .collect(),
        false => Vec::new(),
    };
    ApiVersionsResponse {
        api_keys: api_list(),
        supported_features,
        finalized_features_epoch: image.features_epoch(),
        finalized_features: image
            .finalized_features()
            .into_iter()
            .map(|(name, level)| FinalizedFeatureKey {
                name: name.to_string(),
                min_version_level: level,
                max_version_level: level,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// The answer to a version above ours, sent as v0.
pub fn unsupported_version() -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: ErrorCode::UNSUPPORTED_VERSION.0,
        api_keys: api_list(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_versions_are_ones_the_codec_covers() {
        for (key, versions) in ADVERTISED {
            assert!(
                key.min_version() <= *versions.start() && *versions.end() <= key.max_version(),
                "{key:?}"
            );
        }
    }
}
