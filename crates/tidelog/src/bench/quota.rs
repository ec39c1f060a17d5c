//! `tidelog bench quota`: a producer quota holding a fast producer, against a broker of its
//! own. A producer offers --offered-mb MB/s of 1 KiB records (acks=all) for --duration
//! seconds alone, for the unthrottled rate; then the same producer runs again beside one
//! whose client id has a `producer_byte_rate` quota of --quota-mb MB/s. The quota's floor:
//! the throttled producer's acknowledged rate within 10% of its quota, and the other one not
//! slowed (at least 90% of its rate alone).
//!
//! Rates count what was acknowledged within the run's duration; what is still queued then
//! is dropped. The quota's measure starts with its whole window (11 samples of 1 s) open,
//! so its first seconds may take a burst of up to 10 s worth, as with Kafka.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::producer::Producer;
use tidelog_broker::client_quotas::{CLIENT_ID as CLIENT_ID_ENTITY, PRODUCER_BYTE_RATE};
use tidelog_protocol::messages::alter_client_quotas_request::{
    AlterClientQuotasRequest, EntityData, EntryData, OpData,
};

use super::broker_process::BrokerProcess;
use super::{ensure_topic, payload, producer_as, send, warm_up, Acks, OwnBroker, Table, Throughput, LOG_OVERHEAD};
use crate::admin::{check, single, AdminClient};
use crate::failure::Failure;

#[derive(Args)]
pub struct QuotaArgs {
    /// The throttled client id's `producer_byte_rate`, in MB/s (10^6 bytes).
    #[arg(long, default_value_t = 1.0)]
    quota_mb: f64,
    /// What each producer tries to send, in MB/s.
    #[arg(long, default_value_t = 50.0)]
    offered_mb: f64,
    /// Seconds each run lasts.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    #[command(flatten)]
    broker: OwnBroker,
}

const TOPIC: &str = "quota-bench";
const THROTTLED: &str = "tidelog-bench-throttled";
const UNTHROTTLED: &str = "tidelog-bench-free";
const RECORD_SIZE: usize = 1024;
/// The producers' queue: a throttled producer fills it and then waits, as an application
/// would, instead of holding a run's worth of records in memory.
const QUEUE_RECORDS: &str = "20000";

pub fn run(args: &QuotaArgs) -> Result<(), Failure> {
    let exe = args.broker.exe()?;
    // The run alone, then the two producers side by side.
    let written = 3.0 * args.offered_mb * 1e6 * args.duration * LOG_OVERHEAD;
    args.broker
        .in_work_dir(written, |work| quota(args, &exe, work))?
        .print()
}

fn quota(args: &QuotaArgs, exe: &Path, work: &Path) -> Result<Table, String> {
    let (broker, _) = BrokerProcess::start(exe, &work.join("quota"))?;
    let bootstrap = broker.addr.to_string();
    ensure_topic(&bootstrap, TOPIC, 1)?;
    set_quota(&bootstrap, args.quota_mb * 1e6)?;
    let run = |client_id| paced(&bootstrap, client_id, args.offered_mb, args.duration);
    let mut table = Table::default();
    let alone = run(UNTHROTTLED)?;
    let offered = args.offered_mb;
    table.add(
        &format!("producer offering {offered} MB/s, no quota, alone"),
        &alone,
        None,
        None,
    );
    let (throttled, beside) = std::thread::scope(|s| {
        let throttled = s.spawn(|| run(THROTTLED));
        let beside = run(UNTHROTTLED);
        (
            throttled
                .join()
                .map_err(|_| "the throttled producer panicked".to_string()),
            beside,
        )
    });
    let (throttled, beside) = (throttled??, beside?);
    let quota = args.quota_mb;
    let held = (throttled.mb_per_s() - quota).abs() <= quota * 0.1;
    table.add(
        &format!("producer offering {offered} MB/s under a {quota} MB/s producer_byte_rate quota"),
        &throttled,
        Some((&format!("within 10% of {quota} MB/s"), held)),
        None,
    );
    let not_slowed = beside.mb_per_s() >= alone.mb_per_s() * 0.9;
    table.add(
        &format!("producer offering {offered} MB/s, no quota, beside it"),
        &beside,
        Some(("at least 90% of its rate alone", not_slowed)),
        None,
    );
    broker.stop()?;
    Ok(table)
}

/// Gives the throttled client id its quota, as `kafka-configs.sh --alter --entity-type
/// clients` would.
fn set_quota(bootstrap: &str, bytes_per_s: f64) -> Result<(), String> {
    let mut admin = AdminClient::connect(bootstrap)?;
    let response = admin.call(AlterClientQuotasRequest {
        entries: vec![EntryData {
            entity: vec![EntityData {
                entity_type: CLIENT_ID_ENTITY.to_string(),
                entity_name: Some(THROTTLED.to_string()),
                ..Default::default()
            }],
            ops: vec![OpData {
                key: PRODUCER_BYTE_RATE.to_string(),
                value: bytes_per_s.round(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    })?;
    let entry = single(response.entries)?;
    check(entry.error_code, entry.error_message.as_deref()).map_err(|e| format!("cannot set the quota: {e}"))
}

/// Offers `offered_mb` MB/s for `duration` seconds, each record at its due time (or as soon
/// as the producer's queue takes it); the rate acknowledged within the duration.
fn paced(bootstrap: &str, client_id: &str, offered_mb: f64, duration: f64) -> Result<Throughput, String> {
    let producer = producer_as(
        bootstrap,
        client_id,
        Acks::All,
        5,
        false,
        &[("queue.buffering.max.messages", QUEUE_RECORDS)],
    )?;
    let value = payload(RECORD_SIZE);
    warm_up(&producer, TOPIC, &value)?;
    let records_per_s = offered_mb * 1e6 / RECORD_SIZE as f64;
    let length = Duration::from_secs_f64(duration);
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < length {
        let due = started + Duration::from_secs_f64(sent as f64 / records_per_s);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        send(&producer, TOPIC, 0, &value)?;
        sent += 1;
    }
    // The warm-up's record was acknowledged before the clock started.
    let acknowledged = producer.context().delivered.load(Ordering::Relaxed) - 1;
    Ok(Throughput {
        records: acknowledged,
        bytes: acknowledged * RECORD_SIZE as u64,
        elapsed: started.elapsed(),
    })
}
