//! SASL authentication of a connection (KIP-43, KIP-152): on a SASL_PLAINTEXT listener a
//! client first sends SaslHandshake v1 naming its mechanism, then SaslAuthenticate with
//! the mechanism's bytes; until it has authenticated, anything but ApiVersions closes the
//! connection, as Kafka does. The mechanisms are the listener's `sasl.enabled.mechanisms`:
//! PLAIN (RFC 4616: the bytes are `authzid NUL user NUL password`, checked against the
//! listener's accounts) and SCRAM-SHA-256/512 (`scram`: two rounds, checked against the
//! credentials in the metadata). A failed authentication is answered, then the connection
//! closed. On a PLAINTEXT listener the SASL requests are answered ILLEGAL_SASL_STATE.

use std::collections::BTreeMap;

use bytes::Bytes;
use tidelog_protocol::messages::sasl_authenticate_response::SaslAuthenticateResponse;
use tidelog_protocol::messages::sasl_handshake_response::SaslHandshakeResponse;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

use crate::scram::{self, ScramCredential, ScramMechanism, ScramServer, ScramStep};

pub const PLAIN: &str = "PLAIN";

/// The mechanisms this broker can enable.
pub const SUPPORTED_MECHANISMS: [&str; 3] = [PLAIN, "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// What a listener authenticates against.
pub struct Accounts<'a> {
    /// The listener's `sasl.enabled.mechanisms`.
    pub mechanisms: &'a [String],
    /// PLAIN's accounts: user to password.
    pub plain: &'a BTreeMap<String, String>,
    /// A user's SCRAM credential for a mechanism.
    pub scram: &'a (dyn Fn(&str, ScramMechanism) -> Option<ScramCredential> + Sync),
}

/// Kafka's `sasl.server.max.receive.size`.
const MAX_UNAUTHENTICATED_FRAME: usize = 512 * 1024;

/// How long a refused authentication waits before its answer, as Kafka's
/// `connection.failed.authentication.delay.ms`: it slows down guessing passwords.
pub const FAILED_AUTHENTICATION_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

/// Where a connection is in its authentication.
enum State {
    /// A PLAINTEXT listener: nothing to do.
    NotRequired,
    AwaitingHandshake,
    AwaitingAuthentication(Mechanism),
    /// Authenticated as this user.
    Authenticated(String),
}

/// The mechanism a handshake chose, with the state of its exchange.
enum Mechanism {
    Plain,
    Scram(ScramServer),
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
    pub fn gate(&mut self, request: &RequestBody, accounts: &Accounts) -> Gate {
        let not_required = matches!(self.state, State::NotRequired);
        match (request, &mut self.state) {
            (RequestBody::SaslHandshake(handshake), State::AwaitingHandshake) => {
                let name = handshake.mechanism.as_str();
                let mechanism = match accounts.mechanisms.iter().any(|m| m == name) {
                    true if name == PLAIN => Some(Mechanism::Plain),
                    true => ScramMechanism::from_name(name).map(|m| Mechanism::Scram(ScramServer::new(m))),
                    false => None,
                };
                let error = match mechanism {
                    Some(mechanism) => {
                        self.state = State::AwaitingAuthentication(mechanism);
                        ErrorCode::NONE
                    }
                    None => ErrorCode::UNSUPPORTED_SASL_MECHANISM,
                };
                Gate::Answer {
                    body: handshake_answer(error, accounts.mechanisms),
                    close: error != ErrorCode::NONE,
                }
            }
            (RequestBody::SaslAuthenticate(authenticate), State::AwaitingAuthentication(mechanism)) => {
                let bytes = &authenticate.auth_bytes;
                let outcome = match mechanism {
                    Mechanism::Plain => check_plain(bytes, accounts.plain)
                        .map(|user| (Some(user), Bytes::new()))
                        .ok_or_else(|| "Authentication failed: Invalid username or password".to_string()),
                    Mechanism::Scram(server) => {
                        let kind = server.mechanism();
                        match server.evaluate(bytes, |user| (accounts.scram)(user, kind)) {
                            Ok(ScramStep::Challenge(challenge)) => Ok((None, challenge.into())),
                            Ok(ScramStep::Done { user, server_final }) => Ok((Some(user), server_final.into())),
                            Err(why) => {
                                tracing::debug!(mechanism = %kind, reason = why.0, "SCRAM authentication failed");
                                // Kafka's answer to the SaslException of a SCRAM exchange.
                                Err(format!(
                                    "Authentication failed during authentication due to invalid credentials \
                                     with SASL mechanism {kind}"
                                ))
                            }
                        }
                    }
                };
                match outcome {
                    Ok((user, bytes)) => {
                        if let Some(user) = user {
                            self.state = State::Authenticated(user);
                        }
                        Gate::Answer {
                            body: authenticate_answer(ErrorCode::NONE, None, bytes),
                            close: false,
                        }
                    }
                    Err(message) => Gate::Answer {
                        body: authenticate_answer(ErrorCode::SASL_AUTHENTICATION_FAILED, Some(&message), Bytes::new()),
                        close: true,
                    },
                }
            }
            (RequestBody::SaslHandshake(_), _) => Gate::Answer {
                body: handshake_answer(ErrorCode::ILLEGAL_SASL_STATE, accounts.mechanisms),
                close: !not_required,
            },
            (RequestBody::SaslAuthenticate(_), _) => Gate::Answer {
                body: authenticate_answer(
                    ErrorCode::ILLEGAL_SASL_STATE,
                    Some("SaslAuthenticate is not expected now"),
                    Bytes::new(),
                ),
                close: !not_required,
            },
            // ApiVersions comes before the handshake, not between it and authenticating.
            (RequestBody::ApiVersions(_), State::AwaitingHandshake)
            | (_, State::NotRequired | State::Authenticated(_)) => Gate::Dispatch,
            _ => Gate::Refuse("a request before SASL authentication"),
        }
    }
}

fn handshake_answer(error: ErrorCode, mechanisms: &[String]) -> ResponseBody {
    ResponseBody::SaslHandshake(SaslHandshakeResponse {
        error_code: error.0,
        mechanisms: mechanisms.to_vec(),
        ..Default::default()
    })
}

fn authenticate_answer(error: ErrorCode, message: Option<&str>, auth_bytes: Bytes) -> ResponseBody {
    ResponseBody::SaslAuthenticate(SaslAuthenticateResponse {
        error_code: error.0,
        error_message: message.map(str::to_string),
        auth_bytes,
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
    scram::same_bytes(expected.as_bytes(), password).then(|| user.to_string())
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
