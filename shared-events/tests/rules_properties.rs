//! Property tests of the field rules (`shared_events::rules`): what holds for every
//! input, beside the example tests in the module itself. The gateway and the services
//! both apply these rules, so a rule that is not stable under its own normalisation or
//! lets a card number through would show in both.

use proptest::prelude::*;
use shared_events::messages::order::ShippingAddress;
use shared_events::rules::{
    address_problems, describe, has_control_characters, is_adjustment, is_country, is_currency,
    is_line_quantity, is_payment_token, line_problem, normalize_address, normalize_email,
    password_problem, Problems, MAX_ADJUSTMENT, MAX_LINE_QUANTITY,
};

/// Any text, control characters and non-ASCII letters included.
fn any_text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..40).prop_map(|chars| chars.into_iter().collect())
}

/// An address a person would type, with spaces around its lines and the country in
/// either case.
fn padded_real_address() -> impl Strategy<Value = ShippingAddress> {
    let line = |max: usize| {
        let pattern = format!(
            " {{0,2}}[A-Za-z0-9][A-Za-z0-9 .,'-]{{0,{}}} {{0,2}}",
            max - 1
        );
        proptest::string::string_regex(&pattern).expect("a valid pattern")
    };
    (
        line(200),
        line(200),
        prop::option::of(prop_oneof![" {0,3}", line(200)]),
        line(100),
        " {0,2}[A-Z0-9][A-Z0-9 -]{0,18} {0,2}",
        prop::sample::select(vec![" de", "DE ", "fr", "Us", "jp"]),
    )
        .prop_map(
            |(name, line1, line2, city, postal_code, country)| ShippingAddress {
                name,
                line1,
                line2,
                city,
                postal_code,
                country: country.into(),
            },
        )
}

fn any_address() -> impl Strategy<Value = ShippingAddress> {
    (
        any_text(),
        any_text(),
        prop::option::of(any_text()),
        any_text(),
        any_text(),
        any_text(),
    )
        .prop_map(
            |(name, line1, line2, city, postal_code, country)| ShippingAddress {
                name,
                line1,
                line2,
                city,
                postal_code,
                country,
            },
        )
}

proptest! {
    #[test]
    fn a_normalized_email_is_its_own_normal_form(raw in any_text()) {
        if let Some(email) = normalize_email(&raw) {
            prop_assert_eq!(normalize_email(&email), Some(email.clone()));
            prop_assert_eq!(email.matches('@').count(), 1);
            prop_assert!(email.len() <= 254);
            prop_assert_eq!(email.to_lowercase(), email.clone());
            prop_assert!(!email.chars().any(char::is_whitespace));
        }
    }

    #[test]
    fn a_plain_address_is_an_email_in_any_case_and_padding(
        local in "[a-zA-Z0-9._+-]{1,20}",
        domain in "[a-zA-Z0-9-]{1,20}\\.[a-zA-Z]{2,6}",
        padding in "[ \t]{0,3}",
    ) {
        let raw = format!("{padding}{local}@{domain}{padding}");
        let expected = format!("{local}@{domain}").to_lowercase();
        prop_assert_eq!(normalize_email(&raw), Some(expected));
    }

    #[test]
    fn a_line_is_refused_exactly_when_it_has_a_control_character_or_the_wrong_length(
        text in any_text(),
        max in 1_usize..50,
    ) {
        let length_fits = (1..=max).contains(&text.trim().chars().count());
        let fine = !has_control_characters(&text, false) && length_fits;
        prop_assert_eq!(line_problem(&text, max).is_none(), fine);
    }

    #[test]
    fn line_breaks_and_tabs_are_control_characters_only_on_one_line(
        text in "[a-z]{0,5}[\n\r\t][a-z]{0,5}",
    ) {
        prop_assert!(has_control_characters(&text, false));
        prop_assert!(!has_control_characters(&text, true));
    }

    #[test]
    fn an_adjustment_is_any_non_zero_number_within_the_bound(delta in any::<i64>()) {
        let within = delta != 0 && delta.checked_abs().is_some_and(|d| d <= MAX_ADJUSTMENT);
        prop_assert_eq!(is_adjustment(delta), within);
    }

    #[test]
    fn an_adjustment_near_the_bound_is_judged_by_its_size(delta in -MAX_ADJUSTMENT - 3..=-MAX_ADJUSTMENT + 3) {
        prop_assert_eq!(is_adjustment(delta), delta >= -MAX_ADJUSTMENT);
        prop_assert_eq!(is_adjustment(-delta), -delta <= MAX_ADJUSTMENT);
    }

    #[test]
    fn a_line_quantity_is_one_to_the_most_a_line_may_ask_for(quantity in any::<u32>()) {
        prop_assert_eq!(is_line_quantity(quantity), (1..=MAX_LINE_QUANTITY).contains(&quantity));
    }

    #[test]
    fn a_card_number_is_never_a_payment_token(digits in "[0-9]{12,19}") {
        prop_assert!(!is_payment_token(&digits));
    }

    #[test]
    fn a_token_of_the_allowed_characters_is_a_payment_token(token in "tok_[A-Za-z0-9_-]{0,96}") {
        prop_assert!(is_payment_token(&token));
    }

    #[test]
    fn a_token_with_any_other_character_is_refused(
        before in "[a-z_]{0,10}",
        other in any::<char>().prop_filter("outside the token alphabet", |c| {
            !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        }),
        after in "[a-z_]{0,10}",
    ) {
        let token = format!("{before}{other}{after}");
        prop_assert!(!is_payment_token(&token));
    }

    #[test]
    fn a_password_is_accepted_exactly_from_eight_characters_to_72_bytes(password in any_text()) {
        let fits = password.chars().count() >= 8 && password.len() <= 72;
        prop_assert_eq!(password_problem(&password).is_none(), fits);
    }

    #[test]
    fn accepted_codes_are_upper_case_letters(code in "[A-Za-z]{1,4}") {
        if is_currency(&code) {
            prop_assert!(code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()));
        }
        if is_country(&code) {
            prop_assert!(code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase()));
        }
    }

    #[test]
    fn normalizing_an_address_twice_changes_nothing_more(address in any_address()) {
        let once = normalize_address(address);
        prop_assert_eq!(normalize_address(once.clone()), once);
    }

    #[test]
    fn padding_and_lower_case_never_spoil_a_real_address_once_normalized(
        address in padded_real_address(),
    ) {
        let normalized = normalize_address(address);
        prop_assert_eq!(address_problems(&normalized), Problems::new());
    }

    #[test]
    fn a_valid_address_stays_valid_when_normalized(address in any_address()) {
        if address_problems(&address).is_empty() {
            prop_assert_eq!(address_problems(&normalize_address(address)), Problems::new());
        }
    }

    #[test]
    fn a_description_of_problems_names_every_field(
        problems in prop::collection::btree_map(
            prop::sample::select(vec!["sku", "name", "currency", "items", "reason"]),
            "[a-z ]{1,20}",
            0..5,
        ),
    ) {
        let problems: Problems = problems;
        let text = describe(&problems);
        for (field, problem) in &problems {
            let needle = format!("{field} {problem}");
            prop_assert!(text.contains(&needle));
        }
        prop_assert_eq!(text.is_empty(), problems.is_empty());
    }
}
