//! `vbmctl business caps`: caps per billing category and on campaign recipients, set, cleared
//! and shown with their counts; wrong values refused with nothing written.

use serde_json::json;

use crate::cli::Ctl;

#[tokio::test]
async fn caps_are_set_cleared_and_shown_with_their_counts() {
    let ctl = Ctl::fresh().await;
    ctl.ok(&["business", "create", "acme", "--service-id", "78"]);
    let shown = ctl.ok(&["business", "caps", "show", "acme"]);
    assert_eq!(shown["caps"], json!({}));
    assert_eq!(shown["counts"], json!([]));

    ctl.ok(&[
        "business",
        "caps",
        "set",
        "acme",
        "promotional",
        "--per-day",
        "100",
        "--per-month",
        "2000",
    ]);
    let set = ctl.ok(&[
        "business",
        "caps",
        "set",
        "acme",
        "campaign_recipients",
        "--per-month",
        "5000",
    ]);
    assert_eq!(
        set["caps"],
        json!({"promotional": {"day": 100, "month": 2000}, "campaign_recipients": {"month": 5000}})
    );
    let counts = set["counts"].as_array().unwrap();
    assert_eq!(counts.len(), 3);
    assert!(counts.iter().all(|c| c["count"] == 0), "{set}");
    assert_eq!(counts[0]["subject"], "promotional");
    assert_eq!(counts[0]["period"], "day");
    assert_eq!(counts[0]["limit"], 100);

    // Wrong values: refused, nothing written.
    ctl.refused(
        &["business", "caps", "set", "acme", "sms", "--per-day", "1"],
        2,
        "sms",
    );
    ctl.refused(
        &[
            "business",
            "caps",
            "set",
            "acme",
            "otp",
            "--per-day",
            "1000000001",
        ],
        2,
        "1000000001",
    );
    ctl.refused(&["business", "caps", "set", "acme", "otp"], 2, "per-day");
    ctl.refused(&["business", "caps", "show", "nobody"], 2, "no business");
    assert_eq!(ctl.business("acme").await.unwrap().caps.all().len(), 3);

    let cleared = ctl.ok(&["business", "caps", "clear", "acme", "promotional", "--day"]);
    assert_eq!(
        cleared["caps"],
        json!({"promotional": {"month": 2000}, "campaign_recipients": {"month": 5000}})
    );
    ctl.ok(&["business", "caps", "clear", "acme", "promotional"]);
    let last = ctl.ok(&["business", "caps", "clear", "acme", "campaign_recipients"]);
    assert_eq!(last["caps"], json!({}));
    assert!(ctl.business("acme").await.unwrap().caps.is_empty());
}

#[tokio::test]
async fn prices_are_set_whole_shown_and_cleared() {
    let ctl = Ctl::fresh().await;
    ctl.ok(&["business", "create", "acme", "--service-id", "79"]);
    assert_eq!(
        ctl.ok(&["business", "prices", "show", "acme"])["prices"],
        json!(null)
    );
    let set = ctl.ok(&[
        "business",
        "prices",
        "set",
        "acme",
        "--currency",
        "EUR",
        "--category",
        "promotional=0.035",
        "--category",
        "session=0.0125",
        "--sms-part",
        "0.05",
    ]);
    assert_eq!(
        set["prices"],
        json!({"currency": "EUR", "categories": {"promotional": "0.035", "session": "0.0125"}, "sms_part": "0.05"})
    );
    for (args, needle) in [
        (["--currency", "eur", "--category", "otp=0.01"], "eur"),
        (["--currency", "EUR", "--category", "sms=0.01"], "sms"),
        (["--currency", "EUR", "--category", "otp=0,01"], "0,01"),
        (["--currency", "EUR", "--category", "otp=-1"], "-1"),
    ] {
        let mut all = vec!["business", "prices", "set", "acme"];
        all.extend(args);
        ctl.refused(&all, 2, needle);
    }
    ctl.refused(&["business", "prices", "show", "nobody"], 2, "nobody");
    let business = ctl.business("acme").await.unwrap();
    assert_eq!(business.prices.unwrap().currency.as_str(), "EUR");
    let cleared = ctl.ok(&["business", "prices", "clear", "acme"]);
    assert_eq!(cleared["prices"], json!(null));
}
