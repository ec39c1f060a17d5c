//! The `tidelog` command line.

mod acls;
mod admin;
mod bench;
mod client;
mod cluster;
mod console;
mod failure;
mod groups;
mod interrupt;
mod metrics;
mod output;
mod progress;
mod quorum;
mod quotas;
mod serve;
mod topics;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use failure::Failure;

#[derive(Parser)]
#[command(name = "tidelog", version, about = "A Kafka-compatible event-streaming broker")]
struct Cli {
    /// The broker that `topics`, `groups`, `produce`, `consume` and `bench produce|consume|latency`
    /// talk to: HOST:PORT, or several comma-separated. Accepted anywhere on the line.
    #[arg(
        short = 'b',
        long,
        global = true,
        env = client::BOOTSTRAP_ENV,
        default_value = client::DEFAULT_BOOTSTRAP,
        value_name = "HOST:PORT",
        // `bench`'s name for it before, kept working.
        alias = "bootstrap"
    )]
    bootstrap_server: String,
    /// A librdkafka property for every client this command makes, as kcat's `-X`:
    /// `-X security.protocol=ssl -X ssl.ca.location=ca.pem` to talk to an SSL listener
    /// (repeatable; what a command itself sets, such as `acks`, wins).
    #[arg(short = 'X', long = "client-property", global = true, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    client_properties: Vec<(String, String)>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker.
    Serve(ServeArgs),
    /// Format the log directories of a new node with a cluster id of your choice, as
    /// `kafka-storage.sh format --standalone` does (`serve` formats an empty one itself).
    Format(FormatArgs),
    /// List, describe, create, alter and delete topics of a running broker.
    Topics(topics::TopicsArgs),
    /// List consumer groups, or describe one: members, offsets, lag and partition owners.
    Groups(groups::GroupsArgs),
    /// List, set and delete users' SCRAM credentials (SASL/SCRAM-SHA-256 and -512).
    Users(users::UsersArgs),
    /// List, add and remove ACLs (with `authorizer.class.name` set on the broker).
    Acls(acls::AclsArgs),
    /// Describe and alter client quotas (byte rates by user, client id or both).
    Quotas(quotas::QuotasArgs),
    /// Describe the metadata quorum: its leader, epoch, high watermark and voters, as
    /// `kafka-metadata-quorum describe` does.
    Quorum(quorum::QuorumArgs),
    /// Describe the cluster: its controller, its brokers (fenced or not) and each
    /// partition's leader.
    Cluster(cluster::ClusterArgs),
    /// Send each line of standard input to a topic as a record.
    Produce(console::ProduceArgs),
    /// Print a topic's records, a line each.
    Consume(console::ConsumeArgs),
    /// Measure a broker's throughput, latency, memory and start times with librdkafka.
    Bench(bench::BenchArgs),
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// A server.properties file with Kafka's property names.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override a property: `--override log.retention.ms=60000` (repeatable, applied last).
    #[arg(long = "override", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    overrides: Vec<(String, String)>,
    /// Shortcut for `listeners`, e.g. `PLAINTEXT://127.0.0.1:9092` (port 0 picks a free port).
    #[arg(long)]
    listeners: Option<String>,
    /// Shortcut for `advertised.listeners`.
    #[arg(long)]
    advertised_listeners: Option<String>,
    /// Shortcut for `log.dirs`.
    #[arg(long)]
    log_dirs: Option<String>,
    /// Shortcut for `node.id`.
    #[arg(long)]
    node_id: Option<i32>,
}

#[derive(clap::Args)]
pub struct FormatArgs {
    /// The cluster id: a UUID in URL-safe base64 without padding, 22 characters, as
    /// `kafka-storage.sh random-uuid` prints one.
    #[arg(long, short = 't')]
    cluster_id: String,
    #[command(flatten)]
    broker: ServeArgs,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    let (k, v) = text.split_once('=').ok_or("expected KEY=VALUE")?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

/// What is logged without RUST_LOG: our INFO lines, and openraft's warnings only (its INFO
/// lines dump the whole Raft state at every start).
const DEFAULT_LOG_FILTER: &str = "info,openraft=warn";

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(usage) => return print_usage(usage),
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A log line that cannot be written (stderr closed: a pipe whose reader went away) is
        // dropped. Reporting it would print to that same stderr, which panics, and a broker
        // must not die, mid-write and without its clean shutdown, because its log output did.
        .log_internal_errors(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .init();
    let bootstrap = &cli.bootstrap_server;
    client::set_properties(cli.client_properties);
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).map_err(Failure::from),
        Command::Format(args) => serve::format(args).map_err(Failure::from),
        Command::Topics(args) => topics::run(args, bootstrap),
        Command::Groups(args) => groups::run(args, bootstrap),
        Command::Users(args) => users::run(args, bootstrap),
        Command::Acls(args) => acls::run(args, bootstrap),
        Command::Quotas(args) => quotas::run(args, bootstrap),
        Command::Quorum(args) => quorum::run(args, bootstrap),
        Command::Cluster(args) => cluster::run(args, bootstrap),
        Command::Produce(args) => console::produce(args, bootstrap).map_err(Failure::from),
        Command::Consume(args) => console::consume(args, bootstrap),
        Command::Bench(args) => bench::run(args, bootstrap),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

/// Prints clap's help, version or usage error (help and version to stdout) and returns its
/// exit status; a failed write of them is reported as any other.
fn print_usage(usage: clap::Error) -> ExitCode {
    match usage.print().map_err(Failure::of_output) {
        Ok(()) | Err(Failure::OutputClosed) => ExitCode::from(usage.exit_code() as u8),
        Err(failure) => failure.report(),
    }
}
