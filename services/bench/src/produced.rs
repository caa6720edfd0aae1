//! The records produced to each of the platform's topics over a step: the sum of its
//! partitions' high watermarks before and after. Each topic has one writer (the service
//! that owns it, or the gateway for commands and queries), so this counts what each
//! process produced, whichever path sent it: a handler's batch, the outbox relay,
//! payment's charger or the gateway's requests.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_runtime::KafkaConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// Topic → every record produced to it so far (its partitions' high watermarks summed).
pub type Ends = BTreeMap<String, i64>;

/// The platform's topics' ends now.
pub async fn ends(kafka: &KafkaConfig) -> anyhow::Result<Ends> {
    let kafka = kafka.clone();
    tokio::task::spawn_blocking(move || {
        // Watermarks only: nothing is assigned, joined or committed.
        let consumer: BaseConsumer = kafka.client_config(&[("group.id", "bench")]).create()?;
        let timeout = Duration::from_secs(5);
        let mut ends = Ends::new();
        for (topic, _) in kafka.topics.all() {
            let metadata = consumer.fetch_metadata(Some(&topic), timeout)?;
            let partitions = metadata.topics().first().map(|t| t.partitions().len());
            let mut end = 0;
            for partition in 0..partitions.unwrap_or(0) as i32 {
                end += consumer.fetch_watermarks(&topic, partition, timeout)?.1;
            }
            ends.insert(topic, end);
        }
        Ok(ends)
    })
    .await?
}
