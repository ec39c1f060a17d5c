//! Unsecured tokens (KIP-255), as Kafka's `OAuthBearerUnsecuredValidatorCallbackHandler`
//! accepts them: a JWS whose header says `"alg":"none"` and whose signature is empty, so
//! anyone can write one. For development and tests only; a production listener names
//! Kafka's `OAuthBearerValidatorCallbackHandler` and checks signatures (`jwks`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use super::claims::{Invalid, Rules, Token};

/// The claims of an unsecured JWS (`header.payload.` or `header.payload`), checked against
/// `rules` at `now_ms`.
pub fn validate(token: &str, rules: &Rules, now_ms: i64) -> Result<Token, Invalid> {
    let mut parts = token.split('.');
    let (header, payload, signature) = (parts.next(), parts.next(), parts.next());
    let (Some(header), Some(payload)) = (header, payload) else {
        return Err(Invalid::token(
            "an unsecured JWS has a header and a payload separated by '.'",
        ));
    };
    if signature.is_some_and(|s| !s.is_empty()) || parts.next().is_some() {
        return Err(Invalid::token("an unsecured JWS has an empty signature"));
    }
    let header = json_object(header, "header")?;
    if header.get("alg").and_then(Value::as_str) != Some("none") {
        return Err(Invalid::token("an unsecured JWS has the algorithm 'none'"));
    }
    rules.check(&json_object(payload, "payload")?, now_ms)
}

/// A base64url-encoded JSON object.
fn json_object(encoded: &str, what: &str) -> Result<Map<String, Value>, Invalid> {
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| Invalid::token(format!("the JWS {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(Invalid::token(format!("the JWS {what} is not a JSON object"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn jws(header: &str, payload: &str, signature: &str) -> String {
        format!(
            "{}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn an_alg_none_jws_with_an_empty_signature_is_read() {
        let payload = r#"{"sub":"alice","exp":1700000060,"iat":1700000000}"#;
        let token = validate(&jws(r#"{"alg":"none"}"#, payload, ""), &Rules::unsecured(), NOW).expect("valid");
        assert_eq!((token.principal.as_str(), token.expires_ms), ("alice", NOW + 60_000));
        let without_dot = jws(r#"{"alg":"none"}"#, payload, "");
        assert!(validate(without_dot.trim_end_matches('.'), &Rules::unsecured(), NOW).is_ok());

        let refused = |token: &str| validate(token, &Rules::unsecured(), NOW).expect_err("refused").reason;
        assert!(refused(&jws(r#"{"alg":"RS256"}"#, payload, "")).contains("'none'"));
        assert!(refused(&jws(r#"{"alg":"none"}"#, payload, "c2ln")).contains("empty signature"));
        assert!(refused(&format!("{}.x", jws(r#"{"alg":"none"}"#, payload, ""))).contains("empty signature"));
        assert!(refused("not-a-jws").contains("separated by '.'"));
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        assert!(refused(&format!("{none}.!!!.")).contains("not base64url"));
        assert!(refused(&jws(r#"{"alg":"none"}"#, "[1]", "")).contains("not a JSON object"));
        let expired = r#"{"sub":"alice","exp":1699999999}"#;
        assert!(refused(&jws(r#"{"alg":"none"}"#, expired, "")).contains("expired"));
    }
}
