//! What each API needs, as Kafka's `KafkaApis` checks it: the operation it takes on each
//! type of resource it touches. Handlers name the resource; the operation comes from here
//! (`RequestContext::authorize`), so no handler states its own.

use tidelog_protocol::ApiKey;

use super::AclOperation::{self, *};
use super::ResourceType::{self, Cluster, Group, Topic, TransactionalId};

/// `(API, resource type, operation)`. An API absent from the table (ApiVersions, the SASL
/// exchange) needs nothing.
pub const TABLE: &[(ApiKey, ResourceType, AclOperation)] = &[
    (ApiKey::Produce, Topic, Write),
    (ApiKey::Produce, TransactionalId, Write),
    (ApiKey::Fetch, Topic, Read),
    // A follower's fetch (its replica id set).
    (ApiKey::Fetch, Cluster, ClusterAction),
    (ApiKey::OffsetForLeaderEpoch, Topic, Describe),
    (ApiKey::ListOffsets, Topic, Describe),
    (ApiKey::Metadata, Topic, Describe),
    (ApiKey::OffsetCommit, Group, Read),
    (ApiKey::OffsetCommit, Topic, Read),
    (ApiKey::OffsetFetch, Group, Describe),
    (ApiKey::OffsetFetch, Topic, Describe),
    (ApiKey::FindCoordinator, Group, Describe),
    (ApiKey::FindCoordinator, TransactionalId, Describe),
    (ApiKey::JoinGroup, Group, Read),
    (ApiKey::Heartbeat, Group, Read),
    (ApiKey::LeaveGroup, Group, Read),
    (ApiKey::SyncGroup, Group, Read),
    (ApiKey::DescribeGroups, Group, Describe),
    // DESCRIBE on the cluster lists every group; without it, the groups one may describe.
    (ApiKey::ListGroups, Cluster, Describe),
    (ApiKey::ListGroups, Group, Describe),
    (ApiKey::CreateTopics, Cluster, Create),
    (ApiKey::CreateTopics, Topic, Create),
    (ApiKey::DeleteTopics, Topic, Delete),
    (ApiKey::DeleteRecords, Topic, Delete),
    (ApiKey::InitProducerId, TransactionalId, Write),
    // Or WRITE on some topic (`Acls::allowed_on_some`), as Kafka takes it.
    (ApiKey::InitProducerId, Cluster, IdempotentWrite),
    (ApiKey::AddPartitionsToTxn, TransactionalId, Write),
    (ApiKey::AddPartitionsToTxn, Topic, Write),
    // From v4, brokers verifying a producer's partitions.
    (ApiKey::AddPartitionsToTxn, Cluster, ClusterAction),
    (ApiKey::AddOffsetsToTxn, TransactionalId, Write),
    (ApiKey::AddOffsetsToTxn, Group, Read),
    (ApiKey::EndTxn, TransactionalId, Write),
    (ApiKey::WriteTxnMarkers, Cluster, ClusterAction),
    (ApiKey::TxnOffsetCommit, TransactionalId, Write),
    (ApiKey::TxnOffsetCommit, Group, Read),
    (ApiKey::TxnOffsetCommit, Topic, Read),
    (ApiKey::DescribeAcls, Cluster, Describe),
    (ApiKey::CreateAcls, Cluster, Alter),
    (ApiKey::DeleteAcls, Cluster, Alter),
    (ApiKey::DescribeUserScramCredentials, Cluster, Describe),
    (ApiKey::AlterUserScramCredentials, Cluster, Alter),
    (ApiKey::DescribeClientQuotas, Cluster, DescribeConfigs),
    (ApiKey::AlterClientQuotas, Cluster, AlterConfigs),
    (ApiKey::DescribeConfigs, Topic, DescribeConfigs),
    (ApiKey::DescribeConfigs, Cluster, DescribeConfigs),
    (ApiKey::DescribeConfigs, Group, DescribeConfigs),
    (ApiKey::AlterConfigs, Topic, AlterConfigs),
    (ApiKey::AlterConfigs, Cluster, AlterConfigs),
    (ApiKey::AlterConfigs, Group, AlterConfigs),
    (ApiKey::IncrementalAlterConfigs, Topic, AlterConfigs),
    (ApiKey::IncrementalAlterConfigs, Cluster, AlterConfigs),
    (ApiKey::IncrementalAlterConfigs, Group, AlterConfigs),
    (ApiKey::DescribeLogDirs, Cluster, Describe),
    (ApiKey::CreatePartitions, Topic, Alter),
    (ApiKey::ElectLeaders, Cluster, Alter),
    (ApiKey::DeleteGroups, Group, Delete),
    (ApiKey::OffsetDelete, Group, Delete),
    (ApiKey::OffsetDelete, Topic, Read),
    // Not refused without it: it gates the cluster's authorized operations (0 then).
    (ApiKey::DescribeCluster, Cluster, Describe),
    (ApiKey::DescribeQuorum, Cluster, Describe),
    (ApiKey::DescribeProducers, Topic, Read),
    (ApiKey::DescribeTransactions, TransactionalId, Describe),
    (ApiKey::DescribeTransactions, Topic, Describe),
    (ApiKey::ListTransactions, TransactionalId, Describe),
    (ApiKey::UpdateFeatures, Cluster, Alter),
    (ApiKey::DescribeTopicPartitions, Topic, Describe),
    (ApiKey::ConsumerGroupHeartbeat, Group, Read),
    (ApiKey::ConsumerGroupHeartbeat, Topic, Describe),
    (ApiKey::ConsumerGroupDescribe, Group, Describe),
    (ApiKey::ConsumerGroupDescribe, Topic, Describe),
];

/// The operation `api` takes on resources of `resource_type`; `None` when it takes none
/// (a handler asking for one the table lacks is refused: see `RequestContext::authorize`).
pub fn operation(api: ApiKey, resource_type: ResourceType) -> Option<AclOperation> {
    TABLE
        .iter()
        .find(|(a, r, _)| *a == api && *r == resource_type)
        .map(|&(_, _, op)| op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::api_versions;

    /// Every API the broker serves is in the table, but those Kafka lets anyone call.
    #[test]
    fn every_served_api_needs_something() {
        let open = [ApiKey::ApiVersions, ApiKey::SaslHandshake, ApiKey::SaslAuthenticate];
        for (api, _) in api_versions::served() {
            let listed = TABLE.iter().any(|(a, _, _)| *a == api);
            assert_eq!(listed, !open.contains(&api), "{api:?}");
        }
    }
}
