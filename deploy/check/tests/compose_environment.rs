//! Each service reads its settings from exactly the environment docker-compose.kafka.yml
//! gives its container (interpolated with `.env.example`): every value parses, and the
//! addresses it ends up with are the compose services'. The settings are read from that
//! environment alone (`FromEnv::from_vars`), so nothing leaks in from the test's own.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use deploy_check::*;
use kafka_runtime::settings::FromEnv;
use kafka_runtime::KafkaConfig;
use secrecy::{ExposeSecret, SecretString};

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

/// What the service's own `Config` makes of `env`: its HTTP address, its store's address
/// if it has one, and its Kafka settings.
fn service_config(
    service: &str,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<(SocketAddr, Option<String>, KafkaConfig)> {
    let url = |secret: &SecretString| Some(secret.expose_secret().to_string());
    let env = env.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    Ok(match service {
        "gateway" => {
            let config = gateway::Config::from_vars(env)?;
            (config.http_addr, None, config.kafka)
        }
        "auth" => {
            let config = auth::Config::from_vars(env)?;
            assert!(config.admin_email.is_some() && config.admin_password.is_some());
            (config.http_addr, url(&config.database_url), config.kafka)
        }
        "catalog" => {
            let config = catalog::Config::from_vars(env)?;
            (config.http_addr, url(&config.mongodb_uri), config.kafka)
        }
        "order" => {
            let config = order::Config::from_vars(env)?;
            (config.http_addr, url(&config.database_url), config.kafka)
        }
        "inventory" => {
            let config = inventory::Config::from_vars(env)?;
            (config.http_addr, url(&config.database_url), config.kafka)
        }
        "payment" => {
            let config = payment::Config::from_vars(env)?;
            (config.http_addr, url(&config.database_url), config.kafka)
        }
        "cart" => {
            let config = cart::Config::from_vars(env)?;
            (config.http_addr, url(&config.mongodb_uri), config.kafka)
        }
        other => panic!("unknown service {other}"),
    })
}

#[test]
fn every_service_configures_itself_from_its_compose_environment() {
    let compose = read_yaml("docker-compose.kafka.yml");
    let services = compose["services"].as_mapping().unwrap();
    for service in SERVICES {
        let env = compose_environment(&compose, service);
        let (http_addr, store, kafka) = service_config(service, &env)
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
}
