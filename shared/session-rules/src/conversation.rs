//! Sessions: one business and one user, the counters and what they allow.

use serde::Serialize;

use crate::{Billing, BillingCategory, Limits, Refusal, Timestamp};

/// What a message counts as, for the session rules.
///
/// Only session messages count toward the 60 and the 5; promotional content may not be the first
/// message to a user; transactional content and templates can go at any time the user has not
/// opted out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendClass {
    /// A session message (text, image or file), only inside an open session.
    Session,
    /// Transactional content or a transactional template: allowed outside a session.
    Informative,
    /// Promotional content or a promotional template: allowed outside a session, but never first.
    Promotional,
}

/// The session opened by the user's latest message after the previous one ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Session {
    /// The anchor: the session ends `session_duration` after this, whatever happens later.
    pub started_at: Timestamp,
    /// Session messages the business sent in this session.
    pub messages_sent: u32,
    /// Session messages since the user's last message.
    pub consecutive: u32,
}

impl Session {
    pub fn expires_at(&self, limits: &Limits) -> Timestamp {
        self.started_at.plus(limits.session_duration)
    }
}

/// Where a conversation's session stands at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// The user has never written (or everything was erased).
    None,
    /// Session messages can go.
    Active,
    /// The last `max_consecutive` session messages had no user message between them.
    Locked,
    /// `session_duration` has passed since the session started.
    Expired,
    /// The business sent `max_session_messages` in this session.
    LimitReached,
}

impl SessionState {
    /// The four states of the business API: a session ended by its message limit has expired.
    pub fn api_name(self) -> &'static str {
        match self {
            SessionState::None => "none",
            SessionState::Active => "active",
            SessionState::Locked => "locked",
            SessionState::Expired | SessionState::LimitReached => "expired",
        }
    }
}

/// Everything the rules need to know about one business × user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Conversation {
    /// The latest session, possibly ended.
    pub session: Option<Session>,
    /// The user blocked this sender (Viber `unsubscribe`, or send status 8).
    pub opted_out: bool,
    /// A message has gone either way before: the business's first message may not be promotional.
    pub contacted: bool,
}

impl Conversation {
    /// The state at `now`. Time beats the message limit, which beats the lock: a session that is
    /// over cannot be unlocked by a reply, only replaced by a new one.
    pub fn state(&self, now: Timestamp, limits: &Limits) -> SessionState {
        match &self.session {
            None => SessionState::None,
            Some(s) if now >= s.expires_at(limits) => SessionState::Expired,
            Some(s) if s.messages_sent >= limits.max_session_messages => SessionState::LimitReached,
            Some(s) if s.consecutive >= limits.max_consecutive => SessionState::Locked,
            Some(_) => SessionState::Active,
        }
    }

    /// Decides whether a message of `class` may go at `now`; if so, returns the conversation as it
    /// is after the send (counters bumped for session messages, contact recorded).
    pub fn decide_send(
        &self,
        class: SendClass,
        now: Timestamp,
        limits: &Limits,
    ) -> Result<Conversation, Refusal> {
        if self.opted_out {
            return Err(Refusal::RecipientOptedOut);
        }
        match class {
            SendClass::Session => match self.state(now, limits) {
                SessionState::None => return Err(Refusal::NoSession),
                SessionState::Expired => return Err(Refusal::SessionExpired),
                SessionState::LimitReached => return Err(Refusal::SessionLimitReached),
                SessionState::Locked => return Err(Refusal::SessionLocked),
                SessionState::Active => {}
            },
            SendClass::Promotional if !self.contacted => {
                return Err(Refusal::FirstMessagePromotional);
            }
            SendClass::Promotional | SendClass::Informative => {}
        }
        Ok(self.record_send(class))
    }

    /// What a send of `class`, billed as `category`, would do at `now`, changing nothing: the
    /// dry run's answer. It is [`Conversation::decide_send`] and [`Billing::of_send`], the
    /// decision and billing a real send takes, with the session before and after.
    pub fn preview_send(
        &self,
        class: SendClass,
        category: BillingCategory,
        now: Timestamp,
        limits: &Limits,
    ) -> SendPreview {
        let decision = self.decide_send(class, now, limits);
        let after = decision.as_ref().map_or(*self, |after| *after);
        SendPreview {
            decision: decision.map(|_| ()),
            billing: Billing::of_send(category, &after),
            before: self.snapshot(now, limits),
            after: after.snapshot(now, limits),
            conversation_after: after,
        }
    }

    /// What a send does to the conversation, without asking whether it may: session messages
    /// bump both counters, every message records contact. Adapters use it to write the exact
    /// state [`Conversation::decide_send`] allowed.
    pub fn record_send(&self, class: SendClass) -> Conversation {
        let mut after = *self;
        after.contacted = true;
        if class == SendClass::Session
            && let Some(session) = after.session.as_mut()
        {
            session.messages_sent += 1;
            session.consecutive += 1;
        }
        after
    }

    /// The user wrote at `now`: an open session is unlocked (its anchor stays), an ended or absent
    /// one is replaced by a new session with fresh counters. Writing also ends an opt-out.
    pub fn user_message(&self, now: Timestamp, limits: &Limits) -> Conversation {
        let session = match (self.state(now, limits), self.session) {
            (SessionState::Active | SessionState::Locked, Some(open)) => Session {
                consecutive: 0,
                ..open
            },
            _ => Session {
                started_at: now,
                messages_sent: 0,
                consecutive: 0,
            },
        };
        Conversation {
            session: Some(session),
            opted_out: false,
            contacted: true,
        }
    }

    /// The user wrote on a service where writing opens no session (a two-way service while
    /// `VIBER_TWO_WAY_SESSIONS` is `closed`): the opt-out ends, the session stays as it is.
    pub fn user_reply_without_session(&self) -> Conversation {
        Conversation {
            opted_out: false,
            contacted: true,
            ..*self
        }
    }

    /// The user blocked the sender.
    pub fn opt_out(&self) -> Conversation {
        Conversation {
            opted_out: true,
            ..*self
        }
    }

    /// The user unblocked the sender (Viber `subscribe`).
    pub fn opt_in(&self) -> Conversation {
        Conversation {
            opted_out: false,
            ..*self
        }
    }

    /// A session message that Viber refused (for a reason other than "wait for the user") was
    /// never delivered: its place in the counters is given back, if it is still the same session.
    pub fn release_session_slot(&self, session_started_at: Timestamp) -> Conversation {
        let mut after = *self;
        if let Some(s) = after
            .session
            .as_mut()
            .filter(|s| s.started_at == session_started_at)
        {
            s.messages_sent = s.messages_sent.saturating_sub(1);
            s.consecutive = s.consecutive.saturating_sub(1);
        }
        after
    }

    /// Viber said "wait for the user's response" (code 21): lock until the user writes, whatever
    /// our own count says.
    pub fn lock(&self, limits: &Limits) -> Conversation {
        let mut after = *self;
        if let Some(s) = after.session.as_mut() {
            s.consecutive = s.consecutive.max(limits.max_consecutive);
        }
        after
    }

    /// The session as the business API shows it (`GET /v1/sessions/{phone}`).
    pub fn snapshot(&self, now: Timestamp, limits: &Limits) -> SessionSnapshot {
        let state = self.state(now, limits);
        let open = matches!(state, SessionState::Active | SessionState::Locked);
        let (sent, consecutive) = self
            .session
            .map_or((0, 0), |s| (s.messages_sent, s.consecutive));
        SessionSnapshot {
            state: state.api_name(),
            started_at: self.session.map(|s| s.started_at),
            expires_at: self.session.map(|s| s.expires_at(limits)),
            messages_sent: sent,
            messages_left: if open {
                limits.max_session_messages.saturating_sub(sent)
            } else {
                0
            },
            consecutive,
            consecutive_left: if open {
                limits.max_consecutive.saturating_sub(consecutive)
            } else {
                0
            },
            can_send_session: state == SessionState::Active && !self.opted_out,
            opted_out: self.opted_out,
        }
    }
}

/// What a send would do ([`Conversation::preview_send`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendPreview {
    /// Accepted, or the refusal a real send would get.
    pub decision: Result<(), Refusal>,
    /// What it would be billed as: on the state the send leaves (refused: the state now).
    pub billing: Billing,
    pub before: SessionSnapshot,
    /// The session right after it (the same as `before` when refused).
    pub after: SessionSnapshot,
    pub conversation_after: Conversation,
}

/// What an operator's inbox shows about a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionSnapshot {
    pub state: &'static str,
    pub started_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub messages_sent: u32,
    pub messages_left: u32,
    pub consecutive: u32,
    pub consecutive_left: u32,
    pub can_send_session: bool,
    pub opted_out: bool,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    fn limits() -> Limits {
        Limits::default()
    }

    fn open_session() -> Conversation {
        Conversation::default().user_message(T0, &limits())
    }

    fn send_n(mut c: Conversation, n: u32, at: Timestamp) -> Conversation {
        for i in 0..n {
            c = c
                .decide_send(SendClass::Session, at, &limits())
                .unwrap_or_else(|e| panic!("send {} of {n} refused: {e}", i + 1));
        }
        c
    }

    #[test]
    fn no_session_until_the_user_writes() {
        let c = Conversation::default();
        assert_eq!(c.state(T0, &limits()), SessionState::None);
        assert_eq!(
            c.decide_send(SendClass::Session, T0, &limits()),
            Err(Refusal::NoSession)
        );
    }

    #[test]
    fn the_fifth_consecutive_goes_and_the_sixth_is_locked() {
        let c = send_n(open_session(), 4, T0);
        let c = c
            .decide_send(SendClass::Session, T0, &limits())
            .expect("5th goes");
        assert_eq!(c.state(T0, &limits()), SessionState::Locked);
        assert_eq!(
            c.decide_send(SendClass::Session, T0, &limits()),
            Err(Refusal::SessionLocked)
        );
    }

    #[test]
    fn a_user_reply_unlocks_without_moving_the_anchor() {
        let later = T0.plus(Duration::from_secs(3600));
        let c = send_n(open_session(), 5, T0).user_message(later, &limits());
        let s = c.session.unwrap();
        assert_eq!((s.started_at, s.messages_sent, s.consecutive), (T0, 5, 0));
        assert_eq!(c.state(later, &limits()), SessionState::Active);
    }

    #[test]
    fn the_sixtieth_goes_and_the_sixty_first_does_not() {
        let mut c = open_session();
        for _ in 0..11 {
            c = send_n(c, 5, T0).user_message(T0, &limits());
        }
        let c = send_n(c, 5, T0);
        assert_eq!(c.session.unwrap().messages_sent, 60);
        let c = c.user_message(T0, &limits());
        // The 60th ended the session; a reply starts a new one rather than unlocking.
        assert_eq!(c.session.unwrap().messages_sent, 0);

        let mut c = open_session();
        for _ in 0..11 {
            c = send_n(c, 5, T0).user_message(T0, &limits());
        }
        let c = send_n(c, 4, T0)
            .decide_send(SendClass::Session, T0, &limits())
            .expect("60th");
        assert_eq!(
            c.decide_send(SendClass::Session, T0, &limits()),
            Err(Refusal::SessionLimitReached)
        );
    }

    #[test]
    fn exactly_24_hours_after_start_is_expired() {
        let c = open_session();
        let end = T0.plus(Duration::from_secs(24 * 3600));
        assert_eq!(
            c.state(end.minus(Duration::from_millis(1)), &limits()),
            SessionState::Active
        );
        assert_eq!(c.state(end, &limits()), SessionState::Expired);
        assert_eq!(
            c.decide_send(SendClass::Session, end, &limits()),
            Err(Refusal::SessionExpired)
        );
    }

    #[test]
    fn later_user_messages_do_not_extend_the_session() {
        let c = open_session().user_message(T0.plus(Duration::from_secs(23 * 3600)), &limits());
        let end = T0.plus(Duration::from_secs(24 * 3600));
        assert_eq!(c.state(end, &limits()), SessionState::Expired);
    }

    #[test]
    fn a_user_message_after_the_end_starts_a_new_session() {
        let c = send_n(open_session(), 3, T0);
        let next_day = T0.plus(Duration::from_secs(25 * 3600));
        let c = c.user_message(next_day, &limits());
        assert_eq!(
            c.session,
            Some(Session {
                started_at: next_day,
                messages_sent: 0,
                consecutive: 0
            })
        );
    }

    #[test]
    fn non_session_messages_go_outside_a_session_and_count_nothing() {
        let c = Conversation::default();
        let c = c
            .decide_send(SendClass::Informative, T0, &limits())
            .unwrap();
        assert!(c.contacted);
        assert_eq!(c.session, None);
        let locked = send_n(open_session(), 5, T0);
        let after = locked
            .decide_send(SendClass::Informative, T0, &limits())
            .unwrap();
        assert_eq!(after.session, locked.session);
    }

    #[test]
    fn the_first_message_must_not_be_promotional() {
        let c = Conversation::default();
        assert_eq!(
            c.decide_send(SendClass::Promotional, T0, &limits()),
            Err(Refusal::FirstMessagePromotional)
        );
        let c = c
            .decide_send(SendClass::Informative, T0, &limits())
            .unwrap();
        assert!(c.decide_send(SendClass::Promotional, T0, &limits()).is_ok());
    }

    #[test]
    fn opted_out_users_get_nothing_until_they_write_or_subscribe() {
        let c = open_session().opt_out();
        for class in [
            SendClass::Session,
            SendClass::Informative,
            SendClass::Promotional,
        ] {
            assert_eq!(
                c.decide_send(class, T0, &limits()),
                Err(Refusal::RecipientOptedOut)
            );
        }
        assert!(
            c.opt_in()
                .decide_send(SendClass::Session, T0, &limits())
                .is_ok()
        );
        assert!(
            c.user_message(T0, &limits())
                .decide_send(SendClass::Session, T0, &limits())
                .is_ok()
        );
    }

    #[test]
    fn a_refused_session_message_gives_its_slot_back_in_the_same_session_only() {
        let c = send_n(open_session(), 5, T0);
        let back = c.release_session_slot(T0);
        assert_eq!(back.state(T0, &limits()), SessionState::Active);
        let other = c.release_session_slot(T0.plus(Duration::from_secs(1)));
        assert_eq!(other, c);
    }

    #[test]
    fn viber_wait_for_user_locks() {
        let c = send_n(open_session(), 2, T0).lock(&limits());
        assert_eq!(c.state(T0, &limits()), SessionState::Locked);
    }

    #[test]
    fn limits_are_configuration() {
        let twelve_hours_ten = Limits {
            session_duration: Duration::from_secs(12 * 3600),
            max_session_messages: 10,
            max_consecutive: 2,
            ..Limits::default()
        };
        let c = open_session();
        let c = c
            .decide_send(SendClass::Session, T0, &twelve_hours_ten)
            .unwrap();
        let c = c
            .decide_send(SendClass::Session, T0, &twelve_hours_ten)
            .unwrap();
        assert_eq!(c.state(T0, &twelve_hours_ten), SessionState::Locked);
        assert_eq!(
            c.state(T0.plus(Duration::from_secs(12 * 3600)), &twelve_hours_ten),
            SessionState::Expired
        );
    }

    #[test]
    fn snapshot_shows_what_is_left() {
        let c = send_n(open_session(), 3, T0);
        let s = c.snapshot(T0, &limits());
        assert_eq!(s.state, "active");
        assert_eq!(
            (
                s.messages_sent,
                s.messages_left,
                s.consecutive,
                s.consecutive_left
            ),
            (3, 57, 3, 2)
        );
        assert!(s.can_send_session);
        assert_eq!(s.expires_at, Some(T0.plus(Duration::from_secs(86_400))));
        let none = Conversation::default().snapshot(T0, &limits());
        assert_eq!(
            (none.state, none.messages_left, none.can_send_session),
            ("none", 0, false)
        );
    }
}
