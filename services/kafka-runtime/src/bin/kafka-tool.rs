//! `kafka-tool`: create topics, tail a topic, list and re-drive dead letters, read the
//! partitions instances hold from their metrics: what `./dev` needs in one quick binary. Operators replay with Apache Kafka's own
//! `kafka-console-producer` (`./dev replay`).
//!
//! ```text
//! kafka-tool create-topic NAME [--partitions N] [--replication R] [--min-insync-replicas M]
//!                        [--retention-ms MS] [--compact]
//! kafka-tool create-topics [--partitions N]      # every platform topic, with KAFKA_TOPIC_PREFIX
//! kafka-tool replicas                            # leaders and in-sync replicas per topic
//! kafka-tool tail TOPIC [--from-beginning]       # prints KEY<TAB>JSON per message
//! kafka-tool ping [--timeout-ms MS]              # exit 0 when the broker answers metadata
//! kafka-tool dlq-list TOPIC                      # one line per dead letter, with its status
//! kafka-tool dlq-redrive TOPIC [--id ID]         # produce pending dead letters again
//! kafka-tool partitions < METRICS                # the partitions one instance holds
//! kafka-tool partitions-covered --partitions N METRICS...  # exit 0 when all are held
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use kafka_runtime::admin::{
    create_replicated_platform_topics, create_topics, describe_replicas, PartitionReplicas,
    Replication, TopicSpec,
};
use kafka_runtime::{assignments, dlq, tools};
use kafka_runtime::{KafkaConfig, Publisher};

/// Creates topics, tails them, lists and re-drives dead letters, reads held partitions.
#[derive(Debug, clap::Parser)]
#[command(name = "kafka-tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Creates one topic.
    CreateTopic {
        /// The topic's full name.
        name: String,
        #[arg(long, default_value_t = 6)]
        partitions: i32,
        /// TOPIC_REPLICATION_FACTOR and TOPIC_MIN_INSYNC_REPLICAS unless given.
        #[command(flatten)]
        replication: Replication,
        /// -1 keeps messages forever.
        #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
        retention_ms: i64,
        /// Keeps the latest message per key.
        #[arg(long)]
        compact: bool,
    },
    /// Creates every platform topic, with KAFKA_TOPIC_PREFIX.
    CreateTopics {
        #[arg(long, default_value_t = 6)]
        partitions: i32,
        /// TOPIC_REPLICATION_FACTOR and TOPIC_MIN_INSYNC_REPLICAS unless given.
        #[command(flatten)]
        replication: Replication,
    },
    /// Prints the brokers the metadata lists, then one line per platform topic (with
    /// KAFKA_TOPIC_PREFIX) and `__consumer_offsets`: the leader of each partition, and
    /// whether every copy is in sync. Exits 1 when a partition has no leader or a copy
    /// is out of sync.
    Replicas {
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
    /// Prints KEY<TAB>JSON per message.
    Tail {
        topic: String,
        #[arg(long)]
        from_beginning: bool,
    },
    /// Exits 0 when the broker answers a metadata request.
    Ping {
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
    /// One line per dead letter, with its status.
    DlqList { topic: String },
    /// Produces pending dead letters again (all, or the one with this envelope id).
    DlqRedrive {
        topic: String,
        #[arg(long)]
        id: Option<uuid::Uuid>,
    },
    /// Reads one instance's /metrics (Prometheus text) on stdin and prints the partitions
    /// it holds, one line per group and set of partitions, indented to sit under the
    /// instance's line in `./dev status`.
    Partitions,
    /// Exits 0 when the instances whose /metrics are in these files (one each) hold,
    /// together, every partition of each topic their groups read, and each holds some.
    PartitionsCovered {
        /// Partitions per topic.
        #[arg(long)]
        partitions: usize,
        /// One file per instance (`<(curl …/metrics)` from the shell).
        metrics: Vec<PathBuf>,
    },
}

/// How far `partitions` indents its lines: under the pid column of `./dev status`.
const STATUS_INDENT: &str = "              ";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = <Cli as clap::Parser>::parse();
    // Read by the subcommands that talk to the broker only.
    let kafka = KafkaConfig::from_env;
    match cli.command {
        Command::CreateTopic {
            name,
            partitions,
            replication,
            retention_ms,
            compact,
        } => {
            let spec = TopicSpec {
                name,
                partitions,
                replication,
                retention_ms,
                compact,
            };
            create_topics(&kafka()?, &[spec]).await?;
        }
        Command::CreateTopics {
            partitions,
            replication,
        } => {
            create_replicated_platform_topics(&kafka()?, partitions, replication).await?;
        }
        Command::Replicas { timeout_ms } => {
            let kafka = kafka()?;
            let mut topics: Vec<String> = kafka.topics.all().into_iter().map(|(n, _)| n).collect();
            topics.push("__consumer_offsets".into());
            let cluster = describe_replicas(&kafka, &topics, Duration::from_millis(timeout_ms))?;
            let brokers: Vec<String> = cluster.brokers.iter().map(i32::to_string).collect();
            let mut text = format!("brokers in the metadata: {}\n", brokers.join(", "));
            let mut healthy = true;
            for (name, partitions) in &cluster.topics {
                healthy &= !partitions.is_empty()
                    && partitions.iter().all(|p| p.leader >= 0 && p.in_sync());
                text.push_str(&format!(
                    "{STATUS_INDENT}{}\n",
                    describe_topic_line(name, partitions)
                ));
            }
            std::io::stdout().write_all(text.as_bytes())?;
            if !healthy {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Tail {
            topic,
            from_beginning,
        } => tools::tail(&kafka()?, &topic, from_beginning).await?,
        Command::DlqList { topic } => {
            let listed = dlq::list(&kafka()?, &topic).await?;
            for entry in &listed {
                println!("{entry}");
            }
            let count = |word| listed.iter().filter(|l| l.status.word() == word).count();
            eprintln!(
                "{} dead letter(s) in {topic}: {} pending, {} re-driven, {} not an envelope, {} without a source",
                listed.len(),
                count("pending"),
                count("redriven"),
                count("not-envelope"),
                count("no-source"),
            );
        }
        Command::DlqRedrive { topic, id } => {
            let kafka = kafka()?;
            let publisher = Publisher::new(&kafka)?;
            let done = dlq::redrive(&kafka, &publisher, &topic, id).await?;
            publisher.flush(Duration::from_secs(10)).await;
            for (id, kind, to) in &done.sent {
                println!("re-drove {id} {kind} to {to}");
            }
            eprintln!(
                "re-drove {} message(s) from {topic}; skipped {} re-driven before and {} that cannot be re-driven (see dlq-list)",
                done.sent.len(),
                done.already,
                done.cannot
            );
        }
        Command::Ping { timeout_ms } => tools::ping(&kafka()?, Duration::from_millis(timeout_ms))?,
        Command::Partitions => {
            let metrics = std::io::read_to_string(std::io::stdin())?;
            let mut lines = assignments::describe(&assignments::held(&metrics));
            if lines.is_empty() {
                lines.push("holds no partition".into());
            }
            // Written at once, and a closed pipe is an error, not a panic.
            let text: String = lines
                .iter()
                .map(|line| format!("{STATUS_INDENT}{line}\n"))
                .collect();
            std::io::stdout().write_all(text.as_bytes())?;
        }
        Command::PartitionsCovered {
            partitions,
            metrics,
        } => {
            // A file that cannot be read is an instance that did not answer: not covered.
            let instances: Vec<_> = metrics
                .iter()
                .map(|path| std::fs::read_to_string(path).unwrap_or_default())
                .map(|text| assignments::held(&text))
                .collect();
            if !assignments::covered(&instances, partitions) {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per topic for `./dev status`: its name, the leader of each partition in
/// order (`-` for none), and whether every copy is in sync or which partitions lag.
fn describe_topic_line(name: &str, partitions: &[PartitionReplicas]) -> String {
    if partitions.is_empty() {
        return format!("{name:<22} missing (./dev topics creates it)");
    }
    let leaders: Vec<String> = partitions
        .iter()
        .map(|p| {
            if p.leader < 0 {
                "-".to_string()
            } else {
                p.leader.to_string()
            }
        })
        .collect();
    let lagging: Vec<String> = partitions
        .iter()
        .filter(|p| !p.in_sync())
        .map(|p| format!("p{} {}", p.partition, ids(&p.isr)))
        .collect();
    let copies = partitions
        .iter()
        .map(|p| p.replicas.len())
        .max()
        .unwrap_or(0);
    let sync = if lagging.is_empty() {
        format!("all {copies} copies in sync")
    } else {
        format!("UNDER-REPLICATED: in sync {}", lagging.join(", "))
    };
    format!("{name:<22} leaders {:<12} {sync}", leaders.join(" "))
}

fn ids(ids: &[i32]) -> String {
    let ids: Vec<String> = ids.iter().map(i32::to_string).collect();
    format!("[{}]", ids.join(","))
}
