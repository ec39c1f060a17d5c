//! `tidelog serve`: load the configuration, open the broker, serve until SIGINT/SIGTERM,
//! then shut down cleanly.

use std::time::Instant;

use tidelog_broker::http::{self, Readiness};
use tidelog_broker::{Broker, BrokerConfig, Server};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::{FormatArgs, ServeArgs};

pub fn run(args: ServeArgs) -> Result<(), String> {
    let started = Instant::now();
    keep_freed_buffers();
    let config = load_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let (listeners, config) = Server::bind_listeners(config)
            .await
            .map_err(|e| format!("cannot listen: {e}"))?;
        // HTTP answers /health/live while the logs recover.
        let http_listeners = http::bind(&config.http_listeners, config.http_tls.as_ref())
            .await
            .map_err(|e| format!("cannot listen for HTTP: {e}"))?;
        if config.listeners.iter().any(|l| l.is_sasl()) {
            for addr in http_listeners.iter().filter_map(|l| l.clear_text_beyond_loopback()) {
                warn!(http_addr = %addr,
                    "the console asks SASL users for their passwords over plain HTTP reachable beyond this host: serve it on https:// (docs/SECURITY.md)");
            }
        }
        let (stop, stopped) = watch::channel(false);
        let readiness = Readiness::default();
        http::spawn(http_listeners, readiness.clone(), stopped.clone());
        let broker = Broker::open(config).map_err(|e| e.to_string())?;
        let server = Server::new(listeners, broker.clone());
        let addrs = server.local_addrs().map_err(|e| e.to_string())?;
        // `addr` is the first listener's, which tests and scripts read; `listeners` all.
        let addr = addrs[0].1;
        let listeners: Vec<String> = addrs.iter().map(|(name, addr)| format!("{name}://{addr}")).collect();
        // Handlers in place before anyone can know the broker is up: a SIGTERM sent as soon
        // as the listening line appears must stop it cleanly, not kill it.
        let signals = Signals::register().map_err(|e| format!("cannot handle signals: {e}"))?;
        // Ready before the listening line too: whoever waits for that line (tests, scripts)
        // must find /health/ready and the console answering, not 503. The Kafka listener
        // is bound: connections made meanwhile wait in its backlog for `server.run`.
        readiness.ready(broker.clone());
        info!(%addr, listeners = listeners.join(","), startup_ms = started.elapsed().as_millis() as u64, "listening");
        let background = tokio::spawn(broker.clone().run_background_tasks(stopped.clone()));
        let stopping = broker.clone();
        tokio::spawn(async move {
            signals.wait().await;
            info!("shutdown requested");
            tidelog_broker::cluster::controlled_shutdown(stopping).await;
            let _ = stop.send(true);
        });
        server.run(stopped).await;
        // Nothing appends once the connections have drained and the periodic work stopped.
        // A panicked periodic task is logged; the logs still close cleanly.
        if let Err(error) = background.await {
            error!(%error, "the periodic tasks ended abnormally");
        }
        tokio::task::spawn_blocking(move || broker.shutdown())
            .await
            .map_err(|e| e.to_string())?;
        info!("stopped");
        Ok(())
    })
}

/// Fetches read each partition's records into a fresh buffer of up to a MiB, and produce
/// frames arrive in buffers as large; they are freed once the response is written. glibc
/// gives freed memory back to the kernel as soon as more than about 2 MiB sits free at the
/// top of a heap, so every fetch took fresh pages: page faults and zeroing were two thirds
/// of the broker's CPU time while consuming (docs/PERFORMANCE.md). Buffers below 32 MiB now
/// come from the heap, which keeps up to 32 MiB free for reuse.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_buffers() {
    const KEEP: libc::c_int = 32 << 20;
    // SAFETY: mallopt only sets allocator parameters; it runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, KEEP);
        libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_buffers() {}

/// SIGINT and SIGTERM, each of which asks for a clean shutdown.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    /// Registers the handlers now (tokio's `ctrl_c()` would only at its first poll).
    fn register() -> std::io::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// The configuration `args` give (a file, overrides, shortcuts), with what it names but
/// does not apply logged.
pub fn load_config(args: &ServeArgs) -> Result<BrokerConfig, String> {
    let mut overrides = args.overrides.clone();
    let shortcuts = [
        ("listeners", args.listeners.clone()),
        ("advertised.listeners", args.advertised_listeners.clone()),
        ("log.dirs", args.log_dirs.clone()),
        ("node.id", args.node_id.map(|n| n.to_string())),
    ];
    overrides.extend(shortcuts.into_iter().filter_map(|(k, v)| Some((k.to_string(), v?))));
    let (config, not_applied) = BrokerConfig::load(args.config.as_deref(), &overrides).map_err(|e| e.to_string())?;
    if !not_applied.unknown.is_empty() {
        warn!(
            properties = not_applied.unknown.join(", "),
            "unknown properties ignored"
        );
    }
    if !not_applied.not_used.is_empty() {
        info!(
            properties = not_applied.not_used.join(", "),
            "not used on a single node"
        );
    }
    Ok(config)
}

/// `tidelog format`: the log directories of a new node, formatted with the cluster id given.
pub fn format(args: FormatArgs) -> Result<(), String> {
    if tidelog_broker::ids::uuid_from_base64(&args.cluster_id).is_none() {
        return Err(format!(
            "cluster id {:?} is not a UUID in URL-safe base64 (22 characters, as `kafka-storage.sh random-uuid` prints one)",
            args.cluster_id
        ));
    }
    let config = load_config(&args.broker)?;
    tidelog_broker::format_log_dirs(&config, &args.cluster_id).map_err(|e| e.to_string())?;
    let dirs: Vec<String> = config.log_dirs.iter().map(|d| d.display().to_string()).collect();
    info!(cluster_id = args.cluster_id, log_dirs = dirs.join(","), "formatted");
    Ok(())
}
