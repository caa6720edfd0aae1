//! The envelope decoder under libFuzzer: any bytes a record value may hold, as the
//! runtime reads them (`Record::parse` in kafka-runtime's consumer calls
//! `RawEnvelope::parse`, then a handler reads `data` as the type its `type` names), and
//! then the field rules the gateway and the services apply to commands. Nothing may
//! panic, and what parses must serialize to bytes that parse back to the same envelope.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shared_events::messages::catalog::{CreateProduct, UpdateProduct};
use shared_events::messages::inventory::AdjustStock;
use shared_events::messages::order::PlaceOrder;
use shared_events::messages::reply::Reply;
use shared_events::messages::Message;
use shared_events::{rules, RawEnvelope};

fuzz_target!(|bytes: &[u8]| {
    let Ok(envelope) = RawEnvelope::parse(bytes) else {
        return;
    };
    let printed = serde_json::to_vec(&envelope).expect("a parsed envelope serializes");
    let reparsed = RawEnvelope::parse(&printed).expect("a printed envelope parses");
    assert_eq!(
        serde_json::to_vec(&reparsed).expect("a parsed envelope serializes"),
        printed,
        "printing is stable"
    );
    // The commands whose data goes through the rules, and the reply every caller reads.
    match envelope.kind.as_str() {
        CreateProduct::TYPE => {
            if let Ok(product) = envelope.data_as::<CreateProduct>() {
                let _ = rules::check_new_product(&product);
            }
        }
        UpdateProduct::TYPE => {
            if let Ok(update) = envelope.data_as::<UpdateProduct>() {
                let _ = rules::check_product_update(&update);
            }
        }
        AdjustStock::TYPE => {
            if let Ok(adjustment) = envelope.data_as::<AdjustStock>() {
                let _ = rules::check_adjustment(&adjustment);
            }
        }
        PlaceOrder::TYPE => {
            if let Ok(order) = envelope.data_as::<PlaceOrder>() {
                let _ = rules::check_place_order(&order);
                let _ = rules::address_problems(&rules::normalize_address(order.shipping_address));
            }
        }
        _ => {
            let _ = envelope.data_as::<Reply>();
        }
    }
});
