//! What Viber bills a message as: the category partners price separately, and whether a session
//! message is billed at all.
//!
//! Sources (VIBER.md, "Billing"; docs/viber.md, "Billing categories"): partners price
//! promotional, transactional (template), OTP (template) and session messages separately (8x8's
//! sessions page, Infobip's `applySessionRate`). In a session the first business reply is billed
//! and later text, image and file replies are not (8x8; Routee prices a session once, "billed per
//! session and not per each delivered message"); rich content inside a session (video, buttons,
//! carousels) is billed as promotional (8x8): a list sent in a session (its options are buttons)
//! and a carousel are [`BillingCategory::Promotional`], billable. Free-form transactional content "may be billed as promotional"
//! since 2026-07-01 (Routee), so the legacy types count as promotional.

use serde::{Deserialize, Serialize};

use crate::Conversation;

/// The price list a message falls under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingCategory {
    /// A transactional template (Viber types 1701/1702) without `{{pin}}`.
    TransactionalTemplate,
    /// A template with `{{pin}}` (Viber shows it with a copy button).
    Otp,
    /// Promotional content, a legacy promotional template, free-form transactional content
    /// (Viber's legacy types, sent only for a business opted in to them), and rich content in a
    /// session (a list, a carousel).
    Promotional,
    /// A session message (text, image or file inside a session the user opened).
    Session,
}

impl BillingCategory {
    pub const ALL: [BillingCategory; 4] = [
        BillingCategory::TransactionalTemplate,
        BillingCategory::Otp,
        BillingCategory::Promotional,
        BillingCategory::Session,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BillingCategory::TransactionalTemplate => "transactional_template",
            BillingCategory::Otp => "otp",
            BillingCategory::Promotional => "promotional",
            BillingCategory::Session => "session",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == input)
    }
}

/// What one accepted message is billed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Billing {
    pub category: BillingCategory,
    /// Whether it costs anything by itself: every message but a session message after the
    /// session's first business reply.
    pub billable: bool,
}

impl Billing {
    /// The billing of a send of `category`, given `after`, the conversation as this very send
    /// leaves it (what [`Conversation::decide_send`] returned, which the store writes under the
    /// exact prior state as its condition): a session message is billable when it is the
    /// session's first business message, i.e. the session has counted exactly one after it.
    /// A session message Viber refused gives its slot back
    /// ([`Conversation::release_session_slot`]), so the next one is the billed first reply.
    pub fn of_send(category: BillingCategory, after: &Conversation) -> Self {
        let billable = match category {
            BillingCategory::Session => after.session.is_none_or(|s| s.messages_sent <= 1),
            BillingCategory::TransactionalTemplate
            | BillingCategory::Otp
            | BillingCategory::Promotional => true,
        };
        Self { category, billable }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, SendClass, Timestamp};

    #[test]
    fn names_round_trip() {
        for category in BillingCategory::ALL {
            assert_eq!(BillingCategory::parse(category.as_str()), Some(category));
            assert_eq!(
                serde_json::to_value(category).unwrap(),
                serde_json::json!(category.as_str())
            );
        }
        assert_eq!(BillingCategory::parse("transactional"), None);
    }

    #[test]
    fn the_first_session_reply_is_billed_the_next_ones_not() {
        let limits = Limits::default();
        let now = Timestamp::from_millis(1_700_000_000_000);
        let open = Conversation::default().user_message(now, &limits);
        let first = open.decide_send(SendClass::Session, now, &limits).unwrap();
        assert!(Billing::of_send(BillingCategory::Session, &first).billable);
        let second = first.decide_send(SendClass::Session, now, &limits).unwrap();
        assert!(!Billing::of_send(BillingCategory::Session, &second).billable);
        // A template in the session is billed whatever the session holds.
        let template = second
            .decide_send(SendClass::Informative, now, &limits)
            .unwrap();
        assert!(Billing::of_send(BillingCategory::TransactionalTemplate, &template).billable);
        assert!(Billing::of_send(BillingCategory::Otp, &template).billable);
        assert!(Billing::of_send(BillingCategory::Promotional, &template).billable);
        // The user writing does not start a new session while this one lasts: still not billed.
        let replied = second.user_message(now, &limits);
        let third = replied
            .decide_send(SendClass::Session, now, &limits)
            .unwrap();
        assert!(!Billing::of_send(BillingCategory::Session, &third).billable);
        // A new session (after 24 h) bills its first reply again.
        let later = now.plus(limits.session_duration);
        let renewed = third.user_message(later, &limits);
        let first_again = renewed
            .decide_send(SendClass::Session, later, &limits)
            .unwrap();
        assert!(Billing::of_send(BillingCategory::Session, &first_again).billable);
        // A refused first reply gives its slot back: the next one is the billed first.
        let released = first.release_session_slot(now);
        let retry = released
            .decide_send(SendClass::Session, now, &limits)
            .unwrap();
        assert!(Billing::of_send(BillingCategory::Session, &retry).billable);
    }
}
