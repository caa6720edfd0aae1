//! A plain HTTP/1.0 client for end-to-end tests: requests to a process on 127.0.0.1,
//! answers read whole.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// The partitions the service on `port` holds, by consumer group and topic, as its
/// `/metrics` shows them (`consumer_assigned_partitions`).
pub async fn assignment(port: u16) -> BTreeMap<(String, String), BTreeSet<i32>> {
    let answer = http_call(port, "GET", "/metrics", &[], b"").await;
    assert_eq!(
        answer.status, 200,
        "GET /metrics on {port}: {}",
        answer.body
    );
    parse_assignment(&answer.body)
}

/// Partitions held by group and topic, as the runtime's metrics show them in
/// `consumer_assigned_partitions`: what tests read from an instance's `/metrics`.
pub fn parse_assignment(rendered: &str) -> BTreeMap<(String, String), BTreeSet<i32>> {
    let mut held: BTreeMap<(String, String), BTreeSet<i32>> = BTreeMap::new();
    for line in rendered.lines() {
        let Some(sample) = line.strip_prefix("consumer_assigned_partitions{") else {
            continue;
        };
        let Some((labels, value)) = sample.rsplit_once("} ") else {
            continue;
        };
        if value.trim() != "1" {
            continue;
        }
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|pair| pair.strip_prefix(&format!("{name}=\"")))
                .map(|value| value.trim_end_matches('"').to_string())
        };
        if let (Some(group), Some(topic), Some(partition)) =
            (label("group"), label("topic"), label("partition"))
        {
            if let Ok(partition) = partition.parse() {
                held.entry((group, topic)).or_default().insert(partition);
            }
        }
    }
    held
}

/// The status code of `GET path` on 127.0.0.1:`port`, or `None` when nothing answers.
pub async fn http_status(port: u16, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .ok()?
        .ok()?;
    let head = String::from_utf8_lossy(&response);
    head.split_whitespace().nth(1)?.parse().ok()
}

/// An HTTP answer read by [`http_request`].
#[derive(Debug)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: HashMap<String, String>,
    /// Body as text.
    pub body: String,
}

impl HttpAnswer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

/// A plain HTTP/1.0 request to 127.0.0.1:`port`, for end-to-end tests.
pub async fn http_request(
    port: u16,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> HttpAnswer {
    let headers: Vec<(&str, &str)> = content_type
        .map(|value| ("Content-Type", value))
        .into_iter()
        .collect();
    http_call(port, method, path, &headers, body).await
}

/// [`http_request`] with any headers.
pub async fn http_call(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpAnswer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body).await.ok();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(40), stream.read_to_end(&mut response))
        .await
        .expect("answer in time")
        .ok();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    HttpAnswer {
        status,
        headers,
        body: body.to_string(),
    }
}
