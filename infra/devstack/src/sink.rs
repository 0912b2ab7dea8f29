//! A business's callback endpoint: receives events, checks their `X-VBM-Signature` with the
//! business's callback secret, and lists them.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Mutex;
use vbm_platform::clock::Clock;
use vbm_store::{BusinessId, Store};

/// Signatures older than this are refused, as a business should.
const TOLERANCE_SECS: i64 = 300;

pub struct Sink {
    events: Mutex<HashMap<String, Vec<Value>>>,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    /// Answer this many deliveries with 500 before accepting (fault injection).
    pub fail_next: Mutex<u32>,
}

impl Sink {
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            events: Mutex::new(HashMap::new()),
            store,
            clock,
            fail_next: Mutex::new(0),
        }
    }

    /// `POST /_sandbox/business/{id}/events`; returns the HTTP status to answer.
    pub async fn receive(&self, business: &str, signature: Option<&str>, body: &[u8]) -> u16 {
        {
            let mut fail = self.fail_next.lock().await;
            if *fail > 0 {
                *fail -= 1;
                return 500;
            }
        }
        let secret = match BusinessId::parse(business) {
            Ok(id) => self
                .store
                .get_business(&id)
                .await
                .ok()
                .flatten()
                .map(|b| b.callback_secret),
            Err(_) => None,
        };
        let signature_valid = match (secret, signature) {
            (Some(secret), Some(header)) => vbm_events::signature::verify(
                secret.as_bytes(),
                header,
                body,
                self.clock.now().as_secs(),
                TOLERANCE_SECS,
            )
            .is_ok(),
            _ => false,
        };
        let event: Value = serde_json::from_slice(body)
            .unwrap_or_else(|_| json!({"unparseable": String::from_utf8_lossy(body)}));
        self.events
            .lock()
            .await
            .entry(business.to_owned())
            .or_default()
            .push(json!({"signature_valid": signature_valid, "event": event}));
        200
    }

    /// `GET /_sandbox/business/{id}/events`.
    pub async fn list(&self, business: &str) -> Value {
        Value::Array(
            self.events
                .lock()
                .await
                .get(business)
                .cloned()
                .unwrap_or_default(),
        )
    }
}
