//! Starts the local stack (`make dev`'s server) on a free port against a fresh table and queues,
//! and talks to it through HTTP only, as a business, a user (through the Viber sandbox) and a
//! developer (through `/_dev`) would.

pub mod faults;

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use vbm_testkit::TestEnv;

pub struct Stack {
    pub base: String,
    pub key: String,
    /// The table and queues behind it (the emulator, reached directly, not through the stack).
    pub env: TestEnv,
    http: reqwest::Client,
}

/// An HTTP answer: status and JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(vbm_dev::Options::default()).await
    }

    pub async fn start_with(options: vbm_dev::Options) -> Self {
        let env = TestEnv::fresh();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("free port");
        let port = listener.local_addr().expect("bound").port();
        let running = vbm_dev::start_with(
            vbm_dev::Settings {
                port,
                table: env.table.clone(),
                outbound_queue_url: env.outbound_queue_url.clone(),
                events_queue_url: env.events_queue_url.clone(),
                failover_queue_url: env.failover_queue_url.clone(),
                timers_group: env.timers_group.clone(),
                campaign_queue_url: env.campaign_queue_url.clone(),
                session_timers_queue_url: env.session_timers_queue_url.clone(),
                uploads_bucket: env.uploads_bucket.clone(),
            },
            listener,
            options,
        )
        .await
        .expect("the stack starts");
        let stack = Self {
            base: running.base_url.clone(),
            key: running.api_key.clone(),
            env,
            http: reqwest::Client::new(),
        };
        assert_eq!(stack.get("/_dev/health").await.status, StatusCode::OK);
        stack
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        auth: bool,
    ) -> Answer {
        self.call_with(method, path, body, auth, None).await
    }

    async fn call_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        auth: bool,
        idempotency_key: Option<&str>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if auth {
            request = request.bearer_auth(&self.key);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the stack answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer { status, body }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(reqwest::Method::GET, path, None, true).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(reqwest::Method::POST, path, Some(body), true)
            .await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(reqwest::Method::DELETE, path, None, true).await
    }

    /// `POST /v1/messages`.
    pub async fn send(&self, body: Value) -> Answer {
        self.post("/v1/messages", body).await
    }

    /// `POST /v1/messages` with an `Idempotency-Key`.
    pub async fn send_keyed(&self, body: Value, key: &str) -> Answer {
        self.call_with(
            reqwest::Method::POST,
            "/v1/messages",
            Some(body),
            true,
            Some(key),
        )
        .await
    }

    /// A POST with an `Idempotency-Key` (campaigns).
    pub async fn call_keyed(&self, path: &str, body: Value, key: &str) -> Answer {
        self.call_with(reqwest::Method::POST, path, Some(body), true, Some(key))
            .await
    }

    pub async fn session_text(&self, to: &str, text: &str) -> Answer {
        self.send(json!({"to": to, "type": "session", "text": text}))
            .await
    }

    pub async fn template(&self, to: &str, id: &str, params: Value) -> Answer {
        self.send(json!({"to": to, "type": "template", "template": {"id": id, "params": params}}))
            .await
    }

    /// The user writes to the demo business in Viber.
    pub async fn user_writes(&self, phone: &str, text: &str) {
        let answer = self
            .post(
                "/_sandbox/viber/user_message",
                json!({"service_id": 1000, "phone_number": phone, "text": text}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert_eq!(answer.body["inbound_status"], 200, "{answer:?}");
    }

    pub async fn advance_clock(&self, seconds: u64) {
        let answer = self
            .post("/_dev/clock", json!({"advance_seconds": seconds}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    }

    pub async fn session(&self, phone: &str) -> Value {
        self.get(&format!("/v1/sessions/{}", phone.replace('+', "%2B")))
            .await
            .body
    }

    pub async fn message(&self, id: &str) -> Value {
        self.get(&format!("/v1/messages/{id}")).await.body
    }

    pub async fn events(&self) -> Vec<Value> {
        self.get("/_sandbox/business/demo/events")
            .await
            .body
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn viber_sent(&self) -> Vec<Value> {
        self.get("/_sandbox/viber/sent")
            .await
            .body
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
