//! The saga's deadline. An order still PENDING `ORDER_DEADLINE_SECS` after it was
//! placed is cancelled with reason `timeout`, and the usual compensations follow.
//!
//! The scheduler only reads the order service's own table and sends `expire_order` to
//! `order.commands`; the handler makes the change, in its transaction, like any other
//! command. The command's id is derived from the order, so every instance's scan, and
//! every later scan before the command is applied, yields one command that the inbox
//! applies once.

use std::time::Duration;

use kafka_runtime::{Outgoing, Publisher};
use shared_events::messages::order::ExpireOrder;
use shared_events::{derive_id, Envelope, Message, Topic, Topics};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Most overdue orders one scan sends commands for.
const SCAN_LIMIT: i64 = 500;

/// How often to look for overdue orders: a quarter of the deadline, between 250 ms
/// and 5 s, so an order is cancelled at most a quarter late.
pub fn scan_interval(deadline: Duration) -> Duration {
    (deadline / 4).clamp(Duration::from_millis(250), Duration::from_secs(5))
}

/// The `expire_order` command for an order, with the id every scan gives it.
pub fn expire_command(order_id: Uuid) -> Envelope<ExpireOrder> {
    let mut envelope = Envelope::start(ExpireOrder { order_id }, None);
    envelope.id = derive_id(order_id, ExpireOrder::TYPE);
    envelope.correlation_id = envelope.id;
    envelope
}

/// Scans for overdue orders until shutdown. A scan that fails (the database or the
/// broker away) is logged and tried again at the next tick.
pub async fn run(
    pool: PgPool,
    publisher: Publisher,
    topics: Topics,
    deadline: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(scan_interval(deadline));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        if let Err(err) = scan(&pool, &publisher, &topics, deadline).await {
            tracing::warn!(error = %err, "deadline scan failed; trying again at the next tick");
        }
    }
}

/// Sends `expire_order` for every order PENDING past `deadline`; returns how many.
pub async fn scan(
    pool: &PgPool,
    publisher: &Publisher,
    topics: &Topics,
    deadline: Duration,
) -> anyhow::Result<usize> {
    let overdue = crate::store::overdue(pool, deadline, SCAN_LIMIT).await?;
    let commands = topics.name(Topic::OrderCommands);
    for &order_id in &overdue {
        let message = Outgoing::new(commands.clone(), order_id, &expire_command(order_id));
        publisher.send(&message).await?;
    }
    if !overdue.is_empty() {
        tracing::info!(
            orders = overdue.len(),
            deadline_secs = deadline.as_secs_f64(),
            "orders past their deadline sent to expire"
        );
    }
    Ok(overdue.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scan_names_an_orders_expiry_with_one_id() {
        let order = Uuid::new_v4();
        assert_eq!(expire_command(order).id, expire_command(order).id);
        assert_ne!(expire_command(order).id, expire_command(Uuid::new_v4()).id);
        assert_eq!(expire_command(order).actor, None);
    }

    #[test]
    fn scans_run_four_times_per_deadline_within_bounds() {
        assert_eq!(
            scan_interval(Duration::from_secs(120)),
            Duration::from_secs(5)
        );
        assert_eq!(
            scan_interval(Duration::from_secs(4)),
            Duration::from_secs(1)
        );
        assert_eq!(
            scan_interval(Duration::from_millis(100)),
            Duration::from_millis(250)
        );
    }
}
