//! An HTTP client for end-to-end tests: requests to a process on 127.0.0.1, answers read
//! whole or, for event streams, as they come.
//!
//! Each call builds its own client, so any task of any test runtime can call it; a
//! client is cheap without TLS.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Client, Method, Response};

/// How long a request may take, answer included: longer than the 20 s a test waits
/// for a command's outcome.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);

/// How long [`http_status`] waits before it takes the process for absent.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

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

/// A request to 127.0.0.1:`port`, for end-to-end tests.
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
    let response = send(port, method, path, headers, body, Some(REQUEST_TIMEOUT))
        .await
        .unwrap_or_else(|err| panic!("{method} {path} on port {port}: {err}"));
    let (status, headers) = (response.status().as_u16(), lower_cased(response.headers()));
    let body = response
        .bytes()
        .await
        .unwrap_or_else(|err| panic!("the answer to {method} {path} on port {port}: {err}"));
    HttpAnswer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The status and body of `GET path` on 127.0.0.1:`port`, or `None` when nothing answers.
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let response = send(port, "GET", path, &[], b"", Some(STATUS_TIMEOUT))
        .await
        .ok()?;
    let status = response.status().as_u16();
    let body = response.bytes().await.ok()?;
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The status code of `GET path` on 127.0.0.1:`port`, or `None` when nothing answers.
pub async fn http_status(port: u16, path: &str) -> Option<u16> {
    let response = send(port, "GET", path, &[], b"", Some(STATUS_TIMEOUT)).await;
    Some(response.ok()?.status().as_u16())
}

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
/// `consumer_assigned_partitions`: what tests read from an instance's `/metrics`, read
/// by the parser `./dev status` uses too (`kafka_runtime::assignments`).
pub fn parse_assignment(rendered: &str) -> BTreeMap<(String, String), BTreeSet<i32>> {
    let mut held: BTreeMap<(String, String), BTreeSet<i32>> = BTreeMap::new();
    for h in kafka_runtime::assignments::held(rendered) {
        held.entry((h.group, h.topic))
            .or_default()
            .insert(h.partition);
    }
    held
}

/// An answer whose body is read as it comes: an event stream.
pub struct HttpStream {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: HashMap<String, String>,
    response: Response,
}

/// What [`HttpStream::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamRead {
    /// The next piece of the body, as text.
    Data(String),
    /// The server ended the body.
    End,
    /// Nothing came in time.
    TimedOut,
}

impl HttpStream {
    /// Opens `GET path` on 127.0.0.1:`port` with `headers` and reads the status and
    /// headers, waiting up to 20 s for them; the body stays open without a time limit.
    pub async fn open(port: u16, path: &str, headers: &[(&str, &str)]) -> Self {
        let opening = send(port, "GET", path, headers, b"", None);
        let response = tokio::time::timeout(Duration::from_secs(20), opening)
            .await
            .unwrap_or_else(|_| panic!("no answer to GET {path} on port {port} in 20 s"))
            .unwrap_or_else(|err| panic!("GET {path} on port {port}: {err}"));
        Self {
            status: response.status().as_u16(),
            headers: lower_cased(response.headers()),
            response,
        }
    }

    /// The next piece of the body, waiting up to `timeout`. A broken connection fails
    /// the test: a stream must end with its body.
    pub async fn next(&mut self, timeout: Duration) -> StreamRead {
        match tokio::time::timeout(timeout, self.response.chunk()).await {
            Ok(Ok(Some(chunk))) => StreamRead::Data(String::from_utf8_lossy(&chunk).into_owned()),
            Ok(Ok(None)) => StreamRead::End,
            Ok(Err(err)) => panic!("reading the stream: {err}"),
            Err(_) => StreamRead::TimedOut,
        }
    }
}

/// Sends a request to 127.0.0.1:`port`; `timeout` bounds the whole exchange, answer
/// included.
async fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Option<Duration>,
) -> reqwest::Result<Response> {
    let mut client = Client::builder().connect_timeout(STATUS_TIMEOUT);
    if let Some(timeout) = timeout {
        client = client.timeout(timeout);
    }
    let method = Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut request = client
        .build()?
        .request(method, format!("http://127.0.0.1:{port}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if !body.is_empty() {
        request = request.body(body.to_vec());
    }
    request.send().await
}

/// Headers by lower-cased name (`HeaderMap` names are), values as text.
fn lower_cased(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect()
}
