//! `tidelog bench replication`: issue 13's figures, on brokers of its own with their
//! default settings:
//!
//! - acks=all produce of 1 KiB records to 8 partitions for `--duration`, and the latency
//!   run (`--latency-rate` records a second), on one node alone and on three combined nodes
//!   on loopback (as `bench cluster` makes them) with three replicas and
//!   `min.insync.replicas=2`;
//! - partition failover, `--failovers` times: kill -9 of the leader of a partition of three
//!   replicas, and the time from the kill to the acknowledgement of a record an idempotent
//!   acks=all librdkafka producer sent right after it (which the new leader takes, once the
//!   controller has fenced the old one and librdkafka has found the new one). In turn the
//!   leader of a partition led by the quorum's leader (whose failover waits for a new one
//!   too) and of one led by another node, where the partitions' leaders allow. The killed
//!   node is started again, and caught up, before the next.

use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::producer::Producer;

use super::broker_process::BrokerProcess;
use super::cluster::{self, Node, NODES};
use super::{latency, produce, producer_as, send, warm_up, Acks, Amount, Latencies, Load, OwnBroker, Throughput};
use super::{CLIENT_ID, RECORD_SIZE};
use crate::admin::AdminClient;
use crate::failure::Failure;
use crate::{interrupt, output, topics};

/// Partitions of the produce and latency runs' topics.
const PARTITIONS: i32 = 8;

/// How long a failover, or a restarted replica's catching up, may take.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Args)]
pub struct ReplicationArgs {
    /// Seconds each produce and latency run lasts.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Records per second of the latency runs.
    #[arg(long, default_value_t = 10_000)]
    latency_rate: u32,
    /// Times a partition's leader is killed.
    #[arg(long, default_value_t = 5)]
    failovers: usize,
    /// A librdkafka setting of the failover run's producer, as KEY=VALUE (repeatable): to
    /// see how much of a failover is the client's, e.g. `retry.backoff.max.ms=250`.
    #[arg(long = "producer-setting", value_name = "KEY=VALUE")]
    producer_settings: Vec<String>,
    #[command(flatten)]
    own: OwnBroker,
}

pub fn run(args: &ReplicationArgs) -> Result<(), Failure> {
    let exe = args.own.exe()?;
    // Two produce runs at up to 500 MB/s, one of them written three times.
    let bytes = 4.0 * 500e6 * args.duration;
    let report = args.own.in_work_dir(bytes, |work| {
        let single = on_one_node(args, &exe, work)?;
        let (replicated, failovers) = on_three_nodes(args, &exe, work)?;
        Ok(Report {
            single,
            replicated,
            failovers,
        })
    })?;
    report.print()
}

/// The produce and latency runs on an acks=all topic.
struct Runs {
    throughput: Throughput,
    latency: Latencies,
}

fn runs(bootstrap: &str, args: &ReplicationArgs, admin: &mut AdminClient, replicas: i16) -> Result<Runs, String> {
    let load = Load {
        partitions: PARTITIONS,
        record_size: RECORD_SIZE,
        linger_ms: 5,
    };
    let configs = [("min.insync.replicas".to_string(), replicas.min(2).to_string())];
    for topic in ["throughput", "latency"] {
        topics::create(admin, topic, PARTITIONS, replicas, &configs)?;
    }
    let amount = Amount::Duration(Duration::from_secs_f64(args.duration));
    Ok(Runs {
        throughput: produce(bootstrap, "throughput", &load, Acks::All, amount)?,
        latency: latency(bootstrap, "latency", &load, args.latency_rate, args.duration)?,
    })
}

fn on_one_node(args: &ReplicationArgs, exe: &std::path::Path, work: &std::path::Path) -> Result<Runs, String> {
    let (broker, _) = BrokerProcess::start(exe, &work.join("single"))?;
    let bootstrap = broker.addr.to_string();
    let measured = runs(&bootstrap, args, &mut AdminClient::connect(&bootstrap)?, 1)?;
    broker.stop()?;
    Ok(measured)
}

/// One failover: how long from the kill to the acknowledgement, and whether the node
/// killed led the metadata quorum too (its failover then waits for a new quorum leader).
struct Failover {
    took: Duration,
    /// When a surviving node's Metadata first named the new leader: the broker's share.
    elected: Duration,
    controller_too: bool,
}

fn on_three_nodes(
    args: &ReplicationArgs,
    exe: &std::path::Path,
    work: &std::path::Path,
) -> Result<(Runs, Vec<Failover>), String> {
    let mut nodes = cluster::format_nodes(exe, work)?;
    cluster::start(exe, &mut nodes, &[0, 1, 2])?;
    let controller = cluster::await_brokers(&nodes)?;
    let bootstrap: Vec<String> = nodes.iter().map(|n| n.addr().to_string()).collect();
    let bootstrap = bootstrap.join(",");
    let mut admin = AdminClient::connect(&nodes[controller].addr().to_string())?;
    let measured = runs(&bootstrap, args, &mut admin, NODES as i16)?;

    let topic = "failover";
    let configs = [("min.insync.replicas".to_string(), "2".to_string())];
    topics::create(&mut admin, topic, NODES as i32, NODES as i16, &configs)?;
    drop(admin);
    let mut settings = vec![("enable.idempotence", "true")];
    for setting in &args.producer_settings {
        let (key, value) = setting
            .split_once('=')
            .ok_or_else(|| format!("--producer-setting {setting}: expected KEY=VALUE"))?;
        settings.push((key, value));
    }
    let producer = producer_as(&bootstrap, CLIENT_ID, Acks::All, 0, false, &settings)?;
    let value = super::payload(RECORD_SIZE);
    warm_up(&producer, topic, &value)?;
    let mut sent = 1;
    let mut failovers = Vec::new();
    for failover in 0..args.failovers {
        interrupt::check()?;
        let (leaders, controller) = in_sync(&nodes, topic)?;
        let controller_too = failover % 2 == 0;
        let (partition, leader) = leaders
            .iter()
            .enumerate()
            .find(|(_, &leader)| (leader == controller) == controller_too)
            .unwrap_or((0, &leaders[0]));
        let leader = *leader;
        nodes[leader].process.take().expect("running").kill()?;
        let killed = Instant::now();
        send(&producer, topic, partition as i32, &value)?;
        sent += 1;
        let survivor = nodes[(leader + 1) % NODES].addr().to_string();
        let elected = std::thread::spawn(move || new_leader_named(&survivor, topic, partition as i32, leader, killed));
        let acknowledged = producer.context().wait_for(sent, SETTLE_TIMEOUT)?;
        let elected = elected
            .join()
            .map_err(|_| "the Metadata poller panicked".to_string())??;
        failovers.push(Failover {
            took: acknowledged - killed,
            elected,
            controller_too: leader == controller,
        });
        cluster::start(exe, &mut nodes, &[leader])?;
    }
    for node in &mut nodes {
        if let Some(process) = node.process.take() {
            process.stop()?;
        }
    }
    Ok((measured, failovers))
}

/// How long after `killed` the node at `survivor` first names a leader of `partition` of
/// `topic` other than node index `old` in its Metadata (asked every 10 ms).
fn new_leader_named(
    survivor: &str,
    topic: &str,
    partition: i32,
    old: usize,
    killed: Instant,
) -> Result<Duration, String> {
    while killed.elapsed() < SETTLE_TIMEOUT {
        let named = AdminClient::connect(survivor)
            .and_then(|mut admin| admin.existing_topic(topic))
            .ok()
            .and_then(|t| t.partitions.into_iter().find(|p| p.partition_index == partition))
            .map(|p| p.leader_id);
        if named.is_some_and(|id| id > 0 && id as usize - 1 != old) {
            return Ok(killed.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!(
        "no new leader of {topic}-{partition} within {SETTLE_TIMEOUT:?}"
    ))
}

/// Waits until every partition of `topic` has all three replicas in sync, and returns
/// their leaders by partition and the controller, as indexes into `nodes`.
fn in_sync(nodes: &[Node], topic: &str) -> Result<(Vec<usize>, usize), String> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        interrupt::check()?;
        let controller = cluster::await_brokers(nodes)?;
        let mut partitions = AdminClient::connect(&nodes[controller].addr().to_string())?
            .existing_topic(topic)?
            .partitions;
        partitions.sort_by_key(|p| p.partition_index);
        if partitions.iter().all(|p| p.isr_nodes.len() == NODES && p.leader_id > 0) {
            let leaders = partitions.iter().map(|p| p.leader_id as usize - 1).collect();
            return Ok((leaders, controller));
        }
        if Instant::now() > deadline {
            return Err(format!("{topic} not back in sync within {SETTLE_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Report {
    single: Runs,
    replicated: Runs,
    failovers: Vec<Failover>,
}

impl Report {
    fn print(&self) -> Result<(), Failure> {
        for (what, runs) in [
            ("one node", &self.single),
            ("three nodes, 3 replicas, min.insync.replicas=2", &self.replicated),
        ] {
            output::line(format_args!(
                "produce 1 KiB records, {PARTITIONS} partitions, acks=all, {what}: {}",
                runs.throughput
            ))?;
            output::line(format_args!("latency, acks=all, {what}: {}", runs.latency))?;
        }
        let each: Vec<String> = self
            .failovers
            .iter()
            .map(|f| {
                let controller = if f.controller_too { ", quorum leader too" } else { "" };
                format!(
                    "{:.2} s (leader named after {:.2} s){controller}",
                    f.took.as_secs_f64(),
                    f.elected.as_secs_f64()
                )
            })
            .collect();
        output::line(format_args!(
            "partition failover, kill -9 of its leader to the first record acknowledged: {}",
            each.join(", ")
        ))?;
        Ok(())
    }
}
