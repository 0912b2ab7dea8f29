//! A stand-in for Viber: `send_message` answered like Viber's partner API, Viber's own session
//! rules enforced independently of ours, and the callbacks Viber would post: as the public
//! emulators do, unsigned, to the callback URL with the secret (`/viber/status/{secret}`),
//! or also signed (`X-Viber-Signature`) when the stack plays a signing partner gateway.
//!
//! Numbers ending in `0008` answer status 8 (user blocked), in `0009` status 9 (not a Viber
//! user), in `0002` get `expired` instead of `delivered`, in `0500` always HTTP 503 (a job that
//! can only end in the dead-letter queue), in `77NN` status NN (any code of Viber's table, e.g.
//! `7711` for 11 unauthorized IP, `7701` for 1 internal failure).
//!
//! Like Viber it refuses with 6 `SRVC_BAD_PARAMETERS` a `#tracking_data` on the types that do
//! not take it (107, 108, 109 and the smartphone-only file types 223, 224), and answers 21 after
//! [`Sandbox::max_consecutive`] session messages in a row (5 by default; some sources say 10).
//!
//! Lists (801, 802) and carousels (901) are checked against Viber's limits as the public
//! partner client states them (docs/viber.md, "Lists and carousels"): a list that breaks them is
//! answered 40 `SRVC_SURVEY_VALIDATION_ERROR`, a carousel 41 `SRVC_CAROUSEL_VALIDATION_ERROR`. A
//! session list (802) counts toward the 5-in-a-row rule like the other session types. The user
//! answers the last list delivered to them with `POST /_sandbox/viber/answer_list`: the inbound
//! callback carries the option's text and the list's `#tracking_data`, echoed.
//!
//! It plays several Viber services: a service id registered with its kind
//! (`POST /_sandbox/viber/services`, `{"service_id": N, "kind": "one_way"|"two_way"|"session"}`)
//! refuses a message type its kind does not carry with 4 `SRVC_BLOCKED_MESSAGE_TYPE` (a template
//! on a session service, a session message on a one-way one); an id never registered takes every
//! type, as before.
//!
//! Like Viber, a request whose `seq` was already delivered is not delivered again: it is answered
//! 12 `SRVC_ALREADY_SENT` with the first token. Faults (`POST /_sandbox/viber/faults`, see
//! [`crate::faults`]) make it answer 503, answer too late, or answer garbage; the last two still
//! deliver, as a lost answer would.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use session_rules::{ServiceKind, TwoWaySessions};
use tokio::sync::Mutex;
use vbm_platform::clock::Clock;

use crate::bounded;
use crate::faults::{Switch, ViberFault};

/// Viber's session types: these count toward the 5-in-a-row rule.
const SESSION_TYPES: [i64; 5] = [306, 307, 221, 224, 802];
/// Session messages in a row before Viber answers 21, unless configured otherwise.
pub const DEFAULT_MAX_CONSECUTIVE: u32 = 5;
/// Types that refuse `#tracking_data` (N8N's `TRACKING_REQUIRED` notes): status 6.
const NO_TRACKING_TYPES: [i64; 5] = [107, 108, 109, 223, 224];

/// Callbacks Viber would retry: how many times, and the pause before the n-th retry.
const CALLBACK_ATTEMPTS: u64 = 12;
const CALLBACK_PAUSE: Duration = Duration::from_millis(200);

#[derive(Default)]
struct State {
    /// Everything `send_message` received, in order.
    sent: Vec<Value>,
    /// What reached the user, in order (once per `seq`).
    delivered: Vec<Value>,
    /// The token of each delivered `(service id, seq)`, and those keys oldest first (to bound).
    tokens: HashMap<(u64, String), String>,
    token_order: VecDeque<(u64, String)>,
    /// `send_message` answers by kind, for `GET /_sandbox/viber/stats`.
    answers: HashMap<&'static str, u64>,
    /// Session messages in a row per (service id, phone), reset by a user message.
    consecutive: HashMap<(u64, String), u32>,
    /// The services Viber knows the kind of (`POST /_sandbox/viber/services`).
    services: HashMap<u64, ServiceKind>,
    next_token: u64,
}

impl State {
    /// A user message from `phone` to `service_id`: it ends their run of session messages and
    /// takes the next message token.
    fn user_spoke(&mut self, service_id: u64, phone: &str) -> String {
        self.consecutive.insert((service_id, phone.to_owned()), 0);
        self.next_token += 1;
        self.next_token.to_string()
    }
}

pub struct Sandbox {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    /// Where our own functions listen (`http://127.0.0.1:3000`).
    base_url: String,
    /// The callback URL secret, the last path segment of every callback.
    secret: String,
    /// The signing secret, when callbacks are signed too.
    signing_secret: Option<String>,
    /// How long after a send the `delivered` callback comes.
    pub callback_delay: Duration,
    /// How long a `timeout` fault holds the answer: longer than `dispatch`'s client timeout.
    pub late_answer: Duration,
    pub faults: Switch<ViberFault>,
    /// At most this many entries per log (and remembered `seq`s); `None`: all.
    pub keep: Option<usize>,
    /// Session messages in a row before the 21 answer.
    pub max_consecutive: u32,
    callbacks_pending: AtomicU64,
    callbacks_abandoned: AtomicU64,
}

/// An HTTP answer of the sandbox: status and body.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Sandbox {
    /// `secret`: the callback URL secret; `signing_secret`: sign callbacks with it too.
    pub fn new(
        clock: Arc<dyn Clock>,
        base_url: String,
        secret: String,
        signing_secret: Option<String>,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                next_token: 5_000_000_000_000_000_000,
                ..State::default()
            }),
            clock,
            http: reqwest::Client::new(),
            base_url,
            secret,
            signing_secret,
            callback_delay: Duration::from_millis(300),
            late_answer: Duration::from_secs(6),
            faults: Switch::default(),
            keep: None,
            max_consecutive: DEFAULT_MAX_CONSECUTIVE,
            callbacks_pending: AtomicU64::new(0),
            callbacks_abandoned: AtomicU64::new(0),
        }
    }

    /// `POST /_sandbox/viber/send_message`: HTTP 200 and the body's `status` decides, unless a
    /// fault (or a `0500` number) says otherwise.
    pub async fn send_message(self: &Arc<Self>, body: &[u8]) -> Reply {
        let dest_fails = serde_json::from_slice::<Value>(body).is_ok_and(|r| {
            r.get("dest")
                .and_then(Value::as_str)
                .is_some_and(|d| d.ends_with("0500"))
        });
        // A `0500` number does not use up an armed fault.
        let fault = if dest_fails { None } else { self.faults.take() };
        if fault == Some(ViberFault::Http5xx) || dest_fails {
            let mut state = self.state.lock().await;
            if let Ok(request) = serde_json::from_slice::<Value>(body) {
                bounded::push(&mut state.sent, request, self.keep);
            }
            *state.answers.entry("http_503").or_default() += 1;
            return Reply {
                status: 503,
                body: "<html><body>503 Service Temporarily Unavailable</body></html>".into(),
            };
        }
        let answer = self.answer(body).await;
        match fault {
            Some(ViberFault::Timeout) => {
                self.count("late").await;
                tokio::time::sleep(self.late_answer).await;
            }
            Some(ViberFault::Garbage) => {
                self.count("garbage").await;
                return Reply {
                    status: 200,
                    body: "{\"status\": 0, \"message_tok".into(),
                };
            }
            _ => {}
        }
        Reply {
            status: 200,
            body: answer.to_string(),
        }
    }

    async fn count(&self, kind: &'static str) {
        *self.state.lock().await.answers.entry(kind).or_default() += 1;
    }

    /// Viber's answer to a well-formed call, after delivering when it should.
    async fn answer(self: &Arc<Self>, body: &[u8]) -> Value {
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            self.count("bad_data").await;
            return json!({"status": 3, "status_message": "SRVC_BAD_DATA"});
        };
        let seq = request.get("seq").cloned().unwrap_or(Value::Null);
        let dest = request
            .get("dest")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let service_id = request
            .get("service_id")
            .and_then(Value::as_u64)
            .unwrap_or_default();
        let kind = request
            .get("type")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let mut state = self.state.lock().await;
        bounded::push(&mut state.sent, request.clone(), self.keep);
        let seq_key = (service_id, seq.to_string());
        if let Some(token) = state.tokens.get(&seq_key).cloned() {
            *state.answers.entry("already_sent").or_default() += 1;
            return json!({"status": 12, "status_message": "SRVC_ALREADY_SENT", "seq": seq, "message_token": token});
        }
        if dest.ends_with("0008") {
            *state.answers.entry("user_blocked").or_default() += 1;
            return json!({"status": 8, "status_message": "SRVC_USER_BLOCKED", "seq": seq});
        }
        if dest.ends_with("0009") {
            *state.answers.entry("not_viber_user").or_default() += 1;
            return json!({"status": 9, "status_message": "SRVC_NOT_VIBER_USER", "seq": seq});
        }
        if let Some(code) = chosen_status(&dest) {
            *state.answers.entry("chosen_status").or_default() += 1;
            let name = viber::ViberStatus(code).name();
            return json!({"status": code, "status_message": name, "seq": seq});
        }
        if let Some(service) = state.services.get(&service_id)
            && !u16::try_from(kind)
                .is_ok_and(|t| service.carries_viber_type(t, TwoWaySessions::Open))
        {
            *state.answers.entry("blocked_message_type").or_default() += 1;
            return json!({"status": 4, "status_message": "SRVC_BLOCKED_MESSAGE_TYPE", "seq": seq});
        }
        if NO_TRACKING_TYPES.contains(&kind)
            && request
                .get("message")
                .is_some_and(|m| m.get("#tracking_data").is_some())
        {
            *state.answers.entry("bad_parameters").or_default() += 1;
            return json!({"status": 6, "status_message": "SRVC_BAD_PARAMETERS", "seq": seq});
        }
        if let Some((code, name)) = interactive_error(kind, &request) {
            *state.answers.entry(name).or_default() += 1;
            return json!({"status": code, "status_message": name, "seq": seq});
        }
        let is_session = SESSION_TYPES.contains(&kind);
        if is_session {
            let row = state
                .consecutive
                .entry((service_id, dest.clone()))
                .or_default();
            if *row >= self.max_consecutive {
                *state.answers.entry("wait_for_user").or_default() += 1;
                return json!({"status": 21, "status_message": "SRVC_WAIT_FOR_USER_RESPONSE", "seq": seq});
            }
            *row += 1;
        }
        state.next_token += 1;
        let token = state.next_token.to_string();
        state.tokens.insert(seq_key.clone(), token.clone());
        state.token_order.push_back(seq_key);
        if let Some(keep) = self.keep
            && state.token_order.len() > keep
            && let Some(oldest) = state.token_order.pop_front()
        {
            state.tokens.remove(&oldest);
        }
        bounded::push(&mut state.delivered, request, self.keep);
        *state.answers.entry("success").or_default() += 1;
        drop(state);
        let mut answer = json!({"status": 0, "status_message": "SRVC_SUCCESS", "seq": seq, "message_token": token});
        if is_session {
            answer["session_id"] = json!(format!("sess-{service_id}-{dest}"));
        }
        let first = if dest.ends_with("0002") { 2 } else { 0 };
        let this = Arc::clone(self);
        let pending = if first == 0 { 2 } else { 1 };
        self.callbacks_pending.fetch_add(pending, Ordering::SeqCst);
        tokio::spawn(async move {
            tokio::time::sleep(this.callback_delay).await;
            this.post_status(&token, first, service_id, &dest).await;
            if first == 0 {
                tokio::time::sleep(this.callback_delay).await;
                this.post_status(&token, 1, service_id, &dest).await;
            }
        });
        answer
    }

    /// Posts one status callback (counted in `callbacks_pending` by the caller), retried. As the
    /// public partner emulators post it: a string token, and `service_id` and `phone_number`
    /// (digits) beside the status.
    async fn post_status(&self, token: &str, status: i64, service_id: u64, dest: &str) {
        let body = json!({
            "message_token": token,
            "message_time": self.clock.now().as_millis(),
            "message_status": status,
            "service_id": service_id,
            "phone_number": dest,
        });
        let answered = self.post_retried("/viber/status", &body).await;
        if !answered.is_some_and(|s| s.is_success()) {
            self.callbacks_abandoned.fetch_add(1, Ordering::SeqCst);
        }
        self.callbacks_pending.fetch_sub(1, Ordering::SeqCst);
    }

    /// Viber retries a callback that fails; so does the sandbox, with growing pauses (about
    /// 15 s in all). The last answer, if any.
    async fn post_retried(&self, path: &str, body: &Value) -> Option<reqwest::StatusCode> {
        let mut last = None;
        for attempt in 1..=CALLBACK_ATTEMPTS {
            match self.post(path, body).await {
                Ok(status) if status.is_success() => return Some(status),
                Ok(status) => {
                    tracing::info!(%status, path, "callback refused; retrying");
                    last = Some(status);
                }
                Err(e) => tracing::warn!(error = %e, path, "callback failed; retrying"),
            }
            if attempt < CALLBACK_ATTEMPTS {
                tokio::time::sleep(CALLBACK_PAUSE * u32::try_from(attempt).unwrap_or(1)).await;
            }
        }
        last
    }

    /// A user's message posted to our `inbound`, as Viber retries it.
    async fn post_inbound(&self, callback: &Value) -> Result<reqwest::StatusCode, String> {
        self.post_retried("/viber/inbound", callback)
            .await
            .ok_or_else(|| "the inbound callback got no answer".to_owned())
    }

    /// One callback to `{path}/{secret}`, signed only when a signing secret is set.
    async fn post(&self, path: &str, body: &Value) -> Result<reqwest::StatusCode, reqwest::Error> {
        let raw = body.to_string();
        let mut request = self
            .http
            .post(format!("{}{path}/{}", self.base_url, self.secret))
            .header("content-type", "application/json");
        if let Some(signing) = &self.signing_secret {
            let signature = viber::auth::sign(signing.as_bytes(), raw.as_bytes());
            request = request.header(viber::auth::SIGNATURE_HEADER, signature);
        }
        let response = request.body(raw).send().await?;
        Ok(response.status())
    }

    /// `POST /_sandbox/viber/services`: Viber learns what a service id was ordered as.
    pub async fn register_service(&self, body: &[u8]) -> Result<Value, String> {
        let request = parse_request(body)?;
        let service_id = service_id(&request)?;
        let kind = request
            .get("kind")
            .and_then(Value::as_str)
            .and_then(ServiceKind::parse)
            .ok_or("kind: one_way, two_way or session")?;
        self.state.lock().await.services.insert(service_id, kind);
        Ok(json!({"service_id": service_id, "kind": kind.as_str()}))
    }

    /// `POST /_sandbox/viber/user_message`: a user types in Viber; the sandbox posts the
    /// inbound callback and returns what our `inbound` answered.
    pub async fn user_message(&self, body: &[u8]) -> Result<Value, String> {
        let request = parse_request(body)?;
        let service_id = service_id(&request)?;
        let phone = phone_number(&request)?;
        let text = request
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("Hi!")
            .to_owned();
        let token = self.state.lock().await.user_spoke(service_id, &phone);
        let callback = json!({
            "service_id": service_id,
            "phone_number": phone,
            "message_token": token,
            "time": self.clock.now().as_millis(),
            "message": {"text": text},
        });
        let status = self.post_inbound(&callback).await?;
        Ok(json!({"message_token": token, "inbound_status": status.as_u16()}))
    }

    /// `POST /_sandbox/viber/answer_list` `{"service_id", "phone_number", "option_index"}` (from
    /// 0) or `{…, "option": "text"}`: the user taps an option of the last list (801/802)
    /// delivered to them by that service; the sandbox posts the inbound callback as a user
    /// message whose text is the option's, with the list's `#tracking_data` echoed (docs/viber.md,
    /// "Lists and carousels"), and returns what our `inbound` answered.
    pub async fn answer_list(&self, body: &[u8]) -> Result<Value, String> {
        let request = parse_request(body)?;
        let service_id = service_id(&request)?;
        let phone = phone_number(&request)?;
        let (list, token) = {
            let mut state = self.state.lock().await;
            let list = state
                .delivered
                .iter()
                .rev()
                .find(|sent| {
                    sent.get("service_id").and_then(Value::as_u64) == Some(service_id)
                        && sent.get("dest").and_then(Value::as_str) == Some(phone.as_str())
                        && matches!(sent.get("type").and_then(Value::as_i64), Some(801 | 802))
                })
                .cloned()
                .ok_or("no list was delivered to this user by this service")?;
            (list, state.user_spoke(service_id, &phone))
        };
        let options: Vec<&str> = list["survey"]["options"]
            .as_array()
            .map(|o| o.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let text = match (request.get("option_index"), request.get("option")) {
            (Some(index), _) => index
                .as_u64()
                .and_then(|i| options.get(usize::try_from(i).ok()?))
                .map(|o| (*o).to_owned())
                .ok_or_else(|| format!("option_index must be 0 to {}", options.len() - 1))?,
            (None, Some(Value::String(text))) => text.clone(),
            _ => return Err("option_index (a number) or option (a string) is required".into()),
        };
        let callback = json!({
            "service_id": service_id,
            "phone_number": phone,
            "message_token": token,
            "time": self.clock.now().as_millis(),
            "message": {"text": text, "tracking_data": list["message"]["#tracking_data"]},
        });
        let status = self.post_inbound(&callback).await?;
        Ok(json!({"message_token": token, "text": text, "inbound_status": status.as_u16()}))
    }

    /// `POST /_sandbox/viber/callback` `{"path": "/viber/status" | "/viber/inbound", "body": {…}}`:
    /// posts `body` as it is, the way the sandbox posts every callback: what Viber might send
    /// that the sandbox itself never would (unknown codes, odd shapes, another service id).
    pub async fn callback(&self, body: &[u8]) -> Result<Value, String> {
        let request = parse_request(body)?;
        let path = match request.get("path").and_then(Value::as_str) {
            Some(path @ ("/viber/status" | "/viber/inbound")) => path,
            _ => return Err("path must be /viber/status or /viber/inbound".into()),
        };
        let callback = request.get("body").ok_or("body is required")?;
        let status = self
            .post_retried(path, callback)
            .await
            .ok_or("the callback got no answer")?;
        Ok(json!({"status": status.as_u16()}))
    }

    /// `GET /_sandbox/viber/sent`.
    pub async fn sent(&self) -> Value {
        Value::Array(self.state.lock().await.sent.clone())
    }

    /// `GET /_sandbox/viber/delivered`: what reached users, once per `seq`.
    pub async fn delivered(&self) -> Value {
        Value::Array(self.state.lock().await.delivered.clone())
    }

    /// `GET /_sandbox/viber/stats`: answers by kind and the status callbacks' fate.
    pub async fn stats(&self) -> Value {
        let state = self.state.lock().await;
        json!({
            "requests": state.sent.len(),
            "delivered": state.delivered.len(),
            "answers": state.answers,
            "callbacks_pending": self.callbacks_pending.load(Ordering::SeqCst),
            "callbacks_abandoned": self.callbacks_abandoned.load(Ordering::SeqCst),
        })
    }
}

/// The JSON body of a `/_sandbox/viber/...` request.
fn parse_request(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))
}

/// The request's `service_id`, required.
fn service_id(request: &Value) -> Result<u64, &'static str> {
    request
        .get("service_id")
        .and_then(Value::as_u64)
        .ok_or("service_id (a number) is required")
}

/// The request's `phone_number`, required, as Viber writes it (no `+`).
fn phone_number(request: &Value) -> Result<String, &'static str> {
    request
        .get("phone_number")
        .and_then(Value::as_str)
        .map(|phone| phone.trim_start_matches('+').to_owned())
        .ok_or("phone_number is required")
}

/// Viber's refusal of a list (40) or carousel (41) outside its limits, as the public partner
/// client checks them (`types.ts` `LIMITS`); `None` for any other type or a valid one.
fn interactive_error(kind: i64, request: &Value) -> Option<(i64, &'static str)> {
    let chars = |v: &Value| v.as_str().map(|s| s.chars().count());
    let within =
        |v: &Value, min: usize, max: usize| chars(v).is_some_and(|n| (min..=max).contains(&n));
    let message = &request["message"];
    let tracked = chars(&message["#tracking_data"]).is_some_and(|n| n > 0);
    match kind {
        801 | 802 => {
            let options = request["survey"]["options"].as_array();
            let valid = tracked
                && within(&message["#txt"], 1, 85)
                && options.is_some_and(|o| {
                    (2..=10).contains(&o.len()) && o.iter().all(|o| within(o, 1, 50))
                });
            (!valid).then_some((40, "SRVC_SURVEY_VALIDATION_ERROR"))
        }
        901 => {
            let button = |b: &Value, max: usize| {
                within(&b["label"], 1, max) && within(&b["actionUrl"], 1, 2048)
            };
            let items = request["carousel"]["items"].as_array();
            let valid = tracked
                && within(&message["#txt"], 1, 1000)
                && items.is_some_and(|items| {
                    (2..=5).contains(&items.len())
                        && items.iter().all(|item| {
                            within(&item["title"], 2, 38)
                                && within(&item["imageUrl"], 1, 2048)
                                && button(&item["primaryButton"], 10)
                                && (item.get("secondaryButton").is_none()
                                    || button(&item["secondaryButton"], 12))
                        })
                });
            (!valid).then_some((41, "SRVC_CAROUSEL_VALIDATION_ERROR"))
        }
        _ => None,
    }
}

/// The status a `77NN` number asks for (NN ≠ 0: a `7700` number is delivered as usual).
fn chosen_status(dest: &str) -> Option<i64> {
    let tail = dest.get(dest.len().checked_sub(4)?..)?;
    let code = tail.strip_prefix("77")?.parse::<i64>().ok()?;
    (code != 0).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(max_consecutive: u32) -> Arc<Sandbox> {
        let mut sandbox = Sandbox::new(
            Arc::new(vbm_platform::clock::SystemClock),
            "http://127.0.0.1:9".into(),
            "secret".into(),
            None,
        );
        sandbox.max_consecutive = max_consecutive;
        // The status callbacks of these sends never come within the test.
        sandbox.callback_delay = Duration::from_secs(3600);
        Arc::new(sandbox)
    }

    async fn status(sandbox: &Arc<Sandbox>, body: Value) -> i64 {
        let reply = sandbox.send_message(body.to_string().as_bytes()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let answer: Value = serde_json::from_str(&reply.body).unwrap();
        answer["status"].as_i64().unwrap()
    }

    fn session_text(seq: u64, dest: &str) -> Value {
        json!({"service_id": 1, "dest": dest, "seq": seq, "type": 306, "label": "transaction",
               "message": {"#txt": "hi", "#tracking_data": ""}})
    }

    /// The user-facing requests name their user alike: a number `service_id`, a `phone_number`
    /// whose `+` is dropped; a missing one or bad JSON is a clear error.
    #[test]
    fn a_request_names_its_user_by_service_id_and_phone_number() {
        let request = parse_request(br#"{"service_id": 7, "phone_number": "+380501234567"}"#)
            .expect("valid JSON");
        assert_eq!(service_id(&request), Ok(7));
        assert_eq!(phone_number(&request).as_deref(), Ok("380501234567"));
        let bare = json!({"service_id": "7"});
        assert_eq!(service_id(&bare), Err("service_id (a number) is required"));
        assert_eq!(phone_number(&bare), Err("phone_number is required"));
        assert!(parse_request(b"{").is_err_and(|e| e.starts_with("invalid JSON")));
    }

    /// A user message resets the user's run of session messages and takes a fresh token.
    #[test]
    fn a_user_message_resets_the_run_and_takes_the_next_token() {
        let mut state = State {
            next_token: 41,
            ..State::default()
        };
        state.consecutive.insert((1, "380".into()), 4);
        assert_eq!(state.user_spoke(1, "380"), "42");
        assert_eq!(state.user_spoke(1, "380"), "43");
        assert_eq!(state.consecutive[&(1, "380".to_owned())], 0);
    }

    /// A registered service refuses the types its kind does not carry with 4; an unregistered
    /// id takes every type.
    #[tokio::test]
    async fn each_service_takes_the_types_of_its_kind() {
        let sandbox = sandbox(5);
        for (id, kind) in [(1, "session"), (2, "one_way")] {
            let body = json!({"service_id": id, "kind": kind}).to_string();
            sandbox.register_service(body.as_bytes()).await.unwrap();
        }
        let bad = json!({"service_id": 1, "kind": "three_way"}).to_string();
        assert!(sandbox.register_service(bad.as_bytes()).await.is_err());
        let template = |service_id: u64, seq: u64| {
            json!({"service_id": service_id, "dest": "447911123456", "seq": seq, "type": 1702,
                   "label": "transaction", "templateId": "welcome", "templateLang": "en",
                   "templateParams": {}})
        };
        assert_eq!(status(&sandbox, template(1, 1)).await, 4);
        assert_eq!(status(&sandbox, template(2, 2)).await, 0);
        assert_eq!(status(&sandbox, template(3, 3)).await, 0);
        let mut on_one_way = session_text(4, "447911123456");
        on_one_way["service_id"] = json!(2);
        assert_eq!(status(&sandbox, on_one_way).await, 4);
        assert_eq!(status(&sandbox, session_text(5, "447911123456")).await, 0);
        assert_eq!(sandbox.stats().await["answers"]["blocked_message_type"], 2);
    }

    #[tokio::test]
    async fn the_consecutive_rule_is_configurable() {
        for (max, sixth) in [(5, 21), (10, 0)] {
            let sandbox = sandbox(max);
            for seq in 1..=5 {
                assert_eq!(status(&sandbox, session_text(seq, "447911123456")).await, 0);
            }
            assert_eq!(
                status(&sandbox, session_text(6, "447911123456")).await,
                sixth,
                "max {max}"
            );
        }
    }

    #[tokio::test]
    async fn tracking_data_on_types_that_refuse_it_is_status_6() {
        let sandbox = sandbox(5);
        let promo = |seq: u64, tracking: bool| {
            let mut body = json!({"service_id": 1, "dest": "447911123456", "seq": seq,
                                  "type": 108, "label": "promotion",
                                  "message": {"#txt": "Sale", "#img": "https://x/i.png",
                                              "#caption": "Go", "#action": "https://x"}});
            if tracking {
                body["message"]["#tracking_data"] = json!("t");
            }
            body
        };
        assert_eq!(status(&sandbox, promo(1, true)).await, 6);
        assert_eq!(status(&sandbox, promo(2, false)).await, 0);
    }

    #[tokio::test]
    async fn a_77nn_number_answers_status_nn() {
        let sandbox = sandbox(5);
        for (dest, code) in [
            ("447911127711", 11),
            ("447911127702", 2),
            ("447911127743", 43),
        ] {
            assert_eq!(
                status(&sandbox, session_text(1, dest)).await,
                code,
                "{dest}"
            );
        }
        assert_eq!(chosen_status("447911127700"), None);
        assert_eq!(chosen_status("77"), None);
    }

    fn list(seq: u64, options: Value, tracking: &str) -> Value {
        json!({"service_id": 1, "dest": "447911123456", "seq": seq, "type": 802,
               "label": "transaction", "ttl": 3600,
               "message": {"#txt": "How was your delivery?", "#tracking_data": tracking},
               "survey": {"list_message_ui_type": 1, "options": options}})
    }

    #[tokio::test]
    async fn lists_outside_vibers_limits_are_status_40() {
        let sandbox = sandbox(5);
        assert_eq!(
            status(&sandbox, list(1, json!(["Great", "Late"]), "t")).await,
            0
        );
        let eleven: Vec<String> = (0..11).map(|i| format!("o{i}")).collect();
        for (seq, bad) in [
            (2, list(2, json!(["Great"]), "t")),
            (3, list(3, json!(eleven), "t")),
            (4, list(4, json!(["Great", "x".repeat(51)]), "t")),
            (5, list(5, json!(["Great", "Late"]), "")),
        ] {
            assert_eq!(status(&sandbox, bad).await, 40, "{seq}");
        }
        let mut long_title = list(6, json!(["Great", "Late"]), "t");
        long_title["message"]["#txt"] = json!("я".repeat(86));
        assert_eq!(status(&sandbox, long_title).await, 40);
    }

    #[tokio::test]
    async fn carousels_outside_vibers_limits_are_status_41() {
        let sandbox = sandbox(5);
        let item = |title: &str, label: &str| {
            json!({"title": title, "imageUrl": "https://cdn.example/a.png",
                   "primaryButton": {"label": label, "actionUrl": "https://shop.example/1"}})
        };
        let carousel = |seq: u64, items: Value| {
            json!({"service_id": 1, "dest": "447911123456", "seq": seq, "type": 901,
                   "label": "promotion", "ttl": 3600,
                   "message": {"#txt": "New in", "#tracking_data": "t"},
                   "carousel": {"items": items}})
        };
        assert_eq!(
            status(
                &sandbox,
                carousel(1, json!([item("Shoes", "Buy"), item("Hats", "Buy")]))
            )
            .await,
            0
        );
        for (seq, items) in [
            (2, json!([item("Shoes", "Buy")])),
            (3, json!(vec![item("Shoes", "Buy"); 6])),
            (4, json!([item("S", "Buy"), item("Hats", "Buy")])),
            (
                5,
                json!([item("Shoes", "0123456789a"), item("Hats", "Buy")]),
            ),
        ] {
            assert_eq!(status(&sandbox, carousel(seq, items)).await, 41, "{seq}");
        }
    }

    #[tokio::test]
    async fn a_session_list_counts_toward_the_consecutive_rule() {
        let sandbox = sandbox(5);
        for seq in 1..=4 {
            assert_eq!(status(&sandbox, session_text(seq, "447911123456")).await, 0);
        }
        assert_eq!(
            status(&sandbox, list(5, json!(["Great", "Late"]), "t")).await,
            0
        );
        assert_eq!(status(&sandbox, session_text(6, "447911123456")).await, 21);
    }
}
