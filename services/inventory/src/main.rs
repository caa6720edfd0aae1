//! Starts the inventory service with settings from the environment.

use kafka_runtime::settings::FromEnv;
use shared_events::topics::Service as Name;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = inventory::Config::from_env_or_help()?;
    let service =
        kafka_runtime::Service::start(Name::Inventory, config.kafka.clone(), config.http_addr)?;
    inventory::run(config, service).await
}
