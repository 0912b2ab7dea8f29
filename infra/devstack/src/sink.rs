//! A business's callback endpoint: receives events, checks their Standard Webhooks signature
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the business's callback
//! secret, and lists them. Faults (`POST /_sandbox/business/{id}/faults`,
//! see [`crate::faults`]) make it answer 500 without taking the event, or take the event and
//! answer after `notify` has given up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Mutex;
use vbm_platform::clock::Clock;
use vbm_store::{BusinessId, Store};

use crate::faults::{SinkFault, Switch};

/// Signatures older than this are refused, as a business should.
const TOLERANCE_SECS: i64 = 300;

pub struct Sink {
    events: Mutex<HashMap<String, Vec<Value>>>,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    pub faults: Switch<SinkFault>,
    /// How long a `timeout` fault holds the answer: longer than `notify`'s client timeout.
    pub late_answer: Duration,
    /// At most this many events kept per business; `None`: all.
    pub keep: Option<usize>,
}

impl Sink {
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            events: Mutex::new(HashMap::new()),
            store,
            clock,
            faults: Switch::default(),
            late_answer: Duration::from_secs(6),
            keep: None,
        }
    }

    /// `POST /_sandbox/business/{id}/events`; returns the HTTP status to answer.
    /// `signed`: the delivery's `webhook-id`, `webhook-timestamp` and `webhook-signature`.
    pub async fn receive(
        &self,
        business: &str,
        signed: Option<(&str, &str, &str)>,
        body: &[u8],
    ) -> u16 {
        let fault = self.faults.take();
        if fault == Some(SinkFault::Error) {
            return 500;
        }
        let secret = match BusinessId::parse(business) {
            Ok(id) => self
                .store
                .businesses()
                .get_business(&id)
                .await
                .ok()
                .flatten()
                .map(|b| b.callback_secret),
            Err(_) => None,
        };
        let signature_valid = match (secret, signed) {
            (Some(secret), Some((id, timestamp, signature))) => vbm_events::signature::verify(
                secret.as_bytes(),
                id,
                timestamp,
                signature,
                body,
                self.clock.now().as_secs(),
                TOLERANCE_SECS,
            )
            .is_ok(),
            _ => false,
        };
        let event: Value = serde_json::from_slice(body)
            .unwrap_or_else(|_| json!({"unparseable": String::from_utf8_lossy(body)}));
        crate::bounded::push(
            self.events
                .lock()
                .await
                .entry(business.to_owned())
                .or_default(),
            // `webhook_id`: the header as sent (a replay keeps it).
            json!({
                "signature_valid": signature_valid,
                "webhook_id": signed.map(|(id, _, _)| id),
                "event": event,
            }),
            self.keep,
        );
        if fault == Some(SinkFault::Timeout) {
            tokio::time::sleep(self.late_answer).await;
        }
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
