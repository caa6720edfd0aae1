//! Topic administration: what `topics.sh` and the tests use to create topics.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use shared_events::topics::Retention;

use crate::config::KafkaConfig;
use crate::settings::FromEnv;

/// `retention.ms` of the topics kept for replay: -1, Apache Kafka's "forever".
pub const KEEP_FOREVER_MS: i64 = -1;

/// How many copies of each partition the brokers keep, and how many of them must hold a
/// record before a producer's `acks=all` is answered. `topics.sh`, `./dev` and
/// docker-compose.kafka.yml set the same two variables: one broker 1 (and its default
/// minimum, 1); a cluster of three 3 and 2 (deploy/kafka/cluster.env), so that an
/// acknowledged record is on two brokers and one broker may be lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Replication {
    /// Copies of each partition (`--replication-factor`).
    #[arg(
        long = "replication",
        env = "TOPIC_REPLICATION_FACTOR",
        default_value_t = 1
    )]
    pub factor: i32,
    /// The topics' `min.insync.replicas`; unset, the broker's `min.insync.replicas`.
    #[arg(long = "min-insync-replicas", env = "TOPIC_MIN_INSYNC_REPLICAS")]
    pub min_insync_replicas: Option<i32>,
}

/// The replication settings as a whole command, to read them from the environment.
#[derive(clap::Parser)]
struct ReplicationOnly {
    #[command(flatten)]
    replication: Replication,
}

impl Replication {
    /// One copy: a single broker.
    pub const SINGLE: Self = Self {
        factor: 1,
        min_insync_replicas: None,
    };

    /// `TOPIC_REPLICATION_FACTOR` (default 1) and `TOPIC_MIN_INSYNC_REPLICAS` (default:
    /// the broker's) from the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        ReplicationOnly::from_env().map(|only| only.replication)
    }

    /// The same from `NAME=VALUE` lines (deploy/kafka/cluster.env); other names and
    /// comments are ignored.
    pub fn from_env_file(text: &str) -> anyhow::Result<Self> {
        let vars = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .filter_map(|line| line.split_once('='))
            .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()));
        ReplicationOnly::from_vars(vars).map(|only| only.replication)
    }
}

/// One topic to create.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    /// Full name, prefix included.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Copies, and `min.insync.replicas` (unset: the broker's default).
    pub replication: Replication,
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
            replication: Replication::SINGLE,
            retention_ms,
            compact: retention == Retention::Compacted,
        }
    }

    /// The same topic with `replication`'s copies and minimum in-sync replicas.
    pub fn replicated(self, replication: Replication) -> Self {
        Self {
            replication,
            ..self
        }
    }
}

/// Creates the topics that do not exist yet; an existing topic is left as it is.
pub async fn create_topics(kafka: &KafkaConfig, topics: &[TopicSpec]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = kafka.client_config(&[]).create()?;
    let retention: Vec<String> = topics.iter().map(|t| t.retention_ms.to_string()).collect();
    let min_insync: Vec<Option<String>> = topics
        .iter()
        .map(|t| t.replication.min_insync_replicas.map(|n| n.to_string()))
        .collect();
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .zip(retention.iter().zip(&min_insync))
        .map(|(t, (retention, min_insync))| {
            let topic = NewTopic::new(
                &t.name,
                t.partitions,
                TopicReplication::Fixed(t.replication.factor),
            )
            .set("retention.ms", retention)
            .set(
                "cleanup.policy",
                if t.compact { "compact" } else { "delete" },
            );
            match min_insync {
                Some(min_insync) => topic.set("min.insync.replicas", min_insync),
                None => topic,
            }
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

/// Creates every platform topic for the configured prefix, replicated as
/// `TOPIC_REPLICATION_FACTOR` and `TOPIC_MIN_INSYNC_REPLICAS` say ([`Replication`]).
pub async fn create_platform_topics(kafka: &KafkaConfig, partitions: i32) -> anyhow::Result<()> {
    create_replicated_platform_topics(kafka, partitions, Replication::from_env()?).await
}

/// Creates every platform topic for the configured prefix with `replication`.
pub async fn create_replicated_platform_topics(
    kafka: &KafkaConfig,
    partitions: i32,
    replication: Replication,
) -> anyhow::Result<()> {
    let specs: Vec<TopicSpec> = kafka
        .topics
        .all()
        .into_iter()
        .map(|(name, retention)| {
            TopicSpec::new(name, retention, partitions).replicated(replication)
        })
        .collect();
    create_topics(kafka, &specs).await
}

/// One partition as the cluster's metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReplicas {
    /// Its number.
    pub partition: i32,
    /// The broker leading it; -1 while none does.
    pub leader: i32,
    /// The brokers holding a copy.
    pub replicas: Vec<i32>,
    /// Those of them in sync with the leader.
    pub isr: Vec<i32>,
}

impl PartitionReplicas {
    /// Whether every copy is in sync.
    pub fn in_sync(&self) -> bool {
        self.isr.len() == self.replicas.len()
    }
}

/// What the metadata says of a cluster: the brokers it lists (those alive) and, for each
/// topic asked for, its partitions in order (none when the topic does not exist).
#[derive(Debug, Clone)]
pub struct ClusterReplicas {
    /// The brokers' ids, sorted.
    pub brokers: Vec<i32>,
    /// Topic name → its partitions.
    pub topics: Vec<(String, Vec<PartitionReplicas>)>,
}

impl ClusterReplicas {
    /// The partitions of `topic`; empty when it does not exist.
    pub fn partitions(&self, topic: &str) -> &[PartitionReplicas] {
        self.topics
            .iter()
            .find(|(name, _)| name == topic)
            .map_or(&[], |(_, partitions)| partitions.as_slice())
    }
}

/// Asks the cluster for the leaders, replicas and in-sync replicas of `topics`: one
/// metadata request, blocking up to `timeout`.
pub fn describe_replicas(
    kafka: &KafkaConfig,
    topics: &[String],
    timeout: Duration,
) -> anyhow::Result<ClusterReplicas> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let client: BaseConsumer = kafka.client_config(&[]).create()?;
    let metadata = client.fetch_metadata(None, timeout)?;
    let mut brokers: Vec<i32> = metadata.brokers().iter().map(|b| b.id()).collect();
    brokers.sort_unstable();
    let topics = topics
        .iter()
        .map(|name| {
            let mut partitions: Vec<PartitionReplicas> = metadata
                .topics()
                .iter()
                .filter(|topic| topic.name() == name && topic.error().is_none())
                .flat_map(|topic| topic.partitions())
                .map(|p| PartitionReplicas {
                    partition: p.id(),
                    leader: p.leader(),
                    replicas: p.replicas().to_vec(),
                    isr: p.isr().to_vec(),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            (name.clone(), partitions)
        })
        .collect();
    Ok(ClusterReplicas { brokers, topics })
}
