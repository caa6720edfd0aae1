//! The catalog routes. Writes are commands on `catalog.commands` by sellers and admins;
//! a change to an existing product is checked here against its owner first (the
//! catalog checks again). Reads are queries on `catalog.queries`, open to anyone.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use schemars::JsonSchema;
use serde::Deserialize;
use shared_events::access::Owner;
use shared_events::messages::catalog::{
    CreateProduct, DeactivateProduct, GetProduct, ListProducts, ProductPage, ProductView,
    UpdateProduct,
};
use shared_events::rules::{self, Problems};
use shared_events::{Envelope, Message, Topic};
use uuid::Uuid;

use crate::dispatch::{Accepted, Command, Correlation, ProductAccepted, Resource};
use crate::error::ApiError;
use crate::extract::{Body, Id};
use crate::tokens::{User, SELLERS};
use crate::AppState;

/// The body of `POST /api/products`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewProduct {
    /// Stock-keeping unit: unique, without spaces.
    #[schemars(length(min = 1, max = rules::MAX_SKU))]
    sku: String,
    /// Name.
    #[schemars(length(min = 1, max = rules::MAX_PRODUCT_NAME))]
    name: String,
    /// Description.
    #[serde(default)]
    #[schemars(length(max = rules::MAX_DESCRIPTION))]
    description: String,
    /// Category.
    #[schemars(length(min = 1, max = rules::MAX_CATEGORY))]
    category: String,
    /// Unit price in minor units.
    #[schemars(range(min = 1))]
    price_cents: i64,
    /// ISO 4217 code in upper case, e.g. EUR.
    #[schemars(regex(pattern = "^[A-Z]{3}$"))]
    currency: String,
    /// Units in stock to begin with.
    #[serde(default)]
    #[schemars(range(min = 0))]
    initial_stock: i64,
    image_url: Option<String>,
}

impl NewProduct {
    /// The command for `seller_id`, or every problem with the body.
    pub fn command(self, product_id: Uuid, seller_id: Uuid) -> Result<CreateProduct, Problems> {
        let initial_stock = u32::try_from(self.initial_stock).ok();
        let command = CreateProduct {
            product_id,
            seller_id,
            sku: self.sku.trim().to_string(),
            name: self.name.trim().to_string(),
            description: self.description,
            category: self.category.trim().to_string(),
            price_cents: self.price_cents,
            currency: self.currency,
            initial_stock: initial_stock.unwrap_or_default(),
            image_url: self.image_url,
        };
        let mut problems = rules::check_new_product(&command).err().unwrap_or_default();
        if initial_stock.is_none() {
            problems.insert("initialStock", "must be 0 or more".into());
        }
        if problems.is_empty() {
            Ok(command)
        } else {
            Err(problems)
        }
    }
}

/// `POST /api/products`: a seller lists a product (for themselves) with its opening
/// stock. 202 with `Location: /api/products/{id}`.
pub async fn create(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    user: User,
    Body(body): Body<NewProduct>,
) -> Result<Accepted<ProductAccepted>, ApiError> {
    user.require(SELLERS)?;
    let product_id = Uuid::new_v4();
    let command = body
        .command(product_id, user.id)
        .map_err(ApiError::problems)?;
    let envelope = Envelope::new(command, correlation_id, Some(user.actor()));
    let command = Command::new(Topic::CatalogCommands, product_id, envelope)
        .makes(Resource::Product(product_id));
    state.accept(command, ProductAccepted::of(product_id)).await
}

/// The body of `PATCH /api/products/{id}`: the fields to change, at least one.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("minProperties" = 1))]
pub struct ProductChanges {
    /// Name.
    #[schemars(length(min = 1, max = rules::MAX_PRODUCT_NAME))]
    name: Option<String>,
    /// Description.
    #[schemars(length(max = rules::MAX_DESCRIPTION))]
    description: Option<String>,
    /// Category.
    #[schemars(length(min = 1, max = rules::MAX_CATEGORY))]
    category: Option<String>,
    /// Unit price in minor units.
    #[schemars(range(min = 1))]
    price_cents: Option<i64>,
    /// ISO 4217 code in upper case, e.g. EUR.
    #[schemars(regex(pattern = "^[A-Z]{3}$"))]
    currency: Option<String>,
    image_url: Option<String>,
}

impl ProductChanges {
    /// The command, or every problem with the body.
    pub fn command(self, product_id: Uuid) -> Result<UpdateProduct, Problems> {
        let command = UpdateProduct {
            product_id,
            name: self.name.map(|n| n.trim().to_string()),
            description: self.description,
            category: self.category.map(|c| c.trim().to_string()),
            price_cents: self.price_cents,
            currency: self.currency,
            image_url: self.image_url,
        };
        rules::check_product_update(&command)?;
        Ok(command)
    }
}

/// 404 when the product does not exist, 403 when `user` may not change it.
async fn check_owner(
    state: &AppState,
    correlation_id: Uuid,
    user: &User,
    product_id: Uuid,
) -> Result<(), ApiError> {
    let query = Envelope::new(
        GetProduct { product_id },
        correlation_id,
        Some(user.actor()),
    );
    let product = state.ask(Topic::CatalogQueries, product_id, query).await?;
    if user.may_act_on(Owner::Seller(product.seller_id)) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Sends a change to an existing product, after checking its owner.
async fn change<T: Message>(
    state: &AppState,
    correlation_id: Uuid,
    user: User,
    product_id: Uuid,
    command: T,
) -> Result<Accepted<ProductAccepted>, ApiError> {
    check_owner(state, correlation_id, &user, product_id).await?;
    let envelope = Envelope::new(command, correlation_id, Some(user.actor()));
    let command = Command::new(Topic::CatalogCommands, product_id, envelope)
        .changes(Resource::Product(product_id));
    state.accept(command, ProductAccepted::of(product_id)).await
}

/// `PATCH /api/products/{id}`: the owning seller or an admin changes some fields.
pub async fn update(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    Id(product_id): Id,
    user: User,
    Body(body): Body<ProductChanges>,
) -> Result<Accepted<ProductAccepted>, ApiError> {
    user.require(SELLERS)?;
    let command = body.command(product_id).map_err(ApiError::problems)?;
    change(&state, correlation_id, user, product_id, command).await
}

/// `DELETE /api/products/{id}`: the owning seller or an admin stops selling it.
pub async fn deactivate(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    Id(product_id): Id,
    user: User,
) -> Result<Accepted<ProductAccepted>, ApiError> {
    user.require(SELLERS)?;
    let command = DeactivateProduct { product_id };
    change(&state, correlation_id, user, product_id, command).await
}

/// `GET /api/products/{id}`: one product with its available stock.
pub async fn get(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    Id(product_id): Id,
) -> Result<Json<ProductView>, ApiError> {
    let query = Envelope::new(GetProduct { product_id }, correlation_id, None);
    state
        .ask(Topic::CatalogQueries, product_id, query)
        .await
        .map(Json)
}

/// Reads the list filters, reporting every bad one.
pub fn list_query(params: &HashMap<String, String>) -> Result<ListProducts, Problems> {
    let mut problems = Problems::new();
    let mut number = |name: &'static str, min: i64, max: i64| -> Option<i64> {
        let raw = params.get(name)?;
        match raw.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                problems.insert(name, format!("must be a whole number from {min} to {max}"));
                None
            }
        }
    };
    let min_price = number("minPrice", 0, i64::MAX);
    let max_price = number("maxPrice", 0, i64::MAX);
    let page = number("page", 1, rules::MAX_PAGE.into()).unwrap_or(1) as u32;
    let page_size = number("pageSize", 1, rules::MAX_PAGE_SIZE.into())
        .unwrap_or(rules::DEFAULT_PAGE_SIZE.into()) as u32;
    let in_stock = match params.get("inStock").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            problems.insert("inStock", "must be true or false".into());
            None
        }
    };
    let seller_id = match params.get("sellerId").map(|v| v.trim().parse::<Uuid>()) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            problems.insert("sellerId", "must be a UUID".into());
            None
        }
    };
    if let (Some(min), Some(max)) = (min_price, max_price) {
        if min > max {
            problems.insert("maxPrice", "must not be below minPrice".into());
        }
    }
    let text = |name: &str| {
        params
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let too_long = |q: &String| q.chars().count() > rules::MAX_SEARCH_TEXT;
    let q = text("q").filter(|q| !too_long(q));
    if params.get("q").is_some_and(too_long) {
        problems.insert(
            "q",
            format!("must be at most {} characters", rules::MAX_SEARCH_TEXT),
        );
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ListProducts {
        q,
        category: text("category"),
        min_price,
        max_price,
        in_stock,
        seller_id,
        page,
        page_size,
    })
}

/// `GET /api/products?q=&category=&minPrice=&maxPrice=&inStock=&sellerId=&page=&pageSize=`:
/// a page of active products, newest first, with the total over all pages.
pub async fn list(
    State(state): State<AppState>,
    Correlation(correlation_id): Correlation,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<ProductPage>, ApiError> {
    let query = list_query(&params).map_err(ApiError::query_problems)?;
    let envelope = Envelope::new(query, correlation_id, None);
    state
        .ask(Topic::CatalogQueries, correlation_id, envelope)
        .await
        .map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_product_named_with_a_nul_character_is_refused_by_field() {
        let body: NewProduct = serde_json::from_value(serde_json::json!({
            "sku": "LAMP-1", "name": "Lamp\u{0}", "category": "home",
            "priceCents": 1000, "currency": "EUR", "initialStock": 5
        }))
        .unwrap();
        let problems = body.command(Uuid::new_v4(), Uuid::new_v4()).unwrap_err();
        assert_eq!(
            problems["name"], "must not contain control characters",
            "{problems:?}"
        );
    }

    #[test]
    fn list_filters_default_to_the_first_page_of_twenty() {
        let query = list_query(&params(&[])).unwrap();
        assert_eq!((query.page, query.page_size, query.q), (1, 20, None));
    }

    #[test]
    fn every_bad_list_filter_is_reported() {
        let bad = params(&[
            ("minPrice", "-1"),
            ("maxPrice", "ten"),
            ("inStock", "yes"),
            ("sellerId", "me"),
            ("page", "0"),
            ("pageSize", "101"),
        ]);
        let problems = list_query(&bad).unwrap_err();
        for field in [
            "minPrice", "maxPrice", "inStock", "sellerId", "page", "pageSize",
        ] {
            assert!(
                problems.contains_key(field),
                "{field} not reported in {problems:?}"
            );
        }
    }

    #[test]
    fn a_price_range_must_not_be_upside_down() {
        let problems =
            list_query(&params(&[("minPrice", "500"), ("maxPrice", "100")])).unwrap_err();
        assert!(problems.contains_key("maxPrice"));
    }

    #[test]
    fn a_new_product_reports_every_problem() {
        let body = NewProduct {
            sku: "".into(),
            name: "Mug".into(),
            description: String::new(),
            category: "kitchen".into(),
            price_cents: 0,
            currency: "EURO".into(),
            initial_stock: -1,
            image_url: Some("http://example.com/mug.jpg".into()),
        };
        let problems = body.command(Uuid::nil(), Uuid::nil()).unwrap_err();
        for field in ["sku", "priceCents", "currency", "initialStock", "imageUrl"] {
            assert!(
                problems.contains_key(field),
                "{field} not reported in {problems:?}"
            );
        }
    }
}
