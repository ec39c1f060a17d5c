//! `tidelog bench cluster`: three combined nodes on loopback (each a broker and a voter of
//! the metadata quorum), against brokers of its own (issue 12's figures):
//!
//! - CreateTopics of one topic of `--topic-partitions` partitions, sent to the quorum's
//!   leader (the controller Metadata names), `--creates` times one after another: each
//!   answered after the quorum committed it; p50, p99 and the slowest;
//! - `--partitions` partitions over the three brokers (topics of 100), then Metadata for
//!   every topic, `--metadata-requests` times: p50 and p99, and each broker's memory;
//! - controller failover, `--failovers` times: kill -9 of the quorum's leader, then
//!   CreateTopics sent to a surviving node (which forwards it to the leader once there is
//!   one) until one succeeds, timed from the kill; the killed node is started again and
//!   waited for before the next.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Args;
use tidelog_protocol::messages::metadata_request::MetadataRequest;

use super::broker_process::{BrokerProcess, Rss};
use super::metadata::create_topics;
use super::{ms, OwnBroker};
use crate::admin::{check, AdminClient};
use crate::failure::Failure;
use crate::{interrupt, output};

/// A cluster id, as `kafka-storage.sh random-uuid` prints one.
const CLUSTER_ID: &str = "b3Wq3Wq3Wq3Wq3Wq3Wq3Ww";

/// The nodes of the cluster.
pub(super) const NODES: usize = 3;

/// Partitions of each topic that makes up `--partitions`.
const FILL_PARTITIONS: i32 = 100;

/// How long a node may take to be listed as an unfenced broker, and a failover to end.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Args)]
pub struct ClusterArgs {
    /// Timed CreateTopics requests of one topic each.
    #[arg(long, default_value_t = 200)]
    creates: usize,
    /// Partitions of each timed topic.
    #[arg(long, default_value_t = 3)]
    topic_partitions: i32,
    /// Partitions made over the three brokers (in topics of 100) before Metadata for every
    /// topic is timed.
    #[arg(long, default_value_t = 10_000)]
    partitions: i32,
    /// Timed Metadata requests for every topic.
    #[arg(long, default_value_t = 50)]
    metadata_requests: usize,
    /// Times the quorum's leader is killed.
    #[arg(long, default_value_t = 3)]
    failovers: usize,
    #[command(flatten)]
    own: OwnBroker,
}

pub fn run(args: &ClusterArgs) -> Result<(), Failure> {
    let exe = args.own.exe()?;
    let partitions = args.partitions.max(0) as f64 + (args.creates * args.topic_partitions.max(0) as usize) as f64;
    let report = args
        .own
        .in_work_dir(partitions * 32.0 * 1024.0, |work| measure(args, &exe, work))?;
    report.print()
}

/// One node: its data directory, its properties (as `--override`s) and, while it runs, its
/// process.
pub(super) struct Node {
    dir: std::path::PathBuf,
    listeners: String,
    overrides: Vec<String>,
    pub(super) process: Option<BrokerProcess>,
}

impl Node {
    pub(super) fn addr(&self) -> SocketAddr {
        self.process.as_ref().expect("a running node").addr
    }

    fn args(&self) -> Vec<&str> {
        self.overrides.iter().flat_map(|o| ["--override", o.as_str()]).collect()
    }
}

fn measure(args: &ClusterArgs, exe: &Path, work: &Path) -> Result<Report, String> {
    let mut nodes = format_nodes(exe, work)?;
    start(exe, &mut nodes, &[0, 1, 2])?;
    let mut report = Report::default();

    let controller = await_brokers(&nodes)?;
    let mut admin = AdminClient::connect(&nodes[controller].addr().to_string())?;
    for i in 0..args.creates {
        interrupt::check()?;
        report.creates.push(create_topics(
            &mut admin,
            &[format!("timed-{i}")],
            args.topic_partitions,
            &[],
        )?);
    }

    let fill: Vec<String> = (0..args.partitions / FILL_PARTITIONS)
        .map(|i| format!("fill-{i}"))
        .collect();
    for batch in fill.chunks(10) {
        interrupt::check()?;
        create_topics(&mut admin, batch, FILL_PARTITIONS, &[])?;
    }
    report.partitions = fill.len() as i32 * FILL_PARTITIONS + args.creates as i32 * args.topic_partitions;
    // Every node has made its partitions' logs before Metadata is timed.
    std::thread::sleep(Duration::from_secs(1));
    for _ in 0..args.metadata_requests {
        interrupt::check()?;
        let started = Instant::now();
        let response = admin.call(MetadataRequest {
            topics: None,
            allow_auto_topic_creation: false,
            ..Default::default()
        })?;
        report.metadata.push(started.elapsed());
        check(response.error_code, None)?;
    }
    for node in &nodes {
        report.rss.push(node.process.as_ref().expect("running").rss()?);
    }
    drop(admin);

    let mut leader = controller;
    for failover in 0..args.failovers {
        interrupt::check()?;
        nodes[leader].process.take().expect("running").kill()?;
        let killed = Instant::now();
        let survivor = (leader + 1) % NODES;
        let topic = format!("after-failover-{failover}");
        loop {
            if killed.elapsed() > SETTLE_TIMEOUT {
                return Err(format!(
                    "no CreateTopics succeeded within {SETTLE_TIMEOUT:?} of the kill"
                ));
            }
            interrupt::check()?;
            let created = AdminClient::connect(&nodes[survivor].addr().to_string())
                .and_then(|mut admin| create_topics(&mut admin, std::slice::from_ref(&topic), 1, &[]));
            if created.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        report.failovers.push(killed.elapsed());
        start(exe, &mut nodes, &[leader])?;
        leader = await_brokers(&nodes)?;
    }
    for node in &mut nodes {
        if let Some(process) = node.process.take() {
            process.stop()?;
        }
    }
    Ok(report)
}

/// Formats three data directories for one cluster, each node's controller listener on a
/// free loopback port.
pub(super) fn format_nodes(exe: &Path, work: &Path) -> Result<Vec<Node>, String> {
    let ports: Vec<u16> = {
        let sockets = (0..NODES)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("no free port: {e}"))?;
        sockets
            .iter()
            .map(|s| s.local_addr().map(|a| a.port()))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?
    };
    let voters: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1))
        .collect();
    let mut nodes = Vec::with_capacity(NODES);
    for (i, port) in ports.iter().enumerate() {
        let node = Node {
            dir: work.join(format!("node{}", i + 1)),
            listeners: format!("PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{port}"),
            overrides: vec![
                "process.roles=broker,controller".into(),
                format!("node.id={}", i + 1),
                "controller.listener.names=CONTROLLER".into(),
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT".into(),
                format!("controller.quorum.voters={}", voters.join(",")),
            ],
            process: None,
        };
        let formatted = Command::new(exe)
            .args([
                "format",
                "--cluster-id",
                CLUSTER_ID,
                "--listeners",
                &node.listeners,
                "--log-dirs",
            ])
            .arg(&node.dir)
            .args(node.args())
            .output()
            .map_err(|e| format!("cannot run {} format: {e}", exe.display()))?;
        if !formatted.status.success() {
            return Err(format!("format: {}", String::from_utf8_lossy(&formatted.stderr)));
        }
        nodes.push(node);
    }
    Ok(nodes)
}

/// Starts `which` nodes together (each waits for the quorum) from this thread.
pub(super) fn start(exe: &Path, nodes: &mut [Node], which: &[usize]) -> Result<(), String> {
    let launched = which
        .iter()
        .map(|&i| BrokerProcess::launch(exe, &nodes[i].dir, &nodes[i].listeners, &nodes[i].args()))
        .collect::<Result<Vec<_>, _>>()?;
    for (&i, launched) in which.iter().zip(launched) {
        nodes[i].process = Some(launched.ready()?.0);
    }
    Ok(())
}

/// Waits until a node lists the three brokers, and returns the controller it names (the
/// quorum's leader), as an index into `nodes`.
pub(super) fn await_brokers(nodes: &[Node]) -> Result<usize, String> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        interrupt::check()?;
        let mut admin = AdminClient::connect(&nodes[0].addr().to_string())?;
        let response = admin.call(MetadataRequest {
            topics: Some(Vec::new()),
            allow_auto_topic_creation: false,
            ..Default::default()
        })?;
        let controller = usize::try_from(response.controller_id - 1).ok().filter(|&i| i < NODES);
        if let (NODES, Some(controller)) = (response.brokers.len(), controller) {
            return Ok(controller);
        }
        if Instant::now() > deadline {
            return Err(format!("the three brokers were not listed within {SETTLE_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Default)]
struct Report {
    creates: Vec<Duration>,
    partitions: i32,
    metadata: Vec<Duration>,
    rss: Vec<Rss>,
    failovers: Vec<Duration>,
}

impl Report {
    fn print(&self) -> Result<(), Failure> {
        let percentiles = |times: &[Duration]| {
            let mut sorted = times.to_vec();
            sorted.sort_unstable();
            let at = |q: f64| {
                sorted
                    .get(((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1))
                    .copied()
            };
            let show = |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{:.1}", ms(d)));
            format!(
                "p50 {} ms, p99 {} ms, max {} ms ({} runs)",
                show(at(0.5)),
                show(at(0.99)),
                show(at(1.0)),
                sorted.len()
            )
        };
        output::line(format_args!(
            "CreateTopics of one topic, to the quorum's leader: {}",
            percentiles(&self.creates)
        ))?;
        output::line(format_args!(
            "Metadata for every topic, {} partitions over 3 brokers: {}",
            self.partitions,
            percentiles(&self.metadata)
        ))?;
        for (i, rss) in self.rss.iter().enumerate() {
            output::line(format_args!("node {} memory: {rss}", i + 1))?;
        }
        let each: Vec<String> = self
            .failovers
            .iter()
            .map(|t| format!("{:.2}", t.as_secs_f64()))
            .collect();
        output::line(format_args!(
            "controller failover, kill -9 of the quorum's leader to a CreateTopics answered: {} s",
            each.join(", ")
        ))?;
        Ok(())
    }
}
