//! The route table: every operation the gateway serves, with its handler, what it is
//! and what it may answer. The router ([`router`]) and the OpenAPI document
//! (`super::openapi`) are both built from it, so a route cannot be served without being
//! described, or described without being served; the types it takes and answers come
//! from the handler's signature (`super::signature`).

use axum::Router;
use serde_json::json;
use shared_events::rules;

use super::operation::Method::{Delete, Get, Patch, Post};
use super::operation::Operation;
use super::operation::Problem::{
    BadRequest, Forbidden, NotFound, RateLimited, Timeout, Unavailable,
};
use super::{auth, cart, commands, inventory, openapi, orders, products};
use crate::routes::commands::MAX_WAIT_SECS;
use crate::AppState;

/// The tags operations are grouped under, with what each holds, in reading order.
pub const TAGS: [(&str, &str); 8] = [
    ("auth", "Registration, login and the signed-in user"),
    ("commands", "What became of a command"),
    (
        "products",
        "The catalog: open to read, sellers list and edit",
    ),
    (
        "inventory",
        "Stock levels and adjustments, for sellers and admins",
    ),
    (
        "orders",
        "Placing, following, cancelling and fulfilling orders",
    ),
    ("payments", "An order's payment"),
    ("cart", "The buyer's cart and its checkout"),
    ("service", "Health, readiness, metrics and this document"),
];

/// Where a command's outcome is followed.
const COMMAND: &str = "/api/commands/{commandId}";

/// The gateway's own routes: the handler of every operation the runtime does not serve,
/// on its path.
pub fn router() -> Router<AppState> {
    all()
        .into_iter()
        .filter_map(|operation| Some((operation.path, operation.handler?)))
        .fold(Router::new(), |router, (path, handler)| {
            router.route(path, handler)
        })
}

/// Every operation, in the document's order.
pub fn all() -> Vec<Operation> {
    vec![
        Operation::by_runtime("/healthz")
            .about("service", "The process is up")
            .ok_plain("Up"),
        Operation::by_runtime("/readyz")
            .about("service", "Connected to the broker and knows a token key")
            .ok_plain("Ready")
            .answers(503, "Not ready, with the failing checks"),
        Operation::by_runtime("/metrics")
            .about("service", "The process's metrics, for Prometheus")
            .ok_plain("The text exposition format"),
        Operation::new(Post, "/api/auth/register", auth::register)
            .about("auth", "Register a buyer or seller")
            .accepted(
                "Accepted; follow Location for the outcome (email_taken fails it)",
                COMMAND,
            )
            .fails(&[RateLimited])
            .fails_with(
                503,
                "broker_unavailable: the broker did not take the command within about 5 s \
                 (Retry-After: 2); or busy: every password hashing slot is taken (Retry-After: 1)",
                true,
            ),
        Operation::new(Post, "/api/auth/login", auth::login)
            .about("auth", "Exchange email and password for a token")
            .ok("Signed in")
            .fails_with(401, "unauthorized: the email or password is wrong", false)
            .fails(&[RateLimited, Unavailable, Timeout]),
        Operation::new(Get, "/api/me", auth::me)
            .about("auth", "The signed-in user")
            .ok("The user")
            .fails(&[Timeout]),
        Operation::new(Get, COMMAND, commands::command_status)
            .about(
                "commands",
                "What became of a command; only its sender (or an admin) sees a command \
             sent with a token",
            )
            .query(
                "wait",
                "Whole seconds to long-poll while pending; anything else is 400",
                json!({ "type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECS }),
            )
            .ok(
                "The status; pending for a command no reply has named yet (sent through \
             another instance, or before this one started)",
            )
            .fails(&[BadRequest, NotFound]),
        Operation::new(Post, "/api/products", products::create)
            .about("products", "List a product (seller, admin)")
            .accepted(
                "Accepted; the outcome fails with sku_taken for a duplicate sku",
                "/api/products/{productId}",
            )
            .fails(&[Forbidden, Unavailable]),
        paged(
            Operation::new(Get, "/api/products", products::list)
                .about("products", "A page of active products, newest first")
                .query(
                    "q",
                    "Every word must begin a word of the name, description or sku",
                    json!({ "type": "string", "maxLength": rules::MAX_SEARCH_TEXT }),
                )
                .query("category", "Exact category", json!({ "type": "string" }))
                .query(
                    "minPrice",
                    "Lowest unit price in minor units, inclusive",
                    json!({ "type": "integer", "minimum": 0 }),
                )
                .query(
                    "maxPrice",
                    "Highest unit price in minor units, inclusive; not below minPrice",
                    json!({ "type": "integer", "minimum": 0 }),
                )
                .query(
                    "inStock",
                    "Only products with available stock (true) or without (false)",
                    json!({ "type": "boolean" }),
                )
                .query(
                    "sellerId",
                    "Only this seller's products",
                    json!({ "type": "string", "format": "uuid" }),
                ),
        )
        .ok("The page")
        .fails(&[BadRequest, Timeout]),
        Operation::new(Get, "/api/products/{productId}", products::get)
            .about("products", "One product with its available stock")
            .ok("The product")
            .fails(&[NotFound, Timeout]),
        Operation::new(Patch, "/api/products/{productId}", products::update)
            .about("products", "Change some fields (owning seller, admin)")
            .accepted("Accepted", COMMAND)
            .fails(&[Forbidden, NotFound, Unavailable, Timeout]),
        Operation::new(Delete, "/api/products/{productId}", products::deactivate)
            .about(
                "products",
                "Deactivate: hidden from lists, still readable (owning seller, admin)",
            )
            .accepted("Accepted", COMMAND)
            .fails(&[Forbidden, NotFound, Unavailable, Timeout]),
        Operation::new(Get, "/api/inventory/low-stock", inventory::low_stock)
            .about("inventory", "Products below their reorder point (admin)")
            .ok("The list")
            .fails(&[Forbidden, Timeout]),
        Operation::new(Get, "/api/inventory/{productId}", inventory::stock)
            .about("inventory", "A product's stock (owning seller, admin)")
            .ok("The stock")
            .fails(&[Forbidden, NotFound, Timeout]),
        Operation::new(
            Post,
            "/api/inventory/{productId}/adjustments",
            inventory::adjust,
        )
        .about("inventory", "Add or remove units (owning seller, admin)")
        .accepted(
            "Accepted; the outcome fails with insufficient_stock when available would go \
             below 0",
            COMMAND,
        )
        .fails(&[Forbidden, NotFound, Unavailable, Timeout]),
        Operation::new(Post, "/api/orders", orders::place)
            .about("orders", "Place an order (buyer, admin)")
            .header(
                "Idempotency-Key",
                "The same key from the same user names the same order; no second order is made",
                json!({
                    "type": "string",
                    "minLength": 1,
                    "maxLength": orders::MAX_IDEMPOTENCY_KEY,
                }),
            )
            .accepted(
                "Accepted; follow the order (GET or its events)",
                "/api/orders/{orderId}",
            )
            .fails(&[Forbidden, Unavailable]),
        paged(
            Operation::new(Get, "/api/orders", orders::list)
                .about(
                    "orders",
                    "A page of the user's orders (admin: all), newest first",
                )
                .query(
                    "status",
                    "Only orders in this status (PENDING, CONFIRMED, SHIPPED, DELIVERED, \
                 CANCELLED, REJECTED), in any case",
                    json!({ "type": "string" }),
                ),
        )
        .ok("The page (orders without history)")
        .fails(&[BadRequest, Timeout]),
        Operation::new(Get, "/api/orders/{orderId}", orders::get)
            .about("orders", "One order (its buyer, admin)")
            .ok("The order")
            .fails(&[NotFound, Timeout]),
        Operation::new(Get, "/api/orders/{orderId}/events", orders::events)
            .about(
                "orders",
                "Server-Sent Events: `event: status` with the current status, then each \
             change; closes once the order ended",
            )
            .ok_stream(
                "text/event-stream: event status with {orderId, status, cancelReason?, \
             rejectReason?}, the current status first, then each change; closes at \
             DELIVERED, CANCELLED or REJECTED, or with a comment at the stream's maximum \
             lifetime (STREAM_MAX_LIFETIME_SECS)",
            )
            .fails(&[NotFound, Timeout])
            .fails_with(
                503,
                "too_many_streams: STREAM_MAX_CONCURRENT streams are open",
                true,
            ),
        Operation::new(Post, "/api/orders/{orderId}/cancel", orders::cancel)
            .about(
                "orders",
                "Cancel while PENDING or CONFIRMED (its buyer, admin)",
            )
            .accepted("Accepted", COMMAND)
            .fails(&[NotFound, Unavailable, Timeout])
            .fails_with(
                409,
                "order_not_cancellable: the order is past CONFIRMED",
                false,
            ),
        Operation::new(Post, "/api/orders/{orderId}/status", orders::advance)
            .about(
                "orders",
                "Advance fulfilment: CONFIRMED → SHIPPED → DELIVERED (admin)",
            )
            .accepted(
                "Accepted; the outcome fails with invalid_status out of order",
                COMMAND,
            )
            .fails(&[Forbidden, NotFound, Unavailable, Timeout]),
        Operation::new(Get, "/api/payments/{orderId}", orders::payment)
            .about("payments", "The order's payment (its buyer, admin)")
            .ok("The payment")
            .fails(&[NotFound, Timeout]),
        Operation::new(Get, "/api/cart", cart::get)
            .about("cart", "The buyer's cart, priced today (buyer, admin)")
            .ok("The cart; empty at version 0 when there is none")
            .fails(&[Forbidden, Timeout]),
        Operation::new(Delete, "/api/cart", cart::clear)
            .about("cart", "Empty the cart (buyer, admin)")
            .accepted("Accepted", COMMAND)
            .fails(&[Forbidden, Unavailable]),
        Operation::new(Post, "/api/cart/items", cart::add)
            .about("cart", "Put units of a product in the cart")
            .accepted(
                "Accepted; the outcome fails unknown_product, product_inactive, \
                 invalid_quantity or too_many_lines",
                COMMAND,
            )
            .fails(&[Forbidden, Unavailable]),
        Operation::new(Patch, "/api/cart/items/{productId}", cart::set)
            .about("cart", "Set a line's quantity")
            .accepted(
                "Accepted; the outcome fails not_in_cart or product_inactive",
                COMMAND,
            )
            .fails(&[Forbidden, Unavailable]),
        Operation::new(Delete, "/api/cart/items/{productId}", cart::remove)
            .about("cart", "Take a line out of the cart")
            .accepted("Accepted", COMMAND)
            .fails(&[Forbidden, Unavailable]),
        Operation::new(Post, "/api/cart/checkout", cart::checkout)
            .about(
                "cart",
                "Place an order of the cart's lines; the cart empties once the order exists",
            )
            .accepted(
                "Accepted; follow the order. The same cart version names the same order",
                "/api/orders/{orderId}",
            )
            .fails(&[Forbidden, Unavailable, Timeout])
            .fails_with(
                409,
                "cart_empty, or cart_has_inactive_products: remove them first",
                false,
            ),
        Operation::new(Get, "/api/openapi.json", openapi::document)
            .about("service", "This document")
            .ok_plain(
                "OpenAPI 3.1, generated from the route table and the request and answer \
                 types",
            ),
    ]
}

/// The page parameters of a list.
fn paged(operation: Operation) -> Operation {
    operation
        .query(
            "page",
            "1-based",
            json!({
                "type": "integer",
                "minimum": 1,
                "maximum": rules::MAX_PAGE,
                "default": 1,
            }),
        )
        .query(
            "pageSize",
            "Items per page",
            json!({
                "type": "integer",
                "minimum": 1,
                "maximum": rules::MAX_PAGE_SIZE,
                "default": rules::DEFAULT_PAGE_SIZE,
            }),
        )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn every_operation_is_one_method_on_one_path_and_the_router_mounts_them_all() {
        let mut seen = BTreeSet::new();
        for operation in super::all() {
            assert!(
                seen.insert((operation.path, operation.method)),
                "{} {} is in the table twice",
                operation.method.name(),
                operation.path
            );
        }
        let tags: BTreeSet<&str> = super::TAGS.iter().map(|(tag, _)| *tag).collect();
        for operation in super::all() {
            assert!(
                tags.contains(operation.tag),
                "{} {} has no known tag",
                operation.method.name(),
                operation.path
            );
        }
        // axum refuses (panics on) a method mounted twice on one path.
        let _ = super::router();
    }
}
