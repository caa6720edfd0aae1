//! Starts the order service with settings from the environment.

use shared_events::topics::Service as Name;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let service = kafka_runtime::Service::from_env(Name::Order)?;
    order::run(order::Config::from_env()?, service).await
}
