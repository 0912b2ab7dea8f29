//! The session as the business sees it, in one shape wherever it appears: `GET
//! /v1/sessions/{phone}`, `session` in a send's answer, and `session` in `message.inbound` and
//! the `session.*` events. Times are RFC 3339 UTC with milliseconds.

use serde::{Serialize, Serializer};
use session_rules::{Conversation, Limits, SessionSnapshot, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionView {
    /// `none`, `active`, `locked` or `expired` (a session that used all its messages is expired).
    pub state: &'static str,
    #[serde(serialize_with = "rfc3339_option")]
    pub started_at: Option<Timestamp>,
    #[serde(serialize_with = "rfc3339_option")]
    pub expires_at: Option<Timestamp>,
    pub messages_sent: u32,
    pub messages_left: u32,
    pub consecutive: u32,
    pub consecutive_left: u32,
    pub can_send_session: bool,
    pub opted_out: bool,
}

impl SessionView {
    /// The conversation's session as it stands at `at`.
    pub fn of(conversation: &Conversation, at: Timestamp, limits: &Limits) -> Self {
        conversation.snapshot(at, limits).into()
    }
}

impl From<SessionSnapshot> for SessionView {
    fn from(s: SessionSnapshot) -> Self {
        Self {
            state: s.state,
            started_at: s.started_at,
            expires_at: s.expires_at,
            messages_sent: s.messages_sent,
            messages_left: s.messages_left,
            consecutive: s.consecutive,
            consecutive_left: s.consecutive_left,
            can_send_session: s.can_send_session,
            opted_out: s.opted_out,
        }
    }
}

fn rfc3339_option<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&t.rfc3339()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_shows_its_times_in_rfc3339_and_none_as_null() {
        let limits = Limits::default();
        let none = serde_json::to_value(SessionView::of(
            &Conversation::default(),
            Timestamp::from_millis(0),
            &limits,
        ))
        .unwrap();
        assert_eq!(none["state"], "none");
        assert!(none["started_at"].is_null());
        let opened = Conversation::default().user_message(Timestamp::from_millis(1_000), &limits);
        let view = serde_json::to_value(SessionView::of(
            &opened,
            Timestamp::from_millis(2_000),
            &limits,
        ))
        .unwrap();
        assert_eq!(view["state"], "active");
        assert_eq!(view["started_at"], "1970-01-01T00:00:01.000Z");
        assert_eq!(view["expires_at"], "1970-01-02T00:00:01.000Z");
        assert_eq!(view["messages_left"], 60);
    }
}
