//! ACLs with `authorizer.class.name` set to Kafka's StandardAuthorizer, against the real
//! binary with SASL/PLAIN users: every API the broker serves, called without the right it
//! needs and then with it; a PREFIXED ACL's reach; DENY over ALLOW; a super user; a
//! removal that takes effect on an open connection's next request; ACLs kept over a
//! restart; the admin APIs' answers.

mod common;

use common::raw::{batch, fetch_request, produce_request, RawClient, PRODUCE_VERSION};
use common::Broker;
use tidelog_protocol::messages::*;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

const ACCOUNTS: &str = "listener.name.sasl_plaintext.plain.sasl.jaas.config=\
    org.apache.kafka.common.security.plain.PlainLoginModule required \
    username=\"admin\" password=\"admin-secret\" \
    user_admin=\"admin-secret\" user_alice=\"alice-secret\" user_bob=\"bob-secret\";";
const AUTHORIZER: &str = "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer";

// Kafka's codes.
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const TXN_ID: i8 = 5;
const ANY: i8 = 1;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const ALL: i8 = 2;
const READ: i8 = 3;
const WRITE: i8 = 4;
const CREATE: i8 = 5;
const DELETE: i8 = 6;
const ALTER: i8 = 7;
const DESCRIBE: i8 = 8;
const CLUSTER_ACTION: i8 = 9;
const DESCRIBE_CONFIGS: i8 = 10;
const ALTER_CONFIGS: i8 = 11;
const IDEMPOTENT_WRITE: i8 = 12;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

fn acl_broker() -> Broker {
    Broker::start_on(
        "SASL_PLAINTEXT",
        &[
            "--override",
            ACCOUNTS,
            "--override",
            AUTHORIZER,
            "--override",
            "super.users=User:admin",
        ],
    )
}

/// A raw client logged in as `user` (whose password is `<user>-secret`).
fn login(broker: &Broker, user: &str) -> RawClient {
    let mut raw = broker.raw();
    let handshake = sasl_handshake_request::SaslHandshakeRequest {
        mechanism: "PLAIN".into(),
        ..Default::default()
    };
    match raw.request(1, RequestBody::SaslHandshake(handshake)) {
        ResponseBody::SaslHandshake(r) => assert_eq!(r.error_code, 0),
        other => panic!("{other:?}"),
    }
    let token = format!("\0{user}\0{user}-secret");
    let authenticate = sasl_authenticate_request::SaslAuthenticateRequest {
        auth_bytes: bytes::Bytes::from(token.into_bytes()),
        ..Default::default()
    };
    match raw.request(2, RequestBody::SaslAuthenticate(authenticate)) {
        ResponseBody::SaslAuthenticate(r) => assert_eq!(r.error_code, 0),
        other => panic!("{other:?}"),
    }
    raw
}

/// An ACL as CreateAcls takes it: (resource type, name, pattern, principal, operation,
/// permission), host `*`.
type Acl = (i8, &'static str, i8, &'static str, i8, i8);

fn allow(resource_type: i8, name: &'static str, operation: i8) -> Acl {
    (resource_type, name, LITERAL, "User:alice", operation, ALLOW)
}

fn create_acls(admin: &mut RawClient, acls: &[Acl]) -> Vec<i16> {
    let creations = acls
        .iter()
        .map(
            |&(resource_type, name, pattern, principal, operation, permission)| create_acls_request::AclCreation {
                resource_type,
                resource_name: name.into(),
                resource_pattern_type: pattern,
                principal: principal.into(),
                host: "*".into(),
                operation,
                permission_type: permission,
                ..Default::default()
            },
        )
        .collect();
    let request = create_acls_request::CreateAclsRequest {
        creations,
        ..Default::default()
    };
    match admin.request(3, RequestBody::CreateAcls(request)) {
        ResponseBody::CreateAcls(r) => r.results.iter().map(|r| r.error_code).collect(),
        other => panic!("{other:?}"),
    }
}

/// Deletes every ACL of `principal` (all when `None`); the response.
fn delete_acls(admin: &mut RawClient, principal: Option<&str>) -> delete_acls_response::DeleteAclsResponse {
    let request = delete_acls_request::DeleteAclsRequest {
        filters: vec![delete_acls_request::DeleteAclsFilter {
            resource_type_filter: ANY,
            resource_name_filter: None,
            pattern_type_filter: ANY,
            principal_filter: principal.map(String::from),
            host_filter: None,
            operation: ANY,
            permission_type: ANY,
            ..Default::default()
        }],
        ..Default::default()
    };
    match admin.request(3, RequestBody::DeleteAcls(request)) {
        ResponseBody::DeleteAcls(r) => r,
        other => panic!("{other:?}"),
    }
}

fn describe_acls(raw: &mut RawClient) -> describe_acls_response::DescribeAclsResponse {
    let request = describe_acls_request::DescribeAclsRequest {
        resource_type_filter: ANY,
        resource_name_filter: None,
        pattern_type_filter: ANY,
        principal_filter: None,
        host_filter: None,
        operation: ANY,
        permission_type: ANY,
        ..Default::default()
    };
    match raw.request(3, RequestBody::DescribeAcls(request)) {
        ResponseBody::DescribeAcls(r) => r,
        other => panic!("{other:?}"),
    }
}

/// Whether the response carries `code` in any of its error code fields.
fn carries(response: &ResponseBody, code: ErrorCode) -> bool {
    // The whole number: `error_code: 3` must not match 31.
    let text = format!("{response:?}");
    let field = format!("error_code: {}", code.0);
    text.match_indices(&field)
        .any(|(at, _)| !text[at + field.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

fn topics(names: &[&str]) -> Vec<(String, Vec<i32>)> {
    names.iter().map(|n| (n.to_string(), vec![0])).collect()
}

/// One API called without, then with, the right it needs.
struct Case {
    api: &'static str,
    version: i16,
    /// Rights given in both calls (what the API needs before the one tested).
    base: Vec<Acl>,
    /// The right tested.
    needs: Acl,
    /// Answered without it.
    refused: ErrorCode,
    request: fn() -> RequestBody,
}

fn cases() -> Vec<Case> {
    use ErrorCode as E;
    let case = |api, version, needs, refused, request| Case {
        api,
        version,
        base: Vec::new(),
        needs,
        refused,
        request,
    };
    vec![
        case(
            "Metadata",
            12,
            allow(TOPIC, "t", DESCRIBE),
            E::TOPIC_AUTHORIZATION_FAILED,
            || {
                RequestBody::Metadata(metadata_request::MetadataRequest {
                    topics: Some(vec![metadata_request::MetadataRequestTopic {
                        name: Some("t".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                })
            },
        ),
        case(
            "Produce",
            PRODUCE_VERSION,
            allow(TOPIC, "t", WRITE),
            E::TOPIC_AUTHORIZATION_FAILED,
            || produce_request("t", 0, 1, batch(0, &[(b"k", b"v")])),
        ),
        case(
            "Fetch",
            12,
            allow(TOPIC, "t", READ),
            E::TOPIC_AUTHORIZATION_FAILED,
            || RequestBody::Fetch(fetch_request("t", 0, 0, 0, 0)),
        ),
        case(
            "ListOffsets",
            7,
            allow(TOPIC, "t", DESCRIBE),
            E::TOPIC_AUTHORIZATION_FAILED,
            || {
                RequestBody::ListOffsets(list_offsets_request::ListOffsetsRequest {
                    replica_id: -1,
                    topics: vec![list_offsets_request::ListOffsetsTopic {
                        name: "t".into(),
                        partitions: vec![list_offsets_request::ListOffsetsPartition {
                            partition_index: 0,
                            timestamp: -1,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            },
        ),
        case(
            "OffsetForLeaderEpoch",
            4,
            allow(TOPIC, "t", DESCRIBE),
            E::TOPIC_AUTHORIZATION_FAILED,
            || {
                RequestBody::OffsetForLeaderEpoch(offset_for_leader_epoch_request::OffsetForLeaderEpochRequest {
                    replica_id: -1,
                    topics: vec![offset_for_leader_epoch_request::OffsetForLeaderTopic {
                        topic: "t".into(),
                        partitions: vec![offset_for_leader_epoch_request::OffsetForLeaderPartition {
                            partition: 0,
                            current_leader_epoch: -1,
                            leader_epoch: 0,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            },
        ),
        case(
            "CreateTopics",
            7,
            allow(CLUSTER, "kafka-cluster", CREATE),
            E::TOPIC_AUTHORIZATION_FAILED,
            || {
                RequestBody::CreateTopics(create_topics_request::CreateTopicsRequest {
                    topics: vec![create_topics_request::CreatableTopic {
                        name: "created".into(),
                        num_partitions: 1,
                        replication_factor: 1,
                        ..Default::default()
                    }],
                    validate_only: true,
                    ..Default::default()
                })
            },
        ),
        case(
            "DeleteTopics",
            5,
            allow(TOPIC, "doomed", DELETE),
            E::TOPIC_AUTHORIZATION_FAILED,
            || {
                RequestBody::DeleteTopics(delete_topics_request::DeleteTopicsRequest {
                    topic_names: vec!["doomed".into()],
                    timeout_ms: 5000,
                    ..Default::default()
                })
            },
        ),
        case(
            "DeleteRecords",
            2,
            allow(TOPIC, "t", DELETE),
            E::TOPIC_AUTHORIZATION_FAILED,
            || {
                RequestBody::DeleteRecords(delete_records_request::DeleteRecordsRequest {
                    topics: vec![delete_records_request::DeleteRecordsTopic {
                        name: "t".into(),
                        partitions: vec![delete_records_request::DeleteRecordsPartition {
                            partition_index: 0,
                            offset: 0,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    timeout_ms: 5000,
                    ..Default::default()
                })
            },
        ),
        case(
            "CreatePartitions",
            3,
            allow(TOPIC, "t", ALTER),
            E::TOPIC_AUTHORIZATION_FAILED,
            || {
                RequestBody::CreatePartitions(create_partitions_request::CreatePartitionsRequest {
                    topics: vec![create_partitions_request::CreatePartitionsTopic {
                        name: "t".into(),
                        count: 2,
                        ..Default::default()
                    }],
                    timeout_ms: 5000,
                    validate_only: true,
                    ..Default::default()
                })
            },
        ),
        case(
            "DescribeConfigs",
            4,
            allow(TOPIC, "t", DESCRIBE_CONFIGS),
            E::TOPIC_AUTHORIZATION_FAILED,
            || {
                RequestBody::DescribeConfigs(describe_configs_request::DescribeConfigsRequest {
                    resources: vec![describe_configs_request::DescribeConfigsResource {
                        resource_type: 2,
                        resource_name: "t".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            },
        ),
        case(
            "DescribeConfigs (broker)",
            4,
            allow(CLUSTER, "kafka-cluster", DESCRIBE_CONFIGS),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || {
                RequestBody::DescribeConfigs(describe_configs_request::DescribeConfigsRequest {
                    resources: vec![describe_configs_request::DescribeConfigsResource {
                        resource_type: 4,
                        resource_name: "1".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            },
        ),
        case(
            "AlterConfigs",
            2,
            allow(TOPIC, "t", ALTER_CONFIGS),
            E::TOPIC_AUTHORIZATION_FAILED,
            || {
                RequestBody::AlterConfigs(alter_configs_request::AlterConfigsRequest {
                    resources: vec![alter_configs_request::AlterConfigsResource {
                        resource_type: 2,
                        resource_name: "t".into(),
                        configs: vec![alter_configs_request::AlterableConfig {
                            name: "retention.ms".into(),
                            value: Some("100000".into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    validate_only: true,
                    ..Default::default()
                })
            },
        ),
        case(
            "IncrementalAlterConfigs",
            1,
            allow(TOPIC, "t", ALTER_CONFIGS),
            E::TOPIC_AUTHORIZATION_FAILED,
            || {
                RequestBody::IncrementalAlterConfigs(
                    incremental_alter_configs_request::IncrementalAlterConfigsRequest {
                        resources: vec![incremental_alter_configs_request::AlterConfigsResource {
                            resource_type: 2,
                            resource_name: "t".into(),
                            configs: vec![incremental_alter_configs_request::AlterableConfig {
                                name: "retention.ms".into(),
                                config_operation: 0,
                                value: Some("100000".into()),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                        validate_only: true,
                        ..Default::default()
                    },
                )
            },
        ),
        case(
            "DescribeLogDirs",
            4,
            allow(CLUSTER, "kafka-cluster", DESCRIBE),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || RequestBody::DescribeLogDirs(describe_log_dirs_request::DescribeLogDirsRequest::default()),
        ),
        case(
            "ElectLeaders",
            2,
            allow(CLUSTER, "kafka-cluster", ALTER),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || {
                RequestBody::ElectLeaders(elect_leaders_request::ElectLeadersRequest {
                    topic_partitions: Some(vec![elect_leaders_request::TopicPartitions {
                        topic: "t".into(),
                        partitions: vec![0],
                        ..Default::default()
                    }]),
                    ..Default::default()
                })
            },
        ),
        case(
            "UpdateFeatures",
            1,
            allow(CLUSTER, "kafka-cluster", ALTER),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || {
                RequestBody::UpdateFeatures(update_features_request::UpdateFeaturesRequest {
                    validate_only: true,
                    ..Default::default()
                })
            },
        ),
        case(
            "DescribeTopicPartitions",
            0,
            allow(TOPIC, "t", DESCRIBE),
            E::TOPIC_AUTHORIZATION_FAILED,
            || {
                RequestBody::DescribeTopicPartitions(
                    describe_topic_partitions_request::DescribeTopicPartitionsRequest {
                        topics: vec![describe_topic_partitions_request::TopicRequest {
                            name: "t".into(),
                            ..Default::default()
                        }],
                        response_partition_limit: 10,
                        ..Default::default()
                    },
                )
            },
        ),
        case(
            "FindCoordinator (group)",
            4,
            allow(GROUP, "g", DESCRIBE),
            E::GROUP_AUTHORIZATION_FAILED,
            || {
                RequestBody::FindCoordinator(find_coordinator_request::FindCoordinatorRequest {
                    key_type: 0,
                    coordinator_keys: vec!["g".into()],
                    ..Default::default()
                })
            },
        ),
        case(
            "FindCoordinator (transaction)",
            4,
            allow(TXN_ID, "tx", DESCRIBE),
            E::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            || {
                RequestBody::FindCoordinator(find_coordinator_request::FindCoordinatorRequest {
                    key_type: 1,
                    coordinator_keys: vec!["tx".into()],
                    ..Default::default()
                })
            },
        ),
        case(
            "JoinGroup",
            5,
            allow(GROUP, "g", READ),
            E::GROUP_AUTHORIZATION_FAILED,
            || {
                RequestBody::JoinGroup(join_group_request::JoinGroupRequest {
                    group_id: "g".into(),
                    session_timeout_ms: 1,
                    protocol_type: "consumer".into(),
                    ..Default::default()
                })
            },
        ),
        case(
            "SyncGroup",
            3,
            allow(GROUP, "g", READ),
            E::GROUP_AUTHORIZATION_FAILED,
            || {
                RequestBody::SyncGroup(sync_group_request::SyncGroupRequest {
                    group_id: "g".into(),
                    member_id: "m".into(),
                    ..Default::default()
                })
            },
        ),
        case(
            "Heartbeat",
            3,
            allow(GROUP, "g", READ),
            E::GROUP_AUTHORIZATION_FAILED,
            || {
                RequestBody::Heartbeat(heartbeat_request::HeartbeatRequest {
                    group_id: "g".into(),
                    member_id: "m".into(),
                    ..Default::default()
                })
            },
        ),
        case(
            "LeaveGroup",
            3,
            allow(GROUP, "g", READ),
            E::GROUP_AUTHORIZATION_FAILED,
            || {
                RequestBody::LeaveGroup(leave_group_request::LeaveGroupRequest {
                    group_id: "g".into(),
                    members: vec![leave_group_request::MemberIdentity {
                        member_id: "m".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            },
        ),
        case(
            "OffsetCommit (group)",
            8,
            allow(GROUP, "g", READ),
            E::GROUP_AUTHORIZATION_FAILED,
            offset_commit,
        ),
        Case {
            base: vec![allow(GROUP, "g", READ)],
            ..case(
                "OffsetCommit (topic)",
                8,
                allow(TOPIC, "t", READ),
                E::TOPIC_AUTHORIZATION_FAILED,
                offset_commit,
            )
        },
        case(
            "OffsetFetch (group)",
            8,
            allow(GROUP, "g", DESCRIBE),
            E::GROUP_AUTHORIZATION_FAILED,
            offset_fetch,
        ),
        Case {
            base: vec![allow(GROUP, "g", DESCRIBE)],
            ..case(
                "OffsetFetch (topic)",
                8,
                allow(TOPIC, "t", DESCRIBE),
                E::TOPIC_AUTHORIZATION_FAILED,
                offset_fetch,
            )
        },
        case(
            "DescribeGroups",
            5,
            allow(GROUP, "g", DESCRIBE),
            E::GROUP_AUTHORIZATION_FAILED,
            || {
                RequestBody::DescribeGroups(describe_groups_request::DescribeGroupsRequest {
                    groups: vec!["g".into()],
                    ..Default::default()
                })
            },
        ),
        case(
            "DeleteGroups",
            2,
            allow(GROUP, "g", DELETE),
            E::GROUP_AUTHORIZATION_FAILED,
            || {
                RequestBody::DeleteGroups(delete_groups_request::DeleteGroupsRequest {
                    groups_names: vec!["g".into()],
                    ..Default::default()
                })
            },
        ),
        case(
            "OffsetDelete",
            0,
            allow(GROUP, "g", DELETE),
            E::GROUP_AUTHORIZATION_FAILED,
            || {
                RequestBody::OffsetDelete(offset_delete_request::OffsetDeleteRequest {
                    group_id: "g".into(),
                    topics: vec![offset_delete_request::OffsetDeleteRequestTopic {
                        name: "t".into(),
                        partitions: vec![offset_delete_request::OffsetDeleteRequestPartition {
                            partition_index: 0,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            },
        ),
        case(
            "ConsumerGroupHeartbeat",
            0,
            allow(GROUP, "g", READ),
            E::GROUP_AUTHORIZATION_FAILED,
            || {
                RequestBody::ConsumerGroupHeartbeat(consumer_group_heartbeat_request::ConsumerGroupHeartbeatRequest {
                    group_id: "g".into(),
                    member_id: "m".into(),
                    member_epoch: 0,
                    ..Default::default()
                })
            },
        ),
        case(
            "ConsumerGroupDescribe",
            0,
            allow(GROUP, "g", DESCRIBE),
            E::GROUP_AUTHORIZATION_FAILED,
            || {
                RequestBody::ConsumerGroupDescribe(consumer_group_describe_request::ConsumerGroupDescribeRequest {
                    group_ids: vec!["g".into()],
                    ..Default::default()
                })
            },
        ),
        case(
            "InitProducerId (transactional)",
            4,
            allow(TXN_ID, "tx", WRITE),
            E::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            || {
                RequestBody::InitProducerId(init_producer_id_request::InitProducerIdRequest {
                    transactional_id: Some("tx".into()),
                    transaction_timeout_ms: 10_000,
                    producer_id: -1,
                    producer_epoch: -1,
                    ..Default::default()
                })
            },
        ),
        case(
            "InitProducerId (idempotent)",
            4,
            allow(CLUSTER, "kafka-cluster", IDEMPOTENT_WRITE),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || {
                RequestBody::InitProducerId(init_producer_id_request::InitProducerIdRequest {
                    transactional_id: None,
                    transaction_timeout_ms: -1,
                    producer_id: -1,
                    producer_epoch: -1,
                    ..Default::default()
                })
            },
        ),
        case(
            "AddPartitionsToTxn",
            3,
            allow(TXN_ID, "tx", WRITE),
            E::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            add_partitions_to_txn,
        ),
        Case {
            base: vec![allow(TXN_ID, "tx", WRITE)],
            ..case(
                "AddPartitionsToTxn (topic)",
                3,
                allow(TOPIC, "t", WRITE),
                E::TOPIC_AUTHORIZATION_FAILED,
                add_partitions_to_txn,
            )
        },
        case(
            "AddPartitionsToTxn (broker)",
            4,
            allow(CLUSTER, "kafka-cluster", CLUSTER_ACTION),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || RequestBody::AddPartitionsToTxn(add_partitions_to_txn_request::AddPartitionsToTxnRequest::default()),
        ),
        case(
            "AddOffsetsToTxn",
            3,
            allow(TXN_ID, "tx", WRITE),
            E::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            add_offsets_to_txn,
        ),
        Case {
            base: vec![allow(TXN_ID, "tx", WRITE)],
            ..case(
                "AddOffsetsToTxn (group)",
                3,
                allow(GROUP, "g", READ),
                E::GROUP_AUTHORIZATION_FAILED,
                add_offsets_to_txn,
            )
        },
        case(
            "TxnOffsetCommit",
            3,
            allow(TXN_ID, "tx", WRITE),
            E::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            txn_offset_commit,
        ),
        Case {
            base: vec![allow(TXN_ID, "tx", WRITE)],
            ..case(
                "TxnOffsetCommit (group)",
                3,
                allow(GROUP, "g", READ),
                E::GROUP_AUTHORIZATION_FAILED,
                txn_offset_commit,
            )
        },
        case(
            "EndTxn",
            3,
            allow(TXN_ID, "tx", WRITE),
            E::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            || {
                RequestBody::EndTxn(end_txn_request::EndTxnRequest {
                    transactional_id: "tx".into(),
                    producer_id: 1,
                    ..Default::default()
                })
            },
        ),
        case(
            "DescribeTransactions",
            0,
            allow(TXN_ID, "tx", DESCRIBE),
            E::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
            || {
                RequestBody::DescribeTransactions(describe_transactions_request::DescribeTransactionsRequest {
                    transactional_ids: vec!["tx".into()],
                    ..Default::default()
                })
            },
        ),
        case(
            "WriteTxnMarkers",
            1,
            allow(CLUSTER, "kafka-cluster", CLUSTER_ACTION),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || {
                RequestBody::WriteTxnMarkers(write_txn_markers_request::WriteTxnMarkersRequest {
                    markers: vec![write_txn_markers_request::WritableTxnMarker {
                        producer_id: 1,
                        topics: vec![write_txn_markers_request::WritableTxnMarkerTopic {
                            name: "t".into(),
                            partition_indexes: vec![0],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            },
        ),
        case(
            "DescribeProducers",
            0,
            allow(TOPIC, "t", READ),
            E::TOPIC_AUTHORIZATION_FAILED,
            || {
                RequestBody::DescribeProducers(describe_producers_request::DescribeProducersRequest {
                    topics: vec![describe_producers_request::TopicRequest {
                        name: "t".into(),
                        partition_indexes: vec![0],
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            },
        ),
        case(
            "DescribeUserScramCredentials",
            0,
            allow(CLUSTER, "kafka-cluster", DESCRIBE),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || {
                RequestBody::DescribeUserScramCredentials(
                    describe_user_scram_credentials_request::DescribeUserScramCredentialsRequest {
                        users: None,
                        ..Default::default()
                    },
                )
            },
        ),
        case(
            "AlterUserScramCredentials",
            0,
            allow(CLUSTER, "kafka-cluster", ALTER),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || {
                RequestBody::AlterUserScramCredentials(
                    alter_user_scram_credentials_request::AlterUserScramCredentialsRequest {
                        upsertions: vec![alter_user_scram_credentials_request::ScramCredentialUpsertion {
                            name: "carol".into(),
                            mechanism: 1,
                            iterations: 4096,
                            salt: vec![7; 32].into(),
                            salted_password: vec![9; 32].into(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )
            },
        ),
        case(
            "DescribeAcls",
            3,
            allow(CLUSTER, "kafka-cluster", DESCRIBE),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || {
                RequestBody::DescribeAcls(describe_acls_request::DescribeAclsRequest {
                    resource_type_filter: ANY,
                    resource_name_filter: None,
                    pattern_type_filter: ANY,
                    principal_filter: None,
                    host_filter: None,
                    operation: ANY,
                    permission_type: ANY,
                    ..Default::default()
                })
            },
        ),
        case(
            "CreateAcls",
            3,
            allow(CLUSTER, "kafka-cluster", ALTER),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || {
                RequestBody::CreateAcls(create_acls_request::CreateAclsRequest {
                    creations: vec![create_acls_request::AclCreation {
                        resource_type: TOPIC,
                        resource_name: "other".into(),
                        resource_pattern_type: LITERAL,
                        principal: "User:carol".into(),
                        host: "*".into(),
                        operation: READ,
                        permission_type: ALLOW,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            },
        ),
        case(
            "DeleteAcls",
            3,
            allow(CLUSTER, "kafka-cluster", ALTER),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || {
                RequestBody::DeleteAcls(delete_acls_request::DeleteAclsRequest {
                    filters: vec![delete_acls_request::DeleteAclsFilter {
                        resource_type_filter: TOPIC,
                        resource_name_filter: Some("nothing".into()),
                        pattern_type_filter: ANY,
                        principal_filter: None,
                        host_filter: None,
                        operation: ANY,
                        permission_type: ANY,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            },
        ),
        case(
            "DescribeQuorum",
            2,
            allow(CLUSTER, "kafka-cluster", DESCRIBE),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || {
                RequestBody::DescribeQuorum(describe_quorum_request::DescribeQuorumRequest {
                    topics: vec![describe_quorum_request::TopicData {
                        topic_name: "__cluster_metadata".into(),
                        partitions: vec![describe_quorum_request::PartitionData {
                            partition_index: 0,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            },
        ),
        case(
            "DescribeClientQuotas",
            1,
            allow(CLUSTER, "kafka-cluster", DESCRIBE_CONFIGS),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || RequestBody::DescribeClientQuotas(Default::default()),
        ),
        case(
            "AlterClientQuotas",
            1,
            allow(CLUSTER, "kafka-cluster", ALTER_CONFIGS),
            E::CLUSTER_AUTHORIZATION_FAILED,
            || {
                RequestBody::AlterClientQuotas(alter_client_quotas_request::AlterClientQuotasRequest {
                    entries: vec![alter_client_quotas_request::EntryData {
                        entity: vec![alter_client_quotas_request::EntityData {
                            entity_type: "user".into(),
                            entity_name: Some("alice".into()),
                            ..Default::default()
                        }],
                        ops: vec![alter_client_quotas_request::OpData {
                            key: "producer_byte_rate".into(),
                            value: 1e6,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            },
        ),
    ]
}

fn offset_commit() -> RequestBody {
    RequestBody::OffsetCommit(offset_commit_request::OffsetCommitRequest {
        group_id: "g".into(),
        topics: topics(&["t"])
            .into_iter()
            .map(|(name, partitions)| offset_commit_request::OffsetCommitRequestTopic {
                name,
                partitions: partitions
                    .into_iter()
                    .map(|p| offset_commit_request::OffsetCommitRequestPartition {
                        partition_index: p,
                        committed_offset: 0,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    })
}

fn offset_fetch() -> RequestBody {
    RequestBody::OffsetFetch(offset_fetch_request::OffsetFetchRequest {
        groups: vec![offset_fetch_request::OffsetFetchRequestGroup {
            group_id: "g".into(),
            topics: Some(vec![offset_fetch_request::OffsetFetchRequestTopics {
                name: "t".into(),
                partition_indexes: vec![0],
                ..Default::default()
            }]),
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn add_partitions_to_txn() -> RequestBody {
    RequestBody::AddPartitionsToTxn(add_partitions_to_txn_request::AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: "tx".into(),
        v3_and_below_producer_id: 1,
        v3_and_below_topics: vec![add_partitions_to_txn_request::AddPartitionsToTxnTopic {
            name: "t".into(),
            partitions: vec![0],
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn add_offsets_to_txn() -> RequestBody {
    RequestBody::AddOffsetsToTxn(add_offsets_to_txn_request::AddOffsetsToTxnRequest {
        transactional_id: "tx".into(),
        producer_id: 1,
        group_id: "g".into(),
        ..Default::default()
    })
}

fn txn_offset_commit() -> RequestBody {
    RequestBody::TxnOffsetCommit(txn_offset_commit_request::TxnOffsetCommitRequest {
        transactional_id: "tx".into(),
        group_id: "g".into(),
        producer_id: 1,
        topics: vec![txn_offset_commit_request::TxnOffsetCommitRequestTopic {
            name: "t".into(),
            partitions: vec![txn_offset_commit_request::TxnOffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 0,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// Every API the broker serves (but ApiVersions and the SASL exchange, which anyone may
/// call), without the right it needs: refused with Kafka's error; with it: not refused.
#[test]
fn every_api_is_refused_without_its_right_and_served_with_it() {
    let broker = acl_broker();
    let mut admin = login(&broker, "admin");
    for topic in ["t", "doomed"] {
        assert_eq!(admin.metadata(Some(&[topic]), true).topics[0].error_code, 0);
    }
    let mut alice = login(&broker, "alice");
    let mut covered = std::collections::BTreeSet::new();
    for case in cases() {
        assert_eq!(
            create_acls(&mut admin, &case.base),
            vec![0; case.base.len()],
            "{}",
            case.api
        );
        let without = alice.request(case.version, (case.request)());
        assert!(
            carries(&without, case.refused),
            "{} without {:?}: expected {}, got {without:?}",
            case.api,
            case.needs,
            case.refused.name()
        );
        assert_eq!(create_acls(&mut admin, &[case.needs]), vec![0], "{}", case.api);
        let with = alice.request(case.version, (case.request)());
        assert!(
            !carries(&with, case.refused),
            "{} with {:?}: still {}: {with:?}",
            case.api,
            case.needs,
            case.refused.name()
        );
        covered.insert(without.api_key() as i16);
        delete_acls(&mut admin, Some("User:alice"));
    }
    // Every served API but those anyone may call, and ListGroups, ListTransactions and
    // DescribeCluster (which filter rather than refuse: see the next test).
    let open = [18, 17, 36, 16, 66, 60];
    let served: Vec<i16> = admin
        .api_versions()
        .api_keys
        .iter()
        .map(|k| k.api_key)
        .filter(|k| !open.contains(k))
        .collect();
    let missing: Vec<_> = served.iter().filter(|k| !covered.contains(k)).collect();
    assert!(
        missing.is_empty(),
        "APIs the table-driven test does not call: {missing:?}"
    );
}

/// The story of issue 15: a PREFIXED ACL's reach, Metadata hiding what one may not
/// describe, a group needing READ, DENY over ALLOW, the super user, a removal seen by an
/// open connection's next request, and ACLs kept over a restart.
#[test]
fn a_prefixed_writer_deny_super_user_live_removal_and_restart() {
    let mut broker = acl_broker();
    let mut admin = login(&broker, "admin");
    for topic in ["orders-eu", "orders-us", "payments"] {
        assert_eq!(admin.metadata(Some(&[topic]), true).topics[0].error_code, 0);
    }
    let acls = [
        (TOPIC, "orders-", PREFIXED, "User:alice", WRITE, ALLOW),
        (TOPIC, "orders-us", LITERAL, "User:*", WRITE, DENY),
        (GROUP, "readers", LITERAL, "User:alice", READ, ALLOW),
    ];
    assert_eq!(create_acls(&mut admin, &acls), vec![0, 0, 0]);
    // The same ACL again is no second ACL.
    assert_eq!(create_acls(&mut admin, &acls[..1]), vec![0]);
    assert_eq!(describe_acls(&mut admin).resources.len(), 3);

    let mut alice = login(&broker, "alice");
    let record = || batch(0, &[(b"k", b"v")]);
    assert_eq!(alice.produce("orders-eu", 0, 1, record()).error_code, 0);
    // DENY for everyone wins over alice's PREFIXED ALLOW.
    assert_eq!(
        alice.produce("orders-us", 0, 1, record()).error_code,
        ErrorCode::TOPIC_AUTHORIZATION_FAILED.0
    );
    assert_eq!(
        alice.produce("payments", 0, 1, record()).error_code,
        ErrorCode::TOPIC_AUTHORIZATION_FAILED.0
    );
    // WRITE implies DESCRIBE: Metadata shows the two orders topics, nothing else.
    let mut listed: Vec<String> = alice
        .metadata(None, false)
        .topics
        .into_iter()
        .filter_map(|t| t.name)
        .collect();
    listed.sort();
    assert_eq!(listed, ["orders-eu", "orders-us"]);
    let named = alice.metadata(Some(&["payments"]), false);
    assert_eq!(named.topics[0].error_code, ErrorCode::TOPIC_AUTHORIZATION_FAILED.0);
    // No auto-creation without CREATE, even where alice may write.
    let created = alice.metadata(Some(&["orders-new"]), true);
    assert_eq!(created.topics[0].error_code, ErrorCode::TOPIC_AUTHORIZATION_FAILED.0);
    // A group needs READ on it.
    assert_eq!(
        alice.join_group("others", "", b"").0,
        ErrorCode::GROUP_AUTHORIZATION_FAILED.0
    );
    assert_ne!(
        alice.join_group("readers", "", b"").0,
        ErrorCode::GROUP_AUTHORIZATION_FAILED.0
    );
    // ListGroups: without DESCRIBE on the cluster, the groups alice may describe.
    let groups = |raw: &mut RawClient| match raw.request(4, RequestBody::ListGroups(Default::default())) {
        ResponseBody::ListGroups(r) => r.groups.into_iter().map(|g| g.group_id).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(admin.join_group("others", "", b"").0, ErrorCode::MEMBER_ID_REQUIRED.0);
    assert_eq!(groups(&mut admin), ["others", "readers"]);
    assert_eq!(groups(&mut alice), ["readers"]);
    // DescribeCluster refuses no one, and gives the cluster's operations to those who may
    // describe it (the super user: all of them).
    let cluster_operations = |raw: &mut RawClient| {
        let request = describe_cluster_request::DescribeClusterRequest {
            include_cluster_authorized_operations: true,
            endpoint_type: 1,
            ..Default::default()
        };
        match raw.request(1, RequestBody::DescribeCluster(request)) {
            ResponseBody::DescribeCluster(r) => (r.error_code, r.cluster_authorized_operations),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(cluster_operations(&mut alice), (0, 0));
    assert_eq!(cluster_operations(&mut admin), (0, 8096));
    // Bob has no ACL: nothing at all.
    let mut bob = login(&broker, "bob");
    assert!(bob.metadata(None, false).topics.is_empty());
    assert_eq!(
        bob.produce("orders-eu", 0, 1, record()).error_code,
        ErrorCode::TOPIC_AUTHORIZATION_FAILED.0
    );
    // The super user may do everything, with no ACL naming it.
    assert_eq!(admin.produce("payments", 0, 1, record()).error_code, 0);
    assert_eq!(admin.produce("orders-us", 0, 1, record()).error_code, 0);
    // Not everyone may read the ACLs.
    assert_eq!(
        describe_acls(&mut alice).error_code,
        ErrorCode::CLUSTER_AUTHORIZATION_FAILED.0
    );

    // Removing the PREFIXED ACL: alice's open connection is refused on its next request.
    let removed = delete_acls(&mut admin, Some("User:alice"));
    assert_eq!(removed.filter_results[0].matching_acls.len(), 2);
    assert_eq!(
        alice.produce("orders-eu", 0, 1, record()).error_code,
        ErrorCode::TOPIC_AUTHORIZATION_FAILED.0
    );

    // Given back, and kept over a restart (the DENY too).
    assert_eq!(create_acls(&mut admin, &acls[..1]), vec![0]);
    broker.restart();
    let mut admin = login(&broker, "admin");
    let kept = describe_acls(&mut admin);
    let mut names: Vec<_> = kept
        .resources
        .iter()
        .map(|r| (r.resource_name.clone(), r.pattern_type))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [("orders-".to_string(), PREFIXED), ("orders-us".to_string(), LITERAL)]
    );
    let mut alice = login(&broker, "alice");
    assert_eq!(alice.produce("orders-eu", 0, 1, record()).error_code, 0);
    assert_eq!(
        alice.produce("orders-us", 0, 1, record()).error_code,
        ErrorCode::TOPIC_AUTHORIZATION_FAILED.0
    );
}

/// The admin APIs' refusals: SECURITY_DISABLED without an authorizer, INVALID_REQUEST for
/// an ACL Kafka would not create, and ALL allowing every operation.
#[test]
fn admin_api_refusals_and_all() {
    let plain = Broker::start(&[]);
    let mut raw = plain.raw();
    let disabled = describe_acls(&mut raw);
    assert_eq!(disabled.error_code, ErrorCode::SECURITY_DISABLED.0);
    // Kafka's AclApis words it so for DescribeAcls ("No Authorizer is configured." for the
    // other two).
    assert_eq!(
        disabled.error_message.as_deref(),
        Some("No Authorizer is configured on the broker")
    );
    // Without an authorizer, everything as before.
    assert_eq!(raw.metadata(Some(&["free"]), true).topics[0].error_code, 0);

    let broker = acl_broker();
    let mut admin = login(&broker, "admin");
    let invalid = [
        (TOPIC, "", LITERAL, "User:alice", READ, ALLOW),
        (TOPIC, "t", ANY, "User:alice", READ, ALLOW),
        (TOPIC, "t", LITERAL, "alice", READ, ALLOW),
        (CLUSTER, "not-the-cluster", LITERAL, "User:alice", ALTER, ALLOW),
        (TOPIC, "t", LITERAL, "User:alice", ANY, ALLOW),
    ];
    assert_eq!(
        create_acls(&mut admin, &invalid),
        vec![ErrorCode::INVALID_REQUEST.0; invalid.len()]
    );
    assert!(describe_acls(&mut admin).resources.is_empty());
    assert_eq!(create_acls(&mut admin, &[allow(TOPIC, "*", ALL)]), vec![0]);
    assert_eq!(admin.metadata(Some(&["t"]), true).topics[0].error_code, 0);
    let mut alice = login(&broker, "alice");
    assert_eq!(alice.produce("t", 0, 1, batch(0, &[(b"k", b"v")])).error_code, 0);
    assert_eq!(alice.metadata(Some(&["t"]), false).topics[0].error_code, 0);
}

/// `tidelog acls` with `args`, logged in as admin: its standard output, after checking it
/// succeeded.
fn cli(broker: &Broker, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tidelog"))
        .args(["acls", "--bootstrap-server", &broker.bootstrap(), "--user", "admin"])
        .args(args)
        .env("TIDELOG_SASL_PASSWORD", "admin-secret")
        .output()
        .expect("run tidelog acls");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tidelog acls {args:?}: {stderr}");
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[test]
fn the_acls_command_adds_lists_and_removes() {
    let broker = acl_broker();
    let add = [
        "add",
        "--resource-type",
        "topic",
        "--resource-name",
        "orders-",
        "--pattern",
        "prefixed",
        "--principal",
        "User:alice",
        "--operation",
        "write",
    ];
    assert_eq!(cli(&broker, &add), "");
    let deny = [
        "add",
        "--resource-type",
        "cluster",
        "--principal",
        "User:*",
        "--operation",
        "alter",
        "--deny",
    ];
    assert_eq!(cli(&broker, &deny), "");
    assert_eq!(
        cli(&broker, &["list"]),
        "TOPIC\torders-\tPREFIXED\tUser:alice\t*\tWRITE\tALLOW\n\
         CLUSTER\tkafka-cluster\tLITERAL\tUser:*\t*\tALTER\tDENY\n"
    );
    assert_eq!(
        cli(&broker, &["list", "--principal", "User:*"]),
        "CLUSTER\tkafka-cluster\tLITERAL\tUser:*\t*\tALTER\tDENY\n"
    );
    // What the CLI added, the broker enforces.
    let mut alice = login(&broker, "alice");
    assert_eq!(
        alice.produce("orders-x", 0, 1, batch(0, &[(b"k", b"v")])).error_code,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0
    );
    assert_eq!(
        alice.produce("other", 0, 1, batch(0, &[(b"k", b"v")])).error_code,
        ErrorCode::TOPIC_AUTHORIZATION_FAILED.0
    );
    assert_eq!(
        cli(&broker, &["remove", "--principal", "User:alice"]),
        "TOPIC\torders-\tPREFIXED\tUser:alice\t*\tWRITE\tALLOW\n"
    );
    assert_eq!(
        cli(&broker, &["list"]),
        "CLUSTER\tkafka-cluster\tLITERAL\tUser:*\t*\tALTER\tDENY\n"
    );
    // A refused login is an error.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_tidelog"))
        .args([
            "acls",
            "list",
            "--bootstrap-server",
            &broker.bootstrap(),
            "--user",
            "admin",
            "--password",
            "wrong",
        ])
        .output()
        .expect("run tidelog acls");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("SASL_AUTHENTICATION_FAILED"));
}

/// A follower's fetch (its replica id set) reads to the log end and moves the high
/// watermark: it needs CLUSTER_ACTION on the cluster, as Kafka's, not READ on the topic.
#[test]
fn a_followers_fetch_needs_cluster_action() {
    let broker = acl_broker();
    let mut admin = login(&broker, "admin");
    assert_eq!(admin.metadata(Some(&["t"]), true).topics[0].error_code, 0);
    let mut alice = login(&broker, "alice");
    let follower_fetch = || {
        let mut request = fetch_request("t", 0, 0, 0, 0);
        request.replica_id = 2;
        RequestBody::Fetch(request)
    };
    assert_eq!(create_acls(&mut admin, &[allow(TOPIC, "t", READ)]), vec![0]);
    let refused = alice.request(12, follower_fetch());
    assert!(carries(&refused, ErrorCode::TOPIC_AUTHORIZATION_FAILED), "{refused:?}");
    assert_eq!(
        create_acls(&mut admin, &[allow(CLUSTER, "kafka-cluster", CLUSTER_ACTION)]),
        vec![0]
    );
    let served = alice.request(12, follower_fetch());
    assert!(!carries(&served, ErrorCode::TOPIC_AUTHORIZATION_FAILED), "{served:?}");
}
