//! AWS End User Messaging SMS, played locally (SMS failover): enough of the
//! `pinpoint-sms-voice-v2` JSON protocol for `SendTextMessage`, which moto answers 500.
//! `failover`'s SDK client reaches it through `AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2` (the
//! stack sets it to `{base}/_sandbox/sms`); the code under test is the real client.
//!
//! - `POST /_sandbox/sms` with `X-Amz-Target: PinpointSMSVoiceV2.SendTextMessage`: records the
//!   SMS and answers `{"MessageId": …}`; then posts its delivery receipt, as the configuration
//!   set's SNS event destination would, raw, to the failover queue: `TEXT_DELIVERED`, or
//!   `TEXT_UNREACHABLE` for numbers ending in `0404`.
//! - `GET /_sandbox/sms/sent`: what was sent, in order.
//! - `POST /_sandbox/sms/faults {"count": N}`: the next N calls answer 500
//!   `InternalServerException` and send nothing (try the retries and `failover_failed`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Mutex;
use vbm_platform::clock::{Clock, OffsetClock};

/// How long after the send its receipt is posted.
const RECEIPT_AFTER: Duration = Duration::from_millis(300);

pub struct SmsSandbox {
    clock: Arc<OffsetClock>,
    /// Where receipts go: the failover queue (what SNS would deliver to it).
    receipts: (aws_sdk_sqs::Client, String),
    sent: Mutex<Vec<Value>>,
    fail_next: AtomicU64,
    count: AtomicU64,
}

/// An answer: HTTP status and AWS JSON body.
pub struct SmsReply {
    pub status: u16,
    pub body: Value,
}

impl SmsSandbox {
    pub fn new(clock: Arc<OffsetClock>, receipts: (aws_sdk_sqs::Client, String)) -> Self {
        Self {
            clock,
            receipts,
            sent: Mutex::new(Vec::new()),
            fail_next: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// One AWS JSON 1.0 call; only `SendTextMessage` is played.
    pub async fn call(self: &Arc<Self>, target: Option<&str>, body: &[u8]) -> SmsReply {
        let error = |status, kind: &str, message: &str| SmsReply {
            status,
            body: json!({"__type": kind, "Message": message}),
        };
        if target != Some("PinpointSMSVoiceV2.SendTextMessage") {
            return error(
                400,
                "UnknownOperationException",
                "only SendTextMessage is played here",
            );
        }
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return error(400, "SerializationException", "the body is not JSON");
        };
        let (Some(to), Some(text)) = (
            request["DestinationPhoneNumber"].as_str(),
            request["MessageBody"].as_str(),
        ) else {
            return error(
                400,
                "ValidationException",
                "DestinationPhoneNumber and MessageBody are required",
            );
        };
        if self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return error(
                500,
                "InternalServerException",
                "sandbox fault: nothing was sent",
            );
        }
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        let message_id = format!("sandbox-sms-{n:06}");
        let now = self.clock.now();
        let record = json!({
            "message_id": message_id,
            "to": to,
            "text": text,
            "origination_identity": request["OriginationIdentity"],
            "message_type": request["MessageType"],
            "configuration_set": request["ConfigurationSetName"],
            "context": request["Context"],
            "at": vbm_platform::time::rfc3339(now),
        });
        self.sent.lock().await.push(record);
        let kind = if to.ends_with("0404") {
            "TEXT_UNREACHABLE"
        } else {
            "TEXT_DELIVERED"
        };
        let receipt = json!({
            "eventType": kind,
            "eventVersion": "1.0",
            "eventTimestamp": now.as_millis() + RECEIPT_AFTER.as_millis() as i64,
            "isFinal": true,
            "destinationPhoneNumber": to,
            "messageId": message_id,
            "messageStatus": if kind == "TEXT_DELIVERED" { "DELIVERED" } else { "UNREACHABLE" },
            "messageType": request["MessageType"],
            "context": request["Context"],
            "totalMessageParts": 1,
        });
        let (sqs, url) = self.receipts.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RECEIPT_AFTER).await;
            if let Err(e) = sqs
                .send_message()
                .queue_url(&url)
                .message_body(receipt.to_string())
                .send()
                .await
            {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "SMS sandbox: receipt not posted");
            }
        });
        SmsReply {
            status: 200,
            body: json!({"MessageId": message_id}),
        }
    }

    pub async fn sent(&self) -> Value {
        Value::Array(self.sent.lock().await.clone())
    }

    /// `{"count": N}`: the next N calls fail.
    pub fn faults(&self, body: &[u8]) -> Result<Value, String> {
        let count = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["count"].as_u64())
            .ok_or("expected {\"count\": N}")?;
        self.fail_next.store(count, Ordering::SeqCst);
        Ok(json!({"fail_next": count}))
    }
}
