//! What the API answers, as JSON. Times are RFC 3339 UTC with milliseconds.

use serde::Serialize;
use session_rules::{Billing, HeldState, MessageStatus, Template, Timestamp};
use vbm_platform::time;
use vbm_store::{HeldMessage, MessageRecord};

/// `GET /v1/sessions/{phone}`, and `session` in a send's answer: the events' shape.
pub use vbm_events::SessionView;

/// `202` to `POST /v1/messages` (and to every retry with the same `Idempotency-Key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendAccepted {
    pub message_id: String,
    /// Always `accepted`: the message is stored and queued for Viber.
    pub status: &'static str,
    /// The session right after this send.
    pub session: SessionView,
    /// What Viber bills the message as: `category` (`transactional_template`, `otp`,
    /// `promotional`, `session`) and `billable` (false for a session message after the
    /// session's first business reply).
    pub billing: Billing,
    /// A message waiting for the user's reply (`status` `held`): its deadline; `null` for
    /// a message that goes now.
    pub hold: Option<HoldView>,
}

/// A message that waited, or waits, for the user's reply (`wait_for_session`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldView {
    /// `held` (waiting), `released` (went when the user wrote), `fallback` (its fallback
    /// template went at the deadline), `expired` (the deadline passed, no fallback),
    /// `dropped` (it can never go: `reason`).
    pub state: &'static str,
    #[serde(serialize_with = "time::serialize")]
    pub until: Timestamp,
    /// Whether it has a fallback template (`null` once it went: the message shows which).
    pub fallback: Option<bool>,
    /// Why it was dropped (an error code, e.g. `recipient_opted_out`).
    pub reason: Option<String>,
}

impl HoldView {
    pub fn waiting(until: Timestamp, fallback: bool) -> Self {
        Self {
            state: HeldState::Held.as_str(),
            until,
            fallback: Some(fallback),
            reason: None,
        }
    }
}

/// `GET /v1/messages/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageView {
    pub message_id: String,
    pub to: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: &'static str,
    /// Every status with its time, in arrival order (duplicates and late ones included).
    pub status_history: Vec<StatusEntry>,
    pub viber_message_token: Option<String>,
    /// Why the message failed; `null` unless `status` is `failed`.
    pub failure: Option<FailureView>,
    #[serde(serialize_with = "time::serialize")]
    pub created_at: Timestamp,
    /// SMS failover: `null` for a message without one.
    pub failover: Option<FailoverView>,
    /// Which channel delivered the message first: `viber`, `sms`, or `null` (not yet).
    pub delivered_via: Option<&'static str>,
    /// What Viber bills the message as, decided when it was accepted (`null` on messages
    /// accepted before billing categories were recorded).
    pub billing: Option<Billing>,
    /// The hold and its deadline when the message waited (or waits) for the user's reply;
    /// else `null`.
    pub hold: Option<HoldView>,
    /// The Viber service id it goes (or went) out on (`null` on messages accepted before
    /// services had kinds: those went on the business's single service id).
    pub service_id: Option<u64>,
}

/// A message's SMS failover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailoverView {
    /// `pending` (not triggered), `claimed`, `sending`, `sent`, `delivered` or `failed`.
    pub state: &'static str,
    /// What started it: `not_viber_user`, `no_suitable_device`, `expired`, `deadline`.
    pub trigger: Option<&'static str>,
    pub sms_text: String,
    pub sender_id: Option<String>,
    pub sms_message_id: Option<String>,
    /// Why it failed (the provider's refusal, a receipt's event type, `outcome_unknown`).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusEntry {
    /// A status, or `unknown` for a Viber code no source documents.
    pub status: &'static str,
    /// Viber's code on `unknown` entries, else `null`.
    pub viber_status: Option<i64>,
    #[serde(serialize_with = "time::serialize")]
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureView {
    /// Viber's numeric status when Viber refused the message, else `null`.
    pub code: Option<i64>,
    pub reason: String,
}

impl From<&MessageRecord> for MessageView {
    fn from(m: &MessageRecord) -> Self {
        Self {
            message_id: m.id.to_string(),
            to: m.to.clone(),
            kind: m.kind.clone(),
            status: m.track.current.as_str(),
            status_history: m
                .history
                .iter()
                .map(|e| StatusEntry {
                    status: match (e.status, e.failover) {
                        (Some(s), _) => s.as_str(),
                        (None, Some(step)) => step.as_str(),
                        (None, None) => "unknown",
                    },
                    viber_status: e.viber_status,
                    at: e.at,
                })
                .collect(),
            viber_message_token: m.viber_message_token.clone(),
            failure: m.failure.as_ref().map(|f| FailureView {
                code: f.code,
                reason: f.reason.clone(),
            }),
            created_at: m.created_at,
            failover: m.failover.as_ref().map(|f| FailoverView {
                state: f.state.map_or("pending", |s| s.as_str()),
                trigger: f.trigger.map(|t| t.as_str()),
                sms_text: f.spec.sms.text.clone(),
                sender_id: f.spec.sms.sender_id.clone(),
                sms_message_id: f.sms_message_id.clone(),
                reason: f.reason.clone(),
            }),
            delivered_via: delivered_via(m),
            billing: m.billing,
            hold: m.hold.map(|h| HoldView {
                state: h.outcome.as_str(),
                until: h.until,
                fallback: None,
                reason: None,
            }),
            service_id: m.service_id,
        }
    }
}

impl MessageView {
    /// A message that has not gone: waiting for the user's reply (`held`), expired at its
    /// deadline without a fallback (`expired`), or dropped (`failed`, with the reason).
    pub fn held(h: &HeldMessage) -> Self {
        let status = match h.state {
            HeldState::Held => "held",
            HeldState::Expired => MessageStatus::Expired.as_str(),
            HeldState::Dropped => MessageStatus::Failed.as_str(),
            // Moved on with its message item, which is read first: only in between.
            HeldState::Released | HeldState::Fallback => MessageStatus::Accepted.as_str(),
        };
        Self {
            message_id: h.id.to_string(),
            to: h.to.as_e164().to_owned(),
            kind: h.kind.clone(),
            status,
            status_history: Vec::new(),
            viber_message_token: None,
            failure: h.reason.as_ref().map(|reason| FailureView {
                code: None,
                reason: reason.clone(),
            }),
            created_at: h.created_at,
            failover: None,
            delivered_via: None,
            billing: None,
            hold: Some(HoldView {
                state: h.state.as_str(),
                until: h.until,
                fallback: Some(h.fallback.is_some()),
                reason: h.reason.clone(),
            }),
            service_id: h.service_id,
        }
    }
}

/// The first delivery in the history: Viber's `delivered` (or `seen`), or the SMS receipt.
fn delivered_via(m: &MessageRecord) -> Option<&'static str> {
    m.history.iter().find_map(|e| match (e.status, e.failover) {
        (Some(MessageStatus::Delivered | MessageStatus::Seen), _) => Some("viber"),
        (_, Some(session_rules::failover::FailoverStep::Delivered)) => Some("sms"),
        _ => None,
    })
}

/// `GET /v1/templates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateList {
    pub templates: Vec<TemplateView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TemplateView {
    pub id: String,
    /// The business's name for it (`null` on a template an operator registered).
    pub name: Option<String>,
    /// ISO 639-1 (`en`, `ru`, `uk`).
    pub lang: String,
    /// `transactional` or `otp` (`promotional` only on templates registered before it was
    /// refused).
    pub category: &'static str,
    /// `all_devices` (Viber type 1702) or `smartphones` (1701).
    pub reach: &'static str,
    /// `pending_review`, `approved` (the only state it can be sent in), `rejected`, `deleted`.
    pub state: &'static str,
    /// `approved` when usable, else `pending` (kept from before `state`: read `state`).
    pub status: &'static str,
    pub text: String,
    /// Placeholder names to fill in `template.params`, in order of first appearance.
    pub params: Vec<String>,
    /// `api` (created with `POST /v1/templates`) or `operator` (`vbmctl template put`).
    pub origin: &'static str,
    /// The id Viber knows it by, once approved.
    pub viber_template_id: Option<String>,
    /// Viber's reason, when rejected.
    pub rejection_reason: Option<String>,
    #[serde(serialize_with = "time::serialize_option")]
    pub created_at: Option<Timestamp>,
}

impl From<&Template> for TemplateView {
    fn from(t: &Template) -> Self {
        Self {
            id: t.id().as_str().to_owned(),
            name: t.name().map(str::to_owned),
            lang: t.language().as_str().to_owned(),
            category: t.category().as_str(),
            reach: t.reach().as_str(),
            state: t.state().as_str(),
            status: if t.is_approved() {
                "approved"
            } else {
                "pending"
            },
            text: t.text().to_owned(),
            params: t.placeholders().to_vec(),
            origin: t.origin().as_str(),
            viber_template_id: t
                .is_approved()
                .then(|| t.viber_template_id().as_str().to_owned()),
            rejection_reason: t.rejection_reason().map(str::to_owned),
            created_at: t.created_at(),
        }
    }
}

/// `201` to `POST /v1/campaigns/uploads`: where to PUT a recipient list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadView {
    pub upload_id: String,
    /// A presigned S3 URL: PUT the list's bytes there, with `headers`, before `expires_at`.
    pub url: String,
    pub method: &'static str,
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(serialize_with = "time::serialize")]
    pub expires_at: Timestamp,
    /// The largest list a campaign takes (a larger one is rejected `upload_too_large`).
    pub max_bytes: u64,
}
