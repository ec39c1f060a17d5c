//! A raw TCP client for hand-made frames: bad input, exact API versions, and answers that
//! a real client would hide (error codes in an ApiVersions fallback, topic ids).
//!
//! Well-formed requests are encoded with `tidelog_protocol`'s own codecs; anything else is
//! written as bytes. Produce, Fetch and ListOffsets helpers address one partition each;
//! [`batch`] and [`encode_batch`] make record batches and [`decode_records`] reads them back.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::ServerName;
use tidelog_protocol::codec::concat;
use tidelog_protocol::frame::into_frame;
use tidelog_protocol::header::RequestHeader;
use tidelog_protocol::messages::api_versions_request::ApiVersionsRequest;
use tidelog_protocol::messages::api_versions_response::ApiVersionsResponse;
use tidelog_protocol::messages::fetch_request::{FetchPartition, FetchRequest, FetchTopic};
use tidelog_protocol::messages::fetch_response::{FetchResponse, PartitionData};
use tidelog_protocol::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
use tidelog_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic};
use tidelog_protocol::messages::list_offsets_response::ListOffsetsPartitionResponse;
use tidelog_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use tidelog_protocol::messages::metadata_response::MetadataResponse;
use tidelog_protocol::messages::offset_fetch_request::{OffsetFetchRequest, OffsetFetchRequestGroup};
use tidelog_protocol::messages::produce_request::{PartitionProduceData, ProduceRequest, TopicProduceData};
use tidelog_protocol::messages::produce_response::PartitionProduceResponse;
use tidelog_protocol::messages::sasl_authenticate_request::SaslAuthenticateRequest;
use tidelog_protocol::messages::sasl_authenticate_response::SaslAuthenticateResponse;
use tidelog_protocol::messages::sasl_handshake_request::SaslHandshakeRequest;
use tidelog_protocol::messages::sync_group_request::{SyncGroupRequest, SyncGroupRequestAssignment};
use tidelog_protocol::records::{Compression, Header, Record, RecordBatch, RecordBatchBuilder};
use tidelog_protocol::{
    decode_response, encode_request, ApiKey, EncodeBuf, ErrorCode, Payload, RequestBody, ResponseBody,
};

use super::clients::TestRecord;

/// Safety net for a response (or the close) to arrive.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// The Metadata version the helpers speak: the first with topic ids in the response.
pub const METADATA_VERSION: i16 = 12;

/// The ApiVersions version the helpers speak (flexible, with a client name).
pub const API_VERSIONS_VERSION: i16 = 3;

/// The Produce version the helpers speak: the last one addressing topics by name.
pub const PRODUCE_VERSION: i16 = 12;

/// The Fetch version the helpers speak: flexible, topics by name.
pub const FETCH_VERSION: i16 = 12;

/// The ListOffsets version the helpers speak: the first with MAX_TIMESTAMP (-3).
pub const LIST_OFFSETS_VERSION: i16 = 7;

/// ListOffsets' special timestamps.
pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;

/// Timeout the Produce helpers give the broker for acks=-1.
const PRODUCE_TIMEOUT_MS: i32 = 15_000;

/// The bytes' way to the broker: the socket itself, or TLS over it.
trait Transport: Read + Write + Send {}

impl<T: Read + Write + Send> Transport for T {}

pub struct RawClient {
    /// The socket, for its address and half-close.
    tcp: TcpStream,
    stream: Box<dyn Transport>,
    next_correlation_id: i32,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        let tcp = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        tcp.set_read_timeout(Some(READ_TIMEOUT)).expect("set a read timeout");
        let stream = Box::new(tcp.try_clone().expect("clone the socket"));
        RawClient {
            tcp,
            stream,
            next_correlation_id: 1,
        }
    }

    /// A client speaking TLS with `config` to a listener whose certificate names
    /// `localhost`; the handshake happens with the first request.
    pub fn connect_tls(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> RawClient {
        let mut client = RawClient::connect(addr);
        let server_name = ServerName::try_from("localhost").expect("a server name");
        let tls = rustls::ClientConnection::new(config, server_name).expect("a TLS client");
        let socket = client.tcp.try_clone().expect("clone the socket");
        client.stream = Box::new(rustls::StreamOwned::new(tls, socket));
        client
    }

    /// Our end's address, which the broker logs as `peer=`.
    pub fn local_addr(&self) -> SocketAddr {
        self.tcp.local_addr().expect("local address")
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.try_send_bytes(bytes).expect("write to the broker");
    }

    /// [`RawClient::send_bytes`] where the broker may refuse or close first (a TLS
    /// handshake, which happens with the first write, may fail).
    pub fn try_send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Half-closes the connection: the broker sees the end of its input.
    pub fn shutdown_write(&mut self) {
        self.try_shutdown_write().expect("shut down the write side");
    }

    /// [`RawClient::shutdown_write`] where the broker may have reset the connection.
    pub fn try_shutdown_write(&mut self) -> std::io::Result<()> {
        self.tcp.shutdown(Shutdown::Write)
    }

    /// Sends a well-formed request; returns its correlation id.
    pub fn send(&mut self, version: i16, body: &RequestBody) -> i32 {
        self.try_send(version, body).expect("write to the broker")
    }

    /// [`RawClient::send`] where the broker may refuse or close first.
    pub fn try_send(&mut self, version: i16, body: &RequestBody) -> std::io::Result<i32> {
        let header = self.header(body.api_key() as i16, version);
        let chunks = encode_request(&header, body).expect("encode the request");
        self.try_send_bytes(&concat(&chunks).expect("requests are in memory"))?;
        Ok(header.correlation_id)
    }

    /// Sends a request with a correct header for any key and version (known or not) and
    /// `body` as given; returns its correlation id.
    pub fn send_hand_made(&mut self, api_key: i16, version: i16, body: &[u8]) -> i32 {
        let header = self.header(api_key, version);
        let mut w = EncodeBuf::new();
        header.encode(&mut w).expect("encode the header");
        w.put_slice(body);
        let frame = into_frame(w).expect("frame fits the length prefix");
        self.send_bytes(&concat(&frame).expect("requests are in memory"));
        header.correlation_id
    }

    fn header(&mut self, api_key: i16, api_version: i16) -> RequestHeader {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        RequestHeader {
            api_key,
            api_version,
            correlation_id,
            client_id: Some("tidelog-e2e".into()),
            ..Default::default()
        }
    }

    /// Reads one response frame (without its length prefix); `None` if the broker closed
    /// the connection first.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        let mut prefix = [0u8; 4];
        match self.stream.read_exact(&mut prefix) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset) => return None,
            Err(e) => panic!("no response within {READ_TIMEOUT:?}: {e}"),
        }
        let len = i32::from_be_bytes(prefix);
        let len = usize::try_from(len).unwrap_or_else(|_| panic!("negative response length {len}"));
        let mut frame = vec![0u8; len];
        self.stream.read_exact(&mut frame).expect("read the response body");
        Some(frame.into())
    }

    /// Reads and decodes the response to the request `correlation_id` of `api_key` at
    /// `version`, checking that the correlation id matches.
    pub fn read_response(&mut self, api_key: ApiKey, version: i16, correlation_id: i32) -> ResponseBody {
        let frame = self
            .read_frame()
            .unwrap_or_else(|| panic!("the broker closed the connection instead of answering {api_key:?} v{version}"));
        let (header, body) = decode_response(frame, api_key, version).expect("decode the response");
        assert_eq!(header.correlation_id, correlation_id, "correlation id of the response");
        body
    }

    /// Sends a request and returns its decoded response.
    pub fn request(&mut self, version: i16, body: RequestBody) -> ResponseBody {
        let correlation_id = self.send(version, &body);
        self.read_response(body.api_key(), version, correlation_id)
    }

    /// Asserts that the broker closes the connection without sending anything more.
    pub fn assert_closed(&mut self) {
        let mut buf = [0u8; 64];
        match self.stream.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Ok(n) => panic!("expected the connection to close, got {n} bytes: {:?}", &buf[..n]),
            Err(e) => panic!("the connection is still open after {READ_TIMEOUT:?}: {e}"),
        }
    }

    /// Everything the broker sends until it closes the connection, or the error that ends
    /// it (a TLS alert, as the client reads it).
    pub fn read_until_closed(&mut self) -> std::io::Result<Vec<u8>> {
        let mut received = Vec::new();
        self.stream.read_to_end(&mut received).map(|_| received)
    }

    /// SaslHandshake v1 for `mechanism`: the error and the mechanisms the listener offers.
    pub fn sasl_handshake(&mut self, mechanism: &str) -> (ErrorCode, Vec<String>) {
        let request = SaslHandshakeRequest {
            mechanism: mechanism.into(),
            ..Default::default()
        };
        match self.request(1, RequestBody::SaslHandshake(request)) {
            ResponseBody::SaslHandshake(r) => (ErrorCode(r.error_code), r.mechanisms),
            other => panic!("not a SaslHandshake response: {other:?}"),
        }
    }

    /// SaslAuthenticate v2 with `bytes`.
    pub fn sasl_authenticate(&mut self, bytes: &[u8]) -> SaslAuthenticateResponse {
        let request = SaslAuthenticateRequest {
            auth_bytes: Bytes::copy_from_slice(bytes),
            ..Default::default()
        };
        match self.request(2, RequestBody::SaslAuthenticate(request)) {
            ResponseBody::SaslAuthenticate(r) => r,
            other => panic!("not a SaslAuthenticate response: {other:?}"),
        }
    }

    pub fn api_versions(&mut self) -> ApiVersionsResponse {
        let request = RequestBody::ApiVersions(ApiVersionsRequest {
            client_software_name: "tidelog-e2e".into(),
            client_software_version: "1.0".into(),
            ..Default::default()
        });
        match self.request(API_VERSIONS_VERSION, request) {
            ResponseBody::ApiVersions(response) => response,
            other => panic!("not an ApiVersions response: {other:?}"),
        }
    }

    /// Metadata for `topics` (every topic if `None`), creating missing ones only if
    /// `allow_auto_create`.
    pub fn metadata(&mut self, topics: Option<&[&str]>, allow_auto_create: bool) -> MetadataResponse {
        let topics = topics.map(|names| {
            names
                .iter()
                .map(|name| MetadataRequestTopic {
                    name: Some(name.to_string()),
                    ..Default::default()
                })
                .collect()
        });
        let request = RequestBody::Metadata(MetadataRequest {
            topics,
            allow_auto_topic_creation: allow_auto_create,
            ..Default::default()
        });
        match self.request(METADATA_VERSION, request) {
            ResponseBody::Metadata(response) => response,
            other => panic!("not a Metadata response: {other:?}"),
        }
    }
}

/// Data-path requests for one partition.
impl RawClient {
    /// Produces `records` (whole batches, or any bytes) to one partition and returns the
    /// partition's answer; for acks=0 use [`RawClient::send`] with [`produce_request`].
    pub fn produce(&mut self, topic: &str, partition: i32, acks: i16, records: Bytes) -> PartitionProduceResponse {
        match self.request(PRODUCE_VERSION, produce_request(topic, partition, acks, records)) {
            ResponseBody::Produce(mut response) => {
                assert_eq!(response.responses.len(), 1, "{response:?}");
                let mut topic_response = response.responses.remove(0);
                assert_eq!(topic_response.name, topic);
                assert_eq!(topic_response.partition_responses.len(), 1, "{topic_response:?}");
                topic_response.partition_responses.remove(0)
            }
            other => panic!("not a Produce response: {other:?}"),
        }
    }

    /// ListOffsets of one partition at `timestamp` (or [`LATEST`], [`EARLIEST`],
    /// [`MAX_TIMESTAMP`]).
    pub fn list_offsets(&mut self, topic: &str, partition: i32, timestamp: i64) -> ListOffsetsPartitionResponse {
        let request = ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: topic.to_string(),
                partitions: vec![ListOffsetsPartition {
                    partition_index: partition,
                    timestamp,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        match self.request(LIST_OFFSETS_VERSION, RequestBody::ListOffsets(request)) {
            ResponseBody::ListOffsets(mut response) => {
                assert_eq!(response.topics.len(), 1, "{response:?}");
                let mut topic_response = response.topics.remove(0);
                assert_eq!(topic_response.partitions.len(), 1, "{topic_response:?}");
                topic_response.partitions.remove(0)
            }
            other => panic!("not a ListOffsets response: {other:?}"),
        }
    }

    /// The high watermark (ListOffsets latest), asserting no error.
    pub fn latest_offset(&mut self, topic: &str, partition: i32) -> i64 {
        let response = self.list_offsets(topic, partition, LATEST);
        assert_eq!(ErrorCode(response.error_code), ErrorCode::NONE, "{response:?}");
        response.offset
    }

    /// A group's committed offsets (OffsetFetch v9 of all its partitions), as (topic,
    /// partition, offset), asserting the group answered without error.
    pub fn committed_offsets(&mut self, group: &str, require_stable: bool) -> Vec<(String, i32, i64)> {
        let request = OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                group_id: group.into(),
                topics: None, // all of them
                ..Default::default()
            }],
            require_stable,
            ..Default::default()
        };
        let ResponseBody::OffsetFetch(response) = self.request(9, RequestBody::OffsetFetch(request)) else {
            panic!("not an OffsetFetch response")
        };
        let [group] = &response.groups[..] else {
            panic!("one group expected: {response:?}")
        };
        assert_eq!(ErrorCode(group.error_code), ErrorCode::NONE, "{response:?}");
        group
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.name.clone(), p.partition_index, p.committed_offset))
            })
            .collect()
    }

    /// JoinGroup v9 (see [`join_group_request`]): (error, member id, generation).
    pub fn join_group(&mut self, group: &str, member_id: &str, subscription: &'static [u8]) -> (i16, String, i32) {
        self.send_join_group(join_group_request(group, member_id, subscription))
    }

    /// SyncGroup v5 of a `range` consumer which, if it leads, assigns itself `assignment`:
    /// (error, the member's assignment).
    pub fn sync_group(
        &mut self,
        group: &str,
        member_id: &str,
        generation: i32,
        assignment: &'static [u8],
    ) -> (i16, Bytes) {
        let request = SyncGroupRequest {
            group_id: group.into(),
            generation_id: generation,
            member_id: member_id.into(),
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: vec![SyncGroupRequestAssignment {
                member_id: member_id.into(),
                assignment: Bytes::from_static(assignment),
                ..Default::default()
            }],
            ..Default::default()
        };
        match self.request(5, RequestBody::SyncGroup(request)) {
            ResponseBody::SyncGroup(r) => (r.error_code, r.assignment),
            other => panic!("not a SyncGroup response: {other:?}"),
        }
    }

    /// Sends a JoinGroup v9: (error, member id, generation).
    pub fn send_join_group(&mut self, request: JoinGroupRequest) -> (i16, String, i32) {
        match self.request(9, RequestBody::JoinGroup(request)) {
            ResponseBody::JoinGroup(r) => (r.error_code, r.member_id, r.generation_id),
            other => panic!("not a JoinGroup response: {other:?}"),
        }
    }

    /// Sends a sessionless Fetch of one partition (see [`fetch_request`]) and returns the
    /// partition's data.
    pub fn fetch(&mut self, request: FetchRequest) -> PartitionData {
        match self.request(FETCH_VERSION, RequestBody::Fetch(request)) {
            ResponseBody::Fetch(response) => fetched_partition(response),
            other => panic!("not a Fetch response: {other:?}"),
        }
    }
}

/// A JoinGroup of a `range` consumer with a 6 s session; `subscription` is its
/// ConsumerProtocolSubscription.
pub fn join_group_request(group: &str, member_id: &str, subscription: &'static [u8]) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms: 6_000,
        rebalance_timeout_ms: 30_000,
        member_id: member_id.into(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: Bytes::from_static(subscription),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A Produce request for one partition.
pub fn produce_request(topic: &str, partition: i32, acks: i16, records: Bytes) -> RequestBody {
    RequestBody::Produce(ProduceRequest {
        acks,
        timeout_ms: PRODUCE_TIMEOUT_MS,
        topic_data: vec![TopicProduceData {
            name: topic.to_string(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(records),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// A sessionless Fetch of one partition from `offset`, waiting up to `max_wait_ms` for
/// `min_bytes`, with 1 MiB per partition.
pub fn fetch_request(topic: &str, partition: i32, offset: i64, max_wait_ms: i32, min_bytes: i32) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms,
        min_bytes,
        session_id: 0,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: topic.to_string(),
            partitions: vec![FetchPartition {
                partition,
                fetch_offset: offset,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The one partition of a one-partition Fetch response.
pub fn fetched_partition(response: FetchResponse) -> PartitionData {
    assert_eq!(ErrorCode(response.error_code), ErrorCode::NONE, "{response:?}");
    let mut responses = response.responses;
    assert_eq!(responses.len(), 1, "{responses:?}");
    let mut partitions = responses.remove(0).partitions;
    assert_eq!(partitions.len(), 1, "{partitions:?}");
    partitions.remove(0)
}

/// One uncompressed CreateTime batch of `(key, value)` records, all stamped `timestamp`.
pub fn batch(timestamp: i64, records: &[(&[u8], &[u8])]) -> Bytes {
    let mut builder = RecordBatchBuilder::new(0);
    for (key, value) in records {
        builder.append(timestamp, Some(key), Some(value), &[]);
    }
    builder.build().as_bytes().clone()
}

/// One batch of `records` (keys, values, headers, CreateTimes) compressed with `codec`.
pub fn encode_batch(records: &[TestRecord], codec: Compression) -> Bytes {
    let mut builder = RecordBatchBuilder::new(0).compression(codec);
    for record in records {
        let headers: Vec<Header> = record
            .headers
            .iter()
            .map(|(key, value)| Header {
                key: Bytes::copy_from_slice(key.as_bytes()),
                value: value.as_deref().map(Bytes::copy_from_slice),
            })
            .collect();
        builder.append(record.timestamp, Some(&record.key), Some(&record.value), &headers);
    }
    builder.build().as_bytes().clone()
}

/// Every record of the batches in `records` (a Fetch response's or a segment's bytes),
/// checking each batch's CRC.
pub fn decode_records(records: &Payload) -> Vec<Record> {
    let mut decoded = Vec::new();
    let records = records.to_bytes().expect("a client's records are in memory");
    for batch in RecordBatch::iter_batches(records) {
        let batch = batch.expect("a whole batch");
        batch.verify_crc().expect("an intact batch");
        for record in batch.records(64 << 20).expect("decode the batch") {
            decoded.push(record.expect("decode a record"));
        }
    }
    decoded
}
