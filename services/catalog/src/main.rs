//! Starts the catalog service with settings from the environment.

use shared_events::topics::Service as Name;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let service = kafka_runtime::Service::from_env(Name::Catalog)?;
    catalog::run(catalog::Config::from_env()?, service).await
}
