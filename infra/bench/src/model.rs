//! The session rules written again from README.md's statement of them, independently of `session-rules`, to judge
//! the server's answers in the load runs: what each request to one conversation should get,
//! given everything that conversation saw before it.
//!
//! Time does not move in a load run (no `/_dev/clock`), so the 24 h end never comes; sessions
//! end at 60 session messages.

/// What the business or the user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Session,
    Transactional,
    Promotional,
    UserMessage,
    Unsubscribe,
}

/// The model's verdict on a business send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// The refusal code the API documents for it.
    Refused(&'static str),
}

pub const SESSION_MESSAGES: u32 = 60;
pub const IN_A_ROW: u32 = 5;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conversation {
    /// Session messages in the current session and in a row, if a session was ever opened.
    session: Option<(u32, u32)>,
    opted_out: bool,
    contacted: bool,
}

impl Conversation {
    fn open(&self) -> Option<(u32, u32)> {
        self.session.filter(|(sent, _)| *sent < SESSION_MESSAGES)
    }

    /// What a send of `act` should get now.
    pub fn verdict(&self, act: Act) -> Verdict {
        if self.opted_out {
            return Verdict::Refused("recipient_opted_out");
        }
        match act {
            Act::Session => match (self.session, self.open()) {
                (None, _) => Verdict::Refused("no_session"),
                (Some(_), None) => Verdict::Refused("session_limit_reached"),
                (_, Some((_, row))) if row >= IN_A_ROW => Verdict::Refused("session_locked"),
                _ => Verdict::Allowed,
            },
            Act::Promotional if !self.contacted => Verdict::Refused("first_message_promotional"),
            _ => Verdict::Allowed,
        }
    }

    /// The server accepted a send of `act`.
    pub fn accepted(&mut self, act: Act) {
        self.contacted = true;
        if act == Act::Session
            && let Some((sent, row)) = self.session.as_mut()
        {
            *sent += 1;
            *row += 1;
        }
    }

    /// The user wrote (the server answered the callback 200): an open session unlocks, an
    /// ended or absent one is replaced; an opt-out ends.
    pub fn user_message(&mut self) {
        self.session = Some(match self.open() {
            Some((sent, _)) => (sent, 0),
            None => (0, 0),
        });
        self.opted_out = false;
        self.contacted = true;
    }

    pub fn unsubscribe(&mut self) {
        self.opted_out = true;
    }

    /// Viber answered 21 ("wait for the user") to a session message: locked until the user writes.
    pub fn locked_by_viber(&mut self) {
        if let Some((_, row)) = self.session.as_mut() {
            *row = (*row).max(IN_A_ROW);
        }
    }

    pub fn opted_out(&self) -> bool {
        self.opted_out
    }

    /// `(messages_sent, consecutive)` of the current session as `GET /v1/sessions` shows them.
    pub fn counters(&self) -> (u32, u32) {
        self.session.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_in_a_row_then_a_reply_unlocks() {
        let mut c = Conversation::default();
        assert_eq!(c.verdict(Act::Session), Verdict::Refused("no_session"));
        assert_eq!(
            c.verdict(Act::Promotional),
            Verdict::Refused("first_message_promotional")
        );
        c.user_message();
        for _ in 0..5 {
            assert_eq!(c.verdict(Act::Session), Verdict::Allowed);
            c.accepted(Act::Session);
        }
        assert_eq!(c.verdict(Act::Session), Verdict::Refused("session_locked"));
        assert_eq!(c.verdict(Act::Transactional), Verdict::Allowed);
        assert_eq!(c.verdict(Act::Promotional), Verdict::Allowed);
        c.user_message();
        assert_eq!(c.verdict(Act::Session), Verdict::Allowed);
        assert_eq!(c.counters(), (5, 0));
    }

    #[test]
    fn sixty_end_the_session_and_the_next_reply_starts_a_new_one() {
        let mut c = Conversation::default();
        for _ in 0..12 {
            c.user_message();
            for _ in 0..5 {
                c.accepted(Act::Session);
            }
        }
        assert_eq!(c.counters(), (60, 5));
        assert_eq!(
            c.verdict(Act::Session),
            Verdict::Refused("session_limit_reached")
        );
        c.user_message();
        assert_eq!(c.counters(), (0, 0));
        assert_eq!(c.verdict(Act::Session), Verdict::Allowed);
    }

    #[test]
    fn an_opt_out_refuses_everything_until_the_user_writes() {
        let mut c = Conversation::default();
        c.user_message();
        c.unsubscribe();
        for act in [Act::Session, Act::Transactional, Act::Promotional] {
            assert_eq!(c.verdict(act), Verdict::Refused("recipient_opted_out"));
        }
        c.user_message();
        assert_eq!(c.verdict(Act::Session), Verdict::Allowed);
    }

    #[test]
    fn viber_locks_the_session_until_the_user_writes() {
        let mut c = Conversation::default();
        c.user_message();
        c.accepted(Act::Session);
        c.locked_by_viber();
        assert_eq!(c.verdict(Act::Session), Verdict::Refused("session_locked"));
        c.user_message();
        assert_eq!(c.verdict(Act::Session), Verdict::Allowed);
    }
}
