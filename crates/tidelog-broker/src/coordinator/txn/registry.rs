//! The coordinator's transactional ids in memory, with an index from producer id to
//! transactional id.
//!
//! The index is what keeps the produce-side check (KIP-890 verification, and whether a
//! Produce v12 batch must add its partition) a lookup per partition rather than a scan of
//! every id under the coordinator's lock. It is kept right by changing an id's current
//! metadata only through [`Registry::insert`] (which [`Registry::apply_pending`] uses)
//! and [`Registry::remove`]. It is derivable from the ids (a scan finds the same), but the
//! scan would run for every transactional batch of every Produce.

use std::collections::HashMap;

use super::state::TxnMetadata;

/// One transactional id: its metadata, the next one while that is being written, and
/// whether its markers are being written (by EndTxn, a fencing InitProducerId, a timeout,
/// or the retry of a prepared transaction after a restart or a failed write).
pub(super) struct Entry {
    pub current: TxnMetadata,
    pub pending: Option<TxnMetadata>,
    pub completing: bool,
}

impl Entry {
    pub fn new(current: TxnMetadata, pending: Option<TxnMetadata>) -> Entry {
        Entry {
            current,
            pending,
            completing: false,
        }
    }
}

#[derive(Default)]
pub(super) struct Registry {
    ids: HashMap<String, Entry>,
    /// The transactional id whose current metadata holds each producer id.
    by_producer: HashMap<i64, String>,
}

impl Registry {
    pub fn get(&self, transactional_id: &str) -> Option<&Entry> {
        self.ids.get(transactional_id)
    }

    /// For `pending` and `completing` only: `current` changes through the methods below.
    pub fn get_mut(&mut self, transactional_id: &str) -> Option<&mut Entry> {
        self.ids.get_mut(transactional_id)
    }

    pub fn values(&self) -> impl Iterator<Item = &Entry> {
        self.ids.values()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// The current metadata holding `producer_id`.
    pub fn by_producer(&self, producer_id: i64) -> Option<&TxnMetadata> {
        let id = self.by_producer.get(&producer_id)?;
        self.ids.get(id).map(|e| &e.current)
    }

    /// Adds or replaces an id.
    pub fn insert(&mut self, entry: Entry) {
        let id = entry.current.transactional_id.clone();
        self.unindex(&id);
        self.by_producer.insert(entry.current.producer_id, id.clone());
        self.ids.insert(id, entry);
    }

    /// Makes an id's pending metadata current, once durable: an [`Registry::insert`] of
    /// it, so that only `insert` and `remove` touch the index.
    pub fn apply_pending(&mut self, transactional_id: &str) {
        let Some(entry) = self.ids.get_mut(transactional_id) else {
            return;
        };
        let Some(next) = entry.pending.take() else {
            return;
        };
        let completing = entry.completing;
        self.insert(Entry {
            current: next,
            pending: None,
            completing,
        });
    }

    pub fn remove(&mut self, transactional_id: &str) {
        self.unindex(transactional_id);
        self.ids.remove(transactional_id);
    }

    /// Drops the index entry of an id's current producer id, if it still points to it.
    fn unindex(&mut self, transactional_id: &str) {
        let Some(entry) = self.ids.get(transactional_id) else {
            return;
        };
        let producer_id = entry.current.producer_id;
        if self
            .by_producer
            .get(&producer_id)
            .is_some_and(|id| id == transactional_id)
        {
            self.by_producer.remove(&producer_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_follows_producer_id_changes_and_removals() {
        let mut registry = Registry::default();
        registry.insert(Entry::new(TxnMetadata::new("a", 1, 1_000, 0), None));
        registry.insert(Entry::new(TxnMetadata::new("b", 2, 1_000, 0), None));
        assert_eq!(registry.by_producer(1).map(|t| t.transactional_id.as_str()), Some("a"));

        let mut renewed = TxnMetadata::new("a", 3, 1_000, 0);
        renewed.producer_epoch = 0;
        registry.get_mut("a").unwrap().pending = Some(renewed);
        assert!(registry.by_producer(3).is_none(), "not before it is durable");
        registry.apply_pending("a");
        assert!(registry.by_producer(1).is_none());
        assert_eq!(registry.by_producer(3).map(|t| t.transactional_id.as_str()), Some("a"));

        // Replayed records replace what they find.
        registry.insert(Entry::new(TxnMetadata::new("a", 4, 1_000, 0), None));
        assert!(registry.by_producer(3).is_none());
        registry.remove("a");
        assert!(registry.by_producer(4).is_none());
        assert_eq!(registry.by_producer(2).map(|t| t.transactional_id.as_str()), Some("b"));
        assert_eq!(registry.len(), 1);
    }
}
