//! The web console at `/` of the HTTP listeners: server-rendered pages (maud, escaped by
//! default, nothing fetched from elsewhere) over the broker's own state. Only the overview
//! has script: its live charts (uPlot, vendored and served from the binary).
//!
//! Pages read through the functions the Kafka handlers use (often the handlers
//! themselves, fed a request built here), and change metadata or offsets only through
//! them, so the console shows and does exactly what a Kafka client would. It adds nothing
//! to the produce and fetch paths: its reads take the same snapshots a fetch takes, on a
//! blocking thread when they touch files. With SASL listeners the console asks for their
//! users' passwords (`auth`), and the handlers it calls authorize that user; its
//! state-changing forms also refuse cross-site requests.

/// The `ResponseBody::$kind` a handler's [`Reply`] comes to (its future awaited), or a 500
/// page when it answers nothing or something else.
macro_rules! response {
    ($reply:expr, $kind:ident) => {
        match $crate::console::answered($reply).await {
            Some(tidelog_protocol::ResponseBody::$kind(response)) => Ok(response),
            _ => Err($crate::console::PageError::kafka(
                tidelog_protocol::ErrorCode::UNKNOWN_SERVER_ERROR,
                None,
            )),
        }
    };
}

/// Calls handler `$handler` (a module of `handlers`) as the viewer's client speaking its
/// newest version would, and takes the `ResponseBody::$kind` it answers ([`response!`]):
/// its API is `ApiKey::$kind`, whose authorization the handler checks.
macro_rules! call {
    ($broker:expr, $viewer:expr, $handler:ident, $request:expr, $kind:ident) => {{
        let version = *$crate::handlers::$handler::VERSIONS.end();
        let context = $viewer.context($broker, tidelog_protocol::ApiKey::$kind, version);
        response!($crate::handlers::$handler::handle(&context, $request).await, $kind)
    }};
}

mod auth;
mod groups;
mod layout;
mod messages;
mod overview;
mod rates;
mod segments;
mod topics;
mod transactions;

use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tidelog_protocol::{ApiKey, ErrorCode, ResponseBody};

use self::auth::Viewer;
use crate::authorizer::ResourceType;

use crate::broker::Broker;
use crate::handlers::Reply;
use crate::http::{not_ready, Readiness, ServedHosts};
use crate::partitions::Partition;

/// The console's routes, merged into the HTTP listeners' router.
pub fn router(readiness: Readiness) -> Router<Readiness> {
    Router::new()
        .route("/", get(overview::overview))
        .route("/overview/throughput.json", get(overview::throughput))
        .route(
            &format!("/static/uplot-{}.iife.min.js", overview::UPLOT_VERSION),
            get(overview::uplot_js),
        )
        .route(
            &format!("/static/uplot-{}.min.css", overview::UPLOT_VERSION),
            get(overview::uplot_css),
        )
        .route("/static/overview.js", get(overview::overview_js))
        .route("/topics", get(topics::list).post(topics::create))
        .route("/topics/{topic}", get(topics::topic))
        .route("/topics/{topic}/delete", post(topics::delete))
        .route("/topics/{topic}/configs", post(topics::alter_config))
        .route("/topics/{topic}/partitions/{partition}/messages", get(messages::browse))
        .route(
            "/topics/{topic}/partitions/{partition}/produce",
            post(messages::produce),
        )
        .route("/topics/{topic}/partitions/{partition}/segments", get(segments::list))
        .route(
            "/topics/{topic}/partitions/{partition}/segments/{base}",
            get(segments::segment_page),
        )
        .route("/groups", get(groups::list))
        .route("/groups/{group}", get(groups::group))
        .route("/groups/{group}/reset", post(groups::reset))
        .route("/groups/{group}/delete", post(groups::delete))
        .route("/transactions", get(transactions::transactions))
        .fallback(|| async { PageError::not_found("No such page.") })
        .layer(Extension(Arc::new(rates::TopicRates::default())))
        .layer(middleware::from_fn_with_state(readiness, auth::authenticate))
        .layer(middleware::from_fn(same_origin_posts))
}

/// The broker, for a handler: pages answer 503 until the broker serves.
pub struct Console(Arc<Broker>);

impl FromRequestParts<Readiness> for Console {
    type Rejection = Response;

    async fn from_request_parts(_: &mut Parts, readiness: &Readiness) -> Result<Self, Response> {
        readiness.broker().cloned().map(Console).ok_or_else(not_ready)
    }
}

/// A page that could not be made: its status and what to tell the user, shown in the page.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::NOT_FOUND, message)
    }

    /// A Kafka error code as a handler answered it, with its message if it gave one.
    pub fn kafka(code: ErrorCode, message: Option<String>) -> PageError {
        let status = match code {
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION | ErrorCode::GROUP_ID_NOT_FOUND => StatusCode::NOT_FOUND,
            ErrorCode::TOPIC_ALREADY_EXISTS | ErrorCode::NON_EMPTY_GROUP | ErrorCode::UNKNOWN_MEMBER_ID => {
                StatusCode::CONFLICT
            }
            ErrorCode::KAFKA_STORAGE_ERROR | ErrorCode::UNKNOWN_SERVER_ERROR => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TOPIC_AUTHORIZATION_FAILED
            | ErrorCode::GROUP_AUTHORIZATION_FAILED
            | ErrorCode::CLUSTER_AUTHORIZATION_FAILED
            | ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED => {
                let message = "the ACLs do not allow this to the console's user";
                return PageError::new(StatusCode::FORBIDDEN, format!("{}: {message}.", code.name()));
            }
            _ => StatusCode::BAD_REQUEST,
        };
        let detail = message
            .filter(|m| !m.is_empty())
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        PageError::new(status, format!("{}{detail}", code.name()))
    }

    /// A log read that failed: the detail goes to the log, the page says what failed.
    pub fn storage(what: &str, error: impl std::fmt::Display) -> PageError {
        tracing::warn!(error = %error, "console: {what} failed");
        PageError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{what} failed: {error}"))
    }
}

impl From<QueryRejection> for PageError {
    fn from(rejection: QueryRejection) -> PageError {
        PageError::bad_request(rejection.body_text())
    }
}

impl From<FormRejection> for PageError {
    fn from(rejection: FormRejection) -> PageError {
        PageError::bad_request(rejection.body_text())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = layout::page(
            self.status.canonical_reason().unwrap_or("Error"),
            maud::html! { p.error { (self.message) } },
        );
        (self.status, body).into_response()
    }
}

/// What a page handler answers.
pub type Page = Result<Response, PageError>;

/// This node's replica (leader or follower: the segment inspector compares replicas) of
/// partition `partition` (as the path spells it) of `topic`, or a 404 page.
pub fn partition(broker: &Broker, topic: &str, partition: &str) -> Result<Arc<Partition>, PageError> {
    let count = match broker.metadata.image().topic(topic) {
        Some(meta) => meta.partitions,
        None => return Err(unknown_topic(topic)),
    };
    let no_partition = || PageError::not_found(format!("Topic {topic} has no partition {partition}."));
    let index: i32 = partition.parse().map_err(|_| no_partition())?;
    if !(0..count).contains(&index) {
        return Err(no_partition());
    }
    broker
        .partitions
        .get_replica(topic, index)
        .ok_or_else(|| PageError::not_found(format!("This node holds no replica of {topic}-{index}.")))
}

/// [`partition`], for a page that shows its records: refused unless the viewer may read
/// the topic, as a Fetch would be.
pub fn readable_partition(
    broker: &Arc<Broker>,
    viewer: &Viewer,
    topic: &str,
    index: &str,
) -> Result<Arc<Partition>, PageError> {
    viewer.require(broker, ApiKey::Fetch, ResourceType::Topic, topic)?;
    partition(broker, topic, index)
}

pub fn unknown_topic(topic: &str) -> PageError {
    PageError::not_found(format!("Unknown topic {topic}."))
}

/// A number from a form or query field, or a 400 page naming the field.
pub fn number<T: std::str::FromStr>(field: &str, text: &str) -> Result<T, PageError> {
    text.trim()
        .parse()
        .map_err(|_| PageError::bad_request(format!("{field} must be a whole number in range, not {text:?}.")))
}

/// The `name=value` lines of a form's text area (blank lines skipped), names trimmed;
/// `what` names a line in the message about one without `=`.
pub fn name_value_lines<'a>(what: &str, text: &'a str) -> Result<Vec<(&'a str, &'a str)>, PageError> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.split_once('=')
                .map(|(name, value)| (name.trim(), value))
                .ok_or_else(|| PageError::bad_request(format!("A {what} line must be name=value, not {line:?}.")))
        })
        .collect()
}

/// The one result a request for one resource is answered, or a 500 page when there is none.
pub fn only<T>(results: Vec<T>) -> Result<T, PageError> {
    results
        .into_iter()
        .next()
        .ok_or_else(|| PageError::kafka(ErrorCode::UNKNOWN_SERVER_ERROR, None))
}

/// The response a handler's [`Reply`] comes to (its future awaited); `None` for no answer.
pub async fn answered(reply: Reply) -> Option<ResponseBody> {
    match reply {
        Reply::Now(body) => Some(body),
        Reply::Later(body) => Some(body.await),
        Reply::Nothing | Reply::Close => None,
    }
}

/// The partition's log as a read sees it (opening the log at its first use, which reads
/// its files): for code already on a blocking thread ([`blocking`]).
pub fn snapshot(partition: &Partition) -> Result<tidelog_log::LogSnapshot, PageError> {
    partition
        .snapshot()
        .map_err(|e| PageError::storage("opening the log", e))
}

/// [`snapshot`] from a page handler: taken on a blocking thread.
pub async fn snapshot_off_reactor(partition: Arc<Partition>) -> Result<tidelog_log::LogSnapshot, PageError> {
    blocking(move || snapshot(&partition)).await
}

/// Runs blocking log I/O (reads of segment files) off the reactor threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|e| Err(PageError::storage("reading the log", e)))
}

/// A 303 to `path` after a form changed something, so a reload does not post it again.
pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// What a path segment keeps as it is: RFC 3986's unreserved characters.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// `text` as one path segment of a link (topic and group names may hold any character).
pub fn segment(text: &str) -> String {
    utf8_percent_encode(text, PATH_SEGMENT).to_string()
}

/// Refuses a console request whose `Host` is not a name the listener serves
/// ([`ServedHosts`]): a page of another site whose name was rebound to this address
/// (DNS rebinding) is same-origin to itself, so only the name it sends tells it apart.
/// That holds for reads too (the pages show every record). Then refuses a POST another
/// site's page makes the browser send (a cross-site form), by the `Sec-Fetch-Site`
/// browsers add, or else by `Origin` against `Host`. Requests without either (curl,
/// scripts) pass: they are not a browser acting for a page.
async fn same_origin_posts(request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|v| v.to_str().ok());
    let served = request.extensions().get::<ServedHosts>();
    match (host, served) {
        (Some(host), Some(served)) if served.serves(host) => {}
        (host, served) => {
            let message = format!(
                "Host {:?} is not a name this listener serves ({}): refused, as a DNS rebinding \
                 attack's request would be.",
                host.unwrap_or(""),
                served.map_or_else(String::new, ServedHosts::names)
            );
            return PageError::new(StatusCode::MISDIRECTED_REQUEST, message).into_response();
        }
    }
    if request.method() == Method::POST && !is_same_origin(request.headers()) {
        return PageError::new(StatusCode::FORBIDDEN, "Cross-site request refused.").into_response();
    }
    next.run(request).await
}

fn is_same_origin(headers: &axum::http::HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v: &header::HeaderValue| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return matches!(site, "same-origin" | "none");
    }
    match (text(header::ORIGIN), text(header::HOST)) {
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, authority)| authority == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (header::HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn cross_site_posts_are_told_apart() {
        assert!(is_same_origin(&headers(&[])));
        assert!(is_same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!is_same_origin(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_same_origin(&headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!is_same_origin(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:8080")
        ])));
    }

    #[test]
    fn names_are_encoded_as_one_path_segment() {
        assert_eq!(segment("orders.v1_x-y"), "orders.v1_x-y");
        assert_eq!(segment("a/b c<"), "a%2Fb%20c%3C");
    }
}
