//! Prometheus counters every consumer keeps, labelled by topic.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The process's metrics registry and the runtime's own series.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Messages read from Kafka.
    pub consumed: IntCounterVec,
    /// Messages applied (state changed, events published).
    pub processed: IntCounterVec,
    /// Messages skipped because their id was already in the inbox.
    pub duplicates: IntCounterVec,
    /// Messages sent to the DLQ.
    pub dead_lettered: IntCounterVec,
    /// Transient failures that were retried.
    pub retried: IntCounterVec,
    /// Messages that failed transiently past the retry budget and were parked in the DLQ.
    pub parked: IntCounterVec,
    /// Time from receiving a message to storing its offset.
    pub handler_seconds: HistogramVec,
    /// Messages applied per database transaction: above 1 when group commit batched them.
    pub transaction_messages: HistogramVec,
    /// High watermark minus committed offset, per assigned partition.
    pub lag: IntGaugeVec,
}

impl Metrics {
    /// A registry whose series all carry `service`.
    pub fn new(service: &str) -> Self {
        let labels = std::iter::once(("service".to_string(), service.to_string())).collect();
        let registry = Registry::new_custom(None, Some(labels)).expect("valid registry labels");
        let counter = |name: &str, help: &str| {
            let counter = IntCounterVec::new(Opts::new(name, help), &["topic"]).expect("valid");
            registry
                .register(Box::new(counter.clone()))
                .expect("registered once");
            counter
        };
        let consumed = counter("messages_consumed_total", "Messages read from Kafka.");
        let processed = counter("messages_processed_total", "Messages applied.");
        let duplicates = counter(
            "messages_duplicate_total",
            "Messages skipped as duplicates by envelope id.",
        );
        let dead_lettered = counter("messages_dead_lettered_total", "Messages sent to the DLQ.");
        let retried = counter("messages_retried_total", "Transient failures retried.");
        let parked = counter(
            "messages_parked_total",
            "Messages parked in the DLQ after failing transiently past the retry budget.",
        );
        let buckets = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
        ];
        let handler_seconds = HistogramVec::new(
            HistogramOpts::new("handler_duration_seconds", "Handling time per message.")
                .buckets(buckets),
            &["topic"],
        )
        .expect("valid");
        registry
            .register(Box::new(handler_seconds.clone()))
            .expect("registered once");
        let transaction_messages = HistogramVec::new(
            HistogramOpts::new(
                "transaction_messages",
                "Messages applied per database transaction (group commit).",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
            &["topic"],
        )
        .expect("valid");
        registry
            .register(Box::new(transaction_messages.clone()))
            .expect("registered once");
        let lag = IntGaugeVec::new(
            Opts::new(
                "consumer_lag",
                "High watermark minus committed offset: records the group has not finished.",
            ),
            &["topic", "partition"],
        )
        .expect("valid");
        registry
            .register(Box::new(lag.clone()))
            .expect("registered once");
        Self {
            registry,
            consumed,
            processed,
            duplicates,
            dead_lettered,
            retried,
            parked,
            handler_seconds,
            transaction_messages,
            lag,
        }
    }

    /// Messages parked since the process started, over every topic.
    pub fn parked_total(&self) -> u64 {
        use prometheus::core::Collector;
        self.parked
            .collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .map(|metric| metric.get_counter().get_value() as u64)
            .sum()
    }

    /// The registry, for services that add series of their own.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Everything in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding");
        String::from_utf8(buffer).expect("prometheus text is UTF-8")
    }
}
