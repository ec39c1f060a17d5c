//! Who is looking at the console. When the broker has SASL listeners, the console asks for
//! HTTP basic authentication (RFC 7617) and checks the user and password as those
//! listeners do: against PLAIN's configured accounts where PLAIN is enabled, against the
//! SCRAM credentials in the metadata where a SCRAM mechanism is (the password's stored
//! key derived again and compared). The user is then the principal `User:<name>` of every
//! Kafka handler the pages call, so the authorizer (when one is configured) decides what
//! the console shows and does, as it would for that user's Kafka client. With no SASL
//! listener the console is open, as the principal `User:ANONYMOUS` of a PLAINTEXT client.
//!
//! `/metrics` and the health checks stay open to scrapers and orchestrators.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tidelog_protocol::ApiKey;

use super::PageError;
use crate::authorizer::{AclOperation, ResourceType};
use crate::broker::Broker;
use crate::handlers::{Principal, RequestContext};
use crate::http::Readiness;
use crate::sasl::{FAILED_AUTHENTICATION_DELAY, PLAIN};
use crate::scram::{same_bytes, ScramMechanism};

/// The principal the console's pages act as.
#[derive(Clone)]
pub struct Viewer {
    principal: Arc<Principal>,
}

impl Viewer {
    /// The context of a call of `api`'s handler at `version` for this viewer.
    pub fn context(&self, broker: &Arc<Broker>, api: ApiKey, version: i16) -> RequestContext {
        RequestContext {
            api_key: api,
            principal: self.principal.clone(),
            ..RequestContext::local(broker, version, "tidelog-console")
        }
    }

    /// Whether the viewer may see the resource: DESCRIBE (or an operation that implies it).
    pub fn may_describe(&self, broker: &Arc<Broker>, resource_type: ResourceType, name: &str) -> bool {
        self.context(broker, ApiKey::ApiVersions, 0)
            .authorize_operation(AclOperation::Describe, resource_type, name)
    }

    /// Refuses with a 403 page unless the viewer may do what `api` does to the resource
    /// (`authorizer::table`), as a Kafka client of that user would be refused.
    pub fn require(
        &self,
        broker: &Arc<Broker>,
        api: ApiKey,
        resource_type: ResourceType,
        name: &str,
    ) -> Result<(), PageError> {
        match self.context(broker, api, 0).authorize(resource_type, name) {
            true => Ok(()),
            false => Err(PageError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "{} may not do this: the ACLs do not allow {} on {} {name}.",
                    self.principal.kafka(),
                    api.name(),
                    resource_type.name().to_ascii_lowercase()
                ),
            )),
        }
    }
}

/// The viewer the authentication layer found; anonymous where it found none.
impl<S: Sync> FromRequestParts<S> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Viewer, Self::Rejection> {
        Ok(parts.extensions.get::<Viewer>().cloned().unwrap_or_else(|| Viewer {
            principal: Arc::new(Principal::anonymous()),
        }))
    }
}

/// Asks for and checks HTTP basic authentication when the broker has a SASL listener;
/// before the broker serves, the pages answer 503 anyway.
pub async fn authenticate(State(readiness): State<Readiness>, mut request: Request, next: Next) -> Response {
    let Some(broker) = readiness.broker().cloned() else {
        return next.run(request).await;
    };
    if !broker.config.listeners.iter().any(|l| l.is_sasl()) {
        return next.run(request).await;
    }
    let credentials = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(basic_credentials);
    let Some((user, password)) = credentials else {
        return sign_in("Sign in with a user of this broker's SASL listeners.");
    };
    // SCRAM's key derivation is thousands of HMACs: off the reactor.
    let checker = broker.clone();
    let checked_user = user.clone();
    let known = tokio::task::spawn_blocking(move || authenticates(&checker, &checked_user, &password))
        .await
        .unwrap_or(false);
    if !known {
        // As a refused SASL authentication waits, to slow down guessing.
        tokio::time::sleep(FAILED_AUTHENTICATION_DELAY).await;
        return sign_in("Wrong user name or password.");
    }
    request.extensions_mut().insert(Viewer {
        principal: Arc::new(Principal::user(&user)),
    });
    next.run(request).await
}

/// A 401 asking the browser for a user and password.
fn sign_in(message: &str) -> Response {
    let mut response = PageError::new(StatusCode::UNAUTHORIZED, message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"Tidelog console\", charset=\"UTF-8\""),
    );
    response
}

/// The user and password of an `Authorization: Basic` header.
fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Whether some SASL listener would authenticate `user` with `password`: by PLAIN's
/// accounts where it enables PLAIN, by the SCRAM credentials where it enables SCRAM.
fn authenticates(broker: &Broker, user: &str, password: &str) -> bool {
    let config = &broker.config;
    config.listeners.iter().filter(|l| l.is_sasl()).any(|listener| {
        config
            .sasl_mechanisms(&listener.name)
            .iter()
            .any(|mechanism| match mechanism.as_str() {
                PLAIN => config
                    .sasl_plain_users
                    .get(&listener.name)
                    .and_then(|accounts| accounts.get(user))
                    .is_some_and(|expected| same_bytes(expected.as_bytes(), password.as_bytes())),
                name => ScramMechanism::from_name(name).is_some_and(|mechanism| {
                    let credential = broker.metadata.image().scram_credential(user, mechanism).cloned();
                    credential.is_some_and(|c| mechanism.password_matches(password, &c))
                }),
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_read_as_rfc_7617_sends_them() {
        let header = format!("Basic {}", STANDARD.encode("alice:s3cret:with colon"));
        assert_eq!(
            basic_credentials(&header),
            Some(("alice".to_string(), "s3cret:with colon".to_string()))
        );
        assert_eq!(basic_credentials(&format!("Bearer {}", STANDARD.encode("a:b"))), None);
        assert_eq!(basic_credentials("Basic not-base64!"), None);
        assert_eq!(
            basic_credentials(&format!("basic {}", STANDARD.encode("no-colon"))),
            None
        );
    }
}
