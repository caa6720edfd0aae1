//! Field rules the contract sets for commands, as plain functions: the gateway applies
//! them to answer 400 with every problem at once, and the owning service applies them
//! again, because commands can also come from a replay.

use std::collections::BTreeMap;

use crate::messages::catalog::{CreateProduct, UpdateProduct};
use crate::messages::inventory::AdjustStock;
use crate::messages::order::{PlaceOrder, ShippingAddress};

/// Field name → what is wrong with it: the `details` of every 400 the gateway answers,
/// and what a service reports when a replayed command breaks the rules.
pub type Problems = BTreeMap<&'static str, String>;

// The limits of the contract, in one place: the checks below, the gateway's request
// schemas (`#[schemars(length(max = ..))]`) and its login route all read them.

/// Longest sku, in characters.
pub const MAX_SKU: usize = 64;
/// Longest product name, in characters.
pub const MAX_PRODUCT_NAME: usize = 200;
/// Longest product description, in characters.
pub const MAX_DESCRIPTION: usize = 5000;
/// Longest category, in characters.
pub const MAX_CATEGORY: usize = 100;
/// Longest email address, in bytes (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;
/// Shortest password, in characters.
pub const MIN_PASSWORD: usize = 8;
/// Longest password, in bytes: bcrypt reads no more, so a longer one would be cut.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// Longest payment provider token, in bytes.
pub const MAX_PAYMENT_TOKEN: usize = 100;
/// Longest line of a shipping address (its name, line1, line2), in characters.
pub const MAX_ADDRESS_LINE: usize = 200;
/// Longest city of a shipping address, in characters.
pub const MAX_CITY: usize = 100;
/// Longest catalog search text, in characters.
pub const MAX_SEARCH_TEXT: usize = 200;
/// Highest page number of a list.
pub const MAX_PAGE: u32 = 1_000_000;
/// Most items on one page of a list.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Items on a page when the client does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 20;

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
    if let Some(problem) = line_problem(name, MAX_PRODUCT_NAME) {
        problems.insert("name", problem);
    }
}

fn check_description(description: &str, problems: &mut Problems) {
    if has_control_characters(description, true) {
        problems.insert(
            "description",
            "must not contain control characters other than line breaks and tabs".into(),
        );
    } else if description.chars().count() > MAX_DESCRIPTION {
        problems.insert("description", "must be at most 5,000 characters".into());
    }
}

fn check_category(category: &str, problems: &mut Problems) {
    if let Some(problem) = line_problem(category, MAX_CATEGORY) {
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

/// Longest product image address.
pub const MAX_IMAGE_URL: usize = 2048;

/// The problem with a product image address, if any: an absolute `https` URL with a
/// host, up to [`MAX_IMAGE_URL`] characters. Browsers load it straight from the seller's
/// host, so nothing else (no `http`, no `data:` or `javascript:`) is let through.
pub fn image_url_problem(image_url: &str) -> Option<String> {
    let well_formed = url::Url::parse(image_url)
        .is_ok_and(|url| url.scheme() == "https" && url.host_str().is_some_and(|h| !h.is_empty()));
    if image_url.chars().count() > MAX_IMAGE_URL {
        Some(format!("must be at most {MAX_IMAGE_URL} characters"))
    } else if !well_formed || image_url.trim() != image_url {
        Some("must be an https URL, e.g. https://images.example.com/mug.jpg".into())
    } else {
        None
    }
}

fn check_image_url(image_url: &str, problems: &mut Problems) {
    if let Some(problem) = image_url_problem(image_url) {
        problems.insert("imageUrl", problem);
    }
}

/// Every problem of a new product.
pub fn check_new_product(product: &CreateProduct) -> Result<(), Problems> {
    let mut problems = Problems::new();
    let sku = product.sku.trim();
    if sku.is_empty()
        || sku.chars().count() > MAX_SKU
        || sku.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        problems.insert(
            "sku",
            format!("must be 1 to {MAX_SKU} characters without spaces"),
        );
    }
    check_name(&product.name, &mut problems);
    check_description(&product.description, &mut problems);
    check_category(&product.category, &mut problems);
    check_price(product.price_cents, &mut problems);
    check_currency(&product.currency, &mut problems);
    if let Some(image_url) = &product.image_url {
        check_image_url(image_url, &mut problems);
    }
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
    // An empty address removes the image.
    if let Some(image_url) = update.image_url.as_deref().filter(|url| !url.is_empty()) {
        check_image_url(image_url, &mut problems);
    }
    let changes_something = update.name.is_some()
        || update.description.is_some()
        || update.category.is_some()
        || update.price_cents.is_some()
        || update.currency.is_some()
        || update.image_url.is_some();
    if !changes_something {
        problems.insert(
            "body",
            "name, description, category, priceCents, currency or imageUrl".into(),
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

/// Most lines an order may have.
pub const MAX_ORDER_LINES: usize = 50;
/// Most units one line of an order may ask for.
pub const MAX_LINE_QUANTITY: u32 = 1_000;

/// Whether a line (of an order or a cart) may hold `quantity` units: 1 to 1,000.
pub fn is_line_quantity(quantity: u32) -> bool {
    (1..=MAX_LINE_QUANTITY).contains(&quantity)
}
/// Longest display name of a user, in characters.
pub const MAX_USER_NAME: usize = 100;
/// Longest reason of a stock adjustment, in characters.
pub const MAX_ADJUSTMENT_REASON: usize = 200;

/// An email address trimmed and lower-cased (the form it is stored and compared in),
/// if it is one: one `@`, a non-empty local part, a dotted domain, at most
/// [`MAX_EMAIL`] bytes, no whitespace or control characters.
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let well_formed = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.len() <= MAX_EMAIL
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    well_formed.then_some(email)
}

/// The problem with a new password, if any: [`MIN_PASSWORD`] to [`MAX_PASSWORD_BYTES`].
pub fn password_problem(password: &str) -> Option<String> {
    (password.chars().count() < MIN_PASSWORD || password.len() > MAX_PASSWORD_BYTES)
        .then(|| format!("must be {MIN_PASSWORD} to {MAX_PASSWORD_BYTES} bytes long"))
}

/// Checks an order's lines and payment token: 1 to 50 lines of 1 to 1,000 units, and
/// a provider token such as `tok_visa`, never something shaped like a card number.
pub fn check_place_order(order: &PlaceOrder) -> Result<(), Problems> {
    let mut problems = Problems::new();
    if !(1..=MAX_ORDER_LINES).contains(&order.items.len()) {
        problems.insert("items", "must have 1 to 50 lines".into());
    } else if order
        .items
        .iter()
        .any(|line| !is_line_quantity(line.quantity))
    {
        problems.insert("items", "every quantity must be 1 to 1,000".into());
    }
    if !is_payment_token(&order.payment_token) {
        problems.insert(
            "paymentToken",
            "must be a payment provider token such as tok_visa, never a card number".into(),
        );
    }
    problems.extend(address_problems(&order.shipping_address));
    done(problems)
}

/// ISO 3166-1 alpha-2 codes of the countries and territories.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG \
BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW \
CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL \
GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE \
KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM \
MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH \
PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS \
ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG \
VI VN VU WF WS YE YT ZA ZM ZW";

/// Whether `code` is an ISO 3166-1 alpha-2 country code (upper case).
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && COUNTRIES.split_whitespace().any(|c| c == code)
}

/// The address as it is stored: every line trimmed, an empty `line2` dropped, the
/// country in upper case.
pub fn normalize_address(address: ShippingAddress) -> ShippingAddress {
    let trim = |text: String| text.trim().to_string();
    ShippingAddress {
        name: trim(address.name),
        line1: trim(address.line1),
        line2: address.line2.map(trim).filter(|line| !line.is_empty()),
        city: trim(address.city),
        postal_code: trim(address.postal_code),
        country: address.country.trim().to_uppercase(),
    }
}

/// Every problem of a shipping address, each named by its field.
pub fn address_problems(address: &ShippingAddress) -> Problems {
    let mut problems = Problems::new();
    let lines = [
        (
            "shippingAddress.name",
            Some(&address.name),
            MAX_ADDRESS_LINE,
        ),
        (
            "shippingAddress.line1",
            Some(&address.line1),
            MAX_ADDRESS_LINE,
        ),
        ("shippingAddress.city", Some(&address.city), MAX_CITY),
        (
            "shippingAddress.line2",
            address.line2.as_ref(),
            MAX_ADDRESS_LINE,
        ),
    ];
    for (field, text, max) in lines {
        if let Some(problem) = text.and_then(|text| line_problem(text, max)) {
            problems.insert(field, problem);
        }
    }
    let postal_code = address.postal_code.trim();
    if !(1..=20).contains(&postal_code.len())
        || !postal_code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
    {
        problems.insert(
            "shippingAddress.postalCode",
            "must be 1 to 20 letters, digits, spaces or hyphens".into(),
        );
    }
    if !is_country(&address.country) {
        problems.insert(
            "shippingAddress.country",
            "must be an ISO 3166-1 alpha-2 code in upper case, e.g. DE".into(),
        );
    }
    problems
}

/// Whether `token` is shaped like a provider token: 1 to [`MAX_PAYMENT_TOKEN`] letters, digits, `_` and
/// `-`, and not 12 or more digits (a card number typed where a token belongs).
pub fn is_payment_token(token: &str) -> bool {
    let looks_like_a_card = token.len() >= 12 && token.chars().all(|c| c.is_ascii_digit());
    let token_shaped = !token.is_empty()
        && token.len() <= MAX_PAYMENT_TOKEN
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    token_shaped && !looks_like_a_card
}

/// Checks a stock adjustment: a non-zero delta within [`MAX_ADJUSTMENT`] and a reason
/// of 1 to [`MAX_ADJUSTMENT_REASON`] characters on one line.
pub fn check_adjustment(adjustment: &AdjustStock) -> Result<(), Problems> {
    let mut problems = Problems::new();
    if !is_adjustment(adjustment.delta) {
        problems.insert(
            "delta",
            "must be a non-zero number of units, at most 1,000,000,000 either way".into(),
        );
    }
    if let Some(problem) = line_problem(&adjustment.reason, MAX_ADJUSTMENT_REASON) {
        problems.insert("reason", problem);
    }
    done(problems)
}

fn done(problems: Problems) -> Result<(), Problems> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
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
            image_url: Some("https://images.example.com/mug.jpg".into()),
        }
    }

    #[test]
    fn a_sound_product_passes() {
        assert_eq!(check_new_product(&product()), Ok(()));
    }

    #[test]
    fn an_image_is_an_https_url_of_at_most_2048_characters() {
        let long = format!("https://images.example.com/{}", "a".repeat(2048));
        for bad in [
            "http://images.example.com/mug.jpg",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "//images.example.com/mug.jpg",
            "https://",
            " https://images.example.com/mug.jpg",
            "mug.jpg",
            long.as_str(),
        ] {
            assert!(image_url_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(
            image_url_problem("https://cdn.example.com/a/b.png?w=200"),
            None
        );
    }

    #[test]
    fn an_update_may_remove_the_image_with_an_empty_address() {
        let removal = UpdateProduct {
            image_url: Some(String::new()),
            ..UpdateProduct::default()
        };
        assert_eq!(check_product_update(&removal), Ok(()));
        let insecure = UpdateProduct {
            image_url: Some("http://example.com/a.png".into()),
            ..UpdateProduct::default()
        };
        let problems = check_product_update(&insecure).unwrap_err();
        assert!(problems.contains_key("imageUrl"));
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
            image_url: Some("ftp://example.com/a.png".into()),
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
                "imageUrl",
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

    #[test]
    fn an_email_is_normalized_or_refused() {
        assert_eq!(
            normalize_email("  Ada@Example.COM "),
            Some("ada@example.com".into())
        );
        for bad in [
            "ada",
            "@example.com",
            "ada@example",
            "ada@.com",
            "ada@com.",
            "a b@c.io",
            "a@b@c.io",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
        assert_eq!(
            normalize_email(&format!("{}@example.com", "a".repeat(250))),
            None
        );
    }

    #[test]
    fn a_password_is_8_to_72_bytes() {
        assert!(password_problem("1234567").is_some());
        assert!(password_problem("12345678").is_none());
        assert!(password_problem(&"é".repeat(37)).is_some(), "74 bytes");
    }

    fn order(lines: &[u32], token: &str) -> PlaceOrder {
        let items = lines
            .iter()
            .map(|&quantity| crate::messages::order::OrderLine {
                product_id: Uuid::new_v4(),
                quantity,
            })
            .collect();
        PlaceOrder {
            order_id: Uuid::nil(),
            user_id: Uuid::nil(),
            items,
            payment_token: token.into(),
            shipping_address: address(),
            cart_version: None,
        }
    }

    fn address() -> ShippingAddress {
        ShippingAddress {
            name: "Ada Lovelace".into(),
            line1: "12 St James's Square".into(),
            line2: None,
            city: "London".into(),
            postal_code: "SW1Y 4JH".into(),
            country: "GB".into(),
        }
    }

    #[test]
    fn an_address_is_normalized_then_every_broken_field_is_named() {
        let typed = ShippingAddress {
            name: "  Ada ".into(),
            line2: Some("  ".into()),
            country: " gb".into(),
            ..address()
        };
        let normal = normalize_address(typed);
        assert_eq!(
            (normal.name.as_str(), normal.line2, normal.country.as_str()),
            ("Ada", None, "GB")
        );
        assert!(address_problems(&address()).is_empty());
        let broken = ShippingAddress {
            name: String::new(),
            line1: "x".repeat(201),
            line2: Some("Flat\u{0}2".into()),
            city: "Lon\ndon".into(),
            postal_code: "SW1Y;4JH".into(),
            country: "UK".into(),
        };
        let fields: Vec<_> = address_problems(&broken).into_keys().collect();
        assert_eq!(
            fields,
            [
                "shippingAddress.city",
                "shippingAddress.country",
                "shippingAddress.line1",
                "shippingAddress.line2",
                "shippingAddress.name",
                "shippingAddress.postalCode",
            ]
        );
        assert!(is_country("DE") && is_country("ZW") && !is_country("de") && !is_country("EU"));
        assert_eq!(COUNTRIES.split_whitespace().count(), 249);
    }

    #[test]
    fn an_order_needs_1_to_50_lines_of_1_to_1000_units_and_a_token() {
        assert_eq!(check_place_order(&order(&[1, 1000], "tok_visa")), Ok(()));
        let problems = |lines: &[u32], token: &str| {
            let found = check_place_order(&order(lines, token)).unwrap_err();
            found.keys().copied().collect::<Vec<_>>()
        };
        assert_eq!(problems(&[], "tok_visa"), ["items"]);
        assert_eq!(problems(&[1; 51], "tok_visa"), ["items"]);
        assert_eq!(problems(&[0], "tok_visa"), ["items"]);
        assert_eq!(problems(&[1001], "tok_visa"), ["items"]);
        assert_eq!(problems(&[1], "4242424242424242"), ["paymentToken"]);
        assert_eq!(problems(&[1], "tok visa"), ["paymentToken"]);
        assert_eq!(problems(&[], ""), ["items", "paymentToken"]);
    }

    #[test]
    fn an_adjustment_needs_a_bounded_delta_and_a_reason() {
        let adjustment = |delta, reason: &str| AdjustStock {
            product_id: Uuid::nil(),
            delta,
            reason: reason.into(),
        };
        assert_eq!(check_adjustment(&adjustment(-5, "broken")), Ok(()));
        let broken = check_adjustment(&adjustment(0, "")).unwrap_err();
        assert_eq!(
            broken.keys().copied().collect::<Vec<_>>(),
            ["delta", "reason"]
        );
        assert!(check_adjustment(&adjustment(i64::MIN, "x")).is_err());
    }
}
