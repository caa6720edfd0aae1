//! Each service reads its settings from exactly the environment docker-compose.kafka.yml
//! gives its container (interpolated with `.env.example`): every value parses, and the
//! addresses it ends up with are the compose services'. Alone in its test binary
//! because it changes the process environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use deploy_check::*;
use kafka_runtime::settings::FromEnv;
use secrecy::{ExposeSecret, SecretString};

/// Every variable a service or the runtime reads, so none leaks in from the test's own
/// environment (`./dev test` exports KAFKA_BROKERS, MONGODB_URI, RDKAFKA_*).
fn clear_service_variables() {
    for (name, _) in std::env::vars() {
        if runtime_reads(&name) {
            std::env::remove_var(&name);
        }
    }
    for service in SERVICES {
        for setting in settings_of(service) {
            std::env::remove_var(&setting.name);
        }
    }
}

fn compose_environment(compose: &serde_yaml::Value, service: &str) -> BTreeMap<String, String> {
    let vars = parse_dotenv(&read(".env.example"));
    compose["services"][service]["environment"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{service} has an environment mapping"))
        .iter()
        .map(|(key, value)| {
            let key = key.as_str().unwrap().to_string();
            let value = interpolate(&scalar_text(value).unwrap(), &vars)
                .unwrap_or_else(|err| panic!("{service}: {key}: {err}"));
            (key, value)
        })
        .collect()
}

/// What the service's own `Config::from_env` makes of the current environment: its
/// HTTP address and its store's address, if it has one.
fn service_config(service: &str) -> anyhow::Result<(SocketAddr, Option<String>)> {
    let url = |secret: &SecretString| Some(secret.expose_secret().to_string());
    Ok(match service {
        "gateway" => (gateway::Config::from_env()?.http_addr, None),
        "auth" => {
            let config = auth::Config::from_env()?;
            assert!(config.admin_email.is_some() && config.admin_password.is_some());
            (config.http_addr, url(&config.database_url))
        }
        "catalog" => {
            let config = catalog::Config::from_env()?;
            (config.http_addr, url(&config.mongodb_uri))
        }
        "order" => {
            let config = order::Config::from_env()?;
            (config.http_addr, url(&config.database_url))
        }
        "inventory" => {
            let config = inventory::Config::from_env()?;
            (config.http_addr, url(&config.database_url))
        }
        "payment" => {
            let config = payment::Config::from_env()?;
            (config.http_addr, url(&config.database_url))
        }
        "cart" => {
            let config = cart::Config::from_env()?;
            (config.http_addr, url(&config.mongodb_uri))
        }
        other => panic!("unknown service {other}"),
    })
}

#[test]
fn every_service_configures_itself_from_its_compose_environment() {
    let compose = read_yaml("docker-compose.kafka.yml");
    let services = compose["services"].as_mapping().unwrap();
    for service in SERVICES {
        clear_service_variables();
        let env = compose_environment(&compose, service);
        for (key, value) in &env {
            std::env::set_var(key, value);
        }
        let (http_addr, store) = service_config(service)
            .unwrap_or_else(|err| panic!("{service} refuses its compose environment: {err}"));
        assert!(
            http_addr.ip().is_unspecified(),
            "{service} would listen on {http_addr}, unreachable from other containers"
        );
        if let Some(store) = store {
            let (host, _) = host_and_port(&store).expect("a store URL with a host");
            assert!(
                services.contains_key(host.as_str()),
                "{service}'s store {host} is not a compose service"
            );
        }
        let kafka = kafka_runtime::KafkaConfig::from_env().expect("the Kafka settings parse");
        for broker in kafka.brokers.split(',') {
            let (host, _) = host_and_port(broker).expect("host:port");
            assert!(
                services.contains_key(host.as_str()),
                "{service}'s broker {host} is not a compose service"
            );
        }
        assert_eq!(
            kafka.topics.prefix(),
            "",
            "compose uses the topics without prefix"
        );
    }
    clear_service_variables();
}
