//! Message statuses: a forward-only order over late, duplicated, out-of-order callbacks.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Where a message stands. Order: `accepted < sent < {failed, expired} < delivered < seen`.
///
/// `failed` and `expired` share a rank: neither replaces the other. A late `delivered` after
/// `expired` is evidence the device got it and moves forward; a late `expired` after `delivered`
/// is kept in the history but changes nothing.
///
/// `cancelled` is a campaign message its campaign's cancel stopped before it was sent: final,
/// above every other rank, so no late or stray callback moves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Accepted,
    Sent,
    Failed,
    Expired,
    Delivered,
    Seen,
    Cancelled,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 7] = [
        MessageStatus::Accepted,
        MessageStatus::Sent,
        MessageStatus::Failed,
        MessageStatus::Expired,
        MessageStatus::Delivered,
        MessageStatus::Seen,
        MessageStatus::Cancelled,
    ];

    /// The position in the order; equal ranks do not replace each other.
    pub fn rank(self) -> u8 {
        match self {
            MessageStatus::Accepted => 0,
            MessageStatus::Sent => 1,
            MessageStatus::Failed | MessageStatus::Expired => 2,
            MessageStatus::Delivered => 3,
            MessageStatus::Seen => 4,
            MessageStatus::Cancelled => 5,
        }
    }

    /// Whether a message in `self` moves to `next`.
    pub fn moves_to(self, next: MessageStatus) -> bool {
        next.rank() > self.rank()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Accepted => "accepted",
            MessageStatus::Sent => "sent",
            MessageStatus::Failed => "failed",
            MessageStatus::Expired => "expired",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Seen => "seen",
            MessageStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == input)
    }
}

/// What a Viber status callback's `message_status` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CallbackStatus {
    /// 0 delivered, 1 seen, 2 expired: about one message.
    Message(MessageStatus),
    /// 4: the user unblocked the sender.
    Subscribe,
    /// 5: the user blocked the sender.
    Unsubscribe,
    /// A code no public source explains (VIBER.md: "codes beyond these may appear"). Kept in
    /// the message's history as it came, and it changes no status.
    Unknown(i64),
}

impl CallbackStatus {
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => Self::Message(MessageStatus::Delivered),
            1 => Self::Message(MessageStatus::Seen),
            2 => Self::Message(MessageStatus::Expired),
            4 => Self::Subscribe,
            5 => Self::Unsubscribe,
            other => Self::Unknown(other),
        }
    }
}

/// One status as it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub status: MessageStatus,
    pub at: Timestamp,
}

/// A message's current status and every status it was told, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusTrack {
    pub current: MessageStatus,
    pub history: Vec<StatusEvent>,
}

impl StatusTrack {
    pub fn accepted(at: Timestamp) -> Self {
        Self {
            current: MessageStatus::Accepted,
            history: vec![StatusEvent {
                status: MessageStatus::Accepted,
                at,
            }],
        }
    }

    /// Records `event` and moves forward if it is ahead; returns whether the status changed.
    /// The very same event (status and time) again is a replay: nothing changes.
    pub fn apply(&mut self, event: StatusEvent) -> bool {
        if self.history.contains(&event) {
            return false;
        }
        let moved = self.current.moves_to(event.status);
        if moved {
            self.current = event.status;
        }
        self.history.push(event);
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageStatus::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn the_order_is_the_documented_one() {
        let forward = [
            (Accepted, Sent),
            (Sent, Failed),
            (Sent, Expired),
            (Expired, Delivered),
            (Failed, Delivered),
            (Delivered, Seen),
            (Accepted, Seen),
            (Accepted, Cancelled),
        ];
        for (from, to) in forward {
            assert!(from.moves_to(to), "{from:?} -> {to:?}");
        }
        let not = [
            (Seen, Delivered),
            (Delivered, Expired),
            (Expired, Failed),
            (Failed, Expired),
            (Sent, Accepted),
            (Seen, Seen),
            (Cancelled, Delivered),
            (Cancelled, Seen),
        ];
        for (from, to) in not {
            assert!(!from.moves_to(to), "{from:?} -/-> {to:?}");
        }
    }

    #[test]
    fn late_callbacks_are_kept_but_never_move_back() {
        let mut track = StatusTrack::accepted(at(0));
        assert!(track.apply(StatusEvent {
            status: Sent,
            at: at(1)
        }));
        assert!(track.apply(StatusEvent {
            status: Seen,
            at: at(3)
        }));
        assert!(!track.apply(StatusEvent {
            status: Delivered,
            at: at(2)
        }));
        assert!(!track.apply(StatusEvent {
            status: Expired,
            at: at(4)
        }));
        assert_eq!(track.current, Seen);
        let arrived: Vec<_> = track.history.iter().map(|e| e.status).collect();
        assert_eq!(arrived, [Accepted, Sent, Seen, Delivered, Expired]);
    }

    #[test]
    fn the_same_callback_again_changes_nothing() {
        let mut track = StatusTrack::accepted(at(0));
        let delivered = StatusEvent {
            status: Delivered,
            at: at(2),
        };
        assert!(track.apply(delivered.clone()));
        let once = track.clone();
        assert!(!track.apply(delivered));
        assert_eq!(track, once);
        // The same status at another time is another callback: kept.
        assert!(!track.apply(StatusEvent {
            status: Delivered,
            at: at(3)
        }));
        assert_eq!(track.history.len(), once.history.len() + 1);
    }

    #[test]
    fn callback_codes() {
        for (code, expected) in [
            (0, CallbackStatus::Message(Delivered)),
            (1, CallbackStatus::Message(Seen)),
            (2, CallbackStatus::Message(Expired)),
            (4, CallbackStatus::Subscribe),
            (5, CallbackStatus::Unsubscribe),
            (3, CallbackStatus::Unknown(3)),
            (-1, CallbackStatus::Unknown(-1)),
            (6, CallbackStatus::Unknown(6)),
        ] {
            assert_eq!(CallbackStatus::from_code(code), expected, "{code}");
        }
    }

    #[test]
    fn names_round_trip() {
        for s in MessageStatus::ALL {
            assert_eq!(MessageStatus::parse(s.as_str()), Some(s));
        }
    }
}
