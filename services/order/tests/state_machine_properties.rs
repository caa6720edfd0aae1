//! Property tests of the order's decisions (`order::domain`): the state machine of
//! docs/saga.md driven by any sequence of saga events and commands, and pricing against
//! any product view. No broker or database: these are plain functions.

use std::collections::HashMap;

use order::domain::{merged, next, price, Happening, Known};
use proptest::prelude::*;
use shared_events::messages::order::{FulfilmentStatus, OrderLine, OrderStatus};
use shared_events::messages::reply::ReplyCode;
use uuid::Uuid;

fn any_status() -> impl Strategy<Value = OrderStatus> {
    prop::sample::select(vec![
        OrderStatus::Pending,
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Rejected,
    ])
}

fn any_happening() -> impl Strategy<Value = Happening> {
    prop_oneof![
        Just(Happening::ReservationFailed),
        Just(Happening::PaymentSucceeded),
        "[a-z_]{1,12}".prop_map(Happening::PaymentFailed),
        "[a-z_]{1,12}".prop_map(Happening::Cancel),
        Just(Happening::DeadlinePassed),
        Just(Happening::Advance(FulfilmentStatus::Shipped)),
        Just(Happening::Advance(FulfilmentStatus::Delivered)),
    ]
}

/// Whether `happening` is a command (refused when it comes too late) rather than a saga
/// event (ignored when it comes too late).
fn is_command(happening: &Happening) -> bool {
    matches!(happening, Happening::Cancel(_) | Happening::Advance(_))
}

/// Where an order may go from each status (docs/saga.md).
fn allowed(from: OrderStatus, to: OrderStatus) -> bool {
    use OrderStatus::*;
    matches!(
        (from, to),
        (Pending, Confirmed | Cancelled) | (Confirmed, Shipped | Cancelled) | (Shipped, Delivered)
    )
}

proptest! {
    #[test]
    fn an_order_only_moves_along_the_saga(status in any_status(), happening in any_happening()) {
        match next(status, &happening) {
            Ok(Some(transition)) => {
                prop_assert!(allowed(status, transition.to), "{status:?} -> {:?}", transition.to);
                prop_assert_eq!(
                    transition.reason.is_some(),
                    transition.to == OrderStatus::Cancelled,
                    "a reason exactly when cancelled"
                );
                prop_assert!(!transition.note.is_empty());
            }
            Ok(None) => prop_assert!(!is_command(&happening), "a command is applied or refused"),
            Err(not_now) => {
                prop_assert!(is_command(&happening), "a late saga event is ignored, not refused");
                prop_assert_eq!(not_now.status, status);
            }
        }
    }

    #[test]
    fn a_final_order_never_changes(status in any_status(), happening in any_happening()) {
        if status.is_final() {
            prop_assert!(!matches!(next(status, &happening), Ok(Some(_))));
        }
    }

    #[test]
    fn a_cancel_is_accepted_exactly_while_the_order_is_cancellable(
        status in any_status(),
        reason in "[a-z_]{1,12}",
    ) {
        let outcome = next(status, &Happening::Cancel(reason.clone()));
        if status.is_cancellable() {
            let transition = outcome.ok().flatten();
            prop_assert_eq!(transition.as_ref().map(|t| t.to), Some(OrderStatus::Cancelled));
            prop_assert_eq!(transition.and_then(|t| t.reason), Some(reason));
        } else {
            prop_assert!(outcome.is_err());
        }
    }

    #[test]
    fn any_sequence_of_happenings_walks_the_saga_and_stops_at_a_final_status(
        happenings in prop::collection::vec(any_happening(), 0..20),
    ) {
        let mut status = OrderStatus::Pending;
        let mut walked = vec![status];
        for happening in &happenings {
            if let Ok(Some(transition)) = next(status, happening) {
                prop_assert!(allowed(status, transition.to));
                status = transition.to;
                walked.push(status);
            }
        }
        // Each status at most once: the saga has no loops.
        let mut distinct = walked.clone();
        distinct.dedup();
        prop_assert_eq!(distinct.len(), walked.len());
        prop_assert!(walked.len() <= 4, "{walked:?}");
        prop_assert!(!walked[1..].contains(&OrderStatus::Pending));
        prop_assert!(!walked.contains(&OrderStatus::Rejected), "only placement rejects");
    }
}

/// A product view of `count` products, every one active, priced 1 to 10,000 cents in EUR.
fn any_view(count: usize) -> impl Strategy<Value = HashMap<Uuid, Known>> {
    prop::collection::vec(1_i64..=10_000, count).prop_map(|prices| {
        prices
            .into_iter()
            .enumerate()
            .map(|(i, price_cents)| {
                let known = Known {
                    sku: format!("SKU-{i}"),
                    name: format!("Product {i}"),
                    price_cents,
                    currency: "EUR".into(),
                    active: true,
                };
                (Uuid::from_u128(i as u128 + 1), known)
            })
            .collect()
    })
}

/// 1 to 10 lines naming products 1 to 5 of [`any_view`], 1 to 400 units each.
fn any_lines() -> impl Strategy<Value = Vec<OrderLine>> {
    prop::collection::vec((1_u128..=5, 1_u32..=400), 1..10).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(product, quantity)| OrderLine {
                product_id: Uuid::from_u128(product),
                quantity,
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn merging_keeps_every_unit_and_names_each_product_once(lines in any_lines()) {
        let merged = merged(&lines);
        let units: u64 = lines.iter().map(|line| u64::from(line.quantity)).sum();
        prop_assert_eq!(merged.iter().map(|(_, quantity)| quantity).sum::<u64>(), units);
        let mut products: Vec<Uuid> = merged.iter().map(|(product, _)| *product).collect();
        products.sort();
        products.dedup();
        prop_assert_eq!(products.len(), merged.len());
        prop_assert_eq!(merged.first().map(|(product, _)| *product), Some(lines[0].product_id));
    }

    #[test]
    fn a_priced_order_totals_its_lines(lines in any_lines(), view in any_view(5)) {
        match price(&lines, &view) {
            Ok(priced) => {
                let sum: i64 = priced.items.iter().map(|line| line.line_total_cents).sum();
                prop_assert_eq!(priced.total_cents, sum);
                for line in &priced.items {
                    prop_assert_eq!(line.line_total_cents, line.unit_price_cents * i64::from(line.quantity));
                    prop_assert_eq!(line.unit_price_cents, view[&line.product_id].price_cents);
                }
                prop_assert_eq!(priced.currency, "EUR");
            }
            // Merged lines of one product may pass the most one line may ask for.
            Err(reason) => {
                prop_assert_eq!(reason, ReplyCode::InvalidQuantity);
                prop_assert!(merged(&lines).iter().any(|(_, quantity)| *quantity > 1_000));
            }
        }
    }

    #[test]
    fn an_order_naming_a_product_the_view_lacks_is_refused(lines in any_lines(), view in any_view(5)) {
        let mut missing = lines;
        missing.push(OrderLine { product_id: Uuid::from_u128(99), quantity: 1 });
        let refused = price(&missing, &view);
        prop_assert!(matches!(refused, Err(ReplyCode::UnknownProduct | ReplyCode::InvalidQuantity)), "{refused:?}");
    }
}
