//! A raw TCP client for hand-made frames: bad input, exact API versions, and answers that
//! a real client would hide (error codes in an ApiVersions fallback, topic ids).
//!
//! Well-formed requests are encoded with `tidelog_protocol`'s own codecs; anything else is
//! written as bytes.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use tidelog_protocol::frame::into_frame;
use tidelog_protocol::header::RequestHeader;
use tidelog_protocol::messages::api_versions_request::ApiVersionsRequest;
use tidelog_protocol::messages::api_versions_response::ApiVersionsResponse;
use tidelog_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use tidelog_protocol::messages::metadata_response::MetadataResponse;
use tidelog_protocol::{decode_response, encode_request, ApiKey, EncodeBuf, RequestBody, ResponseBody};

/// Safety net for a response (or the close) to arrive.
const READ_TIMEOUT: Duration = Duration::from_secs(15);

/// The Metadata version the helpers speak: the first with topic ids in the response.
pub const METADATA_VERSION: i16 = 12;

/// The ApiVersions version the helpers speak (flexible, with a client name).
pub const API_VERSIONS_VERSION: i16 = 3;

pub struct RawClient {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(READ_TIMEOUT)).expect("set a read timeout");
        RawClient {
            stream,
            next_correlation_id: 1,
        }
    }

    /// Our end's address, which the broker logs as `peer=`.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local address")
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the broker");
    }

    /// Half-closes the connection: the broker sees the end of its input.
    pub fn shutdown_write(&mut self) {
        self.stream.shutdown(Shutdown::Write).expect("shut down the write side");
    }

    /// Sends a well-formed request; returns its correlation id.
    pub fn send(&mut self, version: i16, body: &RequestBody) -> i32 {
        let header = self.header(body.api_key() as i16, version);
        let chunks = encode_request(&header, body).expect("encode the request");
        self.send_bytes(&chunks.concat());
        header.correlation_id
    }

    /// Sends a request with a correct header for any key and version (known or not) and
    /// `body` as given; returns its correlation id.
    pub fn send_hand_made(&mut self, api_key: i16, version: i16, body: &[u8]) -> i32 {
        let header = self.header(api_key, version);
        let mut w = EncodeBuf::new();
        header.encode(&mut w).expect("encode the header");
        w.put_slice(body);
        self.send_bytes(&into_frame(w).expect("frame fits the length prefix").concat());
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
