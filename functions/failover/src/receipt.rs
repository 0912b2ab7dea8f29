//! SMS delivery receipts: End User Messaging's events, through the configuration set's SNS
//! event destination to the failover queue (raw message delivery, so the record body is the
//! event itself):
//!
//! ```json
//! {"eventType": "TEXT_DELIVERED", "eventVersion": "1.0", "eventTimestamp": 1686975103470,
//!  "isFinal": true, "messageId": "862a8790-…", "messageStatus": "DELIVERED",
//!  "context": {"business_id": "acme", "message_id": "01JD…"}, "…": "…"}
//! ```
//!
//! `context` is what `failover` set on the SendTextMessage, so a receipt names its message
//! without an index.

use serde::Deserialize;

/// What a receipt says about the SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Final failure, with the event type as the reason.
    Failed(String),
    /// On its way (`TEXT_PENDING`, `TEXT_QUEUED`, `TEXT_SUCCESSFUL`): nothing to record.
    Progress,
}

/// The event types that end an SMS without delivery.
const FAILURES: &[&str] = &[
    "TEXT_INVALID",
    "TEXT_INVALID_MESSAGE",
    "TEXT_UNREACHABLE",
    "TEXT_CARRIER_UNREACHABLE",
    "TEXT_BLOCKED",
    "TEXT_CARRIER_BLOCKED",
    "TEXT_SPAM",
    "TEXT_UNKNOWN",
    "TEXT_TTL_EXPIRED",
    "TEXT_PROTECT_BLOCKED",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub event_type: String,
    pub message_id: String,
    #[serde(default)]
    pub event_timestamp: Option<i64>,
    pub context: ReceiptContext,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReceiptContext {
    pub business_id: String,
    pub message_id: String,
}

impl Receipt {
    /// Whether a queue record's body is a receipt rather than a failover job.
    pub fn is_receipt(body: &serde_json::Value) -> bool {
        body.get("eventType").is_some()
    }

    pub fn verdict(&self) -> Verdict {
        match self.event_type.as_str() {
            "TEXT_DELIVERED" => Verdict::Delivered,
            kind if FAILURES.contains(&kind) => Verdict::Failed(kind.to_owned()),
            _ => Verdict::Progress,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_read_as_aws_documents_them() {
        let body = serde_json::json!({"eventType": "TEXT_SUCCESSFUL", "eventVersion": "1.0",
            "eventTimestamp": 1686975103470i64, "isFinal": true, "messageId": "862a",
            "messageStatus": "SUCCESSFUL", "context": {"business_id": "b", "message_id": "m"},
            "totalMessageParts": 1});
        assert!(Receipt::is_receipt(&body));
        let receipt: Receipt = serde_json::from_value(body).unwrap();
        assert_eq!(receipt.verdict(), Verdict::Progress);
        let of = |t: &str| Receipt {
            event_type: t.into(),
            ..receipt.clone()
        };
        assert_eq!(of("TEXT_DELIVERED").verdict(), Verdict::Delivered);
        assert_eq!(
            of("TEXT_UNREACHABLE").verdict(),
            Verdict::Failed("TEXT_UNREACHABLE".into())
        );
        assert!(!Receipt::is_receipt(
            &serde_json::json!({"trigger": "expired"})
        ));
    }
}
