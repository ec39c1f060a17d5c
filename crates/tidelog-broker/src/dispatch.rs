//! Routes a decoded request to its handler and turns the handler's answer into a pending
//! response frame. Every handler has the same shape (see `handlers`), so routing is a table
//! from request body to handler module.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tidelog_protocol::header::RequestPrefix;
use tidelog_protocol::{encode_response, ApiKey, DecodeError, Payload, Request, RequestBody, ResponseBody};
use tracing::error;

use crate::broker::Broker;
use crate::client_quotas::{request_time, Throttle, REQUEST_PERCENTAGE};
use crate::config::Listener;
use crate::handlers::{self, Principal, Reply, RequestContext};
use crate::metrics::RequestTimer;

/// A response still being produced, or `None` when no response can be made and the
/// connection must close, as Kafka closes it, rather than leave the client waiting.
pub type PendingResponse = Pin<Box<dyn Future<Output = Option<Response>> + Send>>;

/// A response made: the frame's chunks (none at all for an `acks=0` produce), and the
/// request's clock, which the writer stops once they are written.
pub struct Response {
    pub chunks: Vec<Payload>,
    pub timer: Option<RequestTimer>,
}

/// A dispatched request: its pending response, and whether the connection closes after it
/// ([`Reply::Close`]).
pub struct Dispatched {
    pub response: PendingResponse,
    pub close: bool,
}

/// Calls `handlers::<module>::handle(ctx, request)` for the body's API; its reply, and the
/// time spent handling it, measured only when `$timing` (for `request_percentage`).
macro_rules! route {
    ($body:expr, $ctx:expr, $timing:expr, { $($api:ident => $module:ident),* $(,)? }) => {
        match $body {
            $(RequestBody::$api(request) => {
                request_time::timed(std::pin::pin!(handlers::$module::handle($ctx, request)), $timing).await
            })*
            other => {
                error!(api_key = ?other.api_key(), "advertised API without a handler");
                (Reply::Nothing, Duration::ZERO)
            }
        }
    };
}

/// A request's frame as it was read: when, and its size in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub at: Instant,
    pub size: usize,
}

/// `principal`, `listener`, `peer` and `throttle` are the connection's (see
/// [`RequestContext`]).
pub async fn dispatch(
    broker: &Arc<Broker>,
    request: Request,
    principal: &Arc<Principal>,
    listener: &Arc<Listener>,
    peer: SocketAddr,
    received: Received,
    throttle: &Arc<Throttle>,
) -> Dispatched {
    let correlation_id = request.header.correlation_id;
    let version = request.header.api_version;
    let api_key = request.api_key;
    if !handlers::api_versions::advertised(api_key, version) {
        // A client only sends what we advertise; anything else is a protocol violation.
        error!(
            ?api_key,
            version, "request for an API or version this broker does not advertise"
        );
        return Dispatched {
            response: Box::pin(async { None }),
            close: false,
        };
    }
    let ctx = RequestContext {
        broker: broker.clone(),
        api_key,
        api_version: version,
        client_id: request.header.client_id.unwrap_or_default(),
        principal: principal.clone(),
        listener: listener.clone(),
        peer,
        request_size: received.size,
        throttle: throttle.clone(),
    };
    let mut timer = ctx.broker.metrics.request(api_key, received.at);
    let request_quota = ctx.quota(REQUEST_PERCENTAGE);
    let (reply, spent) = route!(request.body, &ctx, request_quota.is_some(), {
        Produce => produce,
        Fetch => fetch,
        ListOffsets => list_offsets,
        OffsetForLeaderEpoch => offset_for_leader_epoch,
        ApiVersions => api_versions,
        Metadata => metadata,
        CreateTopics => create_topics,
        DeleteTopics => delete_topics,
        DeleteRecords => delete_records,
        CreatePartitions => create_partitions,
        DescribeCluster => describe_cluster,
        DescribeLogDirs => describe_log_dirs,
        ElectLeaders => elect_leaders,
        UpdateFeatures => update_features,
        DescribeConfigs => describe_configs,
        AlterConfigs => alter_configs,
        IncrementalAlterConfigs => incremental_alter_configs,
        DescribeTopicPartitions => describe_topic_partitions,
        FindCoordinator => find_coordinator,
        JoinGroup => join_group,
        SyncGroup => sync_group,
        Heartbeat => heartbeat,
        LeaveGroup => leave_group,
        OffsetCommit => offset_commit,
        OffsetFetch => offset_fetch,
        ListGroups => list_groups,
        DescribeGroups => describe_groups,
        ConsumerGroupHeartbeat => consumer_group_heartbeat,
        ConsumerGroupDescribe => consumer_group_describe,
        DeleteGroups => delete_groups,
        OffsetDelete => offset_delete,
        InitProducerId => init_producer_id,
        AddPartitionsToTxn => add_partitions_to_txn,
        AddOffsetsToTxn => add_offsets_to_txn,
        TxnOffsetCommit => txn_offset_commit,
        EndTxn => end_txn,
        DescribeTransactions => describe_transactions,
        ListTransactions => list_transactions,
        WriteTxnMarkers => write_txn_markers,
        DescribeProducers => describe_producers,
        DescribeUserScramCredentials => describe_user_scram_credentials,
        AlterUserScramCredentials => alter_user_scram_credentials,
        DescribeAcls => describe_acls,
        CreateAcls => create_acls,
        DeleteAcls => delete_acls,
        DescribeClientQuotas => describe_client_quotas,
        AlterClientQuotas => alter_client_quotas,
        DescribeQuorum => describe_quorum,
    });
    let reply = request_time::charge(broker, request_quota, reply, spent);
    timer.handled();
    Dispatched {
        close: matches!(reply, Reply::Close),
        response: into_pending(reply, correlation_id, version, Some(timer)),
    }
}

/// A response already made (the SASL exchange's), ready for the connection's writer.
pub fn answer(body: ResponseBody, correlation_id: i32, version: i16) -> PendingResponse {
    into_pending(Reply::Now(body), correlation_id, version, None)
}

/// `timer`, when the request is measured, sees the response once made (`None` when there
/// is none to write) and goes with it to the writer.
fn into_pending(reply: Reply, correlation_id: i32, version: i16, mut timer: Option<RequestTimer>) -> PendingResponse {
    let answered = move |body: Option<&ResponseBody>| {
        if let Some(timer) = timer.as_mut() {
            timer.answered(body);
        }
        timer
    };
    let encode = move |body: ResponseBody, timer| match encode_response(correlation_id, version, &body) {
        Ok(chunks) => Some(Response { chunks, timer }),
        Err(e) => {
            error!(api_key = ?body.api_key(), version, error = %e, "cannot encode response");
            None
        }
    };
    match reply {
        Reply::Now(body) => {
            let timer = answered(Some(&body));
            let response = encode(body, timer);
            Box::pin(async move { response })
        }
        Reply::Later(body) => Box::pin(async move {
            let body = body.await;
            let timer = answered(Some(&body));
            encode(body, timer)
        }),
        // Nothing to write; for Close, the connection stops reading (see `Dispatched`).
        Reply::Nothing | Reply::Close => {
            let timer = answered(None);
            Box::pin(async move {
                Some(Response {
                    chunks: Vec::new(),
                    timer,
                })
            })
        }
    }
}

/// A response for a request whose body could not be decoded, where Kafka gives one: an
/// ApiVersions request of a version above ours gets the v0 error response listing what we
/// support, so the client can retry with a version we know.
pub fn answer_undecodable(prefix: RequestPrefix, error: &DecodeError) -> Option<PendingResponse> {
    let unsupported = matches!(error, DecodeError::UnsupportedVersion { .. });
    if unsupported
        && prefix.api_key == ApiKey::ApiVersions as i16
        && prefix.api_version > ApiKey::ApiVersions.max_version()
    {
        let body = ResponseBody::ApiVersions(handlers::api_versions::unsupported_version());
        return Some(into_pending(Reply::Now(body), prefix.correlation_id, 0, None));
    }
    None
}
