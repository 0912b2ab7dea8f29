//! `GET /v1/usage`: the business's figures per day or month with the estimated cost in its
//! price table, exact under a retried send (the same Idempotency-Key twice); a bad range is a
//! 4xx with a stable code. Prices by destination country group, in the usage and the dry run.

use std::collections::HashMap;
use std::sync::Arc;

use lambda_http::RequestExt;
use serde_json::{Value, json};
use session_rules::prices::{Amount, CountryGroup, Currency, PriceTable};
use session_rules::usage::Day;
use session_rules::{BillingCategory, Country};
use vbm_platform::clock::SystemClock;

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

/// Promotional messages at 0.035, and at 0.05 to the DACH group (Germany, Austria, Switzerland).
fn dach_prices() -> PriceTable {
    let mut table = PriceTable::new(Currency::parse("EUR").unwrap());
    table.categories.insert(
        BillingCategory::Promotional,
        Amount::parse_price("0.035").unwrap(),
    );
    let mut dach = CountryGroup::new(
        "DACH",
        ["DE", "AT", "CH"].map(|c| Country::parse(c).unwrap()),
    );
    dach.categories.insert(
        BillingCategory::Promotional,
        Amount::parse_price("0.05").unwrap(),
    );
    table.add_group(dach).unwrap();
    table
}

#[tokio::test]
async fn each_destination_is_priced_by_its_country_group_in_the_usage_and_the_dry_run() {
    let h = Harness::new().await;
    // Before the first call: the app remembers a business for a while.
    h.store()
        .businesses()
        .set_prices(&h.business.id, Some(&dach_prices()))
        .await
        .unwrap();
    let app = crate::dry_run::campaign_app(&h, Arc::new(SystemClock)).await;
    let (germany, austria, britain) = ("+4915112345678", "+436641234567", "+447400130003");
    for to in [germany, austria, britain] {
        h.open_session(to).await;
    }
    let promotional = |to: &str| json!({"to": to, "type": "promotional", "text": "Spring sale"});
    let auth = format!("Bearer {}", h.key);
    let dry = |path: &'static str, body: Value| {
        let (text, auth, app) = (body.to_string(), auth.clone(), &app);
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
    // The dry run: a message at its recipient's group price, a campaign summed per recipient.
    let to_germany = dry("/v1/messages", promotional(germany)).await;
    assert_eq!(
        to_germany["estimated_price"],
        json!({"amount": "0.05", "currency": "EUR"}),
        "{to_germany}"
    );
    let to_britain = dry("/v1/messages", promotional(britain)).await;
    assert_eq!(
        to_britain["estimated_price"],
        json!({"amount": "0.035", "currency": "EUR"}),
        "{to_britain}"
    );
    let campaign = dry(
        "/v1/campaigns",
        json!({
            "message": {"type": "promotional", "text": "Spring sale"},
            "recipients": [{"to": germany}, {"to": austria}, {"to": britain}],
        }),
    )
    .await;
    assert_eq!(
        campaign["outcomes"]["estimated_total"],
        json!({"amount": "0.135", "currency": "EUR"}),
        "{campaign}"
    );

    // The real sends, then their usage: counted by country, estimated at each one's prices.
    for to in [germany, austria, britain] {
        let sent = h.send(&promotional(to), None).await;
        assert_eq!(sent.status, 202, "{}", sent.body);
    }
    let today = Day::of(h.now()).to_string();
    let reply = usage(&h, &[("from", &today), ("to", &today)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let total = &reply.body["total"];
    assert_eq!(total["billable"], json!({"promotional": 3}));
    let one = json!({"billable": {"promotional": 1}, "sms_parts": 0});
    assert_eq!(
        total["by_country"],
        json!({"AT": one, "DE": one, "GB": one}),
        "{total}"
    );
    assert_eq!(
        total["estimated_cost"],
        json!({"amount": "0.135", "amount_micros": 135000, "currency": "EUR"})
    );
    assert_eq!(
        reply.body["periods"][0]["estimated_cost"],
        total["estimated_cost"]
    );
}
