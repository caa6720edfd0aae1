//! `kafka-tool`: create topics, replay messages from the shell, tail a topic, list and
//! re-drive dead letters. It works on any Kafka-protocol broker, including those the
//! console tools cannot reach.
//!
//! ```text
//! kafka-tool create-topic NAME [--partitions N] [--replication R] [--retention-ms MS] [--compact]
//! kafka-tool create-topics [--partitions N]      # every platform topic, with KAFKA_TOPIC_PREFIX
//! kafka-tool replay TOPIC < lines                # KEY<TAB>JSON per line, like kafka-console-producer
//! kafka-tool tail TOPIC [--from-beginning]       # prints KEY<TAB>JSON per message
//! kafka-tool ping [--timeout-ms MS]              # exit 0 when the broker answers metadata
//! kafka-tool dlq-list TOPIC                      # one line per dead letter, with its status
//! kafka-tool dlq-redrive TOPIC [--id ID]         # produce pending dead letters again
//! ```

use std::io::BufRead;
use std::time::Duration;

use anyhow::{bail, Context};
use kafka_runtime::admin::{create_platform_topics, create_topics, TopicSpec};
use kafka_runtime::{dlq, tools};
use kafka_runtime::{KafkaConfig, Publisher};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn number<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> anyhow::Result<T> {
    match flag(args, name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name} wants a number, got {v:?}")),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kafka = KafkaConfig::from_env();
    match args.first().map(String::as_str) {
        Some("create-topic") => {
            let name = args.get(1).context("create-topic needs a topic name")?.clone();
            let spec = TopicSpec {
                name,
                partitions: number(&args, "--partitions", 6)?,
                replication: number(&args, "--replication", 1)?,
                retention_ms: number(&args, "--retention-ms", -1)?,
                compact: args.iter().any(|a| a == "--compact"),
            };
            create_topics(&kafka, &[spec]).await
        }
        Some("create-topics") => create_platform_topics(&kafka, number(&args, "--partitions", 6)?).await,
        Some("replay") => {
            let topic = args.get(1).context("replay needs a topic")?;
            let publisher = Publisher::new(&kafka)?;
            let stdin = std::io::stdin();
            let mut sent = 0;
            for (number, line) in stdin.lock().lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let (key, value) = tools::parse_replay_line(&line)
                    .with_context(|| format!("line {}", number + 1))?;
                tools::replay_one(&publisher, topic, key, value).await?;
                sent += 1;
            }
            publisher.flush(Duration::from_secs(10)).await;
            eprintln!("replayed {sent} message(s) to {topic}");
            Ok(())
        }
        Some("tail") => {
            let topic = args.get(1).context("tail needs a topic")?;
            tools::tail(&kafka, topic, args.iter().any(|a| a == "--from-beginning")).await
        }
        Some("dlq-list") => {
            let topic = args.get(1).context("dlq-list needs a DLQ topic")?;
            let listed = dlq::list(&kafka, topic).await?;
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
            Ok(())
        }
        Some("dlq-redrive") => {
            let topic = args.get(1).context("dlq-redrive needs a DLQ topic")?;
            let only = flag(&args, "--id")
                .map(|id| id.parse().with_context(|| format!("--id wants an envelope id, got {id:?}")))
                .transpose()?;
            let publisher = Publisher::new(&kafka)?;
            let done = dlq::redrive(&kafka, &publisher, topic, only).await?;
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
            Ok(())
        }
        Some("ping") => tools::ping(
            &kafka,
            Duration::from_millis(number(&args, "--timeout-ms", 5000)?),
        ),
        _ => bail!(
            "usage: kafka-tool create-topic NAME [--partitions N] [--replication R] [--retention-ms MS] [--compact]\n\
             \x20      kafka-tool create-topics [--partitions N]\n\
             \x20      kafka-tool replay TOPIC   (stdin: KEY<TAB>JSON per line)\n\
             \x20      kafka-tool tail TOPIC [--from-beginning]\n\
             \x20      kafka-tool ping [--timeout-ms MS]\n\
             \x20      kafka-tool dlq-list TOPIC\n\
             \x20      kafka-tool dlq-redrive TOPIC [--id ID]"
        ),
    }
}
