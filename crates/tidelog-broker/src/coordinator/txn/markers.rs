//! Writing a transaction's outcome into its partitions: one COMMIT or ABORT marker per
//! partition, at the producer's (possibly bumped) epoch, durable before the transaction
//! completes. A marker in a `__consumer_offsets` partition also decides the offsets the
//! transaction committed there.
//!
//! On one node the coordinator appends to the partitions itself, where Kafka sends
//! WriteTxnMarkers to each partition's leader.

use tidelog_protocol::records::{marker_batch, ControlType, TxnMarker};
use tidelog_protocol::ErrorCode;
use tracing::warn;

use crate::clock::now_ms;
use crate::coordinator::group::{GroupCoordinator, OFFSETS_TOPIC};
use crate::coordinator::internal_topic::{self, PendingWrite};
use crate::partitions::Partitions;

use super::state::TxnMetadata;

/// The coordinator epoch markers carry: one node, never a coordinator failover.
const COORDINATOR_EPOCH: i32 = 0;

/// Appends the transaction's markers to all its partitions and waits until they are
/// durable. A partition deleted meanwhile is skipped, as Kafka skips it.
pub async fn write_markers(
    partitions: &Partitions,
    groups: &GroupCoordinator,
    txn: &TxnMetadata,
    commit: bool,
) -> Result<(), ErrorCode> {
    let marker = TxnMarker {
        control_type: if commit { ControlType::Commit } else { ControlType::Abort },
        coordinator_epoch: COORDINATOR_EPOCH,
    };
    let mut writes: Vec<(PendingWrite, Option<i32>)> = Vec::new();
    for (topic, index) in &txn.partitions {
        let Some(partition) = partitions.get(topic, *index) else {
            warn!(topic, partition = index, "no such partition for a transaction marker");
            continue;
        };
        let batch = marker_batch(txn.producer_id, txn.producer_epoch, marker, now_ms());
        if let Some(write) = internal_topic::append_batch(partitions, &partition, batch)? {
            writes.push((write, (topic == OFFSETS_TOPIC).then_some(*index)));
        }
    }
    for (write, offsets_partition) in writes {
        write.durable().await;
        if let Some(index) = offsets_partition {
            groups.complete_txn(index, txn.producer_id, commit);
        }
    }
    Ok(())
}
