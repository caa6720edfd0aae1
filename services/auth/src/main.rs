//! Starts the auth service with settings from the environment.

use kafka_runtime::settings::FromEnv;
use shared_events::topics::Service as Name;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = auth::Config::from_env_or_help()?;
    let service =
        kafka_runtime::Service::start(Name::Auth, config.kafka.clone(), config.http_addr)?;
    auth::run(config, service).await
}
