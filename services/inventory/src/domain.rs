//! Inventory's decisions as plain functions over a product's stock: adjustments, the
//! low-stock threshold, and who may touch it.

use shared_events::messages::inventory::{LowStock, StockChanged, StockLevel};
use uuid::Uuid;

/// The reorder point a new product gets.
pub const DEFAULT_REORDER_POINT: u32 = 10;

/// One product's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stock {
    /// The product.
    pub product_id: Uuid,
    /// Units held.
    pub on_hand: i64,
    /// Units promised to open orders.
    pub reserved: i64,
    /// Below this many available units, the product is low.
    pub reorder_point: u32,
    /// Whether it is below the reorder point (and `low_stock` was sent for it).
    pub low: bool,
}

/// Why an adjustment cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insufficient {
    /// Units available now.
    pub available: i64,
}

impl Stock {
    /// A new product's stock, not yet marked low.
    pub fn opening(product_id: Uuid, initial: u32) -> Self {
        Self {
            product_id,
            on_hand: i64::from(initial),
            reserved: 0,
            reorder_point: DEFAULT_REORDER_POINT,
            low: false,
        }
    }

    /// Units that can still be ordered.
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    /// Adds `delta` units (removes, when negative). Refused when fewer units would be
    /// held than are reserved, which would make `available` negative.
    pub fn adjusted(self, delta: i64) -> Result<Self, Insufficient> {
        match self.on_hand.checked_add(delta) {
            Some(on_hand) if on_hand >= self.reserved => Ok(Self { on_hand, ..self }),
            _ => Err(Insufficient {
                available: self.available(),
            }),
        }
    }

    /// Holds `quantity` units for an order; refused when fewer are available.
    pub fn reserved_for(self, quantity: u32) -> Result<Self, Insufficient> {
        let quantity = i64::from(quantity);
        if quantity > self.available() {
            return Err(Insufficient {
                available: self.available(),
            });
        }
        Ok(Self {
            reserved: self.reserved + quantity,
            ..self
        })
    }

    /// Gives back `quantity` held units (an order was cancelled before it was sold).
    pub fn released(self, quantity: u32) -> Self {
        Self {
            reserved: (self.reserved - i64::from(quantity)).max(0),
            ..self
        }
    }

    /// Turns `quantity` held units into a sale: they leave the warehouse.
    pub fn committed(self, quantity: u32) -> Self {
        let quantity = i64::from(quantity);
        Self {
            on_hand: self.on_hand - quantity,
            reserved: (self.reserved - quantity).max(0),
            ..self
        }
    }

    /// Takes back `quantity` sold units (a confirmed order was cancelled).
    pub fn restocked(self, quantity: u32) -> Self {
        Self {
            on_hand: self.on_hand + i64::from(quantity),
            ..self
        }
    }

    /// Updates `low` after a change and returns the `low_stock` event when this change
    /// crossed below the reorder point: once per crossing, never while it stays low.
    pub fn settle_low(&mut self) -> Option<LowStock> {
        let now_low = self.available() < i64::from(self.reorder_point);
        let crossed = now_low && !self.low;
        self.low = now_low;
        crossed.then(|| LowStock {
            product_id: self.product_id,
            available: self.available(),
            reorder_point: self.reorder_point,
        })
    }

    /// The `stock_changed` event for this state.
    pub fn changed(&self) -> StockChanged {
        StockChanged {
            product_id: self.product_id,
            on_hand: self.on_hand,
            reserved: self.reserved,
            available: self.available(),
        }
    }

    /// The state as queries answer it.
    pub fn level(&self) -> StockLevel {
        StockLevel {
            product_id: self.product_id,
            on_hand: self.on_hand,
            reserved: self.reserved,
            available: self.available(),
            reorder_point: self.reorder_point,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock(on_hand: i64, reserved: i64) -> Stock {
        Stock {
            on_hand,
            reserved,
            ..Stock::opening(Uuid::nil(), 0)
        }
    }

    #[test]
    fn an_adjustment_may_not_take_more_than_is_available() {
        assert_eq!(stock(10, 3).adjusted(-7).map(|s| s.on_hand), Ok(3));
        assert_eq!(
            stock(10, 3).adjusted(-8),
            Err(Insufficient { available: 7 })
        );
        assert_eq!(stock(0, 0).adjusted(5).map(|s| s.available()), Ok(5));
        assert!(stock(1, 0).adjusted(i64::MIN).is_err());
    }

    #[test]
    fn low_stock_is_reported_once_per_crossing() {
        let mut s = Stock::opening(Uuid::nil(), 10);
        assert_eq!(s.settle_low(), None, "10 is not below 10");
        let mut reports = 0;
        for delta in [-1, -1, -3, 5, 1, -2, -2] {
            s = s.adjusted(delta).unwrap();
            reports += usize::from(s.settle_low().is_some());
        }
        // 10 → 9 (crosses) → 8 → 5 → 10 (recovers) → 11 → 9 (crosses) → 7
        assert_eq!(reports, 2);
        assert!(s.low);
    }

    #[test]
    fn a_product_opened_below_its_reorder_point_is_low_at_once() {
        let mut s = Stock::opening(Uuid::nil(), 3);
        let report = s.settle_low().expect("reported");
        assert_eq!((report.available, report.reorder_point), (3, 10));
    }

    #[test]
    fn an_order_holds_units_then_buys_them_or_gives_them_back() {
        let held = stock(10, 0).reserved_for(4).unwrap();
        assert_eq!((held.on_hand, held.reserved, held.available()), (10, 4, 6));
        assert_eq!(held.reserved_for(7), Err(Insufficient { available: 6 }));
        let sold = held.committed(4);
        assert_eq!((sold.on_hand, sold.reserved), (6, 0));
        assert_eq!(sold.restocked(4).on_hand, 10);
        assert_eq!(held.released(4), stock(10, 0));
    }
}
