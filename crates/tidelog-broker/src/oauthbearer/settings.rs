//! A listener's OAUTHBEARER settings from Kafka's properties, so that a Kafka
//! `server.properties` works as it is:
//!
//! - `listener.name.<l>.oauthbearer.sasl.server.callback.handler.class`: Kafka's
//!   `OAuthBearerValidatorCallbackHandler` (3.x's `...oauthbearer.secured.` or 4.x's
//!   `...oauthbearer.` package) checks signed JWTs; unset, or Kafka's
//!   `OAuthBearerUnsecuredValidatorCallbackHandler`, accepts unsecured tokens (Kafka's default).
//! - Signed: `sasl.oauthbearer.jwks.endpoint.url` (`file:`, `https:` or `http:`), its
//!   `refresh.ms`, `retry.backoff.ms` and `retry.backoff.max.ms`, `expected.audience`,
//!   `expected.issuer`, `clock.skew.seconds`, `sub.claim.name`, `scope.claim.name`, each
//!   also as `listener.name.<l>.oauthbearer.sasl.oauthbearer.*`, which wins.
//! - Unsecured: the `unsecuredValidator*` options of the listener's
//!   `listener.name.<l>.oauthbearer.sasl.jaas.config`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{JwksRefresh, JwksSource, OAuthBearerSettings, Rules};
use crate::config::{jaas_options, ConfigError, LISTENER_PREFIX};

/// The `sasl.oauthbearer.*` properties applied, global or per listener.
pub const SIGNED_PROPERTIES: [&str; 9] = [
    JWKS_URL,
    REFRESH_MS,
    RETRY_BACKOFF_MS,
    RETRY_BACKOFF_MAX_MS,
    "sasl.oauthbearer.expected.audience",
    "sasl.oauthbearer.expected.issuer",
    "sasl.oauthbearer.clock.skew.seconds",
    "sasl.oauthbearer.sub.claim.name",
    "sasl.oauthbearer.scope.claim.name",
];

/// The listener-only properties, after `listener.name.<l>.oauthbearer.`.
pub const LISTENER_PROPERTIES: [&str; 2] = [JAAS, HANDLER];

const JWKS_URL: &str = "sasl.oauthbearer.jwks.endpoint.url";
const REFRESH_MS: &str = "sasl.oauthbearer.jwks.endpoint.refresh.ms";
const RETRY_BACKOFF_MS: &str = "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms";
const RETRY_BACKOFF_MAX_MS: &str = "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms";
const JAAS: &str = "sasl.jaas.config";
const HANDLER: &str = "sasl.server.callback.handler.class";

/// Kafka's signed-token handler, in 3.x's package and 4.x's.
const SIGNED_HANDLERS: [&str; 2] = [
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler",
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
];
const UNSECURED_HANDLER: &str = "OAuthBearerUnsecuredValidatorCallbackHandler";

/// The OAUTHBEARER properties given, by (listener name for `listener.name.<name>.oauthbearer.*`,
/// property): the key as written and the value.
pub type OAuthBearerProperties = BTreeMap<(Option<String>, String), (String, String)>;

/// The settings of the listener `listener` from `props`, its own first.
pub fn settings(listener: &str, props: &OAuthBearerProperties) -> Result<OAuthBearerSettings, ConfigError> {
    let get = |property: &str| {
        props
            .get(&(Some(listener.to_string()), property.to_string()))
            .or_else(|| props.get(&(None, property.to_string())))
            .map(|(key, value)| (key.as_str(), value.as_str()))
    };
    let text = |property: &str, default: &str| get(property).map_or(default, |(_, v)| v).to_string();
    let invalid = |(key, value): (&str, &str), reason: &str| ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    };
    let signed = match get(HANDLER) {
        None => false,
        Some((_, class)) if SIGNED_HANDLERS.contains(&class) => true,
        Some((_, class)) if class.ends_with(&format!(".{UNSECURED_HANDLER}")) => false,
        Some(given) => {
            return Err(invalid(
                given,
                "the OAUTHBEARER handlers are Kafka's OAuthBearerValidatorCallbackHandler and \
                 OAuthBearerUnsecuredValidatorCallbackHandler",
            ))
        }
    };
    if !signed {
        let options = match get(JAAS) {
            Some((key, jaas)) => jaas_options(jaas).map_err(|reason| invalid((key, "(hidden)"), &reason))?,
            None => BTreeMap::new(),
        };
        let option = |name: &str, default: &str| options.get(name).map_or(default, String::as_str).to_string();
        let skew = option("unsecuredValidatorAllowableClockSkewMs", "0");
        let clock_skew_ms = match skew.parse::<i64>() {
            Ok(ms) if ms >= 0 => ms,
            _ => {
                return Err(invalid(
                    (
                        &format!("{LISTENER_PREFIX}{}.oauthbearer.{JAAS}", listener.to_ascii_lowercase()),
                        &skew,
                    ),
                    "unsecuredValidatorAllowableClockSkewMs must be a number of ms, at least 0",
                ))
            }
        };
        let defaults = Rules::unsecured();
        return Ok(OAuthBearerSettings::Unsecured(Rules {
            principal_claim: option("unsecuredValidatorPrincipalClaimName", &defaults.principal_claim),
            scope_claim: option("unsecuredValidatorScopeClaimName", &defaults.scope_claim),
            required_scope: option("unsecuredValidatorRequiredScope", "")
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            clock_skew_ms,
            ..defaults
        }));
    }
    let Some(url) = get(JWKS_URL) else {
        return Err(ConfigError::Invalid {
            key: format!(
                "{LISTENER_PREFIX}{}.oauthbearer.{HANDLER}",
                listener.to_ascii_lowercase()
            ),
            value: text(HANDLER, ""),
            reason: format!("Kafka's OAuthBearerValidatorCallbackHandler needs {JWKS_URL}"),
        });
    };
    let jwks = match url.1.strip_prefix("file:") {
        Some(path) => JwksSource::File(PathBuf::from(format!("/{}", path.trim_start_matches('/')))),
        None => match url.1.parse::<hyper::Uri>() {
            Ok(uri) if matches!(uri.scheme_str(), Some("https" | "http")) && uri.host().is_some() => {
                JwksSource::Http(uri)
            }
            _ => return Err(invalid(url, "must be a file:, https: or http: URL")),
        },
    };
    let ms = |property: &str, default: u64, least: u64| match get(property) {
        None => Ok(default),
        Some(given) => match given.1.parse::<u64>() {
            Ok(ms) if ms >= least => Ok(ms),
            _ => Err(invalid(given, &format!("must be a number of ms, at least {least}"))),
        },
    };
    let refresh = JwksRefresh {
        refresh_ms: ms(REFRESH_MS, 3_600_000, 1)?,
        retry_backoff_ms: ms(RETRY_BACKOFF_MS, 100, 1)?,
        retry_backoff_max_ms: ms(RETRY_BACKOFF_MAX_MS, 10_000, 1)?,
    };
    let clock_skew_ms = match get("sasl.oauthbearer.clock.skew.seconds") {
        None => 30_000,
        Some(given) => match given.1.parse::<i64>() {
            Ok(seconds) if seconds >= 0 => seconds.saturating_mul(1000),
            _ => return Err(invalid(given, "must be a number of seconds, at least 0")),
        },
    };
    let expected_audience = text("sasl.oauthbearer.expected.audience", "")
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    let expected_issuer = get("sasl.oauthbearer.expected.issuer").map(|(_, v)| v.trim().to_string());
    Ok(OAuthBearerSettings::Signed {
        jwks,
        refresh,
        rules: Rules {
            principal_claim: text("sasl.oauthbearer.sub.claim.name", "sub"),
            scope_claim: text("sasl.oauthbearer.scope.claim.name", "scope"),
            required_scope: Vec::new(),
            clock_skew_ms,
            issued_at_required: true,
            expected_audience,
            expected_issuer: expected_issuer.filter(|i| !i.is_empty()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;

    fn config(lines: &[&str]) -> Result<BrokerConfig, ConfigError> {
        let mut props = vec![
            (
                "listeners".to_string(),
                "SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0".to_string(),
            ),
            ("sasl.enabled.mechanisms".to_string(), "OAUTHBEARER".to_string()),
            ("ssl.keystore.type".to_string(), "PEM".to_string()),
            ("ssl.keystore.location".to_string(), "/nonexistent.pem".to_string()),
        ];
        for line in lines {
            let (key, value) = line.split_once('=').expect("key=value");
            props.push((key.to_string(), value.to_string()));
        }
        BrokerConfig::from_properties(&props).map(|(config, _)| config)
    }

    fn unsecured(rules: Rules) -> OAuthBearerSettings {
        OAuthBearerSettings::Unsecured(rules)
    }

    #[test]
    fn unsecured_tokens_by_default_with_the_jaas_line_s_options() {
        let c = config(&[]).expect("valid");
        assert_eq!(c.oauthbearer["SASL_PLAINTEXT"], unsecured(Rules::unsecured()));
        assert_eq!(c.oauthbearer["SASL_SSL"], unsecured(Rules::unsecured()));

        let jaas = "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=\
            org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required \
            unsecuredLoginStringClaim_sub=\"admin\" unsecuredValidatorPrincipalClaimName=\"client_id\" \
            unsecuredValidatorScopeClaimName=\"scp\" unsecuredValidatorRequiredScope=\"read write\" \
            unsecuredValidatorAllowableClockSkewMs=\"500\";";
        let c = config(&[jaas]).expect("valid");
        let expected = Rules {
            principal_claim: "client_id".into(),
            scope_claim: "scp".into(),
            required_scope: vec!["read".into(), "write".into()],
            clock_skew_ms: 500,
            ..Rules::unsecured()
        };
        assert_eq!(c.oauthbearer["SASL_PLAINTEXT"], unsecured(expected));
        assert_eq!(
            c.oauthbearer["SASL_SSL"],
            unsecured(Rules::unsecured()),
            "another listener's line"
        );
        assert!(c.explicit.keys().all(|k| !k.contains("jaas")), "{:?}", c.explicit);

        let handler = "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class=\
            org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler";
        assert_eq!(
            config(&[handler]).expect("valid").oauthbearer["SASL_PLAINTEXT"],
            unsecured(Rules::unsecured())
        );
    }

    #[test]
    fn kafka_s_validator_checks_signed_tokens_against_a_jwks_file() {
        for package in [
            "org.apache.kafka.common.security.oauthbearer.secured",
            "org.apache.kafka.common.security.oauthbearer",
        ] {
            let handler =
                format!("listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class={package}.OAuthBearerValidatorCallbackHandler");
            let c = config(&[
                &handler,
                "sasl.oauthbearer.jwks.endpoint.url=file:///etc/kafka/jwks.json",
                "sasl.oauthbearer.expected.audience=kafka, tidelog",
                "sasl.oauthbearer.expected.issuer=https://issuer.test",
                "listener.name.sasl_ssl.oauthbearer.sasl.oauthbearer.sub.claim.name=client_id",
                "sasl.oauthbearer.jwks.endpoint.refresh.ms=60000",
            ])
            .expect("valid");
            let expected = OAuthBearerSettings::Signed {
                jwks: JwksSource::File(PathBuf::from("/etc/kafka/jwks.json")),
                refresh: JwksRefresh {
                    refresh_ms: 60_000,
                    retry_backoff_ms: 100,
                    retry_backoff_max_ms: 10_000,
                },
                rules: Rules {
                    principal_claim: "client_id".into(),
                    scope_claim: "scope".into(),
                    required_scope: Vec::new(),
                    clock_skew_ms: 30_000,
                    issued_at_required: true,
                    expected_audience: vec!["kafka".into(), "tidelog".into()],
                    expected_issuer: Some("https://issuer.test".into()),
                },
            };
            assert_eq!(c.oauthbearer["SASL_SSL"], expected);
            assert_eq!(c.oauthbearer["SASL_PLAINTEXT"], unsecured(Rules::unsecured()));
            assert_eq!(c.explicit["sasl.oauthbearer.expected.issuer"], "https://issuer.test");
        }
    }

    #[test]
    fn a_jwks_endpoint_may_be_https_or_http_with_kafka_s_refresh_settings() {
        let c = config(&[
            "listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class=\
             org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
            "sasl.oauthbearer.jwks.endpoint.url=https://issuer.test:8443/keys?v=1",
            "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms=50",
            "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms=2000",
        ])
        .expect("valid");
        let OAuthBearerSettings::Signed { jwks, refresh, .. } = &c.oauthbearer["SASL_SSL"] else {
            panic!("signed tokens");
        };
        let JwksSource::Http(uri) = jwks else {
            panic!("{jwks:?}");
        };
        assert_eq!(
            (uri.host(), uri.port_u16(), uri.path_and_query().map(|p| p.as_str())),
            (Some("issuer.test"), Some(8443), Some("/keys?v=1"))
        );
        let expected = JwksRefresh {
            refresh_ms: 3_600_000,
            retry_backoff_ms: 50,
            retry_backoff_max_ms: 2000,
        };
        assert_eq!(*refresh, expected);
    }

    #[test]
    fn what_tidelog_cannot_check_stops_the_start() {
        let signed = "listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class=\
            org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
        let refused = |lines: &[&str], expected: &str| match config(lines) {
            Err(e) => assert!(e.to_string().contains(expected), "{e}"),
            Ok(_) => panic!("{lines:?} accepted"),
        };
        refused(&[signed], "needs sasl.oauthbearer.jwks.endpoint.url");
        refused(
            &[signed, "sasl.oauthbearer.jwks.endpoint.url=ftp://issuer.test/jwks"],
            "must be a file:, https: or http: URL",
        );
        refused(
            &[
                signed,
                "sasl.oauthbearer.jwks.endpoint.url=https://issuer.test/jwks",
                "sasl.oauthbearer.jwks.endpoint.refresh.ms=0",
            ],
            "at least 1",
        );
        refused(
            &[
                signed,
                "sasl.oauthbearer.jwks.endpoint.url=file:/j",
                "sasl.oauthbearer.clock.skew.seconds=-1",
            ],
            "at least 0",
        );
        refused(
            &["listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class=com.example.Custom"],
            "the OAUTHBEARER handlers are",
        );
        refused(
            &["listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=x required unsecuredValidatorAllowableClockSkewMs=\"soon\";"],
            "unsecuredValidatorAllowableClockSkewMs",
        );
    }
}
