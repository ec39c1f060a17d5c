//! Writing a transaction's outcome into its partitions: one COMMIT or ABORT marker per
//! partition, at the producer's (possibly bumped) epoch, durable before the transaction
//! completes. A marker in a `__consumer_offsets` partition also decides the offsets the
//! transaction committed there.
//!
//! On one node the coordinator appends to the partitions itself, where Kafka sends
//! WriteTxnMarkers to each partition's leader.

use tidelog_protocol::records::{ControlType, TxnMarker};
use tidelog_protocol::ErrorCode;
use tracing::warn;

use crate::coordinator::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::partitions::Partitions;

use super::state::TxnMetadata;

/// The coordinator epoch markers carry: one node, never a coordinator failover.
const COORDINATOR_EPOCH: i32 = 0;

/// Appends the transaction's markers to all its partitions (through the log's shared
/// `Partitions::append_txn_marker`) and waits until they are all durable. A partition
/// deleted meanwhile is skipped, as Kafka skips it.
pub async fn write_markers(
    partitions: &Partitions,
    groups: &GroupCoordinator,
    txn: &TxnMetadata,
    commit: bool,
) -> Result<(), ErrorCode> {
    let marker = TxnMarker {
        control_type: ControlType::from_commit(commit),
        coordinator_epoch: COORDINATOR_EPOCH,
    };
    let mut written = Vec::new();
    for (topic, index) in &txn.partitions {
        match partitions.append_txn_marker(topic, *index, txn.producer_id, txn.producer_epoch, marker) {
            Ok((partition, end)) => written.push((partition, end, (topic == OFFSETS_TOPIC).then_some(*index))),
            Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION) => {
                warn!(topic, partition = index, "no such partition for a transaction marker");
            }
            Err(code) => return Err(code),
        }
    }
    for (partition, end, offsets_partition) in written {
        partition.wait_durable(end).await;
        if let Some(index) = offsets_partition {
            groups.complete_txn(index, txn.producer_id, commit);
        }
    }
    Ok(())
}
