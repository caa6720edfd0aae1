//! Reads the deployment files and the services' sources for the tests in `tests/`,
//! which hold the one to the other: what the services read, where they listen, which
//! topics and consumer groups they use, which metrics they export.
//!
//! Everything is derived from the sources rather than listed by hand, so that a new
//! setting, port, topic or group makes a test fail until the deployment follows.

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

/// A variable a service reads: a field of its settings with `#[arg(env = "NAME", ..)]`.
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

/// The string literal at the start of `text` (after whitespace), and the rest.
fn leading_string_literal(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start().strip_prefix('"')?;
    let end = text.find('"')?;
    Some((&text[..end], &text[end + 1..]))
}

/// The text up to the parenthesis that closes the call whose arguments start `text`.
fn until_closing_paren(text: &str) -> &str {
    let mut depth = 0usize;
    for (index, ch) in text.char_indices() {
        match ch {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => return &text[..index],
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    text
}

/// The items of an attribute's arguments (`long, env = "X", default_value_t = f(1, 2)`)
/// as (key, value), the value empty for a bare key.
fn attribute_items(arguments: &str) -> Vec<(&str, &str)> {
    let mut items = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None, 0);
    for (index, ch) in arguments.char_indices() {
        match (quote, ch) {
            (Some(open), _) if ch == open => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(ch),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth = depth.saturating_sub(1),
            (None, ',') if depth == 0 => {
                items.push(&arguments[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    items.push(&arguments[start..]);
    items
        .into_iter()
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('=') {
            Some((key, value)) => (key.trim(), value.trim()),
            None => (item, ""),
        })
        .collect()
}

/// The type of the field declared after an attribute: `pub name: Type,` on the first
/// line that is not another attribute or a comment.
fn field_type(after_attribute: &str) -> &str {
    after_attribute
        .trim_start_matches([')', ']'])
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with("//"))
        .and_then(|line| line.split_once(':'))
        .map_or("", |(_, ty)| ty.trim().trim_end_matches(','))
}

/// Whether a default, as written in the source, names this machine.
fn names_loopback(default: &str) -> bool {
    let compact: String = default.chars().filter(|c| !c.is_whitespace()).collect();
    compact.contains("127.0.0.1")
        || compact.contains("[127,0,0,1]")
        || compact.contains("localhost")
        || compact.contains("LOCALHOST")
}

/// The settings declared in `sources`: each `#[arg(..)]` with `env = "NAME"`, falling
/// back to the `default_value` or `default_value_t` beside it, or, without one, to
/// nothing (see [`Fallback`], which the field's type decides).
pub fn settings_in(sources: &[(PathBuf, String)]) -> Vec<Setting> {
    let mut settings = Vec::new();
    for (_, text) in sources {
        for (at, opening) in text.match_indices("#[arg(") {
            let arguments = until_closing_paren(&text[at + opening.len()..]);
            let items = attribute_items(arguments);
            let value = |wanted: &str| items.iter().find(|(key, _)| *key == wanted);
            let Some((name, _)) = value("env").and_then(|(_, v)| leading_string_literal(v)) else {
                continue;
            };
            let default = ["default_value", "default_value_t"]
                .into_iter()
                .find_map(|key| value(key).map(|(_, v)| *v));
            let ty = field_type(&text[at + opening.len() + arguments.len()..]);
            let optional = ty.starts_with("Option<") || ty.starts_with("Vec<");
            let fallback = match default {
                Some(default) if names_loopback(default) => Fallback::Loopback,
                Some(_) => Fallback::Portable,
                None if optional && !ty.contains("Secret") => Fallback::Portable,
                None => Fallback::None,
            };
            settings.push(Setting {
                name: name.to_string(),
                fallback,
            });
        }
    }
    settings.sort_by(|a, b| a.name.cmp(&b.name));
    settings.dedup_by(|a, b| a.name == b.name);
    settings
}

/// The types `text` flattens into a settings struct (`#[command(flatten)]`), by name.
fn flattened_types(text: &str) -> Vec<String> {
    text.match_indices("#[command(flatten)]")
        .map(|(at, attribute)| field_type(&text[at + attribute.len()..]))
        .map(|ty| ty.rsplit("::").next().unwrap_or(ty).to_string())
        .collect()
}

/// The definition of `struct name` in `text`, up to its closing brace.
fn struct_definition<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!("struct {name}");
    let (at, _) = text.match_indices(&marker).find(|(at, _)| {
        let next = text[at + marker.len()..].chars().next();
        next.is_some_and(|c| !(c.is_alphanumeric() || c == '_'))
    })?;
    let open = at + text[at..].find('{')? + 1;
    Some(&text[at..open + until_closing_paren(&text[open..]).len()])
}

/// Every variable `service` reads: those its settings declare in its own sources, and
/// in the runtime's structs it flattens into them (the Kafka settings, the PostgreSQL
/// pool), and theirs in turn.
pub fn settings_of(service: &str) -> Vec<Setting> {
    let own = service_sources(service);
    let runtime = rust_sources(&repo_root().join("services/kafka-runtime/src"));
    let mut sources = own.clone();
    let mut pending: Vec<String> = own.iter().flat_map(|(_, t)| flattened_types(t)).collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone())
            || own
                .iter()
                .any(|(_, t)| struct_definition(t, &name).is_some())
        {
            continue;
        }
        let (path, definition) = runtime
            .iter()
            .find_map(|(path, text)| Some((path.clone(), struct_definition(text, &name)?)))
            .unwrap_or_else(|| {
                panic!("{service} flattens {name}, found in neither its sources nor the runtime's")
            });
        pending.extend(flattened_types(definition));
        sources.push((path, definition.to_string()));
    }
    settings_in(&sources)
}

/// Whether the runtime reads `name` besides the settings structs: a librdkafka property
/// (`PROPERTY_PREFIX` in its config.rs) or the log filter (tracing's `RUST_LOG`).
pub fn runtime_reads(name: &str) -> bool {
    // Read once: every check of every variable of every service asks.
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| {
        let config = read("services/kafka-runtime/src/config.rs");
        let (_, rest) = config
            .split_once("pub const PROPERTY_PREFIX: &str =")
            .expect("the runtime names its librdkafka variables' prefix");
        leading_string_literal(rest)
            .expect("a string")
            .0
            .to_string()
    });
    name.starts_with(prefix.as_str()) || name == "RUST_LOG"
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

/// The consumer groups a service's instances join, from its sources and the runtime's
/// naming (`Service::consume`: the service's name; `Service::answer`: `<name>-queries`).
pub fn consumer_groups(service: &str) -> Vec<String> {
    let runtime = read("services/kafka-runtime/src/service.rs");
    assert!(
        runtime.contains(r#"format!("{}{}", self.topics().prefix(), self.name.name())"#)
            && runtime
                .contains(r#"format!("{}{}-queries", self.topics().prefix(), self.name.name())"#),
        "the runtime names its consumer groups differently now: update consumer_groups()"
    );
    let sources = service_sources(service);
    let calls = |call: &str| sources.iter().any(|(_, text)| text.contains(call));
    let mut groups = Vec::new();
    if calls("service.consume(") {
        groups.push(service.to_string());
    }
    if calls("service.answer(") {
        groups.push(format!("{service}-queries"));
    }
    groups
}

/// The metric names the runtime registers: the string literals in `metrics.rs` (outside
/// its tests) that look like Prometheus names, with the series a histogram adds.
pub fn exported_metrics() -> BTreeSet<String> {
    let source = read("services/kafka-runtime/src/metrics.rs");
    let source = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut names = BTreeSet::new();
    for literal in source.split('"').skip(1).step_by(2) {
        let looks_like_metric = literal.contains('_')
            && literal.starts_with(|c: char| c.is_ascii_lowercase())
            && literal
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if looks_like_metric {
            names.insert(literal.to_string());
        }
    }
    // Histograms export _bucket, _sum and _count series.
    for histogram in ["handler_duration_seconds", "transaction_messages"] {
        for suffix in ["_bucket", "_sum", "_count"] {
            names.insert(format!("{histogram}{suffix}"));
        }
    }
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

    #[test]
    fn settings_are_found_with_their_fallback() {
        let source = r#"
            #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8081")]
            pub http_addr: SocketAddr,
            #[arg(
                long,
                env = "DATABASE_URL",
                default_value = "postgres://u:p@127.0.0.1:5432/db",
                hide_env_values = true
            )]
            pub database_url: SecretString,
            #[arg(long, env = "BCRYPT_COST", default_value_t = f(1, [2, 3]))]
            pub bcrypt_cost: u32,
            #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
            pub origins: Vec<String>,
            /// A doc comment.
            #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
            pub admin_password: Option<SecretString>,
            #[arg(long, env = "FIXTURE_TOPIC")]
            topic: String,
            #[arg(long, default_value = "127.0.0.1")]
            no_variable: String,
        "#;
        let found = settings_in(&[(PathBuf::new(), source.to_string())]);
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
