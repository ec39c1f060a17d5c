//! SASL authentication of a connection (KIP-43, KIP-152): on a SASL_PLAINTEXT listener a
//! client first sends SaslHandshake v1 naming its mechanism, then SaslAuthenticate with
//! the mechanism's bytes; until it has authenticated, anything but ApiVersions closes the
//! connection, as Kafka does. PLAIN (RFC 4616) is the one mechanism: the bytes are
//! `authzid NUL user NUL password`, checked against the listener's accounts. A failed
//! authentication is answered, then the connection closed. On a PLAINTEXT listener the
//! SASL requests are answered ILLEGAL_SASL_STATE.

use std::collections::BTreeMap;

use bytes::Bytes;
use tidelog_protocol::messages::sasl_authenticate_response::SaslAuthenticateResponse;
use tidelog_protocol::messages::sasl_handshake_response::SaslHandshakeResponse;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

const PLAIN: &str = "PLAIN";

/// Kafka's `sasl.server.max.receive.size`.
const MAX_UNAUTHENTICATED_FRAME: usize = 512 * 1024;

/// How long a refused authentication waits before its answer, as Kafka's
/// `connection.failed.authentication.delay.ms`: it slows down guessing passwords.
pub const FAILED_AUTHENTICATION_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

/// Where a connection is in its authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// A PLAINTEXT listener: nothing to do.
    NotRequired,
    AwaitingHandshake,
    AwaitingAuthentication,
    /// Authenticated as this user.
    Authenticated(String),
}

/// What the connection does with a request.
pub enum Gate {
    /// Not a matter of authentication: the request goes to its handler.
    Dispatch,
    /// The SASL exchange answers it; `close` once the answer is written.
    Answer { body: ResponseBody, close: bool },
    /// A request the connection may not send yet: close it without an answer.
    Refuse(&'static str),
}

/// The authentication of one connection.
pub struct Session {
    state: State,
}

impl Session {
    pub fn new(sasl: bool) -> Session {
        let state = match sasl {
            true => State::AwaitingHandshake,
            false => State::NotRequired,
        };
        Session { state }
    }

    /// The largest frame the connection may send now: before authentication, Kafka's
    /// `sasl.server.max.receive.size` (512 KiB), so a stranger cannot make the broker
    /// buffer `socket.request.max.bytes`.
    pub fn max_frame(&self, authenticated_max: usize) -> usize {
        match self.is_open() {
            true => authenticated_max,
            false => authenticated_max.min(MAX_UNAUTHENTICATED_FRAME),
        }
    }

    /// Whether requests are served: no authentication needed, or done. Until then the
    /// connection's bytes (a password among them) are not logged.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::NotRequired | State::Authenticated(_))
    }

    /// The user the connection authenticated as, if it did.
    pub fn user(&self) -> Option<&str> {
        match &self.state {
            State::Authenticated(user) => Some(user),
            _ => None,
        }
    }

    /// Decides what becomes of `request`, taking the SASL requests in.
    pub fn gate(&mut self, request: &RequestBody, users: &BTreeMap<String, String>) -> Gate {
        match (request, &self.state) {
            (RequestBody::SaslHandshake(handshake), State::AwaitingHandshake) => {
                let error = match handshake.mechanism == PLAIN {
                    true => {
                        self.state = State::AwaitingAuthentication;
                        ErrorCode::NONE
                    }
                    false => ErrorCode::UNSUPPORTED_SASL_MECHANISM,
                };
                let close = error != ErrorCode::NONE;
                Gate::Answer {
                    body: handshake_answer(error),
                    close,
                }
            }
            (RequestBody::SaslAuthenticate(authenticate), State::AwaitingAuthentication) => {
                match check_plain(&authenticate.auth_bytes, users) {
                    Some(user) => {
                        self.state = State::Authenticated(user);
                        Gate::Answer {
                            body: authenticate_answer(ErrorCode::NONE, None),
                            close: false,
                        }
                    }
                    None => Gate::Answer {
                        body: authenticate_answer(
                            ErrorCode::SASL_AUTHENTICATION_FAILED,
                            Some("Authentication failed: Invalid username or password"),
                        ),
                        close: true,
                    },
                }
            }
            (RequestBody::SaslHandshake(_), state) => Gate::Answer {
                body: handshake_answer(ErrorCode::ILLEGAL_SASL_STATE),
                close: *state != State::NotRequired,
            },
            (RequestBody::SaslAuthenticate(_), state) => Gate::Answer {
                body: authenticate_answer(
                    ErrorCode::ILLEGAL_SASL_STATE,
                    Some("SaslAuthenticate is not expected now"),
                ),
                close: *state != State::NotRequired,
            },
            // ApiVersions comes before the handshake, not between it and authenticating.
            (RequestBody::ApiVersions(_), State::AwaitingHandshake)
            | (_, State::NotRequired | State::Authenticated(_)) => Gate::Dispatch,
            _ => Gate::Refuse("a request before SASL authentication"),
        }
    }
}

fn handshake_answer(error: ErrorCode) -> ResponseBody {
    ResponseBody::SaslHandshake(SaslHandshakeResponse {
        error_code: error.0,
        mechanisms: vec![PLAIN.to_string()],
        ..Default::default()
    })
}

fn authenticate_answer(error: ErrorCode, message: Option<&str>) -> ResponseBody {
    ResponseBody::SaslAuthenticate(SaslAuthenticateResponse {
        error_code: error.0,
        error_message: message.map(str::to_string),
        auth_bytes: Bytes::new(),
        session_lifetime_ms: 0,
        ..Default::default()
    })
}

/// The user of PLAIN bytes whose password is the account's, if any. An authorization id,
/// when given, must be the user itself (no impersonation).
fn check_plain(bytes: &[u8], users: &BTreeMap<String, String>) -> Option<String> {
    let mut parts = bytes.split(|b| *b == 0);
    let (authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || (!authzid.is_empty() && authzid != user) {
        return None;
    }
    let user = std::str::from_utf8(user).ok()?;
    let expected = users.get(user)?;
    same_bytes(expected.as_bytes(), password).then(|| user.to_string())
}

/// Compares every byte of the guess whatever differs, so the time taken tells neither
/// how much of a guessed password was right nor the password's length.
fn same_bytes(expected: &[u8], guess: &[u8]) -> bool {
    let length_differs = u8::from(expected.len() != guess.len());
    guess.iter().enumerate().fold(length_differs, |diff, (i, byte)| {
        diff | (expected.get(i).copied().unwrap_or(0) ^ byte)
    }) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_bytes_are_checked_against_the_accounts() {
        let users = BTreeMap::from([("alice".to_string(), "secret".to_string())]);
        assert_eq!(check_plain(b"\0alice\0secret", &users).as_deref(), Some("alice"));
        assert_eq!(check_plain(b"alice\0alice\0secret", &users).as_deref(), Some("alice"));
        assert_eq!(check_plain(b"bob\0alice\0secret", &users), None, "impersonation");
        assert_eq!(check_plain(b"\0alice\0secreT", &users), None);
        assert_eq!(check_plain(b"\0alice\0secret\0", &users), None);
        assert_eq!(check_plain(b"\0mallory\0secret", &users), None);
        assert_eq!(check_plain(b"alice", &users), None);
        assert_eq!(check_plain(b"\0alice\0secretsecret", &users), None);
        assert_eq!(check_plain(b"\0alice\0secre", &users), None);
        assert_eq!(check_plain(b"\0alice\0", &users), None);
    }
}
