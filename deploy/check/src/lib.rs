//! Reads the deployment files and the services for the tests in `tests/`, which hold
//! the one to the other: what the services read, where they listen, which topics and
//! consumer groups they use, which metrics they export.
//!
//! Everything is derived from the services rather than listed by hand, so that a new
//! setting, port, topic or group makes a test fail until the deployment follows. The
//! settings come from clap's own description of each service's `Config`
//! ([`command_of`]), not from its source text.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The seven services, each a binary of its own name.
pub const SERVICES: [&str; 7] = [
    "gateway",
    "auth",
    "catalog",
    "order",
    "inventory",
    "payment",
    "cart",
];

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file of the repository, as text.
pub fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {relative}: {err}"))
}

/// A YAML file of the repository, with `<<` merge keys applied (compose uses them).
pub fn read_yaml(relative: &str) -> serde_yaml::Value {
    let mut value: serde_yaml::Value = serde_yaml::from_str(&read(relative))
        .unwrap_or_else(|err| panic!("{relative} is not YAML: {err}"));
    value
        .apply_merge()
        .unwrap_or_else(|err| panic!("{relative}: bad merge key: {err}"));
    value
}

/// What a setting falls back to when its variable is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Nothing the service can do without: a secret with no default, or a value clap
    /// requires.
    None,
    /// A default naming this machine (127.0.0.1, localhost): fine for `./dev`, wrong in
    /// a container, where the broker, the stores and the scraper are elsewhere.
    Loopback,
    /// A default that works anywhere, or nothing for an optional setting (`Option`,
    /// `Vec`), which leaves what it configures off.
    Portable,
}

/// A variable a service reads: an argument of its settings with `env = "NAME"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The variable's name.
    pub name: String,
    /// What it is when unset.
    pub fallback: Fallback,
}

/// Every `.rs` file under `dir`, recursively, as (path, text).
fn rust_sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|err| panic!("{dir:?}: {err}"));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let text = std::fs::read_to_string(&path).expect("readable source");
                files.push((path, text));
            }
        }
    }
    files.sort();
    files
}

/// The source files of a service's library and binary (`services/<service>/src`).
pub fn service_sources(service: &str) -> Vec<(PathBuf, String)> {
    rust_sources(&repo_root().join("services").join(service).join("src"))
}

/// Whether a default names this machine.
fn names_loopback(default: &str) -> bool {
    default.contains("127.0.0.1") || default.contains("localhost")
}

/// A service's settings as clap sees them: its `Config`, with the runtime's structs it
/// flattens into it (the Kafka settings, the PostgreSQL pool) and theirs in turn.
pub fn command_of(service: &str) -> clap::Command {
    use clap::CommandFactory;
    match service {
        "gateway" => gateway::Config::command(),
        "auth" => auth::Config::command(),
        "catalog" => catalog::Config::command(),
        "order" => order::Config::command(),
        "inventory" => inventory::Config::command(),
        "payment" => payment::Config::command(),
        "cart" => cart::Config::command(),
        other => panic!("{other} is not one of the services"),
    }
}

/// The settings `command` declares: each argument with an `env` name, falling back to
/// its default, or, without one, to nothing (see [`Fallback`]): a required value or a
/// secret (`hide_env_values`) has no fallback; an optional one leaves what it
/// configures off.
pub fn settings_in(command: &clap::Command) -> Vec<Setting> {
    let mut settings: Vec<Setting> = command
        .get_arguments()
        .filter_map(|argument| {
            let name = argument.get_env()?.to_string_lossy().into_owned();
            let defaults = argument.get_default_values();
            let fallback = if !defaults.is_empty() {
                let loopback = defaults
                    .iter()
                    .any(|default| names_loopback(&default.to_string_lossy()));
                if loopback {
                    Fallback::Loopback
                } else {
                    Fallback::Portable
                }
            } else if argument.is_required_set() || argument.is_hide_env_values_set() {
                Fallback::None
            } else {
                Fallback::Portable
            };
            Some(Setting { name, fallback })
        })
        .collect();
    settings.sort_by(|a, b| a.name.cmp(&b.name));
    settings.dedup_by(|a, b| a.name == b.name);
    settings
}

/// Every variable `service` reads through its settings.
pub fn settings_of(service: &str) -> Vec<Setting> {
    settings_in(&command_of(service))
}

/// Whether the runtime reads `name` besides the settings structs: a librdkafka property
/// (`PROPERTY_PREFIX`) or the log filter (tracing's `RUST_LOG`).
pub fn runtime_reads(name: &str) -> bool {
    name.starts_with(kafka_runtime::config::PROPERTY_PREFIX) || name == "RUST_LOG"
}

/// Asserts that `place` (a compose file, deploy/k8s) sets `service` nothing it does not
/// read: a misspelt variable would be ignored and its default used.
pub fn assert_sets_only_what_it_reads<'a>(
    place: &str,
    service: &str,
    variables: impl IntoIterator<Item = &'a String>,
) {
    let read: BTreeSet<String> = settings_of(service)
        .into_iter()
        .map(|setting| setting.name)
        .collect();
    for variable in variables {
        assert!(
            read.contains(variable) || runtime_reads(variable),
            "{place} sets {variable} for {service}, which never reads it"
        );
    }
}

/// `KEY=VALUE` lines, as docker compose reads `.env` (comments and blank lines skipped).
pub fn parse_dotenv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect()
}

/// Compose's interpolation of `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:?error}`, `${VAR?error}` and `$$` with `vars`; an error for a required
/// variable that is missing.
pub fn interpolate(value: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(after) = after.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("unclosed ${{ in {value:?}"))?;
            out.push_str(&substitute(&braced[..end], vars)?);
            rest = &braced[end + 1..];
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            out.push_str(vars.get(&after[..end]).map_or("", String::as_str));
            rest = &after[end..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// One `${...}` expression.
fn substitute(expr: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let name_end = expr
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(expr.len());
    let (name, op) = expr.split_at(name_end);
    let value = vars.get(name);
    let empty = value.is_none_or(|v| v.is_empty());
    let or_default = |default: &str| value.map_or(default.to_string(), String::clone);
    match op {
        "" => Ok(value.cloned().unwrap_or_default()),
        _ if op.starts_with(":-") => Ok(if empty {
            op[2..].to_string()
        } else {
            or_default("")
        }),
        _ if op.starts_with('-') => Ok(or_default(&op[1..])),
        _ if op.starts_with(":?") && empty => Err(format!("{name}: {}", &op[2..])),
        _ if op.starts_with('?') && value.is_none() => Err(format!("{name}: {}", &op[1..])),
        _ if op.starts_with(":?") || op.starts_with('?') => Ok(or_default("")),
        _ => Err(format!("unsupported interpolation ${{{expr}}}")),
    }
}

/// A YAML scalar as compose passes it to a container (numbers and booleans as text).
pub fn scalar_text(value: &serde_yaml::Value) -> Option<String> {
    match value {
        serde_yaml::Value::String(text) => Some(text.clone()),
        serde_yaml::Value::Number(number) => Some(number.to_string()),
        serde_yaml::Value::Bool(flag) => Some(flag.to_string()),
        serde_yaml::Value::Null => Some(String::new()),
        _ => None,
    }
}

/// The port of an address `host:port` or a URL `scheme://host:port/...`.
pub fn port_of(address: &str) -> Option<u16> {
    host_and_port(address).map(|(_, port)| port)
}

/// The host and port of an address `host:port` or a URL `scheme://[user@]host:port/...`.
pub fn host_and_port(address: &str) -> Option<(String, u16)> {
    let rest = address.split_once("://").map_or(address, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next()?;
    let (host, port) = authority.rsplit_once(':')?;
    Some((host.to_string(), port.parse().ok()?))
}

/// The topics `topics.sh` creates: (name, retention word), in its order. The retention
/// word is the script's variable: `LONG`, `SHORT` or `COMPACT`.
pub fn topics_sh_topics() -> Vec<(String, String)> {
    let script = read("topics.sh");
    let block = script
        .split_once("TOPICS=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(block, _)| block)
        .expect("topics.sh has a TOPICS=\"...\" block");
    block
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let retention = words.next().unwrap_or_default().trim_start_matches('$');
            Some((name.to_string(), retention.to_string()))
        })
        .collect()
}

/// The partitions per topic `topics.sh` creates unless `TOPIC_PARTITIONS` says otherwise.
pub fn topics_sh_default_partitions() -> u32 {
    let script = read("topics.sh");
    let marker = "${TOPIC_PARTITIONS:-";
    let at = script
        .find(marker)
        .expect("topics.sh reads TOPIC_PARTITIONS")
        + marker.len();
    let digits: String = script[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().expect("a number of partitions")
}

/// The lines of deploy/kafka/server.properties, the node `./dev` runs alone or three
/// times, about replication (`*replication*`, `*isr*`, `*insync*`, `unclean.*`): (key,
/// value), the value with `@REPLICATION@` and `@MIN_ISR@` where `./dev` puts
/// `TOPIC_REPLICATION_FACTOR` and `TOPIC_MIN_INSYNC_REPLICAS`.
pub fn replication_properties() -> Vec<(String, String)> {
    read("deploy/kafka/server.properties")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .filter(|(key, _)| {
            ["replication", "isr", "insync", "unclean"]
                .iter()
                .any(|word| key.contains(word))
        })
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// A property's value with the replication `./dev` gives its nodes: `factor` copies,
/// `min_insync` of them in sync.
pub fn with_replication(template: &str, factor: &str, min_insync: &str) -> String {
    template
        .replace("@REPLICATION@", factor)
        .replace("@MIN_ISR@", min_insync)
}

/// The settings of a cluster of three (deploy/kafka/cluster.env): what `./dev up
/// --brokers 3` reads and docker-compose.kafka.yml's cluster shape is interpolated with.
pub fn cluster_env() -> BTreeMap<String, String> {
    parse_dotenv(&read("deploy/kafka/cluster.env"))
}

/// Where [`kafka_topics_manifest`] is kept, and `kubectl kustomize deploy/k8s` reads it.
pub const KAFKA_TOPICS_MANIFEST: &str = "deploy/k8s/kafka-topics.yaml";

/// The name of the Strimzi `Kafka` in deploy/k8s/kafka.yaml, which each topic names.
pub const STRIMZI_CLUSTER: &str = "kafka";

/// Every topic of the platform (shared-events' `Topics`, without prefix) as a Strimzi
/// `KafkaTopic`: the partitions of `topics.sh`, retention and clean-up as the runtime
/// creates them (`TopicSpec::new`), copies and `min.insync.replicas` of a cluster
/// (deploy/kafka/cluster.env). `cargo run -p deploy-check --bin gen-k8s-topics` writes
/// it to [`KAFKA_TOPICS_MANIFEST`].
pub fn kafka_topics_manifest() -> String {
    use kafka_runtime::admin::{Replication, TopicSpec};
    let replication = Replication::from_env_file(&read("deploy/kafka/cluster.env"))
        .expect("deploy/kafka/cluster.env's replication");
    let partitions = i32::try_from(topics_sh_default_partitions()).expect("a few partitions");
    let mut yaml = String::from(
        "# Every topic of the platform, for the Topic Operator of the Strimzi Kafka in\n\
         # kafka.yaml: partitions as topics.sh makes them, retention as the runtime does,\n\
         # copies and min.insync.replicas as deploy/kafka/cluster.env says.\n\
         # Generated from shared-events' topics: do not edit; run\n\
         #   cargo run -p deploy-check --bin gen-k8s-topics\n\
         # (deploy/check/tests/kubernetes.rs fails while it is stale).\n",
    );
    for (name, retention) in shared_events::Topics::new("").all() {
        let spec = TopicSpec::new(name, retention, partitions).replicated(replication);
        let min_insync = spec
            .replication
            .min_insync_replicas
            .expect("cluster.env sets TOPIC_MIN_INSYNC_REPLICAS");
        let policy = if spec.compact { "compact" } else { "delete" };
        yaml.push_str(&format!(
            "---\n\
             apiVersion: kafka.strimzi.io/v1beta2\n\
             kind: KafkaTopic\n\
             metadata:\n\
             \x20 name: {name}\n\
             \x20 labels:\n\
             \x20   strimzi.io/cluster: {STRIMZI_CLUSTER}\n\
             \x20   app.kubernetes.io/part-of: commerce\n\
             spec:\n\
             \x20 topicName: {name}\n\
             \x20 partitions: {partitions}\n\
             \x20 replicas: {replicas}\n\
             \x20 config:\n\
             \x20   retention.ms: {retention}\n\
             \x20   cleanup.policy: {policy}\n\
             \x20   min.insync.replicas: {min_insync}\n",
            name = spec.name,
            partitions = spec.partitions,
            replicas = spec.replication.factor,
            retention = spec.retention_ms,
        ));
    }
    yaml
}

/// The consumer groups a service's instances join, as the runtime names them.
pub fn consumer_groups(service: &str) -> Vec<String> {
    let service = shared_events::Service::ALL
        .into_iter()
        .find(|s| s.name() == service)
        .unwrap_or_else(|| panic!("{service} is not a service of the platform"));
    kafka_runtime::service::consumer_groups(service, &shared_events::Topics::new(""))
}

/// The metric names the runtime registers, as its registry describes them, and
/// Prometheus's own `up`.
pub fn exported_metrics() -> BTreeSet<String> {
    let mut names = kafka_runtime::metrics::Metrics::new("any").series().clone();
    // Prometheus's own series for every target.
    names.insert("up".into());
    names
}

/// PromQL words that are not metric names: functions, keywords, aggregations.
const PROMQL_WORDS: [&str; 21] = [
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "irate",
    "increase",
    "delta",
    "deriv",
    "histogram_quantile",
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
];

/// The metric names a PromQL expression selects.
pub fn metrics_in_promql(expr: &str) -> BTreeSet<String> {
    let is_word_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    // The words outside label matchers `{..}`, ranges `[..]` and label lists `by (..)`.
    let mut kept = String::new();
    let mut depth = 0usize;
    let mut in_label_list = false;
    let mut word = String::new();
    let mut last_word = String::new();
    for ch in expr.chars() {
        if is_word_char(ch) {
            word.push(ch);
            kept.push(if depth > 0 || in_label_list { ' ' } else { ch });
            continue;
        }
        if !word.is_empty() {
            last_word = std::mem::take(&mut word);
        }
        match ch {
            '{' | '[' => depth += 1,
            '}' | ']' => depth = depth.saturating_sub(1),
            '(' if matches!(last_word.as_str(), "by" | "without") => in_label_list = true,
            ')' if in_label_list => in_label_list = false,
            _ => {}
        }
        if !ch.is_whitespace() {
            last_word.clear();
        }
        kept.push(' ');
    }
    kept.split(' ')
        .filter(|token| token.starts_with(|c: char| c.is_ascii_alphabetic()))
        .filter(|token| !PROMQL_WORDS.contains(token))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn interpolation_follows_compose() {
        let vars = vars(&[("SET", "x"), ("EMPTY", "")]);
        assert_eq!(interpolate("a${SET}b$SET/$$", &vars).unwrap(), "axbx/$");
        assert_eq!(interpolate("${EMPTY:-d}", &vars).unwrap(), "d");
        assert_eq!(interpolate("${EMPTY-d}", &vars).unwrap(), "");
        assert_eq!(interpolate("${UNSET-d}", &vars).unwrap(), "d");
        assert_eq!(interpolate("${SET:?needed}", &vars).unwrap(), "x");
        assert!(interpolate("${EMPTY:?needed}", &vars).is_err());
        assert!(interpolate("${UNSET?needed}", &vars).is_err());
    }

    /// Settings shaped like the services' own.
    #[derive(clap::Parser)]
    #[allow(dead_code)]
    struct Fixture {
        #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8081")]
        http_addr: std::net::SocketAddr,
        #[arg(
            long,
            env = "DATABASE_URL",
            default_value = "postgres://u:p@127.0.0.1:5432/db",
            hide_env_values = true
        )]
        database_url: secrecy::SecretString,
        #[arg(long, env = "BCRYPT_COST", default_value_t = 2 + 10)]
        bcrypt_cost: u32,
        #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
        origins: Vec<String>,
        /// A doc comment.
        #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: Option<secrecy::SecretString>,
        #[arg(long, env = "FIXTURE_TOPIC")]
        topic: String,
        #[arg(long, env = "FIXTURE_GROUP")]
        group: Option<String>,
        #[arg(long, default_value = "127.0.0.1")]
        no_variable: String,
    }

    #[test]
    fn settings_are_found_with_their_fallback() {
        use clap::CommandFactory;
        let found = settings_in(&Fixture::command());
        let pairs: Vec<_> = found
            .iter()
            .map(|s| (s.name.as_str(), s.fallback))
            .collect();
        assert_eq!(
            pairs,
            [
                ("ADMIN_PASSWORD", Fallback::None),
                ("BCRYPT_COST", Fallback::Portable),
                ("CORS_ALLOWED_ORIGINS", Fallback::Portable),
                ("DATABASE_URL", Fallback::Loopback),
                ("FIXTURE_GROUP", Fallback::Portable),
                ("FIXTURE_TOPIC", Fallback::None),
                ("HTTP_ADDR", Fallback::Loopback),
            ]
        );
    }

    #[test]
    fn a_service_reads_the_runtime_structs_it_flattens() {
        let order: BTreeMap<String, Fallback> = settings_of("order")
            .into_iter()
            .map(|s| (s.name, s.fallback))
            .collect();
        for (name, fallback) in [
            ("HTTP_ADDR", Fallback::Loopback),
            ("DATABASE_URL", Fallback::Loopback),
            ("DATABASE_MAX_CONNECTIONS", Fallback::Portable),
            ("KAFKA_BROKERS", Fallback::Loopback),
            ("KAFKA_SEND_TIMEOUT_MS", Fallback::Portable),
            ("ORDER_DEADLINE_SECS", Fallback::Portable),
        ] {
            assert_eq!(order.get(name), Some(&fallback), "{name} in {order:?}");
        }
        let cart: Vec<String> = settings_of("cart").into_iter().map(|s| s.name).collect();
        assert!(cart.contains(&"MONGODB_URI".to_string()), "{cart:?}");
        assert!(
            !cart.contains(&"DATABASE_MAX_CONNECTIONS".to_string()),
            "{cart:?}"
        );
        assert!(runtime_reads("RDKAFKA_LINGER_MS") && runtime_reads("RUST_LOG"));
    }

    #[test]
    fn promql_yields_metric_names_only() {
        let names = metrics_in_promql(
            r#"histogram_quantile(0.99, sum by (le, service, topic) (rate(handler_duration_seconds_bucket{service="order"}[5m]))) and up{job="x"} > 0"#,
        );
        assert_eq!(
            names.into_iter().collect::<Vec<_>>(),
            ["handler_duration_seconds_bucket", "up"]
        );
    }

    #[test]
    fn addresses_give_their_host_and_port() {
        assert_eq!(port_of("0.0.0.0:8081"), Some(8081));
        assert_eq!(
            host_and_port("postgres://u:p@postgres:5432/commerce_auth"),
            Some(("postgres".into(), 5432))
        );
        assert_eq!(
            host_and_port("mongodb://mongo:27017/db?replicaSet=rs0"),
            Some(("mongo".into(), 27017))
        );
        assert_eq!(port_of("http://127.0.0.1:8080/readyz"), Some(8080));
    }
}
