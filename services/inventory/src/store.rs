//! Stock rows and the movement ledger in PostgreSQL.

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, PgExecutor, Postgres};
use uuid::Uuid;

use crate::domain::Stock;

/// A stock row with its owner.
pub struct Owned {
    /// The stock.
    pub stock: Stock,
    /// The seller who owns the product.
    pub seller_id: Uuid,
}

type StockRow = (Uuid, Uuid, i64, i64, i32, bool);

const COLUMNS: &str = "product_id, seller_id, on_hand, reserved, reorder_point, low";

fn owned((product_id, seller_id, on_hand, reserved, reorder_point, low): StockRow) -> Owned {
    Owned {
        stock: Stock {
            product_id,
            on_hand,
            reserved,
            reorder_point: reorder_point.max(0) as u32,
            low,
        },
        seller_id,
    }
}

/// Reads a product's stock.
pub async fn find(db: impl PgExecutor<'_>, product_id: Uuid) -> Result<Option<Owned>, sqlx::Error> {
    let row: Option<StockRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM stock WHERE product_id = $1"
    ))
    .bind(product_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(owned))
}

/// Reads and locks a product's stock until the transaction ends, so concurrent changes
/// to one product queue up instead of overwriting each other.
pub async fn lock(tx: &mut PgConnection, product_id: Uuid) -> Result<Option<Owned>, sqlx::Error> {
    let row: Option<StockRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM stock WHERE product_id = $1 FOR UPDATE"
    ))
    .bind(product_id)
    .fetch_optional(tx)
    .await?;
    Ok(row.map(owned))
}

/// Locks, in product id order, the stock of `products` and of every product reserved
/// for `orders`: everything a group commit of those messages will lock, taken up front
/// in one order so that two partitions' batches cannot deadlock.
pub async fn lock_all(
    tx: &mut PgConnection,
    products: &[Uuid],
    orders: &[Uuid],
) -> Result<(), sqlx::Error> {
    if products.is_empty() && orders.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT product_id FROM stock
         WHERE product_id = ANY($1)
            OR product_id IN (SELECT (item->>'productId')::uuid
                              FROM reservations, jsonb_array_elements(items) AS item
                              WHERE order_id = ANY($2))
         ORDER BY product_id FOR UPDATE",
    )
    .bind(products)
    .bind(orders)
    .execute(tx)
    .await?;
    Ok(())
}

/// The products below their reorder point.
pub async fn low(db: impl PgExecutor<'_>) -> Result<Vec<Stock>, sqlx::Error> {
    let rows: Vec<StockRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM stock WHERE low ORDER BY on_hand - reserved, product_id"
    ))
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|row| owned(row).stock).collect())
}

/// Opens a product's stock; false when it already exists.
pub async fn open(
    tx: &mut PgConnection,
    stock: &Stock,
    seller_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO stock (product_id, seller_id, on_hand, reserved, reorder_point, low)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (product_id) DO NOTHING",
    )
    .bind(stock.product_id)
    .bind(seller_id)
    .bind(stock.on_hand)
    .bind(stock.reserved)
    .bind(stock.reorder_point as i32)
    .bind(stock.low)
    .execute(tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Writes a product's new state.
pub async fn save(tx: &mut PgConnection, stock: &Stock) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE stock SET on_hand = $2, reserved = $3, reorder_point = $4, low = $5, updated_at = now()
         WHERE product_id = $1",
    )
    .bind(stock.product_id)
    .bind(stock.on_hand)
    .bind(stock.reserved)
    .bind(stock.reorder_point as i32)
    .bind(stock.low)
    .execute(tx)
    .await?;
    Ok(())
}

/// Writes a product's new state and appends the movement that led to it to the
/// ledger, in one statement.
pub async fn apply(
    tx: &mut PgConnection,
    stock: &Stock,
    movement: &Movement<'_>,
) -> Result<(), sqlx::Error> {
    let query = sqlx::query(
        "WITH saved AS (
             UPDATE stock SET on_hand = $2, reserved = $3, reorder_point = $4, low = $5,
                 updated_at = now()
             WHERE product_id = $1)
         INSERT INTO stock_movements (product_id, kind, on_hand_delta, reserved_delta, reason,
                                      order_id, message_id)
         VALUES ($1, $6, $7, $8, $9, $10, $11)",
    )
    .bind(stock.product_id)
    .bind(stock.on_hand)
    .bind(stock.reserved)
    .bind(stock.reorder_point as i32)
    .bind(stock.low);
    with_movement(query, movement).execute(tx).await?;
    Ok(())
}

/// One line of the ledger.
pub struct Movement<'a> {
    /// `initial`, `adjustment`, `reservation`, `release` or `commit`.
    pub kind: &'static str,
    /// Change of units held.
    pub on_hand_delta: i64,
    /// Change of units reserved.
    pub reserved_delta: i64,
    /// Why.
    pub reason: &'a str,
    /// The order that caused it, if one did.
    pub order_id: Option<Uuid>,
    /// The message that caused it.
    pub message_id: Uuid,
}

/// Appends a movement of `product_id` to the ledger.
pub async fn record(
    tx: &mut PgConnection,
    product_id: Uuid,
    movement: &Movement<'_>,
) -> Result<(), sqlx::Error> {
    let query = sqlx::query(
        "INSERT INTO stock_movements (product_id, kind, on_hand_delta, reserved_delta, reason, order_id, message_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(product_id);
    with_movement(query, movement).execute(tx).await?;
    Ok(())
}

/// `query` with a movement's kind, deltas, reason, order and message bound as its next
/// six parameters.
fn with_movement<'q>(
    query: Query<'q, Postgres, PgArguments>,
    movement: &Movement<'q>,
) -> Query<'q, Postgres, PgArguments> {
    query
        .bind(movement.kind)
        .bind(movement.on_hand_delta)
        .bind(movement.reserved_delta)
        .bind(movement.reason)
        .bind(movement.order_id)
        .bind(movement.message_id)
}
