//! The saga's deadline, against the real broker and PostgreSQL: an order still PENDING
//! at its deadline is cancelled with reason `timeout` and announces it; saga events
//! that arrive later change nothing; an `expire_order` that comes early is refused, so
//! the same command can still expire the order once its time has come.

use std::time::Duration;

use kafka_runtime::processor::Processor;
use kafka_runtime::{Applied, HandlerError, Incoming, Outgoing, Publisher};
use shared_events::messages::catalog::ProductCreated;
use shared_events::messages::order::{OrderCancelled, OrderLine, PlaceOrder};
use shared_events::messages::payment::PaymentSucceeded;
use shared_events::{Actor, Envelope, Message, RawEnvelope, Role, Topic};
use testkit::TestBed;
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(2);

struct Orders {
    bed: TestBed,
    processor: kafka_runtime::postgres::ServiceProcessor<order::handler::OrderHandler>,
    product_id: Uuid,
}

impl Orders {
    async fn new() -> Self {
        let bed = TestBed::new().await;
        order::migrate(&bed.pool).await.expect("migrations");
        let processor = order::processor(bed.pool.clone(), bed.kafka.topics.clone(), DEADLINE);
        let product_id = Uuid::new_v4();
        let created = ProductCreated {
            product_id,
            seller_id: Uuid::new_v4(),
            sku: "LAMP-1".into(),
            name: "Lamp".into(),
            description: String::new(),
            category: "home".into(),
            price_cents: 1_000,
            currency: "EUR".into(),
            initial_stock: 10,
            image_url: None,
        };
        let orders = Self {
            processor,
            product_id,
            bed,
        };
        let event = Envelope::new(created, Uuid::new_v4(), None);
        orders
            .apply(Topic::CatalogEvents, &event)
            .await
            .expect("product");
        orders
    }

    async fn apply<T: Message>(
        &self,
        topic: Topic,
        envelope: &Envelope<T>,
    ) -> Result<Applied, HandlerError> {
        let topic = self.bed.kafka.topics.name(topic);
        self.processor.apply(&Incoming::of(topic, envelope)).await
    }

    /// Places an order for one lamp; its id.
    async fn place(&self) -> Uuid {
        let (order_id, user_id) = (Uuid::new_v4(), Uuid::new_v4());
        let command = PlaceOrder {
            order_id,
            user_id,
            items: vec![OrderLine {
                product_id: self.product_id,
                quantity: 1,
            }],
            payment_token: "tok_visa".into(),
            shipping_address: testkit::shipping_address(),
            cart_version: None,
        };
        let actor = Actor {
            user_id,
            role: Role::Buyer,
        };
        let envelope = Envelope::start(command, Some(actor));
        self.apply(Topic::OrderCommands, &envelope)
            .await
            .expect("placed");
        order_id
    }

    async fn status(&self, order_id: Uuid) -> (String, Option<String>) {
        sqlx::query_as("SELECT status, reason FROM orders WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&self.bed.pool)
            .await
            .expect("the order")
    }
}

fn sent(applied: Applied) -> Vec<Outgoing> {
    match applied {
        Applied::Fresh(messages) => messages,
        other => panic!("expected a fresh application, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_pending_past_its_deadline_is_cancelled_for_timeout_and_a_late_payment_changes_nothing(
) {
    let orders = Orders::new().await;
    let order_id = orders.place().await;

    let early = order::deadline::expire_command(order_id);
    match orders.apply(Topic::OrderCommands, &early).await {
        Err(HandlerError::Rejected(reason)) => {
            assert!(reason.contains("not past its deadline"), "{reason}")
        }
        other => panic!("an early expiry must be refused, got {other:?}"),
    }
    assert_eq!(orders.status(order_id).await.0, "PENDING");

    tokio::time::sleep(DEADLINE + Duration::from_millis(200)).await;
    let messages = sent(
        orders
            .apply(
                Topic::OrderCommands,
                &order::deadline::expire_command(order_id),
            )
            .await
            .expect("the same command, once the deadline passed"),
    );
    assert_eq!(
        orders.status(order_id).await,
        ("CANCELLED".into(), Some("timeout".into()))
    );
    let cancelled: Vec<OrderCancelled> = messages
        .iter()
        .filter(|m| m.kind == OrderCancelled::TYPE)
        .map(|m| RawEnvelope::parse(&m.payload).unwrap().data_as().unwrap())
        .collect();
    assert_eq!(
        cancelled,
        vec![OrderCancelled {
            order_id,
            reason: "timeout".into()
        }],
        "payment refunds and inventory releases on this event"
    );

    let again = orders
        .apply(
            Topic::OrderCommands,
            &order::deadline::expire_command(order_id),
        )
        .await
        .expect("a replay");
    assert!(matches!(again, Applied::Duplicate), "{again:?}");

    let paid = PaymentSucceeded {
        order_id,
        payment_id: Uuid::new_v4(),
        amount_cents: 1_000,
        currency: "EUR".into(),
    };
    let late = sent(
        orders
            .apply(
                Topic::PaymentEvents,
                &Envelope::new(paid, Uuid::new_v4(), None),
            )
            .await
            .expect("a late payment"),
    );
    assert!(
        late.is_empty(),
        "a late payment announces nothing: {late:?}"
    );
    assert_eq!(orders.status(order_id).await.0, "CANCELLED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_sends_one_expiry_for_each_order_pending_past_its_deadline_and_no_other() {
    let orders = Orders::new().await;
    let overdue = orders.place().await;
    let confirmed = orders.place().await;
    let paid = PaymentSucceeded {
        order_id: confirmed,
        payment_id: Uuid::new_v4(),
        amount_cents: 1_000,
        currency: "EUR".into(),
    };
    orders
        .apply(
            Topic::PaymentEvents,
            &Envelope::new(paid, Uuid::new_v4(), None),
        )
        .await
        .expect("paid");
    tokio::time::sleep(DEADLINE + Duration::from_millis(200)).await;
    let recent = orders.place().await;

    let commands = orders.bed.topic("order.commands", 2).await;
    let publisher = Publisher::new(&orders.bed.kafka).expect("publisher");
    let topics = &orders.bed.kafka.topics;
    let pool = &orders.bed.pool;
    let first = order::deadline::scan(pool, &publisher, topics, DEADLINE).await;
    let second = order::deadline::scan(pool, &publisher, topics, DEADLINE).await;
    assert_eq!((first.unwrap(), second.unwrap()), (1, 1), "only {overdue}");

    let read = orders
        .bed
        .read(
            &commands,
            2,
            Duration::from_secs(20),
            Duration::from_millis(500),
        )
        .await;
    let ids: Vec<Option<Uuid>> = read.iter().map(|m| m.id()).collect();
    let expected = Some(order::deadline::expire_command(overdue).id);
    assert_eq!(ids, vec![expected, expected], "two scans, one command id");
    assert_eq!(read[0].key.as_deref(), Some(overdue.to_string().as_str()));
    assert_eq!(orders.status(recent).await.0, "PENDING");
}
