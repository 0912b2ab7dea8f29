//! Messages waiting for the user's reply (`wait_for_session`), as the table's stream and the
//! timers tell of them (docs/architecture.md, "Messages that wait for the user's reply"):
//! - a held message's `INSERT` sets its deadline timer (at `until`, named after the message:
//!   a repeat is `AlreadySet`) and is `message.held`;
//! - its one move out of `held` (a `MODIFY`) is `message.released` (`released`, `fallback`)
//!   or `message.status` (`expired`; `failed` when dropped, with the reason);
//! - the timer settles it (`Messages::settle_held`: sent after all, fallback, or expired,
//!   conditioned on its still being held, so a release racing it moves it once);
//! - a conversation whose user opted out drops what it holds.
//!
//! Every event's id is the message's and the step's, so a redelivered record is the same event.

use serde::{Deserialize, Serialize};
use serde_json::json;
use session_rules::{HeldState, Timestamp};
use sha2::{Digest, Sha256};
use vbm_events::{Event, EventKind};
use vbm_store::stream::HeldImage;
use vbm_store::{BusinessId, MessageId};

/// What a held message's deadline timer carries to `SessionTimersQueue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldTimerBody {
    pub business_id: String,
    pub held_message_id: String,
}

/// The deadline timer's name: one per held message.
pub fn timer_name(business: &BusinessId, id: &MessageId) -> String {
    let digest = Sha256::digest(format!("{}\n{}", business.as_str(), id.as_str()));
    format!("held-{}", hex::encode(&digest[..16]))
}

/// The events of a held message's record: `old` absent for its creation.
pub fn events(old: Option<&HeldImage>, new: &HeldImage, at: Timestamp) -> Vec<Event> {
    let subject = |step: &str| format!("{}/{step}", new.id.as_str());
    let business = new.business.as_str();
    let was_held = old.is_none_or(|o| o.state == HeldState::Held);
    let when = new.settled_at.unwrap_or(at);
    let rfc = vbm_platform::time::rfc3339;
    match new.state {
        HeldState::Held if old.is_none() => vec![Event::new(
            EventKind::MessageHeld,
            business,
            &subject("held"),
            at,
            json!({
                "message_id": new.id.as_str(),
                "to": new.to,
                "until": rfc(new.until),
                "fallback": new.fallback,
            }),
        )],
        HeldState::Released | HeldState::Fallback if was_held => vec![Event::new(
            EventKind::MessageReleased,
            business,
            &subject("released"),
            when,
            json!({
                "message_id": new.id.as_str(),
                "to": new.to,
                "outcome": new.state.as_str(),
                "until": rfc(new.until),
                "at": rfc(when),
            }),
        )],
        HeldState::Expired | HeldState::Dropped if was_held => {
            let (status, reason) = match new.state {
                HeldState::Expired => ("expired", "hold_deadline".to_owned()),
                _ => ("failed", new.reason.clone().unwrap_or_default()),
            };
            vec![Event::new(
                EventKind::MessageStatus,
                business,
                &subject(status),
                when,
                json!({
                    "message_id": new.id.as_str(),
                    "to": new.to,
                    "status": status,
                    "at": rfc(when),
                    "viber_message_token": null,
                    "failure": {"code": null, "reason": reason},
                }),
            )]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(state: HeldState) -> HeldImage {
        HeldImage {
            business: BusinessId::parse("acme").unwrap(),
            id: MessageId::parse("01JD0Z6Q9T3M8V4K2X7B5N1C0A").unwrap(),
            to: "+447911123456".into(),
            state,
            until: Timestamp::from_millis(1_800_003_600_000),
            fallback: true,
            settled_at: Some(Timestamp::from_millis(1_800_000_000_500)),
            reason: None,
            campaign: None,
        }
    }

    #[test]
    fn each_step_is_one_event_with_a_stable_id() {
        let at = Timestamp::from_millis(1_800_000_000_000);
        let held = events(None, &image(HeldState::Held), at);
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].kind, EventKind::MessageHeld);
        assert_eq!(
            held,
            events(None, &image(HeldState::Held), at),
            "same id again"
        );
        let released = events(
            Some(&image(HeldState::Held)),
            &image(HeldState::Released),
            at,
        );
        assert_eq!(released[0].kind, EventKind::MessageReleased);
        assert_eq!(released[0].data["outcome"], "released");
        let expired = events(
            Some(&image(HeldState::Held)),
            &image(HeldState::Expired),
            at,
        );
        assert_eq!(
            (expired[0].kind, &expired[0].data["status"]),
            (EventKind::MessageStatus, &json!("expired"))
        );
        // A record that moves nothing (a modify of a settled message) tells nothing.
        assert!(
            events(
                Some(&image(HeldState::Released)),
                &image(HeldState::Released),
                at
            )
            .is_empty()
        );
    }
}
