//! What inventory does with each message it consumes: new products on
//! `catalog.events`, stock commands on `inventory.commands`, and the saga's order
//! events on `order.events` (see `reservations`).

use kafka_runtime::{HandlerError, Handlers, Handles, Incoming, Outbox};
use shared_events::access::{may_act_on, Owner};
use shared_events::messages::catalog::ProductCreated;
use shared_events::messages::inventory::{AdjustStock, LowStock, SetReorderPoint};
use shared_events::messages::order::{OrderCancelled, OrderConfirmed, OrderPlaced};
use shared_events::messages::reply::{CommandOutcome, ReplyCode};
use shared_events::{rules, Envelope, Message, Topic};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::{Insufficient, Stock};
use crate::reservations;
use crate::store::{self, Movement, Owned};

/// Applies inventory's commands and opens stock for new products.
pub struct InventoryHandler;

impl Handles<PgConnection> for InventoryHandler {
    fn handlers() -> Handlers<Self, PgConnection> {
        Handlers::new()
            .on(Topic::CatalogEvents, open_stock)
            .on(Topic::InventoryCommands, adjust)
            .on(Topic::InventoryCommands, set_reorder_point)
            .on(Topic::OrderEvents, reservations::reserve)
            .on(Topic::OrderEvents, reservations::commit)
            .on(Topic::OrderEvents, reservations::release)
    }

    /// Orders share products across partitions: a batch takes the stock locks of all
    /// its messages first, in product id order.
    async fn lock_batch(
        &self,
        messages: &[&Incoming],
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        let (products, orders) = touched(messages);
        store::lock_all(tx, &products, &orders).await?;
        Ok(())
    }
}

/// The products whose stock `messages` change, directly or through an order's
/// reservation. A message that does not parse touches nothing here; its handler
/// rejects it.
fn touched(messages: &[&Incoming]) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut products = Vec::new();
    let mut orders = Vec::new();
    for message in messages {
        match message.envelope.kind.as_str() {
            OrderPlaced::TYPE => {
                if let Ok(order) = message.data::<OrderPlaced>() {
                    products.extend(order.items.iter().map(|item| item.product_id));
                }
            }
            OrderConfirmed::TYPE => {
                orders.extend(message.data::<OrderConfirmed>().map(|o| o.order_id))
            }
            OrderCancelled::TYPE => {
                orders.extend(message.data::<OrderCancelled>().map(|o| o.order_id))
            }
            AdjustStock::TYPE => {
                products.extend(message.data::<AdjustStock>().map(|c| c.product_id))
            }
            SetReorderPoint::TYPE => {
                products.extend(message.data::<SetReorderPoint>().map(|c| c.product_id))
            }
            _ => {}
        }
    }
    (products, orders)
}

/// Sends `stock_changed`, and `low_stock` when the change crossed the reorder point.
/// Ids are labeled with the product, so one message may move several products.
pub(crate) fn announce(
    message: &Incoming,
    outbox: &mut Outbox,
    stock: &Stock,
    low: Option<LowStock>,
) {
    let label = stock.product_id.to_string();
    let changed = Envelope::caused_by_labeled(&message.envelope, &label, stock.changed());
    outbox.send(Topic::InventoryEvents, stock.product_id, &changed);
    if let Some(low) = low {
        let low = Envelope::caused_by_labeled(&message.envelope, &label, low);
        outbox.send(Topic::InventoryEvents, stock.product_id, &low);
    }
}

/// Opens the stock of a new product with its initial units. A product whose stock is
/// already open (a replayed create) changes nothing.
async fn open_stock(
    _: &InventoryHandler,
    message: &Incoming,
    created: ProductCreated,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let mut stock = Stock::opening(created.product_id, created.initial_stock);
    let low = stock.settle_low();
    if !store::open(tx, &stock, created.seller_id).await? {
        tracing::info!(product_id = %created.product_id, "stock already open");
        return Ok(());
    }
    let movement = Movement {
        kind: "initial",
        on_hand_delta: stock.on_hand,
        reserved_delta: 0,
        reason: "opening stock",
        order_id: None,
        message_id: message.envelope.id,
    };
    store::record(tx, stock.product_id, &movement).await?;
    announce(message, outbox, &stock, low);
    Ok(())
}

/// Locks a product's stock for a change by `message`'s actor, or answers why not.
async fn lock_for(
    message: &Incoming,
    product_id: Uuid,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<Option<Stock>, HandlerError> {
    let Some(Owned { stock, seller_id }) = store::lock(tx, product_id).await? else {
        let text = "no stock for this product";
        outbox.refuse(&message.envelope, ReplyCode::NotFound, text);
        return Ok(None);
    };
    if !may_act_on(message.envelope.actor.as_ref(), Owner::Seller(seller_id)) {
        let text = "only the product's seller or an admin manages its stock";
        outbox.refuse(&message.envelope, ReplyCode::Forbidden, text);
        return Ok(None);
    }
    Ok(Some(stock))
}

/// Adds or removes units by hand; refused with `insufficient_stock` when fewer units
/// would be held than are promised to orders.
async fn adjust(
    _: &InventoryHandler,
    message: &Incoming,
    command: AdjustStock,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    rules::check_adjustment(&command)
        .map_err(|problems| HandlerError::Rejected(rules::describe(&problems)))?;
    let reason = command.reason.trim();
    let Some(stock) = lock_for(message, command.product_id, tx, outbox).await? else {
        return Ok(());
    };
    let mut next = match stock.adjusted(command.delta) {
        Ok(next) => next,
        Err(Insufficient { available }) => {
            let text = format!("only {available} units are available");
            outbox.refuse(&message.envelope, ReplyCode::InsufficientStock, text);
            return Ok(());
        }
    };
    let low = next.settle_low();
    let movement = Movement {
        kind: "adjustment",
        on_hand_delta: command.delta,
        reserved_delta: 0,
        reason,
        order_id: None,
        message_id: message.envelope.id,
    };
    store::apply(tx, &next, &movement).await?;
    announce(message, outbox, &next, low);
    outbox.done(&message.envelope, CommandOutcome::Stock(next.level()));
    Ok(())
}

/// Sets the level below which the product is low; crossing it this way counts too.
async fn set_reorder_point(
    _: &InventoryHandler,
    message: &Incoming,
    command: SetReorderPoint,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let reorder_point = i32::try_from(command.reorder_point)
        .map_err(|_| HandlerError::Rejected("reorderPoint is too large".into()))?;
    let Some(stock) = lock_for(message, command.product_id, tx, outbox).await? else {
        return Ok(());
    };
    let mut next = Stock {
        reorder_point: reorder_point as u32,
        ..stock
    };
    if let Some(low) = next.settle_low() {
        let event = Envelope::caused_by(&message.envelope, low);
        outbox.send(Topic::InventoryEvents, next.product_id, &event);
    }
    store::save(tx, &next).await?;
    outbox.done(&message.envelope, CommandOutcome::Stock(next.level()));
    Ok(())
}
