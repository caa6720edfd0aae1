//! The provider is called by the charger, outside every transaction, with a key derived
//! from the order: a batch that rolls back and is applied again never reaches the
//! provider, a provider that keeps failing is called the configured number of times, a
//! cancellation that arrives during the call refunds the charge, and nothing charges
//! an order twice in the provider's own ledger.

use kafka_runtime::processor::Processor;
use std::time::Duration;
use testkit::TestBed;

use kafka_runtime::{HandlerError, Incoming, Publisher};
use payment::charger::Charger;
use payment::provider::SimulatedProvider;
use shared_events::messages::inventory::{ReservedItem, StockReserved};
use shared_events::messages::order::{OrderCancelled, OrderPlaced};
use shared_events::{Envelope, RawEnvelope, Topic};
use sqlx::PgPool;
use testkit::eventually;
use uuid::Uuid;

fn placed(order_id: Uuid, token: &str) -> Envelope<OrderPlaced> {
    let placed = OrderPlaced {
        order_id,
        user_id: Uuid::new_v4(),
        items: Vec::new(),
        total_cents: 2_500,
        currency: "EUR".into(),
        payment_token: token.into(),
        cart_version: None,
    };
    Envelope::new(placed, Uuid::new_v4(), None)
}

fn reserved(order_id: Uuid) -> Envelope<StockReserved> {
    let item = ReservedItem {
        product_id: Uuid::new_v4(),
        quantity: 1,
    };
    let reserved = StockReserved {
        order_id,
        items: vec![item],
    };
    Envelope::new(reserved, Uuid::new_v4(), None)
}

/// (calls, answer) in the provider's ledger, one row per key.
async fn ledger(pool: &PgPool) -> Vec<(i32, Option<String>)> {
    sqlx::query_as("SELECT calls, answer FROM provider_ledger ORDER BY first_call_at")
        .fetch_all(pool)
        .await
        .expect("ledger")
}

async fn status(pool: &PgPool, order_id: Uuid) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, failure_reason FROM payments WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(pool)
        .await
        .expect("payment")
}

struct Payment {
    bed: TestBed,
    processor: kafka_runtime::postgres::ServiceProcessor<payment::handler::PaymentHandler>,
    charger: Charger,
    orders: String,
    inventory: String,
}

async fn setup() -> Payment {
    let bed = TestBed::new().await;
    payment::migrate(&bed.pool).await.expect("migrations");
    let processor = payment::processor(bed.pool.clone(), bed.kafka.topics.clone());
    let charger = Charger {
        pool: bed.pool.clone(),
        provider: SimulatedProvider::new(bed.pool.clone()),
        publisher: Publisher::new(&bed.kafka).expect("publisher"),
        topics: bed.kafka.topics.clone(),
        attempts: 3,
        marks: processor.sent_marks(),
    };
    let orders = bed.kafka.topics.name(Topic::OrderEvents);
    let inventory = bed.kafka.topics.name(Topic::InventoryEvents);
    Payment {
        bed,
        processor,
        charger,
        orders,
        inventory,
    }
}

#[tokio::test]
async fn a_batch_rolled_back_and_applied_again_never_reaches_the_provider_and_the_charger_charges_once(
) {
    let p = setup().await;
    let order_id = Uuid::new_v4();
    let placed = Incoming::of(&p.orders, &placed(order_id, "tok_visa"));
    p.processor.apply(&placed).await.expect("placed");

    // An `order_placed` whose data does not parse: rejected, so the batch with the
    // decision to charge in front of it rolls back.
    let broken = RawEnvelope::parse(
        br#"{"id":"6f1b7c1e-8d7a-4a63-9a55-0d2b0c1f0a11","type":"order.order_placed","version":1,
        "occurredAt":"2026-11-26T10:00:00Z","correlationId":"6f1b7c1e-8d7a-4a63-9a55-0d2b0c1f0a12",
        "data":{}}"#,
    )
    .expect("envelope");
    let reserved = Incoming::of(&p.inventory, &reserved(order_id));
    let broken = Incoming {
        topic: p.orders.clone(),
        envelope: broken,
        ..reserved.clone()
    };
    let together = p
        .processor
        .apply_all(&[&reserved, &broken])
        .await
        .expect("PostgreSQL groups");
    assert!(matches!(together, Err(HandlerError::Rejected(_))));
    assert_eq!(
        ledger(&p.bed.pool).await,
        [],
        "no call inside a transaction"
    );

    // What the consumer does next: one record at a time. The handler only decides.
    p.processor.apply(&reserved).await.expect("decided");
    assert!(matches!(
        p.processor.apply(&broken).await,
        Err(HandlerError::Rejected(_))
    ));
    assert_eq!(status(&p.bed.pool, order_id).await.0, "charging");
    assert_eq!(ledger(&p.bed.pool).await, []);

    assert_eq!(p.charger.sweep().await.expect("charged"), 1);
    assert_eq!(p.charger.sweep().await.expect("nothing left"), 0);
    assert_eq!(ledger(&p.bed.pool).await, [(1, Some("approved".into()))]);
    assert_eq!(status(&p.bed.pool, order_id).await.0, "succeeded");
    let charges: i64 = sqlx::query_scalar("SELECT count(*) FROM charges WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(&p.bed.pool)
        .await
        .expect("charges");
    assert_eq!(charges, 1);
}

#[tokio::test]
async fn a_provider_that_keeps_failing_is_called_the_configured_times_then_processing_error() {
    let p = setup().await;
    let order_id = Uuid::new_v4();
    let placed = placed(order_id, "tok_processingError");
    p.processor
        .apply(&Incoming::of(&p.orders, &placed))
        .await
        .expect("placed");
    p.processor
        .apply(&Incoming::of(&p.inventory, &reserved(order_id)))
        .await
        .expect("decided, and the record is done: nothing waits on the provider");
    let given_up = || async {
        p.charger.sweep().await.expect("a sweep");
        status(&p.bed.pool, order_id).await.0 == "failed"
    };
    eventually("the charger gives up", Duration::from_secs(30), given_up).await;
    assert_eq!(
        status(&p.bed.pool, order_id).await,
        ("failed".into(), Some("processing_error".into()))
    );
    assert_eq!(ledger(&p.bed.pool).await, [(3, None)], "never charged");
}

#[tokio::test]
async fn a_cancellation_that_arrives_while_the_provider_is_called_refunds_the_charge() {
    let p = setup().await;
    let order_id = Uuid::new_v4();
    p.processor
        .apply(&Incoming::of(&p.orders, &placed(order_id, "tok_visa")))
        .await
        .expect("placed");
    p.processor
        .apply(&Incoming::of(&p.inventory, &reserved(order_id)))
        .await
        .expect("decided");
    let cancelled = OrderCancelled {
        order_id,
        reason: "timeout".into(),
    };
    let cancelled = Envelope::new(cancelled, Uuid::new_v4(), None);
    p.processor
        .apply(&Incoming::of(&p.orders, &cancelled))
        .await
        .expect("cancelled");
    assert_eq!(status(&p.bed.pool, order_id).await.0, "charging");

    p.charger.sweep().await.expect("charged");
    assert_eq!(status(&p.bed.pool, order_id).await.0, "refunded");
    let (charged, refunded): (i64, i64) = sqlx::query_as(
        "SELECT c.amount_cents, f.amount_cents FROM charges c JOIN refunds f USING (payment_id)
         WHERE c.order_id = $1",
    )
    .bind(order_id)
    .fetch_one(&p.bed.pool)
    .await
    .expect("a charge and its refund");
    assert_eq!((charged, refunded), (2_500, 2_500));
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM runtime_outbox ORDER BY seq")
        .fetch_all(&p.bed.pool)
        .await
        .expect("outbox");
    assert_eq!(
        kinds,
        ["payment.payment_succeeded", "payment.payment_refunded"]
    );
}
