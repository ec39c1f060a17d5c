//! The `tidelog` command line.

mod bench;
mod client;
mod console;
mod groups;
mod serve;
mod topics;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tidelog", version, about = "A Kafka-compatible event-streaming broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the broker.
    Serve(ServeArgs),
    /// List, describe, create, alter and delete topics of a running broker.
    Topics(topics::TopicsArgs),
    /// List consumer groups, or describe one with its members, offsets and lag.
    Groups(groups::GroupsArgs),
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

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    let (k, v) = text.split_once('=').ok_or("expected KEY=VALUE")?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A log line that cannot be written (stderr closed: a pipe whose reader went away) is
        // dropped. Reporting it would print to that same stderr, which panics, and a broker
        // must not die, mid-write and without its clean shutdown, because its log output did.
        .log_internal_errors(false)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Topics(args) => topics::run(args),
        Command::Groups(args) => groups::run(args),
        Command::Produce(args) => console::produce(args),
        Command::Consume(args) => console::consume(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tidelog: {message}");
            ExitCode::FAILURE
        }
    }
}
