//! A Server-Sent Events reader, as a browser's EventSource would connect.

use std::time::Duration;

use serde_json::Value;
use testkit::{HttpStream, StreamRead};

/// An open event stream.
pub struct SseReader {
    stream: HttpStream,
    buffer: String,
}

impl SseReader {
    /// Opens `GET path` with a bearer token and reads the response's status and headers.
    pub async fn open(port: u16, path: &str, token: &str) -> Self {
        let bearer = format!("Bearer {token}");
        let headers = [
            ("Accept", "text/event-stream"),
            ("Authorization", bearer.as_str()),
        ];
        Self {
            stream: HttpStream::open(port, path, &headers).await,
            buffer: String::new(),
        }
    }

    /// The response's status code.
    pub fn status(&self) -> u16 {
        self.stream.status
    }

    /// The response's `Content-Type`, empty when it has none.
    pub fn content_type(&self) -> &str {
        self.stream
            .headers
            .get("content-type")
            .map_or("", String::as_str)
    }

    /// Reads more; false when the stream ended or nothing came in time.
    async fn fill(&mut self, timeout: Duration) -> bool {
        match self.stream.next(timeout).await {
            StreamRead::Data(text) => {
                self.buffer.push_str(&text);
                true
            }
            StreamRead::End | StreamRead::TimedOut => false,
        }
    }

    /// The data of the next `status` event (comments and keep-alives skipped), or
    /// `None` when the stream ended first.
    pub async fn next_status(&mut self, timeout: Duration) -> Option<Value> {
        loop {
            while let Some((event, rest)) = self.buffer.split_once("\n\n") {
                let (event, rest) = (event.to_string(), rest.to_string());
                self.buffer = rest;
                if event.lines().any(|l| l == "event: status") {
                    let data = event.lines().find_map(|l| l.strip_prefix("data: "))?;
                    return Some(serde_json::from_str(data).expect("JSON data"));
                }
            }
            if !self.fill(timeout).await {
                return None;
            }
        }
    }

    /// Whether the server ended the stream within `timeout`, with nothing more on it.
    pub async fn closed(&mut self, timeout: Duration) -> bool {
        self.stream.next(timeout).await == StreamRead::End
    }

    /// Everything still unread up to the end of the stream, comments included, or
    /// `None` when the server did not end it within `timeout`.
    pub async fn rest_until_closed(&mut self, timeout: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.stream.next(left).await {
                StreamRead::Data(text) => self.buffer.push_str(&text),
                StreamRead::End => return Some(std::mem::take(&mut self.buffer)),
                StreamRead::TimedOut => return None,
            }
        }
    }
}
