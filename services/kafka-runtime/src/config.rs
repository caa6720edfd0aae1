//! Kafka settings read from the environment.
//!
//! `KAFKA_BROKERS` and `KAFKA_TOPIC_PREFIX` are the two everyone sets. Any librdkafka
//! property can be added as `RDKAFKA_<NAME>`, where the name is the property with dots
//! written as underscores: `RDKAFKA_FETCH_WAIT_MAX_MS=10` sets `fetch.wait.max.ms=10`.

use std::time::Duration;

use rdkafka::ClientConfig;
use shared_events::Topics;

/// Where the broker is and how every client of this process talks to it.
#[derive(Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers, `KAFKA_BROKERS`, default `127.0.0.1:9092`.
    pub brokers: String,
    /// Topic names with the deployment's prefix, `KAFKA_TOPIC_PREFIX`, default empty.
    pub topics: Topics,
    /// Extra librdkafka properties from `RDKAFKA_*`, applied last so they win.
    pub overrides: Vec<(String, String)>,
    /// How long a produce may wait for the broker's acknowledgement before it fails,
    /// `KAFKA_SEND_TIMEOUT_MS`, default 4000. The gateway answers 503 after it, so a
    /// client hears within 5 s that its command was not taken.
    pub send_timeout: Duration,
    /// Whether a consumer leaves its group when the process stops,
    /// `KAFKA_LEAVE_GROUP_ON_SHUTDOWN`, default `false`. Leaving starts a rebalance at
    /// once; not leaving lets the broker expire the member after `session.timeout.ms`, as
    /// Kafka Streams does by default, and is what a crash does anyway. The local broker
    /// (tansu) loses its group for good when a group's leader leaves in the middle of a
    /// rebalance (docs/broker.md), so services do not leave. A consumer that stays
    /// behind keeps heartbeating until its process exits: in-process tests leave.
    pub leave_group_on_shutdown: bool,
    /// How long a message may keep failing transiently, while its store answers,
    /// before it is parked in the DLQ so its partition moves on: `RETRY_BUDGET_SECS`,
    /// default 600. Time the store is away does not count: an outage makes consumers
    /// wait, however long it lasts.
    pub retry_budget: Duration,
    /// How long inbox entries and published outbox messages are kept,
    /// `RUNTIME_RETENTION_SECS`, default 7 days. Older ones are deleted in small batches
    /// every hour. A message replayed after this long is no longer recognised by its id:
    /// what it would do again is then refused by the handler's own rules (an order id,
    /// an email or a sku already taken, a reservation already made).
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

impl KafkaConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_vars(std::env::vars())
    }

    /// Reads the configuration from the given variables (the environment, in production).
    /// A value that does not parse is an error naming its variable: a service refuses to
    /// start rather than run on a default nobody asked for.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let mut config = Self::local("");
        for (name, value) in vars {
            let invalid =
                |expected: &str| anyhow::anyhow!("{name} must be {expected}, not {value:?}");
            match name.as_str() {
                "KAFKA_BROKERS" => config.brokers = value,
                "KAFKA_TOPIC_PREFIX" => config.topics = Topics::new(value),
                "KAFKA_SEND_TIMEOUT_MS" => {
                    let ms = value.parse().map_err(|_| invalid("whole milliseconds"))?;
                    config.send_timeout = Duration::from_millis(ms);
                }
                "RETRY_BUDGET_SECS" => {
                    let secs = value
                        .parse()
                        .ok()
                        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                        .ok_or_else(|| invalid("a number of seconds, 0 or more"))?;
                    config.retry_budget = secs;
                }
                "RUNTIME_RETENTION_SECS" => {
                    let secs = value.parse().map_err(|_| invalid("whole seconds"))?;
                    config.runtime_retention = Duration::from_secs(secs);
                }
                "KAFKA_LEAVE_GROUP_ON_SHUTDOWN" => {
                    config.leave_group_on_shutdown = match value.as_str() {
                        "true" | "1" => true,
                        "false" | "0" | "" => false,
                        _ => return Err(invalid("true or false")),
                    };
                }
                _ => {
                    if let Some(property) = name.strip_prefix("RDKAFKA_") {
                        let property = property.to_ascii_lowercase().replace('_', ".");
                        config.overrides.push((property, value));
                    }
                }
            }
        }
        config.overrides.sort();
        Ok(config)
    }

    /// The defaults: a broker on 127.0.0.1:9092 and the given topic prefix.
    pub fn local(prefix: &str) -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topics: Topics::new(prefix),
            overrides: Vec::new(),
            send_timeout: Duration::from_secs(4),
            leave_group_on_shutdown: false,
            retry_budget: Duration::from_secs(600),
            runtime_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }

    /// Sets one librdkafka property for every client made from this configuration.
    pub fn with(mut self, property: &str, value: &str) -> Self {
        self.overrides.retain(|(k, _)| k != property);
        self.overrides.push((property.into(), value.into()));
        self
    }

    /// A client configuration with the given base properties, then the overrides.
    pub fn client_config(&self, base: &[(&str, &str)]) -> ClientConfig {
        self.config_where(base, |_| true)
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
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rdkafka_variables_become_dotted_properties() {
        let config = KafkaConfig::from_vars(vars(&[
            ("RDKAFKA_FETCH_WAIT_MAX_MS", "10"),
            ("KAFKA_BROKERS", "b:1"),
            ("HOME", "/root"),
        ]))
        .unwrap();
        assert_eq!(config.brokers, "b:1");
        assert_eq!(
            config.overrides,
            vec![("fetch.wait.max.ms".to_string(), "10".to_string())]
        );
    }

    #[test]
    fn debug_output_hides_property_values() {
        let config = KafkaConfig::from_vars(vars(&[("RDKAFKA_SASL_PASSWORD", "hunter2")])).unwrap();
        let printed = format!("{config:?}");
        assert!(printed.contains("sasl.password"));
        assert!(!printed.contains("hunter2"));
    }

    #[test]
    fn a_value_that_does_not_parse_is_refused_with_its_variable_named() {
        for (name, value) in [
            ("KAFKA_SEND_TIMEOUT_MS", "4s"),
            ("RETRY_BUDGET_SECS", "-1"),
            ("RUNTIME_RETENTION_SECS", "a week"),
            ("KAFKA_LEAVE_GROUP_ON_SHUTDOWN", "yes please"),
        ] {
            let err = KafkaConfig::from_vars(vars(&[(name, value)])).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
        let fine = KafkaConfig::from_vars(vars(&[("KAFKA_SEND_TIMEOUT_MS", "250")])).unwrap();
        assert_eq!(fine.send_timeout, Duration::from_millis(250));
    }

    #[test]
    fn the_topic_prefix_comes_from_the_environment() {
        let config = KafkaConfig::from_vars(vars(&[("KAFKA_TOPIC_PREFIX", "t1.")])).unwrap();
        assert_eq!(config.topics.prefix(), "t1.");
    }
}
