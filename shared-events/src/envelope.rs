//! The envelope every message travels in.
//!
//! A Kafka record's value is exactly one JSON object: the envelope fields plus the
//! message in `data`. Nothing depends on headers, so a line typed into
//! `kafka-console-producer` is a complete message.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::ids::derive_id;
use crate::messages::Message;

/// What a signed-in user is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Places and follows their own orders.
    Buyer,
    /// Lists products and manages their stock.
    Seller,
    /// Sees and manages everything.
    Admin,
}

crate::text_enum!(Role {
    Buyer => "buyer",
    Seller => "seller",
    Admin => "admin",
});

/// The user on whose behalf a message was sent, as the gateway authenticated them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// The user's id.
    pub user_id: Uuid,
    /// The user's role when the message was sent.
    pub role: Role,
}

/// One message on a topic: metadata plus the command, event, query or reply in `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    /// Deduplication key: two messages with the same id are one message.
    pub id: Uuid,
    /// The message type, e.g. `order.place_order`; decides how `data` is read.
    #[serde(rename = "type")]
    pub kind: String,
    /// Schema version of `data` for this type.
    pub version: u32,
    /// When the message was created.
    pub occurred_at: DateTime<Utc>,
    /// The id shared by every message that one client request set off.
    pub correlation_id: Uuid,
    /// The id of the message this one is a consequence of, if any.
    #[serde(default)]
    pub causation_id: Option<Uuid>,
    /// The user the message acts for; none for system messages and anonymous requests.
    #[serde(default)]
    pub actor: Option<Actor>,
    /// Topic on which the sender waits for the outcome, if it waits.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// The message itself.
    pub data: T,
}

/// An envelope whose `data` is not parsed yet: what a consumer reads first, before dispatching on `kind`.
pub type RawEnvelope = Envelope<Box<RawValue>>;

impl RawEnvelope {
    /// Parses a record value. Fails when it is not a JSON envelope; `data` may be any JSON.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Parses `data` as `T`; the caller already matched `kind == T::TYPE`.
    pub fn data_as<T: Message>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }

    /// The same envelope with `data` parsed as `T`.
    pub fn typed<T: Message>(self) -> Result<Envelope<T>, serde_json::Error> {
        let data = self.data_as::<T>()?;
        Ok(Envelope {
            id: self.id,
            kind: self.kind,
            version: self.version,
            occurred_at: self.occurred_at,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            actor: self.actor,
            reply_to: self.reply_to,
            data,
        })
    }
}

impl<T: Message> Envelope<T> {
    /// A fresh message with a random id (v4), occurred now, in the given correlation.
    ///
    /// Use [`Envelope::start`] for a message that begins a correlation of its own.
    pub fn new(data: T, correlation_id: Uuid, actor: Option<Actor>) -> Self {
        Self {
            id: Uuid::new_v4(),
            kind: T::TYPE.to_owned(),
            version: T::VERSION,
            occurred_at: Utc::now(),
            correlation_id,
            causation_id: None,
            actor,
            reply_to: None,
            data,
        }
    }

    /// A fresh message that begins its own correlation: its correlation id is its id.
    pub fn start(data: T, actor: Option<Actor>) -> Self {
        let mut envelope = Self::new(data, Uuid::nil(), actor);
        envelope.correlation_id = envelope.id;
        envelope
    }

    /// A message caused by another one: id = `derive_id(cause.id, T::TYPE)`, so a re-run
    /// yields the same id; same correlation id and actor, `causation_id = Some(cause.id)`,
    /// no `reply_to`.
    pub fn caused_by<U>(cause: &Envelope<U>, data: T) -> Self {
        Self::derived(cause, derive_id(cause.id, T::TYPE), data)
    }

    /// Same as [`Envelope::caused_by`] but with `label` mixed into the id, for a cause
    /// that yields several messages of one type (e.g. one `stock_changed` per product).
    pub fn caused_by_labeled<U>(cause: &Envelope<U>, label: &str, data: T) -> Self {
        let id = derive_id(cause.id, &format!("{}#{label}", T::TYPE));
        Self::derived(cause, id, data)
    }

    fn derived<U>(cause: &Envelope<U>, id: Uuid, data: T) -> Self {
        Self {
            id,
            kind: T::TYPE.to_owned(),
            version: T::VERSION,
            occurred_at: Utc::now(),
            correlation_id: cause.correlation_id,
            causation_id: Some(cause.id),
            actor: cause.actor.clone(),
            reply_to: None,
            data,
        }
    }

    /// Asks for the outcome to be sent to `topic` (a full topic name, prefix included).
    pub fn with_reply_to(mut self, topic: impl Into<String>) -> Self {
        self.reply_to = Some(topic.into());
        self
    }

    /// The record value: the envelope as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self)
            .expect("an envelope of plain structs with string keys always serializes to JSON")
    }
}
