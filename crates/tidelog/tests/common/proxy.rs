//! A TCP proxy that cuts its connections mid-stream, to test what clients do when a
//! connection dies with requests in flight.
//!
//! Every connection is forwarded to the broker byte for byte. After every `cut_every`
//! bytes of responses (counted over all connections), the proxy forwards only up to that
//! byte, then shuts the connection down both ways: a response is torn, and the answers to
//! that request and the others in flight are lost although the broker handled them, which
//! is what makes a producer retry batches the broker has already written. It cuts at most
//! `cuts` times.
//! Brokers must advertise the proxy's address so that clients reconnect through it.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

pub struct CuttingProxy {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    state: Arc<Cuts>,
}

struct Cuts {
    /// Bytes between cuts, bytes left before the next cut, and the cuts left.
    budget: Mutex<(usize, usize, usize)>,
    done: AtomicUsize,
    /// Responses are read from the broker and thrown away.
    dropping: AtomicBool,
}

impl CuttingProxy {
    /// Listens on a free loopback port, forwarding without cuts until [`CuttingProxy::arm`];
    /// the broker's address is set with [`CuttingProxy::forward_to`].
    pub fn start() -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let target = Arc::new(Mutex::new(addr));
        let state = Arc::new(Cuts {
            budget: Mutex::new((0, 0, 0)),
            done: AtomicUsize::new(0),
            dropping: AtomicBool::new(false),
        });
        let (accept_target, accept_state) = (Arc::clone(&target), Arc::clone(&state));
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let target = *accept_target.lock().unwrap();
                let Ok(broker) = TcpStream::connect(target) else {
                    continue;
                };
                let state = Arc::clone(&accept_state);
                thread::spawn(move || relay(client, broker, state));
            }
        });
        CuttingProxy { addr, target, state }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where new connections go (the broker's address, which may change on a restart).
    pub fn forward_to(&self, broker: SocketAddr) {
        *self.target.lock().unwrap() = broker;
    }

    /// From now on, cuts the connection carrying every `cut_every`-th byte of responses,
    /// `cuts` times at most.
    pub fn arm(&self, cut_every: usize, cuts: usize) {
        *self.state.budget.lock().unwrap() = (cut_every, cut_every, cuts);
    }

    /// Throws responses away (or forwards them again): requests reach the broker but their
    /// answers are lost, as when a connection dies just after the broker handled them.
    pub fn drop_responses(&self, dropping: bool) {
        self.state.dropping.store(dropping, Ordering::SeqCst);
    }

    /// Stops cutting.
    pub fn disarm(&self) {
        self.arm(0, 0);
    }

    /// How many connections were cut so far.
    pub fn cuts_done(&self) -> usize {
        self.state.done.load(Ordering::SeqCst)
    }
}

/// Forwards both ways until either side closes or `state` says to cut.
fn relay(client: TcpStream, broker: TcpStream, state: Arc<Cuts>) {
    let (to_client, from_broker) = (client.try_clone().unwrap(), broker.try_clone().unwrap());
    let responses = Arc::clone(&state);
    thread::spawn(move || pump(from_broker, to_client, Some(&responses)));
    pump(client, broker, None);
}

/// Copies `from` to `to`, counting the bytes against the budget of `cuts` if given; at a
/// cut, forwards up to the cut byte and shuts both sockets down, which ends the other
/// direction too.
fn pump(mut from: TcpStream, mut to: TcpStream, cuts: Option<&Cuts>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (forward, cut) = match cuts {
            None => (n, false),
            Some(state) if state.dropping.load(Ordering::SeqCst) => (0, false),
            Some(state) => {
                let mut budget = state.budget.lock().unwrap();
                let (every, left, cuts) = &mut *budget;
                if *cuts == 0 || n < *left {
                    *left -= n.min(*left);
                    (n, false)
                } else {
                    let forward = *left;
                    *cuts -= 1;
                    *left = *every;
                    (forward, true)
                }
            }
        };
        if to.write_all(&buf[..forward]).is_err() {
            break;
        }
        if let (true, Some(state)) = (cut, cuts) {
            state.done.fetch_add(1, Ordering::SeqCst);
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
