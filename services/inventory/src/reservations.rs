//! Inventory's part of the order saga, from `order.events`: reserve every line of a
//! placed order or none, sell the units when it is confirmed, give them back when it
//! is cancelled. Each move is one local transaction with its ledger lines and events.
//!
//! Every event of one order arrives on one partition of `order.events` (keyed by
//! order), so placed, confirmed and cancelled come in that order. Products are locked
//! in id order, so two orders sharing products cannot deadlock.

use kafka_runtime::{HandlerError, Incoming, Outbox};
use shared_events::messages::inventory::{
    ReservedItem, Shortage, StockCommitted, StockReleased, StockReservationFailed, StockReserved,
};
use shared_events::messages::order::{OrderCancelled, OrderConfirmed, OrderPlaced};
use shared_events::{Envelope, Topic};
use sqlx::types::Json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::Stock;
use crate::handler::{announce, InventoryHandler};
use crate::store::{self, Movement};

/// Where an order's reservation stands.
struct Reservation {
    order_id: Uuid,
    status: String,
    items: Vec<ReservedItem>,
}

/// Opens the order's reservation, as held, unless it has one already (a repeat of
/// `order_placed`): false then.
async fn open(
    tx: &mut PgConnection,
    order_id: Uuid,
    lines: &[ReservedItem],
) -> Result<bool, sqlx::Error> {
    let opened = sqlx::query(
        "INSERT INTO reservations (order_id, status, items) VALUES ($1, 'reserved', $2)
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(Json(lines))
    .execute(tx)
    .await?;
    Ok(opened.rows_affected() == 1)
}

/// Moves the order's reservation from one of `from` to `to`, and returns it as it was
/// (locked until the transaction ends); `None` when it has none, or none in `from`.
async fn advance(
    tx: &mut PgConnection,
    order_id: Uuid,
    from: &[&str],
    to: &str,
) -> Result<Option<Reservation>, sqlx::Error> {
    let row: Option<(String, Json<Vec<ReservedItem>>)> = sqlx::query_as(
        "UPDATE reservations r SET status = $3, updated_at = now()
         FROM reservations was
         WHERE r.order_id = $1 AND was.order_id = r.order_id AND was.status = ANY($2)
         RETURNING was.status, r.items",
    )
    .bind(order_id)
    .bind(from)
    .bind(to)
    .fetch_optional(tx)
    .await?;
    Ok(row.map(|(status, Json(items))| Reservation {
        order_id,
        status,
        items,
    }))
}

/// The lines of an order, one per product, sorted by product id (the locking order).
fn lines(order: &OrderPlaced) -> Vec<ReservedItem> {
    let mut lines: Vec<ReservedItem> = Vec::new();
    for item in &order.items {
        match lines.iter_mut().find(|l| l.product_id == item.product_id) {
            Some(line) => line.quantity += item.quantity,
            None => lines.push(ReservedItem {
                product_id: item.product_id,
                quantity: item.quantity,
            }),
        }
    }
    lines.sort_by_key(|line| line.product_id);
    lines
}

/// Reserves every line of a placed order, or none: `stock_reserved`, or
/// `stock_reservation_failed` with every shortage.
pub async fn reserve(
    _: &InventoryHandler,
    message: &Incoming,
    order: OrderPlaced,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let order_id = order.order_id;
    let lines = lines(&order);
    if !open(tx, order_id, &lines).await? {
        return Ok(());
    }
    let mut held = Vec::with_capacity(lines.len());
    let mut shortages = Vec::new();
    for line in &lines {
        let stock = store::lock(tx, line.product_id)
            .await?
            .map(|owned| owned.stock);
        match stock.map(|s| s.reserved_for(line.quantity)) {
            Some(Ok(next)) => held.push((next, line.quantity)),
            Some(Err(short)) => shortages.push(shortage(line, short.available)),
            None => shortages.push(shortage(line, 0)),
        }
    }
    if !shortages.is_empty() {
        advance(tx, order_id, &["reserved"], "failed").await?;
        let failed = StockReservationFailed {
            order_id,
            shortages,
        };
        outbox.send(
            Topic::InventoryEvents,
            order_id,
            &Envelope::caused_by(&message.envelope, failed),
        );
        return Ok(());
    }
    for (next, quantity) in held {
        let movement = order_movement(
            message,
            order_id,
            "reservation",
            0,
            i64::from(quantity),
            "reserved for order",
        );
        save(message, tx, outbox, next, &movement).await?;
    }
    let reserved = StockReserved {
        order_id,
        items: lines,
    };
    outbox.send(
        Topic::InventoryEvents,
        order_id,
        &Envelope::caused_by(&message.envelope, reserved),
    );
    Ok(())
}

fn shortage(line: &ReservedItem, available: i64) -> Shortage {
    Shortage {
        product_id: line.product_id,
        requested: line.quantity,
        available,
    }
}

fn order_movement<'a>(
    message: &Incoming,
    order_id: Uuid,
    kind: &'static str,
    on_hand_delta: i64,
    reserved_delta: i64,
    reason: &'a str,
) -> Movement<'a> {
    Movement {
        kind,
        on_hand_delta,
        reserved_delta,
        reason,
        order_id: Some(order_id),
        message_id: message.envelope.id,
    }
}

async fn save(
    message: &Incoming,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
    mut next: Stock,
    movement: &Movement<'_>,
) -> Result<(), HandlerError> {
    let low = next.settle_low();
    store::apply(tx, &next, movement).await?;
    announce(message, outbox, &next, low);
    Ok(())
}

/// Applies `change` to the stock of every line of a reservation, with its ledger line.
async fn move_lines(
    message: &Incoming,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
    reservation: &Reservation,
    kind: &'static str,
    reason: &str,
    change: impl Fn(Stock, u32) -> (Stock, i64, i64),
) -> Result<(), HandlerError> {
    let order_id = reservation.order_id;
    for line in &reservation.items {
        let Some(owned) = store::lock(tx, line.product_id).await? else {
            return Err(HandlerError::transient(anyhow::anyhow!(
                "stock of {} vanished under reservation {order_id}",
                line.product_id
            )));
        };
        let (next, on_hand_delta, reserved_delta) = change(owned.stock, line.quantity);
        let movement = order_movement(
            message,
            order_id,
            kind,
            on_hand_delta,
            reserved_delta,
            reason,
        );
        save(message, tx, outbox, next, &movement).await?;
    }
    Ok(())
}

/// A confirmed order's held units are sold: `stock_committed`.
pub async fn commit(
    _: &InventoryHandler,
    message: &Incoming,
    confirmed: OrderConfirmed,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let order_id = confirmed.order_id;
    let Some(reservation) = advance(tx, order_id, &["reserved"], "committed").await? else {
        return Ok(());
    };
    move_lines(
        message,
        tx,
        outbox,
        &reservation,
        "commit",
        "sold",
        |stock, q| (stock.committed(q), -i64::from(q), -i64::from(q)),
    )
    .await?;
    let committed = StockCommitted { order_id };
    outbox.send(
        Topic::InventoryEvents,
        order_id,
        &Envelope::caused_by(&message.envelope, committed),
    );
    Ok(())
}

/// A cancelled order's units come back: held units are released, sold ones restocked;
/// `stock_released`. An order whose reservation failed holds nothing to give back.
pub async fn release(
    _: &InventoryHandler,
    message: &Incoming,
    cancelled: OrderCancelled,
    tx: &mut PgConnection,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let order_id = cancelled.order_id;
    let from = ["reserved", "committed"];
    let Some(reservation) = advance(tx, order_id, &from, "released").await? else {
        return Ok(());
    };
    let reason = format!("order cancelled: {}", cancelled.reason);
    let sold = reservation.status == "committed";
    move_lines(
        message,
        tx,
        outbox,
        &reservation,
        "release",
        &reason,
        |stock, q| match sold {
            true => (stock.restocked(q), i64::from(q), 0),
            false => (stock.released(q), 0, -i64::from(q)),
        },
    )
    .await?;
    let released = StockReleased {
        order_id,
        reason: cancelled.reason,
    };
    outbox.send(
        Topic::InventoryEvents,
        order_id,
        &Envelope::caused_by(&message.envelope, released),
    );
    Ok(())
}
