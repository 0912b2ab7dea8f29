//! `message.failover`: what became of a message's SMS failover, for the business.
//!
//! ```json
//! {"type": "message.failover", "data": {"message_id": "01JD…", "to": "+380501234567",
//!  "status": "failover_sent", "trigger": "expired", "channel": "sms",
//!  "at": "2026-11-21T13:34:24.123Z", "sms_message_id": "862a8790-…"}}
//! ```
//!
//! One event per failover step in the message's history (`failover_sent`,
//! `failover_delivered`, `failover_failed` and `failover_refused`, with `reason`), its id from
//! the message and the step, so every redelivery rebuilds the same events from the record alone.

use serde_json::{Value, json};
use session_rules::failover::FailoverStep;
use vbm_events::{Event, EventKind};
use vbm_store::MessageRecord;

/// The events of every failover step the message has recorded.
pub fn events(message: &MessageRecord) -> Vec<Event> {
    let Some(failover) = &message.failover else {
        return Vec::new();
    };
    message
        .history
        .iter()
        .filter_map(|entry| entry.failover.map(|step| (step, entry.at)))
        .filter(|(step, _)| *step != FailoverStep::Triggered)
        .map(|(step, at)| {
            let mut data = json!({
                "message_id": message.id.as_str(),
                "to": message.to,
                "status": step.as_str(),
                "trigger": failover.trigger.map(|t| t.as_str()),
                "channel": "sms",
                "at": vbm_platform::time::rfc3339(at),
                "sms_message_id": failover.sms_message_id,
            });
            if matches!(step, FailoverStep::Failed | FailoverStep::Refused) {
                data["reason"] = Value::from(failover.reason.clone());
            }
            Event::new(
                EventKind::MessageFailover,
                message.business.as_str(),
                &format!("{}/{}", message.id, step.as_str()),
                at,
                data,
            )
        })
        .collect()
}
