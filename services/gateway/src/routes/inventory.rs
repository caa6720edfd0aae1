//! The inventory routes: a seller's adjustments are commands on `inventory.commands`;
//! stock levels are queries on `inventory.queries`, for the owning seller or an admin.

use axum::extract::State;
use axum::Json;
use schemars::JsonSchema;
use serde::Deserialize;
use shared_events::messages::inventory::{
    AdjustStock, GetStock, ListLowStock, LowStockList, StockLevel,
};
use shared_events::rules::{self, Problems};
use shared_events::{Envelope, Topic};
use uuid::Uuid;

use crate::dispatch::{Accepted, Command, Correlation, ProductAccepted, Resource};
use crate::error::ApiError;
use crate::extract::{Body, Id};
use crate::tokens::{User, ADMINS, SELLERS};
use crate::AppState;

/// The body of `POST /api/inventory/{productId}/adjustments`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Adjustment {
    /// Units to add (positive) or remove (negative); not zero.
    #[schemars(range(min = -rules::MAX_ADJUSTMENT, max = rules::MAX_ADJUSTMENT))]
    delta: i64,
    /// Why, e.g. `delivery` or `breakage`.
    #[schemars(length(min = 1, max = rules::MAX_ADJUSTMENT_REASON))]
    reason: String,
}

impl Adjustment {
    /// The command, or every problem with the body.
    pub fn command(self, product_id: Uuid) -> Result<AdjustStock, Problems> {
        let command = AdjustStock {
            product_id,
            delta: self.delta,
            reason: self.reason.trim().to_string(),
        };
        rules::check_adjustment(&command)?;
        Ok(command)
    }
}

/// `POST /api/inventory/{productId}/adjustments`: the owning seller or an admin adds
/// or removes units. The stock is read first, so an unknown product is 404 and
/// someone else's 403; inventory checks again when it applies the command.
pub async fn adjust(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    Id(product_id): Id,
    user: User,
    Body(body): Body<Adjustment>,
) -> Result<Accepted<ProductAccepted>, ApiError> {
    user.require(SELLERS)?;
    let command = body.command(product_id).map_err(ApiError::problems)?;
    let query = Envelope::new(GetStock { product_id }, correlation_id, Some(user.actor()));
    state
        .ask(Topic::InventoryQueries, product_id, query)
        .await?;
    let envelope = Envelope::new(command, correlation_id, Some(user.actor()));
    let command = Command::new(Topic::InventoryCommands, product_id, envelope)
        .changes(Resource::Stock(product_id));
    state.accept(command, ProductAccepted::of(product_id)).await
}

/// `GET /api/inventory/{productId}`: on hand, reserved, available and reorder point.
pub async fn stock(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    Id(product_id): Id,
    user: User,
) -> Result<Json<StockLevel>, ApiError> {
    user.require(SELLERS)?;
    let query = Envelope::new(GetStock { product_id }, correlation_id, Some(user.actor()));
    state
        .ask(Topic::InventoryQueries, product_id, query)
        .await
        .map(Json)
}

/// `GET /api/inventory/low-stock`: every product below its reorder point (admins).
pub async fn low_stock(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    user: User,
) -> Result<Json<LowStockList>, ApiError> {
    user.require(ADMINS)?;
    let query = Envelope::new(ListLowStock {}, correlation_id, Some(user.actor()));
    state
        .ask(Topic::InventoryQueries, correlation_id, query)
        .await
        .map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustment_needs_units_and_a_reason() {
        let empty = Adjustment {
            delta: 0,
            reason: "  ".into(),
        };
        let problems = empty.command(Uuid::nil()).unwrap_err();
        assert!(problems.contains_key("delta") && problems.contains_key("reason"));
        let delivery = Adjustment {
            delta: -3,
            reason: " breakage ".into(),
        };
        assert_eq!(delivery.command(Uuid::nil()).unwrap().reason, "breakage");
    }
}
