//! What the cart service does with each message it consumes: buyers' commands on
//! `cart.commands`, products on `catalog.events`, and placed orders on `order.events`.

use kafka_runtime::{HandlerError, Handlers, Handles, Incoming, Outbox};
use mongodb::bson::doc;
use mongodb::{ClientSession, Collection, Database};
use shared_events::access::{may_act_on, Owner};
use shared_events::messages::cart::{AddCartItem, ClearCart, RemoveCartItem, SetCartQuantity};
use shared_events::messages::catalog::{ProductCreated, ProductDeactivated, ProductUpdated};
use shared_events::messages::order::OrderPlaced;
use shared_events::messages::reply::{CommandOutcome, ReplyCode};
use shared_events::Topic;
use uuid::Uuid;

use crate::domain::{Cart, Product, Refusal};
use crate::store::{self, CartDocument, ProductDocument};

/// Applies buyers' cart commands and keeps the product view.
pub struct CartHandler {
    carts: Collection<CartDocument>,
    products: Collection<ProductDocument>,
}

impl Handles<ClientSession> for CartHandler {
    fn handlers() -> Handlers<Self, ClientSession> {
        Handlers::new()
            .on(Topic::CartCommands, Self::add)
            .on(Topic::CartCommands, Self::set)
            .on(Topic::CartCommands, Self::remove)
            .on(Topic::CartCommands, Self::clear)
            .on(Topic::OrderEvents, Self::order_placed)
            .on(Topic::CatalogEvents, Self::product_created)
            .on(Topic::CatalogEvents, Self::product_updated)
            .on(Topic::CatalogEvents, Self::product_deactivated)
    }
}

impl CartHandler {
    /// A handler over the carts and products of `db`.
    pub fn new(db: &Database) -> Self {
        Self {
            carts: store::carts(db),
            products: store::products(db),
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
        let command = &message.envelope;
        if !may_act_on(command.actor.as_ref(), Owner::Buyer(user_id)) {
            outbox.refuse(command, ReplyCode::Forbidden, "a cart is its buyer's");
            return Ok(());
        }
        let mut cart = store::load(&self.carts, user_id, session).await?;
        match change(&mut cart) {
            Ok(changed) => {
                if changed {
                    store::save(&self.carts, user_id, &cart, session).await?;
                }
                let version = cart.version;
                outbox.done(command, CommandOutcome::Cart { user_id, version });
            }
            Err(refusal) => outbox.refuse(command, refusal.code(), refusal.message()),
        }
        Ok(())
    }

    async fn add(
        &self,
        message: &Incoming,
        command: AddCartItem,
        session: &mut ClientSession,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let product = self.product(command.product_id, session).await?;
        self.change_cart(message, command.user_id, session, outbox, |cart| {
            cart.add(command.product_id, command.quantity, product.as_ref())
        })
        .await
    }

    async fn set(
        &self,
        message: &Incoming,
        command: SetCartQuantity,
        session: &mut ClientSession,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let product = self.product(command.product_id, session).await?;
        self.change_cart(message, command.user_id, session, outbox, |cart| {
            cart.set(command.product_id, command.quantity, product.as_ref())
        })
        .await
    }

    /// Empties the cart of what a checkout ordered, once that order exists.
    async fn order_placed(
        &self,
        _: &Incoming,
        placed: OrderPlaced,
        session: &mut ClientSession,
        _: &mut Outbox,
    ) -> Result<(), HandlerError> {
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
        _: &Incoming,
        created: ProductCreated,
        session: &mut ClientSession,
        _: &mut Outbox,
    ) -> Result<(), HandlerError> {
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

    async fn remove(
        &self,
        message: &Incoming,
        command: RemoveCartItem,
        session: &mut ClientSession,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        self.change_cart(message, command.user_id, session, outbox, |cart| {
            Ok(cart.remove(command.product_id))
        })
        .await
    }

    async fn clear(
        &self,
        message: &Incoming,
        command: ClearCart,
        session: &mut ClientSession,
        outbox: &mut Outbox,
    ) -> Result<(), HandlerError> {
        self.change_cart(message, command.user_id, session, outbox, |cart| {
            Ok(cart.clear())
        })
        .await
    }

    async fn product_updated(
        &self,
        _: &Incoming,
        changed: ProductUpdated,
        session: &mut ClientSession,
        _: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let update = store::product_changes(&changed);
        self.product_changed(changed.product_id, update, session)
            .await
    }

    async fn product_deactivated(
        &self,
        _: &Incoming,
        gone: ProductDeactivated,
        session: &mut ClientSession,
        _: &mut Outbox,
    ) -> Result<(), HandlerError> {
        let update = doc! { "$set": { "active": false } };
        self.product_changed(gone.product_id, update, session).await
    }
}
