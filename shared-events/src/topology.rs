//! Who sends what on each topic, keyed how, and who reads it: the map of
//! docs/messages.md as data, from which `schemas/asyncapi.json` is generated.
//!
//! Message types are named through their Rust types, so a renamed type cannot leave
//! the map behind. Which services send them is stated here once and kept to the
//! services' code by review; which read them is also what the runtime goes by: each
//! consumer skips, before its store, the types on its topics that its entry here does
//! not list ([`not_read_by`]).

use crate::messages::reply::Reply;
use crate::messages::{auth, cart, catalog, inventory, order, payment};
use crate::{Message, Service, Topic};

/// Who sends or reads messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    /// A service of the platform.
    Service(Service),
    /// A person with a console producer or `./dev` (operator commands, dead letters).
    Operator,
}

impl Party {
    /// `"gateway"`, `"order"`, ..., or `"operator"`.
    pub fn name(&self) -> &'static str {
        match self {
            Party::Service(service) => service.name(),
            Party::Operator => "operator",
        }
    }
}

/// A message type on a topic and what its record key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed {
    /// The envelope `type`.
    pub kind: &'static str,
    /// What the record key holds, e.g. "the order id".
    pub key: &'static str,
}

/// One topic: what travels on it, who sends which, who reads which.
#[derive(Debug, Clone)]
pub struct Channel {
    /// The topic.
    pub topic: Topic,
    /// What the topic is for, in a sentence.
    pub summary: &'static str,
    /// The message types on it with their keys; empty for a dead-letter topic, which
    /// holds whatever its service could not process.
    pub messages: Vec<Keyed>,
    /// Each sender and the types it sends.
    pub senders: Vec<(Party, Vec<&'static str>)>,
    /// Each reader and the types it handles (it skips the others).
    pub readers: Vec<(Party, Vec<&'static str>)>,
}

const USER_ID: &str = "the user id";
const PRODUCT_ID: &str = "the product id";
const ORDER_ID: &str = "the order id";
const CORRELATION_ID: &str = "the correlation id";

/// `M` keyed by `key`.
fn keyed<M: Message>(key: &'static str) -> Keyed {
    Keyed { kind: M::TYPE, key }
}

/// Every type of `messages`.
fn kinds(messages: &[Keyed]) -> Vec<&'static str> {
    messages.iter().map(|m| m.kind).collect()
}

/// A topic one service sends every message of and others read some of.
fn stream(
    topic: Topic,
    summary: &'static str,
    sender: Service,
    messages: Vec<Keyed>,
    readers: Vec<(Service, Vec<&'static str>)>,
) -> Channel {
    Channel {
        topic,
        summary,
        senders: vec![(Party::Service(sender), kinds(&messages))],
        readers: readers
            .into_iter()
            .map(|(service, kinds)| (Party::Service(service), kinds))
            .collect(),
        messages,
    }
}

/// A service's query topic: the gateway asks, the service answers on `gateway.replies`.
fn queries(topic: Topic, service: Service, messages: Vec<Keyed>) -> Channel {
    Channel {
        topic,
        summary: "Reads the gateway asks for; each is answered with a `gateway.reply` on \
                  the topic its `replyTo` names. Kept for an hour.",
        senders: vec![(Party::Service(Service::Gateway), kinds(&messages))],
        readers: vec![(Party::Service(service), kinds(&messages))],
        messages,
    }
}

/// Every topic of the platform, in the order of [`Topic::all`].
pub fn channels() -> Vec<Channel> {
    Topic::all().map(channel).collect()
}

/// The types on `topic` that `service` reads, or `None` when it reads nothing there.
/// A service's handler table must say the same, which the runtime checks at start.
pub fn read_by(service: Service, topic: Topic) -> Option<Vec<&'static str>> {
    channel(topic)
        .readers
        .into_iter()
        .find(|(party, _)| *party == Party::Service(service))
        .map(|(_, kinds)| kinds)
}

/// The types on `topic` that `service` does not read, or `None` when it reads nothing
/// there. The runtime skips them before they reach the service's store: on the event
/// topics most of what passes is somebody else's business.
pub fn not_read_by(service: Service, topic: Topic) -> Option<Vec<&'static str>> {
    let channel = channel(topic);
    let (_, read) = channel
        .readers
        .iter()
        .find(|(party, _)| *party == Party::Service(service))?;
    Some(
        kinds(&channel.messages)
            .into_iter()
            .filter(|kind| !read.contains(kind))
            .collect(),
    )
}

/// What travels on `topic`, and between whom.
pub fn channel(topic: Topic) -> Channel {
    use Service::{Auth, Cart, Catalog, Gateway, Inventory, Order, Payment};
    let gateway = Party::Service(Gateway);
    match topic {
        Topic::AuthCommands => stream(
            topic,
            "Registrations, from the gateway.",
            Gateway,
            vec![keyed::<auth::RegisterUser>(USER_ID)],
            vec![(Auth, vec![auth::RegisterUser::TYPE])],
        ),
        Topic::CatalogCommands => {
            let messages = vec![
                keyed::<catalog::CreateProduct>(PRODUCT_ID),
                keyed::<catalog::UpdateProduct>(PRODUCT_ID),
                keyed::<catalog::DeactivateProduct>(PRODUCT_ID),
            ];
            let all = kinds(&messages);
            stream(
                topic,
                "Sellers' changes to their products, from the gateway.",
                Gateway,
                messages,
                vec![(Catalog, all)],
            )
        }
        Topic::InventoryCommands => Channel {
            topic,
            summary: "Stock adjustments from the gateway, reorder points from operators.",
            messages: vec![
                keyed::<inventory::AdjustStock>(PRODUCT_ID),
                keyed::<inventory::SetReorderPoint>(PRODUCT_ID),
            ],
            senders: vec![
                (gateway, vec![inventory::AdjustStock::TYPE]),
                (Party::Operator, vec![inventory::SetReorderPoint::TYPE]),
            ],
            readers: vec![(
                Party::Service(Inventory),
                vec![
                    inventory::AdjustStock::TYPE,
                    inventory::SetReorderPoint::TYPE,
                ],
            )],
        },
        Topic::OrderCommands => {
            let from_gateway = vec![
                order::PlaceOrder::TYPE,
                order::CancelOrder::TYPE,
                order::AdvanceStatus::TYPE,
            ];
            let messages = vec![
                keyed::<order::PlaceOrder>(ORDER_ID),
                keyed::<order::CancelOrder>(ORDER_ID),
                keyed::<order::ExpireOrder>(ORDER_ID),
                keyed::<order::AdvanceStatus>(ORDER_ID),
            ];
            Channel {
                topic,
                summary: "Orders placed, cancelled and advanced through the gateway, and \
                          the order service's own deadline commands.",
                senders: vec![
                    (gateway, from_gateway),
                    (Party::Service(Order), vec![order::ExpireOrder::TYPE]),
                ],
                readers: vec![(Party::Service(Order), kinds(&messages))],
                messages,
            }
        }
        Topic::CartCommands => {
            let messages = vec![
                keyed::<cart::AddCartItem>(USER_ID),
                keyed::<cart::SetCartQuantity>(USER_ID),
                keyed::<cart::RemoveCartItem>(USER_ID),
                keyed::<cart::ClearCart>(USER_ID),
            ];
            let all = kinds(&messages);
            stream(
                topic,
                "Buyers' changes to their carts, from the gateway.",
                Gateway,
                messages,
                vec![(Cart, all)],
            )
        }
        Topic::AuthEvents => stream(
            topic,
            "Registrations that happened: the record of users, read by no service inside \
             the platform.",
            Auth,
            vec![keyed::<auth::UserRegistered>(USER_ID)],
            vec![],
        ),
        Topic::CatalogEvents => {
            let messages = vec![
                keyed::<catalog::ProductCreated>(PRODUCT_ID),
                keyed::<catalog::ProductUpdated>(PRODUCT_ID),
                keyed::<catalog::ProductDeactivated>(PRODUCT_ID),
            ];
            let all = kinds(&messages);
            stream(
                topic,
                "Products listed, changed and withdrawn.",
                Catalog,
                messages,
                vec![
                    (Order, all.clone()),
                    (Cart, all),
                    (Inventory, vec![catalog::ProductCreated::TYPE]),
                ],
            )
        }
        Topic::InventoryEvents => stream(
            topic,
            "Stock levels, and the outcome of each order's reservation.",
            Inventory,
            vec![
                keyed::<inventory::StockChanged>(PRODUCT_ID),
                keyed::<inventory::StockReserved>(ORDER_ID),
                keyed::<inventory::StockReservationFailed>(ORDER_ID),
                keyed::<inventory::StockReleased>(ORDER_ID),
                keyed::<inventory::StockCommitted>(ORDER_ID),
                keyed::<inventory::LowStock>(PRODUCT_ID),
            ],
            vec![
                (Catalog, vec![inventory::StockChanged::TYPE]),
                (
                    Order,
                    vec![
                        inventory::StockReserved::TYPE,
                        inventory::StockReservationFailed::TYPE,
                    ],
                ),
                (Payment, vec![inventory::StockReserved::TYPE]),
            ],
        ),
        Topic::OrderEvents => stream(
            topic,
            "Each order's life: placed, rejected, confirmed, cancelled, and every status \
             change.",
            Order,
            vec![
                keyed::<order::OrderPlaced>(ORDER_ID),
                keyed::<order::OrderRejected>(ORDER_ID),
                keyed::<order::OrderConfirmed>(ORDER_ID),
                keyed::<order::OrderCancelled>(ORDER_ID),
                keyed::<order::OrderStatusChanged>(ORDER_ID),
            ],
            vec![
                (
                    Inventory,
                    vec![
                        order::OrderPlaced::TYPE,
                        order::OrderConfirmed::TYPE,
                        order::OrderCancelled::TYPE,
                    ],
                ),
                (
                    Payment,
                    vec![order::OrderPlaced::TYPE, order::OrderCancelled::TYPE],
                ),
                (Gateway, vec![order::OrderStatusChanged::TYPE]),
                (Cart, vec![order::OrderPlaced::TYPE]),
            ],
        ),
        Topic::PaymentEvents => stream(
            topic,
            "Charges and refunds.",
            Payment,
            vec![
                keyed::<payment::PaymentSucceeded>(ORDER_ID),
                keyed::<payment::PaymentFailed>(ORDER_ID),
                keyed::<payment::PaymentRefunded>(ORDER_ID),
            ],
            vec![(
                Order,
                vec![
                    payment::PaymentSucceeded::TYPE,
                    payment::PaymentFailed::TYPE,
                ],
            )],
        ),
        Topic::AuthQueries => queries(
            topic,
            Auth,
            vec![
                keyed::<auth::Login>("the email address as typed"),
                keyed::<auth::GetUser>(USER_ID),
            ],
        ),
        Topic::CatalogQueries => queries(
            topic,
            Catalog,
            vec![
                keyed::<catalog::GetProduct>(PRODUCT_ID),
                keyed::<catalog::ListProducts>(CORRELATION_ID),
            ],
        ),
        Topic::InventoryQueries => queries(
            topic,
            Inventory,
            vec![
                keyed::<inventory::GetStock>(PRODUCT_ID),
                keyed::<inventory::ListLowStock>(CORRELATION_ID),
            ],
        ),
        Topic::OrderQueries => queries(
            topic,
            Order,
            vec![
                keyed::<order::GetOrder>(ORDER_ID),
                keyed::<order::ListOrders>("the asking user's id"),
            ],
        ),
        Topic::PaymentQueries => {
            queries(topic, Payment, vec![keyed::<payment::GetPayment>(ORDER_ID)])
        }
        Topic::CartQueries => queries(topic, Cart, vec![keyed::<cart::GetCart>(USER_ID)]),
        Topic::GatewayReplies => Channel {
            topic,
            summary: "Outcomes of commands and answers to queries, for the gateway \
                      instance waiting on them. Kept for an hour.",
            messages: vec![keyed::<Reply>(CORRELATION_ID)],
            senders: [Auth, Catalog, Order, Inventory, Payment, Cart]
                .into_iter()
                .map(|service| (Party::Service(service), vec![Reply::TYPE]))
                .collect(),
            readers: vec![(gateway, vec![Reply::TYPE])],
        },
        Topic::AuthKeys => Channel {
            topic,
            summary: "The public keys tokens are verified with; a tombstone (a record \
                      without value) revokes a key. Compacted: the latest per key id.",
            messages: vec![keyed::<auth::SigningKeyPublished>(
                "the key id: the key's RFC 7638 thumbprint",
            )],
            senders: vec![(Party::Service(Auth), vec![auth::SigningKeyPublished::TYPE])],
            readers: vec![(gateway, vec![auth::SigningKeyPublished::TYPE])],
        },
        Topic::Dlq(service) => Channel {
            topic,
            summary: "Records the service could not process, unchanged (key, value, \
                      headers) with `dlq.*` headers saying why, and a marker per re-driven \
                      dead letter (docs/operations.md).",
            messages: vec![],
            senders: vec![(Party::Service(service), vec![])],
            readers: vec![(Party::Operator, vec![])],
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::messages::all_message_types;

    #[test]
    fn every_message_type_travels_on_one_topic() {
        let mut seen = BTreeSet::new();
        for channel in channels() {
            for message in &channel.messages {
                assert!(seen.insert(message.kind), "{} twice", message.kind);
            }
        }
        let all: BTreeSet<_> = all_message_types().into_iter().map(|(t, _)| t).collect();
        assert_eq!(seen, all);
    }

    #[test]
    fn a_reader_skips_the_types_on_its_topic_that_it_does_not_read() {
        let skipped = not_read_by(Service::Payment, Topic::InventoryEvents).unwrap();
        assert!(skipped.contains(&inventory::StockChanged::TYPE));
        assert!(skipped.contains(&inventory::LowStock::TYPE));
        assert!(!skipped.contains(&inventory::StockReserved::TYPE));
        assert_eq!(skipped.len(), 5);
        let all = not_read_by(Service::Order, Topic::OrderCommands).unwrap();
        assert!(all.is_empty(), "order reads every command: {all:?}");
        assert_eq!(not_read_by(Service::Payment, Topic::CatalogEvents), None);
    }

    #[test]
    fn senders_and_readers_name_only_the_types_on_their_topic() {
        for channel in channels() {
            let on_topic = kinds(&channel.messages);
            let named = channel.senders.iter().chain(&channel.readers);
            for (party, types) in named {
                for kind in types {
                    assert!(
                        on_topic.contains(kind),
                        "{} names {kind}, not on {}",
                        party.name(),
                        channel.topic.base_name()
                    );
                }
            }
            let sent: BTreeSet<_> = channel.senders.iter().flat_map(|(_, t)| t).collect();
            assert_eq!(sent.len(), on_topic.len(), "{}", channel.topic.base_name());
        }
    }
}
