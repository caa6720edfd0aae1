//! The catalog's decisions as plain functions: who may change a product, what an
//! update really changes, and how text search and paging are read.

use std::collections::BTreeSet;

use shared_events::messages::catalog::{ProductUpdated, UpdateProduct};

/// Largest page a list answers.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// Words of a search that count; the rest are ignored.
const MAX_QUERY_WORDS: usize = 8;
/// Longest word kept in the search terms; longer words are cut to it.
const MAX_TERM_CHARS: usize = 40;

/// The fields of a product an update may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editable {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category: String,
    /// Unit price in minor units.
    pub price_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// An https image, when it has one.
    pub image_url: Option<String>,
}

/// The fields `update` really changes (trimmed like at creation), as the event says
/// them; `None` when it changes nothing, so a repeated update emits nothing.
pub fn changes(current: &Editable, update: &UpdateProduct) -> Option<ProductUpdated> {
    fn differs<T: PartialEq + Clone>(new: &Option<T>, old: &T) -> Option<T> {
        new.as_ref().filter(|new| *new != old).cloned()
    }
    let trimmed = |value: &Option<String>| value.as_ref().map(|v| v.trim().to_string());
    let changed = ProductUpdated {
        product_id: update.product_id,
        name: differs(&trimmed(&update.name), &current.name),
        description: differs(&update.description, &current.description),
        category: differs(&trimmed(&update.category), &current.category),
        price_cents: differs(&update.price_cents, &current.price_cents),
        currency: differs(&update.currency, &current.currency),
        // An empty address removes the image: it changes something only when there is one.
        image_url: differs(
            &update.image_url,
            &current.image_url.clone().unwrap_or_default(),
        ),
    };
    let nothing = ProductUpdated {
        product_id: update.product_id,
        ..ProductUpdated::default()
    };
    (changed != nothing).then_some(changed)
}

/// Applies the changed fields to `current`.
pub fn apply(current: &mut Editable, changed: &ProductUpdated) {
    let ProductUpdated {
        name,
        description,
        category,
        price_cents,
        currency,
        image_url,
        ..
    } = changed.clone();
    current.name = name.unwrap_or(std::mem::take(&mut current.name));
    current.description = description.unwrap_or(std::mem::take(&mut current.description));
    current.category = category.unwrap_or(std::mem::take(&mut current.category));
    current.price_cents = price_cents.unwrap_or(current.price_cents);
    current.currency = currency.unwrap_or(std::mem::take(&mut current.currency));
    if let Some(image_url) = image_url {
        current.image_url = Some(image_url).filter(|url| !url.is_empty());
    }
}

/// Lower-case words of `text`: runs of letters and digits.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.to_lowercase().chars().take(MAX_TERM_CHARS).collect())
}

/// What a product is found by: the distinct words of its name, description and sku.
/// Stored as an indexed array, so a search is an index lookup.
pub fn search_terms(name: &str, description: &str, sku: &str) -> Vec<String> {
    let terms: BTreeSet<String> = words(name)
        .chain(words(description))
        .chain(words(sku))
        .collect();
    terms.into_iter().collect()
}

/// The words of a search `q`. A product matches when every word is the beginning of
/// one of its terms: `blue mu` finds "Blue mug". Only letters and digits remain, so
/// the words are safe inside an anchored regular expression.
pub fn query_words(q: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    words(q)
        .filter(|word| seen.insert(word.clone()))
        .take(MAX_QUERY_WORDS)
        .collect()
}

/// The page and page size to answer: pages start at 1, sizes are 1 to 100 (20 when
/// not given).
pub fn paging(page: u32, page_size: u32) -> (u32, u32) {
    let size = if page_size == 0 {
        DEFAULT_PAGE_SIZE
    } else {
        page_size.min(MAX_PAGE_SIZE)
    };
    (page.max(1), size)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn mug() -> Editable {
        Editable {
            name: "Mug".into(),
            description: "Blue".into(),
            category: "kitchen".into(),
            price_cents: 1299,
            currency: "EUR".into(),
            image_url: None,
        }
    }

    #[test]
    fn an_image_is_set_replaced_and_removed_with_an_empty_address() {
        let mut product = mug();
        let set = |url: &str| UpdateProduct {
            image_url: Some(url.into()),
            ..UpdateProduct::default()
        };
        assert_eq!(changes(&product, &set("")), None, "nothing to remove yet");
        let changed = changes(&product, &set("https://img.example.com/1.png")).unwrap();
        apply(&mut product, &changed);
        assert_eq!(
            product.image_url.as_deref(),
            Some("https://img.example.com/1.png")
        );
        assert_eq!(
            changes(&product, &set("https://img.example.com/1.png")),
            None
        );
        let removed = changes(&product, &set("")).expect("the image goes");
        assert_eq!(removed.image_url.as_deref(), Some(""));
        apply(&mut product, &removed);
        assert_eq!(product.image_url, None);
    }

    #[test]
    fn an_update_reports_only_what_differs() {
        let update = UpdateProduct {
            product_id: Uuid::nil(),
            name: Some(" Mug ".into()),
            price_cents: Some(999),
            ..UpdateProduct::default()
        };
        let changed = changes(&mug(), &update).expect("the price changes");
        assert_eq!(changed.name, None);
        assert_eq!(changed.price_cents, Some(999));
        let mut product = mug();
        apply(&mut product, &changed);
        assert_eq!(product.price_cents, 999);
        assert_eq!(
            changes(&product, &update),
            None,
            "applied twice changes nothing"
        );
    }

    #[test]
    fn search_terms_are_the_distinct_lower_case_words() {
        let terms = search_terms("Blue Mug", "A blue, stoneware mug.", "MUG-001");
        assert_eq!(terms, ["001", "a", "blue", "mug", "stoneware"]);
    }

    #[test]
    fn a_query_keeps_only_word_characters() {
        assert_eq!(query_words("  Blue .* MU(g) blue"), ["blue", "mu", "g"]);
        assert!(query_words("$^.*").is_empty());
    }

    #[test]
    fn paging_is_bounded() {
        assert_eq!(paging(0, 0), (1, DEFAULT_PAGE_SIZE));
        assert_eq!(paging(3, 500), (3, MAX_PAGE_SIZE));
        assert_eq!(paging(2, 7), (2, 7));
    }
}
