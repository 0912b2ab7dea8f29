//! Campaigns, decided without I/O: the states a campaign goes through and what pause, resume
//! and cancel do in each, delivery windows, the recipients as the business listed them and how
//! many chunks they make.
//!
//! The store keeps the campaign item and makes each move one conditional write on the state it
//! was decided on (`shared/store/src/campaigns.rs`); the fan-out (`functions/campaign`) reads a
//! window in the recipient's time zone; one recipient's message is completed and checked as the
//! single send it stands for in `vbm_outbound::campaign`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::PhoneNumber;

/// Recipients per chunk item, and per job of the fan-out queue.
pub const CHUNK_SIZE: usize = 100;
/// Recipients a `POST /v1/campaigns` may carry inline.
pub const MAX_INLINE_RECIPIENTS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CampaignState {
    /// The uploaded list is being checked and written into chunks; nothing is sent yet.
    Preparing,
    /// The uploaded list was refused (bad lines, too many, missing): nothing was sent.
    Rejected,
    Scheduled,
    Running,
    Paused,
    Completed,
    Cancelled,
}

impl CampaignState {
    pub const ALL: [CampaignState; 7] = [
        CampaignState::Preparing,
        CampaignState::Rejected,
        CampaignState::Scheduled,
        CampaignState::Running,
        CampaignState::Paused,
        CampaignState::Completed,
        CampaignState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Preparing => "preparing",
            CampaignState::Rejected => "rejected",
            CampaignState::Scheduled => "scheduled",
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Completed => "completed",
            CampaignState::Cancelled => "cancelled",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == input)
    }
}

/// Delivery hours in the recipient's local time, minutes after midnight: `[start, end)`; an
/// `end` before `start` wraps past midnight (`22:00-06:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_minute: u32,
    pub end_minute: u32,
}

/// Why a `window` is refused: the field and a message for the business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowInvalid {
    /// `window.start`, `window.end` or `window`.
    pub field: &'static str,
    pub message: &'static str,
}

impl Window {
    /// A window from its `HH:MM` bounds (`00:00` to `24:00`); start and end must differ.
    pub fn parse(start: &str, end: &str) -> Result<Self, WindowInvalid> {
        let window = Window {
            start_minute: minute("window.start", start)?,
            end_minute: minute("window.end", end)?,
        };
        if window.start_minute == window.end_minute {
            return Err(WindowInvalid {
                field: "window",
                message: "start and end must differ",
            });
        }
        Ok(window)
    }

    /// Whether a local clock showing `local_minute` (minutes after midnight, below 1440) is
    /// inside the window.
    pub fn contains(self, local_minute: u32) -> bool {
        let (start, end) = (self.start_minute % 1440, self.end_minute);
        if start < end {
            (start..end).contains(&local_minute)
        } else {
            local_minute >= start || local_minute < end
        }
    }
}

/// `HH:MM`, exactly two ASCII digits each side, as minutes after midnight; at most `24:00`.
fn minute(field: &'static str, text: &str) -> Result<u32, WindowInvalid> {
    let bad = WindowInvalid {
        field,
        message: "HH:MM, 00:00 to 24:00",
    };
    // Exactly two ASCII digits each side (`u32::from_str` would also take `+1`).
    let digit = |i: usize| match text.as_bytes().get(i) {
        Some(d) if d.is_ascii_digit() => Ok(u32::from(d - b'0')),
        _ => Err(bad.clone()),
    };
    if text.len() != 5 || text.as_bytes()[2] != b':' {
        return Err(bad);
    }
    let (h, m) = (digit(0)? * 10 + digit(1)?, digit(3)? * 10 + digit(4)?);
    if m >= 60 || h * 60 + m > 24 * 60 {
        return Err(bad);
    }
    Ok(h * 60 + m)
}

/// `POST /v1/campaigns/{id}/pause|resume|cancel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Cancel,
}

/// What a control does to a campaign in one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    To(CampaignState),
    /// The campaign is in the state asked for (a pause of a paused one, a second cancel).
    Already,
    Impossible,
}

/// What `action` does to a campaign in `state` that has (or has not yet) `started` running:
/// a resumed campaign goes back to running if it had started, else to scheduled.
pub fn control_target(action: Control, state: CampaignState, started: bool) -> Transition {
    use CampaignState::*;
    match (action, state) {
        (Control::Pause, Scheduled | Running) => Transition::To(Paused),
        (Control::Pause, Paused) => Transition::Already,
        (Control::Resume, Paused) if started => Transition::To(Running),
        (Control::Resume, Paused) => Transition::To(Scheduled),
        (Control::Resume, Scheduled | Running) => Transition::Already,
        // A list still being prepared may be cancelled: its preparation stops there.
        (Control::Cancel, Preparing | Scheduled | Running | Paused) => Transition::To(Cancelled),
        (Control::Cancel, Cancelled) => Transition::Already,
        _ => Transition::Impossible,
    }
}

/// One recipient as the business listed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRecipient {
    pub to: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

/// A recipient's number as stored (E.164); the API normalised it.
pub fn recipient_phone(r: &CampaignRecipient) -> Option<PhoneNumber> {
    PhoneNumber::parse(&r.to).ok()
}

/// The chunk count of a list of `recipients`.
pub fn chunk_count(recipients: usize) -> u32 {
    recipients.div_ceil(CHUNK_SIZE) as u32
}
