//! Clusters of `tidelog serve` processes on loopback: every node a broker and a voter of the
//! metadata quorum (`process.roles=broker,controller`), node i's controller listener on the
//! i-th of the ports given.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use super::Broker;

/// A cluster id, as `kafka-storage.sh random-uuid` prints one.
pub const CLUSTER_ID: &str = "q3Wq3Wq3Wq3Wq3Wq3Wq3Ww";

/// Free loopback ports for the controller listeners (bound, then let go).
pub fn free_ports(count: usize) -> Vec<u16> {
    let sockets: Vec<TcpListener> = (0..count).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    sockets.iter().map(|s| s.local_addr().unwrap().port()).collect()
}

/// The server.properties of node `id` among the voters on `ports`, with the lines `extra`.
pub fn write_config(dir: &Path, id: usize, ports: &[u16], extra: &str) -> PathBuf {
    let voters: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| format!("{}@127.0.0.1:{port}", i + 1))
        .collect();
    let path = dir.join(format!("node{id}.properties"));
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(
        file,
        "process.roles=broker,controller\nnode.id={id}\n\
         listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{}\n\
         controller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         controller.quorum.voters={}\n{extra}",
        ports[id - 1],
        voters.join(",")
    )
    .unwrap();
    path
}

/// Formats and starts one node per port, together: each waits for a majority of the others
/// to elect a leader. Node i is `nodes[i - 1]`.
pub fn start(dir: &Path, ports: &[u16], extra: &str) -> Vec<Broker> {
    start_each(dir, ports, |_| extra.to_string())
}

/// [`start`] with the lines `extra(id)` for node `id`.
pub fn start_each(dir: &Path, ports: &[u16], extra: impl Fn(usize) -> String) -> Vec<Broker> {
    let starting: Vec<_> = (1..=ports.len())
        .map(|id| {
            let config = write_config(dir, id, ports, &extra(id));
            std::thread::spawn(move || Broker::start_formatted_from_file(&config, CLUSTER_ID))
        })
        .collect();
    starting.into_iter().map(|t| t.join().unwrap()).collect()
}
