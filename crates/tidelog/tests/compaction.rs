//! Compaction through the real binary, with the cleaner looking every 200 ms: a compacted
//! topic written in many segments reads, with librdkafka from offset 0, as the latest record
//! of each key at its original offset below the cleaner's checkpoint and everything after
//! it, also after a kill -9 and a restart; tombstones go after `delete.retention.ms`; a
//! topic past `max.compaction.lag.ms` is cleaned however little is dirty, and the replaced
//! segments' files wait `file.delete.delay.ms` renamed `.deleted`.

mod common;

use common::clients::{new_topic, TestRecord};
use common::raw;
use common::{now_ms, wait_until, Broker};
use std::collections::BTreeMap;
use tidelog_protocol::records::Compression;
use tidelog_protocol::ErrorCode;

/// The cleaner looks every 200 ms instead of every 15 s.
const FAST_CLEANER: [&str; 2] = ["--override", "log.cleaner.backoff.ms=200"];
const RECORDS: usize = 300;
const KEYS: usize = 10;

/// The partition's entry in its log dir's `cleaner-offset-checkpoint`, if there is one.
fn cleaner_checkpoint(broker: &Broker, topic: &str) -> Option<i64> {
    let dir = broker.partition_dir(topic, 0);
    let text = std::fs::read_to_string(dir.parent()?.join("cleaner-offset-checkpoint")).ok()?;
    text.lines()
        .filter_map(|line| line.strip_prefix(&format!("{topic} 0 ")))
        .find_map(|offset| offset.parse().ok())
}

/// Reads the whole partition and checks it against what was sent: every record read is the
/// one sent at its offset; below `first_dirty` only the latest record of each key there is
/// left; from it on nothing is missing; and each key's last record is there.
fn assert_compacted(broker: &Broker, topic: &str, sent: &[TestRecord], first_dirty: i64) {
    let read = broker.read_partition(topic, 0, 0, sent.len() as i64);
    let mut latest_below = BTreeMap::new();
    for (offset, record) in sent.iter().enumerate().take(first_dirty as usize) {
        latest_below.insert(record.key.clone(), offset as i64);
    }
    let mut expected: Vec<i64> = latest_below.into_values().collect();
    expected.extend(first_dirty..sent.len() as i64);
    expected.sort_unstable();
    let offsets: Vec<i64> = read.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, expected, "offsets read with the cleaner at {first_dirty}");
    for message in &read {
        assert_eq!(
            message.as_sent().as_ref(),
            Some(&sent[message.offset as usize]),
            "offset {}",
            message.offset
        );
    }
}

#[test]
fn a_compacted_topic_keeps_the_latest_record_of_each_key_at_its_offset() {
    let mut broker = Broker::start(&FAST_CLEANER);
    broker.admin().create_ok(&[new_topic("table", 1, 1)
        .set("cleanup.policy", "compact")
        .set("segment.bytes", "1024")]);
    let now = now_ms();
    let sent: Vec<TestRecord> = (0..RECORDS)
        .map(|i| TestRecord {
            key: format!("key-{}", i % KEYS).into_bytes(),
            value: format!("value-{i}-{}", "v".repeat(40)).into_bytes(),
            headers: vec![("n".to_string(), Some(i.to_string().into_bytes()))],
            timestamp: now + i as i64,
        })
        .collect();
    let mut raw = broker.raw();
    for (i, batch) in sent.chunks(3).enumerate() {
        let codec = [Compression::None, Compression::Gzip, Compression::Zstd][i % 3];
        let response = raw.produce("table", 0, -1, raw::encode_batch(batch, codec));
        assert_eq!(ErrorCode(response.error_code), ErrorCode::NONE);
    }
    // Once everything below the active segment is clean, nothing dirty is left to clean.
    let active = *broker.segment_base_offsets("table", 0).last().unwrap();
    wait_until("the cleaner to reach the active segment", || {
        (cleaner_checkpoint(&broker, "table") == Some(active)).then_some(())
    });
    assert_compacted(&broker, "table", &sent, active);

    broker.kill9();
    broker.restart();
    assert_compacted(&broker, "table", &sent, active);
}

/// Produces one record per call, `None` for a tombstone.
fn produce_one(raw: &mut common::RawClient, topic: &str, key: &str, value: Option<&str>) {
    let mut builder = tidelog_protocol::records::RecordBatchBuilder::new(0);
    builder.append(now_ms(), Some(key.as_bytes()), value.map(str::as_bytes), &[]);
    let response = raw.produce(topic, 0, -1, builder.build().as_bytes().clone());
    assert_eq!(ErrorCode(response.error_code), ErrorCode::NONE);
}

#[test]
fn tombstones_stay_for_delete_retention_ms_after_their_first_cleaning_then_go() {
    let broker = Broker::start(&FAST_CLEANER);
    broker.admin().create_ok(&[new_topic("deletes", 1, 1)
        .set("cleanup.policy", "compact")
        .set("segment.bytes", "1024")
        .set("delete.retention.ms", "3000")]);
    let mut raw = broker.raw();
    let padding = "p".repeat(40);
    for i in 0..100 {
        produce_one(&mut raw, "deletes", &format!("key-{}", i % KEYS), Some(&padding));
    }
    // Half the keys deleted, then enough writes of the others to roll past the tombstones.
    for k in 0..KEYS / 2 {
        produce_one(&mut raw, "deletes", &format!("key-{k}"), None);
    }
    for i in 0..50 {
        produce_one(
            &mut raw,
            "deletes",
            &format!("key-{}", KEYS / 2 + i % (KEYS / 2)),
            Some(&padding),
        );
    }
    let end = 100 + KEYS as i64 / 2 + 50;
    let active = *broker.segment_base_offsets("deletes", 0).last().unwrap();
    assert!(
        active > 100 + KEYS as i64 / 2,
        "the tombstones are below the active segment"
    );
    let tombstones_below = |broker: &Broker| {
        let read = broker.read_partition("deletes", 0, 0, end);
        read.iter().filter(|m| m.offset < active && m.value.is_none()).count()
    };
    wait_until("the cleaner to reach the active segment", || {
        (cleaner_checkpoint(&broker, "deletes") == Some(active)).then_some(())
    });
    let cleaned_at = std::time::Instant::now();
    assert_eq!(tombstones_below(&broker), KEYS / 2, "kept after the first cleaning");
    wait_until("the tombstones to go", || {
        (tombstones_below(&broker) == 0).then_some(())
    });
    assert!(cleaned_at.elapsed() >= std::time::Duration::from_millis(2_000));
    // The live keys' latest records stay.
    let read = broker.read_partition("deletes", 0, 0, end);
    let live: std::collections::BTreeSet<Vec<u8>> = read.iter().filter_map(|m| m.key.clone()).collect();
    assert_eq!(live.len(), KEYS / 2, "{live:?}");
}

/// The names in the partition's directory that end in `.deleted`.
fn deleted_files(broker: &Broker, topic: &str) -> Vec<String> {
    let dir = broker.partition_dir(topic, 0);
    let names = std::fs::read_dir(dir).unwrap();
    let names = names.map(|e| e.unwrap().file_name().into_string().unwrap());
    names.filter(|name| name.ends_with(".deleted")).collect()
}

#[test]
fn past_max_compaction_lag_a_topic_is_cleaned_and_the_old_files_wait_file_delete_delay_ms() {
    let broker = Broker::start(&FAST_CLEANER);
    // A dirty ratio of 1 is never exceeded: only the lag makes the cleaning due.
    broker.admin().create_ok(&[new_topic("lagging", 1, 1)
        .set("cleanup.policy", "compact")
        .set("segment.bytes", "1024")
        .set("min.cleanable.dirty.ratio", "1")
        .set("max.compaction.lag.ms", "1000")
        .set("file.delete.delay.ms", "5000")]);
    let mut raw = broker.raw();
    let padding = "p".repeat(40);
    for i in 0..100 {
        produce_one(&mut raw, "lagging", &format!("key-{}", i % KEYS), Some(&padding));
    }
    let active = *broker.segment_base_offsets("lagging", 0).last().unwrap();
    wait_until("the cleaner to reach the active segment", || {
        (cleaner_checkpoint(&broker, "lagging") == Some(active)).then_some(())
    });
    let cleaned_at = std::time::Instant::now();
    assert!(
        !deleted_files(&broker, "lagging").is_empty(),
        "the replaced segments wait"
    );
    wait_until("the replaced segments' files to go", || {
        deleted_files(&broker, "lagging").is_empty().then_some(())
    });
    assert!(cleaned_at.elapsed() >= std::time::Duration::from_millis(3_000));
    let read = broker.read_partition("lagging", 0, 0, 100);
    assert!(read.len() < 100, "{} records read", read.len());
}
