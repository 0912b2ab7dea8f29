//! The SMS policy at the edge: a send or campaign whose failover the business's policy refuses
//! (a premium, shared-cost, network or denied-country destination; a sender id the operator did
//! not register; more billed parts than allowed) is a 422 with a stable code, and stores nothing.

use serde_json::{Value, json};

use crate::common::*;

fn with_failover(to: &str, sms: Value) -> Value {
    json!({"to": to, "type": "session", "text": "Your order is ready", "failover": {"sms": sms}})
}

#[tokio::test]
async fn failovers_to_premium_shared_cost_network_or_denied_numbers_are_422_and_store_nothing() {
    let h = Harness::new().await;
    for to in [
        "+449098790000",  // UK premium rate
        "+19002345678",   // US premium rate
        "+33810123456",   // French shared cost
        "+2693212345",    // Comoros: an IRSF destination, denied unless named
        "+8823451234567", // an international network
        "+881612345678",  // satellite
    ] {
        h.open_session(to).await;
        let before = h.footprint(to).await;
        let reply = h
            .send(&with_failover(to, json!({"text": "Hi"})), None)
            .await;
        reply.expect_error(422, "failover_destination_refused");
        assert_eq!(reply.body["error"]["field"], "to", "{to}: {}", reply.body);
        h.assert_untouched(to, &before).await;
    }
    // The same numbers without a failover are Viber's business: no SMS policy applies.
    h.open_session("+449098790000").await;
    let reply = h.send(&session_text("+449098790000"), None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    // And a mobile in an allowed country fails over as before.
    h.open_session(UK).await;
    let reply = h
        .send(&with_failover(UK, json!({"text": "Hi"})), None)
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
}

#[tokio::test]
async fn a_sender_id_the_operator_did_not_register_is_422_and_stores_nothing() {
    let h = Harness::new().await;
    h.open_session(UK).await;
    for sender in ["HSBC", "PayPal", "Acme"] {
        let before = h.footprint(UK).await;
        let reply = h
            .send(
                &with_failover(UK, json!({"text": "Hi", "sender_id": sender})),
                None,
            )
            .await;
        reply.expect_error(422, "failover_sender_id_not_registered");
        assert_eq!(reply.body["error"]["field"], "failover.sms.sender_id");
        h.assert_untouched(UK, &before).await;
    }
}

#[tokio::test]
async fn a_failover_text_of_more_parts_than_allowed_is_422_and_stores_nothing() {
    let h = Harness::new().await;
    h.open_session(UK).await;
    let before = h.footprint(UK).await;
    // 1,600 Cyrillic characters: 24 billed parts (UCS-2, 67 a part).
    let long = "Ж".repeat(1600);
    let reply = h
        .send(&with_failover(UK, json!({"text": long})), None)
        .await;
    reply.expect_error(422, "failover_too_many_parts");
    assert_eq!(reply.body["error"]["field"], "failover.sms.text");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("24"),
        "{}",
        reply.body
    );
    h.assert_untouched(UK, &before).await;
}
