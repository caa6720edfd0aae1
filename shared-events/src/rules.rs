//! Field rules the contract sets for commands, as plain functions: the gateway applies
//! them to answer 400 with every problem at once, and the owning service applies them
//! again, because commands can also come from a replay.

use std::collections::BTreeMap;

use crate::messages::catalog::{CreateProduct, UpdateProduct};

/// Field name → what is wrong with it.
pub type Problems = BTreeMap<&'static str, String>;

/// ISO 4217 codes of the currencies in circulation.
const CURRENCIES: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD \
BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP \
ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK \
JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK \
MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG \
QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT \
TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL";

/// Whether `code` is an ISO 4217 currency code in circulation (upper case).
pub fn is_currency(code: &str) -> bool {
    code.len() == 3 && CURRENCIES.split_whitespace().any(|c| c == code)
}

/// Whether `text` holds a control character (NUL, escape, backspace…). A line break or a
/// tab is allowed where `multiline` says so. PostgreSQL refuses NUL in text, terminals
/// and logs act on the others, and none has a place in a name or a reason.
pub fn has_control_characters(text: &str, multiline: bool) -> bool {
    text.chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
}

/// The problem with a one-line text of 1 to `max` characters (trimmed), if any.
pub fn line_problem(text: &str, max: usize) -> Option<String> {
    if has_control_characters(text, false) {
        Some("must not contain control characters".into())
    } else if !(1..=max).contains(&text.trim().chars().count()) {
        Some(format!("must be 1 to {max} characters"))
    } else {
        None
    }
}

fn check_name(name: &str, problems: &mut Problems) {
    if let Some(problem) = line_problem(name, 200) {
        problems.insert("name", problem);
    }
}

fn check_description(description: &str, problems: &mut Problems) {
    if has_control_characters(description, true) {
        problems.insert(
            "description",
            "must not contain control characters other than line breaks and tabs".into(),
        );
    } else if description.chars().count() > 5000 {
        problems.insert("description", "must be at most 5,000 characters".into());
    }
}

fn check_category(category: &str, problems: &mut Problems) {
    if let Some(problem) = line_problem(category, 100) {
        problems.insert("category", problem);
    }
}

fn check_price(price_cents: i64, problems: &mut Problems) {
    if price_cents <= 0 {
        problems.insert("priceCents", "must be greater than 0".into());
    }
}

fn check_currency(currency: &str, problems: &mut Problems) {
    if !is_currency(currency) {
        problems.insert(
            "currency",
            "must be an ISO 4217 code in upper case, e.g. EUR".into(),
        );
    }
}

/// Every problem of a new product.
pub fn check_new_product(product: &CreateProduct) -> Result<(), Problems> {
    let mut problems = Problems::new();
    let sku = product.sku.trim();
    if sku.is_empty()
        || sku.chars().count() > 64
        || sku.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        problems.insert("sku", "must be 1 to 64 characters without spaces".into());
    }
    check_name(&product.name, &mut problems);
    check_description(&product.description, &mut problems);
    check_category(&product.category, &mut problems);
    check_price(product.price_cents, &mut problems);
    check_currency(&product.currency, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Every problem of a product update; an update that changes nothing is one too.
pub fn check_product_update(update: &UpdateProduct) -> Result<(), Problems> {
    let mut problems = Problems::new();
    if let Some(name) = &update.name {
        check_name(name, &mut problems);
    }
    if let Some(description) = &update.description {
        check_description(description, &mut problems);
    }
    if let Some(category) = &update.category {
        check_category(category, &mut problems);
    }
    if let Some(price_cents) = update.price_cents {
        check_price(price_cents, &mut problems);
    }
    if let Some(currency) = &update.currency {
        check_currency(currency, &mut problems);
    }
    let changes_something = update.name.is_some()
        || update.description.is_some()
        || update.category.is_some()
        || update.price_cents.is_some()
        || update.currency.is_some();
    if !changes_something {
        problems.insert(
            "body",
            "name, description, category, priceCents or currency".into(),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Largest single stock adjustment, either way.
pub const MAX_ADJUSTMENT: i64 = 1_000_000_000;

/// Whether `delta` is a stock adjustment: not zero, at most [`MAX_ADJUSTMENT`] either
/// way. Compared as a range, so that `i64::MIN` (whose absolute value does not exist)
/// is refused like any other out-of-bounds number.
pub fn is_adjustment(delta: i64) -> bool {
    delta != 0 && (-MAX_ADJUSTMENT..=MAX_ADJUSTMENT).contains(&delta)
}

/// The one-line reason for a service to give when a replayed command breaks the rules.
pub fn describe(problems: &Problems) -> String {
    problems
        .iter()
        .map(|(field, problem)| format!("{field} {problem}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn product() -> CreateProduct {
        CreateProduct {
            product_id: Uuid::nil(),
            seller_id: Uuid::nil(),
            sku: "MUG-1".into(),
            name: "Mug".into(),
            description: "A mug".into(),
            category: "kitchen".into(),
            price_cents: 1299,
            currency: "EUR".into(),
            initial_stock: 10,
        }
    }

    #[test]
    fn a_sound_product_passes() {
        assert_eq!(check_new_product(&product()), Ok(()));
    }

    #[test]
    fn every_broken_field_is_reported() {
        let broken = CreateProduct {
            sku: "has space".into(),
            name: "x".repeat(201),
            description: "x".repeat(5001),
            category: " ".into(),
            price_cents: 0,
            currency: "eur".into(),
            ..product()
        };
        let problems = check_new_product(&broken).unwrap_err();
        let fields: Vec<_> = problems.keys().copied().collect();
        assert_eq!(
            fields,
            [
                "category",
                "currency",
                "description",
                "name",
                "priceCents",
                "sku"
            ]
        );
    }

    #[test]
    fn adjustments_are_bounded_both_ways_without_overflow() {
        assert!(is_adjustment(1) && is_adjustment(-MAX_ADJUSTMENT));
        for delta in [0, MAX_ADJUSTMENT + 1, i64::MIN, i64::MAX] {
            assert!(!is_adjustment(delta), "{delta}");
        }
    }

    #[test]
    fn control_characters_are_refused_in_every_text_field() {
        let poisoned = CreateProduct {
            sku: "LAMP\u{0}".into(),
            name: "Lamp\u{0}".into(),
            description: "Warm\nlight\u{1b}[31m".into(),
            category: "home\u{7f}".into(),
            ..product()
        };
        let problems = check_new_product(&poisoned).unwrap_err();
        assert_eq!(
            problems.keys().copied().collect::<Vec<_>>(),
            ["category", "description", "name", "sku"]
        );
        assert!(problems["name"].contains("control characters"));
        let multiline = CreateProduct {
            description: "Warm\r\n\tlight".into(),
            ..product()
        };
        assert_eq!(check_new_product(&multiline), Ok(()));
        let update = UpdateProduct {
            name: Some("Lamp\u{0}".into()),
            ..UpdateProduct::default()
        };
        assert!(check_product_update(&update)
            .unwrap_err()
            .contains_key("name"));
    }

    #[test]
    fn names_are_counted_in_characters_not_bytes() {
        let accented = CreateProduct {
            name: "é".repeat(200),
            ..product()
        };
        assert_eq!(check_new_product(&accented), Ok(()));
    }

    #[test]
    fn only_circulating_iso_codes_are_currencies() {
        assert!(is_currency("EUR") && is_currency("JPY") && is_currency("USD"));
        assert!(!is_currency("XYZ") && !is_currency("EU") && !is_currency("eur"));
    }

    #[test]
    fn an_update_must_change_something_valid() {
        let empty = UpdateProduct::default();
        assert!(check_product_update(&empty)
            .unwrap_err()
            .contains_key("body"));
        let negative = UpdateProduct {
            price_cents: Some(-5),
            ..UpdateProduct::default()
        };
        assert!(check_product_update(&negative)
            .unwrap_err()
            .contains_key("priceCents"));
        let rename = UpdateProduct {
            name: Some("Cup".into()),
            ..UpdateProduct::default()
        };
        assert_eq!(check_product_update(&rename), Ok(()));
    }
}
