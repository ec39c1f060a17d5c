//! Routes a decoded request to its handler and turns the handler's answer into a pending
//! response frame.
//!
//! A handler does its ordered work (appends, metadata changes) before returning (a Produce
//! or TxnOffsetCommit that must first add partitions to a transaction awaits that here, so
//! a later request of the connection cannot write ahead of it), and may return a future
//! for the part that waits (durability, long-poll), so the connection can read on while
//! the response waits its turn.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tidelog_protocol::header::RequestPrefix;
use tidelog_protocol::{encode_response, ApiKey, DecodeError, Payload, Request, RequestBody, ResponseBody};
use tracing::error;

use crate::broker::Broker;
use crate::handlers;

/// A response still being produced: the frame's chunks (none at all for an `acks=0`
/// produce), or `None` when no response can be made and the connection must close, as
/// Kafka closes it, rather than leave the client waiting.
pub type PendingResponse = Pin<Box<dyn Future<Output = Option<Vec<Payload>>> + Send>>;

/// What a handler answers.
pub enum Reply {
    Now(ResponseBody),
    Later(Pin<Box<dyn Future<Output = ResponseBody> + Send>>),
    Nothing,
    /// No answer, and the connection reads nothing more and closes once the responses
    /// before it are written: an `acks=0` Produce that failed, as Kafka closes it so that
    /// the client refreshes its metadata.
    Close,
}

/// A dispatched request: its pending response, and whether the connection closes after it
/// ([`Reply::Close`]).
pub struct Dispatched {
    pub response: PendingResponse,
    pub close: bool,
}

/// `peer` is the client's address, which group members are described with.
pub async fn dispatch(broker: &Arc<Broker>, request: Request, peer: SocketAddr) -> Dispatched {
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
    let started = broker.metrics.request(api_key);
    let reply = match request.body {
        RequestBody::Produce(r) => handlers::produce::handle(broker, r, version).await,
        RequestBody::Fetch(r) => handlers::fetch::handle(broker, r, version),
        RequestBody::ListOffsets(r) => Reply::Now(ResponseBody::ListOffsets(handlers::list_offsets::handle(broker, r))),
        RequestBody::ApiVersions(r) => Reply::Now(ResponseBody::ApiVersions(handlers::api_versions::handle(
            broker, r, version,
        ))),
        RequestBody::Metadata(r) => Reply::Now(ResponseBody::Metadata(handlers::metadata::handle(broker, r, version))),
        RequestBody::CreateTopics(r) => {
            Reply::Now(ResponseBody::CreateTopics(handlers::create_topics::handle(broker, r)))
        }
        RequestBody::DeleteTopics(r) => {
            Reply::Now(ResponseBody::DeleteTopics(handlers::delete_topics::handle(broker, r)))
        }
        RequestBody::DeleteRecords(r) => {
            Reply::Now(ResponseBody::DeleteRecords(handlers::delete_records::handle(broker, r)))
        }
        RequestBody::CreatePartitions(r) => Reply::Now(ResponseBody::CreatePartitions(
            handlers::create_partitions::handle(broker, r),
        )),
        RequestBody::DescribeCluster(r) => Reply::Now(ResponseBody::DescribeCluster(
            handlers::describe_cluster::handle(broker, r),
        )),
        RequestBody::DescribeLogDirs(r) => Reply::Now(ResponseBody::DescribeLogDirs(
            handlers::describe_log_dirs::handle(broker, r),
        )),
        RequestBody::ElectLeaders(r) => {
            Reply::Now(ResponseBody::ElectLeaders(handlers::elect_leaders::handle(broker, r)))
        }
        RequestBody::UpdateFeatures(r) => Reply::Now(ResponseBody::UpdateFeatures(handlers::update_features::handle(
            broker, r, version,
        ))),
        RequestBody::DescribeConfigs(r) => Reply::Now(ResponseBody::DescribeConfigs(
            handlers::describe_configs::handle(broker, r),
        )),
        RequestBody::AlterConfigs(r) => {
            Reply::Now(ResponseBody::AlterConfigs(handlers::alter_configs::handle(broker, r)))
        }
        RequestBody::IncrementalAlterConfigs(r) => Reply::Now(ResponseBody::IncrementalAlterConfigs(
            handlers::incremental_alter_configs::handle(broker, r),
        )),
        RequestBody::DescribeTopicPartitions(r) => Reply::Now(ResponseBody::DescribeTopicPartitions(
            handlers::describe_topic_partitions::handle(broker, r),
        )),
        RequestBody::FindCoordinator(r) => Reply::Now(ResponseBody::FindCoordinator(
            handlers::find_coordinator::handle(broker, r, version),
        )),
        RequestBody::JoinGroup(r) => {
            let client = handlers::join_group::Client {
                id: request.header.client_id.unwrap_or_default(),
                host: format!("/{}", peer.ip()),
            };
            handlers::join_group::handle(broker, r, version, client)
        }
        RequestBody::SyncGroup(r) => handlers::sync_group::handle(broker, r),
        RequestBody::Heartbeat(r) => Reply::Now(ResponseBody::Heartbeat(handlers::heartbeat::handle(broker, r))),
        RequestBody::LeaveGroup(r) => handlers::leave_group::handle(broker, r, version),
        RequestBody::OffsetCommit(r) => handlers::offset_commit::handle(broker, r),
        RequestBody::OffsetFetch(r) => Reply::Now(ResponseBody::OffsetFetch(handlers::offset_fetch::handle(
            broker, r, version,
        ))),
        RequestBody::ListGroups(r) => Reply::Now(ResponseBody::ListGroups(handlers::list_groups::handle(broker, r))),
        RequestBody::DescribeGroups(r) => Reply::Now(ResponseBody::DescribeGroups(handlers::describe_groups::handle(
            broker, r, version,
        ))),
        RequestBody::ConsumerGroupHeartbeat(r) => {
            let client_id = request.header.client_id.unwrap_or_default();
            let host = format!("/{}", peer.ip());
            handlers::consumer_group_heartbeat::handle(broker, r, client_id, host)
        }
        RequestBody::ConsumerGroupDescribe(r) => Reply::Now(ResponseBody::ConsumerGroupDescribe(
            handlers::consumer_group_describe::handle(broker, r),
        )),
        RequestBody::DeleteGroups(r) => handlers::delete_groups::handle(broker, r),
        RequestBody::OffsetDelete(r) => handlers::offset_delete::handle(broker, r),
        RequestBody::InitProducerId(r) => handlers::init_producer_id::handle(broker, r),
        RequestBody::AddPartitionsToTxn(r) => handlers::add_partitions_to_txn::handle(broker, r, version),
        RequestBody::AddOffsetsToTxn(r) => handlers::add_offsets_to_txn::handle(broker, r),
        RequestBody::TxnOffsetCommit(r) => handlers::txn_offset_commit::handle(broker, r, version).await,
        RequestBody::EndTxn(r) => handlers::end_txn::handle(broker, r, version),
        RequestBody::DescribeTransactions(r) => Reply::Now(ResponseBody::DescribeTransactions(
            handlers::describe_transactions::handle(broker, r),
        )),
        RequestBody::ListTransactions(r) => Reply::Now(ResponseBody::ListTransactions(
            handlers::list_transactions::handle(broker, r),
        )),
        RequestBody::WriteTxnMarkers(r) => handlers::write_txn_markers::handle(broker, r),
        RequestBody::DescribeProducers(r) => Reply::Now(ResponseBody::DescribeProducers(
            handlers::describe_producers::handle(broker, r),
        )),
        other => {
            error!(api_key = ?other.api_key(), "advertised API without a handler");
            Reply::Nothing
        }
    };
    let broker = broker.clone();
    let answered = move |body: Option<&ResponseBody>| broker.metrics.answered(api_key, started, body);
    Dispatched {
        close: matches!(reply, Reply::Close),
        response: into_pending(reply, correlation_id, version, answered),
    }
}

/// A response already made (the SASL exchange's), ready for the connection's writer.
pub fn answer(body: ResponseBody, correlation_id: i32, version: i16) -> PendingResponse {
    into_pending(Reply::Now(body), correlation_id, version, |_| {})
}

/// `answered` sees the response once made (`None` when there is none to write).
fn into_pending(
    reply: Reply,
    correlation_id: i32,
    version: i16,
    answered: impl FnOnce(Option<&ResponseBody>) + Send + 'static,
) -> PendingResponse {
    let encode = move |body: ResponseBody| match encode_response(correlation_id, version, &body) {
        Ok(chunks) => Some(chunks),
        Err(e) => {
            error!(api_key = ?body.api_key(), version, error = %e, "cannot encode response");
            None
        }
    };
    match reply {
        Reply::Now(body) => {
            answered(Some(&body));
            let frame = encode(body);
            Box::pin(async move { frame })
        }
        Reply::Later(body) => Box::pin(async move {
            let body = body.await;
            answered(Some(&body));
            encode(body)
        }),
        // Nothing to write; for Close, the connection stops reading (see `Dispatched`).
        Reply::Nothing | Reply::Close => {
            answered(None);
            Box::pin(async { Some(Vec::new()) })
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
        return Some(into_pending(Reply::Now(body), prefix.correlation_id, 0, |_| {}));
    }
    None
}
