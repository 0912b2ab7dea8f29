//! Business events: what `notify` POSTs to a business's callback URL.
//!
//! ```json
//! {"event_id": "evt_5b0c…", "type": "message.status", "business_id": "acme",
//!  "created_at": "2026-11-21T13:34:24.123Z",
//!  "data": {"message_id": "01JD…", "status": "delivered", "at": "2026-11-21T13:34:23.900Z"}}
//! ```
//!
//! An event's id is derived from what it reports, not drawn at random: a callback Viber
//! redelivers, or a function retried after it wrote but before it queued, produces the same
//! `event_id` again, and the business de-duplicates on it. That is what lets every producer
//! re-queue on doubt instead of risking a lost event.

mod callback_status;
mod queue;
mod session;
pub mod signature;
// Caps reached.
pub mod usage;

use serde::{Deserialize, Serialize};
use session_rules::Timestamp;
use sha2::{Digest, Sha256};

pub use callback_status::CallbackStatus;
pub use queue::EventsQueue;
pub use session::SessionView;

/// The kinds of event a business receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// A message's status moved (`sent`, `delivered`, `seen`, `expired`, `failed`).
    #[serde(rename = "message.status")]
    MessageStatus,
    /// A user wrote to the business.
    #[serde(rename = "message.inbound")]
    MessageInbound,
    /// The user blocked the sender.
    #[serde(rename = "contact.opted_out")]
    ContactOptedOut,
    /// The user unblocked the sender (or wrote again).
    #[serde(rename = "contact.opted_in")]
    ContactOptedIn,
    /// Every recipient of a campaign is settled.
    #[serde(rename = "campaign.completed")]
    CampaignCompleted,
    /// SMS failover: `failover_sent`, `failover_delivered` or `failover_failed`.
    #[serde(rename = "message.failover")]
    MessageFailover,
    // Session lifecycle, each with the session snapshot of GET /v1/sessions/{phone}.
    /// The user wrote and a session opened.
    #[serde(rename = "session.opened")]
    SessionOpened,
    /// The business sent the last session message in a row the rules allow (the fifth).
    #[serde(rename = "session.locked")]
    SessionLocked,
    /// The user replied to a locked session.
    #[serde(rename = "session.unlocked")]
    SessionUnlocked,
    /// The session ends soon (`reason`: `time` or `messages`).
    #[serde(rename = "session.expiring")]
    SessionExpiring,
    /// The session ended (`reason`: `expired` or `limit_reached`).
    #[serde(rename = "session.closed")]
    SessionClosed,
    // Templates a business created, as Viber's moderation answered.
    /// Viber approved a template: it can be sent, under Viber's template id.
    #[serde(rename = "template.approved")]
    TemplateApproved,
    /// Viber declined a template (`reason`).
    #[serde(rename = "template.rejected")]
    TemplateRejected,
    /// A cap the operator set reached 80 % or 100 % of its limit in its window (once each).
    #[serde(rename = "usage.cap_reached")]
    UsageCapReached,
    // Messages waiting for the user's reply (`wait_for_session`).
    /// A session message is held until the user writes or its deadline (`until`).
    #[serde(rename = "message.held")]
    MessageHeld,
    /// A held message went: the user wrote (`released`) or, at its deadline, its fallback
    /// template (`fallback`).
    #[serde(rename = "message.released")]
    MessageReleased,
}

impl EventKind {
    /// Every kind, as `openapi.yaml`'s `webhooks` lists them.
    pub const ALL: [EventKind; 16] = [
        EventKind::MessageStatus,
        EventKind::MessageInbound,
        EventKind::ContactOptedOut,
        EventKind::ContactOptedIn,
        EventKind::CampaignCompleted,
        EventKind::MessageFailover,
        EventKind::SessionOpened,
        EventKind::SessionLocked,
        EventKind::SessionUnlocked,
        EventKind::SessionExpiring,
        EventKind::SessionClosed,
        EventKind::TemplateApproved,
        EventKind::TemplateRejected,
        EventKind::UsageCapReached,
        EventKind::MessageHeld,
        EventKind::MessageReleased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageStatus => "message.status",
            EventKind::MessageInbound => "message.inbound",
            EventKind::ContactOptedOut => "contact.opted_out",
            EventKind::ContactOptedIn => "contact.opted_in",
            EventKind::CampaignCompleted => "campaign.completed",
            EventKind::MessageFailover => "message.failover",
            EventKind::SessionOpened => "session.opened",
            EventKind::SessionLocked => "session.locked",
            EventKind::SessionUnlocked => "session.unlocked",
            EventKind::SessionExpiring => "session.expiring",
            EventKind::SessionClosed => "session.closed",
            EventKind::TemplateApproved => "template.approved",
            EventKind::TemplateRejected => "template.rejected",
            EventKind::UsageCapReached => "usage.cap_reached",
            EventKind::MessageHeld => "message.held",
            EventKind::MessageReleased => "message.released",
        }
    }
}

/// One business event, as queued and as delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub business_id: String,
    pub created_at: String,
    pub data: serde_json::Value,
}

impl Event {
    /// An event about `subject` (e.g. a message id and status, or an inbound message token):
    /// the same subject always gives the same `event_id`.
    pub fn new(
        kind: EventKind,
        business_id: &str,
        subject: &str,
        created_at: Timestamp,
        data: serde_json::Value,
    ) -> Self {
        let digest = Sha256::digest(format!("{business_id}\n{}\n{subject}", kind.as_str()));
        Self {
            event_id: format!("evt_{}", hex::encode(&digest[..16])),
            kind,
            business_id: business_id.to_owned(),
            created_at: created_at.rfc3339(),
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_per_subject_and_distinct_otherwise() {
        let t = Timestamp::from_millis(1_800_000_000_000);
        let a = Event::new(
            EventKind::MessageStatus,
            "acme",
            "m1/delivered",
            t,
            serde_json::json!({}),
        );
        let again = Event::new(
            EventKind::MessageStatus,
            "acme",
            "m1/delivered",
            t.plus(std::time::Duration::from_secs(5)),
            serde_json::json!({}),
        );
        assert_eq!(a.event_id, again.event_id);
        for other in [
            Event::new(
                EventKind::MessageStatus,
                "acme",
                "m1/seen",
                t,
                serde_json::json!({}),
            ),
            Event::new(
                EventKind::MessageStatus,
                "globex",
                "m1/delivered",
                t,
                serde_json::json!({}),
            ),
            Event::new(
                EventKind::MessageInbound,
                "acme",
                "m1/delivered",
                t,
                serde_json::json!({}),
            ),
        ] {
            assert_ne!(a.event_id, other.event_id);
        }
    }

    #[test]
    fn wire_form() {
        let e = Event::new(
            EventKind::ContactOptedOut,
            "acme",
            "x",
            Timestamp::from_millis(0),
            serde_json::json!({"phone": "+380501234567"}),
        );
        let v: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "contact.opted_out");
        assert_eq!(v["created_at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["data"]["phone"], "+380501234567");
        assert!(v["event_id"].as_str().unwrap().starts_with("evt_"));
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
