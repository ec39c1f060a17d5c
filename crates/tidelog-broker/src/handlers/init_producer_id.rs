//! InitProducerId: gives an idempotent producer its id and epoch.
//!
//! Without a producer id the answer is a new id (never given before, see
//! `coordinator::txn`) at epoch 0. With the id and epoch it holds (KIP-360, v3+, sent after
//! an epoch or sequence error) the producer keeps its id at the next epoch, which fences
//! its older epoch in every partition; an id that was never allocated, or an epoch that
//! cannot grow, gets a new id instead. (Kafka itself always answers an idempotent producer
//! with a new id; bumping keeps the producer's identity and fences its zombie batches.)
//!
//! With a transactional id the transaction coordinator answers (see `coordinator::txn`):
//! a new id gets a new producer id at epoch 0, a known one the next epoch of its producer
//! id, which fences every older producer of that transactional id. A transaction the
//! previous producer left open is aborted first, at that bumped epoch; meanwhile the
//! answer is CONCURRENT_TRANSACTIONS, which clients retry. The timeout asked for must not
//! exceed `transaction.max.timeout.ms` (INVALID_TRANSACTION_TIMEOUT).

use std::ops::RangeInclusive;
use std::sync::Arc;

use tidelog_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use tidelog_protocol::messages::init_producer_id_response::InitProducerIdResponse;
use tidelog_protocol::{ErrorCode, ResponseBody};
use tracing::error;

use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::Broker;
use crate::clock::now_ms;
use crate::coordinator::txn::state::{Init, TxnMetadata};
use crate::handlers::{Reply, RequestContext};

/// The versions served, as ApiVersions advertises them: 0 to 5.
pub const VERSIONS: RangeInclusive<i16> = 0..=5;

fn answer(code: ErrorCode, producer_id: i64, producer_epoch: i16) -> InitProducerIdResponse {
    InitProducerIdResponse {
        error_code: code.0,
        producer_id,
        producer_epoch,
        ..Default::default()
    }
}

pub async fn handle(ctx: &RequestContext, request: InitProducerIdRequest) -> Reply {
    let broker = &ctx.broker;
    // WRITE on the transactional id; an idempotent producer IDEMPOTENT_WRITE on the
    // cluster, or WRITE on some topic, as Kafka takes it.
    let denied = match &request.transactional_id {
        Some(id) => (!ctx.authorize(ResourceType::TransactionalId, id))
            .then_some(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED),
        None => (!ctx.authorize_cluster() && !ctx.authorize_on_some(AclOperation::Write, ResourceType::Topic))
            .then_some(ErrorCode::CLUSTER_AUTHORIZATION_FAILED),
    };
    if let Some(code) = denied {
        return Reply::Now(ResponseBody::InitProducerId(answer(code, -1, -1)));
    }
    match request.transactional_id.clone() {
        Some(transactional_id) => transactional(broker, transactional_id, request),
        None => Reply::Now(ResponseBody::InitProducerId(idempotent(broker, request))),
    }
}

fn transactional(broker: &Arc<Broker>, transactional_id: String, request: InitProducerIdRequest) -> Reply {
    let timeout_ms = request.transaction_timeout_ms;
    if timeout_ms <= 0 || timeout_ms > broker.txns.settings.max_timeout_ms {
        return Reply::Now(ResponseBody::InitProducerId(answer(
            ErrorCode::INVALID_TRANSACTION_TIMEOUT,
            -1,
            -1,
        )));
    }
    if let Err(e) = broker.ensure_transaction_topic() {
        error!(error = e.message, "cannot create the transaction state topic");
        let refused = answer(ErrorCode::COORDINATOR_NOT_AVAILABLE, -1, -1);
        return Reply::Now(ResponseBody::InitProducerId(refused));
    }
    let expected = (request.producer_id >= 0).then_some((request.producer_id, request.producer_epoch));
    let broker = broker.clone();
    Reply::Later(Box::pin(async move {
        let now = now_ms();
        let new_producer_id = || new_producer_id(&broker);
        let decided = broker
            .txns
            .transition(&broker.partitions, &transactional_id, |current| match current {
                None => {
                    let txn = TxnMetadata::new(&transactional_id, new_producer_id()?, timeout_ms, now);
                    let ids = (txn.producer_id, txn.producer_epoch);
                    Ok((Some(txn), (ids, Init::Ready)))
                }
                Some(txn) => {
                    let (next, init) = txn.init(expected, timeout_ms, now, new_producer_id)?;
                    let ids = (next.producer_id, next.producer_epoch);
                    Ok((Some(next), (ids, init)))
                }
            })
            .await;
        let response = match decided {
            Ok(((id, epoch), Init::Ready)) => answer(ErrorCode::NONE, id, epoch),
            Ok((_, Init::AbortFirst)) => {
                broker.spawn_txn_completion(transactional_id);
                answer(ErrorCode::CONCURRENT_TRANSACTIONS, -1, -1)
            }
            Err(code) => answer(code, -1, -1),
        };
        ResponseBody::InitProducerId(response)
    }))
}

/// A producer id never given before (also for EndTxn v5 at an exhausted epoch).
pub(crate) fn new_producer_id(broker: &Broker) -> Result<i64, ErrorCode> {
    broker.producer_ids.allocate(&broker.metadata).map_err(|e| {
        error!(error = %e, "cannot allocate producer ids");
        ErrorCode::KAFKA_STORAGE_ERROR
    })
}

/// An idempotent producer's id and epoch.
fn idempotent(broker: &Broker, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let (id, epoch) = (request.producer_id, request.producer_epoch);
    if (id < 0) != (epoch < 0) {
        return answer(ErrorCode::INVALID_REQUEST, -1, -1);
    }
    let allocated = id >= 0 && id < broker.metadata.image().producer_ids_end();
    if allocated && epoch < i16::MAX - 1 {
        return answer(ErrorCode::NONE, id, epoch + 1);
    }
    match new_producer_id(broker) {
        Ok(id) => answer(ErrorCode::NONE, id, 0),
        Err(code) => answer(code, -1, -1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;

    fn init(broker: &Broker, id: i64, epoch: i16) -> (i16, i64, i16) {
        let response = idempotent(
            broker,
            InitProducerIdRequest {
                transaction_timeout_ms: 60_000,
                producer_id: id,
                producer_epoch: epoch,
                ..Default::default()
            },
        );
        (response.error_code, response.producer_id, response.producer_epoch)
    }

    #[test]
    fn new_ids_start_at_epoch_zero_and_a_known_id_gets_the_next_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let config = BrokerConfig {
            log_dirs: vec![dir.path().to_path_buf()],
            ..BrokerConfig::default()
        };
        let broker = Broker::open(config.clone()).unwrap();
        assert_eq!(init(&broker, -1, -1), (0, 0, 0));
        assert_eq!(init(&broker, -1, -1), (0, 1, 0));
        assert_eq!(init(&broker, 0, 0), (0, 0, 1), "KIP-360 bump");
        assert_eq!(init(&broker, 0, i16::MAX - 1), (0, 2, 0), "exhausted epochs: a new id");
        assert_eq!(init(&broker, 5_000, 3), (0, 3, 0), "never allocated: a new id");
        assert_eq!(init(&broker, 0, -1).0, ErrorCode::INVALID_REQUEST.0);
        broker.shutdown();
        drop(broker);

        let broker = Broker::open(config).unwrap();
        assert_eq!(init(&broker, -1, -1), (0, 1_000, 0), "ids never repeat after a restart");
        broker.shutdown();
    }
}
