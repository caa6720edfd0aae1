//! The frame of a service process: configuration, producer, consumers, health endpoints,
//! and an orderly stop on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use shared_events::topics::Service as ServiceName;
use shared_events::{topology, Topic, Topics};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::KafkaConfig;
use crate::consumer::{self, ConsumerSpec};
use crate::handlers::Reads;
use crate::http::{self, ReadinessCheck};
use crate::metrics::Metrics;
use crate::processor::Processor;
use crate::producer::Publisher;
use crate::query::{self, QueryHandler};

/// A running service: what its consumers and routes share.
pub struct Service {
    name: ServiceName,
    kafka: KafkaConfig,
    publisher: Publisher,
    metrics: Metrics,
    shutdown: CancellationToken,
    http_addr: SocketAddr,
    checks: Vec<ReadinessCheck>,
    tasks: JoinSet<anyhow::Result<()>>,
    /// Every task runs inside it, so every log line names the service.
    span: tracing::Span,
}

impl Service {
    /// A service process's frame: `kafka` and `http_addr` come from its settings (its
    /// `HTTP_ADDR`); it logs as `RUST_LOG` says and stops on SIGTERM or Ctrl-C.
    pub fn start(
        name: ServiceName,
        kafka: KafkaConfig,
        http_addr: SocketAddr,
    ) -> anyhow::Result<Self> {
        crate::telemetry::init_logging();
        let service = Self::new(name, kafka, http_addr, CancellationToken::new())?;
        let shutdown = service.shutdown.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested");
            shutdown.cancel();
        });
        Ok(service)
    }

    /// A service with explicit configuration, serving health, metrics and its routes on
    /// `http_addr`, that stops when `shutdown` is cancelled.
    pub fn new(
        name: ServiceName,
        kafka: KafkaConfig,
        http_addr: SocketAddr,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let publisher = Publisher::new(&kafka)?;
        let probe = publisher.clone();
        let broker = ReadinessCheck::new("broker", move || {
            let probe = probe.clone();
            Box::pin(async move { probe.ping().await })
        });
        Ok(Self {
            name,
            metrics: Metrics::new(name.name()),
            kafka,
            publisher,
            shutdown,
            http_addr,
            checks: vec![broker],
            tasks: JoinSet::new(),
            span: tracing::info_span!("service", service = name.name()),
        })
    }

    /// The Kafka configuration.
    pub fn kafka(&self) -> &KafkaConfig {
        &self.kafka
    }

    /// Topic names with this deployment's prefix.
    pub fn topics(&self) -> &Topics {
        &self.kafka.topics
    }

    /// The process's producer.
    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// The process's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The span every task of the service runs in; instrument tasks you spawn with it.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Cancelled when the service is asked to stop.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Adds a dependency to `/readyz`.
    pub fn check_ready(&mut self, check: ReadinessCheck) {
        self.checks.push(check);
    }

    /// Runs a consumer in the service's group (named after the service and prefixed
    /// like the topics) of the topics its handler's table lists, applying each message
    /// through `processor`. A table that disagrees with the topology stops the start.
    pub fn consume<P: Processor>(&mut self, processor: P) -> anyhow::Result<()> {
        let topics = self.declared(processor.reads(), Topic::is_command_or_event)?;
        let processor = Arc::new(processor);
        let probe = processor.clone();
        self.check_ready(ReadinessCheck::new("store", move || {
            let probe = probe.clone();
            Box::pin(async move { probe.ping().await })
        }));
        let group = handler_group(self.topics(), self.name);
        self.spawn_consumer(
            group,
            &topics,
            |kafka, spec, publisher, metrics, shutdown| async move {
                consumer::run(&kafka, spec, processor, publisher, metrics, shutdown).await
            },
        );
        Ok(())
    }

    /// Answers the queries its handler's table lists with `handler`, in a group of its
    /// own (`<service>-queries`) so that reads never wait behind commands. Queries older
    /// than [`query::MAX_AGE`] are skipped. A table that disagrees with the topology
    /// stops the start.
    pub fn answer<H: QueryHandler>(&mut self, handler: H) -> anyhow::Result<()> {
        let answers = H::answers();
        let topics = self.declared(answers.reads(), Topic::is_queries)?;
        let group = query_group(self.topics(), self.name);
        self.spawn_consumer(
            group,
            &topics,
            |kafka, spec, publisher, metrics, shutdown| async move {
                query::run(&kafka, spec, handler, answers, publisher, metrics, shutdown).await
            },
        );
        Ok(())
    }

    /// The topics a handler table lists, once the topology agrees with it and each is
    /// of the kind this consumer reads (commands and events, or queries: what
    /// [`consumer_groups`] counts on).
    fn declared(&self, reads: Reads, kind: fn(&Topic) -> bool) -> anyhow::Result<Vec<Topic>> {
        let name = self.name.name();
        anyhow::ensure!(
            reads != Reads::default(),
            "{name}'s handler lists nothing to read: build it from a handler table"
        );
        reads
            .check_against_topology(self.name)
            .map_err(anyhow::Error::msg)?;
        let topics = reads.topics();
        if let Some(topic) = topics.iter().find(|topic| !kind(topic)) {
            anyhow::bail!("{name} reads {} in the wrong consumer", topic.base_name());
        }
        Ok(topics)
    }

    /// Runs `consumer` (the runtime's [`consumer::run`] or [`query::run`]) on `topics`
    /// in `group` as a task of the service, ready once its group has formed.
    fn spawn_consumer<F, T>(&mut self, group: String, topics: &[Topic], consumer: F)
    where
        F: FnOnce(KafkaConfig, ConsumerSpec, Publisher, Metrics, CancellationToken) -> T,
        T: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let spec = self.consumer_spec(group, topics);
        let running = consumer(
            self.kafka.clone(),
            spec,
            self.publisher.clone(),
            self.metrics.clone(),
            self.shutdown.clone(),
        );
        self.tasks.spawn(running.instrument(self.span.clone()));
    }

    /// The types on `topic` this service does not read, which its consumer skips. A topic
    /// the topology does not list it as reading is a mistake in the code: it stops here.
    fn not_read_on(&self, topic: Topic) -> Vec<&'static str> {
        topology::not_read_by(self.name, topic).unwrap_or_else(|| {
            panic!(
                "shared_events::topology does not list {} as a reader of {}",
                self.name.name(),
                topic.base_name()
            )
        })
    }

    /// What a consumer of `topics` in `group` reads, and the readiness check that waits
    /// for its group to form.
    fn consumer_spec(&mut self, group: String, topics: &[Topic]) -> ConsumerSpec {
        let names: Vec<String> = topics.iter().map(|t| self.topics().name(*t)).collect();
        let skipped = topics
            .iter()
            .zip(&names)
            .map(|(&topic, name)| (name.clone(), self.not_read_on(topic)))
            .collect();
        let spec = ConsumerSpec {
            service: self.name.name(),
            group,
            topics: names,
            dlq_topic: self.topics().name(Topic::Dlq(self.name)),
            skipped,
            queue_per_partition: 64,
            assigned: Default::default(),
        };
        // Ready once the group has formed with this member in it: before that, a query
        // sent to the service waits for the join (seconds on a fresh group).
        let (assigned, group) = (spec.assigned.clone(), spec.group.clone());
        self.check_ready(ReadinessCheck::new("group", move || {
            let joined = assigned.load(std::sync::atomic::Ordering::SeqCst);
            let group = group.clone();
            Box::pin(async move {
                if joined {
                    Ok(())
                } else {
                    Err(format!(
                        "waiting for the group {group} to assign partitions"
                    ))
                }
            })
        }));
        spec
    }

    /// Runs `task` beside the consumers: its failure stops the service; its success
    /// does not (any other task ending means the service is stopping).
    pub fn spawn<F>(&mut self, task: F)
    where
        F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let shutdown = self.shutdown.clone();
        let task = async move {
            task.await?;
            shutdown.cancelled().await;
            Ok(())
        };
        self.tasks.spawn(task.instrument(self.span.clone()));
    }

    /// Takes a topic reader (see [`crate::follow`]) under the service's shutdown: the
    /// service stops it with its other tasks and waits until it has closed its consumer.
    pub fn adopt(&mut self, reader: crate::follow::Reader) {
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(
            async move {
                reader.finished().await;
                // A reader only ends at shutdown; if it ended early, stop with it.
                if !shutdown.is_cancelled() {
                    anyhow::bail!("a topic reader stopped before the service");
                }
                Ok(())
            }
            .instrument(self.span.clone()),
        );
    }

    /// Serves the health routes (plus `extra`) on its HTTP address and runs until
    /// shutdown or until a task fails; then stops every task and flushes the producer.
    pub async fn run(self, extra: Router) -> anyhow::Result<()> {
        let span = self.span.clone();
        self.serve_until_stopped(extra).instrument(span).await
    }

    async fn serve_until_stopped(mut self, extra: Router) -> anyhow::Result<()> {
        let addr = self.http_addr;
        let router = extra.merge(http::health_routes(
            self.metrics.clone(),
            self.checks.clone(),
        ));
        let serving =
            http::serve(addr, router, self.shutdown.clone()).instrument(self.span.clone());
        self.tasks.spawn(serving);
        tracing::info!(%addr, "service started");
        let mut outcome = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            let result = joined.map_err(anyhow::Error::from).and_then(|r| r);
            if let Err(err) = result {
                tracing::error!(
                    error = format!("{err:#}"),
                    "a service task failed; stopping"
                );
                if outcome.is_ok() {
                    outcome = Err(err);
                }
            }
            self.shutdown.cancel();
        }
        self.publisher.flush(Duration::from_secs(5)).await;
        tracing::info!("service stopped");
        outcome
    }
}

/// The consumer group of a service's handler table: the service's name, prefixed like
/// the topics.
pub fn handler_group(topics: &Topics, service: ServiceName) -> String {
    format!("{}{}", topics.prefix(), service.name())
}

/// The consumer group answering a service's queries, apart so that reads never wait
/// behind commands.
pub fn query_group(topics: &Topics, service: ServiceName) -> String {
    format!("{}{}-queries", topics.prefix(), service.name())
}

/// The consumer groups the instances of `service` join. Its tables must match the
/// topology (checked at start), so the topology says which: a reader of a command or
/// event topic consumes in [`handler_group`], a reader of a query topic answers in
/// [`query_group`]. The gateway is the exception: every instance of it must see every
/// reply, key and order status change, so it follows what it reads by assignment
/// ([`crate::follow`]), in no group.
pub fn consumer_groups(service: ServiceName, topics: &Topics) -> Vec<String> {
    if service == ServiceName::Gateway {
        return Vec::new();
    }
    let reads = |wanted: fn(&Topic) -> bool| {
        Topic::ALL_STREAMS
            .into_iter()
            .filter(wanted)
            .any(|topic| topology::read_by(service, topic).is_some())
    };
    let mut groups = Vec::new();
    if reads(Topic::is_command_or_event) {
        groups.push(handler_group(topics, service));
    }
    if reads(Topic::is_queries) {
        groups.push(query_group(topics, service));
    }
    groups
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
