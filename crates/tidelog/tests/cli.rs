//! The client commands of the `tidelog` binary (`topics`, `groups`, `produce`, `consume`)
//! against a real broker: what they print, what they change, and how they fail.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::clients::{assigned_partitions, close_consumers, SETTLE_TIMEOUT};
use common::Broker;
use rdkafka::consumer::Consumer;

/// What a run of the command printed, and whether it succeeded.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `tidelog <args> --bootstrap-server <broker>` with `stdin` as its standard input.
fn tidelog(broker: &Broker, args: &[&str], stdin: &str) -> Run {
    // The flag goes right after the command: `tidelog topics --bootstrap-server .. list`.
    let (command, rest) = args.split_at(1);
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidelog"))
        .args(command)
        .args(["--bootstrap-server", &broker.bootstrap()])
        .args(rest)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tidelog");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("wait for tidelog");
    Run {
        success: output.status.success(),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 output"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 errors"),
    }
}

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
         \tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n\
         \tTopic: orders\tPartition: 1\tLeader: 1\tReplicas: 1\tIsr: 1\n"
    );

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

    // Refusals: a clear message, a failed exit, nothing changed or created.
    let refused = fails(&broker, &["topics", "alter", "other", "--config", "retention.ms=-7"]);
    assert!(refused.contains("refused the change to topic other"), "{refused}");
    assert!(fails(&broker, &["topics", "describe", "nope"]).contains("topic nope does not exist"));
    let alter_missing = ["topics", "alter", "nope", "--delete-config", "retention.ms"];
    assert!(fails(&broker, &alter_missing).contains("topic nope does not exist"));
    assert!(fails(&broker, &["topics", "create", "orders"]).contains("already exists"));

    assert_eq!(
        ok(&broker, &["topics", "delete", "orders"], ""),
        "Deleted topic orders.\n"
    );
    assert_eq!(ok(&broker, &["topics", "list"], ""), "other\n");
}

#[test]
fn lines_are_produced_consumed_by_a_group_and_its_lag_described() {
    let broker = Broker::start(&["--override", "group.initial.rebalance.delay.ms=0"]);
    ok(&broker, &["topics", "create", "lines", "--partitions", "1"], "");
    let produce = ["produce", "lines", "--key-separator", ":"];
    assert_eq!(ok(&broker, &produce, "k1:first\nk2:second\nno key\n"), "");

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
         TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\n\
         lines\t0\t2\t3\t1\n"
    );
    // The group goes on from its commit; with nothing more to read, the timeout ends it.
    let consume = ["consume", "lines", "--group", "readers", "--timeout-ms", "5000"];
    assert_eq!(ok(&broker, &consume, ""), "no key\n");

    // A live member is shown with its client id and host.
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
    assert!(
        lines[1].starts_with("\tMember: rdkafka-") && lines[1].ends_with("\tClientId: rdkafka\tHost: /127.0.0.1"),
        "{described}"
    );
    close_consumers(vec![member], &[]);

    assert!(fails(&broker, &["consume", "nope", "--max-messages", "1"]).contains("topic nope does not exist"));
    assert!(fails(&broker, &["groups", "describe", "nobody"]).contains("group nobody does not exist"));
}
