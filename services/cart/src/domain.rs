//! The cart's decisions as plain functions: what each command does to a cart, how a
//! placed order empties it, and how a cart is priced from the product view.

use std::collections::HashMap;

use shared_events::messages::cart::{CartLine, CartView};
use shared_events::messages::reply::ReplyCode;
use shared_events::rules::{is_line_quantity, MAX_ORDER_LINES};
use uuid::Uuid;

/// A product as the cart knows it (from `catalog.events`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Stock-keeping unit.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Its image, when it has one.
    pub image_url: Option<String>,
    /// Unit price in minor units.
    pub price_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// False once deactivated.
    pub active: bool,
}

/// A line of a cart as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// The product.
    pub product_id: Uuid,
    /// 1 to 1,000 units.
    pub quantity: u32,
}

/// A buyer's cart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cart {
    /// Goes up by one with every change.
    pub version: u64,
    /// The lines, in the order first added.
    pub lines: Vec<Line>,
    /// The orders checked out from this cart that it has been emptied for.
    pub orders: Vec<Uuid>,
}

/// Why a cart command is refused; each is the failure code of its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The cart service knows no such product.
    UnknownProduct,
    /// The product was deactivated.
    ProductInactive,
    /// A quantity outside 1 to 1,000, or a line that would pass 1,000.
    InvalidQuantity,
    /// A 51st line.
    TooManyLines,
    /// The product is not in the cart.
    NotInCart,
}

impl Refusal {
    /// The outcome's failure code.
    pub fn code(self) -> ReplyCode {
        match self {
            Refusal::UnknownProduct => ReplyCode::UnknownProduct,
            Refusal::ProductInactive => ReplyCode::ProductInactive,
            Refusal::InvalidQuantity => ReplyCode::InvalidQuantity,
            Refusal::TooManyLines => ReplyCode::TooManyLines,
            Refusal::NotInCart => ReplyCode::NotInCart,
        }
    }

    /// What the buyer is told.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::UnknownProduct => "no such product",
            Refusal::ProductInactive => "the product is no longer sold",
            Refusal::InvalidQuantity => "a line holds 1 to 1,000 units",
            Refusal::TooManyLines => "a cart holds at most 50 lines",
            Refusal::NotInCart => "the product is not in the cart",
        }
    }
}

fn check_quantity(quantity: u32) -> Result<u32, Refusal> {
    if is_line_quantity(quantity) {
        Ok(quantity)
    } else {
        Err(Refusal::InvalidQuantity)
    }
}

fn check_sold(product: Option<&Product>) -> Result<(), Refusal> {
    match product {
        None => Err(Refusal::UnknownProduct),
        Some(product) if !product.active => Err(Refusal::ProductInactive),
        Some(_) => Ok(()),
    }
}

impl Cart {
    fn line_mut(&mut self, product_id: Uuid) -> Option<&mut Line> {
        self.lines.iter_mut().find(|l| l.product_id == product_id)
    }

    /// Counts a change: every change moves the version on by one.
    fn changed(&mut self, changed: bool) -> bool {
        if changed {
            self.version += 1;
        }
        changed
    }

    /// Puts `quantity` more units of a known, active product in the cart (always a
    /// change).
    pub fn add(
        &mut self,
        product_id: Uuid,
        quantity: u32,
        product: Option<&Product>,
    ) -> Result<bool, Refusal> {
        let quantity = check_quantity(quantity)?;
        check_sold(product)?;
        let full = self.lines.len() >= MAX_ORDER_LINES;
        match self.line_mut(product_id) {
            Some(line) => line.quantity = check_quantity(line.quantity + quantity)?,
            None if full => return Err(Refusal::TooManyLines),
            None => self.lines.push(Line {
                product_id,
                quantity,
            }),
        }
        Ok(self.changed(true))
    }

    /// Sets the quantity of a line in the cart, whose product is still sold; whether it
    /// changed.
    pub fn set(
        &mut self,
        product_id: Uuid,
        quantity: u32,
        product: Option<&Product>,
    ) -> Result<bool, Refusal> {
        let quantity = check_quantity(quantity)?;
        let line = self.line_mut(product_id).ok_or(Refusal::NotInCart)?;
        if line.quantity == quantity {
            return Ok(false);
        }
        check_sold(product)?;
        line.quantity = quantity;
        Ok(self.changed(true))
    }

    /// Takes a product's line out; whether it was there.
    pub fn remove(&mut self, product_id: Uuid) -> bool {
        let before = self.lines.len();
        self.lines.retain(|l| l.product_id != product_id);
        let removed = self.lines.len() != before;
        self.changed(removed)
    }

    /// Empties the cart; whether it held anything.
    pub fn clear(&mut self) -> bool {
        let held = !self.lines.is_empty();
        self.lines.clear();
        self.changed(held)
    }

    /// The order checked out from version `checked_out` exists: the cart is emptied
    /// of what it ordered. When nothing changed since the checkout that is every line;
    /// otherwise the ordered units come off each line and what was added since stays.
    /// Once per order: the same order again changes nothing.
    pub fn order_placed(
        &mut self,
        order_id: Uuid,
        checked_out: u64,
        ordered: &[(Uuid, u32)],
    ) -> bool {
        if self.orders.contains(&order_id) {
            return false;
        }
        if self.version == checked_out {
            self.lines.clear();
        } else {
            for &(product_id, quantity) in ordered {
                if let Some(line) = self.line_mut(product_id) {
                    line.quantity = line.quantity.saturating_sub(quantity);
                }
            }
            self.lines.retain(|l| l.quantity > 0);
        }
        self.orders.push(order_id);
        self.changed(true)
    }

    /// The cart as queries answer it, priced with today's product view. A line whose
    /// product was deactivated stays, flagged `active: false`, out of the total.
    pub fn view(&self, user_id: Uuid, products: &HashMap<Uuid, Product>) -> CartView {
        let lines: Vec<CartLine> = self
            .lines
            .iter()
            .map(|line| {
                let product = products.get(&line.product_id);
                let unit_price_cents = product.map_or(0, |p| p.price_cents);
                CartLine {
                    product_id: line.product_id,
                    sku: product.map(|p| p.sku.clone()).unwrap_or_default(),
                    name: product.map(|p| p.name.clone()).unwrap_or_default(),
                    image_url: product.and_then(|p| p.image_url.clone()),
                    quantity: line.quantity,
                    unit_price_cents,
                    line_total_cents: unit_price_cents * i64::from(line.quantity),
                    currency: product.map(|p| p.currency.clone()).unwrap_or_default(),
                    active: product.is_some_and(|p| p.active),
                }
            })
            .collect();
        let active = || lines.iter().filter(|line| line.active);
        let mut currencies = active().map(|line| line.currency.as_str());
        let first = currencies.next().map(str::to_string);
        let shared = currencies.all(|c| Some(c) == first.as_deref());
        CartView {
            user_id,
            version: self.version,
            total_cents: active().map(|line| line.line_total_cents).sum(),
            currency: first.filter(|_| shared),
            lines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mug(price_cents: i64, active: bool) -> Product {
        Product {
            sku: "MUG".into(),
            name: "Mug".into(),
            image_url: None,
            price_cents,
            currency: "EUR".into(),
            active,
        }
    }

    #[test]
    fn adding_twice_adds_up_within_a_thousand_units_and_fifty_lines() {
        let (id, sold) = (Uuid::new_v4(), mug(500, true));
        let mut cart = Cart::default();
        assert_eq!(cart.add(id, 600, Some(&sold)), Ok(true));
        assert_eq!(cart.add(id, 400, Some(&sold)), Ok(true));
        assert_eq!(
            cart.lines,
            [Line {
                product_id: id,
                quantity: 1000
            }]
        );
        assert_eq!(cart.add(id, 1, Some(&sold)), Err(Refusal::InvalidQuantity));
        assert_eq!(cart.add(id, 0, Some(&sold)), Err(Refusal::InvalidQuantity));
        for _ in 1..MAX_ORDER_LINES {
            cart.add(Uuid::new_v4(), 1, Some(&sold)).unwrap();
        }
        let one_more = cart.add(Uuid::new_v4(), 1, Some(&sold));
        assert_eq!(one_more, Err(Refusal::TooManyLines));
        assert_eq!(cart.version, 51, "refusals change nothing");
    }

    #[test]
    fn only_known_active_products_go_in() {
        let mut cart = Cart::default();
        let id = Uuid::new_v4();
        assert_eq!(cart.add(id, 1, None), Err(Refusal::UnknownProduct));
        let gone = mug(500, false);
        assert_eq!(cart.add(id, 1, Some(&gone)), Err(Refusal::ProductInactive));
        assert_eq!(cart, Cart::default());
    }

    #[test]
    fn set_remove_and_clear_change_the_version_only_when_they_change_something() {
        let (id, sold) = (Uuid::new_v4(), mug(500, true));
        let mut cart = Cart::default();
        assert_eq!(cart.set(id, 2, Some(&sold)), Err(Refusal::NotInCart));
        cart.add(id, 1, Some(&sold)).unwrap();
        assert_eq!(cart.set(id, 3, Some(&sold)), Ok(true));
        assert_eq!(cart.set(id, 3, Some(&sold)), Ok(false));
        assert_eq!(cart.version, 2);
        assert!(!cart.remove(Uuid::new_v4()));
        assert!(cart.remove(id));
        assert!(!cart.clear());
        assert_eq!(cart.version, 3);
    }

    #[test]
    fn a_placed_order_empties_its_version_and_keeps_what_came_after_once() {
        let sold = mug(500, true);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut cart = Cart::default();
        cart.add(a, 2, Some(&sold)).unwrap();
        let checked_out = cart.version;
        let ordered = [(a, 2)];
        cart.add(a, 1, Some(&sold)).unwrap();
        cart.add(b, 1, Some(&sold)).unwrap();
        let order = Uuid::new_v4();
        assert!(cart.order_placed(order, checked_out, &ordered));
        assert_eq!(
            cart.lines,
            [
                Line {
                    product_id: a,
                    quantity: 1
                },
                Line {
                    product_id: b,
                    quantity: 1
                }
            ],
            "what was added after the checkout stays"
        );
        assert!(!cart.order_placed(order, checked_out, &ordered), "once");
        let checked_out = cart.version;
        assert!(cart.order_placed(Uuid::new_v4(), checked_out, &[(a, 1)]));
        assert!(cart.lines.is_empty(), "an unchanged cart is emptied whole");
    }

    #[test]
    fn a_deactivated_line_is_flagged_and_left_out_of_the_total() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut cart = Cart::default();
        cart.add(a, 2, Some(&mug(500, true))).unwrap();
        cart.add(b, 1, Some(&mug(900, true))).unwrap();
        let products = HashMap::from([(a, mug(500, true)), (b, mug(900, false))]);
        let view = cart.view(Uuid::nil(), &products);
        assert_eq!(view.lines.len(), 2, "never silently dropped");
        assert!(view.lines[0].active && !view.lines[1].active);
        assert_eq!(
            (view.total_cents, view.currency.as_deref()),
            (1000, Some("EUR"))
        );
    }
}
