//! Starts the gateway with settings from the environment.

use kafka_runtime::settings::FromEnv;
use shared_events::topics::Service as Name;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = gateway::Config::from_env_or_help()?;
    // A client waits on each command's produce for its 202: no linger (the services'
    // producers wait 2 ms to batch). Under load librdkafka still batches what queues up
    // while requests are in flight. Measured in docs/benchmarks.md: one connection's
    // p50 went from 2.7 to 0.4 ms.
    let kafka = config.kafka.clone().with_default("linger.ms", "0");
    let service = kafka_runtime::Service::start(Name::Gateway, kafka, config.http_addr)?;
    gateway::run(config, service).await
}
