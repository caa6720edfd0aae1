//! The provider is called outside payment's transaction with a key derived from the
//! order: a batch that rolls back and is applied again, or a provider that keeps
//! failing, never charges an order twice in the provider's own ledger.

use kafka_runtime::processor::Processor;
use kafka_runtime::testkit::TestBed;
use kafka_runtime::{HandlerError, Incoming};
use payment::provider::SimulatedProvider;
use shared_events::messages::inventory::{ReservedItem, StockReserved};
use shared_events::messages::order::OrderPlaced;
use shared_events::{Envelope, RawEnvelope, Topic};
use sqlx::PgPool;
use uuid::Uuid;

fn placed(order_id: Uuid, token: &str) -> Envelope<OrderPlaced> {
    let placed = OrderPlaced {
        order_id,
        user_id: Uuid::new_v4(),
        items: Vec::new(),
        total_cents: 2_500,
        currency: "EUR".into(),
        payment_token: token.into(),
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

async fn setup() -> (TestBed, impl Processor, String, String) {
    let bed = TestBed::new().await;
    payment::migrate(&bed.pool).await.expect("migrations");
    let config = payment::Config {
        attempts: 3,
        ..payment::Config::from_env().expect("defaults")
    };
    let provider = SimulatedProvider::new(bed.pool.clone());
    let processor = payment::processor(
        bed.pool.clone(),
        bed.kafka.topics.clone(),
        &config,
        provider,
    );
    let orders = bed.kafka.topics.name(Topic::OrderEvents);
    let inventory = bed.kafka.topics.name(Topic::InventoryEvents);
    (bed, processor, orders, inventory)
}

#[tokio::test]
async fn a_batch_rolled_back_after_the_provider_charged_is_applied_again_without_a_second_charge() {
    let (bed, processor, orders, inventory) = setup().await;
    let order_id = Uuid::new_v4();
    let placed = Incoming::of(&orders, &placed(order_id, "tok_visa"));
    processor.apply(&placed).await.expect("placed");

    // An `order_placed` whose data does not parse: rejected, so the batch rolls back
    // after the charge in front of it reached the provider.
    let broken = RawEnvelope::parse(
        br#"{"id":"6f1b7c1e-8d7a-4a63-9a55-0d2b0c1f0a11","type":"order.order_placed","version":1,
        "occurredAt":"2026-11-26T10:00:00Z","correlationId":"6f1b7c1e-8d7a-4a63-9a55-0d2b0c1f0a12",
        "data":{}}"#,
    )
    .expect("envelope");
    let reserved = Incoming::of(&inventory, &reserved(order_id));
    let broken = Incoming {
        topic: orders.clone(),
        envelope: broken,
        ..reserved.clone()
    };
    let together = processor
        .apply_all(&[&reserved, &broken])
        .await
        .expect("PostgreSQL groups");
    assert!(matches!(together, Err(HandlerError::Rejected(_))));
    assert_eq!(ledger(&bed.pool).await, [(1, Some("approved".into()))]);

    // What the consumer does next: one record at a time.
    processor.apply(&reserved).await.expect("charged");
    assert!(matches!(
        processor.apply(&broken).await,
        Err(HandlerError::Rejected(_))
    ));
    assert_eq!(
        ledger(&bed.pool).await,
        [(2, Some("approved".into()))],
        "called twice, charged once"
    );
    let charges: i64 = sqlx::query_scalar("SELECT count(*) FROM charges WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(&bed.pool)
        .await
        .expect("charges");
    assert_eq!(charges, 1);
}

#[tokio::test]
async fn a_provider_that_keeps_failing_is_called_the_configured_times_then_processing_error() {
    let (bed, processor, orders, inventory) = setup().await;
    let order_id = Uuid::new_v4();
    processor
        .apply(&Incoming::of(
            &orders,
            &placed(order_id, "tok_processingError"),
        ))
        .await
        .expect("placed");
    let reserved = Incoming::of(&inventory, &reserved(order_id));
    for call in 1..=2 {
        match processor.apply(&reserved).await {
            Err(HandlerError::Transient(err)) => {
                assert!(err.to_string().contains("unavailable"), "{err:#}")
            }
            other => panic!("call {call}: expected a transient failure, got {other:?}"),
        }
    }
    processor.apply(&reserved).await.expect("gave up");
    let (status, reason): (String, Option<String>) =
        sqlx::query_as("SELECT status, failure_reason FROM payments WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&bed.pool)
            .await
            .expect("payment");
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("failed", Some("processing_error"))
    );
    assert_eq!(ledger(&bed.pool).await, [(3, None)], "never charged");
}
