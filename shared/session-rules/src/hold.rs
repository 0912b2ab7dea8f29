//! A session message that waits for the user's reply (`wait_for_session`).
//!
//! A session message to a user without an open session is refused (`no_session`); asked to
//! wait, it is **held** instead: kept, counted in nothing, sent to nobody. The decisions around
//! it are here, pure:
//! - [`Conversation::decide_hold`]: on acceptance, send now, hold, or refuse;
//! - [`check_until`]: whether its deadline is one it may wait for;
//! - [`Conversation::decide_release`]: when the user writes, go now, stay held, or be dropped;
//! - [`Conversation::decide_at_deadline`]: when its deadline passes, go after all (the user
//!   wrote and the release did not happen yet), send the fallback, expire, or be dropped.
//!
//! Adapters carry each decision out in one conditional write whose condition is the held
//! message's state ([`HeldState::Held`]), so whichever of a release, a redelivered release and
//! the deadline comes first moves it, and the others find it moved.

use std::time::Duration;

use serde::Serialize;

use crate::{Conversation, Limits, Refusal, SendClass, Timestamp};

/// The furthest ahead a held message's `until` may be: the retention of the messages kept.
pub const MAX_HOLD: Duration = Duration::from_secs(30 * 24 * 3600);

/// The most messages one conversation may hold at once (the conversation item names them, and
/// it is written by every send: kept small). A user's reply releases at most `max_consecutive`.
pub const MAX_HELD_PER_CONVERSATION: usize = 20;

/// Where a held message stands. Only `Held` moves, and only once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldState {
    /// Waiting for the user's reply.
    Held,
    /// The user wrote: it went as the session message it is.
    Released,
    /// The deadline passed with no session: its fallback template went instead.
    Fallback,
    /// The deadline passed with no session and no fallback: it expired unsent.
    Expired,
    /// It can never go (the user opted out): dropped with its reason.
    Dropped,
}

impl HeldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HeldState::Held => "held",
            HeldState::Released => "released",
            HeldState::Fallback => "fallback",
            HeldState::Expired => "expired",
            HeldState::Dropped => "dropped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            HeldState::Held,
            HeldState::Released,
            HeldState::Fallback,
            HeldState::Expired,
            HeldState::Dropped,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A session message asked to wait, on acceptance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldDecision {
    /// A session is open and admits it: it goes now, as any session message (the state after).
    SendNow(Conversation),
    /// It waits for the user's reply.
    Hold,
}

/// A held message when the user has written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// It goes now (the conversation after it).
    Send(Conversation),
    /// The session does not admit it now (five in a row already, or the session's 60 used): it
    /// stays held for the user's next reply or its deadline. Held messages are never refused
    /// at release for a reason the user's next message cures: waiting is what they asked for.
    StayHeld(Refusal),
    /// It can never go: dropped with this reason.
    Drop(Refusal),
}

/// A held message whose deadline has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtDeadline {
    /// A session is open and admits it (the user wrote, its release has not happened yet): it
    /// goes as the session message it is. The deadline is for waiting, and the wait is over.
    Send(Conversation),
    /// Its fallback template goes instead (the conversation after it).
    Fallback(Conversation),
    /// No fallback: it expires unsent.
    Expire,
    /// It can go in no form: dropped with this reason.
    Drop(Refusal),
}

/// Whether `refusal` is one the user's next message cures (it opens or unlocks a session).
pub fn waits_for_user(refusal: &Refusal) -> bool {
    matches!(
        refusal,
        Refusal::NoSession
            | Refusal::SessionExpired
            | Refusal::SessionLimitReached
            | Refusal::SessionLocked
    )
}

/// Whether a held message may wait until `until`, accepted at `now`: later than now, and at
/// most [`MAX_HOLD`] ahead.
pub fn check_until(until: Timestamp, now: Timestamp) -> Result<(), Refusal> {
    if until <= now {
        return Err(Refusal::HoldUntilInvalid("must be in the future".into()));
    }
    if until > now.plus(MAX_HOLD) {
        return Err(Refusal::HoldUntilInvalid(format!(
            "must be at most {} days ahead",
            MAX_HOLD.as_secs() / 86_400
        )));
    }
    Ok(())
}

impl Conversation {
    /// A session message that may wait for the user's reply, at `now`: sent now when a session
    /// admits it, held when what keeps it back is cured by the user's reply, refused otherwise
    /// (an opted-out user: holding would only postpone the refusal).
    pub fn decide_hold(&self, now: Timestamp, limits: &Limits) -> Result<HoldDecision, Refusal> {
        match self.decide_send(SendClass::Session, now, limits) {
            Ok(after) => Ok(HoldDecision::SendNow(after)),
            Err(refusal) if waits_for_user(&refusal) => Ok(HoldDecision::Hold),
            Err(refusal) => Err(refusal),
        }
    }

    /// A held message, now that the user has written: the session rules as for any session
    /// message (so at most `max_consecutive` in a row, `max_session_messages` per session).
    pub fn decide_release(&self, now: Timestamp, limits: &Limits) -> Release {
        match self.decide_send(SendClass::Session, now, limits) {
            Ok(after) => Release::Send(after),
            Err(refusal) if waits_for_user(&refusal) => Release::StayHeld(refusal),
            Err(refusal) => Release::Drop(refusal),
        }
    }

    /// A held message whose deadline has come at `now`; `fallback` is the class of its
    /// fallback template, if it has one.
    pub fn decide_at_deadline(
        &self,
        now: Timestamp,
        limits: &Limits,
        fallback: Option<SendClass>,
    ) -> AtDeadline {
        match self.decide_release(now, limits) {
            Release::Send(after) => return AtDeadline::Send(after),
            Release::Drop(refusal) => return AtDeadline::Drop(refusal),
            Release::StayHeld(_) => {}
        }
        match fallback.map(|class| self.decide_send(class, now, limits)) {
            Some(Ok(after)) => AtDeadline::Fallback(after),
            Some(Err(refusal)) => AtDeadline::Drop(refusal),
            None => AtDeadline::Expire,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    fn limits() -> Limits {
        Limits::default()
    }

    fn open() -> Conversation {
        Conversation::default().user_message(T0, &limits())
    }

    fn locked() -> Conversation {
        let mut c = open();
        for _ in 0..5 {
            c = c.decide_send(SendClass::Session, T0, &limits()).unwrap();
        }
        c
    }

    #[test]
    fn held_only_when_the_users_reply_cures_the_refusal() {
        let none = Conversation::default();
        assert_eq!(none.decide_hold(T0, &limits()), Ok(HoldDecision::Hold));
        assert_eq!(locked().decide_hold(T0, &limits()), Ok(HoldDecision::Hold));
        let day_later = T0.plus(Duration::from_secs(25 * 3600));
        assert_eq!(
            open().decide_hold(day_later, &limits()),
            Ok(HoldDecision::Hold)
        );
        assert!(matches!(
            open().decide_hold(T0, &limits()),
            Ok(HoldDecision::SendNow(after)) if after.session.unwrap().consecutive == 1
        ));
        assert_eq!(
            none.opt_out().decide_hold(T0, &limits()),
            Err(Refusal::RecipientOptedOut)
        );
    }

    #[test]
    fn until_is_in_the_future_and_at_most_thirty_days_ahead() {
        assert!(check_until(T0, T0).is_err());
        assert!(check_until(T0.minus(Duration::from_secs(1)), T0).is_err());
        assert!(check_until(T0.plus(Duration::from_millis(1)), T0).is_ok());
        assert!(check_until(T0.plus(MAX_HOLD), T0).is_ok());
        let err = check_until(T0.plus(MAX_HOLD).plus(Duration::from_millis(1)), T0).unwrap_err();
        assert_eq!(err.code(), "hold_until_invalid");
    }

    #[test]
    fn a_release_obeys_the_session_rules_and_waits_when_locked() {
        assert!(matches!(
            open().decide_release(T0, &limits()),
            Release::Send(_)
        ));
        assert_eq!(
            locked().decide_release(T0, &limits()),
            Release::StayHeld(Refusal::SessionLocked)
        );
        assert_eq!(
            open().opt_out().decide_release(T0, &limits()),
            Release::Drop(Refusal::RecipientOptedOut)
        );
        // Released one by one, the sixth of a reply stays held.
        let mut c = open();
        let mut sent = 0;
        for _ in 0..8 {
            if let Release::Send(after) = c.decide_release(T0, &limits()) {
                c = after;
                sent += 1;
            }
        }
        assert_eq!(sent, 5);
    }

    #[test]
    fn at_the_deadline_an_open_session_sends_else_the_fallback_else_it_expires() {
        let none = Conversation::default();
        assert!(matches!(
            open().decide_at_deadline(T0, &limits(), Some(SendClass::Informative)),
            AtDeadline::Send(_)
        ));
        assert!(matches!(
            none.decide_at_deadline(T0, &limits(), Some(SendClass::Informative)),
            AtDeadline::Fallback(after) if after.contacted && after.session.is_none()
        ));
        assert_eq!(
            none.decide_at_deadline(T0, &limits(), None),
            AtDeadline::Expire
        );
        assert!(matches!(
            locked().decide_at_deadline(T0, &limits(), Some(SendClass::Informative)),
            AtDeadline::Fallback(_)
        ));
        assert_eq!(
            none.opt_out()
                .decide_at_deadline(T0, &limits(), Some(SendClass::Informative)),
            AtDeadline::Drop(Refusal::RecipientOptedOut)
        );
    }

    #[test]
    fn states_round_trip() {
        for s in [
            HeldState::Held,
            HeldState::Released,
            HeldState::Fallback,
            HeldState::Expired,
            HeldState::Dropped,
        ] {
            assert_eq!(HeldState::parse(s.as_str()), Some(s));
        }
        assert_eq!(HeldState::parse("accepted"), None);
    }
}
