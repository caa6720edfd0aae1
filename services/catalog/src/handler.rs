//! What the catalog does with each message it consumes: seller commands on
//! `catalog.commands`, and the stock inventory reports on `inventory.events`.

use kafka_runtime::mongo::MongoHandler;
use kafka_runtime::{HandlerError, Incoming, Outbox};
use mongodb::bson::doc;
use mongodb::{ClientSession, Collection, Database};
use shared_events::access::{may_act_on, Owner};
use shared_events::messages::catalog::{
    CreateProduct, DeactivateProduct, ProductCreated, ProductDeactivated, UpdateProduct,
};
use shared_events::messages::inventory::StockChanged;
use shared_events::messages::reply::{CommandOutcome, Reply};
use shared_events::{rules, Envelope, Message, Topic, Topics};
use uuid::Uuid;

use crate::domain;
use crate::store::{self, ProductDocument};

/// Applies the catalog's commands and keeps its stock projection.
pub struct CatalogHandler {
    products: Collection<ProductDocument>,
    inventory_events: String,
}

impl CatalogHandler {
    /// A handler over the products of `db`.
    pub fn new(db: &Database, topics: &Topics) -> Self {
        Self {
            products: store::products(db),
            inventory_events: topics.name(Topic::InventoryEvents),
        }
    }
}

impl MongoHandler for CatalogHandler {
    async fn handle(
        &self,
        message: &Incoming,
        session: &mut ClientSession,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let products = &self.products;
        match message.envelope.kind.as_str() {
            CreateProduct::TYPE => create(message, products, session, outbox).await,
            UpdateProduct::TYPE => update(message, products, session, outbox).await,
            DeactivateProduct::TYPE => deactivate(message, products, session, outbox).await,
            StockChanged::TYPE => stock_changed(message, products, session).await,
            // Reservations and the like: inventory's business, not the catalog's.
            _ if message.topic == self.inventory_events => Ok(()),
            _ => Err(message.unknown_type()),
        }
    }
}

fn reply_ok(message: &Incoming, outbox: &mut Outbox, product_id: Uuid) {
    let correlation_id = message.envelope.correlation_id;
    let reply = Reply::done(correlation_id, &CommandOutcome::Product { product_id });
    outbox.reply(&message.envelope, reply);
}

fn reply_failure(message: &Incoming, outbox: &mut Outbox, code: &str, text: &str) {
    let reply = Reply::failure(message.envelope.correlation_id, code, text);
    outbox.reply(&message.envelope, reply);
}

/// Lists a product and announces it with its opening stock for inventory. A replay of
/// the same product (same id and sku) succeeds again without a second event.
async fn create(
    message: &Incoming,
    products: &Collection<ProductDocument>,
    session: &mut ClientSession,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let command = message.data::<CreateProduct>()?;
    rules::check_new_product(&command)
        .map_err(|problems| HandlerError::Rejected(rules::describe(&problems)))?;
    if !may_act_on(
        message.envelope.actor.as_ref(),
        Owner::Seller(command.seller_id),
    ) {
        reply_failure(
            message,
            outbox,
            "forbidden",
            "only a seller lists products, for themselves",
        );
        return Ok(());
    }
    let product = ProductDocument::new(&command);
    let by_id = doc! { "_id": &product.product_id };
    if let Some(existing) = products.find_one(by_id).session(&mut *session).await? {
        if existing.sku == product.sku && existing.seller_id == product.seller_id {
            reply_ok(message, outbox, command.product_id);
        } else {
            reply_failure(
                message,
                outbox,
                "product_id_taken",
                "another product has this id",
            );
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
        reply_failure(message, outbox, "sku_taken", "another product has this sku");
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
        reply_failure(message, outbox, "not_found", "no such product");
        return Ok(None);
    };
    let owner = product.seller().unwrap_or_default();
    if !may_act_on(message.envelope.actor.as_ref(), Owner::Seller(owner)) {
        reply_failure(
            message,
            outbox,
            "forbidden",
            "only the product's seller or an admin may change it",
        );
        return Ok(None);
    }
    Ok(Some(product))
}

/// Changes what differs and announces exactly that; an update that changes nothing
/// succeeds without an event.
async fn update(
    message: &Incoming,
    products: &Collection<ProductDocument>,
    session: &mut ClientSession,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let command = message.data::<UpdateProduct>()?;
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
    message: &Incoming,
    products: &Collection<ProductDocument>,
    session: &mut ClientSession,
    outbox: &mut Outbox,
) -> Result<(), HandlerError> {
    let command = message.data::<DeactivateProduct>()?;
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
/// in order (they are keyed by product), so the last one applied is the latest.
async fn stock_changed(
    message: &Incoming,
    products: &Collection<ProductDocument>,
    session: &mut ClientSession,
) -> Result<(), HandlerError> {
    let stock = message.data::<StockChanged>()?;
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
