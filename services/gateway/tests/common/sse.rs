//! A Server-Sent Events reader over a plain socket, as a browser's EventSource would
//! connect.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An open event stream.
pub struct SseReader {
    stream: TcpStream,
    buffer: String,
    /// The status line and headers.
    pub head: String,
}

impl SseReader {
    /// Opens `GET path` with a bearer token and reads the response head.
    pub async fn open(port: u16, path: &str, token: &str) -> Self {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let request = format!(
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut reader = Self {
            stream,
            buffer: String::new(),
            head: String::new(),
        };
        while !reader.buffer.contains("\r\n\r\n") {
            assert!(
                reader.fill(Duration::from_secs(20)).await,
                "no response head"
            );
        }
        let (head, rest) = reader.buffer.split_once("\r\n\r\n").expect("head");
        (reader.head, reader.buffer) = (head.to_string(), rest.to_string());
        reader
    }

    /// Reads more; false when the stream ended or nothing came in time.
    async fn fill(&mut self, timeout: Duration) -> bool {
        let mut chunk = [0_u8; 4096];
        match tokio::time::timeout(timeout, self.stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buffer.push_str(&String::from_utf8_lossy(&chunk[..n]));
                true
            }
            _ => false,
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

    /// Whether the server closed the stream within `timeout`.
    pub async fn closed(&mut self, timeout: Duration) -> bool {
        let mut chunk = [0_u8; 256];
        matches!(
            tokio::time::timeout(timeout, self.stream.read(&mut chunk)).await,
            Ok(Ok(0))
        )
    }

    /// Everything still unread up to the end of the stream, comments included, or
    /// `None` when the server did not close it within `timeout`.
    pub async fn rest_until_closed(&mut self, timeout: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut chunk = [0_u8; 4096];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) => return Some(std::mem::take(&mut self.buffer)),
                Ok(Ok(n)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk[..n])),
                Ok(Err(err)) => panic!("reading the stream: {err}"),
                Err(_) => return None,
            }
        }
    }
}
