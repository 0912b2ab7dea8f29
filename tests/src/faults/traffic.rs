//! The burst: every user gets session messages and templates at once, some users write in the
//! middle of it, and a schedule of faults runs beside it. Every request and its final answer is
//! logged for the audit.
//!
//! Each message carries a marker (`fx{round}y{user}z{n}q`) in its text or template parameter,
//! so what reached the Viber sandbox can be matched to what was accepted without trusting any
//! id the system made up.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::Plan;
use crate::Stack;

/// How often a business retries a `503` (with its `Idempotency-Key`), one second apart: longer
/// than any outage of the plans.
const RETRIES: u32 = 30;

/// Numbers the sandbox treats specially (see `infra/devstack/src/sandbox.rs`).
pub const BLOCKED: &str = "+447911120008";
pub const ALWAYS_503: &str = "+447911120500";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Session,
    Template,
}

/// One send as the business saw it.
#[derive(Debug, Clone)]
pub struct Send {
    pub marker: String,
    pub phone: String,
    pub kind: Kind,
    /// Sent with an `Idempotency-Key` (and retried on 503), or without (not retried).
    pub keyed: bool,
    /// HTTP requests made (retries included).
    pub attempts: u32,
    /// `503` answers among them.
    pub unavailable: u32,
    /// The final answer.
    pub status: StatusCode,
    pub message_id: Option<String>,
    pub code: String,
}

/// One user message as the user (the sandbox) saw it.
#[derive(Debug, Clone)]
pub struct UserMessage {
    pub phone: String,
    /// What our `inbound` finally answered the sandbox (after its retries), and Viber's token.
    pub inbound_status: u16,
    pub token: Option<String>,
}

#[derive(Debug, Default)]
pub struct Log {
    pub sends: Vec<Send>,
    pub user_messages: Vec<UserMessage>,
    /// Users who wrote during the burst (their `consecutive` counter is not predictable).
    pub chatty: Vec<String>,
    pub phones: Vec<String>,
    pub outages: u32,
}

/// A user's number: none ends like the sandbox's special ones (0002, 0008, 0009, 0500).
pub fn phone(user: usize) -> String {
    format!("+4479111{:05}", 23400 + user)
}

pub async fn run(stack: &Stack, plan: &Plan) -> Log {
    let mut log = Log {
        phones: (0..plan.phones).map(phone).collect(),
        ..Log::default()
    };
    // Sessions open before the faults start.
    for phone in &log.phones {
        log.user_messages.push(user_writes(stack, phone).await);
    }
    for round in 0..plan.rounds {
        let (sends, users, ()) = tokio::join!(
            burst(stack, plan, round),
            chatter(stack, plan, &log.phones),
            faults(stack, plan),
        );
        log.sends.extend(sends);
        log.user_messages.extend(users);
        log.outages += 1;
    }
    log.chatty = log.phones.iter().step_by(2).cloned().collect();
    log
}

/// How long a round's sends are spread over: the whole fault schedule ([`faults`]), so that
/// every fault meets traffic.
fn span(plan: &Plan) -> Duration {
    plan.outage + Duration::from_secs(5)
}

/// Every send of one round, spread evenly over [`span`].
async fn burst(stack: &Stack, plan: &Plan, round: usize) -> Vec<Send> {
    let mut planned = Vec::new();
    for user in 0..plan.phones {
        for n in 0..plan.session_sends {
            planned.push((phone(user), Kind::Session, format!("fx{round}y{user}z{n}q")));
        }
        for n in 0..plan.template_sends {
            let n = plan.session_sends + n;
            planned.push((
                phone(user),
                Kind::Template,
                format!("fx{round}y{user}z{n}q"),
            ));
        }
    }
    if round == 0 {
        planned.push((BLOCKED.into(), Kind::Template, format!("fx{round}y9008z0q")));
    }
    planned.push((
        ALWAYS_503.into(),
        Kind::Template,
        format!("fx{round}y9500z0q"),
    ));
    let gap = span(plan) / u32::try_from(planned.len()).unwrap_or(u32::MAX).max(1);
    join_all(
        planned
            .into_iter()
            .enumerate()
            .map(|(i, (phone, kind, marker))| async move {
                tokio::time::sleep(gap * u32::try_from(i).unwrap_or(u32::MAX)).await;
                send(stack, phone, kind, marker, i % 2 == 0).await
            }),
    )
    .await
}

async fn send(stack: &Stack, phone: String, kind: Kind, marker: String, keyed: bool) -> Send {
    let body = match kind {
        Kind::Session => json!({"to": phone, "type": "session", "text": format!("news {marker}")}),
        Kind::Template => {
            json!({"to": phone, "type": "template", "template": {"id": "welcome", "params": {"name": marker}}})
        }
    };
    let (mut attempts, mut unavailable) = (0, 0);
    loop {
        attempts += 1;
        let answer = if keyed {
            stack
                .send_keyed(body.clone(), &format!("key-{marker}"))
                .await
        } else {
            stack.send(body.clone()).await
        };
        if answer.status == StatusCode::SERVICE_UNAVAILABLE {
            unavailable += 1;
            if keyed && attempts <= RETRIES {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        return Send {
            marker,
            phone,
            kind,
            keyed,
            attempts,
            unavailable,
            status: answer.status,
            message_id: answer.body["message_id"].as_str().map(str::to_owned),
            code: answer.code().to_owned(),
        };
    }
}

/// Half the users write during the burst, while the emulator is away (unlocking their sessions
/// while messages fly; Viber retries the callback until `inbound` takes it).
async fn chatter(stack: &Stack, plan: &Plan, phones: &[String]) -> Vec<UserMessage> {
    tokio::time::sleep(OUTAGE_AT + plan.outage / 2).await;
    join_all(phones.iter().step_by(2).map(|p| user_writes(stack, p))).await
}

async fn user_writes(stack: &Stack, phone: &str) -> UserMessage {
    let answer = stack
        .post(
            "/_sandbox/viber/user_message",
            json!({"service_id": 1000, "phone_number": phone, "text": "still there?"}),
        )
        .await;
    UserMessage {
        phone: phone.to_owned(),
        inbound_status: answer.body["inbound_status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or_default(),
        token: answer.body["message_token"].as_str().map(str::to_owned),
    }
}

/// When in a round the emulator goes away.
const OUTAGE_AT: Duration = Duration::from_secs(1);

/// The round's faults. Viber: 503s, then late answers, then garbage, queued at once so they
/// meet the next calls whenever those come; the business: errors, then late answers. The
/// emulator goes away a second in, in the middle of the sends.
async fn faults(stack: &Stack, plan: &Plan) {
    let viber = "/_sandbox/viber/faults";
    let business = "/_sandbox/business/demo/faults";
    arm(
        stack,
        viber,
        json!({"mode": "http_5xx", "count": plan.viber_503s}),
    )
    .await;
    arm(stack, viber, json!({"mode": "timeout", "count": 2})).await;
    arm(stack, viber, json!({"mode": "garbage", "count": 3})).await;
    arm(
        stack,
        business,
        json!({"mode": "error", "count": plan.sink_errors}),
    )
    .await;
    arm(stack, business, json!({"mode": "timeout", "count": 2})).await;
    tokio::time::sleep(OUTAGE_AT).await;
    let outage = json!({"seconds": plan.outage.as_secs_f64()});
    arm(stack, "/_dev/emulator/outage", outage).await;
    tokio::time::sleep(plan.outage).await;
}

async fn arm(stack: &Stack, path: &str, body: Value) {
    let answer = stack.post(path, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{path}: {answer:?}");
}
