//! SASL authentication of a connection (KIP-43, KIP-152): on a SASL_PLAINTEXT listener a
//! client first sends SaslHandshake v1 naming its mechanism, then SaslAuthenticate with
//! the mechanism's bytes; until it has authenticated, anything but ApiVersions closes the
//! connection, as Kafka does. The mechanisms are the listener's `sasl.enabled.mechanisms`:
//! PLAIN (RFC 4616: the bytes are `authzid NUL user NUL password`, checked against the
//! listener's accounts) and SCRAM-SHA-256/512 (`scram`: two rounds, checked against the
//! credentials in the metadata) and OAUTHBEARER (`oauthbearer`: a bearer token checked by
//! the listener's validator). A failed authentication is answered, then the connection
//! closed. On a PLAINTEXT listener the SASL requests are answered ILLEGAL_SASL_STATE.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tidelog_protocol::messages::sasl_authenticate_response::SaslAuthenticateResponse;
use tidelog_protocol::messages::sasl_handshake_response::SaslHandshakeResponse;
use tidelog_protocol::{ErrorCode, RequestBody, ResponseBody};

use crate::oauthbearer::{self, OAuthBearerServer, Refusal, Validator, OAUTHBEARER};
use crate::scram::{self, ScramCredential, ScramMechanism, ScramServer, ScramStep};

pub const PLAIN: &str = "PLAIN";

/// The mechanisms this broker can enable.
pub const SUPPORTED_MECHANISMS: [&str; 4] = [PLAIN, "SCRAM-SHA-256", "SCRAM-SHA-512", OAUTHBEARER];

/// What a listener authenticates against.
pub struct Accounts<'a> {
    /// The listener's `sasl.enabled.mechanisms`.
    pub mechanisms: &'a [String],
    /// PLAIN's accounts: user to password.
    pub plain: &'a BTreeMap<String, String>,
    /// A user's SCRAM credential for a mechanism.
    pub scram: &'a (dyn Fn(&str, ScramMechanism) -> Option<ScramCredential> + Sync),
    /// The listener's bearer-token validator, when it enables OAUTHBEARER.
    pub oauthbearer: Option<&'a Validator>,
    /// The wall clock in ms since the epoch, which token lifetimes are counted in.
    pub wall_clock_ms: &'a (dyn Fn() -> i64 + Sync),
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
    /// A handshake chose `mechanism`; `reauth_of` is the session being re-authenticated
    /// (KIP-368), if it is one.
    AwaitingAuthentication {
        mechanism: Mechanism,
        reauth_of: Option<Authenticated>,
    },
    /// A re-authentication asked for another (enabled) mechanism: its handshake is answered,
    /// and the next request closes the connection without an answer (Kafka's
    /// REAUTH_BAD_MECHANISM).
    ReauthBadMechanism,
    Authenticated(Authenticated),
}

/// An authenticated session.
#[derive(Clone)]
struct Authenticated {
    user: String,
    mechanism: &'static str,
    /// When the session ends unless re-authenticated (`connections.max.reauth.ms`);
    /// `None`: never.
    expires: Option<Instant>,
}

/// The mechanism a handshake chose, with the state of its exchange.
enum Mechanism {
    Plain,
    Scram(ScramServer),
    OAuthBearer(OAuthBearerServer),
}

impl Mechanism {
    /// The exchange of the mechanism `name`, if the listener enables it.
    fn start(name: &str, accounts: &Accounts) -> Option<Mechanism> {
        if !accounts.mechanisms.iter().any(|m| m == name) {
            return None;
        }
        match name {
            PLAIN => Some(Mechanism::Plain),
            OAUTHBEARER => accounts
                .oauthbearer
                .map(|_| Mechanism::OAuthBearer(OAuthBearerServer::default())),
            _ => ScramMechanism::from_name(name).map(|m| Mechanism::Scram(ScramServer::new(m))),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Mechanism::Plain => PLAIN,
            Mechanism::Scram(server) => server.mechanism().name(),
            Mechanism::OAuthBearer(_) => OAUTHBEARER,
        }
    }
}

/// What a SaslAuthenticate round ended with.
enum Round {
    /// The exchange goes on: these bytes go to the client.
    Challenge(Bytes),
    /// Authenticated as `user`, with these final bytes; `credential_expires_ms`: when the
    /// credential (a bearer token) stops being valid, in ms since the epoch.
    Done {
        user: String,
        bytes: Bytes,
        credential_expires_ms: Option<i64>,
    },
}

/// What the connection does with a request.
pub enum Gate {
    /// Not a matter of authentication: the request goes to its handler.
    Dispatch,
    /// The SASL exchange answers it; `close` once the answer is written.
    Answer { body: ResponseBody, close: bool },
    /// A request the connection may not send now: close it without an answer.
    Refuse(&'static str),
}

/// The authentication of one connection.
pub struct Session {
    state: State,
    /// `connections.max.reauth.ms`: 0 for sessions that never expire.
    reauth_ms: i64,
}

impl Session {
    pub fn new(sasl: bool, reauth_ms: i64) -> Session {
        let state = match sasl {
            true => State::AwaitingHandshake,
            false => State::NotRequired,
        };
        Session { state, reauth_ms }
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
            State::Authenticated(session) => Some(&session.user),
            _ => None,
        }
    }

    /// Whether `request` is part of a KIP-368 re-authentication: a SaslHandshake on a
    /// session that expires, or anything while one is under way. Its outcome counts as a
    /// re-authentication's, as Kafka's `successful-reauthentication-total` and
    /// `failed-reauthentication-total` count it, not as the connection's authentication.
    pub fn reauthenticating(&self, request: &RequestBody) -> bool {
        match &self.state {
            State::AwaitingAuthentication { reauth_of, .. } => reauth_of.is_some(),
            State::ReauthBadMechanism => true,
            State::Authenticated(session) => {
                session.expires.is_some() && matches!(request, RequestBody::SaslHandshake(_))
            }
            State::NotRequired | State::AwaitingHandshake => false,
        }
    }

    /// Decides what becomes of `request` at `now`, taking the SASL requests in.
    pub fn gate(&mut self, request: &RequestBody, accounts: &Accounts, now: Instant) -> Gate {
        let not_required = matches!(self.state, State::NotRequired);
        match (request, &mut self.state) {
            (RequestBody::SaslHandshake(handshake), State::AwaitingHandshake) => {
                let error = match Mechanism::start(&handshake.mechanism, accounts) {
                    Some(mechanism) => {
                        self.state = State::AwaitingAuthentication {
                            mechanism,
                            reauth_of: None,
                        };
                        ErrorCode::NONE
                    }
                    None => ErrorCode::UNSUPPORTED_SASL_MECHANISM,
                };
                Gate::Answer {
                    body: handshake_answer(error, accounts.mechanisms),
                    close: error != ErrorCode::NONE,
                }
            }
            // KIP-368: a session that expires may authenticate again, with its mechanism.
            (RequestBody::SaslHandshake(handshake), State::Authenticated(session)) if session.expires.is_some() => {
                // As a first handshake, a mechanism the listener does not enable is refused.
                if !accounts.mechanisms.contains(&handshake.mechanism) {
                    return Gate::Answer {
                        body: handshake_answer(ErrorCode::UNSUPPORTED_SASL_MECHANISM, accounts.mechanisms),
                        close: true,
                    };
                }
                let previous = session.clone();
                let same = (handshake.mechanism == previous.mechanism)
                    .then(|| Mechanism::start(previous.mechanism, accounts))
                    .flatten();
                self.state = match same {
                    Some(mechanism) => State::AwaitingAuthentication {
                        mechanism,
                        reauth_of: Some(previous),
                    },
                    None => {
                        tracing::debug!(
                            "SASL mechanism '{}' requested by client is not supported for re-authentication of mechanism '{}'",
                            handshake.mechanism,
                            previous.mechanism
                        );
                        State::ReauthBadMechanism
                    }
                };
                Gate::Answer {
                    body: handshake_answer(ErrorCode::NONE, accounts.mechanisms),
                    close: false,
                }
            }
            // Kafka throws at whatever comes next and builds no answer for it.
            (_, State::ReauthBadMechanism) => Gate::Refuse("re-authentication with another SASL mechanism"),
            (RequestBody::SaslAuthenticate(authenticate), State::AwaitingAuthentication { mechanism, reauth_of }) => {
                let bytes = &authenticate.auth_bytes;
                let name = mechanism.name();
                // Kafka's answer to a SaslException: the reason stays in the broker's log.
                let invalid_credentials = |reason: &str| {
                    tracing::debug!(mechanism = name, reason, "SASL authentication failed");
                    let during = match reauth_of {
                        Some(_) => "re-authentication",
                        None => "authentication",
                    };
                    format!(
                        "Authentication failed during {during} due to invalid credentials with SASL mechanism {name}"
                    )
                };
                let wall_clock_ms = (accounts.wall_clock_ms)();
                let outcome = match mechanism {
                    Mechanism::Plain => check_plain(bytes, accounts.plain)
                        .map(|user| Round::Done {
                            user,
                            bytes: Bytes::new(),
                            credential_expires_ms: None,
                        })
                        .ok_or_else(|| "Authentication failed: Invalid username or password".to_string()),
                    Mechanism::Scram(server) => {
                        let kind = server.mechanism();
                        match server.evaluate(bytes, |user| (accounts.scram)(user, kind)) {
                            Ok(ScramStep::Challenge(challenge)) => Ok(Round::Challenge(challenge.into())),
                            Ok(ScramStep::Done { user, server_final }) => Ok(Round::Done {
                                user,
                                bytes: server_final.into(),
                                credential_expires_ms: None,
                            }),
                            Err(why) => Err(invalid_credentials(why.0)),
                        }
                    }
                    Mechanism::OAuthBearer(server) => {
                        let validator = accounts.oauthbearer.expect("OAUTHBEARER starts only with a validator");
                        match server.evaluate(bytes, validator, wall_clock_ms) {
                            Ok(oauthbearer::Step::Challenge(json)) => Ok(Round::Challenge(json.into())),
                            Ok(oauthbearer::Step::Done(token)) => Ok(Round::Done {
                                user: token.principal,
                                bytes: Bytes::new(),
                                credential_expires_ms: Some(token.expires_ms),
                            }),
                            Err(Refusal::Malformed(reason)) => Err(invalid_credentials(reason)),
                            Err(Refusal::Failed(message)) => Err(message),
                        }
                    }
                };
                // Re-authentication keeps the principal (Kafka's ensurePrincipalUnchanged).
                let outcome = outcome.and_then(|round| match (&round, &reauth_of) {
                    (Round::Done { user, .. }, Some(previous)) if *user != previous.user => Err(format!(
                        "Cannot change principals during re-authentication from User.{}: User.{user}",
                        previous.user
                    )),
                    _ => Ok(round),
                });
                match outcome {
                    Ok(Round::Challenge(challenge)) => Gate::Answer {
                        body: authenticate_answer(ErrorCode::NONE, None, challenge, 0),
                        close: false,
                    },
                    Ok(Round::Done {
                        user,
                        bytes,
                        credential_expires_ms,
                    }) => {
                        // KIP-368: every session gets the lifetime, whatever the client's
                        // SaslAuthenticate version (Kafka's calcCompletionTimesAndReturnSessionLifetimeMs):
                        // one that cannot re-authenticate (v0, which does not carry the
                        // field) is closed when it ends, as Kafka closes it.
                        let lifetime_ms =
                            session_lifetime_ms(credential_expires_ms.map(|at| at - wall_clock_ms), self.reauth_ms);
                        let expires = lifetime_ms.map(|ms| now + Duration::from_millis(ms as u64));
                        self.state = State::Authenticated(Authenticated {
                            user,
                            mechanism: name,
                            expires,
                        });
                        Gate::Answer {
                            body: authenticate_answer(ErrorCode::NONE, None, bytes, lifetime_ms.unwrap_or(0)),
                            close: false,
                        }
                    }
                    Err(message) => Gate::Answer {
                        body: authenticate_answer(
                            ErrorCode::SASL_AUTHENTICATION_FAILED,
                            Some(&message),
                            Bytes::new(),
                            0,
                        ),
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
                    0,
                ),
                close: !not_required,
            },
            // KIP-368: past its lifetime a session is closed at its next request.
            (_, State::Authenticated(session)) if session.expires.is_some_and(|at| now >= at) => {
                Gate::Refuse("SASL session expired")
            }
            // ApiVersions comes before the handshake, not between it and authenticating.
            (RequestBody::ApiVersions(_), State::AwaitingHandshake)
            | (_, State::NotRequired | State::Authenticated(_)) => Gate::Dispatch,
            _ => Gate::Refuse("a request before SASL authentication"),
        }
    }
}

/// How long a session lasts (Kafka's calcCompletionTimesAndReturnSessionLifetimeMs): the
/// shorter of what is left of its credential and `connections.max.reauth.ms` (0: no limit);
/// `None`: for ever.
fn session_lifetime_ms(credential_left_ms: Option<i64>, reauth_ms: i64) -> Option<i64> {
    let reauth = (reauth_ms > 0).then_some(reauth_ms);
    let lifetime = match (credential_left_ms, reauth) {
        (Some(left), Some(max)) => Some(left.min(max)),
        (left, max) => left.or(max),
    };
    lifetime.map(|ms| ms.max(0))
}

fn handshake_answer(error: ErrorCode, mechanisms: &[String]) -> ResponseBody {
    ResponseBody::SaslHandshake(SaslHandshakeResponse {
        error_code: error.0,
        mechanisms: mechanisms.to_vec(),
        ..Default::default()
    })
}

fn authenticate_answer(
    error: ErrorCode,
    message: Option<&str>,
    auth_bytes: Bytes,
    session_lifetime_ms: i64,
) -> ResponseBody {
    ResponseBody::SaslAuthenticate(SaslAuthenticateResponse {
        error_code: error.0,
        error_message: message.map(str::to_string),
        auth_bytes,
        session_lifetime_ms,
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

    mod reauthentication {
        use std::time::{Duration, Instant};

        use tidelog_protocol::messages::sasl_authenticate_request::SaslAuthenticateRequest;
        use tidelog_protocol::messages::sasl_handshake_request::SaslHandshakeRequest;

        use super::*;

        fn accounts_and<R>(then: impl FnOnce(&Accounts) -> R) -> R {
            let plain = BTreeMap::from([
                ("alice".to_string(), "a".to_string()),
                ("bob".to_string(), "b".to_string()),
            ]);
            let mechanisms = vec![PLAIN.to_string(), "SCRAM-SHA-256".to_string(), OAUTHBEARER.to_string()];
            let no_scram = |_: &str, _| None;
            let unsecured = Validator::Unsecured(oauthbearer::Rules::unsecured());
            then(&Accounts {
                mechanisms: &mechanisms,
                plain: &plain,
                scram: &no_scram,
                oauthbearer: Some(&unsecured),
                wall_clock_ms: &|| WALL_CLOCK_MS,
            })
        }

        const WALL_CLOCK_MS: i64 = 1_700_000_000_000;

        /// OAUTHBEARER's first message with an unsecured token for `sub` expiring at `exp_s`.
        fn bearer(sub: &str, exp_s: i64) -> Vec<u8> {
            use base64::engine::general_purpose::URL_SAFE_NO_PAD;
            use base64::Engine;
            let claims = format!(r#"{{"sub":"{sub}","exp":{exp_s}}}"#);
            let token = format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
                URL_SAFE_NO_PAD.encode(claims)
            );
            format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
        }

        fn handshake(mechanism: &str) -> RequestBody {
            RequestBody::SaslHandshake(SaslHandshakeRequest {
                mechanism: mechanism.into(),
                ..Default::default()
            })
        }

        fn authenticate(bytes: &[u8]) -> RequestBody {
            RequestBody::SaslAuthenticate(SaslAuthenticateRequest {
                auth_bytes: Bytes::copy_from_slice(bytes),
                ..Default::default()
            })
        }

        /// The answer's error, message and session lifetime, and whether it closes.
        fn answer(gate: Gate) -> (ErrorCode, Option<String>, i64, bool) {
            match gate {
                Gate::Answer {
                    body: ResponseBody::SaslHandshake(r),
                    close,
                } => (ErrorCode(r.error_code), None, 0, close),
                Gate::Answer {
                    body: ResponseBody::SaslAuthenticate(r),
                    close,
                } => (ErrorCode(r.error_code), r.error_message, r.session_lifetime_ms, close),
                _ => panic!("not an answer"),
            }
        }

        fn metadata() -> RequestBody {
            RequestBody::Metadata(Default::default())
        }

        const OK: (ErrorCode, Option<String>, i64, bool) = (ErrorCode::NONE, None, 0, false);

        #[test]
        fn a_session_ends_at_its_lifetime_unless_re_authenticated_as_the_same_user() {
            accounts_and(|accounts| {
                let t0 = Instant::now();
                let ms = |n: u64| t0 + Duration::from_millis(n);
                let mut session = Session::new(true, 1000);
                assert_eq!(answer(session.gate(&handshake(PLAIN), accounts, t0)), OK);
                let lifetime = answer(session.gate(&authenticate(b"\0alice\0a"), accounts, t0));
                assert_eq!(lifetime, (ErrorCode::NONE, None, 1000, false));
                assert!(matches!(session.gate(&metadata(), accounts, ms(999)), Gate::Dispatch));
                // Re-authenticated half-way: a new lifetime from then.
                assert_eq!(answer(session.gate(&handshake(PLAIN), accounts, ms(500))), OK);
                let renewed = answer(session.gate(&authenticate(b"\0alice\0a"), accounts, ms(500)));
                assert_eq!(renewed, (ErrorCode::NONE, None, 1000, false));
                assert!(matches!(session.gate(&metadata(), accounts, ms(1499)), Gate::Dispatch));
                assert!(matches!(
                    session.gate(&metadata(), accounts, ms(1500)),
                    Gate::Refuse("SASL session expired")
                ));
            });
        }

        #[test]
        fn re_authentication_keeps_the_user_and_the_mechanism() {
            accounts_and(|accounts| {
                let now = Instant::now();
                let authenticated = || {
                    let mut session = Session::new(true, 1000);
                    session.gate(&handshake(PLAIN), accounts, now);
                    session.gate(&authenticate(b"\0alice\0a"), accounts, now);
                    session
                };
                let mut session = authenticated();
                assert!(session.reauthenticating(&handshake(PLAIN)));
                assert!(!session.reauthenticating(&metadata()));
                session.gate(&handshake(PLAIN), accounts, now);
                assert!(session.reauthenticating(&authenticate(b"\0bob\0b")));
                let other = answer(session.gate(&authenticate(b"\0bob\0b"), accounts, now));
                let message = "Cannot change principals during re-authentication from User.alice: User.bob";
                assert_eq!(
                    other,
                    (ErrorCode::SASL_AUTHENTICATION_FAILED, Some(message.into()), 0, true)
                );

                let mut session = authenticated();
                assert_eq!(answer(session.gate(&handshake("SCRAM-SHA-256"), accounts, now)), OK);
                assert!(matches!(
                    session.gate(&authenticate(b"n,,n=alice,r=x"), accounts, now),
                    Gate::Refuse("re-authentication with another SASL mechanism")
                ));

                // A mechanism the listener does not enable is refused at the handshake.
                let mut session = authenticated();
                let unsupported = answer(session.gate(&handshake("SCRAM-SHA-512"), accounts, now));
                assert_eq!(unsupported, (ErrorCode::UNSUPPORTED_SASL_MECHANISM, None, 0, true));
            });
        }

        #[test]
        fn a_bearer_token_s_session_ends_with_the_token_or_connections_max_reauth_ms() {
            accounts_and(|accounts| {
                let now = Instant::now();
                let expires_in_60s = bearer("alice", WALL_CLOCK_MS / 1000 + 60);
                // connections.max.reauth.ms=0: the token's remaining life.
                let mut session = Session::new(true, 0);
                assert_eq!(answer(session.gate(&handshake(OAUTHBEARER), accounts, now)), OK);
                let lifetime = answer(session.gate(&authenticate(&expires_in_60s), accounts, now));
                assert_eq!(lifetime, (ErrorCode::NONE, None, 60_000, false));
                assert_eq!(session.user(), Some("alice"));
                let at_expiry = now + Duration::from_secs(60);
                assert!(matches!(
                    session.gate(&metadata(), accounts, at_expiry),
                    Gate::Refuse("SASL session expired")
                ));
                // The shorter of the two.
                let mut session = Session::new(true, 1000);
                session.gate(&handshake(OAUTHBEARER), accounts, now);
                let lifetime = answer(session.gate(&authenticate(&expires_in_60s), accounts, now));
                assert_eq!(lifetime, (ErrorCode::NONE, None, 1000, false));
                // Re-authenticated with a new token of the same principal, not another's.
                session.gate(&handshake(OAUTHBEARER), accounts, now);
                let renewed = answer(session.gate(&authenticate(&expires_in_60s), accounts, now));
                assert_eq!(renewed, (ErrorCode::NONE, None, 1000, false));
                session.gate(&handshake(OAUTHBEARER), accounts, now);
                let bob = answer(session.gate(&authenticate(&bearer("bob", WALL_CLOCK_MS / 1000 + 60)), accounts, now));
                assert_eq!((bob.0, bob.3), (ErrorCode::SASL_AUTHENTICATION_FAILED, true));
            });
        }

        #[test]
        fn a_refused_bearer_token_is_challenged_then_fails() {
            accounts_and(|accounts| {
                let now = Instant::now();
                let mut session = Session::new(true, 0);
                session.gate(&handshake(OAUTHBEARER), accounts, now);
                let expired = bearer("alice", WALL_CLOCK_MS / 1000 - 1);
                let Gate::Answer {
                    body: ResponseBody::SaslAuthenticate(challenge),
                    close: false,
                } = session.gate(&authenticate(&expired), accounts, now)
                else {
                    panic!("a challenge");
                };
                assert_eq!(
                    (challenge.error_code, challenge.auth_bytes.as_ref()),
                    (0, br#"{"status":"invalid_token"}"#.as_ref())
                );
                let failed = answer(session.gate(&authenticate(b"\x01"), accounts, now));
                let message = r#"{"status":"invalid_token"}"#.to_string();
                assert_eq!(failed, (ErrorCode::SASL_AUTHENTICATION_FAILED, Some(message), 0, true));

                let mut session = Session::new(true, 0);
                session.gate(&handshake(OAUTHBEARER), accounts, now);
                let malformed = answer(session.gate(&authenticate(b"n,,auth=Bearer x"), accounts, now));
                let message = "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER";
                assert_eq!(
                    malformed,
                    (ErrorCode::SASL_AUTHENTICATION_FAILED, Some(message.into()), 0, true)
                );
            });
        }

        #[test]
        fn without_a_lifetime_sessions_last_and_a_second_handshake_is_out_of_order() {
            accounts_and(|accounts| {
                let now = Instant::now();
                // connections.max.reauth.ms=0.
                let mut session = Session::new(true, 0);
                session.gate(&handshake(PLAIN), accounts, now);
                assert_eq!(answer(session.gate(&authenticate(b"\0alice\0a"), accounts, now)), OK);
                let later = now + Duration::from_secs(3600);
                assert!(matches!(session.gate(&metadata(), accounts, later), Gate::Dispatch));
                let again = answer(session.gate(&handshake(PLAIN), accounts, later));
                assert_eq!(again, (ErrorCode::ILLEGAL_SASL_STATE, None, 0, true));
            });
        }
    }
}
