//! The HTTP listeners' addresses (`http.listeners`, Tidelog's): `host:port` or
//! `http://host:port` serves plain HTTP, `https://host:port` HTTPS with the key and trust
//! stores of the `http.ssl.*` properties (Kafka's `ssl.*` names under `http.`, each falling
//! back to the broker's `ssl.*` one, as `listener.name.<name>.ssl.*` does).

use super::{invalid, ConfigError};

/// The prefix of the HTTPS listeners' TLS properties: `http.ssl.keystore.location`, ...
pub const HTTP_PREFIX: &str = "http.";

/// One address of `http.listeners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpListenerAddress {
    /// `host:port` (port 0 picks a free one), without the scheme.
    pub address: String,
    /// Whether the listener speaks HTTPS (`https://`).
    pub https: bool,
}

impl HttpListenerAddress {
    /// A plain HTTP listener at `address` (`host:port`).
    pub fn http(address: &str) -> HttpListenerAddress {
        HttpListenerAddress {
            address: address.to_string(),
            https: false,
        }
    }

    /// The address as configured: `https://host:port`, or `host:port` for plain HTTP.
    pub fn url(&self) -> String {
        match self.https {
            true => format!("https://{}", self.address),
            false => self.address.clone(),
        }
    }
}

/// `http.listeners`: `[http://|https://]host:port,...`; empty for none.
pub fn http_listeners(key: &str, value: &str) -> Result<Vec<HttpListenerAddress>, ConfigError> {
    let mut listeners = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let (address, https) = match entry.split_once("://") {
            None => (entry, false),
            Some((scheme, address)) if scheme.eq_ignore_ascii_case("http") => (address, false),
            Some((scheme, address)) if scheme.eq_ignore_ascii_case("https") => (address, true),
            Some(_) => return Err(invalid(key, value, "the schemes are http:// and https://")),
        };
        let port = address.rsplit_once(':').map(|(_, port)| port.parse::<u16>());
        if !matches!(port, Some(Ok(_))) {
            return Err(invalid(
                key,
                value,
                "expected host:port, http://host:port or https://host:port",
            ));
        }
        listeners.push(HttpListenerAddress {
            address: address.to_string(),
            https,
        });
    }
    Ok(listeners)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheme_chooses_http_or_https_and_none_is_http() {
        let parsed = http_listeners("http.listeners", "localhost:0, http://[::1]:9100,HTTPS://0.0.0.0:8443").unwrap();
        assert_eq!(
            parsed,
            vec![
                HttpListenerAddress::http("localhost:0"),
                HttpListenerAddress::http("[::1]:9100"),
                HttpListenerAddress {
                    address: "0.0.0.0:8443".into(),
                    https: true
                },
            ]
        );
        assert_eq!(parsed[2].url(), "https://0.0.0.0:8443");
        for bad in ["8080", "ftp://host:21", "https://host", "https://"] {
            let error = http_listeners("http.listeners", bad).unwrap_err().to_string();
            assert!(error.contains("http.listeners"), "{bad}: {error}");
        }
    }
}
