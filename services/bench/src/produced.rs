//! The records produced to each of the platform's topics over a step: the sum of its
//! partitions' high watermarks before and after. Each topic has one writer (the service
//! that owns it, or the gateway for commands and queries), so this counts what each
//! process produced, whichever path sent it: a handler's batch, the outbox relay,
//! payment's charger or the gateway's requests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_runtime::KafkaConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// Topic → every record produced to it so far (its partitions' high watermarks summed).
pub type Ends = BTreeMap<String, i64>;

/// Reads the ends of the platform's topics, with one client for the whole run.
pub struct TopicEnds {
    // Watermarks only: nothing is assigned, joined or committed.
    consumer: Arc<BaseConsumer>,
    topics: Vec<String>,
}

impl TopicEnds {
    /// A reader of the topics `kafka` names.
    pub fn new(kafka: &KafkaConfig) -> anyhow::Result<Self> {
        let consumer: BaseConsumer = kafka.client_config(&[("group.id", "bench")]).create()?;
        let topics = kafka.topics.all().into_iter().map(|(name, _)| name);
        Ok(Self {
            consumer: Arc::new(consumer),
            topics: topics.collect(),
        })
    }

    /// The topics' ends now.
    pub async fn read(&self) -> anyhow::Result<Ends> {
        let (consumer, topics) = (self.consumer.clone(), self.topics.clone());
        tokio::task::spawn_blocking(move || {
            let timeout = Duration::from_secs(5);
            let metadata = consumer.fetch_metadata(None, timeout)?;
            let mut ends = Ends::new();
            for topic in metadata.topics() {
                if !topics.iter().any(|name| name == topic.name()) {
                    continue;
                }
                let mut end = 0;
                for partition in topic.partitions() {
                    end += consumer
                        .fetch_watermarks(topic.name(), partition.id(), timeout)?
                        .1;
                }
                ends.insert(topic.name().to_string(), end);
            }
            Ok(ends)
        })
        .await?
    }
}
