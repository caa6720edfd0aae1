//! What `kafka-tool` does, as functions the tests can call too.

use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::Message as _;
use shared_events::RawEnvelope;

use crate::config::KafkaConfig;
use crate::producer::{PublishError, Publisher};

/// Whether the broker answers a metadata request within `timeout`: an open port is not
/// enough (a broker whose storage failed still accepts connections).
pub fn ping(kafka: &KafkaConfig, timeout: Duration) -> anyhow::Result<()> {
    let client: rdkafka::consumer::BaseConsumer = kafka.client_config(&[]).create()?;
    let metadata = client.fetch_metadata(None, timeout)?;
    anyhow::ensure!(
        !metadata.brokers().is_empty(),
        "the broker listed no brokers"
    );
    Ok(())
}

/// Splits a `kafka-console-producer --property parse.key=true` line: key, TAB, value.
pub fn parse_replay_line(line: &str) -> anyhow::Result<(&str, &str)> {
    line.split_once('\t')
        .ok_or_else(|| anyhow::anyhow!("no TAB between key and value (the format is KEY<TAB>JSON)"))
}

/// Produces one replayed message as it is, with a `type` header when the value is an
/// envelope. A value that is not an envelope is sent anyway: its consumer dead-letters it.
pub async fn replay_one(
    publisher: &Publisher,
    topic: &str,
    key: &str,
    value: &str,
) -> Result<(), PublishError> {
    let kind = RawEnvelope::parse(value.as_bytes()).ok().map(|e| e.kind);
    let mut headers = OwnedHeaders::new();
    if let Some(kind) = &kind {
        headers = headers.insert(Header {
            key: "type",
            value: Some(kind.as_str()),
        });
    }
    publisher
        .send_raw(topic, key.as_bytes(), value.as_bytes(), headers)
        .await
        .map(|_| ())
}

/// Prints `KEY<TAB>VALUE` for each message of a topic until interrupted.
pub async fn tail(kafka: &KafkaConfig, topic: &str, from_beginning: bool) -> anyhow::Result<()> {
    let group = format!("kafka-tool-tail-{}", uuid::Uuid::new_v4());
    let reset = if from_beginning { "earliest" } else { "latest" };
    let consumer: StreamConsumer = kafka
        .client_config(&[
            ("group.id", &group),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", reset),
        ])
        .create()?;
    consumer.subscribe(&[topic])?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            received = consumer.recv() => match received {
                Ok(m) => {
                    let key = m.key().map(String::from_utf8_lossy).unwrap_or_default();
                    let value = m.payload().map(String::from_utf8_lossy).unwrap_or_default();
                    println!("{key}\t{value}");
                }
                Err(err) => {
                    eprintln!("error: {err}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_line_splits_at_the_first_tab() {
        assert_eq!(
            parse_replay_line("k1\t{\"a\":\"x\ty\"}").unwrap(),
            ("k1", "{\"a\":\"x\ty\"}")
        );
        assert!(parse_replay_line("no tab here").is_err());
    }
}
