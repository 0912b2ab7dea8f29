//! The business events a dispatch produces.
//!
//! `message.status` (`sent`, `failed`, or `cancelled` for a campaign message its campaign's
//! cancel stopped, reason `campaign_cancelled`), and `contact.opted_out` when Viber said the user
//! blocked the sender:
//!
//! ```json
//! {"event_id": "evt_…", "type": "message.status", "business_id": "acme",
//!  "created_at": "2026-11-21T13:34:24.123Z",
//!  "data": {"message_id": "01JD…", "to": "+380501234567", "status": "sent",
//!           "at": "2026-11-21T13:34:24.123Z", "viber_message_token": "5379697806260881548",
//!           "billing": {"category": "session", "billable": true}}}
//! {"…": "…", "data": {"message_id": "01JD…", "to": "+380501234567", "status": "failed",
//!           "at": "…", "failure": {"code": 8, "reason": "SRVC_USER_BLOCKED"}}}
//! {"…": "…", "type": "contact.opted_out",
//!  "data": {"phone": "+380501234567", "source": "send_refused", "message_id": "01JD…"}}
//! ```
//!
//! Every field comes from the message as stored, and event ids from what they report
//! (`{message_id}/{status}`), so a redelivered job whose first run died after recording but
//! before queueing its events rebuilds the same events, with the same ids, from the record
//! alone ([`recorded`]).

use serde_json::{Value, json};
use session_rules::{MessageStatus, Timestamp};
use vbm_events::{Event, EventKind};
use vbm_store::{Failure, MessageRecord};

/// Viber's `SRVC_USER_BLOCKED`: the failure that also means an opt-out.
const USER_BLOCKED: i64 = 8;

/// What dispatch recorded about a message.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    pub message: &'a MessageRecord,
    pub status: MessageStatus,
    pub at: Timestamp,
    pub token: Option<&'a str>,
    pub failure: Option<&'a Failure>,
}

/// The events for what was recorded.
pub fn events(r: &Recorded<'_>) -> Vec<Event> {
    let m = r.message;
    let mut data = json!({
        "message_id": m.id.as_str(),
        "to": m.to,
        "status": r.status.as_str(),
        "at": vbm_platform::time::rfc3339(r.at),
    });
    if let Some(token) = r.token {
        data["viber_message_token"] = Value::from(token);
    }
    if let Some(failure) = r.failure {
        data["failure"] = json!({"code": failure.code, "reason": failure.reason});
    }
    if let Some(billing) = m.billing {
        data["billing"] = json!(billing);
    }
    let business = m.business.as_str();
    let subject = format!("{}/{}", m.id, r.status.as_str());
    let mut events = vec![Event::new(
        EventKind::MessageStatus,
        business,
        &subject,
        r.at,
        data,
    )];
    if r.failure.and_then(|f| f.code) == Some(USER_BLOCKED) {
        events.push(Event::new(
            EventKind::ContactOptedOut,
            business,
            &format!("{}/send/{}", m.to, m.id),
            r.at,
            json!({"phone": m.to, "source": "send_refused", "message_id": m.id.as_str()}),
        ));
    }
    events
}

/// What dispatch recorded on an earlier delivery of the job, read back from the message: its
/// first `sent`, `failed` or `cancelled` history entry. `None` when dispatch never recorded anything.
pub fn recorded(message: &MessageRecord) -> Option<Recorded<'_>> {
    let entry = message.track.history.iter().find(|e| {
        matches!(
            e.status,
            MessageStatus::Sent | MessageStatus::Failed | MessageStatus::Cancelled
        )
    })?;
    Some(Recorded {
        message,
        status: entry.status,
        at: entry.at,
        token: match entry.status {
            MessageStatus::Sent => message.viber_message_token.as_deref(),
            _ => None,
        },
        failure: match entry.status {
            MessageStatus::Failed | MessageStatus::Cancelled => message.failure.as_ref(),
            _ => None,
        },
    })
}
