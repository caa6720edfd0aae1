//! Each service reads its settings from exactly the environment docker-compose.kafka.yml
//! gives its container (interpolated with `.env.example`): every value parses, and the
//! addresses it ends up with are the compose services'. Alone in its test binary
//! because it changes the process environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use deploy_check::*;
use shared_events::topics::Service as Name;

/// Every variable a service or the runtime reads, so none leaks in from the test's own
/// environment (`./dev test` exports KAFKA_BROKERS, MONGODB_URI, RDKAFKA_*).
fn clear_service_variables() {
    for (name, _) in std::env::vars() {
        if name.starts_with("RDKAFKA_") || runtime_reads(&name) {
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

/// What the service's own `Config::from_env` and the runtime make of the current
/// environment: its HTTP address and its store's address, if it has one.
fn service_config(service: &str) -> anyhow::Result<(SocketAddr, Option<String>)> {
    let name = *Name::ALL
        .iter()
        .find(|name| name.name() == service)
        .unwrap_or_else(|| panic!("unknown service {service}"));
    let store = match name {
        Name::Gateway => {
            gateway::Config::from_env()?;
            None
        }
        Name::Auth => {
            let config = auth::Config::from_env()?;
            assert!(config.admin_email.is_some() && config.admin_password.is_some());
            Some(config.database.url)
        }
        Name::Catalog => Some(catalog::Config::from_env()?.mongodb_uri),
        Name::Order => Some(order::Config::from_env()?.database.url),
        Name::Inventory => Some(inventory::Config::from_env()?.database.url),
        Name::Payment => Some(payment::Config::from_env()?.database.url),
        Name::Cart => Some(cart::Config::from_env()?.mongodb_uri),
    };
    Ok((kafka_runtime::service::http_addr(name)?, store))
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
