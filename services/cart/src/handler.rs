//! What the cart service does with each message it consumes: buyers' commands on
//! `cart.commands`, products on `catalog.events`, and placed orders on `order.events`.

use kafka_runtime::mongo::MongoHandler;
use kafka_runtime::{HandlerError, Incoming, Outbox};
use mongodb::bson::doc;
use mongodb::{ClientSession, Collection, Database};
use shared_events::access::{may_act_on, Owner};
use shared_events::messages::cart::{AddCartItem, ClearCart, RemoveCartItem, SetCartQuantity};
use shared_events::messages::catalog::{ProductCreated, ProductDeactivated, ProductUpdated};
use shared_events::messages::order::OrderPlaced;
use shared_events::messages::reply::{CommandOutcome, Reply};
use shared_events::{Message, Topic, Topics};
use uuid::Uuid;

use crate::domain::{Cart, Product, Refusal};
use crate::store::{self, CartDocument, ProductDocument};

/// Applies buyers' cart commands and keeps the product view.
pub struct CartHandler {
    carts: Collection<CartDocument>,
    products: Collection<ProductDocument>,
    catalog_events: String,
    order_events: String,
}

impl CartHandler {
    /// A handler over the carts and products of `db`.
    pub fn new(db: &Database, topics: &Topics) -> Self {
        Self {
            carts: store::carts(db),
            products: store::products(db),
            catalog_events: topics.name(Topic::CatalogEvents),
            order_events: topics.name(Topic::OrderEvents),
        }
    }

    async fn product(
        &self,
        product_id: Uuid,
        session: &mut ClientSession,
    ) -> Result<Option<Product>, HandlerError> {
        let found = self
            .products
            .find_one(doc! { "_id": product_id.to_string() })
            .session(session)
            .await?;
        Ok(found.as_ref().map(ProductDocument::product))
    }

    /// Loads `user_id`'s cart for a command of `message`'s actor, changes it with
    /// `change`, stores it when it changed, and answers the cart's version or why not.
    async fn change_cart(
        &self,
        message: &Incoming,
        user_id: Uuid,
        session: &mut ClientSession,
        outbox: &mut Outbox,
        change: impl FnOnce(&mut Cart) -> Result<bool, Refusal>,
    ) -> Result<(), HandlerError> {
        let correlation_id = message.envelope.correlation_id;
        if !may_act_on(message.envelope.actor.as_ref(), Owner::Buyer(user_id)) {
            let reply = Reply::failure(correlation_id, "forbidden", "a cart is its buyer's");
            outbox.reply(&message.envelope, reply);
            return Ok(());
        }
        let mut cart = store::load(&self.carts, user_id, session).await?;
        let reply = match change(&mut cart) {
            Ok(changed) => {
                if changed {
                    store::save(&self.carts, user_id, &cart, session).await?;
                }
                let version = cart.version;
                Reply::done(correlation_id, &CommandOutcome::Cart { user_id, version })
            }
            Err(refusal) => Reply::failure(correlation_id, refusal.code(), refusal.message()),
        };
        outbox.reply(&message.envelope, reply);
        Ok(())
    }

    async fn add(
        &self,
        message: &Incoming,
        session: &mut ClientSession,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let command = message.data::<AddCartItem>()?;
        let product = self.product(command.product_id, session).await?;
        self.change_cart(message, command.user_id, session, outbox, |cart| {
            cart.add(command.product_id, command.quantity, product.as_ref())
        })
        .await
    }

    async fn set(
        &self,
        message: &Incoming,
        session: &mut ClientSession,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let command = message.data::<SetCartQuantity>()?;
        let product = self.product(command.product_id, session).await?;
        self.change_cart(message, command.user_id, session, outbox, |cart| {
            cart.set(command.product_id, command.quantity, product.as_ref())
        })
        .await
    }

    /// Empties the cart of what a checkout ordered, once that order exists.
    async fn order_placed(
        &self,
        message: &Incoming,
        session: &mut ClientSession,
    ) -> Result<(), HandlerError> {
        let placed = message.data::<OrderPlaced>()?;
        let Some(checked_out) = placed.cart_version else {
            return Ok(());
        };
        let ordered: Vec<(Uuid, u32)> = placed
            .items
            .iter()
            .map(|line| (line.product_id, line.quantity))
            .collect();
        let mut cart = store::load(&self.carts, placed.user_id, session).await?;
        if cart.order_placed(placed.order_id, checked_out, &ordered) {
            store::save(&self.carts, placed.user_id, &cart, session).await?;
        }
        Ok(())
    }

    async fn product_created(
        &self,
        message: &Incoming,
        session: &mut ClientSession,
    ) -> Result<(), HandlerError> {
        let created = message.data::<ProductCreated>()?;
        let product = ProductDocument::created(&created);
        self.products
            .replace_one(doc! { "_id": &product.product_id }, &product)
            .upsert(true)
            .session(session)
            .await?;
        Ok(())
    }

    async fn product_changed(
        &self,
        product_id: Uuid,
        update: mongodb::bson::Document,
        session: &mut ClientSession,
    ) -> Result<(), HandlerError> {
        if update.is_empty() {
            return Ok(());
        }
        let updated = self
            .products
            .update_one(doc! { "_id": product_id.to_string() }, update)
            .session(session)
            .await?;
        if updated.matched_count == 0 {
            tracing::warn!(%product_id, "change to a product the cart's view does not have");
        }
        Ok(())
    }
}

impl MongoHandler for CartHandler {
    async fn handle(
        &self,
        message: &Incoming,
        session: &mut ClientSession,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        match message.envelope.kind.as_str() {
            AddCartItem::TYPE => self.add(message, session, outbox).await,
            SetCartQuantity::TYPE => self.set(message, session, outbox).await,
            RemoveCartItem::TYPE => {
                let command = message.data::<RemoveCartItem>()?;
                self.change_cart(message, command.user_id, session, outbox, |cart| {
                    Ok(cart.remove(command.product_id))
                })
                .await
            }
            ClearCart::TYPE => {
                let command = message.data::<ClearCart>()?;
                self.change_cart(message, command.user_id, session, outbox, |cart| {
                    Ok(cart.clear())
                })
                .await
            }
            OrderPlaced::TYPE => self.order_placed(message, session).await,
            ProductCreated::TYPE => self.product_created(message, session).await,
            ProductUpdated::TYPE => {
                let changed = message.data::<ProductUpdated>()?;
                let update = store::product_changes(&changed);
                self.product_changed(changed.product_id, update, session)
                    .await
            }
            ProductDeactivated::TYPE => {
                let gone = message.data::<ProductDeactivated>()?;
                let update = doc! { "$set": { "active": false } };
                self.product_changed(gone.product_id, update, session).await
            }
            // The rest of the saga and the catalog: not the cart's business.
            _ if message.topic == self.order_events || message.topic == self.catalog_events => {
                Ok(())
            }
            _ => Err(message.unknown_type()),
        }
    }
}
