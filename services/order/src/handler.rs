//! What the order service does with each message: its commands, the catalog's product
//! news (the product view), and the saga's events from inventory and payment.

use std::time::Duration;

use kafka_runtime::postgres::PgHandler;
use kafka_runtime::{HandlerError, Incoming, Outbox};
use shared_events::access::{is_admin, may_act_on, Owner};
use shared_events::messages::catalog::{ProductCreated, ProductDeactivated, ProductUpdated};
use shared_events::messages::inventory::{StockReservationFailed, StockReserved};
use shared_events::messages::order::{
    AdvanceStatus, CancelOrder, ExpireOrder, OrderCancelled, OrderConfirmed, OrderPlaced,
    OrderRejected, OrderStatus, OrderStatusChanged, PlaceOrder,
};
use shared_events::messages::payment::{PaymentFailed, PaymentSucceeded};
use shared_events::messages::reply::{CommandOutcome, Reply};
use shared_events::{Envelope, Message, Topic, Topics};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{self, Happening, NotNow};
use crate::store::{self, NewOrder, SagaStep};

/// Applies the order service's messages.
pub struct OrderHandler {
    commands: String,
    deadline: Duration,
}

impl OrderHandler {
    /// A handler for the topics of `topics`, cancelling orders still PENDING
    /// `deadline` after they were placed.
    pub fn new(topics: &Topics, deadline: Duration) -> Self {
        Self {
            commands: topics.name(Topic::OrderCommands),
            deadline,
        }
    }
}

impl PgHandler for OrderHandler {
    async fn handle(
        &self,
        message: &Incoming,
        tx: &mut PgConnection,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        match message.envelope.kind.as_str() {
            PlaceOrder::TYPE => place(message, tx, outbox).await,
            CancelOrder::TYPE => {
                let command = message.data::<CancelOrder>()?;
                let happening = Happening::Cancel(command.reason);
                command_change(message, command.order_id, happening, tx, outbox).await
            }
            ExpireOrder::TYPE => {
                let order_id = message.data::<ExpireOrder>()?.order_id;
                self.expire(message, order_id, tx, outbox).await
            }
            AdvanceStatus::TYPE => {
                let command = message.data::<AdvanceStatus>()?;
                if !is_admin(message.envelope.actor.as_ref()) {
                    reply_failure(
                        message,
                        outbox,
                        "forbidden",
                        "only an admin advances orders",
                    );
                    return Ok(());
                }
                let happening = Happening::Advance(command.status);
                command_change(message, command.order_id, happening, tx, outbox).await
            }
            StockReserved::TYPE => {
                let event = message.data::<StockReserved>()?;
                let at = message.envelope.occurred_at;
                store::record_step(tx, event.order_id, SagaStep::StockReserved, at).await?;
                Ok(())
            }
            StockReservationFailed::TYPE => {
                let event = message.data::<StockReservationFailed>()?;
                saga_change(
                    message,
                    event.order_id,
                    Happening::ReservationFailed,
                    tx,
                    outbox,
                )
                .await
            }
            PaymentSucceeded::TYPE => {
                let event = message.data::<PaymentSucceeded>()?;
                let at = message.envelope.occurred_at;
                store::record_step(tx, event.order_id, SagaStep::Paid, at).await?;
                saga_change(
                    message,
                    event.order_id,
                    Happening::PaymentSucceeded,
                    tx,
                    outbox,
                )
                .await
            }
            PaymentFailed::TYPE => {
                let event = message.data::<PaymentFailed>()?;
                let happening = Happening::PaymentFailed(event.reason);
                saga_change(message, event.order_id, happening, tx, outbox).await
            }
            ProductCreated::TYPE => product_created(message, tx).await,
            ProductUpdated::TYPE => product_updated(message, tx).await,
            ProductDeactivated::TYPE => {
                let event = message.data::<ProductDeactivated>()?;
                sqlx::query("UPDATE products SET active = false WHERE product_id = $1")
                    .bind(event.product_id)
                    .execute(tx)
                    .await?;
                Ok(())
            }
            // Other events on the topics the saga reads are not the order's business.
            _ if message.topic != self.commands => Ok(()),
            _ => Err(message.unknown_type()),
        }
    }
}

impl OrderHandler {
    /// Cancels an order still PENDING at its deadline. The scheduler only sends the
    /// command once the deadline passed; one that comes early (a replay, a hand-made
    /// command) is dead-lettered, so the same id can still expire the order later.
    async fn expire(
        &self,
        message: &Incoming,
        order_id: Uuid,
        tx: &mut PgConnection,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let Some((_, status)) = store::lock(tx, order_id).await? else {
            return Err(HandlerError::Rejected(format!("no order {order_id}")));
        };
        let Some(transition) = domain::next(status, &Happening::DeadlinePassed)
            .ok()
            .flatten()
        else {
            return Ok(());
        };
        if !store::past_deadline(tx, order_id, self.deadline).await? {
            return Err(HandlerError::Rejected(format!(
                "order {order_id} is not past its deadline of {} s yet",
                self.deadline.as_secs_f64()
            )));
        }
        tracing::info!(%order_id, "order past its deadline cancelled");
        apply(message, order_id, status, transition, tx, outbox).await
    }
}

fn reply_failure(message: &Incoming, outbox: &mut Outbox, code: &str, text: &str) {
    let reply = Reply::failure(message.envelope.correlation_id, code, text);
    outbox.reply(&message.envelope, reply);
}

fn reply_ok(message: &Incoming, outbox: &mut Outbox, order_id: Uuid, status: OrderStatus) {
    let outcome = CommandOutcome::Order { order_id, status };
    outbox.reply(
        &message.envelope,
        Reply::done(message.envelope.correlation_id, &outcome),
    );
}

/// Prices the order against the product view and stores it PENDING with
/// `order_placed`, or REJECTED with `order_rejected`. An order id that exists changes
/// nothing: the same buyer's retry succeeds again, anyone else's is refused.
async fn place(
    message: &Incoming,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let command = message.data::<PlaceOrder>()?;
    let actor = message.envelope.actor.as_ref();
    if !may_act_on(actor, Owner::Buyer(command.user_id)) {
        reply_failure(
            message,
            outbox,
            "forbidden",
            "orders are placed by their buyer",
        );
        return Ok(());
    }
    if let Some((owner, status)) = store::lock(tx, command.order_id).await? {
        if owner == command.user_id {
            reply_ok(message, outbox, command.order_id, status);
        } else {
            reply_failure(
                message,
                outbox,
                "order_id_taken",
                "another order has this id",
            );
        }
        return Ok(());
    }
    let ids: Vec<Uuid> = command.items.iter().map(|line| line.product_id).collect();
    let products = store::products(tx, &ids).await?;
    let order_id = command.order_id;
    let accepted = domain::address(command.shipping_address)
        .and_then(|address| Ok((address, domain::price(&command.items, &products)?)));
    match accepted {
        Ok((address, priced)) => {
            let order = NewOrder {
                order_id,
                user_id: command.user_id,
                status: OrderStatus::Pending,
                reason: None,
                items: &priced.items,
                total_cents: priced.total_cents,
                currency: Some(&priced.currency),
                shipping_address: Some(&address),
                cart_version: command.cart_version,
            };
            store::insert(tx, &order).await?;
            let placed = OrderPlaced {
                order_id,
                user_id: command.user_id,
                items: priced.items,
                total_cents: priced.total_cents,
                currency: priced.currency,
                payment_token: command.payment_token,
                cart_version: command.cart_version,
            };
            outbox.send(
                Topic::OrderEvents,
                order_id,
                &Envelope::caused_by(&message.envelope, placed),
            );
            reply_ok(message, outbox, order_id, OrderStatus::Pending);
        }
        Err(reason) => {
            let order = NewOrder {
                order_id,
                user_id: command.user_id,
                status: OrderStatus::Rejected,
                reason: Some(reason),
                items: &[],
                total_cents: 0,
                currency: None,
                shipping_address: None,
                cart_version: command.cart_version,
            };
            store::insert(tx, &order).await?;
            let rejected = OrderRejected {
                order_id,
                reason: reason.to_string(),
            };
            outbox.send(
                Topic::OrderEvents,
                order_id,
                &Envelope::caused_by(&message.envelope, rejected),
            );
            reply_failure(message, outbox, reason, "the order was rejected");
        }
    }
    Ok(())
}

/// A command's change: only the owner (cancel) or an admin may make it, and only in a
/// status that allows it.
async fn command_change(
    message: &Incoming,
    order_id: Uuid,
    happening: Happening,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let actor = message.envelope.actor.as_ref();
    let found = store::lock(tx, order_id).await?;
    let Some((_, status)) = found.filter(|(buyer, _)| may_act_on(actor, Owner::Buyer(*buyer)))
    else {
        reply_failure(message, outbox, "not_found", "no such order");
        return Ok(());
    };
    match domain::next(status, &happening) {
        Ok(Some(transition)) => {
            apply(message, order_id, status, transition, tx, outbox).await?;
            reply_ok(message, outbox, order_id, status_after(status, &happening));
        }
        Ok(None) => reply_ok(message, outbox, order_id, status),
        Err(NotNow { status }) => {
            let text = format!("not possible while the order is {status}");
            reply_failure(message, outbox, "invalid_status", &text);
        }
    }
    Ok(())
}

fn status_after(status: OrderStatus, happening: &Happening) -> OrderStatus {
    domain::next(status, happening)
        .ok()
        .flatten()
        .map_or(status, |t| t.to)
}

/// A saga event's change; events that come too late change nothing.
async fn saga_change(
    message: &Incoming,
    order_id: Uuid,
    happening: Happening,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let Some((_, status)) = store::lock(tx, order_id).await? else {
        tracing::warn!(%order_id, kind = %message.envelope.kind, "saga event for an order this service does not have");
        return Ok(());
    };
    match domain::next(status, &happening) {
        Ok(Some(transition)) => apply(message, order_id, status, transition, tx, outbox).await,
        _ => {
            tracing::info!(%order_id, %status, kind = %message.envelope.kind, "saga event changes nothing now");
            Ok(())
        }
    }
}

/// Stores a transition and announces it: `order_status_changed` always, plus
/// `order_confirmed` or `order_cancelled`, which the compensations react to.
async fn apply(
    message: &Incoming,
    order_id: Uuid,
    from: OrderStatus,
    transition: domain::Transition,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let to = transition.to;
    store::transition(
        tx,
        order_id,
        from,
        to,
        transition.reason.as_deref(),
        &transition.note,
    )
    .await?;
    let cause = &message.envelope;
    let changed = OrderStatusChanged { order_id, from, to };
    outbox.send(
        Topic::OrderEvents,
        order_id,
        &Envelope::caused_by(cause, changed),
    );
    match to {
        OrderStatus::Confirmed => {
            let confirmed = OrderConfirmed { order_id };
            outbox.send(
                Topic::OrderEvents,
                order_id,
                &Envelope::caused_by(cause, confirmed),
            );
        }
        OrderStatus::Cancelled => {
            let reason = transition.reason.unwrap_or_default();
            let cancelled = OrderCancelled { order_id, reason };
            outbox.send(
                Topic::OrderEvents,
                order_id,
                &Envelope::caused_by(cause, cancelled),
            );
        }
        _ => {}
    }
    Ok(())
}

async fn product_created(message: &Incoming, tx: &mut PgConnection) -> Result<(), HandlerError> {
    let product = message.data::<ProductCreated>()?;
    sqlx::query(
        "INSERT INTO products (product_id, sku, name, price_cents, currency, active)
         VALUES ($1, $2, $3, $4, $5, true) ON CONFLICT (product_id) DO NOTHING",
    )
    .bind(product.product_id)
    .bind(&product.sku)
    .bind(&product.name)
    .bind(product.price_cents)
    .bind(&product.currency)
    .execute(tx)
    .await?;
    Ok(())
}

async fn product_updated(message: &Incoming, tx: &mut PgConnection) -> Result<(), HandlerError> {
    let changed = message.data::<ProductUpdated>()?;
    sqlx::query(
        "UPDATE products SET name = COALESCE($2, name), price_cents = COALESCE($3, price_cents),
         currency = COALESCE($4, currency) WHERE product_id = $1",
    )
    .bind(changed.product_id)
    .bind(&changed.name)
    .bind(changed.price_cents)
    .bind(&changed.currency)
    .execute(tx)
    .await?;
    Ok(())
}
