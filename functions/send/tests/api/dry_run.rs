//! Dry runs (`?dry_run=true`) against the emulator: the dry answer and the real send made right
//! after it on the same conversation agree, over random conversations and requests; a dry run
//! writes, sends and counts nothing (the SDK calls it makes, counted by the harness's
//! interceptor, and every item and queue before and after); a campaign's dry run counts each
//! recipient's outcome without storing the campaign.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use lambda_http::RequestExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use send::App;
use serde_json::{Value, json};
use session_rules::{
    Conversation, Language, Limits, Session, Template, TemplateCategory, TemplateId, Timestamp,
};
use vbm_platform::clock::{Clock, OffsetClock};
use vbm_store::{Retention, Store};
use vbm_timers::{Target, Timers};

use crate::common::*;

pub(crate) async fn templates(h: &Harness) {
    for (id, text) in [
        ("welcome", "Hello {{name}}"),
        ("code", "Your code is {{pin}}"),
    ] {
        h.store()
            .templates()
            .put_template(
                &h.business.id,
                &Template::parse(
                    TemplateId::parse(id).unwrap(),
                    Language::parse("en").unwrap(),
                    TemplateCategory::Transactional,
                    true,
                    text,
                )
                .unwrap(),
            )
            .await
            .unwrap();
    }
}

/// The request with these query parameters, as API Gateway hands them over (a name may come
/// more than once).
pub(crate) fn query(
    request: lambda_http::Request,
    params: &[(&str, &str)],
) -> lambda_http::Request {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in params {
        map.entry((*name).to_owned())
            .or_default()
            .push((*value).to_owned());
    }
    request.with_query_string_parameters(map)
}

async fn dry(h: &Harness, app: &App, body: &Value, key: Option<&str>) -> Reply {
    let auth = format!("Bearer {}", h.key);
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(k) = key {
        headers.push(("idempotency-key", k));
    }
    let text = body.to_string();
    let reply = call(
        app,
        query(
            request("POST", "/v1/messages", Some(&text), &headers, CALLER_IP),
            &[("dry_run", "true")],
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["dry_run"], true);
    reply
}

/// The requests the property draws from: every kind a business sends, and one the rules
/// refuse on content (a template that does not exist).
#[derive(Debug, Clone, Copy)]
enum Kind {
    SessionText,
    Template,
    Otp,
    Promotional,
    UnknownTemplate,
    /// A session message that waits for the user's reply (`wait_for_session`), with a fallback
    /// or not: held, sent at once, or refused.
    Waiting {
        fallback: bool,
    },
}

fn body(kind: Kind, to: &str, now: Timestamp) -> Value {
    match kind {
        Kind::Waiting { fallback } => {
            let mut body = body(Kind::SessionText, to, now);
            let until = vbm_platform::time::rfc3339(now.plus(Duration::from_secs(3600)));
            body["wait_for_session"] = json!({"until": until});
            if fallback {
                body["wait_for_session"]["fallback"] =
                    json!({"template": {"id": "code", "params": {"pin": "4711"}}});
            }
            body
        }
        Kind::SessionText => json!({"to": to, "type": "session", "text": "Your order is ready"}),
        Kind::Template => {
            json!({"to": to, "type": "template", "template": {"id": "welcome", "params": {"name": "Ann"}}})
        }
        Kind::Otp => {
            json!({"to": to, "type": "template", "template": {"id": "code", "params": {"pin": "4711"}}})
        }
        Kind::Promotional => json!({"to": to, "type": "promotional", "text": "Spring sale"}),
        Kind::UnknownTemplate => {
            json!({"to": to, "type": "template", "template": {"id": "nope", "params": {}}})
        }
    }
}

fn viber_type(kind: Kind) -> Option<u64> {
    match kind {
        Kind::SessionText | Kind::Waiting { .. } => Some(306),
        Kind::Template | Kind::Otp => Some(1702),
        Kind::Promotional => Some(225),
        Kind::UnknownTemplate => None,
    }
}

/// A conversation as it may stand: none, or any mix of session age (kept a minute away from
/// the 24 h edge, so the few milliseconds between the dry run and the send cannot cross it),
/// counters at and around the limits, opt-out and first contact.
#[derive(Debug, Clone)]
struct Drawn {
    exists: bool,
    session_age_minutes: Option<u64>,
    messages_sent: u32,
    consecutive: u32,
    opted_out: bool,
    contacted: bool,
    kind: Kind,
    keyed: bool,
}

fn drawn() -> impl Strategy<Value = Drawn> {
    (
        prop::bool::weighted(0.85),
        prop::option::weighted(0.8, prop_oneof![0u64..60, 1380u64..1439, 1441u64..1500]),
        // Fresh, the first reply (billed) and the second (not), around the 60.
        prop::sample::select(vec![0u32, 1, 2, 4, 59, 60]),
        0u32..6,
        prop::bool::weighted(0.15),
        prop::bool::ANY,
        prop_oneof![
            4 => Just(Kind::SessionText),
            2 => Just(Kind::Template),
            1 => Just(Kind::Otp),
            2 => Just(Kind::Promotional),
            1 => Just(Kind::UnknownTemplate),
            3 => prop::bool::ANY.prop_map(|fallback| Kind::Waiting { fallback }),
        ],
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(exists, age, messages_sent, consecutive, opted_out, contacted, kind, keyed)| Drawn {
                exists,
                session_age_minutes: age,
                messages_sent,
                consecutive: consecutive.min(messages_sent),
                opted_out,
                contacted,
                kind,
                keyed,
            },
        )
}

/// The property over the API: for random conversations and requests, the dry run's answer is
/// what the real send made right after it does (accepted or the same refusal with the same
/// status, the same billing, the session after it), and the dry run itself changed nothing the
/// real send then met.
#[test]
fn a_dry_run_and_the_real_send_after_it_agree() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clock = Arc::new(OffsetClock::new());
    let h = rt.block_on(Harness::with_clock(clock.clone()));
    rt.block_on(templates(&h));
    let mut runner = TestRunner::new(Config {
        cases: 60,
        failure_persistence: None,
        ..Config::default()
    });
    let cases = AtomicU32::new(0);
    let accepted = AtomicU32::new(0);
    let held = AtomicU32::new(0);
    let refused = std::sync::Mutex::new(std::collections::BTreeSet::new());
    runner
        .run(&drawn(), |d| {
            let case = cases.fetch_add(1, Ordering::SeqCst) + 1;
            // A number of its own per case: +44 7911 2NNNNN.
            let to = format!("+447911{:06}", 200_000 + case);
            rt.block_on(async {
                let now = h.now();
                if d.exists {
                    let state = Conversation {
                        session: d.session_age_minutes.map(|age| Session {
                            started_at: now.minus(Duration::from_secs(age * 60)),
                            messages_sent: d.messages_sent,
                            consecutive: d.consecutive,
                        }),
                        opted_out: d.opted_out,
                        contacted: d.contacted,
                    };
                    h.store()
                        .conversations()
                        .put_conversation(&h.business.id, &phone(&to), &state, now)
                        .await
                        .unwrap();
                }
                let request = body(d.kind, &to, now);
                let key = d.keyed.then(|| format!("key-{case}"));
                let before = h.env.footprint().await;
                let dry = dry(&h, &h.app, &request, key.as_deref()).await;
                assert_eq!(
                    h.env.footprint().await,
                    before,
                    "the dry run changed something"
                );
                let real = h.send(&request, key.as_deref()).await;
                let answer = &dry.body;
                match real.status {
                    202 if real.body["status"] == "held" => {
                        held.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(answer["result"], "held", "{d:?}: {answer}");
                        assert_eq!(answer["refusal"], Value::Null);
                        assert_eq!(answer["hold"], real.body["hold"], "{d:?}");
                        assert_eq!(answer["billing"], real.body["billing"], "{d:?}");
                        assert_eq!(answer["session_after"], real.body["session"], "{d:?}");
                        assert_eq!(answer["session_before"], answer["session_after"]);
                        assert_eq!(answer["viber_type"].as_u64(), viber_type(d.kind));
                    }
                    202 => {
                        accepted.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(answer["result"], "accepted", "{d:?}: {answer}");
                        assert_eq!(answer["refusal"], Value::Null);
                        assert_eq!(answer["hold"], Value::Null, "{d:?}");
                        assert_eq!(answer["billing"], real.body["billing"], "{d:?}");
                        assert_eq!(answer["session_after"], real.body["session"], "{d:?}");
                        assert_eq!(answer["viber_type"].as_u64(), viber_type(d.kind));
                    }
                    status => {
                        refused
                            .lock()
                            .unwrap()
                            .insert(real.body["error"]["code"].as_str().unwrap_or("").to_owned());
                        assert_eq!(
                            answer["result"], "refused",
                            "{d:?}: {answer} vs {}",
                            real.body
                        );
                        assert_eq!(answer["refusal"]["status"], status, "{d:?}");
                        assert_eq!(
                            answer["refusal"]["code"], real.body["error"]["code"],
                            "{d:?}"
                        );
                        assert_eq!(answer["billing"], Value::Null);
                        if !answer["session_after"].is_null() {
                            // Refused on the conversation: it stays as it was.
                            assert_eq!(answer["session_after"], h.session(&to).await);
                            assert_eq!(answer["session_before"], answer["session_after"]);
                        }
                    }
                }
                // The session before: what GET /v1/sessions answered before the send (the
                // conversation the dry run read; an unchanged one when refused).
                if !answer["session_before"].is_null() && real.status != 202 {
                    assert_eq!(answer["session_before"], h.session(&to).await);
                }
            });
            // Move the clock a little, so sessions age between cases.
            clock.advance(Duration::from_secs(7));
            Ok(())
        })
        .unwrap();
    // The draws reach every side: accepted sends, held ones and several kinds of refusal.
    assert!(accepted.load(Ordering::SeqCst) >= 5);
    assert!(held.load(Ordering::SeqCst) >= 2);
    assert!(
        refused.lock().unwrap().len() >= 3,
        "{:?}",
        refused.lock().unwrap()
    );
}

/// The dry run's reads, counted by the harness's SDK interceptor: no write of any kind (no
/// transaction, no put, no update), at most the reads a cold real send makes, and the table and
/// queues as they were; the `Idempotency-Key` it carried is still free, and a real send with it
/// is accepted (not replayed), after which a dry run with the same key and body says `replayed`.
#[tokio::test]
async fn a_dry_run_writes_nothing_and_consumes_no_key() {
    let h = Harness::new().await;
    templates(&h).await;
    h.open_session(UK).await;
    let request = session_text(UK);
    let footprint = h.env.footprint().await;
    let session = h.session(UK).await;
    let [tx, gets, other, _] = h.calls.snapshot();
    let answer = dry(&h, &h.app, &request, Some("order-42")).await;
    let [tx2, gets2, other2, _] = h.calls.snapshot();
    assert_eq!(answer.body["result"], "accepted", "{}", answer.body);
    assert_eq!(answer.body["viber_type"], 306);
    assert_eq!(
        answer.body["billing"],
        json!({"category": "session", "billable": true})
    );
    assert_eq!(answer.body["session_before"], session);
    assert_eq!(answer.body["session_after"]["messages_sent"], 1);
    assert_eq!(answer.body["session_after"]["consecutive_left"], 4);
    assert_eq!(tx2 - tx, 0, "no transaction");
    assert_eq!(other2 - other, 0, "no put, update, query or batch");
    // The conversation and the key's record; a cold send reads the conversation once and its
    // transaction checks the key.
    assert_eq!(gets2 - gets, 2);
    assert_eq!(
        h.env.footprint().await,
        footprint,
        "nothing stored or queued"
    );
    assert_eq!(h.session(UK).await, session);

    // Ten dry runs count nothing: the session still takes its five in a row.
    for _ in 0..10 {
        dry(&h, &h.app, &request, None).await;
    }
    let real = h.send(&request, Some("order-42")).await;
    assert_eq!(real.status, 202, "{}", real.body);
    assert_eq!(real.body["session"], answer.body["session_after"]);
    let replay = dry(&h, &h.app, &request, Some("order-42")).await;
    assert_eq!(replay.body["result"], "replayed");
    assert_eq!(replay.body["message_id"], real.body["message_id"]);
    assert_eq!(replay.body["session_after"], real.body["session"]);
    let reused = dry(&h, &h.app, &session_text("+447911123457"), Some("order-42")).await;
    assert_eq!(reused.body["refusal"]["code"], "idempotency_key_reused");
    for _ in 0..4 {
        assert_eq!(h.send(&request, None).await.status, 202);
    }
    let locked = dry(&h, &h.app, &request, None).await;
    assert_eq!(locked.body["result"], "refused");
    assert_eq!(locked.body["refusal"]["code"], "session_locked");
    assert_eq!(locked.body["refusal"]["status"], 409);
    assert_eq!(locked.body["session_after"]["consecutive_left"], 0);
    h.send(&request, None)
        .await
        .expect_error(409, "session_locked");
}

#[tokio::test]
async fn a_dry_run_describes_refusals_and_rejects_a_bad_switch() {
    let h = Harness::new().await;
    let auth = format!("Bearer {}", h.key);
    let footprint = h.env.footprint().await;
    let no_session = dry(&h, &h.app, &session_text(UK), None).await;
    assert_eq!(no_session.body["refusal"]["code"], "no_session");
    assert_eq!(no_session.body["session_before"]["state"], "none");
    // Refused before the conversation is read: no session in the answer.
    let bad = dry(
        &h,
        &h.app,
        &json!({"to": "+1", "type": "session", "text": "x"}),
        None,
    )
    .await;
    assert_eq!(bad.body["refusal"]["code"], "invalid_phone");
    assert_eq!(bad.body["refusal"]["status"], 422);
    assert_eq!(bad.body["refusal"]["field"], "to");
    assert_eq!(bad.body["session_before"], Value::Null);
    assert_eq!(bad.body["viber_type"], Value::Null);
    assert_eq!(
        h.env.footprint().await,
        footprint,
        "the dry runs stored nothing"
    );
    // An opted-out number, then erased: only its suppression item says so, and the dry run
    // reads it as the send's transaction checks it.
    let erased = "+447911000777";
    let opted_out = Conversation {
        opted_out: true,
        contacted: true,
        session: None,
    };
    h.store()
        .conversations()
        .put_conversation(&h.business.id, &phone(erased), &opted_out, h.now())
        .await
        .unwrap();
    let erase = h
        .authed(
            "DELETE",
            &format!("/v1/contacts/{}", erased.replace('+', "%2B")),
            None,
        )
        .await;
    assert_eq!(erase.status, 204, "{}", erase.body);
    let template = json!({"to": erased, "type": "template", "template": {"id": "welcome", "params": {"name": "Ann"}}});
    templates(&h).await;
    let suppressed = dry(&h, &h.app, &template, None).await;
    assert_eq!(
        suppressed.body["refusal"]["code"], "recipient_opted_out",
        "{}",
        suppressed.body
    );
    assert_eq!(suppressed.body["session_before"]["state"], "none");
    let footprint = h.env.footprint().await;
    h.send(&template, None)
        .await
        .expect_error(409, "recipient_opted_out");
    // A switch that is neither true nor false is refused, never taken for a real send.
    let text = session_text(UK).to_string();
    for params in [
        &[("dry_run", "yes")][..],
        &[("dry_run", "1")],
        &[("dry_run", "true"), ("dry_run", "true")],
        &[("dry_run", "")],
    ] {
        let post = request(
            "POST",
            "/v1/messages",
            Some(&text),
            &[("authorization", &auth)],
            CALLER_IP,
        );
        let r = call(&h.app, query(post, params)).await;
        r.expect_error(422, "validation_failed");
        assert_eq!(r.body["error"]["field"], "dry_run");
    }
    // Without a key it is the real API's 401.
    let anonymous = request("POST", "/v1/messages", Some("{}"), &[], CALLER_IP);
    call(&h.app, query(anonymous, &[("dry_run", "true")]))
        .await
        .expect_error(401, "unauthorized");
    assert_eq!(h.env.footprint().await, footprint);
}

/// The whole API with campaigns, over the harness's table.
pub(crate) async fn campaign_app(h: &Harness, clock: Arc<dyn Clock>) -> App {
    let sdk = h.env.sdk_config().await;
    let timers = vbm_outbound::CampaignTimers::new(
        Timers::new(
            aws_sdk_scheduler::Client::new(&sdk),
            h.sqs.clone(),
            h.env.timers_group.clone(),
            "arn:aws:iam::123456789012:role/timers",
        ),
        Target::queue(&h.env.campaign_queue_url, "us-east-1").unwrap(),
    );
    let store = Store::new(
        h.dynamodb.clone(),
        &h.env.table,
        Limits::default(),
        Retention::default(),
    );
    App::new(store, clock).with_campaigns(timers)
}

/// A campaign's dry run: each recipient as its fan-out would decide it now (opted out, first
/// message promotional, …), by billing category, with nothing stored (no campaign, no chunk,
/// no timer, no message).
#[tokio::test]
async fn a_campaign_dry_run_counts_outcomes_and_stores_nothing() {
    let h = Harness::new().await;
    let clock: Arc<dyn Clock> = Arc::new(OffsetClock::new());
    let app = campaign_app(&h, clock).await;
    templates(&h).await;
    let now: Timestamp = h.now();
    let opted_out = Conversation {
        opted_out: true,
        contacted: true,
        session: None,
    };
    h.store()
        .conversations()
        .put_conversation(&h.business.id, &phone("+447911000002"), &opted_out, now)
        .await
        .unwrap();
    h.open_session("+447911000003").await;
    let auth = format!("Bearer {}", h.key);
    let post = |body: Value| {
        let text = body.to_string();
        let auth = auth.clone();
        let app = &app;
        async move {
            let post = request(
                "POST",
                "/v1/campaigns",
                Some(&text),
                &[("authorization", &auth)],
                CALLER_IP,
            );
            call(app, query(post, &[("dry_run", "true")])).await
        }
    };
    let recipients = json!([
        {"to": "+447911000001"},
        {"to": "+447911000002"},
        {"to": "+447911000003"},
        {"to": "+79123456789"},
    ]);
    let footprint = h.env.footprint().await;
    let [tx, _, _, _] = h.calls.snapshot();
    let template = post(json!({
        "message": {"type": "template", "template": {"id": "welcome", "params": {"name": "Ann"}}},
        "recipients": recipients,
        "window": {"start": "09:00", "end": "20:00"},
    }))
    .await;
    assert_eq!(template.status, 200, "{}", template.body);
    assert_eq!(template.body["result"], "accepted");
    assert_eq!(template.body["recipients"], 4);
    // An English template to Russia is refused by the local regulation; an opted-out number
    // by its opt-out.
    assert_eq!(
        template.body["outcomes"],
        json!({
            "accepted": 2,
            "held": 0,
            "refused": {"recipient_opted_out": 1, "template_required": 1},
            "billing": {"transactional_template": 2},
            "billable": 2,
            "estimated_total": null,
        }),
        "{}",
        template.body
    );
    let promotional = post(json!({
        "message": {"type": "promotional", "text": "Spring sale"},
        "recipients": recipients,
    }))
    .await;
    // Only the number that wrote before may get a promotional message first.
    assert_eq!(
        promotional.body["outcomes"],
        json!({
            "accepted": 1,
            "held": 0,
            "refused": {"first_message_promotional": 2, "recipient_opted_out": 1},
            "billing": {"promotional": 1},
            "billable": 1,
            "estimated_total": null,
        }),
        "{}",
        promotional.body
    );
    let refused = post(json!({
        "message": {"type": "template", "template": {"id": "nope"}},
        "recipients": recipients,
    }))
    .await;
    assert_eq!(refused.status, 200);
    assert_eq!(refused.body["result"], "refused");
    assert_eq!(refused.body["refusal"]["code"], "template_not_found");
    assert_eq!(refused.body["outcomes"], Value::Null);
    let [tx2, _, _, _] = h.calls.snapshot();
    assert_eq!(tx2, tx, "no transaction");
    assert_eq!(
        h.env.footprint().await,
        footprint,
        "nothing stored or queued"
    );
}
