//! Payment's decisions as plain functions: what to do with an order given what is
//! known of it, what a provider's answer settles, and what the simulated provider
//! answers for a token.

use std::time::Duration;

use crate::provider::Charge;

/// Where an order's payment stands: the contract's status, stored as its text form.
pub use shared_events::messages::payment::PaymentStatus as Status;

/// What payment knows of one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// `order_placed` arrived: the amount and token are known.
    pub placed: bool,
    /// `stock_reserved` arrived.
    pub stock_reserved: bool,
    /// `order_cancelled` arrived.
    pub cancelled: bool,
    /// Where the payment stands.
    pub status: Status,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing yet, or nothing ever again.
    Wait,
    /// Charge the order: it is placed, its stock is held, and it is not cancelled.
    Charge,
    /// Give the charge back: the order was cancelled after it was charged.
    Refund,
    /// Never charge: the order was cancelled before it was charged.
    Void,
}

/// The one rule of payment: charge once when placed and reserved, never after a
/// cancellation, and refund a charge whose order was cancelled. The facts may arrive in
/// any order; the answer depends only on which have arrived. While the charger is
/// calling the provider nothing is decided: its answer is recorded first, and then a
/// cancellation that came meanwhile refunds it.
pub fn decide(facts: Facts) -> Action {
    match facts.status {
        Status::Waiting if facts.cancelled => Action::Void,
        Status::Waiting if facts.placed && facts.stock_reserved => Action::Charge,
        Status::Succeeded if facts.cancelled => Action::Refund,
        _ => Action::Wait,
    }
}

/// What one call at the provider settles, given the answer and how many calls there
/// were for this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterCall {
    /// Charged.
    Charged,
    /// Failed for good, with the reason.
    Failed(String),
    /// Call again after this long.
    Retry(Duration),
}

/// A decline fails at once; an unavailable provider is called again, 200 ms after the
/// first call and twice as long after each next one (at most 5 s), until `attempts`
/// calls were made, and then the payment fails with `processing_error`.
pub fn after_call(charge: &Charge, attempts: u32) -> AfterCall {
    match charge {
        Charge::Approved => AfterCall::Charged,
        Charge::Declined(reason) => AfterCall::Failed(reason.clone()),
        Charge::Unavailable { calls } if *calls >= attempts => {
            AfterCall::Failed("processing_error".into())
        }
        Charge::Unavailable { calls } => {
            let doublings = calls.saturating_sub(1).min(5);
            let delay = Duration::from_millis(200) * 2u32.pow(doublings);
            AfterCall::Retry(delay.min(Duration::from_secs(5)))
        }
    }
}

/// What the simulated provider answers for one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderAnswer {
    /// Charged.
    Approved,
    /// Refused for good, with the reason.
    Declined(&'static str),
    /// The provider failed; another attempt may work.
    Unavailable,
}

/// The test tokens of docs/saga.md: `tok_visa` and `tok_mastercard` are charged,
/// `tok_chargeDeclined` and `tok_insufficientFunds` are declined, `tok_processingError`
/// always fails transiently; any other token is declined as `invalid_token`.
pub fn provider(token: &str) -> ProviderAnswer {
    match token {
        "tok_visa" | "tok_mastercard" => ProviderAnswer::Approved,
        "tok_chargeDeclined" => ProviderAnswer::Declined("card_declined"),
        "tok_insufficientFunds" => ProviderAnswer::Declined("insufficient_funds"),
        "tok_processingError" => ProviderAnswer::Unavailable,
        _ => ProviderAnswer::Declined("invalid_token"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(placed: bool, stock_reserved: bool, cancelled: bool, status: Status) -> Facts {
        Facts {
            placed,
            stock_reserved,
            cancelled,
            status,
        }
    }

    #[test]
    fn an_order_is_charged_once_it_is_placed_and_reserved_in_either_order() {
        assert_eq!(
            decide(facts(true, false, false, Status::Waiting)),
            Action::Wait
        );
        assert_eq!(
            decide(facts(false, true, false, Status::Waiting)),
            Action::Wait
        );
        assert_eq!(
            decide(facts(true, true, false, Status::Waiting)),
            Action::Charge
        );
        assert_eq!(
            decide(facts(true, true, false, Status::Succeeded)),
            Action::Wait
        );
    }

    #[test]
    fn a_cancelled_order_is_never_charged_and_a_charged_one_is_refunded() {
        assert_eq!(
            decide(facts(true, true, true, Status::Waiting)),
            Action::Void
        );
        assert_eq!(
            decide(facts(true, false, true, Status::Waiting)),
            Action::Void
        );
        assert_eq!(
            decide(facts(true, true, true, Status::Succeeded)),
            Action::Refund
        );
        for done in [Status::Refunded, Status::Voided, Status::Failed] {
            assert_eq!(decide(facts(true, true, true, done)), Action::Wait);
        }
    }

    #[test]
    fn nothing_is_decided_while_the_provider_is_being_called() {
        for cancelled in [false, true] {
            assert_eq!(
                decide(facts(true, true, cancelled, Status::Charging)),
                Action::Wait
            );
        }
    }

    #[test]
    fn an_unavailable_provider_is_called_again_later_until_the_attempts_are_spent() {
        let unavailable = |calls| Charge::Unavailable { calls };
        assert_eq!(after_call(&Charge::Approved, 3), AfterCall::Charged);
        assert_eq!(
            after_call(&Charge::Declined("card_declined".into()), 3),
            AfterCall::Failed("card_declined".into())
        );
        assert_eq!(
            after_call(&unavailable(1), 3),
            AfterCall::Retry(Duration::from_millis(200))
        );
        assert_eq!(
            after_call(&unavailable(2), 3),
            AfterCall::Retry(Duration::from_millis(400))
        );
        assert_eq!(
            after_call(&unavailable(3), 3),
            AfterCall::Failed("processing_error".into())
        );
        assert_eq!(
            after_call(&unavailable(40), 100),
            AfterCall::Retry(Duration::from_secs(5))
        );
    }

    #[test]
    fn the_test_tokens_answer_as_the_contract_says() {
        assert_eq!(provider("tok_visa"), ProviderAnswer::Approved);
        assert_eq!(provider("tok_mastercard"), ProviderAnswer::Approved);
        assert_eq!(
            provider("tok_chargeDeclined"),
            ProviderAnswer::Declined("card_declined")
        );
        assert_eq!(
            provider("tok_insufficientFunds"),
            ProviderAnswer::Declined("insufficient_funds")
        );
        assert_eq!(provider("tok_processingError"), ProviderAnswer::Unavailable);
        assert_eq!(
            provider("4242424242424242"),
            ProviderAnswer::Declined("invalid_token")
        );
    }
}
