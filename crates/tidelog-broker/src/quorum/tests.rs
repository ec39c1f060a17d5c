//! openraft's storage suite over the metadata log, and what it does not cover: a reopen.

use std::sync::Mutex;

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use tempfile::TempDir;
use tidelog_log::Recovery;

use crate::metadata::kraft::MetadataLogSettings;

use super::{LogStore, NodeId, StateMachine, TypeConfig};

/// A new metadata directory per store; the directories live as long as the builder.
#[derive(Default)]
struct Dirs(Mutex<Vec<TempDir>>);

fn config() -> MetadataLogSettings {
    MetadataLogSettings::default()
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine> for Dirs {
    async fn build(&self) -> Result<((), LogStore, StateMachine), StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = LogStore::open(dir.path(), &config(), Recovery::Skip)?;
        let machine = StateMachine::open(dir.path())?;
        self.0.lock().unwrap().push(dir);
        Ok(((), store, machine))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Dirs::default()).unwrap();
}

mod on_disk {
    use openraft::storage::{RaftLogReader, RaftLogStorage, RaftLogStorageExt, RaftSnapshotBuilder, RaftStateMachine};
    use openraft::{CommittedLeaderId, LogId, Vote};
    use tidelog_protocol::metadata::records::topic_record::TopicRecord;
    use tidelog_protocol::metadata::{KraftControlRecord, MetadataRecord, VersionedRecord};
    use tidelog_protocol::Uuid;

    use super::config;
    use crate::metadata::kraft::{load, METADATA_DIR};
    use crate::metadata::{MetadataStore, StoreSettings};
    use crate::quorum::types::{MetadataEntry, Payload};
    use crate::quorum::{LogStore, StateMachine};
    use tidelog_log::Recovery;

    fn topic(name: &str, id: u128) -> Payload {
        Payload::Record(VersionedRecord {
            version: 0,
            record: MetadataRecord::TopicRecord(TopicRecord {
                name: name.into(),
                topic_id: Uuid::from_u128(id),
                ..Default::default()
            }),
        })
    }

    fn entry(term: u64, index: u64, payload: Payload) -> MetadataEntry {
        MetadataEntry {
            log_id: LogId::new(CommittedLeaderId::new(term, 0), index),
            timestamp: 1_700_000_000_000 + index as i64,
            payload,
        }
    }

    /// A directory a single-node Tidelog formatted and elected in (several records per
    /// batch) reads as entries, one per offset; entries appended after them are batches that
    /// Kafka's loader reads; the vote, the log and a snapshot survive a reopen.
    #[tokio::test]
    async fn a_single_node_log_goes_on_as_openraft_storage() {
        let root = tempfile::tempdir().unwrap();
        drop(MetadataStore::open(root.path(), &StoreSettings::for_tests()).unwrap());
        let dir = root.path().join(METADATA_DIR);
        let before = load(&dir).unwrap();
        let end = before.log_end_offset as u64;

        let mut store = LogStore::open(&dir, &config(), Recovery::Skip).unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, None);
        let last = state.last_log_id.expect("the log has entries");
        assert_eq!(last.index, end - 1);
        let old = store.try_get_log_entries(0..end).await.unwrap();
        assert_eq!(
            old.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            (0..end).collect::<Vec<_>>()
        );
        // The first election's batch: the leader, the kraft.version, the voters.
        assert!(matches!(&old[0].payload, Payload::LeaderChange(Some(m)) if m.leader_id == 1));
        assert!(matches!(
            &old[1].payload,
            Payload::Control(KraftControlRecord::KraftVersionRecord(_))
        ));
        let Payload::Membership(voters) = &old[2].payload else {
            panic!("not the voters: {}", old[2]);
        };
        assert_eq!(voters.voter_ids().collect::<Vec<_>>(), vec![1]);
        // Each start of a single node elects it anew.
        let elected = before.image.quorum().leader.expect("a leader").epoch as u64;
        assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new_committed(elected, 1)));
        assert_eq!(last.leader_id.term, elected);

        // The next term, led by node 1: its blank entry names it; a topic follows.
        let term = elected + 1;
        let vote = Vote::new_committed(term, 1);
        store.save_vote(&vote).await.unwrap();
        let blank = entry(term, end, Payload::LeaderChange(None));
        store
            .blocking_append(vec![blank, entry(term, end + 1, topic("orders", 7))])
            .await
            .unwrap();
        drop(store);

        let after = load(&dir).unwrap();
        assert_eq!(after.log_end_offset as u64, end + 2);
        assert!(after.image.topic("orders").is_some());
        assert_eq!(
            after.image.quorum().leader.map(|l| (l.leader_id, l.epoch)),
            Some((1, term as i32))
        );

        let mut store = LogStore::open(&dir, &config(), Recovery::Skip).unwrap();
        assert_eq!(store.read_vote().await.unwrap(), Some(vote));
        let new = store.try_get_log_entries(end..end + 2).await.unwrap();
        assert!(matches!(&new[0].payload, Payload::LeaderChange(Some(m)) if m.leader_id == 1));
        assert_eq!(new[1], entry(term, end + 1, topic("orders", 7)));

        // The state machine applies the whole log, snapshots it, and a new one starts there.
        let mut machine = StateMachine::open(&dir).unwrap();
        let all = store.try_get_log_entries(0..end + 2).await.unwrap();
        machine.apply(all).await.unwrap();
        let image = machine.image_handle();
        assert!(image.with_image(|i| i.topic("orders").is_some()));
        let snapshot = machine.get_snapshot_builder().await.build_snapshot().await.unwrap();
        assert_eq!(snapshot.meta.last_log_id.map(|id| id.index), Some(end + 1));
        assert_eq!(snapshot.meta.last_membership.log_id().map(|id| id.index), Some(2));
        let mut reopened = StateMachine::open(&dir).unwrap();
        assert_eq!(
            reopened.applied_state().await.unwrap(),
            (snapshot.meta.last_log_id, snapshot.meta.last_membership.clone())
        );
        // Every metadata record; the leader is the quorum's, which no snapshot holds.
        let records = |image: &crate::quorum::state_machine::ImageHandle| image.with_image(|i| i.records());
        assert_eq!(records(&reopened.image_handle()), records(&image));
        assert_eq!(
            reopened.get_current_snapshot().await.unwrap().map(|s| s.meta),
            Some(snapshot.meta)
        );
    }

    /// A log whose voters are more than this node (a Kafka quorum's, say) is refused at start,
    /// before anything is written: this quorum has no transport to reach the others.
    #[tokio::test]
    async fn several_voters_are_refused_and_nothing_is_written() {
        use std::collections::{BTreeMap, BTreeSet};

        use openraft::Membership;

        use crate::quorum::{Quorum, QuorumError};

        let root = tempfile::tempdir().unwrap();
        drop(MetadataStore::open(root.path(), &StoreSettings::for_tests()).unwrap());
        let dir = root.path().join(METADATA_DIR);
        let mut store = LogStore::open(&dir, &config(), Recovery::Skip).unwrap();
        let end = store.get_log_state().await.unwrap().last_log_id.unwrap();
        let term = end.leader_id.term + 1;
        store.save_vote(&Vote::new_committed(term, 1)).await.unwrap();
        let two = Membership::new(
            vec![BTreeSet::from([1, 2])],
            BTreeMap::<u64, crate::quorum::VoterNode>::new(),
        );
        store
            .blocking_append(vec![entry(term, end.index + 1, Payload::Membership(two))])
            .await
            .unwrap();
        drop(store);
        let files = || {
            let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .map(|p| {
                    (
                        p.file_name().unwrap().to_string_lossy().into_owned(),
                        std::fs::read(&p).unwrap(),
                    )
                })
                .collect();
            files.sort();
            files
        };
        let before = files();
        let refused = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || Quorum::start(&dir, 1, &config(), None).err()
        })
        .await
        .unwrap();
        assert!(matches!(refused, Some(QuorumError::SeveralVoters(2))), "{refused:?}");
        assert!(before == files(), "nothing written");
    }
}

/// A change's entries are made durable with its last one: the log store asks whether more of
/// the change are due after each append, and an entry refused is taken back.
#[test]
fn announced_entries_are_due_until_the_last_is_appended() {
    let announced = super::log_store::Announced::default();
    announced.announce(3);
    assert!(announced.withdraw(1), "two more are due");
    assert!(announced.withdraw(1), "one more is due");
    assert!(!announced.withdraw(1), "the last is appended: make them durable");
    assert!(
        !announced.withdraw(1),
        "nothing announced: every append is made durable"
    );
    announced.announce(2);
    assert!(!announced.withdraw(5), "more taken back than announced leaves none due");
}
