//! Message items: what was accepted, where it stands, and everything Viber said about it.

use aws_sdk_dynamodb::types::AttributeValue;
use session_rules::{Billing, BillingCategory, MessageStatus, StatusEvent, StatusTrack, Timestamp};

use crate::attrs::{self, Item, n, s};
use crate::{BusinessId, StoreError, keys};

crate::ids::ulid_id!(
    /// A message id: a ULID (time-ordered, 26 characters).
    MessageId
);

/// Why a message failed: Viber's numeric status and name, or our own reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: Option<i64>,
    pub reason: String,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub id: MessageId,
    pub business: BusinessId,
    pub to: String,
    pub kind: String,
    pub class: String,
    /// What `dispatch` needs to send it (JSON written by `send`).
    pub payload: String,
    /// The Viber service id it goes out on, chosen when it was accepted (`None` on messages
    /// accepted before services had kinds: the business's first service id).
    pub service_id: Option<u64>,
    pub track: StatusTrack,
    pub created_at: Timestamp,
    /// The session this message counted in (session messages only).
    pub session_started_at: Option<Timestamp>,
    pub viber_message_token: Option<String>,
    pub viber_session_id: Option<String>,
    pub failure: Option<Failure>,
    /// Everything Viber told about the message, in arrival order: `track.history` plus the
    /// status codes nobody documents, kept as they came, and the SMS failover's steps.
    pub history: Vec<HistoryEntry>,
    /// SMS failover: what the message was accepted with and how far it went.
    pub failover: Option<session_rules::failover::FailoverRecord>,
    /// The campaign that admitted it: its status moves are counted there.
    pub campaign: Option<crate::CampaignId>,
    /// What it is billed as, decided when it was accepted (`None` on messages accepted before
    /// billing categories were recorded).
    pub billing: Option<Billing>,
    /// The hold it waited in for the user's reply, when it was held (`wait_for_session`).
    pub hold: Option<crate::HoldRecord>,
}

/// One entry of a message's history: a known status, or a Viber code we do not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryEntry {
    /// `None` for a code we do not know.
    pub status: Option<MessageStatus>,
    /// Viber's `message_status` when it was one we do not know.
    pub viber_status: Option<i64>,
    /// An SMS failover step (then `status` is `None`).
    pub failover: Option<session_rules::failover::FailoverStep>,
    pub at: Timestamp,
}

/// The history name of an entry for a Viber status code we do not know.
pub(crate) const UNKNOWN_STATUS: &str = "unknown";

pub(crate) fn unknown_history_value(code: i64, at: Timestamp) -> AttributeValue {
    AttributeValue::L(vec![AttributeValue::M(
        [
            ("status".to_string(), s(UNKNOWN_STATUS)),
            ("viber_status".to_string(), n(code)),
            ("at".to_string(), n(at.as_millis())),
        ]
        .into(),
    )])
}

pub(crate) fn history_value(events: &[StatusEvent]) -> AttributeValue {
    AttributeValue::L(
        events
            .iter()
            .map(|e| {
                AttributeValue::M(
                    [
                        ("status".to_string(), s(e.status.as_str())),
                        ("at".to_string(), n(e.at.as_millis())),
                    ]
                    .into(),
                )
            })
            .collect(),
    )
}

fn history_from(item: &Item) -> Result<Vec<HistoryEntry>, StoreError> {
    let Some(AttributeValue::L(entries)) = item.get("history") else {
        return Ok(Vec::new());
    };
    entries
        .iter()
        .map(|entry| {
            let m = entry
                .as_m()
                .map_err(|_| StoreError::malformed("history", "entry is not a map"))?;
            let status = attrs::get_s(m, "status")?;
            let at = Timestamp::from_millis(attrs::get_n(m, "at")?);
            if status == UNKNOWN_STATUS {
                return Ok(HistoryEntry {
                    status: None,
                    viber_status: Some(attrs::get_n(m, "viber_status")?),
                    failover: None,
                    at,
                });
            }
            if let Some(step) = session_rules::failover::FailoverStep::parse(status) {
                return Ok(HistoryEntry {
                    status: None,
                    viber_status: None,
                    failover: Some(step),
                    at,
                });
            }
            Ok(HistoryEntry {
                status: Some(MessageStatus::parse(status).ok_or_else(|| {
                    StoreError::malformed("history", format!("unknown status {status}"))
                })?),
                viber_status: None,
                failover: None,
                at,
            })
        })
        .collect()
}

/// The campaign a message item was admitted by (`campaign_id`, written at admission).
pub(crate) fn campaign_of(item: &Item) -> Result<Option<crate::CampaignId>, StoreError> {
    attrs::opt_s(item, "campaign_id")?
        .map(|id| {
            crate::CampaignId::parse(id).ok_or_else(|| {
                StoreError::malformed("campaign_id", format!("bad campaign id {id}"))
            })
        })
        .transpose()
}

// A message's attributes that the outbox reads from the table's stream (`crate::stream`).
pub(crate) const BUSINESS_ID: &str = "business_id";
pub(crate) const MESSAGE_ID: &str = "message_id";
pub(crate) const TO: &str = "to";

pub(crate) fn record_from_item(item: &Item) -> Result<MessageRecord, StoreError> {
    let id = attrs::get_s(item, MESSAGE_ID)?;
    let status = attrs::get_s(item, "status")?;
    let business = attrs::get_s(item, BUSINESS_ID)?;
    let history = history_from(item)?;
    Ok(MessageRecord {
        id: MessageId::parse(id).ok_or_else(|| StoreError::malformed(id, "bad message id"))?,
        business: BusinessId::parse(business).map_err(|e| StoreError::malformed(id, e))?,
        to: attrs::get_s(item, TO)?.to_owned(),
        kind: attrs::get_s(item, "kind")?.to_owned(),
        class: attrs::get_s(item, "class")?.to_owned(),
        payload: attrs::get_s(item, "payload")?.to_owned(),
        service_id: attrs::opt_n(item, "service_id")?,
        track: StatusTrack {
            current: MessageStatus::parse(status)
                .ok_or_else(|| StoreError::malformed(id, format!("unknown status {status}")))?,
            history: history
                .iter()
                .filter_map(|e| e.status.map(|status| StatusEvent { status, at: e.at }))
                .collect(),
        },
        created_at: Timestamp::from_millis(attrs::get_n(item, "created_at")?),
        session_started_at: attrs::opt_n::<i64>(item, "session_started_at")?
            .map(Timestamp::from_millis),
        viber_message_token: attrs::opt_s(item, "viber_message_token")?.map(str::to_owned),
        viber_session_id: attrs::opt_s(item, "viber_session_id")?.map(str::to_owned),
        failure: match attrs::opt_s(item, "failure_reason")? {
            Some(reason) => Some(Failure {
                code: attrs::opt_n(item, "failure_code")?,
                reason: reason.to_owned(),
            }),
            None => None,
        },
        history,
        failover: crate::failover::record_from_item(item)?,
        campaign: campaign_of(item)?,
        billing: billing_of(item)?,
        hold: crate::held::hold_record_of(item)?,
    })
}

/// The billing a message item was accepted with, if it has one.
pub(crate) fn billing_of(item: &Item) -> Result<Option<Billing>, StoreError> {
    let Some(category) = attrs::opt_s(item, crate::send::BILLING_CATEGORY)? else {
        return Ok(None);
    };
    let category = BillingCategory::parse(category).ok_or_else(|| {
        StoreError::malformed(
            crate::send::BILLING_CATEGORY,
            format!("unknown category {category}"),
        )
    })?;
    Ok(Some(Billing {
        category,
        billable: attrs::get_bool(item, crate::send::BILLABLE)?,
    }))
}

impl crate::Messages<'_> {
    /// A message of this business by id: one key lookup. Another business's id, an unknown one
    /// and an expired one are all `None`.
    pub async fn get_message(
        &self,
        business: &BusinessId,
        id: &MessageId,
        now: Timestamp,
    ) -> Result<Option<MessageRecord>, StoreError> {
        self.get_consistent(keys::business(business), keys::message(id), Some(now))
            .await?
            .as_ref()
            .map(record_from_item)
            .transpose()
    }
}
