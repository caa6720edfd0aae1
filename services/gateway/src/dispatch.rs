//! How routes talk to services: a command is sent and answered 202 once the broker has
//! it; a query is sent and answered with the service's reply, or 504.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kafka_runtime::telemetry::TraceParent;
use schemars::JsonSchema;
use serde::Serialize;
use shared_events::{Envelope, Message, Query, Topic};
use uuid::Uuid;

use crate::error::ApiError;
use crate::AppState;

/// The correlation id for the messages a request sends, made by the gateway for each
/// request. Replies are routed by it, so it must not come from the client: two requests
/// sent with the same `x-request-id` would wait for one reply, and one could read the
/// other's. The client's request id stays in the logs, where the request's span
/// records both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Correlation(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Correlation {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let id = Uuid::new_v4();
        tracing::Span::current().record("correlation_id", tracing::field::display(id));
        Ok(Self(id))
    }
}

/// Something a client can read, by its path: the one place the gateway spells the paths
/// it points clients to, in `Location` headers and in command outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// What became of a command.
    Command(Uuid),
    /// A product.
    Product(Uuid),
    /// A product's stock.
    Stock(Uuid),
    /// An order.
    Order(Uuid),
    /// The caller's own cart.
    Cart,
}

impl Resource {
    /// Its path, as a `Location` names it.
    pub fn path(self) -> String {
        match self {
            Self::Command(id) => format!("/api/commands/{id}"),
            Self::Product(id) => format!("/api/products/{id}"),
            Self::Stock(id) => format!("/api/inventory/{id}"),
            Self::Order(id) => format!("/api/orders/{id}"),
            Self::Cart => "/api/cart".into(),
        }
    }
}

/// A command on its way: where it goes, and what it makes or changes.
pub struct Command<T: Message> {
    topic: Topic,
    key: Uuid,
    envelope: Envelope<T>,
    /// Where to read what it made or changed once it succeeded (shown in its outcome).
    resource: Option<Resource>,
    /// Whether the 202's `Location` names the resource rather than the command's outcome.
    locate_resource: bool,
}

impl<T: Message> Command<T> {
    /// `envelope` for `topic`, keyed by `key`; its 202 points to its outcome.
    pub fn new(topic: Topic, key: Uuid, envelope: Envelope<T>) -> Self {
        Self {
            topic,
            key,
            envelope,
            resource: None,
            locate_resource: false,
        }
    }

    /// It changes `resource`, which its outcome names once it succeeded.
    pub fn changes(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// It makes `resource`: a new product or order is worth following itself, so the
    /// 202 points to it at once (and its outcome names it too).
    pub fn makes(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self.locate_resource = true;
        self
    }
}

/// A command's 202 answer: its body, with a `Location` to follow.
#[derive(Debug)]
pub struct Accepted<B> {
    /// The `Location` header.
    pub location: Resource,
    /// The body.
    pub body: B,
}

impl<B: Serialize> IntoResponse for Accepted<B> {
    fn into_response(self) -> Response {
        let location = [(header::LOCATION, self.location.path())];
        (StatusCode::ACCEPTED, location, Json(self.body)).into_response()
    }
}

// The 202 bodies: the routes answer them (in `Accepted`) and the document describes
// them, so what a client gets and what it is told it gets are one type.

/// The 202 body of a registration.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAccepted {
    /// Follow it at `/api/commands/{commandId}`.
    pub command_id: Uuid,
    /// The user the command makes.
    pub user_id: Uuid,
}

impl UserAccepted {
    /// The body of a command that makes `user_id`, from the command's id.
    pub fn of(user_id: Uuid) -> impl FnOnce(Uuid) -> Self {
        move |command_id| Self {
            command_id,
            user_id,
        }
    }
}

/// The 202 body of a product or stock command.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductAccepted {
    /// Follow it at `/api/commands/{commandId}`.
    pub command_id: Uuid,
    /// The product it is about.
    pub product_id: Uuid,
}

impl ProductAccepted {
    /// The body of a command about `product_id`, from the command's id.
    pub fn of(product_id: Uuid) -> impl FnOnce(Uuid) -> Self {
        move |command_id| Self {
            command_id,
            product_id,
        }
    }
}

/// The 202 body of a cart command.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartAccepted {
    /// Follow it at `/api/commands/{commandId}`.
    pub command_id: Uuid,
}

/// The 202 body of an order command.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderAccepted {
    /// Follow it at `/api/commands/{commandId}`.
    pub command_id: Uuid,
    /// The order it is about.
    pub order_id: Uuid,
}

impl OrderAccepted {
    /// The body of a command about `order_id`, from the command's id.
    pub fn of(order_id: Uuid) -> impl FnOnce(Uuid) -> Self {
        move |command_id| Self {
            command_id,
            order_id,
        }
    }
}

impl AppState {
    /// Sends a command and answers 202 with its `Location` and the body `body` makes of
    /// its id once the broker acknowledged it, or 503 when the broker could not take it
    /// in time. Its outcome can be followed at `/api/commands/{id}`, by its actor only.
    pub async fn accept<T: Message, B>(
        &self,
        command: Command<T>,
        body: impl FnOnce(Uuid) -> B,
    ) -> Result<Accepted<B>, ApiError> {
        let Command {
            topic,
            key,
            envelope,
            resource,
            locate_resource,
        } = command;
        let location = match resource {
            Some(resource) if locate_resource => resource,
            _ => Resource::Command(envelope.id),
        };
        let body = body(envelope.id);
        let envelope = envelope.with_reply_to(self.requester.replies_topic());
        let actor = envelope.actor.as_ref().map(|actor| actor.user_id);
        self.outcomes.track(envelope.id, actor, resource);
        self.requester
            .send(topic, key, &envelope, &TraceParent::root())
            .await
            .map_err(|err| ApiError::Unavailable(err.into()))?;
        tracing::info!(
            command_id = %envelope.id,
            correlation_id = %envelope.correlation_id,
            kind = %envelope.kind,
            %key,
            "command accepted"
        );
        Ok(Accepted { location, body })
    }

    /// Sends a query and waits for its answer, or the service's refusal as an error;
    /// 504 when no answer came in time.
    pub async fn ask<Q: Query>(
        &self,
        topic: Topic,
        key: impl std::fmt::Display,
        envelope: Envelope<Q>,
    ) -> Result<Q::Answer, ApiError> {
        let correlation_id = envelope.correlation_id;
        let kind = envelope.kind.clone();
        let reply = self
            .requester
            .request(
                topic,
                key,
                envelope,
                &TraceParent::root(),
                self.config.request_timeout,
            )
            .await
            .inspect_err(
                |err| tracing::warn!(%correlation_id, %kind, error = %err, "query failed"),
            )?
            .data;
        if reply.ok {
            return reply.answer_to::<Q>().map_err(|err| {
                ApiError::Internal(anyhow::anyhow!("{kind} answered in another shape: {err}"))
            });
        }
        match reply.error {
            Some(error) => Err(error.into()),
            None => Err(ApiError::Internal(anyhow::anyhow!(
                "{kind} failed without saying why"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    #[tokio::test]
    async fn requests_with_the_same_client_request_id_get_their_own_correlation_ids() {
        let mut ids = Vec::new();
        for _ in 0..2 {
            let request = Request::builder()
                .header("x-request-id", "6f1b7c1e-8d7a-4a63-9a55-0d2b0c1f0a11")
                .body(())
                .unwrap();
            let (mut parts, ()) = request.into_parts();
            let Ok(Correlation(id)) = Correlation::from_request_parts(&mut parts, &()).await;
            ids.push(id);
        }
        assert_ne!(ids[0], ids[1]);
        assert_ne!(ids[0].to_string(), "6f1b7c1e-8d7a-4a63-9a55-0d2b0c1f0a11");
    }
}
