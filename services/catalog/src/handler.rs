//! What the catalog does with each message it consumes: seller commands on
//! `catalog.commands`, and the stock inventory reports on `inventory.events`.

use kafka_runtime::{HandlerError, Handlers, Handles, Incoming, Outbox};
use mongodb::bson::doc;
use mongodb::{ClientSession, Collection, Database};
use shared_events::access::{may_act_on, Owner};
use shared_events::messages::catalog::{
    CreateProduct, DeactivateProduct, ProductCreated, ProductDeactivated, UpdateProduct,
};
use shared_events::messages::inventory::StockChanged;
use shared_events::messages::reply::{CommandOutcome, ReplyCode};
use shared_events::{rules, Envelope, Topic};
use uuid::Uuid;

use crate::domain;
use crate::store::{self, ProductDocument};

/// Applies the catalog's commands and keeps its stock projection.
pub struct CatalogHandler {
    products: Collection<ProductDocument>,
}

impl CatalogHandler {
    /// A handler over the products of `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            products: store::products(db),
        }
    }
}

impl Handles<ClientSession> for CatalogHandler {
    fn handlers() -> Handlers<Self, ClientSession> {
        Handlers::new()
            .on(Topic::CatalogCommands, create)
            .on(Topic::CatalogCommands, update)
            .on(Topic::CatalogCommands, deactivate)
            .on_latest(Topic::InventoryEvents, stock_changed)
    }
}

fn reply_ok(message: &Incoming, outbox: &mut Outbox, product_id: Uuid) {
    outbox.done(&message.envelope, CommandOutcome::Product { product_id });
}

/// Lists a product and announces it with its opening stock for inventory. A replay of
/// the same product (same id and sku) succeeds again without a second event.
async fn create(
    catalog: &CatalogHandler,
    message: &Incoming,
    command: CreateProduct,
    session: &mut ClientSession,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let products = &catalog.products;
    rules::check_new_product(&command)
        .map_err(|problems| HandlerError::Rejected(rules::describe(&problems)))?;
    if !may_act_on(
        message.envelope.actor.as_ref(),
        Owner::Seller(command.seller_id),
    ) {
        let text = "only a seller lists products, for themselves";
        outbox.refuse(&message.envelope, ReplyCode::Forbidden, text);
        return Ok(());
    }
    let product = ProductDocument::new(&command);
    let by_id = doc! { "_id": &product.product_id };
    if let Some(existing) = products.find_one(by_id).session(&mut *session).await? {
        if existing.sku == product.sku && existing.seller_id == product.seller_id {
            reply_ok(message, outbox, command.product_id);
        } else {
            let text = "another product has this id";
            outbox.refuse(&message.envelope, ReplyCode::ProductIdTaken, text);
        }
        return Ok(());
    }
    let by_sku = doc! { "sku": &product.sku };
    if products
        .find_one(by_sku)
        .session(&mut *session)
        .await?
        .is_some()
    {
        let text = "another product has this sku";
        outbox.refuse(&message.envelope, ReplyCode::SkuTaken, text);
        return Ok(());
    }
    // A concurrent create of the same sku on another partition fails here with a
    // duplicate key; the retry then finds it above and answers sku_taken.
    products.insert_one(&product).session(&mut *session).await?;
    let created = ProductCreated {
        product_id: command.product_id,
        seller_id: command.seller_id,
        sku: product.sku,
        name: product.name,
        description: product.description,
        category: product.category,
        price_cents: product.price_cents,
        currency: product.currency,
        initial_stock: command.initial_stock,
        image_url: product.image_url,
    };
    let event = Envelope::caused_by(&message.envelope, created);
    outbox.send(Topic::CatalogEvents, command.product_id, &event);
    reply_ok(message, outbox, command.product_id);
    Ok(())
}

/// Loads a product for a change by `message`'s actor, or answers why not.
async fn load_for_edit(
    message: &Incoming,
    product_id: Uuid,
    products: &Collection<ProductDocument>,
    session: &mut ClientSession,
    outbox: &mut Outbox,
) -> Result<Option<ProductDocument>, HandlerError> {
    let by_id = doc! { "_id": product_id.to_string() };
    let Some(product) = products.find_one(by_id).session(session).await? else {
        outbox.refuse(&message.envelope, ReplyCode::NotFound, "no such product");
        return Ok(None);
    };
    let owner = product.seller().unwrap_or_default();
    if !may_act_on(message.envelope.actor.as_ref(), Owner::Seller(owner)) {
        let text = "only the product's seller or an admin may change it";
        outbox.refuse(&message.envelope, ReplyCode::Forbidden, text);
        return Ok(None);
    }
    Ok(Some(product))
}

/// Changes what differs and announces exactly that; an update that changes nothing
/// succeeds without an event.
async fn update(
    catalog: &CatalogHandler,
    message: &Incoming,
    command: UpdateProduct,
    session: &mut ClientSession,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let products = &catalog.products;
    rules::check_product_update(&command)
        .map_err(|problems| HandlerError::Rejected(rules::describe(&problems)))?;
    let Some(product) =
        load_for_edit(message, command.product_id, products, session, outbox).await?
    else {
        return Ok(());
    };
    if let Some(changed) = domain::changes(&product.editable(), &command) {
        let mut edited = product.editable();
        domain::apply(&mut edited, &changed);
        products
            .update_one(
                doc! { "_id": &product.product_id },
                doc! { "$set": product.edit(&edited) },
            )
            .session(&mut *session)
            .await?;
        let event = Envelope::caused_by(&message.envelope, changed);
        outbox.send(Topic::CatalogEvents, command.product_id, &event);
    }
    reply_ok(message, outbox, command.product_id);
    Ok(())
}

/// Hides a product from lists and announces it, once.
async fn deactivate(
    catalog: &CatalogHandler,
    message: &Incoming,
    command: DeactivateProduct,
    session: &mut ClientSession,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let products = &catalog.products;
    let Some(product) =
        load_for_edit(message, command.product_id, products, session, outbox).await?
    else {
        return Ok(());
    };
    if product.active {
        let set = doc! { "$set": { "active": false, "updatedAt": mongodb::bson::DateTime::now() } };
        products
            .update_one(doc! { "_id": &product.product_id }, set)
            .session(&mut *session)
            .await?;
        let deactivated = ProductDeactivated {
            product_id: command.product_id,
        };
        let event = Envelope::caused_by(&message.envelope, deactivated);
        outbox.send(Topic::CatalogEvents, command.product_id, &event);
    }
    reply_ok(message, outbox, command.product_id);
    Ok(())
}

/// Keeps `availableStock` as inventory reports it. Stock events of one product come
/// in order (they are keyed by product), so the last one applied is the latest; each
/// carries the whole figure, so in a batch only the last of a product is applied
/// (`on_latest`).
async fn stock_changed(
    catalog: &CatalogHandler,
    _: &Incoming,
    stock: StockChanged,
    session: &mut ClientSession,
    _: &mut Outbox,
) -> Result<(), HandlerError> {
    let products = &catalog.products;
    let set = doc! { "$set": { "availableStock": stock.available } };
    let updated = products
        .update_one(doc! { "_id": stock.product_id.to_string() }, set)
        .session(session)
        .await?;
    if updated.matched_count == 0 {
        tracing::warn!(product_id = %stock.product_id, "stock reported for a product the catalog does not have");
    }
    Ok(())
}
