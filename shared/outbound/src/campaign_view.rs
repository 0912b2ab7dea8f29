//! A campaign as the API shows it and as its `campaign.completed` event carries it.

use serde::Serialize;
use session_rules::Timestamp;
use vbm_events::{Event, EventKind};
use vbm_platform::time;
use vbm_store::Campaign;

/// A campaign: `POST /v1/campaigns`, `GET /v1/campaigns/{id}`, the controls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignView {
    pub campaign_id: String,
    pub name: Option<String>,
    /// `preparing` (an uploaded list being checked), `rejected` (the list was refused),
    /// `scheduled`, `running`, `paused`, `completed` or `cancelled`.
    pub state: &'static str,
    pub recipients: u64,
    pub counts: CampaignCounts,
    #[serde(serialize_with = "time::serialize")]
    pub created_at: Timestamp,
    #[serde(serialize_with = "time::serialize_option")]
    pub send_at: Option<Timestamp>,
    pub window: Option<WindowView>,
    #[serde(serialize_with = "time::serialize_option")]
    pub started_at: Option<Timestamp>,
    #[serde(serialize_with = "time::serialize_option")]
    pub finished_at: Option<Timestamp>,
    /// Why an uploaded list was refused (`rejected`): `code`, `message`, `invalid_count` and
    /// the first bad lines (`errors`: `line`, `code`, `message`); `null` otherwise.
    pub rejection: Option<serde_json::Value>,
}

/// Recipients by outcome: `pending` (not settled yet), `queued` (admitted: on their way to
/// Viber, their statuses in `GET /v1/messages/{id}` and the events), `refused` by reason (the
/// error code a single send would have got); then the queued ones by the status their message
/// stands at now, each counted once: `sent`, `delivered`, `seen`, `expired`, `failed` by
/// reason (Viber's name or ours, as the message's `failure.reason`), `cancelled` (stopped by
/// the campaign's cancel before it was sent). `queued` minus these is still `accepted`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignCounts {
    pub pending: u64,
    pub queued: u64,
    pub refused: std::collections::BTreeMap<String, u64>,
    pub sent: u64,
    pub delivered: u64,
    pub seen: u64,
    pub expired: u64,
    pub failed: std::collections::BTreeMap<String, u64>,
    /// Admitted, then stopped by the campaign's cancel before `dispatch` sent them.
    pub cancelled: u64,
    /// The queued ones by billing category (`transactional_template`, `otp`, `promotional`),
    /// counted when they were admitted or their held message went: they add up to `queued`
    /// plus `held.released` and `held.fallback`.
    pub billing: std::collections::BTreeMap<String, u64>,
    /// A campaign whose message waits for each user's reply (`wait_for_session`): what became
    /// of its held recipients; `null` when none was held.
    pub held: Option<HeldCounts>,
}

/// Held recipients: `held` in all, `waiting` still held, and each as it moved (once):
/// `released` (the user wrote: sent), `fallback` (its fallback template went at the deadline),
/// `expired` (the deadline passed, no fallback), `dropped` by reason (`campaign_cancelled`,
/// `recipient_opted_out`, `quota_exceeded`, ...).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldCounts {
    pub held: u64,
    pub waiting: u64,
    pub released: u64,
    pub fallback: u64,
    pub expired: u64,
    pub dropped: std::collections::BTreeMap<String, u64>,
}

impl HeldCounts {
    fn of(c: &Campaign) -> Option<Self> {
        let counts = c.held_counts();
        let held = counts.get("held").copied()?;
        let of = |name: &str| counts.get(name).copied().unwrap_or(0);
        Some(Self {
            held,
            waiting: c.still_held(),
            released: of("held_released"),
            fallback: of("held_fallback"),
            expired: of("held_expired"),
            dropped: counts
                .iter()
                .filter_map(|(k, v)| k.strip_prefix("held_dropped_").map(|r| (r.to_owned(), *v)))
                .collect(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowView {
    pub start: String,
    pub end: String,
}

fn hh_mm(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// The `campaign.completed` event of `done`, a campaign that completed at `now` (the fan-out
/// after its last chunk, or `lifecycle` after its last held message's move).
pub fn completed_event(done: &Campaign, now: Timestamp) -> Result<Event, serde_json::Error> {
    Ok(Event::new(
        EventKind::CampaignCompleted,
        done.business.as_str(),
        done.id.as_str(),
        now,
        serde_json::to_value(CampaignView::from(done))?,
    ))
}

impl From<&Campaign> for CampaignView {
    fn from(c: &Campaign) -> Self {
        let refused = c
            .counts
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("refused_").map(|r| (r.to_owned(), *v)))
            .collect();
        let status = |name: &str| c.statuses.get(name).copied().unwrap_or(0);
        let failed = c
            .statuses
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("failed_").map(|r| (r.to_owned(), *v)))
            .collect();
        Self {
            campaign_id: c.id.to_string(),
            name: c.name.clone(),
            state: c.state.as_str(),
            recipients: c.recipients,
            counts: CampaignCounts {
                pending: c.recipients.saturating_sub(c.settled()),
                queued: c.counts.get("queued").copied().unwrap_or(0),
                refused,
                sent: status("sent"),
                delivered: status("delivered"),
                seen: status("seen"),
                expired: status("expired"),
                failed,
                cancelled: status("cancelled"),
                billing: c.billing_counts(),
                held: HeldCounts::of(c),
            },
            created_at: c.created_at,
            send_at: c.send_at,
            window: c.window.map(|w| WindowView {
                start: hh_mm(w.start_minute),
                end: hh_mm(w.end_minute),
            }),
            started_at: c.started_at,
            finished_at: c.finished_at,
            rejection: c
                .upload
                .as_ref()
                .and_then(|u| u.rejection_json.as_deref())
                .and_then(|j| serde_json::from_str(j).ok()),
        }
    }
}
