//! `GET /v1/usage`: the business's figures per day or month with the estimated cost in its
//! price table, exact under a retried send (the same Idempotency-Key twice); a bad range is a
//! 4xx with a stable code.

use std::collections::HashMap;

use lambda_http::RequestExt;
use serde_json::json;
use session_rules::BillingCategory;
use session_rules::prices::{Amount, Currency, PriceTable};
use session_rules::usage::Day;

use crate::common::*;

async fn usage(h: &Harness, params: &[(&str, &str)]) -> Reply {
    let auth = format!("Bearer {}", h.key);
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in params {
        map.entry((*name).to_owned())
            .or_default()
            .push((*value).to_owned());
    }
    let request = request(
        "GET",
        "/v1/usage",
        None,
        &[("authorization", &auth)],
        CALLER_IP,
    )
    .with_query_string_parameters(map);
    call(&h.app, request).await
}

#[tokio::test]
async fn usage_counts_a_retried_send_once_and_estimates_its_cost() {
    let h = Harness::new().await;
    // Before the first call: the app remembers a business for a while.
    let mut prices = PriceTable::new(Currency::parse("EUR").unwrap());
    prices.categories.insert(
        BillingCategory::Session,
        Amount::parse_price("0.01").unwrap(),
    );
    h.store()
        .businesses()
        .set_prices(&h.business.id, Some(&prices))
        .await
        .unwrap();
    let (a, b) = ("+447911130001", "+447911130002");
    h.open_session(a).await;
    h.open_session(b).await;
    let first = h.send(&session_text(a), Some("order-7")).await;
    assert_eq!(first.status, 202, "{}", first.body);
    let retry = h.send(&session_text(a), Some("order-7")).await;
    assert_eq!(retry.status, 202, "{}", retry.body);
    assert_eq!(retry.message_id(), first.message_id());
    // The session's second reply is not billable; b's first is.
    assert_eq!(h.send(&session_text(a), None).await.status, 202);
    assert_eq!(h.send(&session_text(b), None).await.status, 202);

    let today = Day::of(h.now()).to_string();
    let reply = usage(&h, &[("from", &today), ("to", &today)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let periods = reply.body["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 1);
    let day = &periods[0];
    assert_eq!(day["period"], today.as_str());
    assert_eq!(day["accepted"], json!({"session": 3}));
    assert_eq!(day["billable"], json!({"session": 2}));
    assert_eq!(
        day["estimated_cost"],
        json!({"amount": "0.02", "amount_micros": 20000, "currency": "EUR"})
    );
    assert_eq!(reply.body["total"]["accepted"], json!({"session": 3}));
    assert_eq!(reply.body["granularity"], "day");

    // By month: the month of today, the same figures.
    let reply = usage(
        &h,
        &[("from", &today), ("to", &today), ("granularity", "month")],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["periods"][0]["period"], &today[..7]);
    assert_eq!(reply.body["periods"][0]["billable"], json!({"session": 2}));
}

#[tokio::test]
async fn a_bad_range_is_refused_with_a_stable_code() {
    let h = Harness::new().await;
    let reply = usage(&h, &[("from", "2026-12-08"), ("to", "2026-12-07")]).await;
    reply.expect_error(400, "range_reversed");
    let reply = usage(&h, &[("from", "2025-01-01"), ("to", "2026-12-07")]).await;
    reply.expect_error(400, "range_too_long");
    let reply = usage(
        &h,
        &[
            ("from", "2026-12-01"),
            ("to", "2026-12-07"),
            ("granularity", "week"),
        ],
    )
    .await;
    reply.expect_error(422, "validation_failed");
    assert_eq!(reply.body["error"]["field"], "granularity");
    let reply = usage(&h, &[("from", "2026-02-30"), ("to", "2026-03-01")]).await;
    reply.expect_error(422, "validation_failed");
    assert_eq!(reply.body["error"]["field"], "from");
    let reply = usage(&h, &[("from", "2026-12-01")]).await;
    reply.expect_error(422, "validation_failed");
    assert_eq!(reply.body["error"]["field"], "to");
    let reply = usage(
        &h,
        &[
            ("from", "2026-12-01"),
            ("to", "2026-12-02"),
            ("business", "other"),
        ],
    )
    .await;
    reply.expect_error(422, "validation_failed");
    let reply = usage(
        &h,
        &[
            ("from", "2026-12-01"),
            ("from", "2026-12-02"),
            ("to", "2026-12-02"),
        ],
    )
    .await;
    reply.expect_error(422, "validation_failed");
}
