//! Signed JWTs (KIP-768), as Kafka's `OAuthBearerValidatorCallbackHandler` checks them: the
//! signature against a public key of a JWKS (RFC 7517) chosen by the token's `kid`, then the
//! claims. The JWKS is a file (`sasl.oauthbearer.jwks.endpoint.url=file:...`), read again
//! whenever it has changed, so keys rotate without a restart, as Kafka re-reads its file.
//!
//! Only asymmetric algorithms are accepted: `none` is not an algorithm here, and an HMAC
//! algorithm would let a public key act as a shared secret.

use crate::file_version::FileVersion;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::claims::{Invalid, Rules, Token};

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

/// Checks signed tokens against the keys of a JWKS file.
pub struct JwksValidator {
    file: PathBuf,
    rules: Rules,
    keys: Mutex<KeySet>,
}

/// The keys of the file as last read, with what identifies that version of the file.
struct KeySet {
    version: FileVersion,
    keys: Vec<Jwk>,
}

impl JwksValidator {
    /// Reads the JWKS `file`: a mistake in it stops the broker's start.
    pub fn open(file: &Path, rules: Rules) -> Result<JwksValidator, String> {
        let keys = read_keys(file)?;
        Ok(JwksValidator {
            file: file.to_path_buf(),
            rules,
            keys: Mutex::new(keys),
        })
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
        let key = self.key(header.kid.as_deref(), header.alg)?;
        let mut validation = Validation::new(header.alg);
        // The claims are checked by `Rules`, against the broker's clock and Kafka's settings.
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| Invalid::token(format!("the signature does not verify: {e}")))?
            .claims;
        self.rules.check(&claims, now_ms)
    }

    /// The key `kid` names (the only key when the token names none), usable with `alg`.
    fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, Invalid> {
        let mut keys = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Ok(version) = FileVersion::of(&self.file) {
            if version != keys.version {
                match read_keys(&self.file) {
                    Ok(reread) => *keys = reread,
                    Err(error) => {
                        // Said once per change of the file, not at every token.
                        tracing::warn!(%error, "JWKS not reloaded, keeping its keys");
                        keys.version = version;
                    }
                }
            }
        }
        let jwk = match kid {
            Some(kid) => keys.keys.iter().find(|k| k.common.key_id.as_deref() == Some(kid)),
            None if keys.keys.len() == 1 => keys.keys.first(),
            None => None,
        };
        let Some(jwk) = jwk else {
            return Err(Invalid::token(match kid {
                Some(kid) => format!("no key with the id '{kid}' in the JWKS"),
                None => "the token names no key ('kid') and the JWKS has several".to_string(),
            }));
        };
        if let Some(own) = jwk.common.key_algorithm {
            // Both print their JWA name ("RS256").
            if own.to_string() != format!("{alg:?}") {
                return Err(Invalid::token(format!(
                    "the key is for {own}, the token is signed with {alg:?}"
                )));
            }
        }
        DecodingKey::from_jwk(jwk).map_err(|e| Invalid::token(format!("the key cannot verify: {e}")))
    }
}

/// The keys of a JWKS file; keys of a kind that cannot verify a signature are left out.
fn read_keys(file: &Path) -> Result<KeySet, String> {
    let version = FileVersion::of(file).map_err(|e| format!("JWKS {}: {e}", file.display()))?;
    let text = std::fs::read(file).map_err(|e| format!("JWKS {}: {e}", file.display()))?;
    let keys = match serde_json::from_slice::<Value>(&text) {
        Ok(Value::Object(mut set)) => match set.remove("keys") {
            Some(Value::Array(keys)) => keys,
            _ => return Err(format!("JWKS {}: no \"keys\" list", file.display())),
        },
        _ => return Err(format!("JWKS {}: not a JSON object", file.display())),
    };
    let keys: Vec<Jwk> = keys
        .into_iter()
        .filter_map(|key| match serde_json::from_value::<Jwk>(key) {
            Ok(jwk) if DecodingKey::from_jwk(&jwk).is_ok() => Some(jwk),
            Ok(_) | Err(_) => {
                tracing::debug!(file = %file.display(), "a JWKS key that cannot verify signatures left out");
                None
            }
        })
        .collect();
    Ok(KeySet { version, keys })
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

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

    fn write_jwks(file: &Path, signers: &[&Signer]) {
        let keys: Vec<Value> = signers.iter().map(|s| s.jwk()).collect();
        let temporary = file.with_extension("tmp");
        std::fs::write(&temporary, serde_json::json!({ "keys": keys }).to_string()).expect("written");
        std::fs::rename(&temporary, file).expect("replaced");
    }

    #[test]
    fn a_token_signed_by_a_key_of_the_set_is_accepted_and_others_are_refused() {
        let dir = tempfile::tempdir().expect("a directory");
        let file = dir.path().join("jwks.json");
        let (signer, stranger) = (Signer::new("k1"), Signer::new("k2"));
        write_jwks(&file, &[&signer]);
        let validator = JwksValidator::open(&file, rules()).expect("opened");
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

    #[test]
    fn a_rewritten_jwks_file_is_read_again() {
        let dir = tempfile::tempdir().expect("a directory");
        let file = dir.path().join("jwks.json");
        let (old, new) = (Signer::new("old"), Signer::new("new"));
        write_jwks(&file, &[&old]);
        let validator = JwksValidator::open(&file, rules()).expect("opened");
        let now_ms = NOW_S * 1000;
        assert!(validator.validate(&new.token(claims()), now_ms).is_err());
        write_jwks(&file, &[&new]);
        assert!(validator.validate(&new.token(claims()), now_ms).is_ok());
        assert!(
            validator.validate(&old.token(claims()), now_ms).is_err(),
            "a key removed from the file"
        );
        // A broken file keeps the keys read before.
        std::fs::write(&file, "{").expect("written");
        assert!(validator.validate(&new.token(claims()), now_ms).is_ok());
        assert!(JwksValidator::open(&file, rules()).is_err(), "a broken file at start");
    }
}
