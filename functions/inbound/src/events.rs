//! The business events a user message produces.
//!
//! Built only from the stored recording ([`InboundRecord`]), never from the clock: a redelivered
//! callback, or a retry after a crash between the write and the queueing, rebuilds the very same
//! events, `event_id` included, and the business de-duplicates on it.
//!
//! ```json
//! {"type": "message.inbound", "data": {"phone": "+380501234567",
//!  "service_id": 1000, "service_kind": "session", "message_token": "5379697806260881548", "text": "Hi", "media": null, "file_name": null,
//!  "tracking_data": "order-42", "reply_to": null, "extra": null,
//!  "sent_at": "…", "received_at": "…",
//!  "session": {"state": "active", "started_at": "…", "expires_at": "…", "messages_sent": 0,
//!              "messages_left": 60, "consecutive": 0, "consecutive_left": 5,
//!              "can_send_session": true, "opted_out": false}}}
//! {"type": "contact.opted_in", "data": {"phone": "+380501234567", "reason": "user_message",
//!  "message_token": "5379697806260881548", "at": "…"}}
//! ```
//!
//! An answer to a list or carousel names it: `"reply_to": {"message_id": "01JD…", "type":
//! "list", "option": "Late", "option_index": 1}` (`option` and `option_index` null when the
//! user typed something else), read from the tracking data Viber echoes
//! ([`viber::ReplyTracking`]); `tracking_data` is then the business's own. `extra` is what else
//! the user's message carried ([`viber::InboundContent::extra`]), as JSON. `service_id` is the
//! Viber service the user wrote to, and `service_kind` its kind: the callback names the id, so
//! a redelivery names the same one.

use serde_json::{Value, json};
use session_rules::{Limits, Service};
use vbm_events::{Event, EventKind, SessionView};
use vbm_platform::time::rfc3339;
use vbm_store::{BusinessId, InboundRecord};
use viber::{Interactive, ReplyTracking};

/// The events of one recorded user message, in the order they are queued: the opt-in first
/// (when the message ended an opt-out), then the message.
pub fn for_message(
    business: &BusinessId,
    service: Service,
    record: &InboundRecord,
    limits: &Limits,
) -> Vec<Event> {
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
    let reply = content
        .tracking_data
        .as_deref()
        .and_then(ReplyTracking::parse);
    let tracking_data = match &reply {
        Some(reply) => Some(reply.business.clone()),
        None => content.tracking_data.clone(),
    };
    let reply_to = reply.map(|reply| {
        let chosen = match (reply.kind, content.text.as_deref()) {
            (Interactive::List, Some(text)) => reply.chosen(text).map(|i| (text, i)),
            _ => None,
        };
        json!({
            "message_id": reply.message_id,
            "type": reply.kind.as_str(),
            "option": chosen.map(|(text, _)| text),
            "option_index": chosen.map(|(_, i)| i),
        })
    });
    let extra = content
        .extra
        .as_deref()
        .map(|raw| serde_json::from_str::<Value>(raw).unwrap_or_else(|_| json!(raw)));
    events.push(Event::new(
        EventKind::MessageInbound,
        business.as_str(),
        &record.message_token,
        record.received_at,
        json!({
            "phone": phone,
            "service_id": service.id,
            "service_kind": service.kind.as_str(),
            "message_token": record.message_token,
            "text": content.text,
            "media": content.media,
            "file_name": content.file_name,
            "tracking_data": tracking_data,
            "reply_to": reply_to,
            "extra": extra,
            "sent_at": rfc3339(record.sent_at),
            "received_at": rfc3339(record.received_at),
            "session": SessionView::of(&record.after, record.received_at, limits),
        }),
    ));
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_rules::{Conversation, PhoneNumber, Timestamp, TrackingData};
    use vbm_store::InboundContent;

    fn inbound(text: &str, tracking_data: Option<String>, extra: Option<&str>) -> Value {
        let at = Timestamp::from_millis(1_800_000_000_000);
        let record = InboundRecord {
            message_token: "9".into(),
            phone: PhoneNumber::parse("+380501234567").unwrap(),
            content: InboundContent {
                text: Some(text.into()),
                media: None,
                file_name: None,
                tracking_data,
                extra: extra.map(Into::into),
            },
            sent_at: at,
            received_at: at,
            before: Conversation::default(),
            after: Conversation::default(),
            holds_messages: false,
        };
        let business = BusinessId::parse("acme").unwrap();
        let service = Service {
            id: 1000,
            kind: session_rules::ServiceKind::Session,
        };
        let events = for_message(&business, service, &record, &Limits::default());
        let event = events.last().unwrap();
        assert_eq!(event.kind, EventKind::MessageInbound);
        event.data.clone()
    }

    #[test]
    fn an_answer_to_a_list_carries_the_chosen_option() {
        let options: Vec<String> = ["Great", "Late"].map(String::from).to_vec();
        let business = TrackingData::parse("t", "order-42").unwrap();
        let sent = ReplyTracking::encode(
            Interactive::List,
            "01JD0000000000000000000000",
            &options,
            Some(&business),
        )
        .unwrap();
        let data = inbound("Late", Some(sent.as_str().to_owned()), None);
        assert_eq!(
            data["reply_to"],
            json!({"message_id": "01JD0000000000000000000000", "type": "list",
                   "option": "Late", "option_index": 1})
        );
        assert_eq!(data["text"], json!("Late"));
        assert_eq!(data["tracking_data"], json!("order-42"));
        // Typed text in answer to the list: the list is named, no option chosen.
        let typed = inbound("Where is it?", Some(sent.as_str().to_owned()), None);
        assert_eq!(typed["reply_to"]["option"], Value::Null);
        assert_eq!(typed["reply_to"]["option_index"], Value::Null);
        assert_eq!(typed["reply_to"]["type"], json!("list"));
    }

    #[test]
    fn other_messages_pass_their_tracking_data_and_extra_through() {
        let data = inbound("Hi", Some("order-42".into()), Some(r#"{"sticker_id":7}"#));
        assert_eq!(data["reply_to"], Value::Null);
        assert_eq!(data["tracking_data"], json!("order-42"));
        assert_eq!(data["extra"], json!({"sticker_id": 7}));
        assert_eq!(data["service_id"], json!(1000));
        assert_eq!(data["service_kind"], json!("session"));
        assert_eq!(inbound("Hi", None, None)["extra"], Value::Null);
    }
}
