//! Campaigns through the local stack: one request, many recipients, each admitted by
//! the single send's rules, sent once, counted by outcome; scheduled and windowed by the
//! movable clock; paused, resumed and cancelled.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::{Value, json};
use session_rules::Timestamp;
use vbm_e2e::{Stack, eventually};

/// A bound, not a speed: 250 sends each take about a dozen calls of the one serialized emulator
/// (dispatch, its events, their delivery log, the session stream), slower still on a busy machine.
const WAIT: Duration = Duration::from_secs(240);

fn uk(i: usize) -> String {
    format!("+4479111{i:05}")
}

fn welcome(recipients: Vec<Value>) -> Value {
    json!({
        "name": "welcome wave",
        "message": {"type": "template", "template": {"id": "welcome"}},
        "recipients": recipients,
    })
}

fn named(to: &str) -> Value {
    json!({"to": to, "params": {"name": "Ann"}})
}

async fn campaign(stack: &Stack, id: &str) -> Value {
    stack.get(&format!("/v1/campaigns/{id}")).await.body
}

async fn until_state(stack: &Stack, id: &str, state: &str) -> Value {
    eventually(state, WAIT, || async {
        let c = campaign(stack, id).await;
        (c["state"] == state).then_some(c)
    })
    .await
}

/// Viber's requests, by destination (digits of the number).
async fn sent_by_dest(stack: &Stack) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for s in stack.viber_sent().await {
        *by.entry(s["dest"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_reaches_every_recipient_once_counted_by_reason() {
    let stack = Stack::start().await;
    let before = stack.env.footprint().await;

    // A bad list is refused whole, naming the first bad entries; nothing is stored.
    let mut bad: Vec<Value> = (0..5).map(|i| named(&uk(i))).collect();
    bad.push(json!({"to": "not a number", "params": {"name": "Ann"}}));
    bad.push(json!({"phone": "+447911100009"}));
    bad.push(named(&uk(0)));
    bad.push(json!({"to": uk(8)}));
    let answer = stack.post("/v1/campaigns", welcome(bad)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
    assert_eq!(answer.code(), "invalid_recipients");
    let errors = &answer.body["error"]["errors"];
    let named_errors: Vec<(u64, &str)> = errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        named_errors,
        [
            (5, "invalid_phone"),
            (6, "malformed_entry"),
            (7, "duplicate_recipient"),
            (8, "template_params_invalid")
        ]
    );
    let too_many: Vec<Value> = (0..10_001).map(|i| json!({"to": uk(i)})).collect();
    let answer = stack.post("/v1/campaigns", welcome(too_many)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.code(), "too_many_recipients");
    // Free-form transactional content needs the business's opt-in (transactional means
    // template since 2026-07-01): refused at creation, saying how to get a template.
    let answer = stack
        .post(
            "/v1/campaigns",
            json!({"message": {"type": "transactional", "text": "Your parcel is on its way"},
                   "recipients": [{"to": uk(0)}, {"to": uk(1)}]}),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{answer:?}"
    );
    assert_eq!(answer.code(), "template_required");
    assert!(
        answer.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("vbmctl template put")),
        "{answer:?}"
    );
    assert_eq!(stack.env.footprint().await, before);

    // 59 UK numbers and one Ukrainian (more than one transaction of the fan-out): an English template may not go to UA (regulation), so
    // that recipient is refused with the code a single send would get.
    let mut recipients: Vec<Value> = (0..59).map(|i| named(&uk(i))).collect();
    recipients.push(named("+380501234567"));
    let body = welcome(recipients);
    let first = stack
        .call_keyed("/v1/campaigns", body.clone(), "wave-1")
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{first:?}");
    let id = first.body["campaign_id"].as_str().unwrap().to_owned();
    let again = stack.call_keyed("/v1/campaigns", body, "wave-1").await;
    assert_eq!(again.body["campaign_id"], id.as_str());

    let done = until_state(&stack, &id, "completed").await;
    assert_eq!(done["recipients"], 60);
    assert_eq!(done["counts"]["queued"], 59);
    assert_eq!(done["counts"]["pending"], 0);
    let refused = done["counts"]["refused"].as_object().unwrap();
    assert_eq!(refused.values().filter_map(Value::as_u64).sum::<u64>(), 1);
    let single = stack
        .template("+380501234567", "welcome", json!({"name": "Ann"}))
        .await;
    assert!(
        refused.contains_key(single.code()),
        "{refused:?} {single:?}"
    );

    let sent = eventually("59 sends", WAIT, || async {
        let by = sent_by_dest(&stack).await;
        (by.values().sum::<usize>() >= 59).then_some(by)
    })
    .await;
    assert_eq!(sent.len(), 59);
    assert!(sent.values().all(|n| *n == 1), "{sent:?}");
    let completed = eventually("campaign.completed", WAIT, || async {
        stack
            .events()
            .await
            .into_iter()
            .find(|e| e["event"]["type"] == "campaign.completed")
    })
    .await;
    assert_eq!(completed["signature_valid"], true);
    assert_eq!(completed["event"]["data"]["campaign_id"], id.as_str());
    assert_eq!(completed["event"]["data"]["counts"]["queued"], 59);
    let list = stack.get("/v1/campaigns").await;
    assert_eq!(list.body["campaigns"][0]["campaign_id"], id.as_str());

    // After admission, each message counted once under the status it stands at: the sandbox
    // answers 0008 blocked and 0009 not a Viber user, calls back `expired` for 0002 and
    // `delivered` then `seen` for the 56 others.
    let settled = eventually("the statuses counted", WAIT, || async {
        let c = campaign(&stack, &id).await;
        (c["counts"]["seen"] == 56 && c["counts"]["expired"] == 1).then_some(c)
    })
    .await;
    let expected = json!({
        "pending": 0, "queued": 59, "refused": refused,
        "sent": 0, "delivered": 0, "seen": 56, "expired": 1,
        "failed": {"SRVC_NOT_VIBER_USER": 1, "SRVC_USER_BLOCKED": 1}, "cancelled": 0,
        // The admitted ones by billing category: `welcome` is a transactional template.
        "billing": {"transactional_template": 59},
        // Nobody waits for a reply: this campaign holds no one.
        "held": null,
    });
    assert_eq!(settled["counts"], expected);
    // The same as the messages themselves say (the ids are the campaign's, by position).
    let campaign_id = vbm_store::CampaignId::parse(&id).unwrap();
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..59 {
        let m = stack.message(campaign_id.message_id(i).as_str()).await;
        let name = match m["status"].as_str().unwrap() {
            "failed" => format!("failed_{}", m["failure"]["reason"].as_str().unwrap()),
            other => other.to_owned(),
        };
        *by_status.entry(name).or_default() += 1;
    }
    assert_eq!(
        by_status,
        BTreeMap::from([
            ("seen".to_owned(), 56),
            ("expired".to_owned(), 1),
            ("failed_SRVC_NOT_VIBER_USER".to_owned(), 1),
            ("failed_SRVC_USER_BLOCKED".to_owned(), 1),
        ])
    );

    // Viber repeats itself: a late delivered after the seen, another seen, and each again
    // (the same callback twice): the message keeps them, the counts do not move.
    let first = stack.message(campaign_id.message_id(0).as_str()).await;
    let token = first["viber_message_token"].as_str().unwrap().to_owned();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for (status, time) in [(0, now), (1, now + 1), (0, now), (1, now + 1)] {
        let body = json!({"message_token": token, "message_time": time, "message_status": status});
        let answer = stack
            .post(
                "/_sandbox/viber/callback",
                json!({"path": "/viber/status", "body": body}),
            )
            .await;
        assert_eq!(answer.body["status"], 200, "{answer:?}");
    }
    let again = stack.message(campaign_id.message_id(0).as_str()).await;
    assert_eq!(again["status"], "seen");
    assert_eq!(
        again["status_history"].as_array().unwrap().len(),
        first["status_history"].as_array().unwrap().len() + 2,
        "the two new callbacks kept, their repeats not: {again}"
    );
    assert_eq!(campaign(&stack, &id).await["counts"], expected);
}

fn rfc3339(t: Timestamp) -> String {
    t.rfc3339()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_campaign_waits_for_its_time_and_each_recipients_window() {
    let stack = Stack::start().await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = Timestamp::from_millis(now).plus(Duration::from_secs(3600));
    // The hour Kyiv is in at `start` (UTC+2, or +3 in summer): the window is that hour, so the
    // Ukrainian recipient goes at once and the London one (two hours behind) waits for it.
    let kyiv_hour = jiff::tz::get!("Europe/Kyiv")
        .to_datetime(
            jiff::Timestamp::from_millisecond(start.as_millis()).expect("a time of this century"),
        )
        .hour();
    let window =
        json!({"start": format!("{kyiv_hour:02}:00"), "end": format!("{:02}:00", kyiv_hour + 1)});
    let answer = stack
        .post(
            "/v1/campaigns",
            json!({
                "message": {"type": "template", "template": {"id": "code_ru", "params": {"code": "1234"}}},
                "recipients": [{"to": "+380501234567"}, {"to": "+447911123456"}],
                "send_at": rfc3339(start),
                "window": window,
            }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
    assert_eq!(answer.body["state"], "scheduled");
    let id = answer.body["campaign_id"].as_str().unwrap().to_owned();

    stack.advance_clock(3600 + 60).await;
    let running = eventually("the Ukrainian recipient", WAIT, || async {
        let c = campaign(&stack, &id).await;
        (c["counts"]["queued"] == 1).then_some(c)
    })
    .await;
    assert_eq!(running["state"], "running");
    assert_eq!(running["counts"]["pending"], 1);

    stack.advance_clock(2 * 3600).await;
    let done = until_state(&stack, &id, "completed").await;
    assert_eq!(done["counts"]["queued"], 2);
    let sent = eventually("both sends", WAIT, || async {
        let by = sent_by_dest(&stack).await;
        (by.len() == 2).then_some(by)
    })
    .await;
    assert!(sent.values().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_campaign_waits_a_resumed_one_sends_each_once_a_cancelled_one_never() {
    let stack = Stack::start().await;
    let later = Timestamp::from_millis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    )
    .plus(Duration::from_secs(600));
    let create = |first: usize, count: usize| {
        let recipients: Vec<Value> = (first..first + count).map(|i| named(&uk(i))).collect();
        let mut body = welcome(recipients);
        body["send_at"] = json!(rfc3339(later));
        body
    };
    let a = stack.post("/v1/campaigns", create(0, 250)).await;
    let b = stack.post("/v1/campaigns", create(1000, 20)).await;
    let (a, b) = (
        a.body["campaign_id"].as_str().unwrap().to_owned(),
        b.body["campaign_id"].as_str().unwrap().to_owned(),
    );
    let paused = stack
        .post(&format!("/v1/campaigns/{a}/pause"), json!({}))
        .await;
    assert_eq!(paused.body["state"], "paused", "{paused:?}");
    let cancelled = stack
        .post(&format!("/v1/campaigns/{b}/cancel"), json!({}))
        .await;
    assert_eq!(cancelled.body["state"], "cancelled");
    let again = stack
        .post(&format!("/v1/campaigns/{b}/resume"), json!({}))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "campaign_state_conflict");

    // Past send_at: the start timers fire, and find one paused and one cancelled.
    stack.advance_clock(700).await;
    let resumed = stack
        .post(&format!("/v1/campaigns/{a}/resume"), json!({}))
        .await;
    assert_eq!(resumed.status, StatusCode::OK, "{resumed:?}");
    let done = until_state(&stack, &a, "completed").await;
    assert_eq!(done["counts"]["queued"], 250);
    let sent = eventually("250 sends", WAIT, || async {
        let by = sent_by_dest(&stack).await;
        (by.values().sum::<usize>() >= 250).then_some(by)
    })
    .await;
    assert_eq!(sent.len(), 250, "only campaign a's numbers, each once");
    assert!(sent.values().all(|n| *n == 1));
    let b = campaign(&stack, &b).await;
    assert_eq!(b["state"], "cancelled");
    assert_eq!(b["counts"]["queued"], 0);
}

/// `POST /v1/campaigns/uploads` for a list of this size, then the list PUT to its presigned
/// URL (the emulator's S3) with the headers the slot binds.
async fn upload(stack: &Stack, key: &str, list: String) -> String {
    let format = if list.starts_with('{') {
        "jsonl"
    } else {
        "csv"
    };
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/campaigns/uploads", stack.base))
        .bearer_auth(key)
        .json(&json!({"format": format, "bytes": list.len()}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    let slot: Value = answer.json().await.unwrap();
    assert_eq!(slot["method"], "PUT");
    assert_eq!(slot["headers"]["content-length"], list.len().to_string());
    let put = reqwest::Client::new()
        .put(slot["url"].as_str().unwrap())
        .header(
            "content-type",
            slot["headers"]["content-type"].as_str().unwrap(),
        )
        .body(list)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{put:?}");
    slot["upload_id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_list_is_prepared_then_sent_once_to_everyone() {
    let stack = Stack::start().await;
    let demo_key = stack.key.clone();

    // 120 recipients as CSV, with the template's parameter per line.
    let mut csv = String::from("to,name\n");
    for i in 0..120 {
        csv.push_str(&format!("{},Ann {i}\n", uk(600 + i)));
    }
    let id = upload(&stack, &demo_key, csv).await;
    let message = json!({"type": "template", "template": {"id": "welcome"}});
    // Exactly one of the two ways to list recipients; a well-formed id and a known format.
    for (body, code, field) in [
        (
            json!({"message": message, "recipients": [named(&uk(1))], "recipients_upload": {"upload_id": id, "format": "csv"}}),
            "validation_failed",
            "recipients_upload",
        ),
        (
            json!({"message": message}),
            "validation_failed",
            "recipients",
        ),
        (
            json!({"message": message, "recipients_upload": {"upload_id": "../x", "format": "csv"}}),
            "validation_failed",
            "recipients_upload.upload_id",
        ),
        (
            json!({"message": message, "recipients_upload": {"upload_id": id, "format": "xlsx"}}),
            "validation_failed",
            "recipients_upload.format",
        ),
    ] {
        let answer = stack.post("/v1/campaigns", body).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{answer:?}"
        );
        assert_eq!(answer.code(), code);
        assert_eq!(answer.body["error"]["field"], field, "{answer:?}");
    }

    let answer = stack
        .post(
            "/v1/campaigns",
            json!({"message": message, "recipients_upload": {"upload_id": id, "format": "csv"}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
    assert_eq!(answer.body["state"], "preparing");
    assert_eq!(answer.body["recipients"], 0);
    assert_eq!(answer.body["rejection"], Value::Null);
    let campaign_id = answer.body["campaign_id"].as_str().unwrap().to_owned();
    let done = until_state(&stack, &campaign_id, "completed").await;
    assert_eq!(done["recipients"], 120);
    assert_eq!(done["counts"]["queued"], 120);
    let sent = eventually("120 sends", WAIT, || async {
        let by = sent_by_dest(&stack).await;
        (by.values().sum::<usize>() >= 120).then_some(by)
    })
    .await;
    assert_eq!(sent.len(), 120);
    assert!(sent.values().all(|n| *n == 1), "{sent:?}");

    // A bad JSONL list: rejected with its lines, nobody sent.
    let bad = format!(
        "{}\n{{\"to\": \"not a number\", \"params\": {{\"name\": \"Bob\"}}}}\n{{oops\n",
        named(&uk(700))
    );
    let id = upload(&stack, &demo_key, bad).await;
    let answer = stack
        .post(
            "/v1/campaigns",
            json!({"message": message, "recipients_upload": {"upload_id": id, "format": "jsonl"}}),
        )
        .await;
    let bad_id = answer.body["campaign_id"].as_str().unwrap().to_owned();
    let rejected = until_state(&stack, &bad_id, "rejected").await;
    assert_eq!(rejected["rejection"]["code"], "invalid_recipients");
    assert_eq!(rejected["rejection"]["invalid_count"], 2);
    let lines: Vec<(u64, &str)> = rejected["rejection"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(2, "invalid_phone"), (3, "malformed_line")]);

    // Another business's upload id names nothing of demo's: rejected, not read.
    let store = vbm_store::Store::new(
        stack.env.dynamodb().await,
        &stack.env.table,
        session_rules::Limits::default(),
        vbm_store::Retention::default(),
    );
    let (_, other_key) = store
        .businesses()
        .create_business(&vbm_store::NewBusiness {
            id: vbm_store::BusinessId::parse("other").unwrap(),
            service_id: 5051,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    let theirs = upload(&stack, other_key.expose(), named(&uk(800)).to_string()).await;
    let answer = stack
        .post(
            "/v1/campaigns",
            json!({"message": message, "recipients_upload": {"upload_id": theirs, "format": "jsonl"}}),
        )
        .await;
    let stolen = answer.body["campaign_id"].as_str().unwrap().to_owned();
    let rejected = until_state(&stack, &stolen, "rejected").await;
    assert_eq!(rejected["rejection"]["code"], "upload_not_found");
    let by = sent_by_dest(&stack).await;
    assert_eq!(by.values().sum::<usize>(), 120, "nothing more sent: {by:?}");
}
