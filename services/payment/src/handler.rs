//! What payment does with the saga's events: it learns the amount from
//! `order_placed`, decides to charge once `stock_reserved` arrives, and refunds or
//! voids on `order_cancelled`. Each event records its fact on the order's row and then
//! lets [`domain::decide`] say what to do, under the row's lock. Deciding to charge
//! only hands the order to the charger (`charger.rs`): no provider is ever called
//! inside a transaction.

use kafka_runtime::postgres::PgHandler;
use kafka_runtime::{HandlerError, Incoming, Outbox};
use shared_events::messages::inventory::StockReserved;
use shared_events::messages::order::{OrderCancelled, OrderPlaced};
use shared_events::messages::payment::PaymentRefunded;
use shared_events::{derive_id, Envelope, Message, Topic};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{self, Action, Facts, Status};
use crate::store::{self, Fact};

/// Applies the saga's events to payments.
pub struct PaymentHandler;

impl PgHandler for PaymentHandler {
    async fn handle(
        &self,
        message: &Incoming,
        tx: &mut PgConnection,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let correlation_id = message.envelope.correlation_id;
        let order_id = match message.envelope.kind.as_str() {
            OrderPlaced::TYPE => {
                let placed = message.data::<OrderPlaced>()?;
                store::ensure_row(tx, placed.order_id, correlation_id).await?;
                store::record_placed(tx, &placed).await?;
                placed.order_id
            }
            StockReserved::TYPE => {
                let order_id = message.data::<StockReserved>()?.order_id;
                store::ensure_row(tx, order_id, correlation_id).await?;
                store::record_fact(tx, order_id, Fact::StockReserved).await?;
                order_id
            }
            OrderCancelled::TYPE => {
                let order_id = message.data::<OrderCancelled>()?.order_id;
                store::ensure_row(tx, order_id, correlation_id).await?;
                store::record_fact(tx, order_id, Fact::Cancelled).await?;
                order_id
            }
            // Every other event on the topics payment reads is not its business.
            _ => return Ok(()),
        };
        settle(tx, outbox, order_id).await
    }
}

/// Does what the order's facts call for, under its row's lock: hand it to the charger,
/// void it, or refund its charge.
pub async fn settle(
    tx: &mut PgConnection,
    outbox: &mut Outbox,
    order_id: Uuid,
) -> Result<(), HandlerError> {
    let row = store::lock(tx, order_id).await?;
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
        Action::Void => store::set_status(tx, order_id, Status::Voided, None).await?,
        Action::Refund => {
            let payment_id = row.payment_id.unwrap_or_default();
            let amount_cents = row.amount_cents.unwrap_or_default();
            store::record_refund(tx, order_id, payment_id, amount_cents).await?;
            store::set_status(tx, order_id, Status::Refunded, None).await?;
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
