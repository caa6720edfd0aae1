//! What became of each command: pending until its outcome arrives on `gateway.replies`.
//!
//! Every gateway instance reads every reply, from an hour back when it starts, so any
//! instance can answer `GET /api/commands/{id}` once the outcome is in, even for a
//! command sent before it started or by another instance. A command it knows nothing
//! of is pending: its outcome may still be on its way. Bounded: the oldest entries are
//! forgotten past `capacity`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;
use shared_events::messages::reply::{CommandOutcome, Reply, ReplyError};
use shared_events::Envelope;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::dispatch::Resource;

/// Where a command stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Progress {
    /// Its outcome has not arrived (yet).
    Pending,
    /// The service applied it.
    Succeeded,
    /// The service refused it; `error` says why.
    Failed,
}

/// The answer of `GET /api/commands/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommandStatus {
    /// The command's id.
    pub command_id: Uuid,
    /// Where it stands.
    pub status: Progress,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ReplyError>,
    /// Where to read what the command made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Who sent it: only they (or an admin) may read its status. `None` for a command
    /// sent without a token.
    #[serde(skip)]
    pub actor: Option<Uuid>,
}

#[derive(Default)]
struct Entry {
    actor: Option<Uuid>,
    location: Option<Resource>,
    reply: Option<Reply>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Uuid, Entry>,
    order: VecDeque<Uuid>,
}

/// Command outcomes, by command id.
pub struct Outcomes {
    state: Mutex<State>,
    capacity: usize,
    arrived: Notify,
}

impl Outcomes {
    /// Remembers at most `capacity` commands.
    pub fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::default(),
            capacity,
            arrived: Notify::new(),
        }
    }

    fn entry<'a>(&self, state: &'a mut State, command_id: Uuid) -> &'a mut Entry {
        if !state.entries.contains_key(&command_id) {
            state.order.push_back(command_id);
            while state.order.len() > self.capacity {
                if let Some(old) = state.order.pop_front() {
                    state.entries.remove(&old);
                }
            }
        }
        state.entries.entry(command_id).or_default()
    }

    /// Starts tracking a command about to be sent by `actor`.
    pub fn track(&self, command_id: Uuid, actor: Option<Uuid>, location: Option<Resource>) {
        let mut state = self.state.lock().expect("not poisoned");
        let entry = self.entry(&mut state, command_id);
        entry.actor = actor;
        entry.location = location;
    }

    /// Files a reply from `gateway.replies` under the command that caused it.
    pub fn record(&self, reply: Envelope<Reply>) {
        if let Some(command_id) = reply.causation_id {
            let actor = reply.actor.map(|actor| actor.user_id);
            self.resolve(command_id, actor, reply.data);
        }
    }

    /// Records the outcome of a command sent by `actor` (as its reply says, for
    /// commands another gateway instance sent).
    pub fn resolve(&self, command_id: Uuid, actor: Option<Uuid>, reply: Reply) {
        let mut state = self.state.lock().expect("not poisoned");
        let entry = self.entry(&mut state, command_id);
        entry.actor = entry.actor.or(actor);
        if entry.location.is_none() {
            entry.location = reply.outcome().ok().as_ref().and_then(resource_of);
        }
        // Only the status is kept: whatever data a reply carries is not this map's to hold.
        entry.reply = Some(Reply {
            data: None,
            ..reply
        });
        drop(state);
        self.arrived.notify_waiters();
    }

    /// The command's status, if this gateway knows the command: it sent it, or its
    /// outcome arrived.
    pub fn get(&self, command_id: Uuid) -> Option<CommandStatus> {
        let state = self.state.lock().expect("not poisoned");
        let entry = state.entries.get(&command_id)?;
        let (status, error) = match &entry.reply {
            None => (Progress::Pending, None),
            Some(reply) if reply.ok => (Progress::Succeeded, None),
            Some(reply) => (Progress::Failed, reply.error.clone()),
        };
        let location = entry
            .location
            .filter(|_| status == Progress::Succeeded)
            .map(Resource::path);
        Some(CommandStatus {
            command_id,
            status,
            error,
            location,
            actor: entry.actor,
        })
    }

    /// Like [`Outcomes::get`], but waits up to `wait` for a pending command to finish,
    /// and answers an unknown command as pending (with no actor) once `wait` is over.
    pub async fn wait(&self, command_id: Uuid, wait: Duration) -> CommandStatus {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            let status = self.get(command_id).unwrap_or(CommandStatus {
                command_id,
                status: Progress::Pending,
                error: None,
                location: None,
                actor: None,
            });
            if status.status != Progress::Pending || tokio::time::Instant::now() >= deadline {
                return status;
            }
            let _ = tokio::time::timeout_at(deadline, arrived).await;
        }
    }
}

/// Where to read what a command made, from its outcome, for a command this instance
/// did not send: an order, a stock level, a product or a cart (the caller's own). A new user has nothing to read
/// but their own profile, which needs their token: none.
fn resource_of(outcome: &CommandOutcome) -> Option<Resource> {
    match outcome {
        CommandOutcome::Order { order_id, .. } => Some(Resource::Order(*order_id)),
        CommandOutcome::Stock(level) => Some(Resource::Stock(level.product_id)),
        CommandOutcome::Product { product_id } => Some(Resource::Product(*product_id)),
        CommandOutcome::Cart { .. } => Some(Resource::Cart),
        CommandOutcome::User { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_events::messages::reply::ReplyCode;

    #[test]
    fn a_tracked_command_is_pending_until_its_reply_arrives() {
        let outcomes = Outcomes::new(10);
        let id = Uuid::new_v4();
        outcomes.track(id, None, Some(Resource::Cart));
        assert_eq!(outcomes.get(id).unwrap().status, Progress::Pending);
        assert_eq!(outcomes.get(id).unwrap().location, None);
        outcomes.resolve(id, None, Reply::success(Uuid::nil(), serde_json::json!({})));
        let done = outcomes.get(id).unwrap();
        assert_eq!(
            (done.status, done.location.as_deref()),
            (Progress::Succeeded, Some("/api/cart"))
        );
    }

    #[test]
    fn a_failed_command_carries_its_error() {
        let outcomes = Outcomes::new(10);
        let id = Uuid::new_v4();
        outcomes.resolve(
            id,
            None,
            Reply::failure(Uuid::nil(), ReplyCode::EmailTaken, "taken"),
        );
        let failed = outcomes.get(id).unwrap();
        assert_eq!(failed.status, Progress::Failed);
        assert_eq!(failed.error.unwrap().code, ReplyCode::EmailTaken);
    }

    #[test]
    fn the_oldest_commands_are_forgotten_past_capacity() {
        let outcomes = Outcomes::new(2);
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        for id in &ids {
            outcomes.track(*id, None, None);
        }
        assert!(outcomes.get(ids[0]).is_none());
        assert!(outcomes.get(ids[2]).is_some());
    }

    #[tokio::test]
    async fn waiting_returns_as_soon_as_the_outcome_arrives() {
        let outcomes = std::sync::Arc::new(Outcomes::new(10));
        let id = Uuid::new_v4();
        outcomes.track(id, None, None);
        let resolver = outcomes.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            resolver.resolve(id, None, Reply::success(Uuid::nil(), serde_json::json!({})));
        });
        let status = outcomes.wait(id, Duration::from_secs(10)).await;
        assert_eq!(status.status, Progress::Succeeded);
    }

    #[tokio::test]
    async fn an_unknown_command_is_pending_until_its_outcome_arrives() {
        let outcomes = std::sync::Arc::new(Outcomes::new(10));
        let id = Uuid::new_v4();
        let unknown = outcomes.wait(id, Duration::ZERO).await;
        assert_eq!((unknown.status, unknown.actor), (Progress::Pending, None));
        let resolver = outcomes.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let order = serde_json::json!({ "kind": "order", "orderId": id, "status": "PENDING" });
            resolver.resolve(id, None, Reply::success(Uuid::nil(), order));
        });
        let status = outcomes.wait(id, Duration::from_secs(10)).await;
        assert_eq!(status.status, Progress::Succeeded);
        assert_eq!(status.location, Some(format!("/api/orders/{id}")));
    }

    #[test]
    fn an_outcome_from_elsewhere_points_at_what_its_reply_names() {
        let id = Uuid::nil();
        let of = |data: serde_json::Value| {
            resource_of(&Reply::success(id, data).outcome().expect("an outcome"))
                .map(Resource::path)
        };
        assert_eq!(
            of(serde_json::json!({ "kind": "product", "productId": id })),
            Some(format!("/api/products/{id}"))
        );
        assert_eq!(
            of(serde_json::json!({
                "kind": "stock", "productId": id, "onHand": 3, "reserved": 0, "available": 3,
                "reorderPoint": 0
            })),
            Some(format!("/api/inventory/{id}"))
        );
        assert_eq!(
            of(serde_json::json!({ "kind": "user", "userId": id })),
            None
        );
    }
}
