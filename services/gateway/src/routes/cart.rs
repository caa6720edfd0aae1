//! The cart routes: changes are commands on `cart.commands`, the cart is a query on
//! `cart.queries`, and checkout places an order on `order.commands` from the cart's
//! lines. The cart service empties the cart once that order exists.

use axum::extract::State;
use axum::Json;
use schemars::JsonSchema;
use serde::Deserialize;
use shared_events::messages::cart::{
    AddCartItem, CartView, ClearCart, GetCart, RemoveCartItem, SetCartQuantity,
};
use shared_events::messages::order::{OrderLine, PlaceOrder, ShippingAddress};
use shared_events::rules::{self, Problems};
use shared_events::{derive_id, Envelope, Message, Topic};
use uuid::Uuid;

use crate::dispatch::{Accepted, CartAccepted, Command, Correlation, OrderAccepted, Resource};
use crate::error::ApiError;
use crate::extract::{Body, Id};
use crate::tokens::{User, BUYERS};
use crate::AppState;

/// The body of `POST /api/cart/items`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewItem {
    /// The product: known to the cart and active.
    product_id: Uuid,
    /// Units to add; the line may not pass 1,000.
    #[schemars(range(min = 1, max = rules::MAX_LINE_QUANTITY))]
    quantity: i64,
}

/// The body of `PATCH /api/cart/items/{productId}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewQuantity {
    /// The line's units.
    #[schemars(range(min = 1, max = rules::MAX_LINE_QUANTITY))]
    quantity: i64,
}

/// The body of `POST /api/cart/checkout`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Checkout {
    /// A payment provider token such as `tok_visa` (never a card number).
    payment_token: String,
    /// Where the order goes.
    shipping_address: ShippingAddress,
}

/// A quantity of 1 to 1,000, or the problem naming `quantity`.
fn quantity(quantity: i64) -> Result<u32, ApiError> {
    u32::try_from(quantity)
        .ok()
        .filter(|&q| rules::is_line_quantity(q))
        .ok_or_else(|| {
            let problems = Problems::from([("quantity", "must be 1 to 1,000".to_string())]);
            ApiError::problems(problems)
        })
}

/// Sends a cart command for `user` and answers 202 with the command to follow.
async fn change<C: Message>(
    state: &AppState,
    user: &User,
    correlation_id: Uuid,
    command: C,
) -> Result<Accepted<CartAccepted>, ApiError> {
    let envelope = Envelope::new(command, correlation_id, Some(user.actor()));
    let command = Command::new(Topic::CartCommands, user.id, envelope).changes(Resource::Cart);
    let body = |command_id| CartAccepted { command_id };
    state.accept(command, body).await
}

/// `GET /api/cart`: the signed-in buyer's cart, priced today; empty at version 0 when
/// they never had one.
pub async fn get(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    user: User,
) -> Result<Json<CartView>, ApiError> {
    user.require(BUYERS)?;
    read(&state, &user, correlation_id).await.map(Json)
}

async fn read(state: &AppState, user: &User, correlation_id: Uuid) -> Result<CartView, ApiError> {
    let query = GetCart { user_id: user.id };
    let envelope = Envelope::new(query, correlation_id, Some(user.actor()));
    state.ask(Topic::CartQueries, user.id, envelope).await
}

/// `POST /api/cart/items`: puts units of a product in the cart. 202; the outcome fails
/// `unknown_product`, `product_inactive`, `invalid_quantity` or `too_many_lines`.
pub async fn add(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    user: User,
    Body(body): Body<NewItem>,
) -> Result<Accepted<CartAccepted>, ApiError> {
    user.require(BUYERS)?;
    let command = AddCartItem {
        user_id: user.id,
        product_id: body.product_id,
        quantity: quantity(body.quantity)?,
    };
    change(&state, &user, correlation_id, command).await
}

/// `PATCH /api/cart/items/{productId}`: sets a line's quantity. 202; the outcome fails
/// `not_in_cart` or `product_inactive`.
pub async fn set(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    Id(product_id): Id,
    user: User,
    Body(body): Body<NewQuantity>,
) -> Result<Accepted<CartAccepted>, ApiError> {
    user.require(BUYERS)?;
    let command = SetCartQuantity {
        user_id: user.id,
        product_id,
        quantity: quantity(body.quantity)?,
    };
    change(&state, &user, correlation_id, command).await
}

/// `DELETE /api/cart/items/{productId}`: takes a line out (nothing to take is fine).
pub async fn remove(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    Id(product_id): Id,
    user: User,
) -> Result<Accepted<CartAccepted>, ApiError> {
    user.require(BUYERS)?;
    let command = RemoveCartItem {
        user_id: user.id,
        product_id,
    };
    change(&state, &user, correlation_id, command).await
}

/// `DELETE /api/cart`: empties the cart.
pub async fn clear(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    user: User,
) -> Result<Accepted<CartAccepted>, ApiError> {
    user.require(BUYERS)?;
    let command = ClearCart { user_id: user.id };
    change(&state, &user, correlation_id, command).await
}

/// The order a checkout of `cart` places, or why not: an empty cart, or a line whose
/// product is no longer sold (409), or a body that breaks the order rules (400). Its id
/// is derived from the buyer and the cart version, so a checkout sent twice, or
/// replayed, names one order.
pub fn order_from(
    cart: &CartView,
    user_id: Uuid,
    checkout: Checkout,
) -> Result<PlaceOrder, ApiError> {
    if cart.lines.is_empty() {
        return Err(conflict("cart_empty", "the cart is empty"));
    }
    if cart.lines.iter().any(|line| !line.active) {
        return Err(conflict(
            "cart_has_inactive_products",
            "remove the products that are no longer sold first",
        ));
    }
    let command = PlaceOrder {
        order_id: derive_id(user_id, &format!("cart:{}", cart.version)),
        user_id,
        items: cart
            .lines
            .iter()
            .map(|line| OrderLine {
                product_id: line.product_id,
                quantity: line.quantity,
            })
            .collect(),
        payment_token: checkout.payment_token.trim().to_string(),
        shipping_address: rules::normalize_address(checkout.shipping_address),
        cart_version: Some(cart.version),
    };
    rules::check_place_order(&command).map_err(ApiError::problems)?;
    Ok(command)
}

fn conflict(code: &str, message: &str) -> ApiError {
    ApiError::Conflict {
        code: code.into(),
        message: message.into(),
    }
}

/// `POST /api/cart/checkout`: places an order of the cart's lines as they are now.
/// 202 with `Location: /api/orders/{orderId}`; the cart empties once the order exists.
pub async fn checkout(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    user: User,
    Body(body): Body<Checkout>,
) -> Result<Accepted<OrderAccepted>, ApiError> {
    user.require(BUYERS)?;
    let cart = read(&state, &user, correlation_id).await?;
    let command = order_from(&cart, user.id, body)?;
    super::orders::send_order(&state, &user, correlation_id, command).await
}

#[cfg(test)]
mod tests {
    use shared_events::messages::cart::CartLine;

    use super::*;

    fn cart(version: u64, active: &[bool]) -> CartView {
        let lines = active
            .iter()
            .map(|&active| CartLine {
                product_id: Uuid::new_v4(),
                sku: "MUG".into(),
                name: "Mug".into(),
                image_url: None,
                quantity: 2,
                unit_price_cents: 500,
                line_total_cents: 1000,
                currency: "EUR".into(),
                active,
            })
            .collect();
        CartView {
            user_id: Uuid::nil(),
            version,
            lines,
            total_cents: 0,
            currency: Some("EUR".into()),
        }
    }

    fn checkout(token: &str) -> Checkout {
        Checkout {
            payment_token: token.into(),
            shipping_address: ShippingAddress {
                name: "Ada".into(),
                line1: "1 Main Street".into(),
                line2: None,
                city: "Berlin".into(),
                postal_code: "10115".into(),
                country: "DE".into(),
            },
        }
    }

    fn code(error: ApiError) -> String {
        match error {
            ApiError::Conflict { code, .. } => code,
            ApiError::Invalid { details, .. } => format!("invalid {details:?}"),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn one_cart_version_names_one_order() {
        let user = Uuid::new_v4();
        let at_3 = cart(3, &[true, true]);
        let first = order_from(&at_3, user, checkout("tok_visa")).unwrap();
        let again = order_from(&at_3, user, checkout("tok_visa")).unwrap();
        assert_eq!(first.order_id, again.order_id);
        assert_eq!((first.items.len(), first.cart_version), (2, Some(3)));
        let at_4 = order_from(&cart(4, &[true]), user, checkout("tok_visa")).unwrap();
        assert_ne!(at_4.order_id, first.order_id);
        let other = order_from(&at_3, Uuid::new_v4(), checkout("tok_visa")).unwrap();
        assert_ne!(other.order_id, first.order_id, "users never share an order");
    }

    #[test]
    fn an_empty_cart_an_inactive_line_or_a_card_number_is_refused() {
        let user = Uuid::new_v4();
        let empty = order_from(&cart(0, &[]), user, checkout("tok_visa"));
        assert_eq!(code(empty.unwrap_err()), "cart_empty");
        let inactive = order_from(&cart(2, &[true, false]), user, checkout("tok_visa"));
        assert_eq!(code(inactive.unwrap_err()), "cart_has_inactive_products");
        let card = order_from(&cart(2, &[true]), user, checkout("4242424242424242"));
        assert!(code(card.unwrap_err()).contains("paymentToken"));
    }
}
