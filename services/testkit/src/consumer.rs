//! A consumer of the runtime run inside the test process.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_runtime::config::KafkaConfig;

/// A consumer running inside the test process.
pub struct RunningConsumer {
    /// Its metrics, to wait on counts.
    pub metrics: kafka_runtime::metrics::Metrics,
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningConsumer {
    /// Starts `processor` on `topics` (full names) in the group `<prefix><group>`, with
    /// rejects going to `<prefix><service>.dlq`.
    pub fn start<P: kafka_runtime::processor::Processor>(
        kafka: &KafkaConfig,
        service: &'static str,
        group: &str,
        topics: Vec<String>,
        processor: P,
    ) -> Self {
        Self::start_skipping(kafka, service, group, topics, HashMap::new(), processor)
    }

    /// [`RunningConsumer::start`], skipping the types `skipped` lists for a topic, as a
    /// service skips those it does not read.
    pub fn start_skipping<P: kafka_runtime::processor::Processor>(
        kafka: &KafkaConfig,
        service: &'static str,
        group: &str,
        topics: Vec<String>,
        skipped: HashMap<String, Vec<&'static str>>,
        processor: P,
    ) -> Self {
        let prefix = kafka.topics.prefix();
        let spec = kafka_runtime::consumer::ConsumerSpec {
            service,
            group: format!("{prefix}{group}"),
            topics,
            dlq_topic: format!("{prefix}{service}.dlq"),
            skipped,
            queue_per_partition: 16,
            assigned: Default::default(),
        };
        let metrics = kafka_runtime::metrics::Metrics::new(service);
        let shutdown = tokio_util::sync::CancellationToken::new();
        let publisher = kafka_runtime::Publisher::new(kafka).expect("publisher");
        // The test process lives on after the consumer stops: a member left behind would
        // go on heartbeating and holding its partitions.
        let kafka = KafkaConfig {
            leave_group_on_shutdown: true,
            ..kafka.clone()
        };
        let (running_metrics, stop) = (metrics.clone(), shutdown.clone());
        let task = tokio::spawn(async move {
            kafka_runtime::consumer::run(
                &kafka,
                spec,
                Arc::new(processor),
                publisher,
                running_metrics,
                stop,
            )
            .await
        });
        Self {
            metrics,
            shutdown,
            task,
        }
    }

    /// Stops it the way SIGTERM would, and checks it stopped cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("consumer task")
            .expect("consumer stopped cleanly");
    }
}
