//! Orders, their history and the product view in PostgreSQL.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use shared_events::messages::order::{
    OrderStatus, OrderView, PricedLine, ShippingAddress, StatusChange,
};
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::Known;

/// The products among `ids` that the view knows.
pub async fn products(
    tx: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Known>, sqlx::Error> {
    let rows: Vec<ProductRow> = sqlx::query_as(
        "SELECT product_id, sku, name, price_cents, currency, active FROM products WHERE product_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(tx)
    .await?;
    Ok(rows.into_iter().map(ProductRow::known).collect())
}

/// A product of the order service's view, as stored.
#[derive(sqlx::FromRow)]
struct ProductRow {
    product_id: Uuid,
    sku: String,
    name: String,
    price_cents: i64,
    currency: String,
    active: bool,
}

impl ProductRow {
    fn known(self) -> (Uuid, Known) {
        let known = Known {
            sku: self.sku,
            name: self.name,
            price_cents: self.price_cents,
            currency: self.currency,
            active: self.active,
        };
        (self.product_id, known)
    }
}

/// A new order and the first line of its history.
pub struct NewOrder<'a> {
    /// Its id.
    pub order_id: Uuid,
    /// The buyer.
    pub user_id: Uuid,
    /// PENDING or REJECTED.
    pub status: OrderStatus,
    /// The reject reason.
    pub reason: Option<&'a str>,
    /// Priced lines (empty when rejected before pricing).
    pub items: &'a [PricedLine],
    /// Total in minor units.
    pub total_cents: i64,
    /// Currency, when priced.
    pub currency: Option<&'a str>,
    /// Where it goes; none when the address was refused.
    pub shipping_address: Option<&'a ShippingAddress>,
    /// The cart version it checks out, when it comes from the buyer's cart.
    pub cart_version: Option<u64>,
}

/// Stores a new order with the first line of its history; false when its id exists
/// already.
pub async fn insert(tx: &mut PgConnection, order: &NewOrder<'_>) -> Result<bool, sqlx::Error> {
    let status = order.status.as_str();
    let inserted = sqlx::query(
        "WITH placed AS (
             INSERT INTO orders
                 (order_id, user_id, status, reason, items, total_cents, currency,
                  shipping_address, cart_version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (order_id) DO NOTHING
             RETURNING order_id)
         INSERT INTO order_history (order_id, seq, from_status, to_status, reason)
         SELECT order_id, 0, NULL, $3, $10 FROM placed",
    )
    .bind(order.order_id)
    .bind(order.user_id)
    .bind(status)
    .bind(order.reason)
    .bind(sqlx::types::Json(order.items))
    .bind(order.total_cents)
    .bind(order.currency)
    .bind(order.shipping_address.map(sqlx::types::Json))
    .bind(
        order
            .cart_version
            .map(|version| i64::try_from(version).unwrap_or(i64::MAX)),
    )
    .bind(order.reason.unwrap_or("placed"))
    .execute(tx)
    .await?
    .rows_affected()
        == 1;
    Ok(inserted)
}

/// An order's owner and status, read with its row locked.
#[derive(sqlx::FromRow)]
struct Locked {
    user_id: Uuid,
    #[sqlx(try_from = "String")]
    status: OrderStatus,
}

/// Reads and locks an order's owner and status until the transaction ends.
pub async fn lock(
    tx: &mut PgConnection,
    order_id: Uuid,
) -> Result<Option<(Uuid, OrderStatus)>, sqlx::Error> {
    let row: Option<Locked> =
        sqlx::query_as("SELECT user_id, status FROM orders WHERE order_id = $1 FOR UPDATE")
            .bind(order_id)
            .fetch_optional(tx)
            .await?;
    Ok(row.map(|row| (row.user_id, row.status)))
}

/// The orders still PENDING `deadline` after they were placed, oldest first.
pub async fn overdue(
    db: &sqlx::PgPool,
    deadline: Duration,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT order_id FROM orders
         WHERE status = 'PENDING' AND created_at <= now() - make_interval(secs => $1)
         ORDER BY created_at LIMIT $2",
    )
    .bind(deadline.as_secs_f64())
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Whether the order was placed `deadline` ago or earlier (false when it is unknown).
pub async fn past_deadline(
    tx: &mut PgConnection,
    order_id: Uuid,
    deadline: Duration,
) -> Result<bool, sqlx::Error> {
    let past: Option<bool> = sqlx::query_scalar(
        "SELECT created_at <= now() - make_interval(secs => $2) FROM orders WHERE order_id = $1",
    )
    .bind(order_id)
    .bind(deadline.as_secs_f64())
    .fetch_optional(tx)
    .await?;
    Ok(past.unwrap_or(false))
}

/// Moves an order to `to` and records why.
pub async fn transition(
    tx: &mut PgConnection,
    order_id: Uuid,
    from: OrderStatus,
    to: OrderStatus,
    reason: Option<&str>,
    note: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH moved AS (
             UPDATE orders SET status = $2, reason = COALESCE($3, reason), updated_at = now()
             WHERE order_id = $1 RETURNING order_id)
         INSERT INTO order_history (order_id, seq, from_status, to_status, reason)
         SELECT order_id, (SELECT count(*) FROM order_history WHERE order_id = $1), $4, $2, $5
         FROM moved",
    )
    .bind(order_id)
    .bind(to.as_str())
    .bind(reason)
    .bind(from.as_str())
    .bind(note)
    .execute(tx)
    .await?;
    Ok(())
}

/// A step of the saga that is not a status of the order's own.
#[derive(Debug, Clone, Copy)]
pub enum SagaStep {
    /// Inventory reserved every line.
    StockReserved,
    /// Payment charged the card.
    Paid,
}

/// Records when `step` happened, the first time it is reported (a replay keeps the
/// first time), and locks the order as [`lock`] does, in one statement: its owner and
/// status, or `None` for an order this service does not have.
pub async fn record_step(
    tx: &mut PgConnection,
    order_id: Uuid,
    step: SagaStep,
    at: DateTime<Utc>,
) -> Result<Option<(Uuid, OrderStatus)>, sqlx::Error> {
    let sql = match step {
        SagaStep::StockReserved => {
            "UPDATE orders SET stock_reserved_at = COALESCE(stock_reserved_at, $2)
             WHERE order_id = $1 RETURNING user_id, status"
        }
        SagaStep::Paid => {
            "UPDATE orders SET paid_at = COALESCE(paid_at, $2)
             WHERE order_id = $1 RETURNING user_id, status"
        }
    };
    let row: Option<Locked> = sqlx::query_as(sql)
        .bind(order_id)
        .bind(at)
        .fetch_optional(tx)
        .await?;
    Ok(row.map(|row| (row.user_id, row.status)))
}

/// An order's row as stored.
#[derive(sqlx::FromRow)]
struct OrderRow {
    order_id: Uuid,
    user_id: Uuid,
    #[sqlx(try_from = "String")]
    status: OrderStatus,
    reason: Option<String>,
    items: Json<Vec<PricedLine>>,
    total_cents: i64,
    currency: Option<String>,
    shipping_address: Option<Json<ShippingAddress>>,
    stock_reserved_at: Option<DateTime<Utc>>,
    paid_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A step of an order's history as stored.
#[derive(sqlx::FromRow)]
struct HistoryRow {
    from_status: Option<String>,
    #[sqlx(try_from = "String")]
    to_status: OrderStatus,
    reason: Option<String>,
    at: DateTime<Utc>,
}

const ORDER_COLUMNS: &str = "order_id, user_id, status, reason, items, total_cents, currency, \
    shipping_address, stock_reserved_at, paid_at, created_at, updated_at";

impl OrderRow {
    fn view(self, history: Vec<StatusChange>) -> OrderView {
        let (cancel_reason, reject_reason) = match self.status {
            OrderStatus::Cancelled => (self.reason, None),
            OrderStatus::Rejected => (None, self.reason),
            _ => (None, None),
        };
        OrderView {
            order_id: self.order_id,
            user_id: self.user_id,
            status: self.status,
            cancel_reason,
            reject_reason,
            items: self.items.0,
            total_cents: self.total_cents,
            currency: self.currency,
            shipping_address: self.shipping_address.map(|address| address.0),
            history,
            stock_reserved_at: self.stock_reserved_at,
            paid_at: self.paid_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

impl TryFrom<HistoryRow> for StatusChange {
    type Error = sqlx::Error;

    fn try_from(row: HistoryRow) -> Result<Self, sqlx::Error> {
        // The first step has no status before it, and try_from cannot read a NULL.
        let from = row.from_status.map(OrderStatus::try_from).transpose();
        Ok(Self {
            from: from.map_err(|err| sqlx::Error::Decode(err.into()))?,
            to: row.to_status,
            reason: row.reason,
            at: row.at,
        })
    }
}

/// One order with its history.
pub async fn find(db: &sqlx::PgPool, order_id: Uuid) -> Result<Option<OrderView>, sqlx::Error> {
    let row: Option<OrderRow> = sqlx::query_as(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $1"
    ))
    .bind(order_id)
    .fetch_optional(db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let history: Vec<HistoryRow> = sqlx::query_as(
        "SELECT from_status, to_status, reason, at FROM order_history
         WHERE order_id = $1 ORDER BY seq",
    )
    .bind(order_id)
    .fetch_all(db)
    .await?;
    Ok(Some(
        row.view(
            history
                .into_iter()
                .map(TryInto::try_into)
                .collect::<Result<_, _>>()?,
        ),
    ))
}

/// A page of orders, newest first: of `user` (everyone's when `None`), in `status`
/// when given; with the total over all pages. Lists leave out the history.
pub async fn list(
    db: impl PgExecutor<'_> + Copy,
    user: Option<Uuid>,
    status: Option<OrderStatus>,
    page: u32,
    page_size: u32,
) -> Result<(Vec<OrderView>, u64), sqlx::Error> {
    let condition = "($1::uuid IS NULL OR user_id = $1) AND ($2::text IS NULL OR status = $2)";
    let status = status.as_ref().map(OrderStatus::as_str);
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM orders WHERE {condition}"))
        .bind(user)
        .bind(status)
        .fetch_one(db)
        .await?;
    let rows: Vec<OrderRow> = sqlx::query_as(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE {condition}
         ORDER BY created_at DESC, order_id LIMIT $3 OFFSET $4"
    ))
    .bind(user)
    .bind(status)
    .bind(i64::from(page_size))
    .bind(i64::from(page - 1) * i64::from(page_size))
    .fetch_all(db)
    .await?;
    Ok((
        rows.into_iter().map(|row| row.view(Vec::new())).collect(),
        u64::try_from(total).unwrap_or_default(),
    ))
}
