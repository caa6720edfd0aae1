//! What `kafka-tool` does, as functions the tests can call too.

use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message as _;

use crate::config::KafkaConfig;
use crate::follow::{assign_all, Start};

/// Whether the broker answers a metadata request within `timeout`: an open port is not
/// enough (a starting node accepts connections before it serves metadata).
pub fn ping(kafka: &KafkaConfig, timeout: Duration) -> anyhow::Result<()> {
    let client: rdkafka::consumer::BaseConsumer = kafka.client_config(&[]).create()?;
    let metadata = client.fetch_metadata(None, timeout)?;
    anyhow::ensure!(
        !metadata.brokers().is_empty(),
        "the broker listed no brokers"
    );
    Ok(())
}

/// Prints `KEY<TAB>VALUE` for each message of a topic until interrupted. It reads every
/// partition by assignment, without a consumer group: nothing to form or to leave behind,
/// so the first record shows as soon as it is fetched.
pub async fn tail(kafka: &KafkaConfig, topic: &str, from_beginning: bool) -> anyhow::Result<()> {
    let consumer: StreamConsumer = kafka
        .client_config(&[
            ("group.id", "kafka-tool-tail"),
            ("enable.auto.commit", "false"),
        ])
        .create()?;
    let start = if from_beginning {
        Start::Beginning
    } else {
        Start::End
    };
    assign_all(&consumer, topic, start)?;
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
