//! `tidelog bench quota`: a producer quota holding a fast producer, against a broker of its
//! own. A producer offers --offered-mb MB/s of 1 KiB records (acks=all) alone, for the
//! unthrottled rate; then the same producer runs again beside one whose client id has a
//! `producer_byte_rate` quota of --quota-mb MB/s. The quota's floor: the throttled
//! producer's acknowledged rate over --duration seconds within 10% of its quota, and the
//! other one not slowed (at least 90% of its rate alone).
//!
//! A quota starts with its whole window open, as Kafka's: a rate is taken over at least
//! `quota.window.num - 1` windows (10 s), so a new client may send that span's worth at
//! once, and that first sample makes room again when it expires 11 s later. So each run
//! lasts --warm-up seconds (the quota's window span) more than --duration, and the rates
//! are measured after it; the throttled producer's rate over its first --duration seconds,
//! burst included, is shown too. Rates count what was acknowledged; what is still queued
//! when a run ends is dropped. --quota-window-num sets the broker's `quota.window.num`:
//! fewer samples, smaller bursts (the warm-up follows it).

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
    /// Seconds each rate is measured over.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Seconds each run lasts before its rate is measured; by default the quota's window
    /// span (`quota.window.num` × `quota.window.size.seconds` of 1 s).
    #[arg(long)]
    warm_up: Option<f64>,
    /// The broker's `quota.window.num` (Kafka's default: 11 samples of a second).
    #[arg(long, default_value_t = 11)]
    quota_window_num: u32,
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
    let written = 3.0 * args.offered_mb * 1e6 * (args.warm_up() + args.duration) * LOG_OVERHEAD;
    args.broker
        .in_work_dir(written, |work| quota(args, &exe, work))?
        .print()
}

impl QuotaArgs {
    fn warm_up(&self) -> f64 {
        self.warm_up.unwrap_or(f64::from(self.quota_window_num))
    }
}

fn quota(args: &QuotaArgs, exe: &Path, work: &Path) -> Result<Table, String> {
    let window_num = format!("quota.window.num={}", args.quota_window_num);
    let (broker, _) = BrokerProcess::start_with(exe, &work.join("quota"), &["--override", &window_num])?;
    let bootstrap = broker.addr.to_string();
    ensure_topic(&bootstrap, TOPIC, 1)?;
    set_quota(&bootstrap, args.quota_mb * 1e6)?;
    let run = |client_id| paced(&bootstrap, client_id, args);
    let mut table = Table::default();
    let offered = args.offered_mb;
    let alone = run(UNTHROTTLED)?.measured();
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
    let (throttled, beside) = (throttled??, beside?.measured());
    let quota = args.quota_mb;
    table.add(
        &format!(
            "producer offering {offered} MB/s under a {quota} MB/s producer_byte_rate quota, its first {} s",
            args.duration
        ),
        &throttled.first(),
        None,
        None,
    );
    let held = throttled.measured();
    let within = (held.mb_per_s() - quota).abs() <= quota * 0.1;
    table.add(
        &format!(
            "producer offering {offered} MB/s under a {quota} MB/s producer_byte_rate quota, after {} s",
            args.warm_up()
        ),
        &held,
        Some((&format!("within 10% of {quota} MB/s"), within)),
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

/// Records acknowledged by a run at its marks: the warm-up's end, the first --duration
/// seconds' end, and its end.
struct Marks {
    started: Instant,
    warm_up: (Instant, u64),
    first: (Instant, u64),
    end: (Instant, u64),
}

impl Marks {
    /// After the warm-up.
    fn measured(&self) -> Throughput {
        between(self.warm_up, self.end)
    }

    /// The first --duration seconds.
    fn first(&self) -> Throughput {
        between((self.started, 0), self.first)
    }
}

fn between((from, from_records): (Instant, u64), (to, to_records): (Instant, u64)) -> Throughput {
    let records = to_records.saturating_sub(from_records);
    Throughput {
        records,
        bytes: records * RECORD_SIZE as u64,
        elapsed: to.saturating_duration_since(from),
    }
}

/// Offers --offered-mb MB/s for --warm-up plus --duration seconds, each record at its due
/// time (or as soon as the producer's queue takes it).
fn paced(bootstrap: &str, client_id: &str, args: &QuotaArgs) -> Result<Marks, String> {
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
    // The warm-up's record was acknowledged before the clock started.
    let acknowledged = || (Instant::now(), producer.context().delivered.load(Ordering::Relaxed) - 1);
    let records_per_s = args.offered_mb * 1e6 / RECORD_SIZE as f64;
    let warm = Duration::from_secs_f64(args.warm_up());
    let first = Duration::from_secs_f64(args.duration);
    let end = warm + first;
    let started = Instant::now();
    let (mut at_warm_up, mut at_first) = (None, None);
    let mut sent = 0u64;
    while started.elapsed() < end {
        let due = started + Duration::from_secs_f64(sent as f64 / records_per_s);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        send(&producer, TOPIC, 0, &value)?;
        sent += 1;
        if at_warm_up.is_none() && started.elapsed() >= warm {
            at_warm_up = Some(acknowledged());
        }
        if at_first.is_none() && started.elapsed() >= first {
            at_first = Some(acknowledged());
        }
    }
    let end = acknowledged();
    Ok(Marks {
        started,
        warm_up: at_warm_up.unwrap_or(end),
        first: at_first.unwrap_or(end),
        end,
    })
}
