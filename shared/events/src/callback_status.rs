//! `message.status` for a status Viber called back with (delivered, seen, expired): built by
//! `status` when it applies a callback, and by `dispatch` when it applies one kept for a token
//! it had not recorded yet. One builder, so both produce the same event with the same id.

use serde_json::json;
use session_rules::{Billing, MessageStatus, Timestamp};

use crate::{Event, EventKind};

/// What one status callback reported about one message.
#[derive(Debug, Clone, Copy)]
pub struct CallbackStatus<'a> {
    pub business: &'a str,
    pub message_id: &'a str,
    /// The recipient, E.164.
    pub to: &'a str,
    pub status: MessageStatus,
    /// Viber's time for it.
    pub at: Timestamp,
    pub token: &'a str,
    /// What the message is billed as (from its acceptance), when known.
    pub billing: Option<Billing>,
}

impl CallbackStatus<'_> {
    /// One event per message and status: its id is derived from the message id and the status,
    /// so every redelivery (and every re-application of a kept status) yields the same `event_id`.
    ///
    /// ```json
    /// {"type": "message.status", "data": {"message_id": "01JD…", "status": "delivered",
    ///  "at": "…", "to": "+380501234567", "viber_message_token": "5379697806260881548",
    ///  "billing": {"category": "transactional_template", "billable": true}}}
    /// ```
    pub fn event(&self) -> Event {
        let mut data = json!({
            "message_id": self.message_id,
            "status": self.status.as_str(),
            "at": self.at.rfc3339(),
            // `to`, as in dispatch's message.status events and the API's message view.
            "to": self.to,
            "viber_message_token": self.token,
        });
        if let Some(billing) = self.billing {
            data["billing"] = json!(billing);
        }
        Event::new(
            EventKind::MessageStatus,
            self.business,
            &format!("{}/{}", self.message_id, self.status.as_str()),
            self.at,
            data,
        )
    }
}
