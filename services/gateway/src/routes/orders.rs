//! The order routes: placing, cancelling and advancing are commands on
//! `order.commands`; reads are queries on `order.queries` and `payment.queries`; the
//! status stream follows `order.events`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures::{Stream, StreamExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use shared_events::messages::order::{
    AdvanceStatus, CancelOrder, FulfilmentStatus, GetOrder, ListOrders, OrderLine, OrderPage,
    OrderStatus, OrderStatusChanged, OrderView, PlaceOrder, ShippingAddress,
};
use shared_events::messages::payment::{GetPayment, PaymentView};
use shared_events::rules::{self, Problems};
use shared_events::{derive_id, Envelope, Topic};
use uuid::Uuid;

use crate::dispatch::{Accepted, Command, Correlation, OrderAccepted, Resource};
use crate::error::ApiError;
use crate::extract::{Body, Id};
use crate::tokens::{User, ADMINS, BUYERS};
use crate::AppState;

/// The body of `POST /api/orders`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewOrder {
    /// What to buy.
    #[schemars(length(min = 1, max = rules::MAX_ORDER_LINES))]
    items: Vec<NewLine>,
    /// A payment provider token (`tok_visa`, …), never a card number.
    #[schemars(length(min = 1, max = rules::MAX_PAYMENT_TOKEN))]
    payment_token: String,
    shipping_address: ShippingAddress,
}

/// One line of [`NewOrder`].
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewLine {
    /// The product.
    product_id: Uuid,
    /// How many.
    #[schemars(range(min = 1, max = rules::MAX_LINE_QUANTITY))]
    quantity: i64,
}

impl NewOrder {
    /// The command, or every problem with the body.
    pub fn command(self, order_id: Uuid, user_id: Uuid) -> Result<PlaceOrder, Problems> {
        let items = self
            .items
            .into_iter()
            .map(|line| OrderLine {
                product_id: line.product_id,
                // Out of u32's range is out of the rule's too: 0 reports it.
                quantity: u32::try_from(line.quantity).unwrap_or(0),
            })
            .collect();
        let command = PlaceOrder {
            order_id,
            user_id,
            items,
            payment_token: self.payment_token.trim().to_string(),
            shipping_address: rules::normalize_address(self.shipping_address),
            cart_version: None,
        };
        rules::check_place_order(&command)?;
        Ok(command)
    }
}

/// Longest `Idempotency-Key`, in bytes.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The order id for a request: new, or with `Idempotency-Key` the same for the same
/// key from the same user, so a retried request names the order the first one made
/// and the order service makes no second one.
pub fn order_id(user_id: Uuid, headers: &HeaderMap) -> Result<Uuid, ApiError> {
    let Some(key) = headers.get("idempotency-key") else {
        return Ok(Uuid::new_v4());
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| (1..=MAX_IDEMPOTENCY_KEY).contains(&k.len()))
        .ok_or_else(|| {
            ApiError::problems(Problems::from([(
                "Idempotency-Key",
                format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
            )]))
        })?;
    Ok(derive_id(user_id, &format!("idempotency-key:{key}")))
}

/// `POST /api/orders`: a buyer places an order. 202 with `Location: /api/orders/{id}`.
pub async fn place(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    user: User,
    headers: HeaderMap,
    Body(body): Body<NewOrder>,
) -> Result<Accepted<OrderAccepted>, ApiError> {
    user.require(BUYERS)?;
    let order_id = order_id(user.id, &headers)?;
    let command = body
        .command(order_id, user.id)
        .map_err(ApiError::problems)?;
    send_order(&state, &user, correlation_id, command).await
}

/// Sends `order.place_order` for `user` and answers 202 with the order to follow.
pub async fn send_order(
    state: &AppState,
    user: &User,
    correlation_id: Uuid,
    command: PlaceOrder,
) -> Result<Accepted<OrderAccepted>, ApiError> {
    let order_id = command.order_id;
    let envelope = Envelope::new(command, correlation_id, Some(user.actor()));
    let command =
        Command::new(Topic::OrderCommands, order_id, envelope).makes(Resource::Order(order_id));
    state.accept(command, OrderAccepted::of(order_id)).await
}

async fn get_order(
    state: &AppState,
    correlation_id: Uuid,
    user: &User,
    order_id: Uuid,
) -> Result<OrderView, ApiError> {
    let query = Envelope::new(GetOrder { order_id }, correlation_id, Some(user.actor()));
    state.ask(Topic::OrderQueries, order_id, query).await
}

/// `GET /api/orders/{id}`: the order with its lines, totals, status and history, for its
/// buyer or an admin (404 for anyone else).
pub async fn get(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    Id(order_id): Id,
    user: User,
) -> Result<Json<OrderView>, ApiError> {
    get_order(&state, correlation_id, &user, order_id)
        .await
        .map(Json)
}

/// `GET /api/orders?status=&page=&pageSize=`: the user's orders (an admin's: all).
pub async fn list(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    user: User,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<OrderPage>, ApiError> {
    let mut problems = Problems::new();
    let status = match params.get("status") {
        None => None,
        Some(s) => match s.to_uppercase().parse::<OrderStatus>() {
            Ok(status) => Some(status),
            Err(_) => {
                problems.insert("status", "must be an order status, e.g. CONFIRMED".into());
                None
            }
        },
    };
    let mut number = |name: &'static str, default: u32, max: u32| match params.get(name) {
        None => default,
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                problems.insert(name, format!("must be a whole number from 1 to {max}"));
                default
            }
        },
    };
    let page = number("page", 1, rules::MAX_PAGE);
    let page_size = number("pageSize", rules::DEFAULT_PAGE_SIZE, rules::MAX_PAGE_SIZE);
    if !problems.is_empty() {
        return Err(ApiError::query_problems(problems));
    }
    let query = ListOrders {
        status,
        page,
        page_size,
    };
    let envelope = Envelope::new(query, correlation_id, Some(user.actor()));
    state
        .ask(Topic::OrderQueries, user.id, envelope)
        .await
        .map(Json)
}

/// `POST /api/orders/{id}/cancel`: the buyer or an admin cancels while the order is
/// PENDING or CONFIRMED; 409 `order_not_cancellable` after that.
pub async fn cancel(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    Id(order_id): Id,
    user: User,
) -> Result<Accepted<OrderAccepted>, ApiError> {
    let order = get_order(&state, correlation_id, &user, order_id).await?;
    if !order.status.is_cancellable() {
        return Err(ApiError::Conflict {
            code: "order_not_cancellable".into(),
            message: format!("an order that is {} cannot be cancelled", order.status),
        });
    }
    let reason = if order.user_id == user.id {
        "cancelled_by_user"
    } else {
        "cancelled_by_admin"
    };
    let command = CancelOrder {
        order_id,
        reason: reason.into(),
    };
    change(&state, correlation_id, &user, order_id, command).await
}

/// The body of `POST /api/orders/{id}/status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStatus {
    /// `shipped` once CONFIRMED, then `delivered`.
    status: FulfilmentStatus,
}

/// `POST /api/orders/{id}/status`: an admin moves a confirmed order to shipped, then
/// delivered.
pub async fn advance(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    Id(order_id): Id,
    user: User,
    Body(body): Body<NewStatus>,
) -> Result<Accepted<OrderAccepted>, ApiError> {
    user.require(ADMINS)?;
    get_order(&state, correlation_id, &user, order_id).await?;
    let command = AdvanceStatus {
        order_id,
        status: body.status,
    };
    change(&state, correlation_id, &user, order_id, command).await
}

/// Sends a change to an existing order; 202 with its outcome to follow.
async fn change<T: shared_events::Message>(
    state: &AppState,
    correlation_id: Uuid,
    user: &User,
    order_id: Uuid,
    command: T,
) -> Result<Accepted<OrderAccepted>, ApiError> {
    let envelope = Envelope::new(command, correlation_id, Some(user.actor()));
    let command =
        Command::new(Topic::OrderCommands, order_id, envelope).changes(Resource::Order(order_id));
    state.accept(command, OrderAccepted::of(order_id)).await
}

/// `GET /api/payments/{orderId}`: the order's payment, for its buyer or an admin.
pub async fn payment(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    Id(order_id): Id,
    user: User,
) -> Result<Json<PaymentView>, ApiError> {
    let query = Envelope::new(GetPayment { order_id }, correlation_id, Some(user.actor()));
    state
        .ask(Topic::PaymentQueries, order_id, query)
        .await
        .map(Json)
}

/// How long the stream waits for an order that was just placed to become readable.
const NEW_ORDER_GRACE: Duration = Duration::from_secs(3);

/// The data of an `event: status`: where the order stands, with its reason once it
/// ended.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusEvent<'a> {
    order_id: Uuid,
    status: OrderStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    cancel_reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reject_reason: Option<&'a str>,
}

fn status_event(order: &OrderView) -> Event {
    let data = StatusEvent {
        order_id: order.order_id,
        status: order.status,
        cancel_reason: order.cancel_reason.as_deref(),
        reject_reason: order.reject_reason.as_deref(),
    };
    let data = serde_json::to_string(&data).expect("plain struct serializes");
    Event::default().event("status").data(data)
}

/// The comment a stream ends with when it reached its maximum lifetime, so a client
/// that reads comments knows why; an `EventSource` simply reconnects.
const LIFETIME_REACHED: &str = "the stream reached its maximum lifetime; reconnect to go on";

/// The comment a stream ends with when the gateway stops: graceful shutdown waits for
/// open connections, and a stream left open would hold it up for its whole lifetime.
const STOPPING: &str = "the gateway is stopping; reconnect to go on";

/// `GET /api/orders/{id}/events`: Server-Sent Events, `event: status`. The current
/// status first, then each change, closing at a terminal status; a comment every 15 s
/// keeps idle connections open. A stream lives at most `STREAM_MAX_LIFETIME_SECS`, and
/// at most `STREAM_MAX_CONCURRENT` are open at once (503 past it).
pub async fn events(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    Id(order_id): Id,
    user: User,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let deadline = tokio::time::Instant::now() + state.config.stream_lifetime;
    let slot = state
        .streams
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::TooManyStreams)?;
    // Subscribed before the first read, so no change between the two is missed.
    let changes = state.order_changes.subscribe();
    let grace = tokio::time::Instant::now() + NEW_ORDER_GRACE;
    let first = loop {
        match get_order(&state, correlation_id, &user, order_id).await {
            Err(ApiError::NotFound) if tokio::time::Instant::now() < grace => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other?,
        }
    };
    let statuses = statuses(state.clone(), correlation_id, user, first, changes);
    let stopping = state.shutdown.clone();
    let stream = async_stream::stream! {
        let mut statuses = std::pin::pin!(statuses);
        let ending = async {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => LIFETIME_REACHED,
                () = stopping.cancelled() => STOPPING,
            }
        };
        let mut ending = std::pin::pin!(ending);
        loop {
            let (event, last) = tokio::select! {
                order = statuses.next() => match order {
                    Some(order) => (status_event(&order), false),
                    None => break,
                },
                reason = &mut ending => (Event::default().comment(reason), true),
            };
            yield Ok(event);
            if last {
                break;
            }
        }
        // The slot is free before the client sees the end of the stream.
        drop(slot);
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The order's status, then each change, until a terminal status or the changes end.
/// The stream closes at DELIVERED, CANCELLED and REJECTED, and follows CONFIRMED and
/// SHIPPED orders on. It stops being polled, and so reading, when the client goes.
fn statuses(
    state: AppState,
    correlation_id: Uuid,
    user: User,
    first: OrderView,
    mut changes: tokio::sync::broadcast::Receiver<OrderStatusChanged>,
) -> impl Stream<Item = OrderView> {
    async_stream::stream! {
        let order_id = first.order_id;
        let mut status = first.status;
        yield first;
        while !status.is_final() {
            match concerns(changes.recv().await, order_id) {
                Some(true) => {}
                Some(false) => continue,
                None => break,
            }
            // The order as it is now, with its reason when it ended.
            let Ok(order) = get_order(&state, correlation_id, &user, order_id).await else {
                break;
            };
            if order.status != status {
                status = order.status;
                yield order;
            }
        }
    }
}

/// Whether a received change may be this order's: `Some(true)` when it is, and also
/// after a lag, because the changes this stream was too slow to take may have held it
/// (so the order is read again instead of its last change being lost); `None` once the
/// changes end.
fn concerns(
    received: Result<OrderStatusChanged, tokio::sync::broadcast::error::RecvError>,
    order_id: Uuid,
) -> Option<bool> {
    use tokio::sync::broadcast::error::RecvError;
    match received {
        Ok(change) => Some(change.order_id == order_id),
        Err(RecvError::Lagged(missed)) => {
            tracing::info!(missed, "order stream lagged; reading the order again");
            Some(true)
        }
        Err(RecvError::Closed) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_that_lagged_reads_its_order_again() {
        use tokio::sync::broadcast::error::RecvError;
        let order_id = Uuid::new_v4();
        assert_eq!(concerns(Err(RecvError::Lagged(3)), order_id), Some(true));
        assert_eq!(concerns(Err(RecvError::Closed), order_id), None);
    }

    fn order(items: Vec<(Uuid, i64)>, token: &str) -> NewOrder {
        NewOrder {
            items: items
                .into_iter()
                .map(|(product_id, quantity)| NewLine {
                    product_id,
                    quantity,
                })
                .collect(),
            payment_token: token.into(),
            shipping_address: ShippingAddress {
                name: "Ada Lovelace".into(),
                line1: "1 Main Street".into(),
                line2: None,
                city: "Berlin".into(),
                postal_code: "10115".into(),
                country: "de".into(),
            },
        }
    }

    #[test]
    fn an_order_needs_lines_quantities_and_a_token_not_a_card() {
        let problems = order(vec![], "4242 4242 4242 4242")
            .command(Uuid::nil(), Uuid::nil())
            .unwrap_err();
        assert!(problems.contains_key("items") && problems.contains_key("paymentToken"));
        let problems = order(vec![(Uuid::nil(), 1001)], "tok_visa")
            .command(Uuid::nil(), Uuid::nil())
            .unwrap_err();
        assert!(problems.contains_key("items"));
        let fine = order(vec![(Uuid::nil(), 2)], "tok_visa")
            .command(Uuid::nil(), Uuid::nil())
            .unwrap();
        assert_eq!(fine.items[0].quantity, 2);
        assert_eq!(fine.shipping_address.country, "DE", "stored normalized");
    }

    #[test]
    fn every_problem_of_the_address_is_named_by_its_field() {
        let mut body = order(vec![(Uuid::nil(), 1)], "tok_visa");
        body.shipping_address.city = String::new();
        body.shipping_address.country = "XX".into();
        let problems = body.command(Uuid::nil(), Uuid::nil()).unwrap_err();
        let fields: Vec<_> = problems.into_keys().collect();
        assert_eq!(fields, ["shippingAddress.city", "shippingAddress.country"]);
    }

    #[test]
    fn the_same_idempotency_key_names_the_same_order_for_the_same_user_only() {
        let mut headers = HeaderMap::new();
        headers.insert("idempotency-key", "checkout-1".parse().unwrap());
        let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(
            order_id(ada, &headers).unwrap(),
            order_id(ada, &headers).unwrap()
        );
        assert_ne!(
            order_id(ada, &headers).unwrap(),
            order_id(bob, &headers).unwrap()
        );
        assert_ne!(
            order_id(ada, &HeaderMap::new()).unwrap(),
            order_id(ada, &HeaderMap::new()).unwrap()
        );
    }
}
