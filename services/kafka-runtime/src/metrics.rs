//! Prometheus counters every consumer keeps, labelled by topic.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{MetricFamily, MetricType};
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
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
    /// Messages of types the service does not read, finished without its store.
    pub skipped: IntCounterVec,
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
    /// 1 for each partition the group coordinator assigned to this instance, by group,
    /// topic and partition; revoked partitions disappear.
    pub assigned: IntGaugeVec,
    /// Age of the oldest record read but not finished, per partition.
    pub oldest_unfinished: OldestUnfinished,
    /// Messages a handler caused and the broker acknowledged, by topic and envelope
    /// type: `order.order_confirmed` per second is confirmed orders per second.
    pub published: IntCounterVec,
    /// The series `/metrics` exports, by name, as the collectors said when registered.
    series: Arc<BTreeSet<String>>,
}

impl Metrics {
    /// A registry whose series all carry `service`.
    pub fn new(service: &str) -> Self {
        let labels = std::iter::once(("service".to_string(), service.to_string())).collect();
        let registry = Registry::new_custom(None, Some(labels)).expect("valid registry labels");
        // Every series is registered once, here; a second registration is a bug.
        let series = std::cell::RefCell::new(BTreeSet::new());
        let registered = |collector: Box<dyn Collector>| {
            let histogram = collector
                .collect()
                .iter()
                .any(|family| family.get_field_type() == MetricType::HISTOGRAM);
            let suffixes: &[&str] = if histogram {
                &["_bucket", "_sum", "_count"]
            } else {
                &[""]
            };
            let mut series = series.borrow_mut();
            for desc in collector.desc() {
                series.extend(suffixes.iter().map(|s| format!("{}{s}", desc.fq_name)));
            }
            registry.register(collector).expect("registered once");
        };
        let counter = |name: &str, help: &str| {
            let counter = IntCounterVec::new(Opts::new(name, help), &["topic"]).expect("valid");
            registered(Box::new(counter.clone()));
            counter
        };
        let consumed = counter("messages_consumed_total", "Messages read from Kafka.");
        let processed = counter("messages_processed_total", "Messages applied.");
        let duplicates = counter(
            "messages_duplicate_total",
            "Messages skipped as duplicates by envelope id.",
        );
        let skipped = counter(
            "messages_skipped_total",
            "Messages of types this service does not read, finished without its store.",
        );
        let dead_lettered = counter("messages_dead_lettered_total", "Messages sent to the DLQ.");
        let retried = counter("messages_retried_total", "Transient failures retried.");
        let parked = counter(
            "messages_parked_total",
            "Messages parked in the DLQ after failing transiently past the retry budget.",
        );
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let options = HistogramOpts::new(name, help).buckets(buckets);
            let histogram = HistogramVec::new(options, &["topic"]).expect("valid");
            registered(Box::new(histogram.clone()));
            histogram
        };
        let handler_seconds = histogram(
            "handler_duration_seconds",
            "Handling time per message.",
            vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
            ],
        );
        let transaction_messages = histogram(
            "transaction_messages",
            "Messages applied per database transaction (group commit).",
            vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
        );
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let gauge = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid");
            registered(Box::new(gauge.clone()));
            gauge
        };
        let lag = gauge(
            "consumer_lag",
            "High watermark minus committed offset: records the group has not finished.",
            &["topic", "partition"],
        );
        let assigned = gauge(
            "consumer_assigned_partitions",
            "1 for each partition this instance holds in its consumer group.",
            &["group", "topic", "partition"],
        );
        let published = IntCounterVec::new(
            Opts::new(
                "messages_published_total",
                "Messages handlers caused, once the broker acknowledged them, by type.",
            ),
            &["topic", "type"],
        )
        .expect("valid");
        registered(Box::new(published.clone()));
        let oldest_unfinished = OldestUnfinished::new();
        registered(Box::new(oldest_unfinished.clone()));
        Self {
            registry,
            consumed,
            processed,
            duplicates,
            skipped,
            dead_lettered,
            retried,
            parked,
            handler_seconds,
            transaction_messages,
            lag,
            assigned,
            oldest_unfinished,
            published,
            series: Arc::new(series.into_inner()),
        }
    }

    /// The names of the runtime's series as `/metrics` exports them: a histogram's as its
    /// `_bucket`, `_sum` and `_count` series. What dashboards and alerts may refer to.
    pub fn series(&self) -> &BTreeSet<String> {
        &self.series
    }

    /// Shows `partitions` (topic, partition) as held by this instance in `group`.
    pub fn hold_partitions(&self, group: &str, partitions: &[(String, i32)]) {
        for (topic, partition) in partitions {
            self.assigned
                .with_label_values(&[group, topic, &partition.to_string()])
                .set(1);
        }
    }

    /// Stops showing `partitions` as held in `group`: they were revoked or lost.
    pub fn release_partitions(&self, group: &str, partitions: &[(String, i32)]) {
        for (topic, partition) in partitions {
            let partition = partition.to_string();
            // Not shown (never held, or released twice): nothing to remove.
            let _ = self
                .assigned
                .remove_label_values(&[group, topic, &partition]);
            // Its lag is the next owner's to report; a stale value would alert forever.
            let _ = self.lag.remove_label_values(&[topic, &partition]);
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

/// `consumer_oldest_unfinished_seconds{topic,partition}`: how long the oldest record
/// this process read from a partition has waited without being finished (applied or
/// dead-lettered, and its offset stored), 0 when nothing is in flight. Lag counts
/// records and moves only when the committed offset does; this shows a partition stuck
/// on one record at once, and for how long. The age is computed when scraped.
#[derive(Clone)]
pub struct OldestUnfinished {
    gauge: GaugeVec,
    partitions: Arc<Mutex<HashMap<TopicPartition, Arc<InFlight>>>>,
}

/// A topic's full name and a partition number.
type TopicPartition = (String, i32);

impl OldestUnfinished {
    fn new() -> Self {
        let gauge = GaugeVec::new(
            Opts::new(
                "consumer_oldest_unfinished_seconds",
                "Age of the oldest record read from the partition and not yet finished; 0 when none.",
            ),
            &["topic", "partition"],
        )
        .expect("valid");
        Self {
            gauge,
            partitions: Arc::default(),
        }
    }

    /// The in-flight mark of one partition, shown from now on. A partition's task keeps
    /// it for its life; asking again for the same partition replaces the mark.
    pub fn partition(&self, topic: &str, partition: i32) -> Arc<InFlight> {
        let mark = Arc::new(InFlight::default());
        self.partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((topic.to_string(), partition), mark.clone());
        mark
    }

    /// The age in seconds of the partition's oldest unfinished record (0 when none), or
    /// `None` when this process never read from the partition.
    pub fn seconds(&self, topic: &str, partition: i32) -> Option<f64> {
        let partitions = self
            .partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mark = partitions.get(&(topic.to_string(), partition))?;
        Some(mark.age_seconds(Instant::now()))
    }
}

impl Collector for OldestUnfinished {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let now = Instant::now();
        let partitions = self
            .partitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for ((topic, partition), mark) in partitions.iter() {
            self.gauge
                .with_label_values(&[topic, &partition.to_string()])
                .set(mark.age_seconds(now));
        }
        self.gauge.collect()
    }
}

/// When the record a partition's task is working on was read, if it is working on one.
/// Records reach the task in the order they were read, so the first record of the batch
/// in hand is the oldest the partition has not finished.
#[derive(Debug, Default)]
pub struct InFlight(Mutex<Option<Instant>>);

impl InFlight {
    /// A batch whose first record was read at `read_at` is being worked on.
    pub fn start(&self, read_at: Instant) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(read_at);
    }

    /// Everything read so far is finished.
    pub fn finish(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn age_seconds(&self, now: Instant) -> f64 {
        let since = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        since.map_or(0.0, |since| now.duration_since(since).as_secs_f64())
    }
}

/// A line of the Prometheus text format, when it is a sample of `series`: its labels
/// and its value. Comments, other series and lines that do not parse are `None`.
pub fn sample(line: &str, series: &str) -> Option<(BTreeMap<String, String>, f64)> {
    let rest = line.strip_prefix(series)?.strip_prefix('{')?;
    let (labels, after) = parse_labels(rest)?;
    let value = after.split_whitespace().next()?.parse().ok()?;
    Some((labels, value))
}

/// The labels of a sample up to its closing `}`, unescaping `\\`, `\"` and `\n` as the
/// text format says, and what follows the `}` (the value and maybe a timestamp).
fn parse_labels(text: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (name, after_name) = rest.split_once('=')?;
        let mut chars = after_name.strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(name.trim().to_string(), value);
        rest = &after_name[1 + end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_series_named_are_those_metrics_renders_once_each_has_a_value() {
        let metrics = Metrics::new("order");
        metrics.consumed.with_label_values(&["t"]).inc();
        metrics
            .handler_seconds
            .with_label_values(&["t"])
            .observe(0.1);
        let rendered = metrics.render();
        for name in ["messages_consumed_total", "handler_duration_seconds_bucket"] {
            assert!(metrics.series().contains(name), "{name}");
            assert!(
                rendered.contains(&format!("\n{name}{{")),
                "{name} in {rendered}"
            );
        }
        assert!(!metrics.series().contains("handler_duration_seconds"));
    }

    fn sample(rendered: &str, partition: &str) -> f64 {
        let labels = format!("partition=\"{partition}\"");
        rendered
            .lines()
            .find(|line| {
                line.starts_with("consumer_oldest_unfinished_seconds{") && line.contains(&labels)
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no sample for partition {partition} in:\n{rendered}"))
    }

    #[test]
    fn the_oldest_unfinished_age_is_zero_when_idle_and_counts_from_the_read_while_working() {
        let metrics = Metrics::new("test");
        let busy = metrics.oldest_unfinished.partition("t.commands", 0);
        let idle = metrics.oldest_unfinished.partition("t.commands", 1);
        busy.start(Instant::now() - Duration::from_secs(30));
        idle.start(Instant::now());
        idle.finish();

        let rendered = metrics.render();
        assert!(sample(&rendered, "0") >= 30.0, "{rendered}");
        assert_eq!(sample(&rendered, "1"), 0.0);
        assert!(rendered.contains("service=\"test\""));
        assert_eq!(metrics.oldest_unfinished.seconds("t.commands", 2), None);

        busy.finish();
        assert_eq!(
            metrics.oldest_unfinished.seconds("t.commands", 0),
            Some(0.0)
        );
    }
}
