//! Reading a broker's `/metrics` page (its HTTP listener, `http.listeners`) for what the
//! Kafka protocol does not carry: the cleaner's view of compacted partitions.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use crate::client::TIMEOUT;

/// The text of `http://{addr}/metrics` (HTTP/1.0: the broker closes after answering).
pub fn scrape(addr: &str) -> Result<String, String> {
    let failed = |e: std::io::Error| format!("cannot read http://{addr}/metrics: {e}");
    // Each address the name has, in turn (`localhost` may be ::1 first, the broker on
    // 127.0.0.1 only).
    let mut connected = Err(std::io::Error::other("the name has no address"));
    for socket in addr.to_socket_addrs().map_err(failed)? {
        connected = TcpStream::connect_timeout(&socket, TIMEOUT);
        if connected.is_ok() {
            break;
        }
    }
    let mut stream = connected.map_err(failed)?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(failed)?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(failed)?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(failed)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("http://{addr}/metrics: not an HTTP response"))?;
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        return Err(format!("http://{addr}/metrics answered {status}: {}", body.trim()));
    }
    Ok(body.to_string())
}

/// The samples of `metrics` (OpenMetrics text) labelled with `topic` and a partition, as
/// (metric name, partition, value). The broker writes the labels `topic` then `partition`.
pub fn partition_samples<'a>(metrics: &'a str, topic: &str) -> Vec<(&'a str, i32, f64)> {
    let labels = format!("{{topic=\"{topic}\",partition=\"");
    metrics
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(&labels)?;
            let (partition, value) = rest.split_once("\"} ")?;
            Some((name, partition.parse().ok()?, value.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A server answering one request with `response`; its address.
    fn answering(response: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            // The request may arrive in several reads: up to its blank line.
            let mut request = Vec::new();
            let mut chunk = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let read = stream.read(&mut chunk).unwrap();
                assert!(read > 0, "the request ends before its blank line");
                request.extend_from_slice(&chunk[..read]);
            }
            assert!(request.starts_with(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1:"));
            stream.write_all(response.as_bytes()).unwrap();
        });
        addr
    }

    #[test]
    fn a_scrape_returns_the_body_and_refuses_what_is_not_200() {
        let ok = answering("HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n# EOF\nabcd\n");
        assert_eq!(scrape(&ok), Ok("# EOF\nabcd\n".to_string()));
        let unavailable = answering("HTTP/1.1 503 Service Unavailable\r\n\r\nnot ready\n");
        assert_eq!(
            scrape(&unavailable),
            Err(format!("http://{unavailable}/metrics answered 503: not ready"))
        );
    }

    #[test]
    fn partition_samples_are_read_for_one_topic() {
        let text = "# TYPE tidelog_log_cleaner_dirty_ratio gauge\n\
            tidelog_log_cleaner_dirty_ratio{topic=\"t\",partition=\"0\"} 0.25\n\
            tidelog_log_cleaner_dirty_ratio{topic=\"t2\",partition=\"0\"} 0.5\n\
            tidelog_log_cleaner_last_cleaned_timestamp_seconds{topic=\"t\",partition=\"1\"} 1796588000.5\n\
            # EOF\n";
        assert_eq!(
            partition_samples(text, "t"),
            vec![
                ("tidelog_log_cleaner_dirty_ratio", 0, 0.25),
                ("tidelog_log_cleaner_last_cleaned_timestamp_seconds", 1, 1796588000.5)
            ]
        );
    }
}
