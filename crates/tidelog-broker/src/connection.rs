//! One client connection: frames in, responses out, in order.
//!
//! Requests are read and dispatched in arrival order (so appends happen in order), but a
//! request's response may wait (a long-poll fetch, an `acks=all` produce waiting for its
//! fsync) while later requests are already being read: the reader hands each pending
//! response to the writer, which awaits and writes them in order. Bad input (a frame over
//! `socket.request.max.bytes`, a malformed or truncated request, an unknown API key)
//! closes this connection with a log line and touches nothing else. On a SASL_PLAINTEXT
//! listener each request first passes the connection's `sasl::Session`, checked against
//! that listener's accounts and bearer-token validator.
//!
//! On an SSL or SASL_SSL listener the TLS handshake comes first; the rest is the same code
//! over the TLS stream (generic over the stream's halves, see [`ResponseWriter`]).
//!
//! Responses go out without the broker copying record bytes: chunks in memory by vectored
//! writes, and on plain TCP the file regions of Fetch responses by `sendfile`, which moves
//! the page cache's pages into the socket without this process reading them. Over TLS the
//! bytes must pass through the encryption, so a region is read and written.

use std::collections::BTreeMap;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use std::future::Future;
use tidelog_protocol::frame::frame_len;
use tidelog_protocol::header::RequestPrefix;
use tidelog_protocol::{decode_request, FileRegion, Payload};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, WriteHalf};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::server::TlsStream;
use tracing::{debug, warn};

use crate::broker::Broker;
use crate::client_quotas::Throttle;
use crate::config::Listener;
use crate::dispatch::{self, PendingResponse, Received, Response};
use crate::handlers::{self, Principal};
use crate::oauthbearer::Validator;
use crate::sasl::{Accounts, Gate, Session, FAILED_AUTHENTICATION_DELAY};
use crate::tls::TlsListener;

/// Responses that may be pending at once per connection (librdkafka pipelines up to 5
/// requests by default; Java up to 5 as well).
const MAX_IN_FLIGHT: usize = 16;

/// How much of a file region a TLS connection reads at a time: a large fetch response is
/// not held whole in memory to be encrypted.
const TLS_READ_CHUNK: usize = 256 * 1024;

/// How much of a large frame is allocated ahead of the bytes actually arriving, so a
/// length prefix alone cannot make us allocate `socket.request.max.bytes`.
const READ_CHUNK: usize = 1 << 20;

/// What a listener secures its connections with, besides its configuration.
pub struct Security {
    /// The TLS acceptor and client-certificate principals of an SSL or SASL_SSL listener.
    pub tls: Option<Arc<TlsListener>>,
    /// The bearer-token validator of a SASL listener that enables OAUTHBEARER.
    pub oauthbearer: Option<Arc<Validator>>,
}

/// Who a connection is when its first request comes (a TLS client certificate's principal,
/// or anonymous), and what may authenticate it further.
struct Identity {
    principal: Principal,
    oauthbearer: Option<Arc<Validator>>,
}

/// How long a TLS client has to complete its handshake. A handshake is two round trips and
/// a few kilobytes, so a client still silent after this is stuck or hostile, and would
/// otherwise hold its connection slot (`max.connections`) until `connections.max.idle.ms`
/// (10 minutes). Kafka's clients give up on a connection that is not ready within
/// `socket.connection.setup.timeout.ms` (10 s by default), so none waits longer than this.
pub(crate) const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves a connection accepted on `listener` (as advertised), after the TLS handshake when
/// the listener has TLS. A failed handshake (a plaintext client on a TLS port, an untrusted,
/// expired or missing client certificate, a client silent past [`TLS_HANDSHAKE_TIMEOUT`])
/// closes only this connection.
pub async fn accept(
    broker: Arc<Broker>,
    listener: Arc<Listener>,
    security: Security,
    stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let Security { tls, oauthbearer } = security;
    let anonymous = Principal::anonymous();
    let Some(tls) = tls else {
        let (reader, writer) = stream.into_split();
        let identity = Identity {
            principal: anonymous,
            oauthbearer,
        };
        return serve(broker, listener, identity, reader, writer, peer, shutdown).await;
    };
    let handshake = tokio::select! {
        handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)) => handshake,
        _ = shutdown.wait_for(|stop| *stop) => return,
    };
    let handshake = handshake
        .map_err(|_| format!("no handshake within {TLS_HANDSHAKE_TIMEOUT:?}"))
        .and_then(|done| done.map_err(|e| e.to_string()));
    // On an SSL listener the handshake is the authentication (and the client certificate
    // names the principal); SASL_SSL's comes after.
    let authenticated = handshake.and_then(|stream| match listener.is_sasl() {
        true => Ok((stream, anonymous)),
        false => tls.principal(stream.get_ref().1).map(|principal| (stream, principal)),
    });
    match authenticated {
        Ok((stream, principal)) => {
            if !listener.is_sasl() {
                broker.metrics.authentication(&listener.name, true);
                debug!(%peer, %principal, "TLS client authenticated");
            }
            let (reader, writer) = tokio::io::split(stream);
            let identity = Identity { principal, oauthbearer };
            serve(broker, listener, identity, reader, writer, peer, shutdown).await
        }
        Err(error) => {
            broker.metrics.authentication(&listener.name, false);
            if broker.rejections.log_in_full("TLS handshake failed", peer.ip()) {
                warn!(%peer, listener = %listener.name, %error, "closing connection: TLS handshake failed")
            }
        }
    }
}

/// `listener` is the listener the connection came in on, as advertised; `identity` who the
/// connection is before any SASL authentication.
async fn serve<R, W>(
    broker: Arc<Broker>,
    listener: Arc<Listener>,
    identity: Identity,
    mut reader: R,
    writer: W,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) where
    R: AsyncRead + Unpin,
    W: ResponseWriter + 'static,
{
    debug!(%peer, "connection opened");
    let (pending_tx, pending_rx) = mpsc::channel(MAX_IN_FLIGHT);
    let writer_task = tokio::spawn(write_responses(writer, pending_rx, peer));
    let max_frame = broker.config.socket_request_max_bytes as usize;
    let mut session = Session::new(listener.is_sasl(), broker.config.connections_max_reauth_ms);
    // The connection's principal: a TLS client certificate's, or anonymous until SASL
    // authenticates it.
    let Identity { principal, oauthbearer } = identity;
    let mut principal = Arc::new(principal);
    // Whether SASL authenticated the connection once: what fails after (a re-authentication,
    // a SASL request out of order) is not an authentication failure of the connection.
    let mut authenticated = false;
    let no_accounts = BTreeMap::new();
    let scram = |user: &str, mechanism| broker.metadata.image().scram_credential(user, mechanism).cloned();
    let accounts = Accounts {
        mechanisms: broker.config.sasl_mechanisms(&listener.name),
        plain: broker
            .config
            .sasl_plain_users
            .get(&listener.name)
            .unwrap_or(&no_accounts),
        scram: &scram,
        oauthbearer: oauthbearer.as_deref(),
        wall_clock_ms: &crate::clock::now_ms,
    };
    // Set by a request over its client quota, as Kafka mutes the channel: no request is
    // handled until it ends. A response made later (a long-poll fetch) sets it while the
    // next frame is being read, so it is checked once that frame is in, before handling it.
    let throttle = Arc::new(Throttle::default());
    loop {
        let frame = tokio::select! {
            frame = read_frame(&mut reader, session.max_frame(max_frame)) => frame,
            _ = shutdown.wait_for(|stop| *stop) => break,
            // The writer gave up on the connection.
            _ = pending_tx.closed() => break,
        };
        if let Some(until) = throttle.take() {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(reason) => {
                if broker.rejections.log_in_full("unreadable frame", peer.ip()) {
                    warn!(%peer, %reason, "closing connection");
                }
                break;
            }
        };
        let received = std::time::Instant::now();
        let size = frame.len();
        let prefix = RequestPrefix::peek(&frame);
        // The start of a frame that cannot be read is logged, but never before
        // authentication: it may hold a password.
        let head = match session.is_open() {
            true => frame.slice(..frame.len().min(64)),
            false => Bytes::new(),
        };
        // Set when the request asks for the connection to close after it (Reply::Close).
        let mut close_after = false;
        let request = decode_request(frame);
        let reauthenticating = request.as_ref().is_ok_and(|r| session.reauthenticating(&r.body));
        let pending = match request {
            Ok(request) if !handlers::api_versions::advertised(request.api_key, request.header.api_version) => {
                // Kafka handles exactly what it advertises and closes on anything else.
                let (api_key, version) = (request.api_key, request.header.api_version);
                if broker.rejections.log_in_full("API version not advertised", peer.ip()) {
                    warn!(%peer, ?api_key, version, "closing connection: API version not advertised");
                }
                break;
            }
            Ok(request) => match session.gate(&request.body, &accounts, received) {
                Gate::Dispatch => {
                    let dispatched = dispatch::dispatch(
                        &broker,
                        request,
                        &principal,
                        &listener,
                        peer,
                        Received { at: received, size },
                        &throttle,
                    )
                    .await;
                    close_after = dispatched.close;
                    dispatched.response
                }
                Gate::Answer { body, close } => {
                    let answer = dispatch::answer(body, request.header.correlation_id, request.header.api_version);
                    if close {
                        if reauthenticating {
                            broker.metrics.reauthentication(&listener.name, false);
                        } else if !authenticated {
                            broker.metrics.authentication(&listener.name, false);
                        }
                        if broker.rejections.log_in_full("SASL authentication refused", peer.ip()) {
                            warn!(%peer, "closing connection: SASL authentication refused");
                        }
                        tokio::time::sleep(FAILED_AUTHENTICATION_DELAY).await;
                        let _ = pending_tx.send(answer).await;
                        break;
                    }
                    if let Some(user) = session.user() {
                        if reauthenticating {
                            broker.metrics.reauthentication(&listener.name, true);
                        } else if !authenticated {
                            authenticated = true;
                            broker.metrics.authentication(&listener.name, true);
                        }
                        if principal.name() != user {
                            principal = Arc::new(Principal::user(user));
                            debug!(%peer, user, "authenticated");
                        }
                    }
                    answer
                }
                Gate::Refuse(reason) => {
                    if reauthenticating {
                        broker.metrics.reauthentication(&listener.name, false);
                    }
                    if broker.rejections.log_in_full(reason, peer.ip()) {
                        warn!(%peer, api_key = ?request.api_key, %reason, "closing connection");
                    }
                    break;
                }
            },
            Err(error) => match prefix.and_then(|p| dispatch::answer_undecodable(p, &error)) {
                Some(pending) => pending,
                None => {
                    if broker.rejections.log_in_full("undecodable request", peer.ip()) {
                        warn!(%peer, %error, ?prefix, head = ?head.as_ref(), "closing connection: undecodable request");
                    }
                    break;
                }
            },
        };
        if pending_tx.send(pending).await.is_err() {
            break;
        }
        if close_after {
            debug!(%peer, "closing connection after an acks=0 produce that failed, as Kafka does");
            break;
        }
    }
    drop(pending_tx);
    let _ = writer_task.await;
    debug!(%peer, "connection closed");
}

/// Reads one frame body; `None` at a clean end of stream between frames.
async fn read_frame(reader: &mut (impl AsyncRead + Unpin), max: usize) -> Result<Option<Bytes>, String> {
    let mut prefix = [0u8; 4];
    match reader.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.to_string()),
    }
    let len = frame_len(prefix, max).map_err(|e| e.to_string())?;
    let mut body = BytesMut::with_capacity(len.min(READ_CHUNK));
    while body.len() < len {
        body.reserve((len - body.len()).min(READ_CHUNK));
        let read = reader.read_buf(&mut body).await.map_err(|e| e.to_string())?;
        if read == 0 {
            return Err(format!(
                "connection closed inside a frame ({} of {len} bytes)",
                body.len()
            ));
        }
    }
    body.truncate(len);
    Ok(Some(body.freeze()))
}

async fn write_responses(
    mut writer: impl ResponseWriter,
    mut pending: mpsc::Receiver<PendingResponse>,
    peer: SocketAddr,
) {
    while let Some(response) = pending.recv().await {
        let Some(Response { chunks, mut timer }) = response.await else {
            // Whoever made this response logged why it could not be made.
            debug!(%peer, "closing connection: a request could not be answered");
            break;
        };
        if let Some(timer) = timer.as_mut() {
            timer.writing();
        }
        if let Err(e) = write_chunks(&mut writer, chunks).await {
            debug!(%peer, error = %e, "write failed");
            return;
        }
        if let Some(timer) = timer {
            timer.sent();
        }
    }
    let _ = writer.shutdown().await;
}

/// The write half of a connection: where responses go, and how a file region gets there.
pub trait ResponseWriter: AsyncWrite + Unpin + Send {
    fn write_region(&mut self, region: FileRegion) -> impl Future<Output = io::Result<()>> + Send;
}

/// Plain TCP: `sendfile`, the page cache's pages straight into the socket.
impl ResponseWriter for OwnedWriteHalf {
    async fn write_region(&mut self, region: FileRegion) -> io::Result<()> {
        send_file(self.as_ref(), region).await
    }
}

/// TLS: the bytes must be encrypted, so they are read (positioned reads, as fetches of
/// uncached data do anyway) and written, [`TLS_READ_CHUNK`] at a time.
impl ResponseWriter for WriteHalf<TlsStream<TcpStream>> {
    async fn write_region(&mut self, mut region: FileRegion) -> io::Result<()> {
        let mut buf = vec![0u8; region.len().min(TLS_READ_CHUNK)];
        while !region.is_empty() {
            let piece = &mut buf[..region.len().min(TLS_READ_CHUNK)];
            region.file().read_exact_at(piece, region.offset())?;
            self.write_all(piece).await?;
            region.advance(piece.len());
        }
        Ok(())
    }
}

/// Writes a response's chunks in order: each run of memory chunks with vectored writes,
/// each file region as the writer writes regions; then flushes. A TLS stream may accept
/// the last bytes while the socket is full and keep their records in its buffer until a
/// flush, and a client waiting for the end of its response sends nothing that would
/// bring one: a consumer over TLS stalled so. (A TCP socket's flush does nothing.)
async fn write_chunks(writer: &mut impl ResponseWriter, chunks: Vec<Payload>) -> io::Result<()> {
    let mut memory = Vec::new();
    for chunk in chunks {
        match chunk {
            Payload::Memory(bytes) => memory.push(bytes),
            Payload::File(region) => {
                write_memory(writer, std::mem::take(&mut memory)).await?;
                writer.write_region(region).await?;
            }
        }
    }
    write_memory(writer, memory).await?;
    writer.flush().await
}

/// Writes all of `region` to the socket with `sendfile`, waiting whenever the socket's
/// buffer is full.
async fn send_file(socket: &TcpStream, mut region: FileRegion) -> io::Result<()> {
    while !region.is_empty() {
        socket.writable().await?;
        match socket.try_io(Interest::WRITABLE, || sendfile(socket.as_raw_fd(), &region)) {
            Ok(0) => {
                // The file ends inside the region: the segment broke its promise, and the
                // response can no longer be completed.
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file ended inside a region being sent",
                ));
            }
            Ok(sent) => region.advance(sent),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One `sendfile(2)` call: as much of `region` as the socket takes now.
fn sendfile(socket: RawFd, region: &FileRegion) -> io::Result<usize> {
    let mut offset =
        libc::off_t::try_from(region.offset()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both descriptors stay open for the call (the caller borrows the socket, the
    // region holds its file), and `offset` is a live local the kernel may update.
    let sent = unsafe { libc::sendfile(socket, region.file().as_raw_fd(), &mut offset, region.len()) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

/// Writes the chunks with vectored writes, so record bytes go out without being copied.
async fn write_memory(writer: &mut (impl AsyncWrite + Unpin), mut chunks: Vec<Bytes>) -> io::Result<()> {
    let mut first = 0;
    while first < chunks.len() {
        let slices: Vec<IoSlice<'_>> = chunks[first..].iter().take(64).map(|c| IoSlice::new(c)).collect();
        let mut written = writer.write_vectored(&slices).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while first < chunks.len() && written >= chunks[first].len() {
            written -= chunks[first].len();
            first += 1;
        }
        if written > 0 {
            chunks[first].advance(written);
        }
    }
    Ok(())
}
