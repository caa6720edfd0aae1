//! Orders, their history and the product view in PostgreSQL.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared_events::messages::order::{OrderStatus, PricedLine};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::domain::{self, Known};

/// The products among `ids` that the view knows.
pub async fn products(
    tx: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Known>, sqlx::Error> {
    let rows: Vec<(Uuid, String, String, i64, String, bool)> = sqlx::query_as(
        "SELECT product_id, sku, name, price_cents, currency, active FROM products WHERE product_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, sku, name, price_cents, currency, active)| {
            (
                id,
                Known {
                    sku,
                    name,
                    price_cents,
                    currency,
                    active,
                },
            )
        })
        .collect())
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
}

/// Stores a new order; false when its id exists already.
pub async fn insert(tx: &mut PgConnection, order: &NewOrder<'_>) -> Result<bool, sqlx::Error> {
    let status = domain::status_name(order.status);
    let inserted = sqlx::query(
        "INSERT INTO orders (order_id, user_id, status, reason, items, total_cents, currency)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order.order_id)
    .bind(order.user_id)
    .bind(status)
    .bind(order.reason)
    .bind(sqlx::types::Json(order.items))
    .bind(order.total_cents)
    .bind(order.currency)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        append_history(
            tx,
            order.order_id,
            None,
            order.status,
            order.reason.unwrap_or("placed"),
        )
        .await?;
    }
    Ok(inserted)
}

/// Reads and locks an order's owner and status until the transaction ends.
pub async fn lock(
    tx: &mut PgConnection,
    order_id: Uuid,
) -> Result<Option<(Uuid, OrderStatus)>, sqlx::Error> {
    let row: Option<(Uuid, String)> =
        sqlx::query_as("SELECT user_id, status FROM orders WHERE order_id = $1 FOR UPDATE")
            .bind(order_id)
            .fetch_optional(tx)
            .await?;
    Ok(row.and_then(|(user, status)| Some((user, domain::parse_status(&status)?))))
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
    sqlx::query("UPDATE orders SET status = $2, reason = COALESCE($3, reason), updated_at = now() WHERE order_id = $1")
        .bind(order_id)
        .bind(domain::status_name(to))
        .bind(reason)
        .execute(&mut *tx)
        .await?;
    append_history(tx, order_id, Some(from), to, note).await
}

async fn append_history(
    tx: &mut PgConnection,
    order_id: Uuid,
    from: Option<OrderStatus>,
    to: OrderStatus,
    note: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO order_history (order_id, seq, from_status, to_status, reason)
         VALUES ($1, (SELECT count(*) FROM order_history WHERE order_id = $1), $2, $3, $4)",
    )
    .bind(order_id)
    .bind(from.map(domain::status_name))
    .bind(domain::status_name(to))
    .bind(note)
    .execute(tx)
    .await?;
    Ok(())
}

/// One transition of an order's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The status before; none for the first.
    pub from: Option<String>,
    /// The status after.
    pub to: String,
    /// Why.
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// An order as queries answer it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    /// Its id.
    pub order_id: Uuid,
    /// The buyer.
    pub user_id: Uuid,
    /// Where it stands.
    pub status: String,
    /// Why it was cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_reason: Option<String>,
    /// Priced lines.
    pub items: serde_json::Value,
    /// Sum of the lines, in minor units.
    pub total_cents: i64,
    /// ISO 4217 code.
    pub currency: Option<String>,
    /// Every transition, oldest first.
    pub history: Vec<HistoryEntry>,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

type OrderRow = (
    Uuid,
    Uuid,
    String,
    Option<String>,
    serde_json::Value,
    i64,
    Option<String>,
    DateTime<Utc>,
    DateTime<Utc>,
);

const ORDER_COLUMNS: &str =
    "order_id, user_id, status, reason, items, total_cents, currency, created_at, updated_at";

fn view(row: OrderRow, history: Vec<HistoryEntry>) -> OrderView {
    let (order_id, user_id, status, reason, items, total_cents, currency, created_at, updated_at) =
        row;
    let (cancel_reason, reject_reason) = match status.as_str() {
        "CANCELLED" => (reason, None),
        "REJECTED" => (None, reason),
        _ => (None, None),
    };
    OrderView {
        order_id,
        user_id,
        status,
        cancel_reason,
        reject_reason,
        items,
        total_cents,
        currency,
        history,
        created_at,
        updated_at,
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
    let history = sqlx::query_as(
        r#"SELECT from_status AS "from", to_status AS "to", reason, at FROM order_history
           WHERE order_id = $1 ORDER BY seq"#,
    )
    .bind(order_id)
    .fetch_all(db)
    .await?;
    Ok(Some(view(row, history)))
}

/// A page of orders, newest first: of `user` (everyone's when `None`), in `status`
/// when given; with the total over all pages. Lists leave out the history.
pub async fn list(
    db: impl PgExecutor<'_> + Copy,
    user: Option<Uuid>,
    status: Option<OrderStatus>,
    page: u32,
    page_size: u32,
) -> Result<(Vec<OrderView>, i64), sqlx::Error> {
    let condition = "($1::uuid IS NULL OR user_id = $1) AND ($2::text IS NULL OR status = $2)";
    let status = status.map(domain::status_name);
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
        rows.into_iter().map(|row| view(row, Vec::new())).collect(),
        total,
    ))
}
