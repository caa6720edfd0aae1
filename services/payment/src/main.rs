//! Starts the payment service with settings from the environment.

use kafka_runtime::settings::FromEnv;
use shared_events::topics::Service as Name;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = payment::Config::from_env_or_help()?;
    let service =
        kafka_runtime::Service::start(Name::Payment, config.kafka.clone(), config.http_addr)?;
    payment::run(config, service).await
}
