//! Starts the gateway with settings from the environment.

use kafka_runtime::settings::FromEnv;
use shared_events::topics::Service as Name;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = gateway::Config::from_env_or_help()?;
    let service =
        kafka_runtime::Service::start(Name::Gateway, config.kafka.clone(), config.http_addr)?;
    gateway::run(config, service).await
}
