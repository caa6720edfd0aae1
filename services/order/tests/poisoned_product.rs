//! A product event PostgreSQL cannot store (a NUL character in its name: MongoDB and the
//! catalog took it before the rules refused control characters, and a replay can still
//! bring one) is rejected, not retried forever, and the products after it are known.

use kafka_runtime::processor::Processor;
use kafka_runtime::{HandlerError, Incoming};
use shared_events::messages::catalog::ProductCreated;
use shared_events::{Envelope, Topic};
use testkit::TestBed;
use uuid::Uuid;

fn product_created(name: &str) -> Envelope<ProductCreated> {
    let product_id = Uuid::new_v4();
    let created = ProductCreated {
        product_id,
        seller_id: Uuid::new_v4(),
        sku: format!("SKU-{}", &product_id.simple().to_string()[..8]),
        name: name.into(),
        description: String::new(),
        category: "home".into(),
        price_cents: 1_000,
        currency: "EUR".into(),
        initial_stock: 10,
        image_url: None,
    };
    Envelope::new(created, Uuid::new_v4(), None)
}

#[tokio::test]
async fn a_product_named_with_nul_is_rejected_and_the_next_product_is_stored() {
    let bed = TestBed::new().await;
    order::migrate(&bed.pool).await.expect("migrations");
    let processor = order::processor(
        bed.pool.clone(),
        bed.kafka.topics.clone(),
        std::time::Duration::from_secs(120),
    );
    let catalog = bed.kafka.topics.name(Topic::CatalogEvents);

    let poisoned = Incoming::of(&catalog, &product_created("Lamp\u{0}"));
    match processor.apply(&poisoned).await {
        Err(HandlerError::Rejected(reason)) => assert!(reason.contains("0x00"), "{reason}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    let poisoned_and_next = [
        Incoming::of(&catalog, &product_created("Lamp\u{0}")),
        Incoming::of(&catalog, &product_created("Chair")),
    ];
    let batch: Vec<&Incoming> = poisoned_and_next.iter().collect();
    let together = processor
        .apply_all(&batch)
        .await
        .expect("PostgreSQL groups");
    assert!(
        matches!(together, Err(HandlerError::Rejected(_))),
        "the batch rolls back as a rejection, so the consumer takes it one by one"
    );
    processor
        .apply(&poisoned_and_next[1])
        .await
        .expect("the next product is stored");
}
