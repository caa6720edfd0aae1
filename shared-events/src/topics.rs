//! Topic names and their retention.
//!
//! Every name takes the deployment's prefix (`KAFKA_TOPIC_PREFIX`, default empty) so
//! that test runs can use isolated topics side by side on one broker. Code names topics
//! with [`Topic`] and turns them into strings only through [`Topics::name`].

/// The environment variable holding the topic prefix.
pub const PREFIX_ENV: &str = "KAFKA_TOPIC_PREFIX";

/// A service of the platform; each has its own dead-letter topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// The HTTP entry point.
    Gateway,
    /// Users, login and tokens.
    Auth,
    /// Products.
    Catalog,
    /// Orders and the saga's bookkeeping.
    Order,
    /// Stock levels and reservations.
    Inventory,
    /// Charges and refunds.
    Payment,
    /// Buyers' carts.
    Cart,
}

impl Service {
    /// Every service, in the order their dead-letter topics are listed.
    pub const ALL: [Service; 7] = [
        Service::Gateway,
        Service::Auth,
        Service::Catalog,
        Service::Order,
        Service::Inventory,
        Service::Payment,
        Service::Cart,
    ];

    /// The service's name as used in topic names: `"auth"`, `"order"`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Service::Gateway => "gateway",
            Service::Auth => "auth",
            Service::Catalog => "catalog",
            Service::Order => "order",
            Service::Inventory => "inventory",
            Service::Payment => "payment",
            Service::Cart => "cart",
        }
    }
}

/// How long a topic keeps its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retention {
    /// Kept for replay: commands, events and dead letters.
    Long,
    /// Only useful while someone waits: queries and replies.
    Short,
    /// The latest message per key is kept forever: `auth.keys`.
    Compacted,
}

/// A topic of the platform, without prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `auth.commands`
    AuthCommands,
    /// `catalog.commands`
    CatalogCommands,
    /// `inventory.commands`
    InventoryCommands,
    /// `order.commands`
    OrderCommands,
    /// `cart.commands`
    CartCommands,
    /// `auth.events`
    AuthEvents,
    /// `catalog.events`
    CatalogEvents,
    /// `inventory.events`
    InventoryEvents,
    /// `order.events`
    OrderEvents,
    /// `payment.events`
    PaymentEvents,
    /// `auth.queries`
    AuthQueries,
    /// `catalog.queries`
    CatalogQueries,
    /// `inventory.queries`
    InventoryQueries,
    /// `order.queries`
    OrderQueries,
    /// `payment.queries`
    PaymentQueries,
    /// `cart.queries`
    CartQueries,
    /// `gateway.replies`: replies and command outcomes, by correlation id.
    GatewayReplies,
    /// `auth.keys`: the public keys tokens are verified with, by key id (compacted).
    AuthKeys,
    /// `<service>.dlq`: messages the service could not process, with the reason.
    Dlq(Service),
}

impl Topic {
    /// Every topic except the dead-letter topics.
    pub const ALL_STREAMS: [Topic; 18] = [
        Topic::AuthCommands,
        Topic::CatalogCommands,
        Topic::InventoryCommands,
        Topic::OrderCommands,
        Topic::CartCommands,
        Topic::AuthEvents,
        Topic::CatalogEvents,
        Topic::InventoryEvents,
        Topic::OrderEvents,
        Topic::PaymentEvents,
        Topic::AuthQueries,
        Topic::CatalogQueries,
        Topic::InventoryQueries,
        Topic::OrderQueries,
        Topic::PaymentQueries,
        Topic::CartQueries,
        Topic::GatewayReplies,
        Topic::AuthKeys,
    ];

    /// Whether it is a service's query topic, answered on `gateway.replies`.
    pub fn is_queries(&self) -> bool {
        matches!(
            self,
            Topic::AuthQueries
                | Topic::CatalogQueries
                | Topic::InventoryQueries
                | Topic::OrderQueries
                | Topic::PaymentQueries
                | Topic::CartQueries
        )
    }

    /// Whether it is a command or event topic: what services consume in their groups.
    pub fn is_command_or_event(&self) -> bool {
        self.retention() == Retention::Long && !matches!(self, Topic::Dlq(_))
    }

    /// The name without prefix: `"auth.commands"`, `"gateway.replies"`, `"payment.dlq"`.
    pub fn base_name(&self) -> String {
        let name = match self {
            Topic::AuthCommands => "auth.commands",
            Topic::CatalogCommands => "catalog.commands",
            Topic::InventoryCommands => "inventory.commands",
            Topic::OrderCommands => "order.commands",
            Topic::CartCommands => "cart.commands",
            Topic::AuthEvents => "auth.events",
            Topic::CatalogEvents => "catalog.events",
            Topic::InventoryEvents => "inventory.events",
            Topic::OrderEvents => "order.events",
            Topic::PaymentEvents => "payment.events",
            Topic::AuthQueries => "auth.queries",
            Topic::CatalogQueries => "catalog.queries",
            Topic::InventoryQueries => "inventory.queries",
            Topic::OrderQueries => "order.queries",
            Topic::PaymentQueries => "payment.queries",
            Topic::CartQueries => "cart.queries",
            Topic::GatewayReplies => "gateway.replies",
            Topic::AuthKeys => "auth.keys",
            Topic::Dlq(service) => return format!("{}.dlq", service.name()),
        };
        name.to_owned()
    }

    /// The retention the contract gives this topic.
    pub fn retention(&self) -> Retention {
        match self {
            Topic::AuthQueries
            | Topic::CatalogQueries
            | Topic::InventoryQueries
            | Topic::OrderQueries
            | Topic::PaymentQueries
            | Topic::CartQueries
            | Topic::GatewayReplies => Retention::Short,
            Topic::AuthKeys => Retention::Compacted,
            Topic::AuthCommands
            | Topic::CatalogCommands
            | Topic::InventoryCommands
            | Topic::OrderCommands
            | Topic::CartCommands
            | Topic::AuthEvents
            | Topic::CatalogEvents
            | Topic::InventoryEvents
            | Topic::OrderEvents
            | Topic::PaymentEvents
            | Topic::Dlq(_) => Retention::Long,
        }
    }

    /// Every topic the platform uses: the streams, then one dead-letter topic per service.
    pub fn all() -> impl Iterator<Item = Topic> {
        Topic::ALL_STREAMS
            .into_iter()
            .chain(Service::ALL.into_iter().map(Topic::Dlq))
    }
}

/// Topic names with the deployment's prefix (`KAFKA_TOPIC_PREFIX`, default empty).
#[derive(Debug, Clone, Default)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// Names with `prefix` prepended as is (include any separator you want, e.g. `"test42."`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// Names with the prefix from `KAFKA_TOPIC_PREFIX`; no prefix when it is unset.
    pub fn from_env() -> Self {
        Self::new(std::env::var(PREFIX_ENV).unwrap_or_default())
    }

    /// The prefix in use, possibly empty.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full name of `topic`: prefix + base name.
    pub fn name(&self, topic: Topic) -> String {
        format!("{}{}", self.prefix, topic.base_name())
    }

    /// Every topic the platform uses, DLQs included, with retention — what `topics.sh` creates.
    pub fn all(&self) -> Vec<(String, Retention)> {
        Topic::all()
            .map(|topic| (self.name(topic), topic.retention()))
            .collect()
    }
}
