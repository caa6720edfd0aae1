//! The runtime every service of the platform shares, and the only code that touches
//! rdkafka.
//!
//! A service supplies plain handlers; the runtime does the plumbing once: consume with
//! manual offset storing, skip duplicates through an inbox, apply a message and record
//! the messages it causes in one transaction (outbox), publish them idempotently,
//! retry transient failures without skipping, dead-letter what can never succeed, answer
//! health and metrics, carry trace context, and stop in order. See
//! `docs/architecture.md` for the guarantees and how each is kept.
//!
//! The stores and the gateway's request-reply are features (`postgres`, `mongo`,
//! `gateway`), so that a service compiles only the database driver it uses.

pub mod admin;
pub mod assignments;
pub mod config;
pub mod consumer;
pub mod dlq;
pub mod error;
pub mod follow;
pub mod handlers;
pub mod http;
pub mod message;
pub mod metrics;
#[cfg(feature = "mongo")]
pub mod mongo;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod processor;
pub mod producer;
pub mod query;
#[cfg(feature = "gateway")]
pub mod request_reply;
pub mod retry;
pub mod service;
pub mod settings;
pub mod telemetry;
pub mod tools;

pub use config::KafkaConfig;
pub use error::HandlerError;
pub use handlers::{Answers, Handlers, Handles, QueryError};
pub use message::{Incoming, Outbox, Outgoing};
pub use processor::{Applied, Processor, SentMarks};
pub use producer::Publisher;
pub use service::Service;
