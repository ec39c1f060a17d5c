//! InitProducerId: gives an idempotent producer its id and epoch.
//!
//! Without a producer id the answer is a new id (never given before, see
//! `coordinator::txn`) at epoch 0. With the id and epoch it holds (KIP-360, v3+, sent after
//! an epoch or sequence error) the producer keeps its id at the next epoch, which fences
//! its older epoch in every partition; an id that was never allocated, or an epoch that
//! cannot grow, gets a new id instead. (Kafka itself always answers an idempotent producer
//! with a new id; bumping keeps the producer's identity and fences its zombie batches.)
//!
//! Transactions do not exist yet: a transactional id is answered with
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED, which Java and librdkafka clients report at once
//! as a fatal error from `initTransactions`, where a retriable COORDINATOR_NOT_AVAILABLE
//! would leave them retrying until their timeout.

use tidelog_protocol::messages::init_producer_id_request::InitProducerIdRequest;
use tidelog_protocol::messages::init_producer_id_response::InitProducerIdResponse;
use tidelog_protocol::ErrorCode;
use tracing::error;

use crate::broker::Broker;

pub fn handle(broker: &Broker, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let answer = |code: ErrorCode, producer_id: i64, producer_epoch: i16| InitProducerIdResponse {
        error_code: code.0,
        producer_id,
        producer_epoch,
        ..Default::default()
    };
    if request.transactional_id.is_some() {
        return answer(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1, -1);
    }
    let (id, epoch) = (request.producer_id, request.producer_epoch);
    if (id < 0) != (epoch < 0) {
        return answer(ErrorCode::INVALID_REQUEST, -1, -1);
    }
    let allocated = id >= 0 && id < broker.metadata.image().producer_ids_end();
    if allocated && epoch < i16::MAX - 1 {
        return answer(ErrorCode::NONE, id, epoch + 1);
    }
    match broker.producer_ids.allocate(&broker.metadata) {
        Ok(id) => answer(ErrorCode::NONE, id, 0),
        Err(e) => {
            error!(error = %e, "cannot allocate producer ids");
            answer(ErrorCode::KAFKA_STORAGE_ERROR, -1, -1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;

    fn init(broker: &Broker, transactional_id: Option<&str>, id: i64, epoch: i16) -> (i16, i64, i16) {
        let response = handle(
            broker,
            InitProducerIdRequest {
                transactional_id: transactional_id.map(Into::into),
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
        assert_eq!(init(&broker, None, -1, -1), (0, 0, 0));
        assert_eq!(init(&broker, None, -1, -1), (0, 1, 0));
        assert_eq!(init(&broker, None, 0, 0), (0, 0, 1), "KIP-360 bump");
        assert_eq!(
            init(&broker, None, 0, i16::MAX - 1),
            (0, 2, 0),
            "exhausted epochs: a new id"
        );
        assert_eq!(init(&broker, None, 5_000, 3), (0, 3, 0), "never allocated: a new id");
        assert_eq!(init(&broker, None, 0, -1).0, ErrorCode::INVALID_REQUEST.0);
        let refused = ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED.0;
        assert_eq!(init(&broker, Some("txn"), -1, -1), (refused, -1, -1));
        broker.shutdown();
        drop(broker);

        let broker = Broker::open(config).unwrap();
        assert_eq!(
            init(&broker, None, -1, -1),
            (0, 1_000, 0),
            "ids never repeat after a restart"
        );
        broker.shutdown();
    }
}
