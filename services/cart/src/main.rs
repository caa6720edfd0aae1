//! Starts the cart service with settings from the environment.

use shared_events::topics::Service as Name;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let service = kafka_runtime::Service::from_env(Name::Cart)?;
    cart::run(cart::Config::from_env()?, service).await
}
