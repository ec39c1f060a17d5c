//! ApiVersions: the APIs and versions this broker handles in full.

use tidelog_protocol::messages::api_versions_request::ApiVersionsRequest;
use tidelog_protocol::messages::api_versions_response::{
    ApiVersion, ApiVersionsResponse, FinalizedFeatureKey, SupportedFeatureKey,
};
use tidelog_protocol::{ApiKey, ErrorCode};

use crate::broker::Broker;
use crate::features;

/// Every handled API with the versions advertised. Only what is fully handled, at every
/// version listed, goes here.
const ADVERTISED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 13),
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::UpdateFeatures, 0, 2),
    (ApiKey::DescribeTopicPartitions, 0, 0),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::SaslHandshake, 1, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 5),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 2),
    (ApiKey::WriteTxnMarkers, 1, 1),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
];

pub fn advertised(api_key: ApiKey, version: i16) -> bool {
    ADVERTISED
        .iter()
        .any(|(k, min, max)| *k == api_key && (*min..=*max).contains(&version))
}

fn api_list() -> Vec<ApiVersion> {
    ADVERTISED
        .iter()
        .map(|(key, min, max)| ApiVersion {
            api_key: *key as i16,
            min_version: *min,
            max_version: *max,
            ..Default::default()
        })
        .collect()
}

/// KIP-511's client name and version are accepted as given (they only label the client).
/// The features (v3+): their epoch counts the changes, so clients keep the newest view.
/// Clients asking with v3 are not shown supported ranges starting at level 0, which older
/// ones cannot read (Kafka leaves them out too, KAFKA-17492); v4+ see them all.
pub fn handle(broker: &Broker, _request: ApiVersionsRequest, version: i16) -> ApiVersionsResponse {
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
        for (key, min, max) in ADVERTISED {
            assert!(key.min_version() <= *min && *max <= key.max_version(), "{key:?}");
        }
    }
}
