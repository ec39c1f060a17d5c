//! Our codecs against an independent implementation, the `kafka-protocol` crate.
//!
//! For every API, both directions (request and response) and every version both sides
//! cover: a random value valid at that version is encoded by us, decoded by
//! `kafka-protocol` (which must consume every byte) and re-encoded by it, and the two
//! encodings must be identical; the bytes it wrote must decode with us to the original
//! value. A field we got wrong in type, order, version range, nullability, tag or default
//! changes the bytes and fails here.
//!
//! The same holds for KRaft's control records. `kafka-protocol` has none of the metadata
//! records: those are checked against the log Kafka wrote (`metadata_log.rs`).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages as kp;
use kafka_protocol::protocol::{Decodable, Encodable, Message};
use tidelog_protocol::metadata::{KraftControlRecord, KraftControlType};
use tidelog_protocol::sample::SampleRng;
use tidelog_protocol::{ApiKey, DecodeError, EncodeBuf, EncodeError, Reader, RequestBody, ResponseBody};

const SAMPLES_PER_VERSION: u64 = 64;

/// Encodes with us, round-trips through `kafka-protocol` type `T`, and compares. `key`
/// names the message in failures.
fn check<T: Decodable + Encodable + std::fmt::Debug>(
    key: &str,
    version: i16,
    seed: u64,
    encode_ours: impl Fn(&mut SampleRng) -> (Bytes, Box<dyn Fn(Bytes) -> bool>),
) {
    let mut rng = SampleRng::new(seed);
    let (ours, decodes_to_original) = encode_ours(&mut rng);
    let mut input = ours.clone();
    let theirs = T::decode(&mut input, version)
        .unwrap_or_else(|e| panic!("{key} v{version} seed {seed}: kafka-protocol cannot decode our bytes: {e}"));
    assert!(
        input.is_empty(),
        "{key} v{version} seed {seed}: kafka-protocol left {} bytes",
        input.len()
    );
    assert_only_injected_unknown_tags(&format!("{theirs:?}"), key, version, seed);
    let mut reencoded = BytesMut::new();
    theirs.encode(&mut reencoded, version).unwrap();
    assert_eq!(
        reencoded.as_ref(),
        ours.as_ref(),
        "{key} v{version} seed {seed}: encodings differ\nours:   {ours:02x?}\ntheirs: {reencoded:02x?}"
    );
    assert!(
        decodes_to_original(reencoded.freeze()),
        "{key} v{version} seed {seed}: our decode of their bytes differs"
    );
}

/// Both sides keep unknown tagged fields, so a known field written under the wrong tag
/// would survive the round trip unnoticed. The oracle must see as unknown only the tags
/// our samples inject on purpose (1000 and up).
fn assert_only_injected_unknown_tags(debug: &str, key: &str, version: i16, seed: u64) {
    const MARKER: &str = "unknown_tagged_fields: {";
    for (at, _) in debug.match_indices(MARKER) {
        let rest = &debug[at + MARKER.len()..];
        let entries = &rest[..rest.find('}').unwrap_or(rest.len())];
        for tag in entries
            .split(", ")
            .filter_map(|entry| entry.split(':').next()?.trim().parse::<i32>().ok())
        {
            assert!(
                tag >= 1000,
                "{key} v{version} seed {seed}: kafka-protocol saw tag {tag} as unknown"
            );
        }
    }
}

/// A case for [`check`]: a random body from `sample`, written by `encode`; its check reads
/// it back with `decode`.
fn case<B: Clone + PartialEq + 'static>(
    sample: impl Fn(&mut SampleRng) -> B,
    encode: impl Fn(&B, &mut EncodeBuf) -> Result<(), EncodeError>,
    decode: impl Fn(&mut Reader) -> Result<B, DecodeError> + Clone + 'static,
) -> impl Fn(&mut SampleRng) -> (Bytes, Box<dyn Fn(Bytes) -> bool>) {
    move |rng| {
        let value = sample(rng);
        let mut w = EncodeBuf::new();
        encode(&value, &mut w).unwrap();
        let bytes = w.to_contiguous();
        let decode = decode.clone();
        let check = move |b: Bytes| {
            let mut r = Reader::new(b);
            decode(&mut r).ok() == Some(value.clone()) && r.remaining() == 0
        };
        (bytes, Box::new(check))
    }
}

fn request_case(key: ApiKey, version: i16) -> impl Fn(&mut SampleRng) -> (Bytes, Box<dyn Fn(Bytes) -> bool>) {
    case(
        move |rng| RequestBody::sample(key, rng, version),
        move |b, w| b.encode(w, version),
        move |r| RequestBody::decode(key, r, version),
    )
}

fn response_case(key: ApiKey, version: i16) -> impl Fn(&mut SampleRng) -> (Bytes, Box<dyn Fn(Bytes) -> bool>) {
    case(
        move |rng| ResponseBody::sample(key, rng, version),
        move |b, w| b.encode(w, version),
        move |r| ResponseBody::decode(key, r, version),
    )
}

/// A random control record whose own `version` field holds `version`, as Kafka writes
/// them: `kafka-protocol` decodes the nested structs at that field's value, not at the
/// version it is asked for.
fn control_sample(kind: KraftControlType, rng: &mut SampleRng, version: i16) -> KraftControlRecord {
    let mut record = KraftControlRecord::sample(kind, rng, version);
    *match &mut record {
        KraftControlRecord::LeaderChangeMessage(m) => &mut m.version,
        KraftControlRecord::SnapshotHeaderRecord(m) => &mut m.version,
        KraftControlRecord::SnapshotFooterRecord(m) => &mut m.version,
        KraftControlRecord::KraftVersionRecord(m) => &mut m.version,
        KraftControlRecord::VotersRecord(m) => &mut m.version,
    } = version;
    record
}

fn control_case(
    kind: KraftControlType,
    version: i16,
) -> impl Fn(&mut SampleRng) -> (Bytes, Box<dyn Fn(Bytes) -> bool>) {
    case(
        move |rng| control_sample(kind, rng, version),
        move |b, w| b.encode(w, version),
        move |r| KraftControlRecord::decode(kind, r, version),
    )
}

/// The versions of `min..=max` that `kafka-protocol`'s message type `T` covers too.
fn shared_versions<T: Message>(min: i16, max: i16) -> std::ops::RangeInclusive<i16> {
    min.max(T::VERSIONS.min)..=max.min(T::VERSIONS.max)
}

macro_rules! differential {
    ($($key:ident => $req:ident, $resp:ident;)*) => {
        /// Every API with a schema, mapped to the oracle's types.
        fn oracle_covers(key: ApiKey) -> bool {
            matches!(key, $(ApiKey::$key)|*)
        }

        #[test]
        fn requests_match_kafka_protocol() {
            $(
                let key = ApiKey::$key;
                let versions = shared_versions::<kp::$req>(key.min_version(), key.max_version());
                assert!(!versions.is_empty(), "{key:?}: no shared request versions");
                for version in versions {
                    for seed in 0..SAMPLES_PER_VERSION {
                        check::<kp::$req>(key.name(), version, seed, request_case(key, version));
                    }
                }
            )*
        }

        #[test]
        fn responses_match_kafka_protocol() {
            $(
                let key = ApiKey::$key;
                let versions = shared_versions::<kp::$resp>(key.min_version(), key.max_version());
                assert!(!versions.is_empty(), "{key:?}: no shared response versions");
                for version in versions {
                    for seed in 0..SAMPLES_PER_VERSION {
                        check::<kp::$resp>(key.name(), version, seed, response_case(key, version));
                    }
                }
            )*
        }

        /// `ResponseBody::throttle_time_ms_mut` reaches the field the oracle reads as
        /// `throttle_time_ms`, for every API whose response has one, and is `None` for the
        /// others: a quota's throttle goes where clients look for it.
        #[test]
        fn throttle_time_accessor_reaches_the_wire_field() {
            const THROTTLE: i32 = 1_234_567;
            $(
                let key = ApiKey::$key;
                let version = *shared_versions::<kp::$resp>(key.min_version(), key.max_version()).end();
                let mut body = ResponseBody::sample(key, &mut SampleRng::new(0), version);
                let accessor = body.throttle_time_ms_mut().map(|t| *t = THROTTLE).is_some();
                let mut w = EncodeBuf::new();
                body.encode(&mut w, version).unwrap();
                let theirs = kp::$resp::decode(&mut w.to_contiguous(), version).unwrap();
                let debug = format!("{theirs:?}");
                let expected = match accessor {
                    true => format!("throttle_time_ms: {THROTTLE}"),
                    false => "throttle_time_ms".to_string(),
                };
                assert_eq!(debug.contains(&expected), accessor, "{key:?} v{version}: {debug}");
            )*
        }
    };
}

differential! {
    Produce => ProduceRequest, ProduceResponse;
    Fetch => FetchRequest, FetchResponse;
    ListOffsets => ListOffsetsRequest, ListOffsetsResponse;
    Metadata => MetadataRequest, MetadataResponse;
    OffsetCommit => OffsetCommitRequest, OffsetCommitResponse;
    OffsetFetch => OffsetFetchRequest, OffsetFetchResponse;
    FindCoordinator => FindCoordinatorRequest, FindCoordinatorResponse;
    JoinGroup => JoinGroupRequest, JoinGroupResponse;
    Heartbeat => HeartbeatRequest, HeartbeatResponse;
    LeaveGroup => LeaveGroupRequest, LeaveGroupResponse;
    SyncGroup => SyncGroupRequest, SyncGroupResponse;
    DescribeGroups => DescribeGroupsRequest, DescribeGroupsResponse;
    ListGroups => ListGroupsRequest, ListGroupsResponse;
    SaslHandshake => SaslHandshakeRequest, SaslHandshakeResponse;
    ApiVersions => ApiVersionsRequest, ApiVersionsResponse;
    CreateTopics => CreateTopicsRequest, CreateTopicsResponse;
    DeleteTopics => DeleteTopicsRequest, DeleteTopicsResponse;
    DeleteRecords => DeleteRecordsRequest, DeleteRecordsResponse;
    InitProducerId => InitProducerIdRequest, InitProducerIdResponse;
    OffsetForLeaderEpoch => OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse;
    AddPartitionsToTxn => AddPartitionsToTxnRequest, AddPartitionsToTxnResponse;
    AddOffsetsToTxn => AddOffsetsToTxnRequest, AddOffsetsToTxnResponse;
    EndTxn => EndTxnRequest, EndTxnResponse;
    WriteTxnMarkers => WriteTxnMarkersRequest, WriteTxnMarkersResponse;
    TxnOffsetCommit => TxnOffsetCommitRequest, TxnOffsetCommitResponse;
    DescribeAcls => DescribeAclsRequest, DescribeAclsResponse;
    CreateAcls => CreateAclsRequest, CreateAclsResponse;
    DeleteAcls => DeleteAclsRequest, DeleteAclsResponse;
    DescribeConfigs => DescribeConfigsRequest, DescribeConfigsResponse;
    AlterConfigs => AlterConfigsRequest, AlterConfigsResponse;
    DescribeLogDirs => DescribeLogDirsRequest, DescribeLogDirsResponse;
    SaslAuthenticate => SaslAuthenticateRequest, SaslAuthenticateResponse;
    CreatePartitions => CreatePartitionsRequest, CreatePartitionsResponse;
    DeleteGroups => DeleteGroupsRequest, DeleteGroupsResponse;
    IncrementalAlterConfigs => IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse;
    OffsetDelete => OffsetDeleteRequest, OffsetDeleteResponse;
    DescribeClientQuotas => DescribeClientQuotasRequest, DescribeClientQuotasResponse;
    AlterClientQuotas => AlterClientQuotasRequest, AlterClientQuotasResponse;
    DescribeUserScramCredentials => DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse;
    AlterUserScramCredentials => AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse;
    DescribeCluster => DescribeClusterRequest, DescribeClusterResponse;
    DescribeQuorum => DescribeQuorumRequest, DescribeQuorumResponse;
    UpdateFeatures => UpdateFeaturesRequest, UpdateFeaturesResponse;
    DescribeProducers => DescribeProducersRequest, DescribeProducersResponse;
    DescribeTransactions => DescribeTransactionsRequest, DescribeTransactionsResponse;
    ListTransactions => ListTransactionsRequest, ListTransactionsResponse;
    ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse;
    ConsumerGroupDescribe => ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse;
    DescribeTopicPartitions => DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse;
    ElectLeaders => ElectLeadersRequest, ElectLeadersResponse;
    AllocateProducerIds => AllocateProducerIdsRequest, AllocateProducerIdsResponse;
    AlterPartition => AlterPartitionRequest, AlterPartitionResponse;
}

#[test]
fn every_api_is_compared() {
    for key in ApiKey::ALL.into_iter().filter(|key| !key.is_tidelogs()) {
        assert!(oracle_covers(key), "{key:?} has no differential test");
    }
}

macro_rules! differential_control {
    ($($kind:ident => $theirs:ident;)*) => {
        #[test]
        fn kraft_control_records_match_kafka_protocol() {
            $(
                let kind = KraftControlType::$kind;
                let versions = shared_versions::<kp::$theirs>(kind.min_version(), kind.max_version());
                assert_eq!(versions, kind.min_version()..=kind.max_version(), "{kind:?}: versions");
                for version in versions {
                    for seed in 0..SAMPLES_PER_VERSION {
                        check::<kp::$theirs>(kind.name(), version, seed, control_case(kind, version));
                    }
                }
            )*
        }

        #[test]
        fn every_kraft_control_record_is_compared() {
            for kind in KraftControlType::ALL {
                assert!(matches!(kind, $(KraftControlType::$kind)|*), "{kind:?} has no differential test");
            }
        }
    };
}

differential_control! {
    LeaderChangeMessage => LeaderChangeMessage;
    SnapshotHeaderRecord => SnapshotHeaderRecord;
    SnapshotFooterRecord => SnapshotFooterRecord;
    KraftVersionRecord => KRaftVersionRecord;
    VotersRecord => VotersRecord;
}
