//! Incremental fetch sessions (KIP-227).
//!
//! A consumer that fetches with epoch 0 opens a session: the broker remembers the
//! partitions it asked for, and later requests (epoch 1, 2, ...) carry only what changed
//! and get back only partitions with something new. Epoch -1 with session id 0 is a plain
//! sessionless fetch; epoch -1 with an id closes that session.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tidelog_protocol::{ErrorCode, Uuid};

/// Kafka's `max.incremental.fetch.session.cache.slots` default.
const MAX_SESSIONS: usize = 1000;
/// Sessions unused this long may be evicted.
const SESSION_IDLE: Duration = Duration::from_secs(120);

/// One partition a session follows, with what the client was last told about it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPartition {
    /// The id the client addresses the topic by (v13+), nil before.
    pub topic_id: Uuid,
    pub fetch_offset: i64,
    pub max_bytes: i32,
    /// Last high watermark, last stable offset, log start offset and error sent, to detect
    /// changes.
    pub last_sent: Option<SentState>,
}

/// A partition by topic name and index.
pub type PartitionKey = (String, i32);

/// What a response told the client about a partition: high watermark, last stable offset,
/// log start offset, error code.
pub type SentState = (i64, i64, i64, i16);

/// Partitions by (topic, partition).
pub type SessionPartitions = BTreeMap<PartitionKey, SessionPartition>;

struct Session {
    epoch: i32,
    partitions: SessionPartitions,
    last_used: Instant,
}

/// What a fetch request asks of the session cache.
pub enum SessionRequest {
    /// No session: fetch exactly the partitions listed.
    Sessionless,
    /// Open a new session with the partitions listed (epoch 0).
    Open,
    /// Continue session `id` at `epoch` with these changes.
    Continue { id: i32, epoch: i32 },
    /// Close session `id` (epoch -1), then fetch like `Sessionless`.
    Close { id: i32 },
}

impl SessionRequest {
    pub fn classify(session_id: i32, epoch: i32) -> SessionRequest {
        match (session_id, epoch) {
            (0, -1) => SessionRequest::Sessionless,
            (_, 0) => SessionRequest::Open,
            (id, -1) => SessionRequest::Close { id },
            (id, epoch) => SessionRequest::Continue { id, epoch },
        }
    }
}

#[derive(Default)]
pub struct FetchSessionCache {
    sessions: Mutex<HashMap<i32, Session>>,
    next_id: Mutex<i32>,
}

impl FetchSessionCache {
    /// Opens a session holding `partitions`; returns its id, or 0 when the cache is full
    /// (the client then fetches without a session, as with Kafka).
    pub fn open(&self, partitions: SessionPartitions) -> i32 {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| now.duration_since(s.last_used) < SESSION_IDLE);
        if sessions.len() >= MAX_SESSIONS {
            return 0;
        }
        let mut next = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
        *next = next.checked_add(1).filter(|n| *n > 0).unwrap_or(1);
        let id = *next;
        sessions.insert(
            id,
            Session {
                epoch: 1,
                partitions,
                last_used: now,
            },
        );
        id
    }

    /// Applies an incremental request to session `id` at `epoch`: `update` receives the
    /// session's partitions to change (add, update, forget) and returns the response
    /// for them, which the session remembers.
    pub fn update<R>(
        &self,
        id: i32,
        epoch: i32,
        update: impl FnOnce(&mut SessionPartitions) -> R,
    ) -> Result<R, ErrorCode> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let session = sessions.get_mut(&id).ok_or(ErrorCode::FETCH_SESSION_ID_NOT_FOUND)?;
        if session.epoch != epoch {
            return Err(ErrorCode::INVALID_FETCH_SESSION_EPOCH);
        }
        session.epoch = epoch.checked_add(1).filter(|e| *e > 0).unwrap_or(1);
        session.last_used = Instant::now();
        Ok(update(&mut session.partitions))
    }

    /// Remembers what a response told the client about each partition, so the next
    /// incremental response can leave out partitions where nothing changed.
    pub fn record_sent(&self, id: i32, sent: Vec<(PartitionKey, SentState)>) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(session) = sessions.get_mut(&id) {
            for (key, state) in sent {
                if let Some(p) = session.partitions.get_mut(&key) {
                    p.last_sent = Some(state);
                }
            }
        }
    }

    /// What the session last sent for `key`.
    pub fn last_sent(&self, id: i32, key: &PartitionKey) -> Option<SentState> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.get(&id)?.partitions.get(key)?.last_sent
    }

    pub fn close(&self, id: i32) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(offset: i64) -> SessionPartitions {
        BTreeMap::from([(
            ("t".to_string(), 0),
            SessionPartition {
                topic_id: Uuid::NIL,
                fetch_offset: offset,
                max_bytes: 100,
                last_sent: None,
            },
        )])
    }

    #[test]
    fn epochs_advance_and_stale_ones_are_refused() {
        let cache = FetchSessionCache::default();
        let id = cache.open(one(0));
        assert!(id > 0);
        assert_eq!(cache.update(id, 1, |p| p.len()), Ok(1));
        assert_eq!(cache.update(id, 1, |_| ()), Err(ErrorCode::INVALID_FETCH_SESSION_EPOCH));
        assert_eq!(
            cache.update(id, 2, |p| p.remove(&("t".to_string(), 0)).is_some()),
            Ok(true)
        );
        cache.close(id);
        assert_eq!(cache.update(id, 3, |_| ()), Err(ErrorCode::FETCH_SESSION_ID_NOT_FOUND));
    }

    #[test]
    fn classification_follows_kip_227() {
        assert!(matches!(SessionRequest::classify(0, -1), SessionRequest::Sessionless));
        assert!(matches!(SessionRequest::classify(0, 0), SessionRequest::Open));
        assert!(matches!(
            SessionRequest::classify(5, -1),
            SessionRequest::Close { id: 5 }
        ));
        assert!(matches!(
            SessionRequest::classify(5, 3),
            SessionRequest::Continue { id: 5, epoch: 3 }
        ));
    }
}
