//! Caps at the API: concurrent sends against a cap on their billing category get exactly the
//! cap through, the rest `429 quota_exceeded` naming the cap; the business is told at 80 % and
//! 100 % once each; the dry run says the same.

use std::collections::HashMap;
use std::sync::Arc;

use lambda_http::RequestExt;

use send::App;
use serde_json::{Value, json};
use session_rules::caps::{CapPeriod, CapSubject};
use session_rules::{BillingCategory, Limits};
use vbm_events::{EventKind, EventsQueue};
use vbm_platform::clock::SystemClock;
use vbm_store::{Retention, Store};

use crate::common::*;

fn number(i: usize) -> String {
    format!("+4479112{i:05}")
}

fn promotional(to: &str) -> Value {
    json!({"to": to, "type": "promotional", "text": "Spring sale"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_over_a_category_cap_get_exactly_the_cap_through_and_429_the_rest() {
    let h = Harness::new().await;
    let promo = CapSubject::Category(BillingCategory::Promotional);
    // Before the first call: the app remembers a business for a while.
    h.store()
        .businesses()
        .update_caps(&h.business.id, |caps| {
            caps.set(promo, CapPeriod::Day, Some(5))?;
            caps.set(promo, CapPeriod::Month, Some(1000))
        })
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let store = Store::new(
        h.dynamodb.clone(),
        &h.env.table,
        Limits::default(),
        Retention::default(),
    );
    let app = Arc::new(
        App::new(store, Arc::new(SystemClock))
            .with_events(EventsQueue::new(h.sqs.clone(), &h.env.events_queue_url)),
    );
    let n = 16;
    for i in 0..n {
        h.open_session(&number(i)).await;
    }
    // A session message is another category: not counted, not capped.
    let reply = send_with(&app, &h.key, &session_text(&number(0)), None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);

    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (app, key) = (app.clone(), h.key.clone());
            tokio::spawn(async move { send_with(&app, &key, &promotional(&number(i)), None).await })
        })
        .collect();
    let mut accepted = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        if reply.status == 202 {
            accepted += 1;
            continue;
        }
        reply.expect_error(429, "quota_exceeded");
        let cap = &reply.body["error"]["cap"];
        assert_eq!(
            (&cap["subject"], &cap["period"], &cap["limit"]),
            (&json!("promotional"), &json!("day"), &json!(5)),
            "{}",
            reply.body
        );
        assert!(reply.headers.contains_key("retry-after"));
    }
    assert_eq!(accepted, 5);
    // Each refused send stored nothing: 5 promotional messages and the session one.
    assert_eq!(h.count_items("MSG#").await, 6);

    // Told at 80 % (4 of 5) and at 100 %, once each.
    let events: Vec<Value> = vbm_testkit::drain(&h.sqs, &h.env.events_queue_url)
        .await
        .into_iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .filter(|e: &Value| e["type"] == EventKind::UsageCapReached.as_str())
        .collect();
    let mut told: Vec<(String, u64)> = events
        .iter()
        .map(|e| {
            (
                e["data"]["period"].as_str().unwrap().to_owned(),
                e["data"]["threshold"].as_u64().unwrap(),
            )
        })
        .collect();
    told.sort();
    assert_eq!(
        told,
        vec![("day".to_owned(), 80), ("day".to_owned(), 100)],
        "{events:?}"
    );

    // The dry run of one more says what the send would: quota_exceeded.
    let to = number(n + 1);
    h.open_session(&to).await;
    let auth = format!("Bearer {}", h.key);
    let body = promotional(&to).to_string();
    let dry = request(
        "POST",
        "/v1/messages",
        Some(&body),
        &[("authorization", &auth)],
        CALLER_IP,
    )
    .with_query_string_parameters(HashMap::from([(
        "dry_run".to_owned(),
        vec!["true".to_owned()],
    )]));
    let reply = call(&app, dry).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["result"], "refused");
    assert_eq!(reply.body["refusal"]["code"], "quota_exceeded");
    assert_eq!(reply.body["refusal"]["status"], 429);
    assert_eq!(reply.body["refusal"]["cap"]["limit"], 5);
}

/// A campaign's dry run applies the caps as the fan-out does: recipients in list order while
/// the caps they count against have room, the rest `quota_exceeded`.
#[tokio::test]
async fn a_campaign_dry_run_refuses_the_recipients_over_a_cap() {
    let h = Harness::new().await;
    h.store()
        .businesses()
        .update_caps(&h.business.id, |caps| {
            caps.set(CapSubject::CampaignRecipients, CapPeriod::Day, Some(2))
        })
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let app = crate::dry_run::campaign_app(&h, Arc::new(SystemClock)).await;
    for i in 0..3 {
        h.open_session(&number(100 + i)).await;
    }
    let body = json!({
        "message": {"type": "promotional", "text": "Spring sale"},
        "recipients": (0..3).map(|i| json!({"to": number(100 + i)})).collect::<Vec<_>>(),
    })
    .to_string();
    let auth = format!("Bearer {}", h.key);
    let dry = request(
        "POST",
        "/v1/campaigns",
        Some(&body),
        &[("authorization", &auth)],
        CALLER_IP,
    )
    .with_query_string_parameters(HashMap::from([(
        "dry_run".to_owned(),
        vec!["true".to_owned()],
    )]));
    let reply = call(&app, dry).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["outcomes"],
        json!({
            "accepted": 2,
            "held": 0,
            "refused": {"quota_exceeded": 1},
            "billing": {"promotional": 2},
            "billable": 2,
            "estimated_total": null,
        }),
        "{}",
        reply.body
    );
}

/// The dry run estimates the price in the business's price table: a message's, and a
/// campaign's total.
#[tokio::test]
async fn the_dry_run_estimates_the_price_in_the_business_table() {
    use session_rules::prices::{Amount, Currency, PriceTable};
    let h = Harness::new().await;
    let mut table = PriceTable::new(Currency::parse("EUR").unwrap());
    table.categories.insert(
        BillingCategory::Promotional,
        Amount::parse_price("0.035").unwrap(),
    );
    h.store()
        .businesses()
        .set_prices(&h.business.id, Some(&table))
        .await
        .unwrap();
    let app = crate::dry_run::campaign_app(&h, Arc::new(SystemClock)).await;
    for i in 0..3 {
        h.open_session(&number(200 + i)).await;
    }
    let auth = format!("Bearer {}", h.key);
    let dry = |path: &'static str, body: Value| {
        let text = body.to_string();
        let auth = auth.clone();
        let app = &app;
        async move {
            let request = request(
                "POST",
                path,
                Some(&text),
                &[("authorization", &auth)],
                CALLER_IP,
            )
            .with_query_string_parameters(HashMap::from([(
                "dry_run".to_owned(),
                vec!["true".to_owned()],
            )]));
            let reply = call(app, request).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            reply.body
        }
    };
    let one = dry("/v1/messages", promotional(&number(200))).await;
    assert_eq!(
        one["estimated_price"],
        json!({"amount": "0.035", "currency": "EUR"}),
        "{one}"
    );
    // A category without a price: no estimate.
    let session = dry("/v1/messages", session_text(&number(200))).await;
    assert_eq!(session["result"], "accepted");
    assert_eq!(session["estimated_price"], Value::Null);
    let campaign = dry(
        "/v1/campaigns",
        json!({
            "message": {"type": "promotional", "text": "Spring sale"},
            "recipients": (0..3).map(|i| json!({"to": number(200 + i)})).collect::<Vec<_>>(),
        }),
    )
    .await;
    assert_eq!(
        campaign["outcomes"]["estimated_total"],
        json!({"amount": "0.105", "currency": "EUR"}),
        "{campaign}"
    );
}
