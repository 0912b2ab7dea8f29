//! `vbmctl usage`: every business's usage counters over a range, per day or month, in JSON and
//! CSV, with each business's estimated cost; a bad range refused before the table is read.

use serde_json::json;
use session_rules::{PhoneNumber, SendClass, Timestamp};
use vbm_store::{BusinessId, MessageId, NewSend, SendOutcome};

use crate::cli::Ctl;

/// 2027-01-15T08:00:00Z.
const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

async fn send(ctl: &Ctl, business: &str, to: &str) {
    let business = BusinessId::parse(business).unwrap();
    let to = PhoneNumber::parse(to).unwrap();
    let outcome = ctl
        .store()
        .messages()
        .record_send(&NewSend {
            business: &business,
            message_id: MessageId::generate(),
            to: &to,
            class: SendClass::Informative,
            kind: "template",
            billing: session_rules::BillingCategory::TransactionalTemplate,
            payload: "{}",
            service_id: None,
            idempotency: None,
            failover: None,
            now: NOW,
        })
        .await
        .unwrap();
    assert!(matches!(outcome, SendOutcome::Accepted { .. }));
}

#[tokio::test]
async fn usage_is_listed_per_business_and_period_with_its_cost() {
    let ctl = Ctl::fresh().await;
    ctl.ok(&["business", "create", "acme", "--service-id", "81"]);
    ctl.ok(&["business", "create", "shop", "--service-id", "82"]);
    ctl.ok(&[
        "business",
        "prices",
        "set",
        "acme",
        "--currency",
        "EUR",
        "--category",
        "transactional_template=0.0125",
    ]);
    send(&ctl, "acme", "+447911000001").await;
    send(&ctl, "acme", "+447911000002").await;
    send(&ctl, "shop", "+447911000003").await;

    let day = ctl.ok(&["usage", "--from", "2027-01-15", "--to", "2027-01-15"]);
    let rows = day["usage"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{day}");
    assert_eq!(rows[0]["business_id"], "acme");
    assert_eq!(rows[0]["period"], "2027-01-15");
    assert_eq!(rows[0]["accepted"], json!({"transactional_template": 2}));
    assert_eq!(rows[0]["billable"], json!({"transactional_template": 2}));
    assert_eq!(
        rows[0]["estimated_cost"],
        json!({"amount": "0.025", "amount_micros": 25000, "currency": "EUR"})
    );
    assert_eq!(rows[1]["business_id"], "shop");
    assert_eq!(rows[1]["accepted"], json!({"transactional_template": 1}));
    assert_eq!(rows[1]["estimated_cost"], json!(null));

    // One business, by month: every month of the range, the empty one too.
    let months = ctl.ok(&[
        "usage",
        "--from",
        "2027-01-01",
        "--to",
        "2027-02-28",
        "--granularity",
        "month",
        "--business",
        "acme",
    ]);
    let rows = months["usage"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{months}");
    assert_eq!(rows[0]["period"], "2027-01");
    assert_eq!(rows[0]["accepted"], json!({"transactional_template": 2}));
    assert_eq!(rows[1]["period"], "2027-02");
    assert_eq!(rows[1]["accepted"], json!({}));

    // CSV: a header and a row per business and period.
    let csv = ctl.text(&[
        "usage",
        "--from",
        "2027-01-15",
        "--to",
        "2027-01-15",
        "--format",
        "csv",
    ]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    let acme: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(header.len(), acme.len());
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    assert_eq!(acme[0], "acme");
    assert_eq!(acme[column("accepted_transactional_template")], "2");
    assert_eq!(acme[column("estimated_cost")], "0.025");
    assert_eq!(acme[column("currency")], "EUR");
    let shop: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(shop[column("estimated_cost")], "");

    // A bad range: refused, exit 2, nothing read.
    ctl.refused(
        &["usage", "--from", "2027-01-16", "--to", "2027-01-15"],
        2,
        "range_reversed",
    );
    ctl.refused(
        &["usage", "--from", "2026-01-01", "--to", "2027-01-15"],
        2,
        "range_too_long",
    );
    ctl.refused(
        &["usage", "--from", "2027-02-30", "--to", "2027-03-01"],
        2,
        "YYYY-MM-DD",
    );
    ctl.refused(
        &[
            "usage",
            "--from",
            "2027-01-01",
            "--to",
            "2027-01-02",
            "--granularity",
            "week",
        ],
        2,
        "granularity",
    );
    ctl.refused(
        &[
            "usage",
            "--from",
            "2027-01-01",
            "--to",
            "2027-01-02",
            "--business",
            "nobody",
        ],
        2,
        "no business",
    );
}

#[tokio::test]
async fn country_groups_are_set_shown_refused_when_they_overlap_and_priced_in_the_usage() {
    let ctl = Ctl::fresh().await;
    ctl.ok(&["business", "create", "acme", "--service-id", "83"]);
    let base = [
        "business",
        "prices",
        "set",
        "acme",
        "--currency",
        "EUR",
        "--category",
        "transactional_template=0.01",
        "--sms-part",
        "0.05",
    ];
    let with = |extra: &[&'static str]| {
        let mut all = base.to_vec();
        all.extend(extra);
        all
    };
    let set = ctl.ok(&with(&[
        "--group",
        "DACH=DE,at,CH",
        "--group",
        "east=UA",
        "--group-category",
        "DACH:transactional_template=0.05",
        "--group-category",
        "east:transactional_template=0.02",
        "--group-sms-part",
        "DACH=0.08",
    ]));
    let groups = json!([
        {
            "name": "DACH",
            "countries": ["AT", "CH", "DE"],
            "categories": {"transactional_template": "0.05"},
            "sms_part": "0.08",
        },
        {
            "name": "east",
            "countries": ["UA"],
            "categories": {"transactional_template": "0.02"},
        },
    ]);
    assert_eq!(set["prices"]["groups"], groups, "{set}");
    let shown = ctl.ok(&["business", "prices", "show", "acme"]);
    assert_eq!(shown["prices"], set["prices"]);

    // Refused, exit 2, the table as it was: a country in two groups, an unknown country, a
    // price for a group not named, a bad group name, two groups of one name.
    for (extra, needle) in [
        (
            &["--group", "DACH=DE,AT", "--group", "west=FR,DE"][..],
            "DE is in two country groups",
        ),
        (&["--group", "EU=DE,EU"], "unknown country \"EU\""),
        (&["--group", "EU=DE,"], "unknown country \"\""),
        (
            &["--group", "DACH=DE", "--group-sms-part", "EU=0.07"],
            "no --group named \"EU\"",
        ),
        (
            &["--group", "DACH=DE", "--group-category", "EU:otp=0.07"],
            "no --group named \"EU\"",
        ),
        (&["--group", "DA CH=DE"], "invalid group name"),
        (
            &["--group", "DACH=DE", "--group", "DACH=AT"],
            "two country groups are named",
        ),
        (&["--group", "DACH"], "NAME=CC,CC"),
        (
            &["--group", "DACH=DE", "--group-category", "DACH=0.04"],
            "NAME:CATEGORY=PRICE",
        ),
    ] {
        ctl.refused(&with(extra), 2, needle);
    }
    assert_eq!(ctl.ok(&["business", "prices", "show", "acme"]), shown);

    // Two to Germany, one each to Ukraine and France (no group): 2 × 0.05 + 0.02 + 0.01.
    for to in [
        "+4915112345678",
        "+4915112345679",
        "+380501234567",
        "+33612345678",
    ] {
        send(&ctl, "acme", to).await;
    }
    let day = ctl.ok(&["usage", "--from", "2027-01-15", "--to", "2027-01-15"]);
    let row = &day["usage"][0];
    assert_eq!(
        row["estimated_cost"],
        json!({"amount": "0.13", "amount_micros": 130000, "currency": "EUR"}),
        "{day}"
    );
    assert_eq!(
        row["by_country"]["DE"],
        json!({"billable": {"transactional_template": 2}, "sms_parts": 0})
    );
    let csv = ctl.text(&[
        "usage",
        "--from",
        "2027-01-15",
        "--to",
        "2027-01-15",
        "--format",
        "csv",
    ]);
    assert!(csv.lines().nth(1).unwrap().contains(",0.13,EUR"), "{csv}");
}
