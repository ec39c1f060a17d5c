//! The client commands of the `tidelog` binary (`topics`, `groups`, `produce`, `consume`,
//! `bench`) against a real broker: what they print, what they change, how they fail, and
//! how they end when interrupted or when their output goes away.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::cli::{tidelog, tidelog_command, Run, BOOTSTRAP_ENV};
use common::clients::{assigned_partitions, close_consumers, SETTLE_TIMEOUT};
use common::{send_signal, wait_until, wait_with_timeout, Broker};
use rdkafka::consumer::Consumer;
use tidelog_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use tidelog_protocol::{RequestBody, ResponseBody};

/// Safety net for a command to exit. Generous: a debug build on a busy two-core machine.
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Safety net for each line of a running command. Shorter than librdkafka's session
/// timeout (45 s): a group member that a killed consumer left behind would hold its
/// partitions that long, and the next consumer of the group would print nothing until
/// then.
const LINE_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs a command that must succeed; returns what it printed.
fn ok(broker: &Broker, args: &[&str], stdin: &str) -> String {
    let run = tidelog(broker, args, stdin);
    assert!(run.success, "tidelog {args:?} failed: {}", run.stderr);
    run.stdout
}

/// Runs a command that must fail; returns its error.
fn fails(broker: &Broker, args: &[&str]) -> String {
    let run = tidelog(broker, args, "");
    assert!(!run.success, "tidelog {args:?} succeeded: {}", run.stdout);
    run.stderr
}

#[test]
fn topics_are_created_described_altered_and_deleted() {
    let broker = Broker::start(&[]);
    let created = ok(
        &broker,
        &[
            "topics",
            "create",
            "orders",
            "--partitions",
            "2",
            "--config",
            "retention.ms=60000",
        ],
        "",
    );
    assert_eq!(created, "Created topic orders.\n");
    assert_eq!(ok(&broker, &["topics", "list"], ""), "orders\n");
    assert_eq!(
        ok(&broker, &["topics", "describe", "orders"], ""),
        "Topic: orders\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: retention.ms=60000\n\
         \tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\tSize: 0\n\
         \tTopic: orders\tPartition: 1\tLeader: 1\tReplicas: 1\tIsr: 1\tSize: 0\n"
    );

    // Each partition's replicas named, as kafka-topics' --replica-assignment takes them.
    let assigned = ["topics", "create", "placed", "--replica-assignment", "1,1,1"];
    assert_eq!(ok(&broker, &assigned, ""), "Created topic placed.\n");
    let described = ok(&broker, &["topics", "describe", "placed"], "");
    assert!(
        described.starts_with("Topic: placed\tPartitionCount: 3\tReplicationFactor: 1\t"),
        "{described}"
    );
    assert_eq!(
        fails(&broker, &["topics", "create", "nowhere", "--replica-assignment", "1:2"]),
        "tidelog: cannot create topic nowhere: The manual partition assignment includes broker 2, but no such \
         broker is registered. (INVALID_REPLICA_ASSIGNMENT)\n"
    );
    let both = [
        "topics",
        "create",
        "x",
        "--partitions",
        "2",
        "--replica-assignment",
        "1",
    ];
    assert!(fails(&broker, &both).contains("cannot be used with"));
    ok(&broker, &["topics", "delete", "placed"], "");

    // One config set, one put back to its default; the others stay.
    ok(
        &broker,
        &["topics", "create", "other", "--config", "segment.ms=3600000"],
        "",
    );
    let alter = [
        "topics",
        "alter",
        "other",
        "--config",
        "max.message.bytes=2048",
        "--config",
        "retention.ms=1000",
    ];
    assert_eq!(ok(&broker, &alter, ""), "Altered topic other.\n");
    let alter = ["topics", "alter", "other", "--delete-config", "retention.ms"];
    ok(&broker, &alter, "");
    let described = ok(&broker, &["topics", "describe", "other"], "");
    assert!(
        described.starts_with("Topic: other\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: max.message.bytes=2048,segment.ms=3600000\n"),
        "{described}"
    );

    // Refusals: the broker's reason, a failed exit, nothing changed or created.
    let refused = fails(&broker, &["topics", "alter", "other", "--config", "retention.ms=-7"]);
    assert_eq!(
        refused,
        "tidelog: cannot alter topic other: Invalid value -7 for configuration retention.ms: must be an \
         integer of at least -1 (INVALID_CONFIG)\n"
    );
    assert_eq!(
        fails(&broker, &["topics", "describe", "nope"]),
        "tidelog: topic nope does not exist\n"
    );
    let alter_missing = ["topics", "alter", "nope", "--delete-config", "retention.ms"];
    assert_eq!(
        fails(&broker, &alter_missing),
        "tidelog: cannot alter topic nope: This server does not host this topic: nope (UNKNOWN_TOPIC_OR_PARTITION)\n"
    );
    let described = ok(&broker, &["topics", "describe", "other"], "");
    assert!(
        described.contains("Configs: max.message.bytes=2048,segment.ms=3600000\n"),
        "{described}"
    );

    assert_eq!(
        ok(&broker, &["topics", "delete", "orders"], ""),
        "Deleted topic orders.\n"
    );
    assert_eq!(ok(&broker, &["topics", "list"], ""), "other\n");
}

/// `topics describe --http`: each partition of a compacted topic with the cleaner's view of
/// it, read from the broker's `/metrics`; nothing more without the flag or for a topic the
/// cleaner does not look at.
#[test]
fn topics_describe_shows_the_dirty_ratio_and_last_cleaning_of_compacted_partitions() {
    let broker = Broker::start(&["--override", "log.cleaner.backoff.ms=200"]);
    let compacted = ["cleanup.policy=compact", "segment.bytes=1024"];
    // Held: the ratio never exceeds 1, so the cleaner only looks.
    let held = [
        "--config",
        compacted[0],
        "--config",
        compacted[1],
        "--config",
        "min.cleanable.dirty.ratio=1",
    ];
    ok(&broker, &[&["topics", "create", "table"][..], &held].concat(), "");
    ok(&broker, &["topics", "create", "plain"], "");
    let mut raw = broker.raw();
    for i in 0..100 {
        let key = format!("key-{}", i % 10);
        let value = "v".repeat(40);
        let batch = common::raw::batch(common::now_ms(), &[(key.as_bytes(), value.as_bytes())]);
        for topic in ["table", "plain"] {
            assert_eq!(raw.produce(topic, 0, -1, batch.clone()).error_code, 0);
        }
    }
    let http = broker.http_addr().expect("an HTTP listener").to_string();
    let describe = |topic: &str| ok(&broker, &["topics", "describe", topic, "--http", &http], "");
    wait_until("the cleaner to look at the held topic", || {
        describe("table")
            .contains("\tDirtyRatio: 1.00\tLastCleaned: -\n")
            .then_some(())
    });
    ok(
        &broker,
        &["topics", "alter", "table", "--config", "min.cleanable.dirty.ratio=0.01"],
        "",
    );
    let described = wait_until("the cleaner to clean the topic", || {
        let described = describe("table");
        described
            .contains("\tDirtyRatio: 0.00\tLastCleaned: ")
            .then_some(described)
    });
    let ago: f64 = described
        .split("LastCleaned: ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix("s ago\n"))
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or_else(|| panic!("no time since the last cleaning in {described}"));
    assert!((0.0..60.0).contains(&ago), "{described}");
    assert!(!describe("plain").contains("DirtyRatio"), "not compacted, not cleaned");
    let without_http = ok(&broker, &["topics", "describe", "table"], "");
    assert!(!without_http.contains("DirtyRatio"), "{without_http}");
    let run = tidelog(&broker, &["topics", "describe", "table", "--http", "127.0.0.1:1"], "");
    assert!(
        !run.success && run.stderr.contains("cannot read http://127.0.0.1:1/metrics"),
        "{}",
        run.stderr
    );
}

#[test]
fn lines_are_produced_consumed_by_a_group_and_its_lag_described() {
    let broker = Broker::start(&["--override", "group.initial.rebalance.delay.ms=0"]);
    ok(&broker, &["topics", "create", "lines", "--partitions", "1"], "");
    let produce = ["produce", "lines", "--key-separator", ":"];
    assert_eq!(ok(&broker, &produce, "k1:first\nk2:second\nno key\n"), "");
    // The partition's size on disk, from DescribeLogDirs: the three records' batches.
    let described = ok(&broker, &["topics", "describe", "lines"], "");
    let size: u64 = described
        .split("Size: ")
        .nth(1)
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no size in {described}"));
    assert!((100..4096).contains(&size), "{described}");

    // Without a group: every partition from the start.
    let consume = [
        "consume",
        "lines",
        "--from-beginning",
        "--max-messages",
        "3",
        "--print-key",
    ];
    assert_eq!(ok(&broker, &consume, ""), "k1\tfirst\nk2\tsecond\n\tno key\n");

    // A group reads two, commits them, and its lag is the third.
    let consume = [
        "consume",
        "lines",
        "--group",
        "readers",
        "--from-beginning",
        "--max-messages",
        "2",
    ];
    assert_eq!(ok(&broker, &consume, ""), "first\nsecond\n");
    assert_eq!(ok(&broker, &["groups", "list"], ""), "readers\tEmpty\tconsumer\n");
    assert_eq!(
        ok(&broker, &["groups", "describe", "readers"], ""),
        "Group: readers\tState: Empty\tProtocol: \tMembers: 0\n\
         TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID\tHOST\tCLIENT-ID\n\
         lines\t0\t2\t3\t1\t-\t-\t-\n"
    );
    // The group goes on from its commit; with nothing more to read, the timeout ends it.
    let consume = ["consume", "lines", "--group", "readers", "--timeout-ms", "5000"];
    assert_eq!(ok(&broker, &consume, ""), "no key\n");

    // A live member is shown with its client id and host, and as the owner of its
    // partition, which has no commit yet.
    let member = broker.consumer("live");
    member.subscribe(&["lines"]).expect("subscribe");
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while assigned_partitions(&member).is_empty() {
        member.poll(Duration::from_millis(50));
        assert!(Instant::now() < deadline, "the member got no partition");
    }
    let described = ok(&broker, &["groups", "describe", "live"], "");
    let lines: Vec<&str> = described.lines().collect();
    assert_eq!(
        lines[0], "Group: live\tState: Stable\tProtocol: range\tMembers: 1",
        "{described}"
    );
    let member_id = lines[1]
        .strip_prefix("\tMember: ")
        .and_then(|rest| rest.strip_suffix("\tClientId: rdkafka\tHost: /127.0.0.1"))
        .unwrap_or_else(|| panic!("{described}"));
    assert!(member_id.starts_with("rdkafka-"), "{described}");
    assert_eq!(
        lines[2..],
        [
            "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID\tHOST\tCLIENT-ID".to_string(),
            format!("lines\t0\t-\t3\t-\t{member_id}\t/127.0.0.1\trdkafka")
        ],
        "{described}"
    );
    close_consumers(vec![member], &[]);

    for consume in [
        &["consume", "nope", "--max-messages", "1"][..],
        &["consume", "nope", "--group", "g", "--max-messages", "1"],
    ] {
        assert_eq!(fails(&broker, consume), "tidelog: topic nope does not exist\n");
    }
    assert_eq!(
        fails(&broker, &["groups", "describe", "nobody"]),
        "tidelog: cannot describe group nobody: Group nobody not found. (GROUP_ID_NOT_FOUND)\n"
    );
}

#[test]
fn refusals_carry_the_brokers_message() {
    let broker = Broker::start(&[]);
    let bad_value = ["topics", "create", "bad1", "--config", "retention.ms=abc"];
    assert_eq!(
        fails(&broker, &bad_value),
        "tidelog: cannot create topic bad1: Invalid value abc for configuration retention.ms: must be an integer \
         of at least -1 (INVALID_CONFIG)\n"
    );
    ok(&broker, &["topics", "create", "orders"], "");
    assert_eq!(
        fails(&broker, &["topics", "create", "orders"]),
        "tidelog: cannot create topic orders: Topic 'orders' already exists. (TOPIC_ALREADY_EXISTS)\n"
    );
    assert_eq!(ok(&broker, &["topics", "list"], ""), "orders\n");
}

#[test]
fn an_absent_broker_is_named_within_seconds() {
    // A port just freed: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let address = format!("127.0.0.1:{port}");
    for args in [
        &["topics", "list"][..],
        &["groups", "describe", "g"],
        &["consume", "orders", "--group", "g"],
        &["produce", "orders"],
    ] {
        let started = Instant::now();
        let run = Run::of(
            tidelog_command()
                .args(args)
                .args(["-b", &address])
                .output()
                .expect("run tidelog"),
        );
        assert!(!run.success, "{args:?}: {}", run.stdout);
        assert_eq!(
            run.stderr,
            format!("tidelog: cannot connect to the broker at {address}: Connection refused (os error 111)\n"),
            "{args:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn the_broker_address_is_taken_anywhere_on_the_line_and_from_the_environment() {
    let broker = Broker::start(&[]);
    let address = broker.bootstrap();
    let run = |args: &[&str], env: Option<&str>| {
        let mut command = tidelog_command();
        command.args(args);
        if let Some(bootstrap) = env {
            command.env(BOOTSTRAP_ENV, bootstrap);
        }
        let run = Run::of(command.output().expect("run tidelog"));
        assert!(run.success, "{args:?} failed: {}", run.stderr);
        run.stdout
    };
    let create = [
        "topics",
        "create",
        "orders",
        "--partitions",
        "2",
        "--bootstrap-server",
        &address,
    ];
    assert_eq!(run(&create, None), "Created topic orders.\n");
    assert_eq!(run(&["-b", &address, "topics", "list"], None), "orders\n");
    assert_eq!(
        run(&["topics", "--bootstrap-server", &address, "list"], None),
        "orders\n"
    );
    assert_eq!(run(&["topics", "list"], Some(&address)), "orders\n");
    // The flag wins over the environment.
    assert_eq!(
        run(&["topics", "list", "-b", &address], Some("127.0.0.1:1")),
        "orders\n"
    );
    // `bench` has the same flag; its old name stays as an alias.
    for flag in ["--bootstrap-server", "--bootstrap"] {
        let bench = [
            "bench",
            "produce",
            "--topic",
            "orders",
            "--records",
            "10",
            flag,
            &address,
        ];
        let printed = run(&bench, None);
        assert!(printed.contains("; 10 records in "), "{printed}");
    }
    let help = run(&["topics", "create", "--help"], None);
    assert!(
        help.contains("-b, --bootstrap-server <HOST:PORT>")
            && help.contains("[env: TIDELOG_BOOTSTRAP_SERVER=]")
            && help.contains("[default: localhost:9092]"),
        "{help}"
    );
}

#[test]
fn a_closed_or_full_standard_output_ends_the_command_without_a_panic() {
    let broker = Broker::start(&["--override", "group.initial.rebalance.delay.ms=0"]);
    ok(&broker, &["topics", "create", "lines"], "");
    ok(&broker, &["produce", "lines"], "one\ntwo\nthree\n");
    ok(
        &broker,
        &[
            "consume",
            "lines",
            "--group",
            "g",
            "--from-beginning",
            "--max-messages",
            "1",
        ],
        "",
    );
    let commands = [
        &["topics", "list"][..],
        &["topics", "describe", "lines"],
        &["groups", "list"],
        &["groups", "describe", "g"],
        &["consume", "lines", "--from-beginning", "--max-messages", "3"],
        &["topics", "--help"],
    ];
    for args in commands {
        let command = || {
            let mut command = tidelog_command();
            command.args(args).args(["-b", &broker.bootstrap()]);
            command
        };
        // A reader that went away: a quiet end, as a shell pipeline expects.
        let mut child = command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tidelog");
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("wait for tidelog");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            (output.status.code(), &*stderr),
            (Some(0), ""),
            "{args:?} into a closed pipe"
        );

        // A full disk: an error naming the cause.
        let full = File::options().write(true).open("/dev/full").expect("open /dev/full");
        let output = command().stdout(full).output().expect("run tidelog");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            (output.status.code(), &*stderr),
            (
                Some(1),
                "tidelog: cannot write to standard output: No space left on device (os error 28)\n"
            ),
            "{args:?} into /dev/full"
        );
    }
}

/// A `tidelog` command left running, its standard output read line by line as it comes.
struct Running {
    child: Child,
    lines: Receiver<String>,
    stderr: JoinHandle<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = tidelog_command()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tidelog");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Running { child, lines, stderr }
    }

    /// The next `count` lines, each within [`LINE_TIMEOUT`].
    fn lines(&self, count: usize) -> Vec<String> {
        (0..count)
            .map(|i| {
                self.lines
                    .recv_timeout(LINE_TIMEOUT)
                    .unwrap_or_else(|e| panic!("line {} of {count} did not come: {e}", i + 1))
            })
            .collect()
    }

    /// Sends `signal` and waits for the exit: see [`Running::exit_within`].
    fn stop(self, signal: libc::c_int) -> (ExitStatus, Vec<String>, String) {
        send_signal(&self.child, signal);
        self.exit_within(EXIT_TIMEOUT)
    }

    /// Waits for the exit, killing the command and failing the test after `timeout`;
    /// returns the status, the lines printed after those read, and stderr.
    fn exit_within(mut self, timeout: Duration) -> (ExitStatus, Vec<String>, String) {
        let status = wait_with_timeout(&mut self.child, timeout).unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!("tidelog did not exit within {timeout:?}")
        });
        let stderr = self.stderr.join().expect("the stderr reader");
        (status, self.lines.try_iter().collect(), stderr)
    }
}

/// The group's members and state, as DescribeGroups tells them.
fn group_members(broker: &Broker, group: &str) -> (usize, String) {
    let request = DescribeGroupsRequest {
        groups: vec![group.to_string()],
        ..Default::default()
    };
    match broker.raw().request(5, RequestBody::DescribeGroups(request)) {
        ResponseBody::DescribeGroups(response) => {
            let described = &response.groups[0];
            (described.members.len(), described.group_state.clone())
        }
        other => panic!("not a DescribeGroups response: {other:?}"),
    }
}

#[test]
fn an_interrupted_group_consumer_commits_what_it_printed_and_leaves() {
    let broker = Broker::start(&["--override", "group.initial.rebalance.delay.ms=0"]);
    ok(&broker, &["topics", "create", "lines"], "");
    ok(&broker, &["produce", "lines"], "r1\nr2\nr3\nr4\nr5\n");
    let consume = [
        "consume",
        "lines",
        "--group",
        "readers",
        "--from-beginning",
        "-b",
        &broker.bootstrap(),
    ];
    // Stopped by Ctrl-C, then by a SIGTERM, each time right after the records came: long
    // before librdkafka's periodic commit (every 5 s) would have committed them.
    let rounds = [
        (libc::SIGINT, vec!["r1", "r2", "r3", "r4", "r5"], None),
        (libc::SIGTERM, vec!["r6", "r7", "r8"], Some("r6\nr7\nr8\n")),
    ];
    let mut printed = 0;
    for (signal, records, more) in rounds {
        if let Some(more) = more {
            ok(&broker, &["produce", "lines"], more);
        }
        let consumer = Running::start(&consume);
        // A rerun goes on after what the last one printed, without waiting for a member it
        // left behind.
        assert_eq!(consumer.lines(records.len()), records);
        printed += records.len() as i64;
        let (status, after, stderr) = consumer.stop(signal);
        assert_eq!(status.code(), Some(0), "signal {signal}: {stderr}");
        assert_eq!((after, stderr), (vec![], String::new()), "signal {signal}");
        assert_eq!(
            broker.raw().committed_offsets("readers", false),
            [("lines".to_string(), 0, printed)],
            "signal {signal}"
        );
        assert_eq!(
            group_members(&broker, "readers"),
            (0, "Empty".to_string()),
            "signal {signal}"
        );
    }
}

/// The pids of the processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let entries = std::fs::read_dir("/proc").expect("list /proc");
    entries
        .filter_map(|entry| {
            let child: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            // After the command name, which may hold spaces: state, then the parent's pid.
            let parent: u32 = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            (parent == pid).then_some(child)
        })
        .collect()
}

/// The entries of `dir`.
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("list the work dir")
        .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn an_interrupted_benchmark_stops_its_broker_and_removes_its_files() {
    let work = tempfile::tempdir().expect("a work dir");
    let work_dir = work.path().to_str().expect("a UTF-8 path");
    // 5 GB to write: the run is still filling its log when the signal comes.
    let bench = Running::start(&[
        "bench",
        "restart",
        "--restart-gb",
        "5",
        "--restart-partitions",
        "4",
        "--work-dir",
        work_dir,
    ]);
    let broker = wait_until("the benchmark's broker to listen", || {
        let [broker] = children_of(bench.child.id())[..] else {
            return None;
        };
        let [run_dir] = &entries(work.path())[..] else {
            return None;
        };
        let log = std::fs::read_to_string(work.path().join(run_dir).join("restart.log")).ok()?;
        log.contains("listening").then_some(broker)
    });
    let (status, printed, stderr) = bench.stop(libc::SIGINT);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(printed.is_empty(), "{printed:?}");
    assert!(
        stderr.starts_with("tidelog: interrupted by SIGINT; the benchmark's brokers are stopped and ")
            && stderr.ends_with(" is removed\n"),
        "{stderr}"
    );
    let left_running = Path::new(&format!("/proc/{broker}")).exists();
    if left_running {
        // SAFETY: kill(2) of the benchmark's broker, which this test is failing for having
        // outlived it: no memory effects.
        unsafe { libc::kill(broker as libc::pid_t, libc::SIGKILL) };
    }
    assert!(!left_running, "broker {broker} still runs");
    assert_eq!(entries(work.path()), Vec::<String>::new());
}

#[test]
fn a_benchmark_refuses_to_start_without_the_space_it_writes() {
    let work = tempfile::tempdir().expect("a work dir");
    let work_dir = work.path().to_str().expect("a UTF-8 path");
    let runs = [
        (&["bench", "restart", "--restart-gb", "1e9"][..], "1050000000.0"),
        (&["bench", "all", "--duration", "1e9"], "2010752001.0"),
        (&["bench", "cleaner", "--cleaned-mb", "1e12"], "2100000005.0"),
    ];
    for (args, gb) in runs {
        // Killed after a few seconds: a run that started would write all it could.
        let run = Running::start(&[args, &["--work-dir", work_dir]].concat());
        let (status, printed, stderr) = run.exit_within(Duration::from_secs(10));
        assert_eq!((status.code(), printed), (Some(1), vec![]), "{args:?}: {stderr}");
        let expected = format!(" GB free and the run writes up to about {gb} GB: free some space, ");
        assert!(
            stderr.starts_with(&format!("tidelog: {work_dir} has ")) && stderr.contains(&expected),
            "{args:?}: {stderr}"
        );
        assert_eq!(entries(work.path()), Vec::<String>::new(), "{args:?}");
    }
}

/// `bench cleaner`, made small: its table has the cleaner's throughput alone and under
/// load, and the traffic's with the cleaner idle and busy; its files are gone afterwards.
#[test]
fn the_cleaner_benchmark_measures_cleanings_and_the_traffic_beside_them() {
    let work = tempfile::tempdir().expect("a work dir");
    let work_dir = work.path().to_str().expect("a UTF-8 path");
    let args = [
        "bench",
        "cleaner",
        "--cleaned-mb",
        "8",
        "--keys",
        "100",
        "--duration",
        "0.2",
    ];
    let run = Running::start(&[&args[..], &["--work-dir", work_dir]].concat());
    let (status, printed, stderr) = run.exit_within(EXIT_TIMEOUT);
    assert!(status.success(), "{stderr}");
    let rows = |what: &str| printed.iter().filter(|l| l.starts_with(&format!("| {what}"))).count();
    assert_eq!(rows("fill a compacted topic: 8 MB"), 2, "{printed:?}");
    assert_eq!(rows("log cleaner alone, one thread | "), 1, "{printed:?}");
    assert_eq!(rows("log cleaner during those runs"), 1, "{printed:?}");
    assert_eq!(rows("produce 1 KiB records, 8 partitions"), 2, "{printed:?}");
    assert_eq!(rows("consume them from the start"), 2, "{printed:?}");
    let cleaned: Vec<&String> = printed
        .iter()
        .filter(|l| l.contains(" MB/s of log cleaned ("))
        .collect();
    assert_eq!(cleaned.len(), 2, "{printed:?}");
    assert_eq!(entries(work.path()), Vec::<String>::new());
    let too_small = Running::start(&["bench", "cleaner", "--cleaned-mb", "1", "--work-dir", work_dir]);
    let (status, _, stderr) = too_small.exit_within(EXIT_TIMEOUT);
    assert!(
        !status.success() && stderr.contains("nothing would be cleaned"),
        "{stderr}"
    );
}

#[test]
fn undelivered_records_are_counted_with_the_brokers_reason() {
    let broker = Broker::start(&[]);
    ok(
        &broker,
        &["topics", "create", "small", "--config", "max.message.bytes=200"],
        "",
    );
    let big = "x".repeat(1000);
    let run = tidelog(&broker, &["produce", "small"], &format!("{big}\n{big}\n"));
    assert!(!run.success, "{}", run.stderr);
    assert!(
        run.stderr.contains("2 of 2 records were not delivered") && run.stderr.contains("too large"),
        "{}",
        run.stderr
    );
}

#[test]
fn records_are_produced_from_a_file_without_progress_when_stderr_is_not_a_terminal() {
    let broker = Broker::start(&[]);
    ok(&broker, &["topics", "create", "from-file", "--partitions", "1"], "");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.txt");
    let lines: String = (0..1000).map(|i| format!("k{i}:value {i}\n")).collect();
    std::fs::write(&path, &lines).unwrap();
    let file = path.to_str().unwrap();
    let run = tidelog(
        &broker,
        &["produce", "from-file", "--file", file, "--key-separator", ":"],
        "ignored: standard input is not read\n",
    );
    assert!(run.success, "{}", run.stderr);
    // Standard error is a pipe here: no bar, no control characters.
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
    let consume = [
        "consume",
        "from-file",
        "--from-beginning",
        "--max-messages",
        "1000",
        "--print-key",
    ];
    let expected: String = (0..1000).map(|i| format!("k{i}\tvalue {i}\n")).collect();
    assert_eq!(ok(&broker, &consume, ""), expected);

    let missing = dir.path().join("missing.txt");
    let error = fails(&broker, &["produce", "from-file", "--file", missing.to_str().unwrap()]);
    assert!(error.contains(&format!("cannot open {}", missing.display())), "{error}");
}
