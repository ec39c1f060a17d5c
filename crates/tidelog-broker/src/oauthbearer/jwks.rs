//! Signed JWTs (KIP-768), as Kafka's `OAuthBearerValidatorCallbackHandler` checks them: the
//! signature against a public key of a JWKS (RFC 7517) chosen by the token's `kid`, then the
//! claims. The JWKS is a file (`sasl.oauthbearer.jwks.endpoint.url=file:...`) or an HTTP(S)
//! endpoint ([`super::jwks_http`]), read at start and parsed into verification keys once.
//!
//! A login only looks its key up in the keys as last read: it never waits on a file or the
//! network. A background task ([`JwksValidator::refresh_keys`]) reads the JWKS again every
//! `sasl.oauthbearer.jwks.endpoint.refresh.ms` (a file only when it has changed, so keys
//! rotate without a restart), and sooner when a token names a key the set lacks, as Kafka's
//! `RefreshingHttpsJwks` does: that login fails, and the next one finds the new key.
//!
//! Only asymmetric algorithms are accepted: `none` is not an algorithm here, and an HMAC
//! algorithm would let a public key act as a shared secret.

use crate::file_version::FileVersion;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::claims::{Invalid, Rules, Token};
use super::{jwks_http, JwksRefresh, JwksSource};

/// The algorithms a signed token may use.
const ACCEPTED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Checks signed tokens against the keys of a JWKS.
pub struct JwksValidator {
    source: JwksSource,
    refresh: JwksRefresh,
    rules: Rules,
    /// The keys as last read, replaced whole by a read.
    keys: RwLock<Arc<KeySet>>,
    /// A file source's version when it was last read.
    file_version: Mutex<Option<FileVersion>>,
    /// Wakes the refresh task: a token named a key the set lacks.
    unknown_key: Notify,
}

/// A JWKS's verification keys, parsed once, found by `kid`.
#[derive(Default)]
struct KeySet {
    keys: Vec<Key>,
    by_kid: HashMap<String, usize>,
}

struct Key {
    algorithm: Option<KeyAlgorithm>,
    decoding: DecodingKey,
}

impl JwksValidator {
    /// Reads the JWKS at start: a file with a mistake stops the broker's start. An endpoint
    /// that cannot be read leaves the set empty for now, which the refresh task retries
    /// (Kafka's start fails there: the issuer being down should not keep a broker down).
    pub async fn open(source: JwksSource, refresh: JwksRefresh, rules: Rules) -> Result<JwksValidator, String> {
        let validator = JwksValidator {
            source,
            refresh,
            rules,
            keys: RwLock::default(),
            file_version: Mutex::default(),
            unknown_key: Notify::new(),
        };
        match (validator.reload().await, &validator.source) {
            (Ok(_), _) => {}
            (Err(error), JwksSource::File(_)) => return Err(error),
            (Err(error), JwksSource::Http(_)) => {
                warn!(%error, "JWKS endpoint not read at start: no signed token is accepted until it is")
            }
        }
        Ok(validator)
    }

    /// The token's claims, once its signature is checked, checked at `now_ms`.
    pub fn validate(&self, token: &str, now_ms: i64) -> Result<Token, Invalid> {
        // `alg: none` and unknown algorithms fail here: they are no `Algorithm`.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| Invalid::token(format!("not a signed JWT with an accepted algorithm: {e}")))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(Invalid::token(format!(
                "the algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let keys = Arc::clone(&self.keys.read().unwrap_or_else(|e| e.into_inner()));
        let key = self.key(&keys, header.kid.as_deref(), header.alg)?;
        let mut validation = Validation::new(header.alg);
        // The claims are checked by `Rules`, against the broker's clock and Kafka's settings.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
            .map_err(|e| Invalid::token(format!("the signature does not verify: {e}")))?
            .claims;
        self.rules.check(&claims, now_ms)
    }

    /// The key `kid` names (the only key when the token names none), usable with `alg`. An
    /// unknown `kid` asks the refresh task to read the JWKS again.
    fn key<'k>(&self, keys: &'k KeySet, kid: Option<&str>, alg: Algorithm) -> Result<&'k Key, Invalid> {
        let found = match kid {
            Some(kid) => keys.by_kid.get(kid).map(|&i| &keys.keys[i]),
            None if keys.keys.len() == 1 => keys.keys.first(),
            None => None,
        };
        let Some(key) = found else {
            if kid.is_some() {
                self.unknown_key.notify_one();
            }
            return Err(Invalid::token(match kid {
                Some(kid) => format!("no key with the id '{kid}' in the JWKS"),
                None => "the token names no key ('kid') and the JWKS has several".to_string(),
            }));
        };
        if let Some(own) = key.algorithm {
            // Both print their JWA name ("RS256").
            if own.to_string() != format!("{alg:?}") {
                return Err(Invalid::token(format!(
                    "the key is for {own}, the token is signed with {alg:?}"
                )));
            }
        }
        Ok(key)
    }

    /// Keeps the keys fresh for as long as the listener serves (the server aborts it): reads
    /// the JWKS when [`Schedule`] says.
    pub async fn refresh_keys(self: Arc<Self>) {
        let have_keys = !self.keys.read().unwrap_or_else(|e| e.into_inner()).keys.is_empty();
        let mut schedule = Schedule::new(self.refresh, Instant::now(), have_keys);
        loop {
            let early = tokio::select! {
                _ = tokio::time::sleep_until(schedule.next) => false,
                _ = self.unknown_key.notified() => true,
            };
            if early {
                tokio::time::sleep_until(schedule.earliest_early_read()).await;
            }
            let at = Instant::now();
            let read = self.reload().await;
            if let Err(error) = &read {
                warn!(%error, "JWKS not read again, keeping its keys");
            }
            schedule.read(at, early, read.is_ok());
        }
    }

    /// Reads the JWKS (a file only if it changed since it was last read) and replaces the
    /// keys; whether it did. A set that cannot be read or parsed keeps the keys there are.
    async fn reload(&self) -> Result<bool, String> {
        let text = match &self.source {
            JwksSource::File(path) => {
                let version = FileVersion::of(path).map_err(|e| format!("JWKS {}: {e}", path.display()))?;
                {
                    let mut last = self.file_version.lock().unwrap_or_else(|e| e.into_inner());
                    if *last == Some(version) {
                        return Ok(false);
                    }
                    // Said once per change of the file, should it not parse.
                    *last = Some(version);
                }
                // A small file, read once per change: no need for a blocking thread.
                std::fs::read(path)
                    .map_err(|e| format!("JWKS {}: {e}", path.display()))?
                    .into()
            }
            JwksSource::Http(uri) => jwks_http::fetch(uri).await.map_err(|e| format!("JWKS endpoint {e}"))?,
        };
        let keys = KeySet::parse(&text)?;
        info!(keys = keys.keys.len(), "JWKS read");
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(true)
    }
}

impl KeySet {
    /// The keys of a JWKS document; keys of a kind that cannot verify a signature are left out.
    fn parse(text: &[u8]) -> Result<KeySet, String> {
        let keys = match serde_json::from_slice::<Value>(text) {
            Ok(Value::Object(mut set)) => match set.remove("keys") {
                Some(Value::Array(keys)) => keys,
                _ => return Err("the JWKS has no \"keys\" list".to_string()),
            },
            _ => return Err("the JWKS is not a JSON object".to_string()),
        };
        let mut set = KeySet::default();
        for key in keys {
            let parsed = serde_json::from_value::<Jwk>(key)
                .ok()
                .and_then(|jwk| Some((DecodingKey::from_jwk(&jwk).ok()?, jwk)));
            let Some((decoding, jwk)) = parsed else {
                debug!("a JWKS key that cannot verify signatures left out");
                continue;
            };
            if let Some(kid) = jwk.common.key_id {
                set.by_kid.insert(kid, set.keys.len());
            }
            set.keys.push(Key {
                algorithm: jwk.common.key_algorithm,
                decoding,
            });
        }
        Ok(set)
    }
}

/// When the refresh task reads the JWKS: every `refresh.ms` and, for a token naming an
/// unknown key, at once, as Kafka's `RefreshingHttpsJwks` does. Kafka bounds those early
/// reads per key id (one a minute each); here they are bounded together, no sooner than the
/// backoff after the last read, so tokens with made-up key ids cannot make the broker
/// hammer the endpoint. A failed read is tried again after the backoff (Kafka retries it
/// within one refresh). The backoff starts at `retry.backoff.ms` and doubles up to
/// `retry.backoff.max.ms` with each failed or early read, and starts again after a
/// scheduled read that succeeded.
#[derive(Debug)]
struct Schedule {
    refresh: JwksRefresh,
    backoff: Duration,
    last_read: Instant,
    /// The next scheduled read.
    next: Instant,
}

impl Schedule {
    /// After the read at start (`now`), which found keys or not.
    fn new(refresh: JwksRefresh, now: Instant, have_keys: bool) -> Schedule {
        let backoff = Duration::from_millis(refresh.retry_backoff_ms);
        let wait = match have_keys {
            true => Duration::from_millis(refresh.refresh_ms),
            false => backoff,
        };
        Schedule {
            refresh,
            backoff,
            last_read: now,
            next: now + wait,
        }
    }

    /// The earliest an early read may happen.
    fn earliest_early_read(&self) -> Instant {
        self.last_read + self.backoff
    }

    /// A read at `at`, `early` or scheduled, that succeeded (`ok`) or not.
    fn read(&mut self, at: Instant, early: bool, ok: bool) {
        self.last_read = at;
        if ok && !early {
            self.backoff = Duration::from_millis(self.refresh.retry_backoff_ms);
        }
        self.next = match ok {
            true => at + Duration::from_millis(self.refresh.refresh_ms),
            false => at + self.backoff,
        };
        if !ok || early {
            let max = Duration::from_millis(self.refresh.retry_backoff_max_ms.max(self.refresh.retry_backoff_ms));
            self.backoff = (self.backoff * 2).min(max);
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

    use std::path::Path;

    use super::*;

    const NOW_S: i64 = 1_700_000_000;

    fn rules() -> Rules {
        Rules {
            clock_skew_ms: 30_000,
            issued_at_required: true,
            expected_audience: vec!["tidelog".into()],
            expected_issuer: Some("https://issuer.test".into()),
            ..Rules::unsecured()
        }
    }

    /// An ES256 key made here (ring makes P-256 keys; RSA keys it cannot make).
    struct Signer {
        kid: String,
        pair: EcdsaKeyPair,
    }

    impl Signer {
        fn new(kid: &str) -> Signer {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("a key");
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("its pair");
            Signer { kid: kid.into(), pair }
        }

        fn jwk(&self) -> Value {
            // An uncompressed point: 0x04, then x and y.
            let point = self.pair.public_key().as_ref();
            serde_json::json!({
                "kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig", "alg": "ES256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            })
        }

        fn sign(&self, header: Value, claims: Value) -> String {
            let signing_input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let signature = self
                .pair
                .sign(&SystemRandom::new(), signing_input.as_bytes())
                .expect("signed");
            format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
        }

        fn token(&self, claims: Value) -> String {
            self.sign(
                serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": self.kid}),
                claims,
            )
        }
    }

    fn claims() -> Value {
        serde_json::json!({"sub": "alice", "iat": NOW_S - 10, "exp": NOW_S + 60, "aud": "tidelog", "iss": "https://issuer.test"})
    }

    const REFRESH: JwksRefresh = JwksRefresh {
        refresh_ms: 3_600_000,
        retry_backoff_ms: 100,
        retry_backoff_max_ms: 10_000,
    };

    async fn open(file: &Path) -> Result<JwksValidator, String> {
        JwksValidator::open(JwksSource::File(file.to_path_buf()), REFRESH, rules()).await
    }

    fn write_jwks(file: &Path, signers: &[&Signer]) {
        let keys: Vec<Value> = signers.iter().map(|s| s.jwk()).collect();
        let temporary = file.with_extension("tmp");
        std::fs::write(&temporary, serde_json::json!({ "keys": keys }).to_string()).expect("written");
        std::fs::rename(&temporary, file).expect("replaced");
    }

    #[tokio::test]
    async fn a_token_signed_by_a_key_of_the_set_is_accepted_and_others_are_refused() {
        let dir = tempfile::tempdir().expect("a directory");
        let file = dir.path().join("jwks.json");
        let (signer, stranger) = (Signer::new("k1"), Signer::new("k2"));
        write_jwks(&file, &[&signer]);
        let validator = open(&file).await.expect("opened");
        let now_ms = NOW_S * 1000;

        let token = validator.validate(&signer.token(claims()), now_ms).expect("accepted");
        assert_eq!(
            (token.principal.as_str(), token.expires_ms),
            ("alice", (NOW_S + 60) * 1000)
        );

        let refused = |token: String| validator.validate(&token, now_ms).expect_err("refused").reason;
        assert!(refused(stranger.token(claims())).contains("no key with the id 'k2'"));
        // Signed by another key under the known key's id.
        let forged = Signer {
            kid: "k1".into(),
            pair: stranger.pair,
        };
        assert!(refused(forged.token(claims())).contains("signature"));
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        assert!(refused(none).contains("accepted algorithm"));
        let hmac = signer.sign(serde_json::json!({"alg": "HS256", "kid": "k1"}), claims());
        assert!(refused(hmac).contains("not accepted"));
        let mut wrong_audience = claims();
        wrong_audience["aud"] = "elsewhere".into();
        assert!(refused(signer.token(wrong_audience)).contains("audience"));
        let mut expired = claims();
        expired["exp"] = (NOW_S - 31).into();
        assert!(refused(signer.token(expired)).contains("expired"));
    }

    /// A login uses the keys as last read, never the file: a rewritten file counts once the
    /// refresh reads it, which a token naming an unknown key asks for.
    #[tokio::test]
    async fn a_rewritten_jwks_file_counts_once_read_again() {
        let dir = tempfile::tempdir().expect("a directory");
        let file = dir.path().join("jwks.json");
        let (old, new) = (Signer::new("old"), Signer::new("new"));
        write_jwks(&file, &[&old]);
        let validator = open(&file).await.expect("opened");
        let now_ms = NOW_S * 1000;
        write_jwks(&file, &[&new]);
        assert!(
            validator.validate(&old.token(claims()), now_ms).is_ok(),
            "the keys as read"
        );
        let unknown = validator
            .validate(&new.token(claims()), now_ms)
            .expect_err("not read yet");
        assert!(
            unknown.reason.contains("no key with the id 'new'"),
            "{}",
            unknown.reason
        );
        // The unknown key id asked for a read.
        tokio::time::timeout(Duration::from_secs(5), validator.unknown_key.notified())
            .await
            .expect("a refresh asked for");
        assert_eq!(validator.reload().await, Ok(true));
        assert!(validator.validate(&new.token(claims()), now_ms).is_ok());
        assert!(
            validator.validate(&old.token(claims()), now_ms).is_err(),
            "a key removed from the file"
        );
        assert_eq!(validator.reload().await, Ok(false), "an unchanged file is not read");
        // A broken file keeps the keys read before, and is said once.
        std::fs::write(&file, "{").expect("written");
        assert!(validator.reload().await.is_err());
        assert_eq!(validator.reload().await, Ok(false));
        assert!(validator.validate(&new.token(claims()), now_ms).is_ok());
        assert!(open(&file).await.is_err(), "a broken file at start");
    }

    #[test]
    fn reads_come_every_refresh_sooner_for_unknown_keys_but_never_faster_than_the_backoff() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        let mut schedule = Schedule::new(REFRESH, start, true);
        assert_eq!(schedule.next, start + ms(3_600_000));
        assert_eq!(schedule.earliest_early_read(), start + ms(100));
        // Early reads one after the other: 100, 200, 400 ms apart, at most 10 s.
        let mut at = start;
        for expected in [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000] {
            let early = schedule.earliest_early_read();
            assert_eq!(early, at + ms(expected));
            at = early;
            schedule.read(at, true, true);
        }
        // A scheduled read that succeeds starts the backoff again.
        at += ms(3_600_000);
        schedule.read(at, false, true);
        assert_eq!(schedule.earliest_early_read(), at + ms(100));
        // Failed reads are retried after the backoff, which grows.
        schedule.read(at, false, false);
        assert_eq!(schedule.next, at + ms(100));
        schedule.read(at, false, false);
        assert_eq!(schedule.next, at + ms(200));
        // Without keys at start, the first retry comes after the backoff.
        assert_eq!(Schedule::new(REFRESH, start, false).next, start + ms(100));
    }
}
