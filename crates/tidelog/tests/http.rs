//! The HTTP listener (`http.listeners`): health checks and the metrics page of a real
//! broker process, and the listener turned off. The metrics' values are checked against a
//! known workload by tests/python/test_metrics.py.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::Broker;

/// The status code and body of a GET (HTTP/1.0: the server closes after answering).
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_string();
    (status, body)
}

#[test]
fn health_and_metrics_answer_once_the_broker_serves() {
    let broker = Broker::start(&[]);
    let http = broker.http_addr().expect("an HTTP listener");
    assert_eq!(get(http, "/health/live").0, 200);
    assert_eq!(get(http, "/health/ready"), (200, "ready\n".to_string()));
    broker.raw().api_versions();
    let (status, metrics) = get(http, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("tidelog_requests_total{api=\"ApiVersions\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE tidelog_log_flush_duration_seconds histogram"),
        "{metrics}"
    );
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
    assert_eq!(get(http, "/nothing").0, 404);
}

#[test]
fn an_empty_http_listeners_turns_http_off() {
    let broker = Broker::start(&["--override", "http.listeners="]);
    assert_eq!(broker.http_addr(), None, "{}", broker.log());
}
