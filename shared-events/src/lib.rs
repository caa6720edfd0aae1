//! The message contract of the commerce platform, as Rust types.
//!
//! Services never call each other; everything between them is a JSON message on a
//! Kafka topic (see docs/messages.md). This crate is the one place those messages are
//! defined: the [`Envelope`] every message travels in, the commands, events, queries
//! and replies carried in its `data`, the [`Topic`] names, and the deterministic ids
//! that make re-running a handler produce the same messages. `schemas/` is generated
//! from these types by the `gen-schemas` binary, with an AsyncAPI document of who
//! sends and reads what ([`topology`]).

pub mod access;
pub mod asyncapi;
pub mod envelope;
pub mod ids;
pub mod messages;
pub mod rules;
pub mod schema;
pub mod text;
pub mod topics;
pub mod topology;

pub use envelope::{Actor, Envelope, RawEnvelope, Role};
pub use ids::derive_id;
pub use messages::{Message, Query};
pub use topics::{Retention, Service, Topic, Topics};
