//! Clients driving the local server over HTTP the way businesses and their users would, each
//! answer judged against [`crate::model`].
//!
//! Every request goes to one of `conversations` phone numbers of the demo business. A client
//! takes a conversation no other client is using at that moment, so each conversation's requests
//! are sequential and the model knows exactly what each should get (the race of many concurrent
//! sends to one session is the send tests' subject: 200 at once, exactly 5 through).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::judge::{Answer, Tally, judge};
use crate::model::{Act, Conversation, Verdict};
use crate::server_process::{DEMO_SERVICE_ID, DEV_VIBER_SECRET};

/// What one request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Session,
    Transactional,
    Template,
    Promotional,
    UserMessage,
    Unsubscribe,
    ReadSession,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Session => "send session",
            Kind::Transactional => "send transactional",
            Kind::Template => "send template",
            Kind::Promotional => "send promotional",
            Kind::UserMessage => "user writes (sandbox → inbound)",
            Kind::Unsubscribe => "unsubscribe (status callback)",
            Kind::ReadSession => "GET /v1/sessions",
        }
    }

    pub(crate) fn act(self) -> Option<Act> {
        match self {
            Kind::Session => Some(Act::Session),
            Kind::Transactional | Kind::Template => Some(Act::Transactional),
            Kind::Promotional => Some(Act::Promotional),
            Kind::UserMessage => Some(Act::UserMessage),
            Kind::Unsubscribe => Some(Act::Unsubscribe),
            Kind::ReadSession => None,
        }
    }
}

/// The request mix, in percent.
#[derive(Debug, Clone)]
pub struct Mix(pub Vec<(Kind, u32)>);

impl Mix {
    /// Businesses mostly answering users in sessions, some notifications and promotions, users
    /// writing, now and then one blocking the sender, operators looking at sessions.
    pub fn conversational() -> Self {
        Mix(vec![
            (Kind::Session, 48),
            (Kind::Transactional, 12),
            (Kind::Template, 10),
            (Kind::Promotional, 8),
            (Kind::UserMessage, 17),
            (Kind::Unsubscribe, 2),
            (Kind::ReadSession, 3),
        ])
    }

    /// Only sends that the rules never refuse to a number that has not opted out.
    pub fn sends_only() -> Self {
        Mix(vec![(Kind::Transactional, 50), (Kind::Template, 50)])
    }

    fn pick(&self, rng: &mut StdRng) -> Kind {
        let total: u32 = self.0.iter().map(|(_, w)| w).sum();
        let mut roll = rng.random_range(0..total.max(1));
        for (kind, weight) in &self.0 {
            if roll < *weight {
                return *kind;
            }
            roll -= weight;
        }
        Kind::Transactional
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub clients: usize,
    pub conversations: usize,
    /// Requests in all (the run ends when they are done or at `until`).
    pub requests: u64,
    /// Requests per second for all clients together; `None`: as fast as answers come.
    pub rate: Option<f64>,
    pub until: Option<Instant>,
    pub mix: Mix,
    /// First phone-number index (runs on one server use disjoint ranges).
    pub first_number: usize,
    pub seed: u64,
}

/// The server as clients see it.
#[derive(Clone)]
pub struct Target {
    pub base_url: String,
    pub api_key: String,
    http: reqwest::Client,
}

impl Target {
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, reqwest::Error> {
        Ok(Self {
            base_url: base_url.to_owned(),
            api_key: api_key.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(256)
                .build()?,
        })
    }
}

/// Phone number `i` of the runs: UK mobile numbers ending in 1, which the sandbox never treats
/// specially (its 0008, 0009, 0002 and 0500 endings).
pub fn phone(i: usize) -> String {
    format!("+447911{:05}1", i % 100_000)
}

struct Shared {
    target: Target,
    plan: Plan,
    conversations: Vec<Mutex<Conversation>>,
    issued: AtomicU64,
    started: Instant,
    viber_tokens: AtomicU64,
}

/// Runs `plan` against `target`; the tally of every answer.
pub async fn run(target: Target, plan: Plan) -> Tally {
    let shared = Arc::new(Shared {
        conversations: (0..plan.conversations.max(1))
            .map(|_| Mutex::new(Conversation::default()))
            .collect(),
        target,
        issued: AtomicU64::new(0),
        started: Instant::now(),
        viber_tokens: AtomicU64::new(9_100_000_000_000_000_000),
        plan,
    });
    let tasks: Vec<_> = (0..shared.plan.clients.max(1))
        .map(|client| tokio::spawn(client_loop(shared.clone(), client)))
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        match task.await {
            Ok(t) => tally.merge(t),
            Err(e) => {
                tally.errors += 1;
                tally.problem(format!("a client task failed: {e}"));
            }
        }
    }
    tally
}

async fn client_loop(shared: Arc<Shared>, client: usize) -> Tally {
    let mut rng = StdRng::seed_from_u64(shared.plan.seed.wrapping_add(client as u64));
    let mut tally = Tally::default();
    loop {
        let ticket = shared.issued.fetch_add(1, Ordering::Relaxed);
        if ticket >= shared.plan.requests || shared.plan.until.is_some_and(|t| Instant::now() >= t)
        {
            return tally;
        }
        if let Some(rate) = shared.plan.rate {
            let due = shared.started + Duration::from_secs_f64(ticket as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        // A conversation nobody else is using now.
        let (index, mut conversation) = loop {
            let i = rng.random_range(0..shared.conversations.len());
            if let Ok(guard) = shared.conversations[i].try_lock() {
                break (i, guard);
            }
            tokio::task::yield_now().await;
        };
        let kind = steer(shared.plan.mix.pick(&mut rng), &conversation, &mut rng);
        let to = phone(shared.plan.first_number + index);
        one_request(&shared, &mut tally, &mut conversation, kind, &to).await;
    }
}

/// Businesses mostly know where a conversation stands: four times in five, a session message
/// to someone who never wrote waits for the user to write first, and a promotion to someone
/// never contacted is a template instead. The rest still go, and are refused.
fn steer(kind: Kind, conversation: &Conversation, rng: &mut StdRng) -> Kind {
    let refused = |act| conversation.verdict(act) != Verdict::Allowed;
    match kind {
        Kind::Session
            if conversation.verdict(Act::Session) == Verdict::Refused("no_session")
                && rng.random_bool(0.8) =>
        {
            Kind::UserMessage
        }
        Kind::Promotional if refused(Act::Promotional) && rng.random_bool(0.8) => Kind::Template,
        _ => kind,
    }
}

async fn call(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

async fn one_request(
    shared: &Shared,
    tally: &mut Tally,
    conversation: &mut Conversation,
    kind: Kind,
    to: &str,
) {
    let target = &shared.target;
    let send = |body: Value| {
        target
            .http
            .post(format!("{}/v1/messages", target.base_url))
            .bearer_auth(&target.api_key)
            .json(&body)
    };
    let request = match kind {
        Kind::Session => send(json!({"to": to, "type": "session", "text": "How can we help?"})),
        // A transactional notification is a template since 2026-07-01 (free-form text needs the
        // business's opt-in, which the demo business does not have): the stack's code template.
        Kind::Transactional => send(
            json!({"to": to, "type": "template", "template": {"id": "code_ru", "params": {"code": "4711"}}}),
        ),
        Kind::Template => send(
            json!({"to": to, "type": "template", "template": {"id": "welcome", "params": {"name": "Ann"}}}),
        ),
        Kind::Promotional => {
            send(json!({"to": to, "type": "promotional", "text": "Spring sale: 20% off."}))
        }
        Kind::UserMessage => target
            .http
            .post(format!("{}/_sandbox/viber/user_message", target.base_url))
            .json(&json!({"service_id": DEMO_SERVICE_ID, "phone_number": to, "text": "Hi!"})),
        Kind::Unsubscribe => {
            let body = json!({
                "message_token": shared.viber_tokens.fetch_add(1, Ordering::Relaxed),
                "message_time": unix_millis(),
                "message_status": 5,
                "phone_number": to.trim_start_matches('+'),
                "service_id": DEMO_SERVICE_ID,
            })
            .to_string();
            // As Viber posts it: unsigned, to the URL with the secret.
            target
                .http
                .post(format!(
                    "{}/viber/status/{DEV_VIBER_SECRET}",
                    target.base_url
                ))
                .header("content-type", "application/json")
                .body(body)
        }
        Kind::ReadSession => target
            .http
            .get(format!(
                "{}/v1/sessions/{}",
                target.base_url,
                to.replace('+', "%2B")
            ))
            .bearer_auth(&target.api_key),
    };
    let started = Instant::now();
    let answer = call(request).await;
    tally.requests += 1;
    tally
        .latency
        .entry(kind)
        .or_default()
        .push(crate::stats::ms(started.elapsed()));
    judge(tally, conversation, kind, to, answer);
}

fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}
