//! The order's decisions as plain functions: pricing a placement against the product
//! view, and the state machine every saga event and command goes through.

use std::collections::{BTreeMap, HashMap};

use shared_events::messages::order::{
    FulfilmentStatus, OrderLine, OrderStatus, PricedLine, ShippingAddress,
};
use shared_events::messages::reply::ReplyCode;
use shared_events::rules::{self, MAX_LINE_QUANTITY, MAX_ORDER_LINES};
use uuid::Uuid;

/// A product as the order service knows it (from `catalog.events`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// Stock-keeping unit.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Unit price in minor units.
    pub price_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// False once deactivated.
    pub active: bool,
}

/// A placement that can be accepted: its priced lines and total.
#[derive(Debug, Clone, PartialEq)]
pub struct Priced {
    /// One line per product, in the order first asked for.
    pub items: Vec<PricedLine>,
    /// Sum of the line totals.
    pub total_cents: i64,
    /// The one currency of every line.
    pub currency: String,
}

/// The products an order names, merged per product (two lines of one product are one
/// line with both quantities), in the order first asked for.
pub fn merged(lines: &[OrderLine]) -> Vec<(Uuid, u64)> {
    let mut totals: BTreeMap<Uuid, u64> = BTreeMap::new();
    let mut order = Vec::new();
    for line in lines {
        let total = totals.entry(line.product_id).or_insert_with(|| {
            order.push(line.product_id);
            0
        });
        *total += u64::from(line.quantity);
    }
    order.into_iter().map(|id| (id, totals[&id])).collect()
}

/// The address as stored, or `invalid_address`: the gateway refuses such an address
/// with 400, so only a command sent around it (a replay, a script) is rejected here.
pub fn address(address: ShippingAddress) -> Result<ShippingAddress, ReplyCode> {
    let address = rules::normalize_address(address);
    if rules::address_problems(&address).is_empty() {
        Ok(address)
    } else {
        Err(ReplyCode::InvalidAddress)
    }
}

/// Prices an order against the product view, or says why it is rejected:
/// `invalid_quantity` (no lines, more than 50, or a quantity outside 1 to 1,000),
/// `unknown_product`, `product_inactive`, or `mixed_currency`.
pub fn price(lines: &[OrderLine], products: &HashMap<Uuid, Known>) -> Result<Priced, ReplyCode> {
    let merged = merged(lines);
    if merged.is_empty() || lines.len() > MAX_ORDER_LINES {
        return Err(ReplyCode::InvalidQuantity);
    }
    if merged
        .iter()
        .any(|(_, quantity)| !(1..=u64::from(MAX_LINE_QUANTITY)).contains(quantity))
    {
        return Err(ReplyCode::InvalidQuantity);
    }
    let mut items = Vec::with_capacity(merged.len());
    for (product_id, quantity) in merged {
        let product = products.get(&product_id).ok_or(ReplyCode::UnknownProduct)?;
        if !product.active {
            return Err(ReplyCode::ProductInactive);
        }
        let quantity = quantity as u32;
        let line_total_cents = product
            .price_cents
            .checked_mul(i64::from(quantity))
            .ok_or(ReplyCode::InvalidQuantity)?;
        items.push((
            product.currency.clone(),
            PricedLine {
                product_id,
                sku: product.sku.clone(),
                name: product.name.clone(),
                quantity,
                unit_price_cents: product.price_cents,
                line_total_cents,
            },
        ));
    }
    let currency = items[0].0.clone();
    if items.iter().any(|(c, _)| *c != currency) {
        return Err(ReplyCode::MixedCurrency);
    }
    let total_cents = items
        .iter()
        .try_fold(0_i64, |sum, (_, line)| {
            sum.checked_add(line.line_total_cents)
        })
        .ok_or(ReplyCode::InvalidQuantity)?;
    Ok(Priced {
        items: items.into_iter().map(|(_, line)| line).collect(),
        total_cents,
        currency,
    })
}

/// What can happen to an order after it was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happening {
    /// Inventory could not reserve every line.
    ReservationFailed,
    /// Payment charged the order.
    PaymentSucceeded,
    /// Payment failed for good, with the provider's reason.
    PaymentFailed(String),
    /// The owner or an admin cancels, with a reason.
    Cancel(String),
    /// The order's deadline passed while the saga was still under way.
    DeadlinePassed,
    /// An admin moves it along fulfilment.
    Advance(FulfilmentStatus),
}

/// A status change to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The new status.
    pub to: OrderStatus,
    /// The cancel reason, for CANCELLED.
    pub reason: Option<String>,
    /// What the history records as why.
    pub note: String,
}

/// Why a command may not change the order now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotNow {
    /// The order's status.
    pub status: OrderStatus,
}

/// The state machine of docs/saga.md. Saga events that come too late for the order's
/// status (a payment for an order already cancelled) change nothing; commands that
/// come too late are refused.
pub fn next(status: OrderStatus, happening: &Happening) -> Result<Option<Transition>, NotNow> {
    use OrderStatus::*;
    let to = |to, reason: Option<&str>, note: String| {
        Ok(Some(Transition {
            to,
            reason: reason.map(String::from),
            note,
        }))
    };
    match (status, happening) {
        (Pending, Happening::ReservationFailed) => {
            to(Cancelled, Some("out_of_stock"), "out_of_stock".into())
        }
        (Pending, Happening::PaymentSucceeded) => to(Confirmed, None, "paid".into()),
        (Pending, Happening::PaymentFailed(why)) => to(
            Cancelled,
            Some("payment_declined"),
            format!("payment_declined: {why}"),
        ),
        (Pending, Happening::DeadlinePassed) => to(Cancelled, Some("timeout"), "timeout".into()),
        (Pending | Confirmed, Happening::Cancel(reason)) => {
            to(Cancelled, Some(reason), reason.clone())
        }
        (Confirmed, Happening::Advance(FulfilmentStatus::Shipped)) => {
            to(Shipped, None, "shipped".into())
        }
        (Shipped, Happening::Advance(FulfilmentStatus::Delivered)) => {
            to(Delivered, None, "delivered".into())
        }
        (_, Happening::Cancel(_) | Happening::Advance(_)) => Err(NotNow { status }),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    fn known(price_cents: i64, currency: &str, active: bool) -> Known {
        Known {
            sku: "S".into(),
            name: "N".into(),
            price_cents,
            currency: currency.into(),
            active,
        }
    }

    fn line(product_id: Uuid, quantity: u32) -> OrderLine {
        OrderLine {
            product_id,
            quantity,
        }
    }

    #[test]
    fn an_order_is_priced_line_by_line_and_merges_repeated_products() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let products = HashMap::from([(a, known(250, "EUR", true)), (b, known(1000, "EUR", true))]);
        let priced = price(&[line(a, 2), line(b, 1), line(a, 1)], &products).unwrap();
        assert_eq!(priced.total_cents, 3 * 250 + 1000);
        assert_eq!(priced.items.len(), 2);
        assert_eq!(
            (priced.items[0].quantity, priced.items[0].line_total_cents),
            (3, 750)
        );
        assert_eq!(priced.currency, "EUR");
    }

    #[test]
    fn an_address_is_stored_normalized_or_the_order_rejected() {
        let typed = ShippingAddress {
            name: " Ada ".into(),
            line1: "1 Main St".into(),
            line2: Some(String::new()),
            city: "Berlin".into(),
            postal_code: "10115".into(),
            country: "de".into(),
        };
        let stored = address(typed.clone()).expect("a sound address");
        assert_eq!(
            (stored.name.as_str(), stored.line2, stored.country.as_str()),
            ("Ada", None, "DE")
        );
        let nul = ShippingAddress {
            name: "Ada\u{0}".into(),
            ..typed
        };
        assert_eq!(address(nul), Err(ReplyCode::InvalidAddress));
    }

    #[test]
    fn every_rejection_has_its_reason() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let products = HashMap::from([
            (a, known(100, "EUR", true)),
            (b, known(100, "EUR", false)),
            (c, known(100, "USD", true)),
        ]);
        assert_eq!(price(&[], &products), Err(ReplyCode::InvalidQuantity));
        assert_eq!(
            price(&[line(a, 0)], &products),
            Err(ReplyCode::InvalidQuantity)
        );
        assert_eq!(
            price(&[line(a, 600), line(a, 401)], &products),
            Err(ReplyCode::InvalidQuantity)
        );
        assert_eq!(
            price(&vec![line(a, 1); 51], &products),
            Err(ReplyCode::InvalidQuantity)
        );
        assert_eq!(
            price(&[line(Uuid::new_v4(), 1)], &products),
            Err(ReplyCode::UnknownProduct)
        );
        assert_eq!(
            price(&[line(b, 1)], &products),
            Err(ReplyCode::ProductInactive)
        );
        assert_eq!(
            price(&[line(a, 1), line(c, 1)], &products),
            Err(ReplyCode::MixedCurrency)
        );
        let huge = HashMap::from([(a, known(i64::MAX / 2, "EUR", true))]);
        assert_eq!(price(&[line(a, 3)], &huge), Err(ReplyCode::InvalidQuantity));
    }

    #[test]
    fn the_saga_moves_a_pending_order_to_its_outcome() {
        let confirmed = next(Pending, &Happening::PaymentSucceeded)
            .unwrap()
            .unwrap();
        assert_eq!(confirmed.to, Confirmed);
        let short = next(Pending, &Happening::ReservationFailed)
            .unwrap()
            .unwrap();
        assert_eq!(
            (short.to, short.reason.as_deref()),
            (Cancelled, Some("out_of_stock"))
        );
        let declined = next(Pending, &Happening::PaymentFailed("card_declined".into()))
            .unwrap()
            .unwrap();
        assert_eq!(declined.reason.as_deref(), Some("payment_declined"));
        assert_eq!(declined.note, "payment_declined: card_declined");
    }

    #[test]
    fn late_saga_events_change_nothing() {
        for status in [Cancelled, Confirmed, Rejected, Shipped] {
            assert_eq!(next(status, &Happening::PaymentSucceeded), Ok(None));
            assert_eq!(next(status, &Happening::ReservationFailed), Ok(None));
            assert_eq!(
                next(status, &Happening::PaymentFailed("x".into())),
                Ok(None)
            );
        }
    }

    #[test]
    fn a_deadline_cancels_only_an_order_still_pending() {
        let expired = next(Pending, &Happening::DeadlinePassed).unwrap().unwrap();
        assert_eq!(
            (expired.to, expired.reason.as_deref()),
            (Cancelled, Some("timeout"))
        );
        for status in [Confirmed, Shipped, Delivered, Cancelled, Rejected] {
            assert_eq!(next(status, &Happening::DeadlinePassed), Ok(None));
        }
    }

    #[test]
    fn cancelling_is_allowed_until_shipped_and_fulfilment_goes_in_order() {
        let cancel = Happening::Cancel("cancelled_by_user".into());
        assert_eq!(next(Pending, &cancel).unwrap().unwrap().to, Cancelled);
        assert_eq!(next(Confirmed, &cancel).unwrap().unwrap().to, Cancelled);
        for status in [Shipped, Delivered, Cancelled, Rejected] {
            assert_eq!(next(status, &cancel), Err(NotNow { status }));
        }
        let ship = Happening::Advance(FulfilmentStatus::Shipped);
        let deliver = Happening::Advance(FulfilmentStatus::Delivered);
        assert_eq!(next(Confirmed, &ship).unwrap().unwrap().to, Shipped);
        assert_eq!(next(Shipped, &deliver).unwrap().unwrap().to, Delivered);
        assert!(next(Pending, &ship).is_err() && next(Confirmed, &deliver).is_err());
    }
}
