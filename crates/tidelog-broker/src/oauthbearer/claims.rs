//! The claims of a bearer token, checked the same way whether its signature was checked
//! (KIP-768) or there is none (KIP-255): the principal claim (`sub`), the lifetime (`exp`,
//! `iat`, `nbf`) against a clock skew, and the scope, audience and issuer where the
//! listener asks for them. The wall clock comes in as `now_ms`, so that tests set it.

use serde_json::{Map, Value};

/// What a validator asks of a token's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The claim naming the principal (`sub` unless configured).
    pub principal_claim: String,
    /// The claim holding the scope: a space-separated string or a list of strings.
    pub scope_claim: String,
    /// Scope values the token must all have (unsecured tokens only); empty: none.
    pub required_scope: Vec<String>,
    /// How far the broker's clock may be from the token issuer's.
    pub clock_skew_ms: i64,
    /// Whether `iat` must be present (signed tokens, as Kafka's JWT validator asks).
    pub issued_at_required: bool,
    /// The `aud` values one of which the token must have; empty: not checked.
    pub expected_audience: Vec<String>,
    /// The `iss` the token must have, if any.
    pub expected_issuer: Option<String>,
}

/// A token whose claims passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The principal the connection authenticates as (a `User:` principal).
    pub principal: String,
    /// When the token expires, in ms since the epoch: the longest the session may last.
    pub expires_ms: i64,
}

/// Why a token was refused: the status the client is told (RFC 6750's error codes, as
/// Kafka's callback handlers set them) and the reason the broker logs. Neither holds the
/// token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The scope the token lacked, for `insufficient_scope`; `None`: `invalid_token`.
    pub missing_scope: Option<String>,
    pub reason: String,
}

impl Invalid {
    pub fn token(reason: impl Into<String>) -> Invalid {
        Invalid {
            missing_scope: None,
            reason: reason.into(),
        }
    }

    /// The JSON the server answers a refused token with (RFC 7628 §3.2.2), in Kafka's form.
    pub fn challenge(&self) -> String {
        match &self.missing_scope {
            None => r#"{"status":"invalid_token"}"#.to_string(),
            Some(scope) => format!(
                r#"{{"status":"insufficient_scope", "scope":{}}}"#,
                Value::String(scope.clone())
            ),
        }
    }
}

impl Rules {
    /// The defaults of Kafka's `OAuthBearerUnsecuredValidatorCallbackHandler`: the principal
    /// in `sub`, the scope in `scope`, none required, no clock skew.
    pub fn unsecured() -> Rules {
        Rules {
            principal_claim: "sub".into(),
            scope_claim: "scope".into(),
            required_scope: Vec::new(),
            clock_skew_ms: 0,
            issued_at_required: false,
            expected_audience: Vec::new(),
            expected_issuer: None,
        }
    }

    /// Checks `claims` at `now_ms`.
    pub fn check(&self, claims: &Map<String, Value>, now_ms: i64) -> Result<Token, Invalid> {
        let principal = match claims.get(&self.principal_claim) {
            Some(Value::String(name)) if !name.trim().is_empty() => name.trim().to_string(),
            Some(_) => {
                return Err(Invalid::token(format!(
                    "the principal claim '{}' is not a non-empty string",
                    self.principal_claim
                )))
            }
            None => {
                return Err(Invalid::token(format!(
                    "the principal claim '{}' is missing",
                    self.principal_claim
                )))
            }
        };
        let expires_ms = time_claim(claims, "exp")?.ok_or_else(|| Invalid::token("the token has no 'exp' claim"))?;
        if now_ms - self.clock_skew_ms >= expires_ms {
            return Err(Invalid::token(format!("the token expired at {expires_ms} ms")));
        }
        match time_claim(claims, "iat")? {
            Some(issued_ms) if issued_ms > now_ms + self.clock_skew_ms => {
                return Err(Invalid::token(format!(
                    "the token is issued in the future, at {issued_ms} ms"
                )))
            }
            Some(issued_ms) if issued_ms >= expires_ms => {
                return Err(Invalid::token("the token expires before it is issued"))
            }
            None if self.issued_at_required => return Err(Invalid::token("the token has no 'iat' claim")),
            _ => {}
        }
        if let Some(not_before_ms) = time_claim(claims, "nbf")? {
            if not_before_ms > now_ms + self.clock_skew_ms {
                return Err(Invalid::token(format!(
                    "the token is not valid before {not_before_ms} ms"
                )));
            }
        }
        if let Some(issuer) = &self.expected_issuer {
            if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
                return Err(Invalid::token("the token's issuer ('iss') is not the expected one"));
            }
        }
        if !self.expected_audience.is_empty() {
            let audience = strings(claims.get("aud"));
            if !audience.iter().any(|a| self.expected_audience.contains(a)) {
                return Err(Invalid::token(
                    "the token's audience ('aud') has none of the expected values",
                ));
            }
        }
        let scope = strings(claims.get(&self.scope_claim));
        let missing: Vec<&str> = self
            .required_scope
            .iter()
            .filter(|s| !scope.contains(s))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Invalid {
                missing_scope: Some(self.required_scope.join(" ")),
                reason: format!("the token's scope lacks {}", missing.join(" ")),
            });
        }
        Ok(Token { principal, expires_ms })
    }
}

/// A NumericDate claim (seconds since the epoch, possibly fractional) in ms; `None` when
/// absent.
fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Invalid> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => match value.as_f64() {
            Some(seconds) if seconds.is_finite() => Ok(Some((seconds * 1000.0) as i64)),
            _ => Err(Invalid::token(format!("the '{name}' claim is not a number"))),
        },
    }
}

/// A claim that is a space-separated string or a list of strings, as its values.
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(text)) => text.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000_000;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().expect("an object").clone()
    }

    fn reason(result: Result<Token, Invalid>) -> String {
        result.expect_err("refused").reason
    }

    #[test]
    fn the_principal_and_expiry_come_from_the_claims() {
        let token = Rules::unsecured().check(&claims(json!({"sub": "alice", "exp": 1_700_000_060.5})), NOW);
        let expected = Token {
            principal: "alice".into(),
            expires_ms: NOW + 60_500,
        };
        assert_eq!(token, Ok(expected));
        let other_claim = Rules {
            principal_claim: "client_id".into(),
            ..Rules::unsecured()
        };
        let token = other_claim.check(&claims(json!({"client_id": "svc", "exp": 1_700_000_060})), NOW);
        assert_eq!(token.map(|t| t.principal).as_deref(), Ok("svc"));
        assert!(
            reason(Rules::unsecured().check(&claims(json!({"exp": 1_700_000_060})), NOW)).contains("'sub' is missing")
        );
        assert!(
            reason(Rules::unsecured().check(&claims(json!({"sub": "", "exp": 1_700_000_060})), NOW))
                .contains("non-empty")
        );
        assert!(reason(Rules::unsecured().check(&claims(json!({"sub": "alice"})), NOW)).contains("no 'exp'"));
        assert!(
            reason(Rules::unsecured().check(&claims(json!({"sub": "a", "exp": "soon"})), NOW)).contains("not a number")
        );
    }

    #[test]
    fn lifetimes_are_checked_within_the_clock_skew() {
        let expired = claims(json!({"sub": "a", "exp": 1_699_999_990}));
        assert!(reason(Rules::unsecured().check(&expired, NOW)).contains("expired"));
        let skewed = Rules {
            clock_skew_ms: 30_000,
            ..Rules::unsecured()
        };
        assert!(skewed.check(&expired, NOW).is_ok());
        let future = claims(json!({"sub": "a", "exp": 1_700_000_100, "iat": 1_700_000_010}));
        assert!(reason(Rules::unsecured().check(&future, NOW)).contains("issued in the future"));
        assert!(skewed.check(&future, NOW).is_ok());
        let backwards = claims(json!({"sub": "a", "exp": 1_700_000_010, "iat": 1_700_000_010}));
        assert!(reason(skewed.check(&backwards, NOW)).contains("before it is issued"));
        let not_yet = claims(json!({"sub": "a", "exp": 1_700_000_100, "nbf": 1_700_000_050}));
        assert!(reason(skewed.check(&not_yet, NOW)).contains("not valid before"));
        let iat_required = Rules {
            issued_at_required: true,
            ..Rules::unsecured()
        };
        let no_iat = claims(json!({"sub": "a", "exp": 1_700_000_100}));
        assert!(reason(iat_required.check(&no_iat, NOW)).contains("no 'iat'"));
    }

    #[test]
    fn audience_issuer_and_scope_are_checked_when_configured() {
        let signed = Rules {
            expected_audience: vec!["kafka".into(), "tidelog".into()],
            expected_issuer: Some("https://issuer.example".into()),
            ..Rules::unsecured()
        };
        let good =
            json!({"sub": "a", "exp": 1_700_000_100, "aud": ["other", "tidelog"], "iss": "https://issuer.example"});
        assert!(signed.check(&claims(good.clone()), NOW).is_ok());
        let mut wrong_aud = good.clone();
        wrong_aud["aud"] = json!("other");
        assert!(reason(signed.check(&claims(wrong_aud), NOW)).contains("audience"));
        let mut wrong_iss = good;
        wrong_iss["iss"] = json!("https://elsewhere.example");
        assert!(reason(signed.check(&claims(wrong_iss), NOW)).contains("issuer"));

        let scoped = Rules {
            required_scope: vec!["kafka:write".into(), "kafka:read".into()],
            ..Rules::unsecured()
        };
        let both = claims(json!({"sub": "a", "exp": 1_700_000_100, "scope": "kafka:read kafka:write"}));
        assert!(scoped.check(&both, NOW).is_ok());
        let listed = claims(json!({"sub": "a", "exp": 1_700_000_100, "scope": ["kafka:read", "kafka:write"]}));
        assert!(scoped.check(&listed, NOW).is_ok());
        let one = claims(json!({"sub": "a", "exp": 1_700_000_100, "scope": "kafka:read"}));
        let refused = scoped.check(&one, NOW).expect_err("insufficient scope");
        assert_eq!(
            refused.challenge(),
            r#"{"status":"insufficient_scope", "scope":"kafka:write kafka:read"}"#
        );
        assert_eq!(Invalid::token("x").challenge(), r#"{"status":"invalid_token"}"#);
    }
}
