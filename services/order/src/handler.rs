//! What the order service does with each message: its commands, the catalog's product
//! news (the product view), and the saga's events from inventory and payment.

use std::time::Duration;

use kafka_runtime::{HandlerError, Handlers, Handles, Incoming, Outbox};
use shared_events::access::{is_admin, may_act_on, Owner};
use shared_events::messages::catalog::{ProductCreated, ProductDeactivated, ProductUpdated};
use shared_events::messages::inventory::{StockReservationFailed, StockReserved};
use shared_events::messages::order::{
    AdvanceStatus, CancelOrder, ExpireOrder, OrderCancelled, OrderConfirmed, OrderPlaced,
    OrderRejected, OrderStatus, OrderStatusChanged, PlaceOrder,
};
use shared_events::messages::payment::{PaymentFailed, PaymentSucceeded};
use shared_events::messages::reply::{CommandOutcome, ReplyCode};
use shared_events::{Envelope, Topic};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{self, Happening, NotNow};
use crate::store::{self, NewOrder, SagaStep};

/// Applies the order service's messages.
pub struct OrderHandler {
    deadline: Duration,
}

impl OrderHandler {
    /// A handler cancelling orders still PENDING `deadline` after they were placed.
    pub fn new(deadline: Duration) -> Self {
        Self { deadline }
    }
}

impl Handles<PgConnection> for OrderHandler {
    fn handlers() -> Handlers<Self, PgConnection> {
        Handlers::new()
            .on(Topic::OrderCommands, place)
            .on(Topic::OrderCommands, cancel)
            .on(Topic::OrderCommands, expire)
            .on(Topic::OrderCommands, advance)
            .on(Topic::InventoryEvents, stock_reserved)
            .on(Topic::InventoryEvents, stock_reservation_failed)
            .on(Topic::PaymentEvents, payment_succeeded)
            .on(Topic::PaymentEvents, payment_failed)
            .on(Topic::CatalogEvents, product_created)
            .on(Topic::CatalogEvents, product_updated)
            .on(Topic::CatalogEvents, product_deactivated)
    }
}

async fn cancel(
    _: &OrderHandler,
    message: &Incoming,
    command: CancelOrder,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let happening = Happening::Cancel(command.reason);
    command_change(message, command.order_id, happening, tx, outbox).await
}

async fn advance(
    _: &OrderHandler,
    message: &Incoming,
    command: AdvanceStatus,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    if !is_admin(message.envelope.actor.as_ref()) {
        let text = "only an admin advances orders";
        outbox.refuse(&message.envelope, ReplyCode::Forbidden, text);
        return Ok(());
    }
    let happening = Happening::Advance(command.status);
    command_change(message, command.order_id, happening, tx, outbox).await
}

async fn stock_reserved(
    _: &OrderHandler,
    message: &Incoming,
    event: StockReserved,
    tx: &mut PgConnection,
    _: &mut Outbox,
) -> Result<(), HandlerError> {
    let at = message.envelope.occurred_at;
    store::record_step(tx, event.order_id, SagaStep::StockReserved, at).await?;
    Ok(())
}

async fn stock_reservation_failed(
    _: &OrderHandler,
    message: &Incoming,
    event: StockReservationFailed,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let happening = Happening::ReservationFailed;
    saga_change(message, event.order_id, happening, tx, outbox).await
}

async fn payment_succeeded(
    _: &OrderHandler,
    message: &Incoming,
    event: PaymentSucceeded,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let at = message.envelope.occurred_at;
    let locked = store::record_step(tx, event.order_id, SagaStep::Paid, at).await?;
    let happening = Happening::PaymentSucceeded;
    saga_change_of(message, event.order_id, locked, happening, tx, outbox).await
}

async fn payment_failed(
    _: &OrderHandler,
    message: &Incoming,
    event: PaymentFailed,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let happening = Happening::PaymentFailed(event.reason);
    saga_change(message, event.order_id, happening, tx, outbox).await
}

/// Cancels an order still PENDING at its deadline. The scheduler only sends the
/// command once the deadline passed; one that comes early (a replay, a hand-made
/// command) is dead-lettered, so the same id can still expire the order later.
async fn expire(
    handler: &OrderHandler,
    message: &Incoming,
    command: ExpireOrder,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let order_id = command.order_id;
    let Some((_, status)) = store::lock(tx, order_id).await? else {
        return Err(HandlerError::Rejected(format!("no order {order_id}")));
    };
    let Some(transition) = domain::next(status, &Happening::DeadlinePassed)
        .ok()
        .flatten()
    else {
        return Ok(());
    };
    if !store::past_deadline(tx, order_id, handler.deadline).await? {
        return Err(HandlerError::Rejected(format!(
            "order {order_id} is not past its deadline of {} s yet",
            handler.deadline.as_secs_f64()
        )));
    }
    tracing::info!(%order_id, "order past its deadline cancelled");
    apply(message, order_id, status, transition, tx, outbox).await
}

fn reply_ok(message: &Incoming, outbox: &mut Outbox, order_id: Uuid, status: OrderStatus) {
    let outcome = CommandOutcome::Order { order_id, status };
    outbox.done(&message.envelope, outcome);
}

/// Prices the order against the product view and stores it PENDING with
/// `order_placed`, or REJECTED with `order_rejected`. An order id that exists changes
/// nothing: the same buyer's retry succeeds again, anyone else's is refused.
async fn place(
    _: &OrderHandler,
    message: &Incoming,
    command: PlaceOrder,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let actor = message.envelope.actor.as_ref();
    if !may_act_on(actor, Owner::Buyer(command.user_id)) {
        let text = "orders are placed by their buyer";
        outbox.refuse(&message.envelope, ReplyCode::Forbidden, text);
        return Ok(());
    }
    if let Some((owner, status)) = store::lock(tx, command.order_id).await? {
        if owner == command.user_id {
            reply_ok(message, outbox, command.order_id, status);
        } else {
            let text = "another order has this id";
            outbox.refuse(&message.envelope, ReplyCode::OrderIdTaken, text);
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
            let stored_reason = reason.to_string();
            let order = NewOrder {
                order_id,
                user_id: command.user_id,
                status: OrderStatus::Rejected,
                reason: Some(&stored_reason),
                items: &[],
                total_cents: 0,
                currency: None,
                shipping_address: None,
                cart_version: command.cart_version,
            };
            store::insert(tx, &order).await?;
            let rejected = OrderRejected {
                order_id,
                reason: stored_reason,
            };
            outbox.send(
                Topic::OrderEvents,
                order_id,
                &Envelope::caused_by(&message.envelope, rejected),
            );
            outbox.refuse(&message.envelope, reason, "the order was rejected");
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
        outbox.refuse(&message.envelope, ReplyCode::NotFound, "no such order");
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
            outbox.refuse(&message.envelope, ReplyCode::InvalidStatus, text);
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
    let locked = store::lock(tx, order_id).await?;
    saga_change_of(message, order_id, locked, happening, tx, outbox).await
}

/// A saga event's change to an order locked already (`None`: one this service does not
/// have).
async fn saga_change_of(
    message: &Incoming,
    order_id: Uuid,
    locked: Option<(Uuid, OrderStatus)>,
    happening: Happening,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let Some((_, status)) = locked else {
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

async fn product_created(
    _: &OrderHandler,
    _: &Incoming,
    product: ProductCreated,
    tx: &mut PgConnection,
    _: &mut Outbox,
) -> Result<(), HandlerError> {
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

async fn product_updated(
    _: &OrderHandler,
    _: &Incoming,
    changed: ProductUpdated,
    tx: &mut PgConnection,
    _: &mut Outbox,
) -> Result<(), HandlerError> {
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

async fn product_deactivated(
    _: &OrderHandler,
    _: &Incoming,
    event: ProductDeactivated,
    tx: &mut PgConnection,
    _: &mut Outbox,
) -> Result<(), HandlerError> {
    sqlx::query("UPDATE products SET active = false WHERE product_id = $1")
        .bind(event.product_id)
        .execute(tx)
        .await?;
    Ok(())
}
