//! The session transitions between two committed states of one conversation (the stream's old
//! and new images): pure, so a redelivered record finds exactly the same transitions again.

use std::time::Duration;

use session_rules::{Conversation, Limits, Timestamp};

/// When `session.expiring` goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiring {
    /// This long before the session's end (zero: never by time).
    pub before: Duration,
    /// When this many session messages are left (zero: never by count).
    pub messages_left: u32,
}

impl Default for Expiring {
    fn default() -> Self {
        Self {
            before: Duration::from_secs(15 * 60),
            messages_left: 5,
        }
    }
}

/// Why a session is expiring or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Its 24 hours (expiring: soon over; closed: over).
    Time,
    /// Its messages (expiring: few left; closed: none left).
    Messages,
}

/// One transition of one session (its anchor: `started_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Opened,
    /// The session messages sent so far (distinguishes the locks of one session).
    Locked {
        sent: u32,
    },
    Unlocked {
        sent: u32,
    },
    Expiring(Why),
    Closed(Why),
}

impl Transition {
    /// The part of the event's subject that names the transition: with the session's anchor,
    /// the same transition always gives the same event id.
    pub fn subject(self) -> String {
        match self {
            Transition::Opened => "opened".into(),
            Transition::Locked { sent } => format!("locked/{sent}"),
            Transition::Unlocked { sent } => format!("unlocked/{sent}"),
            Transition::Expiring(Why::Time) => "expiring/time".into(),
            Transition::Expiring(Why::Messages) => "expiring/messages".into(),
            // One `closed` per session, whatever closed it first.
            Transition::Closed(_) => "closed".into(),
        }
    }

    pub fn reason(self) -> Option<&'static str> {
        match self {
            Transition::Expiring(Why::Time) => Some("time"),
            Transition::Expiring(Why::Messages) => Some("messages"),
            Transition::Closed(Why::Time) => Some("expired"),
            Transition::Closed(Why::Messages) => Some("limit_reached"),
            _ => None,
        }
    }
}

/// A transition and the session it is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub transition: Transition,
    pub anchor: Timestamp,
    /// The conversation to show in the event.
    pub conversation: Conversation,
    /// The time of the snapshot in the event (and the event's `created_at`).
    pub at: Timestamp,
}

/// The transitions from `old` to `new`, committed at `at`, in the order they happened.
pub fn between(
    old: Option<&Conversation>,
    new: &Conversation,
    at: Timestamp,
    limits: &Limits,
    expiring: &Expiring,
) -> Vec<Found> {
    let mut found = Vec::new();
    let Some(now) = new.session else {
        return found;
    };
    let before = old.and_then(|c| c.session);
    let same = before.filter(|b| b.started_at == now.started_at);
    let Some(before) = same else {
        // A session that a new one replaces ended by time, unless its messages ended it (that
        // was its `closed` already): a user message opens a new session only after the old one.
        if let Some(previous) = before
            && previous.messages_sent < limits.max_session_messages
            && let Some(old) = old
        {
            found.push(Found {
                transition: Transition::Closed(Why::Time),
                anchor: previous.started_at,
                conversation: *old,
                at: previous.expires_at(limits),
            });
        }
        found.push(Found {
            transition: Transition::Opened,
            anchor: now.started_at,
            conversation: *new,
            at,
        });
        return found;
    };
    let mut push = |transition| {
        found.push(Found {
            transition,
            anchor: now.started_at,
            conversation: *new,
            at,
        });
    };
    let row = limits.max_consecutive;
    if before.consecutive < row && now.consecutive >= row {
        push(Transition::Locked {
            sent: now.messages_sent,
        });
    }
    if before.consecutive >= row && now.consecutive < row {
        push(Transition::Unlocked {
            sent: now.messages_sent,
        });
    }
    let max = limits.max_session_messages;
    let left = |sent: u32| max.saturating_sub(sent);
    let threshold = expiring.messages_left;
    if threshold > 0
        && left(before.messages_sent) > threshold
        && left(now.messages_sent) <= threshold
        && left(now.messages_sent) > 0
    {
        push(Transition::Expiring(Why::Messages));
    }
    if before.messages_sent < max && now.messages_sent >= max {
        push(Transition::Closed(Why::Messages));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    fn limits() -> Limits {
        Limits::default()
    }

    fn kinds(found: &[Found]) -> Vec<Transition> {
        found.iter().map(|f| f.transition).collect()
    }

    fn send(c: Conversation, n: u32) -> Conversation {
        let mut c = c;
        for _ in 0..n {
            let mut s = c.session.unwrap();
            s.messages_sent += 1;
            s.consecutive += 1;
            c.session = Some(s);
        }
        c
    }

    #[test]
    fn a_user_message_opens_and_the_fifth_send_locks_and_a_reply_unlocks() {
        let l = limits();
        let e = Expiring::default();
        let open = Conversation::default().user_message(T0, &l);
        assert_eq!(
            kinds(&between(None, &open, T0, &l, &e)),
            [Transition::Opened]
        );
        let four = send(open, 4);
        let five = send(four, 1);
        assert!(between(Some(&open), &four, T0, &l, &e).is_empty());
        assert_eq!(
            kinds(&between(Some(&four), &five, T0, &l, &e)),
            [Transition::Locked { sent: 5 }]
        );
        let replied = five.user_message(T0, &l);
        assert_eq!(
            kinds(&between(Some(&five), &replied, T0, &l, &e)),
            [Transition::Unlocked { sent: 5 }]
        );
        // The same change again is the same transition (the same event id).
        assert_eq!(
            between(Some(&five), &replied, T0, &l, &e),
            between(Some(&five), &replied, T0, &l, &e)
        );
    }

    #[test]
    fn the_last_messages_warn_then_close() {
        let l = limits();
        let e = Expiring::default();
        let mut c = Conversation::default().user_message(T0, &l);
        let mut seen = Vec::new();
        for _ in 0..l.max_session_messages {
            let next = send(c, 1).user_message(T0, &l);
            // Keep the anchor: a reply within the session only resets the row.
            seen.extend(kinds(&between(Some(&c), &send(c, 1), T0, &l, &e)));
            c = next;
        }
        assert!(seen.contains(&Transition::Expiring(Why::Messages)));
        assert_eq!(seen.last(), Some(&Transition::Closed(Why::Messages)));
        assert_eq!(
            seen.iter()
                .filter(|t| matches!(t, Transition::Expiring(_)))
                .count(),
            1
        );
    }

    #[test]
    fn a_new_session_after_an_expired_one_closes_the_old_one_first() {
        let l = limits();
        let e = Expiring::default();
        let old = send(Conversation::default().user_message(T0, &l), 2);
        let later = T0.plus(l.session_duration).plus(Duration::from_secs(60));
        let new = old.user_message(later, &l);
        let found = between(Some(&old), &new, later, &l, &e);
        assert_eq!(
            kinds(&found),
            [Transition::Closed(Why::Time), Transition::Opened]
        );
        assert_eq!(found[0].anchor, T0);
        assert_eq!(found[0].at, T0.plus(l.session_duration));
        assert_eq!(found[1].anchor, later);
    }

    #[test]
    fn changes_outside_a_session_are_no_transition() {
        let l = limits();
        let e = Expiring::default();
        let none = Conversation::default();
        assert!(between(None, &none, T0, &l, &e).is_empty());
        let mut opted = none;
        opted.opted_out = true;
        assert!(between(Some(&none), &opted, T0, &l, &e).is_empty());
    }

    #[test]
    fn subjects_differ_per_transition_and_closed_is_one() {
        assert_eq!(
            Transition::Closed(Why::Time).subject(),
            Transition::Closed(Why::Messages).subject()
        );
        assert_ne!(
            Transition::Locked { sent: 5 }.subject(),
            Transition::Locked { sent: 10 }.subject()
        );
        assert_ne!(
            Transition::Expiring(Why::Time).subject(),
            Transition::Expiring(Why::Messages).subject()
        );
    }
}
