//! The business events a user message produces.
//!
//! Built only from the stored recording ([`InboundRecord`]), never from the clock: a redelivered
//! callback, or a retry after a crash between the write and the queueing, rebuilds the very same
//! events, `event_id` included, and the business de-duplicates on it.
//!
//! ```json
//! {"type": "message.inbound", "data": {"phone": "+380501234567",
//!  "message_token": "5379697806260881548", "text": "Hi", "media": null, "file_name": null,
//!  "tracking_data": "order-42", "sent_at": "…", "received_at": "…",
//!  "session": {"state": "active", "started_at": "…", "expires_at": "…", "messages_sent": 0,
//!              "messages_left": 60, "consecutive": 0, "consecutive_left": 5,
//!              "can_send_session": true, "opted_out": false}}}
//! {"type": "contact.opted_in", "data": {"phone": "+380501234567", "reason": "user_message",
//!  "message_token": "5379697806260881548", "at": "…"}}
//! ```

use serde_json::json;
use session_rules::Limits;
use vbm_events::{Event, EventKind, SessionView};
use vbm_platform::time::rfc3339;
use vbm_store::{BusinessId, InboundRecord};

/// The events of one recorded user message, in the order they are queued: the opt-in first
/// (when the message ended an opt-out), then the message.
pub fn for_message(business: &BusinessId, record: &InboundRecord, limits: &Limits) -> Vec<Event> {
    let mut events = Vec::with_capacity(2);
    let phone = record.phone.as_e164();
    if record.cleared_opt_out() {
        events.push(Event::new(
            EventKind::ContactOptedIn,
            business.as_str(),
            &format!("{phone}/inbound/{}", record.message_token),
            record.received_at,
            json!({
                "phone": phone,
                "reason": "user_message",
                "message_token": record.message_token,
                "at": rfc3339(record.received_at),
            }),
        ));
    }
    let content = &record.content;
    events.push(Event::new(
        EventKind::MessageInbound,
        business.as_str(),
        &record.message_token,
        record.received_at,
        json!({
            "phone": phone,
            "message_token": record.message_token,
            "text": content.text,
            "media": content.media,
            "file_name": content.file_name,
            "tracking_data": content.tracking_data,
            "sent_at": rfc3339(record.sent_at),
            "received_at": rfc3339(record.received_at),
            "session": SessionView::of(&record.after, record.received_at, limits),
        }),
    ));
    events
}
