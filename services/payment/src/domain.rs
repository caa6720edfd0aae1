//! Payment's decisions as plain functions: what to do with an order given what is
//! known of it, and what the simulated provider answers for a token.

/// Where an order's payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not charged yet.
    Waiting,
    /// Charged.
    Succeeded,
    /// The charge failed for good.
    Failed,
    /// Charged, then given back.
    Refunded,
    /// Cancelled before any charge: it never will be charged.
    Voided,
}

impl Status {
    /// The name stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Refunded => "refunded",
            Self::Voided => "voided",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Waiting,
            Self::Succeeded,
            Self::Failed,
            Self::Refunded,
            Self::Voided,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

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
/// any order; the answer depends only on which have arrived.
pub fn decide(facts: Facts) -> Action {
    match facts.status {
        Status::Waiting if facts.cancelled => Action::Void,
        Status::Waiting if facts.placed && facts.stock_reserved => Action::Charge,
        Status::Succeeded if facts.cancelled => Action::Refund,
        _ => Action::Wait,
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

/// The test tokens of CONTRACT.md: `tok_visa` and `tok_mastercard` are charged,
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

    #[test]
    fn statuses_read_back_as_written() {
        for s in [
            Status::Waiting,
            Status::Succeeded,
            Status::Failed,
            Status::Refunded,
            Status::Voided,
        ] {
            assert_eq!(Status::parse(s.name()), Some(s));
        }
    }
}
