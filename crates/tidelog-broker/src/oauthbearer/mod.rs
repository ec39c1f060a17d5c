//! SASL/OAUTHBEARER (RFC 7628, KIP-255, KIP-768): the client sends a bearer token in its
//! first message, `n,[a=authzid],\x01auth=Bearer <token>\x01[key=value\x01...]\x01`; the
//! listener's validator checks it and the connection authenticates as the token's
//! principal claim. A refused token is answered as Kafka answers it: a JSON error as the
//! server's challenge (`{"status":"invalid_token"}`), which the client acknowledges with
//! `\x01`, and only then SASL_AUTHENTICATION_FAILED. The token itself is never logged nor
//! repeated to the client.
//!
//! Which validator a listener has follows Kafka's configuration: unsecured tokens
//! (`unsecured`, Kafka's default) unless the listener's
//! `oauthbearer.sasl.server.callback.handler.class` names Kafka's
//! `OAuthBearerValidatorCallbackHandler`, which checks signatures against a JWKS (`jwks`),
//! read from a file or fetched over HTTP(S) (`jwks_http`).

mod claims;
mod jwks;
mod jwks_http;
pub mod settings;
mod unsecured;

use std::path::PathBuf;
use std::sync::Arc;

pub use claims::{Invalid, Rules, Token};

pub const OAUTHBEARER: &str = "OAUTHBEARER";

/// How a listener checks bearer tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthBearerSettings {
    /// Kafka's `OAuthBearerUnsecuredValidatorCallbackHandler` (KIP-255): `alg: none`.
    Unsecured(Rules),
    /// Kafka's `OAuthBearerValidatorCallbackHandler` (KIP-768): signed by a key of the JWKS.
    Signed {
        jwks: JwksSource,
        refresh: JwksRefresh,
        rules: Rules,
    },
}

/// Where the JWKS is: `sasl.oauthbearer.jwks.endpoint.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A `file:` URL's path.
    File(PathBuf),
    /// An `https:` or `http:` URL.
    Http(hyper::Uri),
}

/// When the JWKS is read again, in Kafka's `sasl.oauthbearer.jwks.endpoint.*` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksRefresh {
    /// `refresh.ms`: the keys are read again this often (3600000).
    pub refresh_ms: u64,
    /// `retry.backoff.ms`: the first wait before a failed read is retried, and the least
    /// time between two reads asked for by tokens naming unknown keys (100).
    pub retry_backoff_ms: u64,
    /// `retry.backoff.max.ms`: the most those waits grow to, doubling (10000).
    pub retry_backoff_max_ms: u64,
}

/// A listener's token validator, built once when the listener is bound.
pub enum Validator {
    Unsecured(Rules),
    Signed(Arc<jwks::JwksValidator>),
}

impl Validator {
    /// Reads the JWKS the settings name: a file with a mistake stops the broker's start; an
    /// endpoint that cannot be reached is retried in the background (see [`Validator::refresh`]).
    pub async fn new(settings: &OAuthBearerSettings) -> Result<Validator, String> {
        Ok(match settings {
            OAuthBearerSettings::Unsecured(rules) => Validator::Unsecured(rules.clone()),
            OAuthBearerSettings::Signed { jwks, refresh, rules } => {
                let validator = jwks::JwksValidator::open(jwks.clone(), *refresh, rules.clone()).await?;
                Validator::Signed(Arc::new(validator))
            }
        })
    }

    /// The task that keeps a signed validator's keys fresh, run for as long as its
    /// listener serves; `None` for unsecured tokens, which need no keys.
    pub fn refresh(&self) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        match self {
            Validator::Unsecured(_) => None,
            Validator::Signed(validator) => Some(Arc::clone(validator).refresh_keys()),
        }
    }

    fn validate(&self, token: &str, now_ms: i64) -> Result<Token, Invalid> {
        match self {
            Validator::Unsecured(rules) => unsecured::validate(token, rules, now_ms),
            Validator::Signed(validator) => validator.validate(token, now_ms),
        }
    }
}

/// One step of the server's side of the exchange.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The token was refused: this JSON goes to the client, which answers `\x01`.
    Challenge(String),
    /// The token was accepted.
    Done(Token),
}

/// How the exchange failed, for the SaslAuthenticate answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The client's message is not OAUTHBEARER's (Kafka's SaslException): the client gets
    /// the generic message; the reason is for the broker's log.
    Malformed(&'static str),
    /// Refused with a message for the client (Kafka's SaslAuthenticationException).
    Failed(String),
}

/// The server's side of one OAUTHBEARER exchange.
#[derive(Default)]
pub struct OAuthBearerServer {
    /// The challenge a refused token was answered with, awaiting the client's `\x01`.
    refused: Option<String>,
}

impl OAuthBearerServer {
    /// Takes the client's next message in, checking a token with `validator` at `now_ms`.
    pub fn evaluate(&mut self, message: &[u8], validator: &Validator, now_ms: i64) -> Result<Step, Refusal> {
        if let (b"\x01", Some(challenge)) = (message, self.refused.take()) {
            return Err(Refusal::Failed(challenge));
        }
        let first = ClientFirst::parse(message)?;
        match validator.validate(first.token, now_ms) {
            Ok(token) if !first.authzid.is_empty() && first.authzid != token.principal => {
                Err(Refusal::Failed(format!(
                    "Authentication failed: Client requested an authorization id ({}) that is different from the token's principal name ({})",
                    first.authzid, token.principal
                )))
            }
            Ok(token) => Ok(Step::Done(token)),
            Err(invalid) => {
                tracing::debug!(reason = %invalid.reason, "OAUTHBEARER token refused");
                let challenge = invalid.challenge();
                self.refused = Some(challenge.clone());
                Ok(Step::Challenge(challenge))
            }
        }
    }
}

/// The client's first message (RFC 7628 §3.1), as Kafka's `OAuthBearerClientInitialResponse`
/// reads it. Extensions (`key=value` pairs other than `auth`) are checked for their form
/// and accepted, as Kafka's validators accept them.
struct ClientFirst<'a> {
    authzid: &'a str,
    token: &'a str,
}

const INVALID_FIRST_MESSAGE: &str = "Invalid OAUTHBEARER client first message";

impl<'a> ClientFirst<'a> {
    fn parse(message: &'a [u8]) -> Result<ClientFirst<'a>, Refusal> {
        let invalid = Refusal::Malformed(INVALID_FIRST_MESSAGE);
        let text = std::str::from_utf8(message).map_err(|_| Refusal::Malformed(INVALID_FIRST_MESSAGE))?;
        let Some((gs2_authzid, rest)) = text.strip_prefix("n,").and_then(|rest| rest.split_once(',')) else {
            return Err(invalid);
        };
        let authzid = match gs2_authzid {
            "" => "",
            _ => match gs2_authzid.strip_prefix("a=") {
                Some(name) if is_sasl_name(name) => name,
                _ => return Err(invalid),
            },
        };
        // `\x01`, then pairs each ending in `\x01`, then `\x01`.
        let Some(pairs) = rest.strip_prefix('\x01').and_then(|r| r.strip_suffix('\x01')) else {
            return Err(invalid);
        };
        if !pairs.is_empty() && !pairs.ends_with('\x01') {
            return Err(invalid);
        }
        let mut auth = None;
        for pair in pairs.split_terminator('\x01') {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(invalid);
            };
            let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphabetic());
            let value_ok = !value.is_empty()
                && value
                    .bytes()
                    .all(|b| matches!(b, 0x21..=0x7e | b' ' | b'\t' | b'\r' | b'\n'));
            if !key_ok || !value_ok {
                return Err(invalid);
            }
            if key == "auth" {
                auth = Some(value);
            }
        }
        let Some(auth) = auth else {
            return Err(Refusal::Malformed(
                "Invalid OAUTHBEARER client first message: 'auth' not specified",
            ));
        };
        let Some((scheme, token)) = auth.split_once(' ') else {
            return Err(Refusal::Malformed(
                "Invalid OAUTHBEARER client first message: invalid 'auth' format",
            ));
        };
        let token = token.trim_start_matches(' ');
        let token_ok = !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        let scheme_ok = !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !token_ok || !scheme_ok {
            return Err(Refusal::Malformed(
                "Invalid OAUTHBEARER client first message: invalid 'auth' format",
            ));
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Refusal::Malformed("Invalid scheme in OAUTHBEARER client first message"));
        }
        Ok(ClientFirst { authzid, token })
    }
}

/// RFC 5801's saslname: 7-bit characters but `=` and `,`, which are written `=3D`, `=2C`.
fn is_sasl_name(name: &str) -> bool {
    let mut rest = name.as_bytes();
    while let Some((&b, after)) = rest.split_first() {
        rest = match b {
            b'=' if after.starts_with(b"2C") || after.starts_with(b"3D") => &after[2..],
            b'=' | b',' | 0 | 0x80.. => return false,
            _ => after,
        };
    }
    !name.is_empty()
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn validator() -> Validator {
        Validator::Unsecured(Rules::unsecured())
    }

    fn token(sub: &str, exp_s: i64) -> String {
        let claims = serde_json::json!({"sub": sub, "exp": exp_s});
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    fn first(authzid: &str, token: &str, extensions: &str) -> Vec<u8> {
        format!("n,{authzid},\x01auth=Bearer {token}\x01{extensions}\x01").into_bytes()
    }

    #[test]
    fn a_valid_token_authenticates_its_principal() {
        let mut server = OAuthBearerServer::default();
        let step = server.evaluate(&first("", &token("alice", 1_700_000_060), ""), &validator(), NOW);
        let expected = Token {
            principal: "alice".into(),
            expires_ms: NOW + 60_000,
        };
        assert_eq!(step, Ok(Step::Done(expected.clone())));
        // With the matching authzid and extensions.
        let message = first("a=alice", &token("alice", 1_700_000_060), "traceId=abc 1\x01");
        let step = OAuthBearerServer::default().evaluate(&message, &validator(), NOW);
        assert_eq!(step, Ok(Step::Done(expected)));
    }

    #[test]
    fn a_refused_token_is_challenged_then_failed_without_the_token() {
        let mut server = OAuthBearerServer::default();
        let expired = token("alice", 1_699_999_000);
        let step = server.evaluate(&first("", &expired, ""), &validator(), NOW);
        let challenge = r#"{"status":"invalid_token"}"#;
        assert_eq!(step, Ok(Step::Challenge(challenge.into())));
        let failed = server.evaluate(b"\x01", &validator(), NOW);
        assert_eq!(failed, Err(Refusal::Failed(challenge.into())));

        let other = first("a=bob", &token("alice", 1_700_000_060), "");
        let Err(Refusal::Failed(message)) = OAuthBearerServer::default().evaluate(&other, &validator(), NOW) else {
            panic!("an authzid other than the principal");
        };
        assert!(message.contains("(bob)") && message.contains("(alice)"), "{message}");
    }

    #[test]
    fn malformed_first_messages_are_refused() {
        let good = token("alice", 1_700_000_060);
        let malformed = [
            b"\x01".to_vec(),
            b"".to_vec(),
            format!("y,,\x01auth=Bearer {good}\x01\x01").into_bytes(),
            format!("n,,auth=Bearer {good}\x01\x01").into_bytes(),
            format!("n,,\x01auth=Bearer {good}\x01").into_bytes(),
            format!("n,b=x,\x01auth=Bearer {good}\x01\x01").into_bytes(),
            format!("n,,\x01auth=Basic {good}\x01\x01").into_bytes(),
            format!("n,,\x01auth=Bearer{good}\x01\x01").into_bytes(),
            format!("n,,\x01auth=Bearer {good}!\x01\x01").into_bytes(),
            b"n,,\x01other=1\x01\x01".to_vec(),
            first("", &good, "bad key=1\x01"),
            first("", &good, "k=\x01"),
        ];
        for message in malformed {
            let refused = OAuthBearerServer::default().evaluate(&message, &validator(), NOW);
            assert!(
                matches!(refused, Err(Refusal::Malformed(_))),
                "{:?}: {refused:?}",
                String::from_utf8_lossy(&message)
            );
        }
        assert!(is_sasl_name("a=2Cb=3D") && !is_sasl_name("a,b") && !is_sasl_name("a=b") && !is_sasl_name(""));
    }
}
