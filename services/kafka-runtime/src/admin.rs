//! Topic administration: what `topics.sh` and the tests use to create topics.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use shared_events::topics::Retention;

use crate::config::KafkaConfig;

/// `retention.ms` of the topics kept for replay: -1, Apache Kafka's "forever".
pub const KEEP_FOREVER_MS: i64 = -1;

/// One topic to create.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    /// Full name, prefix included.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Replication factor.
    pub replication: i32,
    /// `retention.ms`; [`KEEP_FOREVER_MS`] keeps for good.
    pub retention_ms: i64,
    /// `cleanup.policy=compact`: keep the latest message per key.
    pub compact: bool,
}

impl TopicSpec {
    /// A topic with the contract's retention: long is forever, short is one hour,
    /// compacted keeps the latest message per key forever.
    pub fn new(name: String, retention: Retention, partitions: i32) -> Self {
        let retention_ms = match retention {
            Retention::Long | Retention::Compacted => KEEP_FOREVER_MS,
            Retention::Short => 3_600_000,
        };
        Self {
            name,
            partitions,
            replication: 1,
            retention_ms,
            compact: retention == Retention::Compacted,
        }
    }
}

/// Creates the topics that do not exist yet; an existing topic is left as it is.
pub async fn create_topics(kafka: &KafkaConfig, topics: &[TopicSpec]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = kafka.client_config(&[]).create()?;
    let retention: Vec<String> = topics.iter().map(|t| t.retention_ms.to_string()).collect();
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .zip(&retention)
        .map(|(t, retention)| {
            NewTopic::new(
                &t.name,
                t.partitions,
                TopicReplication::Fixed(t.replication),
            )
            .set("retention.ms", retention)
            .set(
                "cleanup.policy",
                if t.compact { "compact" } else { "delete" },
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new_topics, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("could not create topic {name}: {code}"),
        }
    }
    Ok(())
}

/// Creates every platform topic for the configured prefix.
pub async fn create_platform_topics(kafka: &KafkaConfig, partitions: i32) -> anyhow::Result<()> {
    let specs: Vec<TopicSpec> = kafka
        .topics
        .all()
        .into_iter()
        .map(|(name, retention)| TopicSpec::new(name, retention, partitions))
        .collect();
    create_topics(kafka, &specs).await
}
