//! A Kafka admin client on this project's own codecs (`tidelog-protocol`): one connection to
//! the bootstrap server, ApiVersions to pick each request's version, then one request and
//! its response at a time. Unlike librdkafka's admin API it passes the broker's error
//! messages on (`Invalid value abc for configuration retention.ms: ...`), not only codes,
//! and it names the broker it could not reach within seconds.
//!
//! Every request goes to the broker connected to: a Tidelog node is its own controller,
//! group coordinator and the leader of every partition.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use tidelog_protocol::codec::concat;
use tidelog_protocol::frame::{frame_len, DEFAULT_MAX_FRAME_LEN};
use tidelog_protocol::header::RequestHeader;
use tidelog_protocol::messages::alter_client_quotas_request::AlterClientQuotasRequest;
use tidelog_protocol::messages::alter_client_quotas_response::AlterClientQuotasResponse;
use tidelog_protocol::messages::alter_user_scram_credentials_request::AlterUserScramCredentialsRequest;
use tidelog_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResponse;
use tidelog_protocol::messages::api_versions_request::ApiVersionsRequest;
use tidelog_protocol::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};
use tidelog_protocol::messages::create_acls_request::CreateAclsRequest;
use tidelog_protocol::messages::create_acls_response::CreateAclsResponse;
use tidelog_protocol::messages::create_topics_request::CreateTopicsRequest;
use tidelog_protocol::messages::create_topics_response::CreateTopicsResponse;
use tidelog_protocol::messages::delete_acls_request::DeleteAclsRequest;
use tidelog_protocol::messages::delete_acls_response::DeleteAclsResponse;
use tidelog_protocol::messages::delete_topics_request::DeleteTopicsRequest;
use tidelog_protocol::messages::delete_topics_response::DeleteTopicsResponse;
use tidelog_protocol::messages::describe_acls_request::DescribeAclsRequest;
use tidelog_protocol::messages::describe_acls_response::DescribeAclsResponse;
use tidelog_protocol::messages::describe_client_quotas_request::DescribeClientQuotasRequest;
use tidelog_protocol::messages::describe_client_quotas_response::DescribeClientQuotasResponse;
use tidelog_protocol::messages::describe_cluster_request::DescribeClusterRequest;
use tidelog_protocol::messages::describe_cluster_response::DescribeClusterResponse;
use tidelog_protocol::messages::describe_configs_request::DescribeConfigsRequest;
use tidelog_protocol::messages::describe_configs_response::DescribeConfigsResponse;
use tidelog_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use tidelog_protocol::messages::describe_groups_response::DescribeGroupsResponse;
use tidelog_protocol::messages::describe_log_dirs_request::DescribeLogDirsRequest;
use tidelog_protocol::messages::describe_log_dirs_response::DescribeLogDirsResponse;
use tidelog_protocol::messages::describe_quorum_request::DescribeQuorumRequest;
use tidelog_protocol::messages::describe_quorum_response::DescribeQuorumResponse;
use tidelog_protocol::messages::describe_user_scram_credentials_request::DescribeUserScramCredentialsRequest;
use tidelog_protocol::messages::describe_user_scram_credentials_response::DescribeUserScramCredentialsResponse;
use tidelog_protocol::messages::incremental_alter_configs_request::IncrementalAlterConfigsRequest;
use tidelog_protocol::messages::incremental_alter_configs_response::IncrementalAlterConfigsResponse;
use tidelog_protocol::messages::list_groups_request::ListGroupsRequest;
use tidelog_protocol::messages::list_groups_response::ListGroupsResponse;
use tidelog_protocol::messages::list_offsets_request::ListOffsetsRequest;
use tidelog_protocol::messages::list_offsets_response::ListOffsetsResponse;
use tidelog_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use tidelog_protocol::messages::metadata_response::{MetadataResponse, MetadataResponseTopic};
use tidelog_protocol::messages::offset_fetch_request::OffsetFetchRequest;
use tidelog_protocol::messages::offset_fetch_response::OffsetFetchResponse;
use tidelog_protocol::messages::sasl_authenticate_request::SaslAuthenticateRequest;
use tidelog_protocol::messages::sasl_authenticate_response::SaslAuthenticateResponse;
use tidelog_protocol::messages::sasl_handshake_request::SaslHandshakeRequest;
use tidelog_protocol::messages::sasl_handshake_response::SaslHandshakeResponse;
use tidelog_protocol::{decode_response, encode_request, ApiKey, ErrorCode, RequestBody, ResponseBody};

use crate::client::TIMEOUT;

/// How long connecting to one address may take: a broker that is not there is reported
/// within seconds, where librdkafka retries in silence for the whole request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `client.id` the broker sees (and logs).
const CLIENT_ID: &str = "tidelog";

/// A request this client sends: its response type, and the oldest version at which the
/// request means what this client fills in.
pub trait Call {
    type Response;
    const OLDEST: i16;
    fn into_body(self) -> RequestBody;
    fn response(body: ResponseBody) -> Option<Self::Response>;
}

macro_rules! calls {
    ($($api:ident($request:ty) -> $response:ty, oldest $oldest:literal;)*) => {$(
        impl Call for $request {
            type Response = $response;
            const OLDEST: i16 = $oldest;
            fn into_body(self) -> RequestBody {
                RequestBody::$api(self)
            }
            fn response(body: ResponseBody) -> Option<$response> {
                match body {
                    ResponseBody::$api(response) => Some(response),
                    _ => None,
                }
            }
        }
    )*};
}

calls! {
    // v3: flexible, with the client's name (Kafka 2.4 on).
    ApiVersions(ApiVersionsRequest) -> ApiVersionsResponse, oldest 3;
    // v4: the first that can ask not to create the topics asked about.
    Metadata(MetadataRequest) -> MetadataResponse, oldest 4;
    CreateTopics(CreateTopicsRequest) -> CreateTopicsResponse, oldest 2;
    // Names go both in v1-5's `topic_names` and v6's `topics`.
    DeleteTopics(DeleteTopicsRequest) -> DeleteTopicsResponse, oldest 1;
    DescribeConfigs(DescribeConfigsRequest) -> DescribeConfigsResponse, oldest 1;
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse, oldest 0;
    // v4: each group's state.
    ListGroups(ListGroupsRequest) -> ListGroupsResponse, oldest 4;
    DescribeGroups(DescribeGroupsRequest) -> DescribeGroupsResponse, oldest 0;
    // v8: groups in a list, every committed partition when no topic is named.
    OffsetFetch(OffsetFetchRequest) -> OffsetFetchResponse, oldest 8;
    ListOffsets(ListOffsetsRequest) -> ListOffsetsResponse, oldest 1;
    DescribeLogDirs(DescribeLogDirsRequest) -> DescribeLogDirsResponse, oldest 1;
    DescribeUserScramCredentials(DescribeUserScramCredentialsRequest) -> DescribeUserScramCredentialsResponse, oldest 0;
    AlterUserScramCredentials(AlterUserScramCredentialsRequest) -> AlterUserScramCredentialsResponse, oldest 0;
    // v1: the exchange in SaslAuthenticate frames (KIP-152).
    SaslHandshake(SaslHandshakeRequest) -> SaslHandshakeResponse, oldest 1;
    SaslAuthenticate(SaslAuthenticateRequest) -> SaslAuthenticateResponse, oldest 0;
    DescribeAcls(DescribeAclsRequest) -> DescribeAclsResponse, oldest 1;
    CreateAcls(CreateAclsRequest) -> CreateAclsResponse, oldest 1;
    DeleteAcls(DeleteAclsRequest) -> DeleteAclsResponse, oldest 1;
    DescribeClientQuotas(DescribeClientQuotasRequest) -> DescribeClientQuotasResponse, oldest 0;
    AlterClientQuotas(AlterClientQuotasRequest) -> AlterClientQuotasResponse, oldest 0;
    // v2: the voters' endpoints (KIP-853).
    DescribeQuorum(DescribeQuorumRequest) -> DescribeQuorumResponse, oldest 2;
    // v2: fenced brokers too, when asked.
    DescribeCluster(DescribeClusterRequest) -> DescribeClusterResponse, oldest 2;
}

pub struct AdminClient {
    stream: TcpStream,
    /// The address connected to, as given, for messages.
    broker: String,
    /// The versions the broker serves, by API key.
    versions: Vec<ApiVersion>,
    next_correlation_id: i32,
    /// How long a response may take.
    timeout: Duration,
}

impl AdminClient {
    /// Connects to the first of `bootstrap`'s comma-separated `host:port` addresses that
    /// answers, and reads the versions it serves. It speaks plain TCP only: asked for TLS
    /// (`-X security.protocol=ssl`) it says so rather than send frames a TLS port refuses.
    pub fn connect(bootstrap: &str) -> Result<AdminClient, String> {
        if crate::client::over_tls() {
            return Err("this command's admin client speaks plain TCP only: \
                 name a PLAINTEXT or SASL_PLAINTEXT listener, without -X security.protocol"
                .into());
        }
        let mut failures = Vec::new();
        for server in bootstrap.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match connect_to(server) {
                Ok(stream) => return AdminClient::start(stream, server),
                Err(e) => failures.push(format!("{server}: {e}")),
            }
        }
        match failures.is_empty() {
            true => Err("no broker address given (--bootstrap-server HOST:PORT)".into()),
            false => Err(format!("cannot connect to the broker at {}", failures.join("; "))),
        }
    }

    fn start(stream: TcpStream, server: &str) -> Result<AdminClient, String> {
        let broker = server.to_string();
        let configured = stream
            .set_read_timeout(Some(TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
            .and_then(|()| stream.set_nodelay(true));
        configured.map_err(|e| format!("cannot set up the connection to {broker}: {e}"))?;
        let mut admin = AdminClient {
            stream,
            broker,
            versions: Vec::new(),
            next_correlation_id: 0,
            timeout: TIMEOUT,
        };
        let request = ApiVersionsRequest {
            client_software_name: CLIENT_ID.into(),
            client_software_version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        };
        let answer = admin.exchange(&request.into_body(), ApiVersionsRequest::OLDEST)?;
        let response = ApiVersionsRequest::response(answer).ok_or_else(|| admin.not_an_answer(ApiKey::ApiVersions))?;
        check(response.error_code, None)
            .map_err(|e| format!("the broker at {} refused ApiVersions: {e}", admin.broker))?;
        admin.versions = response.api_keys;
        Ok(admin)
    }

    /// Logs in with SASL/PLAIN as `user`: what a SASL_PLAINTEXT listener wants before any
    /// other request.
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), String> {
        let handshake = self.call(SaslHandshakeRequest {
            mechanism: "PLAIN".into(),
            ..Default::default()
        })?;
        check(handshake.error_code, None)
            .map_err(|e| format!("the broker at {} refused SASL/PLAIN: {e}", self.broker))?;
        let token = format!("\0{user}\0{password}");
        let authenticated = self.call(SaslAuthenticateRequest {
            auth_bytes: token.into_bytes().into(),
            ..Default::default()
        })?;
        check(authenticated.error_code, authenticated.error_message.as_deref())
            .map_err(|e| format!("the broker at {} refused the login of {user}: {e}", self.broker))
    }

    /// How long each request may wait for its response from now on ([`TIMEOUT`] until
    /// then): longer for a request known to take long, as a benchmark's thousands of topics.
    pub fn set_timeout(&mut self, timeout: Duration) -> Result<(), String> {
        self.stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| format!("cannot set up the connection to {}: {e}", self.broker))?;
        self.timeout = timeout;
        Ok(())
    }

    /// Sends `request` at the newest version both sides speak and returns the response.
    pub fn call<R: Call>(&mut self, request: R) -> Result<R::Response, String> {
        let body = request.into_body();
        let key = body.api_key();
        let version = self.version(key, R::OLDEST)?;
        let answer = self.exchange(&body, version)?;
        R::response(answer).ok_or_else(|| self.not_an_answer(key))
    }

    /// The newest version of `key` both this client (from `oldest`) and the broker speak.
    fn version(&self, key: ApiKey, oldest: i16) -> Result<i16, String> {
        let served = self.versions.iter().find(|v| v.api_key == key as i16);
        match served {
            Some(v) if v.max_version.min(key.max_version()) >= v.min_version.max(oldest) => {
                Ok(v.max_version.min(key.max_version()))
            }
            _ => Err(format!(
                "the broker at {} does not serve {} v{oldest} to v{}, the versions this client speaks",
                self.broker,
                key.name(),
                key.max_version()
            )),
        }
    }

    /// Writes one request frame and reads its response.
    fn exchange(&mut self, body: &RequestBody, version: i16) -> Result<ResponseBody, String> {
        let key = body.api_key();
        self.next_correlation_id += 1;
        let header = RequestHeader {
            api_key: key as i16,
            api_version: version,
            correlation_id: self.next_correlation_id,
            client_id: Some(CLIENT_ID.into()),
            ..Default::default()
        };
        let frame = encode_request(&header, body)
            .map_err(|e| e.to_string())
            .and_then(|chunks| concat(&chunks).map_err(|e| e.to_string()))
            .map_err(|e| format!("cannot encode {} v{version}: {e}", key.name()))?;
        self.stream.write_all(&frame).map_err(|e| self.lost(key, e))?;
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix).map_err(|e| self.lost(key, e))?;
        let len = frame_len(prefix, DEFAULT_MAX_FRAME_LEN).map_err(|e| self.garbled(key, e))?;
        let mut response = vec![0u8; len];
        self.stream.read_exact(&mut response).map_err(|e| self.lost(key, e))?;
        let (response_header, response) =
            decode_response(response.into(), key, version).map_err(|e| self.garbled(key, e))?;
        if response_header.correlation_id != header.correlation_id {
            return Err(self.garbled(key, "the correlation id is not the request's"));
        }
        Ok(response)
    }

    fn lost(&self, key: ApiKey, error: io::Error) -> String {
        let broker = &self.broker;
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                format!(
                    "the broker at {broker} did not answer {} within {:?}",
                    key.name(),
                    self.timeout
                )
            }
            io::ErrorKind::UnexpectedEof => {
                format!(
                    "the broker at {broker} closed the connection instead of answering {}",
                    key.name()
                )
            }
            _ => format!("lost the connection to the broker at {broker}: {error}"),
        }
    }

    fn garbled(&self, key: ApiKey, error: impl std::fmt::Display) -> String {
        format!(
            "the broker at {} answered {} with what is not its response: {error}",
            self.broker,
            key.name()
        )
    }

    fn not_an_answer(&self, key: ApiKey) -> String {
        self.garbled(key, "a response of another API")
    }

    /// The metadata of every topic.
    pub fn topics(&mut self) -> Result<Vec<MetadataResponseTopic>, String> {
        let response = self.call(MetadataRequest {
            topics: None,
            allow_auto_topic_creation: false,
            ..Default::default()
        })?;
        check(response.error_code, None).map_err(|e| format!("cannot read the topics: {e}"))?;
        Ok(response.topics)
    }

    /// The metadata of `name`, `None` if the broker has no such topic (never creating it).
    pub fn topic(&mut self, name: &str) -> Result<Option<MetadataResponseTopic>, String> {
        let response = self.call(MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some(name.to_string()),
                ..Default::default()
            }]),
            allow_auto_topic_creation: false,
            ..Default::default()
        })?;
        let failed = |e| format!("cannot read topic {name}: {e}");
        check(response.error_code, None).map_err(failed)?;
        let topic = single(response.topics).map_err(failed)?;
        if ErrorCode(topic.error_code) == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION {
            return Ok(None);
        }
        check(topic.error_code, None).map_err(failed)?;
        Ok(Some(topic))
    }

    /// The metadata of `name`, which must exist.
    pub fn existing_topic(&mut self, name: &str) -> Result<MetadataResponseTopic, String> {
        self.topic(name)?.ok_or_else(|| format!("topic {name} does not exist"))
    }
}

/// Connects to the first address `server` resolves to that accepts.
fn connect_to(server: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address");
    for addr in server.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The broker's error for one item of a response, as its message when it sent one, with
/// the code's name: `Topic 'orders' already exists. (TOPIC_ALREADY_EXISTS)`.
pub fn check(code: i16, message: Option<&str>) -> Result<(), String> {
    let code = ErrorCode(code);
    if code == ErrorCode::NONE {
        return Ok(());
    }
    Err(match message.filter(|m| !m.is_empty()) {
        Some(message) => format!("{message} ({})", code.name()),
        None => code.name().to_string(),
    })
}

/// The one result a response holds for a request about one item.
pub fn single<T>(results: Vec<T>) -> Result<T, String> {
    let count = results.len();
    <[T; 1]>::try_from(results)
        .map(|[result]| result)
        .map_err(|_| format!("the broker answered with {count} results instead of one"))
}
