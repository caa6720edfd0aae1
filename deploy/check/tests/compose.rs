//! docker-compose.kafka.yml, the Dockerfile, topics.sh and deploy/observability held to
//! the services' sources: what each service reads, where it listens, the topics, the
//! metrics. Values are interpolated with `.env.example`, as `docker compose` would with
//! a `.env` copied from it; the cluster shape with deploy/kafka/cluster.env appended.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use deploy_check::*;
use serde_yaml::Value;
use shared_events::topics::{Retention, Topics};

const COMPOSE: &str = "docker-compose.kafka.yml";

fn compose() -> Value {
    read_yaml(COMPOSE)
}

fn example_vars() -> BTreeMap<String, String> {
    parse_dotenv(&read(".env.example"))
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    let service = &compose["services"][name];
    assert!(service.is_mapping(), "{COMPOSE} has no service {name}");
    service
}

/// The variables of the cluster shape: `.env.example` with deploy/kafka/cluster.env
/// appended, as docs/operations.md says to make `.env`.
fn cluster_vars() -> BTreeMap<String, String> {
    let mut vars = example_vars();
    vars.extend(cluster_env());
    vars
}

/// A service's environment as its container gets it.
fn environment(compose: &Value, name: &str) -> BTreeMap<String, String> {
    environment_with(compose, name, &example_vars())
}

/// A service's environment as its container gets it with `vars` in `.env`.
fn environment_with(
    compose: &Value,
    name: &str,
    vars: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let raw: Vec<(String, String)> = match &service(compose, name)["environment"] {
        Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| {
                let key = k.as_str().expect("variable names are strings").to_string();
                let value =
                    scalar_text(v).unwrap_or_else(|| panic!("{name}: {key} is not a scalar"));
                (key, value)
            })
            .collect(),
        Value::Sequence(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|item| {
                let (k, v) = item.split_once('=').unwrap_or((item, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        Value::Null => Vec::new(),
        other => panic!("{name}: environment is {other:?}"),
    };
    raw.into_iter()
        .map(|(key, value)| {
            let value = interpolate(&value, vars)
                .unwrap_or_else(|err| panic!("{name}: {key} with .env.example: {err}"));
            (key, value)
        })
        .collect()
}

/// A healthcheck's command as one line.
/// The service's volume entries (short syntax: `source:target[:mode]`).
fn volumes<'a>(compose: &'a Value, name: &str) -> Vec<&'a str> {
    service(compose, name)["volumes"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{name} has no volumes"))
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

fn healthcheck_command(compose: &Value, name: &str) -> String {
    match &service(compose, name)["healthcheck"]["test"] {
        Value::Sequence(words) => words
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        Value::String(line) => line.clone(),
        other => panic!("{name} has no healthcheck test: {other:?}"),
    }
}

/// The port a service listens on, from its `HTTP_ADDR` in compose.
fn http_port(compose: &Value, name: &str) -> u16 {
    let env = environment(compose, name);
    let addr = env
        .get("HTTP_ADDR")
        .unwrap_or_else(|| panic!("{name} has no HTTP_ADDR in {COMPOSE}"));
    port_of(addr).unwrap_or_else(|| panic!("{name}: HTTP_ADDR {addr} has no port"))
}

fn compose_service_names(compose: &Value) -> BTreeSet<String> {
    compose["services"]
        .as_mapping()
        .expect("services")
        .keys()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

#[test]
fn services_read_the_environment_only_through_their_settings() {
    // The checks below know a service's variables from its `Config` (clap's `env`
    // names); a direct read would slip past them.
    for name in SERVICES {
        for (path, text) in service_sources(name) {
            assert!(
                !text.contains("env::var("),
                "{path:?} reads the environment directly: declare it in the service's Config"
            );
        }
    }
}

#[test]
fn every_variable_without_a_default_that_works_in_a_container_is_set() {
    let compose = compose();
    for name in SERVICES {
        let env = environment(&compose, name);
        let mut required: Vec<(String, &str)> = Vec::new();
        for setting in settings_of(name) {
            match setting.fallback {
                Fallback::None => required.push((setting.name, "has no default")),
                Fallback::Loopback => required.push((setting.name, "defaults to this machine")),
                Fallback::Portable => {}
            }
        }
        // The runtime's Kafka settings are among them, found where the service
        // flattens them into its own.
        assert!(
            required
                .iter()
                .any(|(variable, _)| variable == "KAFKA_BROKERS"),
            "{name}: KAFKA_BROKERS, whose default is this machine, was not found"
        );
        for (variable, why) in required {
            let value = env.get(&variable).map(String::as_str).unwrap_or_default();
            assert!(
                !value.is_empty(),
                "{name} reads {variable}, which {why}, and {COMPOSE} does not set it"
            );
            assert!(
                !value.contains("127.0.0.1") && !value.contains("localhost"),
                "{name}: {variable}={value} names the container itself"
            );
        }
    }
}

#[test]
fn compose_sets_only_variables_its_service_reads() {
    let compose = compose();
    for name in SERVICES {
        assert_sets_only_what_it_reads(COMPOSE, name, environment(&compose, name).keys());
    }
}

#[test]
fn every_healthcheck_points_at_the_port_its_service_listens_on() {
    let compose = compose();
    for name in SERVICES {
        let env = environment(&compose, name);
        let addr = &env["HTTP_ADDR"];
        assert!(
            addr.starts_with("0.0.0.0:"),
            "{name} listens on {addr}: other containers and Prometheus cannot reach it"
        );
        let port = http_port(&compose, name);
        let check = healthcheck_command(&compose, name);
        let url = check
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("{name}'s healthcheck has no URL: {check}"));
        assert_eq!(
            port_of(url),
            Some(port),
            "{name}'s healthcheck {url} is not at HTTP_ADDR's port {port}"
        );
        assert!(
            url.ends_with("/readyz"),
            "{name}'s healthcheck is not /readyz: {url}"
        );
    }
}

#[test]
fn only_the_gateway_publishes_a_port_and_it_is_the_one_it_listens_on() {
    let compose = compose();
    for name in SERVICES {
        let ports = &service(&compose, name)["ports"];
        if name != "gateway" {
            assert!(ports.is_null(), "{name} publishes {ports:?}");
            continue;
        }
        let published: Vec<String> = ports
            .as_sequence()
            .expect("the gateway publishes its port")
            .iter()
            .map(|p| interpolate(p.as_str().expect("short syntax"), &example_vars()).unwrap())
            .collect();
        let container_port = published[0].rsplit(':').next().unwrap().parse::<u16>();
        assert_eq!(container_port, Ok(http_port(&compose, name)));
    }
}

#[test]
fn services_start_after_the_topics_and_their_healthy_dependencies() {
    let compose = compose();
    for name in SERVICES {
        let this = service(&compose, name);
        assert!(
            this["restart"].as_str().is_some_and(|r| r != "no"),
            "{name} has no restart policy"
        );
        let depends = this["depends_on"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{name} has no depends_on with conditions"));
        assert_eq!(
            depends
                .get("topics")
                .map(|t| t["condition"].as_str().unwrap_or_default()),
            Some("service_completed_successfully"),
            "{name} does not wait for the topics"
        );
        for (dependency, spec) in depends {
            let dependency = dependency.as_str().unwrap();
            if dependency == "topics" {
                continue;
            }
            assert_eq!(
                spec["condition"].as_str(),
                Some("service_healthy"),
                "{name} depends on {dependency} without service_healthy"
            );
            assert!(
                !service(&compose, dependency)["healthcheck"].is_null(),
                "{name} waits for {dependency} to be healthy, which has no healthcheck"
            );
        }
    }
}

#[test]
fn addresses_in_the_environment_reach_the_compose_services() {
    let compose = compose();
    let known = compose_service_names(&compose);
    let kafka_env = environment(&compose, "kafka");
    let internal = kafka_env["KAFKA_ADVERTISED_LISTENERS"]
        .split(',')
        .find_map(|listener| listener.strip_prefix("INTERNAL://"))
        .expect("kafka advertises an INTERNAL listener")
        .to_string();
    let postgres_password = environment(&compose, "postgres")["POSTGRES_PASSWORD"].clone();
    let databases = read("deploy/postgres/create-databases.sql");
    let mongo_command = service(&compose, "mongo")["command"]
        .as_sequence()
        .expect("mongo's command")
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    for name in SERVICES {
        let env = environment(&compose, name);
        assert_eq!(
            env["KAFKA_BROKERS"], internal,
            "{name} does not use the broker's listener for containers"
        );
        if let Some(url) = env.get("DATABASE_URL") {
            let (host, port) = host_and_port(url).expect("a URL with host and port");
            assert!(
                known.contains(&host) && host == "postgres" && port == 5432,
                "{name}: {url}"
            );
            let database = url.rsplit('/').next().unwrap();
            assert_eq!(database, format!("commerce_{name}"));
            assert!(
                databases.contains(&format!("CREATE DATABASE {database};")),
                "{database} is not created by deploy/postgres/create-databases.sql"
            );
            assert!(
                url.contains(&format!("commerce:{postgres_password}@")),
                "{name}'s DATABASE_URL does not carry POSTGRES_PASSWORD"
            );
        }
        if let Some(uri) = env.get("MONGODB_URI") {
            let (host, port) = host_and_port(uri).expect("a URI with host and port");
            assert_eq!((host.as_str(), port), ("mongo", 27017), "{name}: {uri}");
            let set = uri
                .split("replicaSet=")
                .nth(1)
                .expect("names the replica set");
            assert!(
                mongo_command.contains(&format!("--replSet {set}")),
                "mongo does not run replica set {set}"
            );
            assert!(
                healthcheck_command(&compose, "mongo").contains(&format!("host: '{host}:{port}'")),
                "the replica set's member address is not {host}:{port}"
            );
        }
    }
}

#[test]
fn topics_sh_creates_the_topics_shared_events_defines() {
    let expected: BTreeSet<(String, String)> = Topics::new("")
        .all()
        .into_iter()
        .map(|(name, retention)| {
            let word = match retention {
                Retention::Long => "LONG",
                Retention::Short => "SHORT",
                Retention::Compacted => "COMPACT",
            };
            (name, word.to_string())
        })
        .collect();
    let created: Vec<(String, String)> = topics_sh_topics();
    let created_set: BTreeSet<(String, String)> = created.iter().cloned().collect();
    assert_eq!(
        created.len(),
        created_set.len(),
        "topics.sh lists a topic twice"
    );
    assert_eq!(
        created_set, expected,
        "topics.sh and shared-events disagree"
    );
}

#[test]
fn the_topics_step_runs_topics_sh_against_the_broker() {
    let compose = compose();
    let topics = service(&compose, "topics");
    let mount = volumes(&compose, "topics")
        .into_iter()
        .find(|m| m.starts_with("./topics.sh:"))
        .expect("./topics.sh is mounted");
    let inside = mount.split(':').nth(1).unwrap();
    let entrypoint: Vec<&str> = topics["entrypoint"]
        .as_sequence()
        .expect("an entrypoint")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        entrypoint.contains(&inside),
        "the topics step does not run {inside}"
    );
    let env = environment(&compose, "topics");
    assert_eq!(
        env["KAFKA_BROKERS"],
        environment(&compose, "auth")["KAFKA_BROKERS"]
    );
    assert!(
        env.contains_key("KAFKA_TOPICS"),
        "topics.sh would fall back to cargo"
    );
    assert_eq!(
        topics["depends_on"]["kafka"]["condition"].as_str(),
        Some("service_healthy")
    );
}

#[test]
fn the_stores_and_the_broker_keep_their_data_in_named_volumes() {
    let compose = compose();
    let declared: BTreeSet<String> = compose["volumes"]
        .as_mapping()
        .expect("named volumes")
        .keys()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let log_dir = environment(&compose, "kafka")["KAFKA_LOG_DIRS"].clone();
    for (name, data_dir) in [
        ("kafka", log_dir.as_str()),
        ("postgres", "/var/lib/postgresql/data"),
        ("mongo", "/data/db"),
    ] {
        let mounted = volumes(&compose, name).into_iter().any(|mount| {
            let (volume, target) = mount.split_once(':').unwrap_or_default();
            declared.contains(volume) && target.trim_end_matches(":rw") == data_dir
        });
        assert!(mounted, "{name} does not keep {data_dir} in a named volume");
    }
}

#[test]
fn prometheus_scrapes_every_service_at_its_port() {
    let compose = compose();
    let config = read_yaml("deploy/observability/prometheus.yml");
    let targets: BTreeSet<String> = config["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
        .iter()
        .filter(|job| job["metrics_path"].as_str().unwrap_or("/metrics") == "/metrics")
        .flat_map(|job| {
            job["static_configs"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|group| group["targets"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|target| target.as_str().map(str::to_string))
        .collect();
    let expected: BTreeSet<String> = SERVICES
        .iter()
        .map(|name| format!("{name}:{}", http_port(&compose, name)))
        .collect();
    assert_eq!(targets, expected);
    // The rules file it loads is the one compose mounts beside it.
    let prometheus = service(&compose, "prometheus");
    assert_eq!(prometheus["profiles"][0].as_str(), Some("observability"));
    for rules in config["rule_files"].as_sequence().expect("rule_files") {
        let file = rules.as_str().unwrap();
        let mounted = volumes(&compose, "prometheus")
            .contains(&format!("./deploy/observability/{file}:/etc/prometheus/{file}:ro").as_str());
        assert!(mounted, "{file} is not mounted beside prometheus.yml");
    }
}

/// Every PromQL expression of the dashboards and the alert rules.
fn observability_queries() -> Vec<(String, String)> {
    let mut queries = Vec::new();
    let rules = read_yaml("deploy/observability/alerts.yml");
    for group in rules["groups"].as_sequence().expect("rule groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = rule["alert"].as_str().unwrap_or("a rule").to_string();
            queries.push((name, rule["expr"].as_str().expect("expr").to_string()));
        }
    }
    let dashboards = repo_root().join("deploy/observability/grafana/dashboards");
    for entry in std::fs::read_dir(dashboards).expect("the dashboards directory") {
        let path = entry.unwrap().path();
        let dashboard: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).expect("JSON");
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().into_iter().flatten() {
                let title = format!("{:?} panel {}", path.file_name().unwrap(), panel["title"]);
                queries.push((title, target["expr"].as_str().expect("expr").to_string()));
            }
        }
    }
    queries
}

#[test]
fn dashboards_and_alerts_use_only_metrics_the_services_export() {
    let exported = exported_metrics();
    assert!(exported.contains("messages_dead_lettered_total") && exported.contains("consumer_lag"));
    let queries = observability_queries();
    assert!(queries.len() >= 10, "too few queries found: {queries:?}");
    for (source, expr) in queries {
        let used = metrics_in_promql(&expr);
        assert!(!used.is_empty(), "{source}: no metric in {expr}");
        for metric in used {
            assert!(
                exported.contains(&metric),
                "{source} uses {metric}, which nothing exports"
            );
        }
    }
}

#[test]
fn grafana_provisions_the_prometheus_datasource_the_dashboards_use() {
    let datasources =
        read_yaml("deploy/observability/grafana/provisioning/datasources/prometheus.yml");
    let source = &datasources["datasources"][0];
    assert_eq!(source["uid"].as_str(), Some("prometheus"));
    assert_eq!(source["url"].as_str(), Some("http://prometheus:9090"));
    let providers = read_yaml("deploy/observability/grafana/provisioning/dashboards/commerce.yml");
    let path = providers["providers"][0]["options"]["path"]
        .as_str()
        .unwrap()
        .to_string();
    let mounted = volumes(&compose(), "grafana")
        .contains(&format!("./deploy/observability/grafana/dashboards:{path}:ro").as_str());
    assert!(mounted, "the dashboards are not mounted at {path}");
    let dashboard: serde_json::Value = serde_json::from_str(&read(
        "deploy/observability/grafana/dashboards/commerce.json",
    ))
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["targets"].is_array() {
            assert_eq!(
                panel["datasource"]["uid"], "prometheus",
                "{}",
                panel["title"]
            );
        }
    }
}

#[test]
fn the_image_has_every_service_and_checks_readyz_at_its_http_port() {
    let dockerfile = read("Dockerfile");
    for name in SERVICES {
        assert!(
            dockerfile.contains(&format!("--bin {name} ")),
            "the image lacks {name}"
        );
    }
    let last_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(
        last_stage.starts_with("debian:bookworm-slim"),
        "the final stage is not slim Debian"
    );
    for tool in ["cargo", "rustup", "build-essential"] {
        assert!(!last_stage.contains(tool), "the final stage has {tool}");
    }
    let user = last_stage
        .lines()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("the final stage sets USER");
    assert!(
        !user.starts_with("root") && !user.starts_with('0'),
        "runs as {user}"
    );
    assert!(
        last_stage.contains("HEALTHCHECK") && last_stage.contains("${HTTP_ADDR##*:}/readyz"),
        "the image's HEALTHCHECK does not ask /readyz at HTTP_ADDR's port"
    );
    let ignored = read(".dockerignore");
    for path in ["target", ".local", ".git"] {
        assert!(
            ignored
                .lines()
                .any(|line| line.trim_end_matches('/') == path),
            "{path} not ignored"
        );
    }
}

/// Debian's docker-compose (installed by `./dev install`) validates the file the way
/// `docker compose up` would read it, with and without the observability profile.
#[test]
fn docker_compose_config_accepts_the_file() {
    for profile in [None, Some("observability")] {
        let mut command = Command::new("docker-compose");
        command
            .current_dir(repo_root())
            .args(["-f", COMPOSE, "--env-file", ".env.example"]);
        if let Some(profile) = profile {
            command.args(["--profile", profile]);
        }
        let output = command
            .args(["config", "--services"])
            .output()
            .expect("docker-compose runs (./dev install installs Debian's docker-compose)");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "docker-compose config: {stderr}");
        let services: BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        for name in SERVICES
            .iter()
            .chain(&["kafka", "topics", "postgres", "mongo"])
        {
            assert!(services.contains(*name), "{name} missing from {services:?}");
        }
        if profile.is_some() {
            assert!(services.contains("prometheus") && services.contains("grafana"));
        }
    }
}

/// The Apache Kafka nodes compose runs with `vars`: (service, node id), by id. Those of
/// a profile count only when `COMPOSE_PROFILES` turns it on.
fn kafka_nodes(compose: &Value, vars: &BTreeMap<String, String>) -> Vec<(String, u32)> {
    let profiles: Vec<&str> = vars
        .get("COMPOSE_PROFILES")
        .map(|p| p.split(',').collect())
        .unwrap_or_default();
    let mut nodes: Vec<(String, u32)> = compose_service_names(compose)
        .into_iter()
        .filter(|name| {
            service(compose, name)["image"]
                .as_str()
                .is_some_and(|image| image.starts_with("apache/kafka:"))
        })
        .filter(
            |name| match service(compose, name)["profiles"].as_sequence() {
                None => true,
                Some(of) => of.iter().any(|p| profiles.contains(&p.as_str().unwrap())),
            },
        )
        .filter_map(|name| {
            let id = environment_with(compose, &name, vars)
                .get("KAFKA_NODE_ID")?
                .parse();
            Some((name, id.expect("a numeric node id")))
        })
        .collect();
    nodes.sort_by_key(|(_, id)| *id);
    nodes
}

/// The listener `name` a node advertises, `host:port`.
fn advertised(env: &BTreeMap<String, String>, name: &str) -> String {
    env["KAFKA_ADVERTISED_LISTENERS"]
        .split(',')
        .find_map(|listener| listener.strip_prefix(&format!("{name}://")))
        .unwrap_or_else(|| panic!("no {name} listener advertised"))
        .to_string()
}

/// Checks the brokers compose runs with `vars`: `count` nodes, ids 1 to `count`, each a
/// broker and a controller of one quorum naming them all, with one cluster id, each on
/// its own volume, every replication property of ./dev's nodes set alike from the
/// topics step's `TOPIC_REPLICATION_FACTOR` and `TOPIC_MIN_INSYNC_REPLICAS`, which must
/// be `factor` and `min_insync`; and every service and the topics step given every
/// broker.
fn assert_brokers(vars: &BTreeMap<String, String>, count: u32, factor: &str, min_insync: &str) {
    let compose = compose();
    let nodes = kafka_nodes(&compose, vars);
    let ids: Vec<u32> = nodes.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids, (1..=count).collect::<Vec<_>>(), "{nodes:?}");
    let topics = environment_with(&compose, "topics", vars);
    assert_eq!(
        (
            topics["TOPIC_REPLICATION_FACTOR"].as_str(),
            topics["TOPIC_MIN_INSYNC_REPLICAS"].as_str()
        ),
        (factor, min_insync),
        "the topics step's replication"
    );
    let mut voters = Vec::new();
    let mut internal = Vec::new();
    let mut cluster_ids = BTreeSet::new();
    let mut volumes_seen = BTreeSet::new();
    for (name, id) in &nodes {
        let env = environment_with(&compose, name, vars);
        assert_eq!(env["KAFKA_PROCESS_ROLES"], "broker,controller", "{name}");
        cluster_ids.insert(env["CLUSTER_ID"].clone());
        let controller = env["KAFKA_LISTENERS"]
            .split(',')
            .find_map(|l| l.strip_prefix("CONTROLLER://:"))
            .unwrap_or_else(|| panic!("{name} has no CONTROLLER listener"));
        voters.push(format!("{id}@{name}:{controller}"));
        internal.push(advertised(&env, "INTERNAL"));
        let data = volumes(&compose, name)
            .into_iter()
            .find(|mount| mount.ends_with(&format!(":{}", env["KAFKA_LOG_DIRS"])))
            .unwrap_or_else(|| panic!("{name} keeps no volume at its log directory"));
        assert!(
            volumes_seen.insert(data.to_string()),
            "{name} shares {data}"
        );
        for (key, template) in replication_properties() {
            let variable = format!("KAFKA_{}", key.to_uppercase().replace('.', "_"));
            let expected = with_replication(&template, factor, min_insync);
            assert_eq!(
                env.get(&variable),
                Some(&expected),
                "{name}: {variable} (./dev's {key}={template})"
            );
        }
    }
    assert_eq!(cluster_ids.len(), 1, "the nodes disagree on CLUSTER_ID");
    for (name, _) in &nodes {
        let env = environment_with(&compose, name, vars);
        assert_eq!(
            env["KAFKA_CONTROLLER_QUORUM_VOTERS"],
            voters.join(","),
            "{name}'s controller quorum is not the nodes'"
        );
    }
    for name in SERVICES.iter().chain(&["topics"]) {
        assert_eq!(
            environment_with(&compose, name, vars)["KAFKA_BROKERS"],
            internal.join(","),
            "{name} is not given every broker"
        );
    }
}

#[test]
fn one_broker_keeps_one_copy_of_everything() {
    assert_brokers(&example_vars(), 1, "1", "1");
}

#[test]
fn the_cluster_profile_runs_three_nodes_with_three_copies_and_two_in_sync() {
    let vars = cluster_vars();
    // The values ./dev up --brokers 3 reads from the same file.
    assert_eq!(vars["TOPIC_REPLICATION_FACTOR"], "3");
    assert_eq!(vars["TOPIC_MIN_INSYNC_REPLICAS"], "2");
    assert_brokers(&vars, 3, "3", "2");
    let compose = compose();
    for node in ["kafka-2", "kafka-3"] {
        assert_eq!(
            service(&compose, node)["profiles"][0].as_str(),
            Some("cluster"),
            "{node} runs without the cluster profile"
        );
    }
}

/// Debian's docker-compose accepts the cluster shape as `.env` would give it.
#[test]
fn docker_compose_config_accepts_the_cluster_shape() {
    let env_file = std::env::temp_dir().join(format!("cluster-{}.env", std::process::id()));
    let text = format!(
        "{}\n{}",
        read(".env.example"),
        read("deploy/kafka/cluster.env")
    );
    std::fs::write(&env_file, text).expect("a temporary .env");
    let output = Command::new("docker-compose")
        .current_dir(repo_root())
        .args(["-f", COMPOSE, "--env-file"])
        .arg(&env_file)
        .args(["config"])
        .output()
        .expect("docker-compose runs (./dev install installs Debian's docker-compose)");
    std::fs::remove_file(&env_file).ok();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "docker-compose config: {stderr}");
    let config: Value = serde_yaml::from_slice(&output.stdout).expect("YAML");
    for node in ["kafka", "kafka-2", "kafka-3"] {
        assert_eq!(
            config["services"][node]["environment"]["KAFKA_MIN_INSYNC_REPLICAS"].as_str(),
            Some("2"),
            "{node}"
        );
    }
}
