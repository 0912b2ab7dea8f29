//! A stand-in for Viber: `send_message` answered like Viber's partner API, Viber's own session
//! rules enforced independently of ours, and the callbacks Viber would post, signed.
//!
//! Numbers ending in `0008` answer status 8 (user blocked), in `0009` status 9 (not a Viber
//! user), in `0002` get `expired` instead of `delivered`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Mutex;
use vbm_platform::clock::Clock;

/// Viber's session types: these count toward the 5-in-a-row rule.
const SESSION_TYPES: [i64; 4] = [306, 307, 221, 224];
const MAX_CONSECUTIVE: u32 = 5;

#[derive(Default)]
struct State {
    /// Everything `send_message` received, in order.
    sent: Vec<Value>,
    /// Session messages in a row per (service id, phone), reset by a user message.
    consecutive: HashMap<(u64, String), u32>,
    next_token: u64,
}

pub struct Sandbox {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    /// Where our own functions listen (`http://127.0.0.1:3000`).
    base_url: String,
    secret: String,
    /// How long after a send the `delivered` callback comes.
    pub callback_delay: Duration,
}

impl Sandbox {
    pub fn new(clock: Arc<dyn Clock>, base_url: String, secret: String) -> Self {
        Self {
            state: Mutex::new(State {
                next_token: 5_000_000_000_000_000_000,
                ..State::default()
            }),
            clock,
            http: reqwest::Client::new(),
            base_url,
            secret,
            callback_delay: Duration::from_millis(300),
        }
    }

    /// `POST /_sandbox/viber/send_message`: always HTTP 200, the body's `status` decides.
    pub async fn send_message(self: &Arc<Self>, body: &[u8]) -> Value {
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
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
        state.sent.push(request.clone());
        if dest.ends_with("0008") {
            return json!({"status": 8, "status_message": "SRVC_USER_BLOCKED", "seq": seq});
        }
        if dest.ends_with("0009") {
            return json!({"status": 9, "status_message": "SRVC_NOT_VIBER_USER", "seq": seq});
        }
        let is_session = SESSION_TYPES.contains(&kind);
        if is_session {
            let row = state
                .consecutive
                .entry((service_id, dest.clone()))
                .or_default();
            if *row >= MAX_CONSECUTIVE {
                return json!({"status": 21, "status_message": "SRVC_WAIT_FOR_USER_RESPONSE", "seq": seq});
            }
            *row += 1;
        }
        state.next_token += 1;
        let token = state.next_token.to_string();
        drop(state);
        let mut answer = json!({"status": 0, "status_message": "SRVC_SUCCESS", "seq": seq, "message_token": token});
        if is_session {
            answer["session_id"] = json!(format!("sess-{service_id}-{dest}"));
        }
        let first = if dest.ends_with("0002") { 2 } else { 0 };
        let this = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(this.callback_delay).await;
            this.post_status(&token, first).await;
            if first == 0 {
                tokio::time::sleep(this.callback_delay).await;
                this.post_status(&token, 1).await;
            }
        });
        answer
    }

    async fn post_status(&self, token: &str, status: i64) {
        let body = json!({
            "message_token": token,
            "message_time": self.clock.now().as_millis(),
            "message_status": status,
        });
        // Viber retries callbacks that fail; so does the sandbox, a few times.
        for attempt in 0..10u64 {
            match self.post_signed("/viber/status", &body).await {
                Ok(status) if status.is_success() => return,
                Ok(status) => tracing::info!(%status, token, "status callback refused; retrying"),
                Err(e) => tracing::warn!(error = %e, token, "status callback failed; retrying"),
            }
            tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
        }
    }

    async fn post_signed(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<reqwest::StatusCode, reqwest::Error> {
        let raw = body.to_string();
        let signature = viber::auth::sign(self.secret.as_bytes(), raw.as_bytes());
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("content-type", "application/json")
            .header(viber::auth::SIGNATURE_HEADER, signature)
            .body(raw)
            .send()
            .await?;
        Ok(response.status())
    }

    /// `POST /_sandbox/viber/user_message`: a user types in Viber; the sandbox posts the signed
    /// inbound callback and returns what our `inbound` answered.
    pub async fn user_message(&self, body: &[u8]) -> Result<Value, String> {
        let request: Value =
            serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
        let service_id = request
            .get("service_id")
            .and_then(Value::as_u64)
            .ok_or("service_id (a number) is required")?;
        let phone = request
            .get("phone_number")
            .and_then(Value::as_str)
            .ok_or("phone_number is required")?
            .trim_start_matches('+')
            .to_owned();
        let text = request
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or("Hi!")
            .to_owned();
        let token = {
            let mut state = self.state.lock().await;
            state.consecutive.insert((service_id, phone.clone()), 0);
            state.next_token += 1;
            state.next_token.to_string()
        };
        let callback = json!({
            "service_id": service_id,
            "phone_number": phone,
            "message_token": token,
            "time": self.clock.now().as_millis(),
            "message": {"text": text},
        });
        let status = self
            .post_signed("/viber/inbound", &callback)
            .await
            .map_err(|e| format!("posting the inbound callback: {e}"))?;
        Ok(json!({"message_token": token, "inbound_status": status.as_u16()}))
    }

    /// `GET /_sandbox/viber/sent`.
    pub async fn sent(&self) -> Value {
        Value::Array(self.state.lock().await.sent.clone())
    }
}
