//! Kafka settings read from the environment.
//!
//! `KAFKA_BROKERS` and `KAFKA_TOPIC_PREFIX` are the two everyone sets. Any librdkafka
//! property can be added as `RDKAFKA_<NAME>`, where the name is the property with dots
//! written as underscores: `RDKAFKA_FETCH_WAIT_MAX_MS=10` sets `fetch.wait.max.ms=10`.

use std::ffi::OsString;
use std::time::Duration;

use clap::ArgAction;
use rdkafka::ClientConfig;
use shared_events::Topics;

use crate::settings::{boolean, fractional_secs, millis, secs, FromEnv};

/// The prefix of the variables passed to librdkafka as properties. clap cannot declare
/// a family of variables, so the environment is scanned for it.
pub const PROPERTY_PREFIX: &str = "RDKAFKA_";

/// Where the broker is and how every client of this process talks to it: the settings
/// every service flattens into its own.
#[derive(Clone, clap::Args)]
pub struct KafkaConfig {
    /// Bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// The prefix of every topic and consumer group (tests use one each).
    #[arg(
        long = "topic-prefix",
        env = "KAFKA_TOPIC_PREFIX",
        default_value = "",
        value_parser = topics
    )]
    pub topics: Topics,
    /// Extra librdkafka properties from `RDKAFKA_*`, applied last so they win. Always
    /// read from the process environment.
    #[arg(skip = properties(std::env::vars_os()))]
    pub overrides: Vec<(String, String)>,
    /// How long a produce may wait for the broker's acknowledgement before it fails, in
    /// milliseconds. The gateway answers 503 after it, so a client hears within 5 s that
    /// its command was not taken.
    #[arg(long, env = "KAFKA_SEND_TIMEOUT_MS", default_value = "4000", value_parser = millis)]
    pub send_timeout: Duration,
    /// Whether a consumer leaves its group when the process stops. Leaving hands its
    /// partitions to the other members at once; not leaving makes them wait for the
    /// broker to expire the member after `session.timeout.ms`, as after a crash. On
    /// Apache Kafka a group of two served every partition again 0.2–1.1 s after a
    /// graceful restart when members leave, 6–12 s when they do not (docs/broker.md).
    #[arg(
        long,
        env = "KAFKA_LEAVE_GROUP_ON_SHUTDOWN",
        default_value = "true",
        action = ArgAction::Set,
        value_parser = boolean
    )]
    pub leave_group_on_shutdown: bool,
    /// How long a message may keep failing transiently, while its store answers,
    /// before it is parked in the DLQ so its partition moves on, in seconds. Time the
    /// store is away does not count: an outage makes consumers wait, however long it
    /// lasts.
    #[arg(long, env = "RETRY_BUDGET_SECS", default_value = "600", value_parser = fractional_secs)]
    pub retry_budget: Duration,
    /// How long inbox entries and published outbox messages are kept, in seconds (7
    /// days). Older ones are deleted in small batches every hour. A message replayed
    /// after this long is no longer recognised by its id: what it would do again is then
    /// refused by the handler's own rules (an order id, an email or a sku already taken,
    /// a reservation already made).
    #[arg(long, env = "RUNTIME_RETENTION_SECS", default_value = "604800", value_parser = secs)]
    pub runtime_retention: Duration,
}

impl std::fmt::Debug for KafkaConfig {
    // Overrides may hold SASL passwords: print their names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.overrides.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic_prefix", &self.topics.prefix())
            .field("overrides", &names)
            .field("send_timeout", &self.send_timeout)
            .field("leave_group_on_shutdown", &self.leave_group_on_shutdown)
            .field("retry_budget", &self.retry_budget)
            .field("runtime_retention", &self.runtime_retention)
            .finish()
    }
}

/// The Kafka settings as a whole command, for the programs that read nothing else.
#[derive(clap::Parser)]
struct Only {
    #[command(flatten)]
    kafka: KafkaConfig,
}

fn topics(prefix: &str) -> Result<Topics, std::convert::Infallible> {
    Ok(Topics::new(prefix))
}

/// The librdkafka properties `RDKAFKA_*` variables set, sorted.
fn properties(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<(String, String)> {
    let mut properties: Vec<(String, String)> = vars
        .into_iter()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .filter_map(|(name, value)| {
            let property = name.strip_prefix(PROPERTY_PREFIX)?;
            Some((property.to_ascii_lowercase().replace('_', "."), value))
        })
        .collect();
    properties.sort();
    properties
}

impl KafkaConfig {
    /// Reads the configuration from the process environment, for a program that reads
    /// nothing else (services flatten it into their own settings).
    pub fn from_env() -> anyhow::Result<Self> {
        Only::from_env().map(|only| only.kafka)
    }

    /// The defaults (a broker on 127.0.0.1:9092), with the given topic prefix and no
    /// librdkafka overrides.
    pub fn local(prefix: &str) -> Self {
        let defaults = Only::from_vars(std::iter::empty::<(OsString, OsString)>())
            .expect("the defaults parse")
            .kafka;
        Self {
            topics: Topics::new(prefix),
            overrides: Vec::new(),
            ..defaults
        }
    }

    /// Sets one librdkafka property for every client made from this configuration.
    pub fn with(mut self, property: &str, value: &str) -> Self {
        self.overrides.retain(|(k, _)| k != property);
        self.overrides.push((property.into(), value.into()));
        self
    }

    /// Sets one librdkafka property unless the environment (`RDKAFKA_*`) set it already:
    /// a program's own default, which an operator can still override.
    pub fn with_default(self, property: &str, value: &str) -> Self {
        if self.overrides.iter().any(|(k, _)| k == property) {
            return self;
        }
        self.with(property, value)
    }

    /// Whether consumer groups use the KIP-848 protocol (`RDKAFKA_GROUP_PROTOCOL=consumer`),
    /// whose session and heartbeat times the broker sets, rather than the classic one.
    pub fn consumer_group_protocol(&self) -> bool {
        self.overrides
            .iter()
            .any(|(k, v)| k == "group.protocol" && v == "consumer")
    }

    /// A consumer's or admin client's configuration: the given base properties, then
    /// the overrides, less those only producers read (librdkafka warns about them).
    pub fn client_config(&self, base: &[(&str, &str)]) -> ClientConfig {
        self.config_where(base, |property| !is_producer_only(property))
    }

    /// A producer's configuration: the overrides that only consumers read are left out,
    /// so librdkafka does not warn about them on every start.
    pub fn producer_config(&self, base: &[(&str, &str)]) -> ClientConfig {
        self.config_where(base, |property| !is_consumer_only(property))
    }

    fn config_where(&self, base: &[(&str, &str)], keep: impl Fn(&str) -> bool) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in base {
            config.set(*key, *value);
        }
        for (key, value) in self.overrides.iter().filter(|(key, _)| keep(key)) {
            config.set(key, value);
        }
        config
    }
}

/// Properties librdkafka reads only in producers.
fn is_producer_only(property: &str) -> bool {
    property.starts_with("queue.buffering.")
        || property.starts_with("batch.")
        || property.starts_with("compression.")
        || matches!(
            property,
            "linger.ms" | "acks" | "enable.idempotence" | "message.timeout.ms" | "partitioner"
        )
}

/// Properties librdkafka reads only in consumers.
fn is_consumer_only(property: &str) -> bool {
    property.starts_with("fetch.")
        || property.starts_with("group.")
        || property.starts_with("enable.auto.")
        || property.starts_with("auto.")
        || matches!(
            property,
            "session.timeout.ms"
                | "heartbeat.interval.ms"
                | "max.poll.interval.ms"
                | "partition.assignment.strategy"
                | "isolation.level"
                | "queued.min.messages"
                | "queued.max.messages.kbytes"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producers_leave_out_consumer_only_overrides() {
        let config = KafkaConfig::local("")
            .with("fetch.wait.max.ms", "10")
            .with("linger.ms", "5");
        let producer = config.producer_config(&[]);
        assert_eq!(producer.get("fetch.wait.max.ms"), None);
        assert_eq!(producer.get("linger.ms"), Some("5"));
        assert_eq!(
            config.client_config(&[]).get("fetch.wait.max.ms"),
            Some("10")
        );
        assert_eq!(config.client_config(&[]).get("linger.ms"), None);
    }

    #[test]
    fn a_programs_default_yields_to_the_environment() {
        // As `RDKAFKA_LINGER_MS=7` in the environment would have set it.
        let set = KafkaConfig::local("").with("linger.ms", "7");
        let producer = set.with_default("linger.ms", "0").producer_config(&[]);
        assert_eq!(producer.get("linger.ms"), Some("7"));
        let unset = KafkaConfig::local("").with_default("linger.ms", "0");
        assert_eq!(unset.producer_config(&[]).get("linger.ms"), Some("0"));
    }

    fn read(vars: &[(&str, &str)]) -> anyhow::Result<KafkaConfig> {
        Only::from_vars(vars.iter().copied()).map(|only| only.kafka)
    }

    #[test]
    fn rdkafka_variables_become_dotted_properties() {
        let vars = [
            ("RDKAFKA_FETCH_WAIT_MAX_MS", "10"),
            ("KAFKA_BROKERS", "b:1"),
            ("HOME", "/root"),
        ];
        let properties = properties(vars.map(|(k, v)| (k.into(), v.into())));
        assert_eq!(
            properties,
            vec![("fetch.wait.max.ms".to_string(), "10".to_string())]
        );
    }

    #[test]
    fn debug_output_hides_property_values() {
        let config = KafkaConfig::local("").with("sasl.password", "hunter2");
        let printed = format!("{config:?}");
        assert!(printed.contains("sasl.password"));
        assert!(!printed.contains("hunter2"));
    }

    #[test]
    fn the_defaults_are_a_local_broker() {
        let config = read(&[]).unwrap();
        assert_eq!(config.brokers, "127.0.0.1:9092");
        assert_eq!(config.send_timeout, Duration::from_secs(4));
        assert!(config.leave_group_on_shutdown);
        assert_eq!(config.retry_budget, Duration::from_secs(600));
        assert_eq!(config.runtime_retention, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(KafkaConfig::local("p.").topics.prefix(), "p.");
    }

    #[test]
    fn a_value_that_does_not_parse_is_refused_with_its_variable_named() {
        for (name, value) in [
            ("KAFKA_SEND_TIMEOUT_MS", "4s"),
            ("RETRY_BUDGET_SECS", "-1"),
            ("RUNTIME_RETENTION_SECS", "a week"),
            ("KAFKA_LEAVE_GROUP_ON_SHUTDOWN", "yes please"),
        ] {
            let err = read(&[(name, value)]).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
        let fine = read(&[
            ("KAFKA_SEND_TIMEOUT_MS", "250"),
            ("RETRY_BUDGET_SECS", "0.5"),
            ("KAFKA_LEAVE_GROUP_ON_SHUTDOWN", "0"),
        ])
        .unwrap();
        assert_eq!(fine.send_timeout, Duration::from_millis(250));
        assert_eq!(fine.retry_budget, Duration::from_millis(500));
        assert!(!fine.leave_group_on_shutdown);
    }

    #[test]
    fn the_topic_prefix_comes_from_the_environment() {
        let config = read(&[("KAFKA_TOPIC_PREFIX", "t1.")]).unwrap();
        assert_eq!(config.topics.prefix(), "t1.");
    }
}
