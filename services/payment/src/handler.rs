//! What payment does with the saga's events: it learns the amount from
//! `order_placed`, decides to charge once `stock_reserved` arrives, and refunds or
//! voids on `order_cancelled`. Each event records its fact on the order's row and then
//! lets [`domain::decide`] say what to do, under the row's lock: one statement writes
//! the fact and reads the row back. Deciding to charge only hands the order to the
//! charger (`charger.rs`): no provider is ever called inside a transaction.

use kafka_runtime::{HandlerError, Handlers, Handles, Incoming, Outbox};
use shared_events::messages::inventory::StockReserved;
use shared_events::messages::order::{OrderCancelled, OrderPlaced};
use shared_events::messages::payment::PaymentRefunded;
use shared_events::{derive_id, Envelope, Message, Topic};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{self, Action, Facts};
use crate::store::{self, Fact, Row};

/// Applies the saga's events to payments.
pub struct PaymentHandler;

impl Handles<PgConnection> for PaymentHandler {
    fn handlers() -> Handlers<Self, PgConnection> {
        Handlers::new()
            .on(Topic::OrderEvents, order_placed)
            .on(Topic::InventoryEvents, stock_reserved)
            .on(Topic::OrderEvents, order_cancelled)
    }
}

/// Learns the amount to charge once stock is reserved.
async fn order_placed(
    _: &PaymentHandler,
    message: &Incoming,
    placed: OrderPlaced,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let row = store::record_placed(tx, message.envelope.correlation_id, &placed).await?;
    settle(tx, outbox, placed.order_id, row).await
}

async fn stock_reserved(
    _: &PaymentHandler,
    message: &Incoming,
    reserved: StockReserved,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    record(message, reserved.order_id, Fact::StockReserved, tx, outbox).await
}

async fn order_cancelled(
    _: &PaymentHandler,
    message: &Incoming,
    cancelled: OrderCancelled,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    record(message, cancelled.order_id, Fact::Cancelled, tx, outbox).await
}

/// Records `fact` on the order's row, then settles it.
async fn record(
    message: &Incoming,
    order_id: Uuid,
    fact: Fact,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let row = store::record_fact(tx, order_id, message.envelope.correlation_id, fact).await?;
    settle(tx, outbox, order_id, row).await
}

/// Does what the order's facts call for, given its `row` as just written (and so
/// locked): hand it to the charger, void it, or refund its charge.
pub async fn settle(
    tx: &mut PgConnection,
    outbox: &mut Outbox,
    order_id: Uuid,
    row: Row,
) -> Result<(), HandlerError> {
    let status = row.status;
    let facts = Facts {
        placed: row.amount_cents.is_some(),
        stock_reserved: row.stock_reserved,
        cancelled: row.cancelled,
        status,
    };
    match domain::decide(facts) {
        Action::Wait => {}
        Action::Charge => store::start_charging(tx, order_id).await?,
        Action::Void => store::void(tx, order_id).await?,
        Action::Refund => {
            let payment_id = row.payment_id.unwrap_or_default();
            let amount_cents = row.amount_cents.unwrap_or_default();
            store::record_refund(tx, order_id, payment_id, amount_cents).await?;
            let refunded = PaymentRefunded {
                order_id,
                payment_id,
                amount_cents,
            };
            outbox.send(
                Topic::PaymentEvents,
                order_id,
                &event(order_id, row.correlation_id, refunded),
            );
        }
    }
    Ok(())
}

/// One of payment's events about an order. Each happens at most once per order, so its
/// id is derived from the order and its type: a re-run, by the handler or the charger,
/// sends the same id.
pub fn event<T: Message>(order_id: Uuid, correlation_id: Option<Uuid>, data: T) -> Envelope<T> {
    let mut envelope = Envelope::new(data, correlation_id.unwrap_or(order_id), None);
    envelope.id = derive_id(order_id, T::TYPE);
    envelope
}
