//! Viber's moderation answer on a template, as the operator relays it (`vbmctl template
//! approve|reject`): the template moves (`pending_review` → `approved` with Viber's template
//! id, or → `rejected` with the reason) and the business hears of it (`template.approved`,
//! `template.rejected`), signed and logged by `notify` like every event.
//!
//! No public source shows a moderation API or callback from Viber to partners (Routee's and
//! Infobip's template APIs are the partners' own; Viber's moderation interface is not public),
//! so the operator is where the answer comes from.
//!
//! The state is written first, under the condition that the template still stands where it
//! was read; the event follows. The event's id is derived from the template and its new
//! state, so an operator who repeats the command after a failure in between re-queues the same
//! event (the business de-duplicates on it) and nothing is written twice.

use serde_json::json;
use session_rules::{
    Moderated, Moderation, ModerationRefused, Template, TemplateId, TemplateState, Timestamp,
};
use thiserror::Error;
use vbm_events::{Event, EventKind, EventsQueue};
use vbm_queue::QueueError;
use vbm_store::{BusinessId, Store, StoreError};

/// Why a moderation answer was not applied.
#[derive(Debug, Error)]
pub enum ModerationError {
    #[error("no template {0} for this business")]
    NotFound(String),
    #[error(transparent)]
    Refused(#[from] ModerationRefused),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The template moved but its event is not queued: repeat the command (it queues the same
    /// event again and changes nothing else).
    #[error("the template is {0}, but its event could not be queued ({1}): repeat the command")]
    Queue(&'static str, QueueError),
}

/// How often a write that lost a race (the template moved between the read and the write) is
/// decided again on a fresh read.
const ATTEMPTS: usize = 3;

/// Applies `moderation` to the business's template `id` and queues its event. Returns the
/// template as it now stands.
pub async fn moderate(
    store: &Store,
    events: &EventsQueue,
    business: &BusinessId,
    id: &TemplateId,
    moderation: &Moderation,
    now: Timestamp,
) -> Result<Template, ModerationError> {
    for _ in 0..ATTEMPTS {
        let current = store
            .templates()
            .get_template_consistent(business, id)
            .await?
            .ok_or_else(|| ModerationError::NotFound(id.as_str().to_owned()))?;
        let template = match current.moderate(moderation)? {
            Moderated::Changed(to) => {
                if !store
                    .templates()
                    .set_template_state(business, &current, &to, now)
                    .await?
                {
                    continue;
                }
                to
            }
            Moderated::Unchanged(same) => same,
        };
        if let Some(event) = event(business, &template, now) {
            events
                .publish(&event)
                .await
                .map_err(|e| ModerationError::Queue(template.state().as_str(), e))?;
        }
        return Ok(template);
    }
    Err(StoreError::Conflict(format!(
        "template {} kept changing while it was moderated: try again",
        id.as_str()
    ))
    .into())
}

/// The event of a template that Viber approved or rejected (`None` in any other state).
///
/// ```json
/// {"type": "template.approved", "data": {"template_id": "01JD…", "name": "Order shipped",
///  "state": "approved", "lang": "en", "category": "transactional",
///  "viber_template_id": "4f1c…", "at": "2026-12-07T10:00:00.000Z"}}
/// ```
pub fn event(business: &BusinessId, template: &Template, at: Timestamp) -> Option<Event> {
    let kind = match template.state() {
        TemplateState::Approved => EventKind::TemplateApproved,
        TemplateState::Rejected => EventKind::TemplateRejected,
        TemplateState::PendingReview | TemplateState::Deleted => return None,
    };
    let mut data = json!({
        "template_id": template.id().as_str(),
        "name": template.name(),
        "state": template.state().as_str(),
        "lang": template.language().as_str(),
        "category": template.category().as_str(),
        "at": at.rfc3339(),
    });
    match kind {
        EventKind::TemplateApproved => {
            data["viber_template_id"] = json!(template.viber_template_id().as_str());
        }
        _ => data["reason"] = json!(template.rejection_reason()),
    }
    let subject = format!("{}/{}", template.id().as_str(), template.state().as_str());
    Some(Event::new(kind, business.as_str(), &subject, at, data))
}
