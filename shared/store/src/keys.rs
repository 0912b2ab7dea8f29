//! Key formats, in one place.

use session_rules::PhoneNumber;

use crate::{BusinessId, CampaignId, MessageId};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1PK: &str = "gsi1pk";
pub const GSI1SK: &str = "gsi1sk";
pub const GSI1: &str = "gsi1";
pub const EXPIRES_AT: &str = "expires_at";

/// The prefixes of the keys a reader of the table's stream tells apart ([`crate::stream`]).
pub const BUSINESS_PREFIX: &str = "BIZ#";
pub const CONVERSATION_PREFIX: &str = "CONV#";
pub const MESSAGE_PREFIX: &str = "MSG#";
pub const CAMPAIGN_PREFIX: &str = "CAMPAIGN#";
pub const HELD_PREFIX: &str = "HELD#";

pub fn business(b: &BusinessId) -> String {
    format!("{BUSINESS_PREFIX}{}", b.as_str())
}
pub const PROFILE: &str = "PROFILE";

pub fn service(service_id: u64) -> String {
    format!("SERVICE#{service_id}")
}
pub const SERVICE: &str = "SERVICE";

pub fn api_key(hash: &str) -> String {
    format!("KEY#{hash}")
}
pub const KEY: &str = "KEY";

pub fn template(id: &str) -> String {
    format!("TEMPLATE#{id}")
}
pub const TEMPLATE_PREFIX: &str = "TEMPLATE#";

pub fn conversation(to: &PhoneNumber) -> String {
    format!("{CONVERSATION_PREFIX}{}", to.as_e164())
}

pub fn message(id: &MessageId) -> String {
    format!("{MESSAGE_PREFIX}{}", id.as_str())
}

/// A bound of a range of message keys: the key a message with id `id` would have (message ids
/// are ULIDs, so their keys are in time order; erasure sweeps a time window of them).
pub fn message_bound(id: ulid::Ulid) -> String {
    format!("{MESSAGE_PREFIX}{id}")
}

/// A session message waiting for the user's reply (`held.rs`), by its message id.
pub fn held(id: &MessageId) -> String {
    format!("{HELD_PREFIX}{}", id.as_str())
}

pub fn idempotency(key: &str) -> String {
    format!("IDEM#{key}")
}

/// Every item about one user of one business carries this in `gsi1pk`.
pub fn contact(b: &BusinessId, to: &PhoneNumber) -> String {
    format!("CONTACT#{}#{}", b.as_str(), to.as_e164())
}

/// Viber's `message_token` of a sent message → the message (written by `dispatch`, read by
/// `status`). Attributes: `business_id`, `message_id`, `phone` (E.164), `gsi1pk` (contact, so
/// erasure finds it), `expires_at` (the message's retention).
pub fn token(token: &str) -> String {
    format!("TOKEN#{token}")
}
pub const TOKEN: &str = "TOKEN";

/// A user message received (sk under the business pk; `inbound` writes it, keyed by Viber's
/// `message_token` so a redelivered callback finds it and changes nothing).
pub fn inbound(token: &str) -> String {
    format!("INBOUND#{token}")
}

/// A business's key for suppression hashes (sk under the business pk; attribute `key`, hex):
/// made by the first erasure that needs it, never changed.
pub const SUPPRESSION_KEY: &str = "SUPPRESSION_KEY";

/// An erased user who had opted out: only HMAC-SHA256(business key, E.164), hex (sk under the
/// business pk). Sends to a number without a conversation item check it.
pub fn suppression(hash: &str) -> String {
    format!("SUPPRESS#{hash}")
}

/// A campaign (`campaigns.rs`).
pub fn campaign(id: &CampaignId) -> String {
    format!("{CAMPAIGN_PREFIX}{}", id.as_str())
}

/// A campaign's chunk of recipients: `CCHUNK#{campaign}#{n:05}`.
pub const CAMPAIGN_CHUNK_PREFIX: &str = "CCHUNK#";

pub fn campaign_chunk(id: &CampaignId, chunk: u32) -> String {
    format!("{CAMPAIGN_CHUNK_PREFIX}{}#{chunk:05}", id.as_str())
}

/// What the keys of one campaign's chunks begin with.
pub fn campaign_chunks(id: &CampaignId) -> String {
    format!("{CAMPAIGN_CHUNK_PREFIX}{}#", id.as_str())
}

/// A business event in the delivery log (`event_log.rs`), by its id.
pub const EVENT_PREFIX: &str = "EVENT#";

pub fn event(event_id: &str) -> String {
    format!("{EVENT_PREFIX}{event_id}")
}

/// The partition of quarantined callbacks (`quarantine.rs`), one item each by its id.
pub const QUARANTINE: &str = "QUARANTINE";
pub const QUARANTINED_PREFIX: &str = "Q#";

pub fn quarantined(id: &str) -> String {
    format!("{QUARANTINED_PREFIX}{id}")
}

/// A business's use of a fixed-window allowance (`allowance.rs`), by what it allows and the
/// window's start.
pub fn allowance(what: &str, window_start: i64) -> String {
    format!("ALLOW#{what}#{window_start}")
}

/// An API key's entry in its business's list of keys (`api_keys.rs`), by the key's id.
pub const API_KEY_LISTING_PREFIX: &str = "APIKEY#";

pub fn api_key_listing(key_id: &str) -> String {
    format!("{API_KEY_LISTING_PREFIX}{key_id}")
}

/// The idempotency record of a creation (`creation_key.rs`): a template's, a campaign's.
pub const TEMPLATE_CREATION_PREFIX: &str = "TIDEM#";
pub const CAMPAIGN_CREATION_PREFIX: &str = "CIDEM#";

/// A shard of a campaign's counts by status (`campaign_counts.rs`).
pub const CAMPAIGN_COUNT_PREFIX: &str = "CCOUNT#";

pub fn campaign_count(id: &CampaignId, shard: u32) -> String {
    format!("{CAMPAIGN_COUNT_PREFIX}{}#{shard:02}", id.as_str())
}

/// What the keys of one campaign's count shards begin with.
pub fn campaign_counts(id: &CampaignId) -> String {
    format!("{CAMPAIGN_COUNT_PREFIX}{}#", id.as_str())
}

/// Viber's pace lanes (`pace.rs`): the business's first service keeps `PACE` and
/// `PACE_CAMPAIGN`; another service's lanes carry its id.
pub const PACE: &str = "PACE";
pub const PACE_CAMPAIGN: &str = "PACE_CAMPAIGN";
pub const PACE_SERVICE_PREFIX: &str = "PACE#";
pub const PACE_CAMPAIGN_SERVICE_PREFIX: &str = "PACE_CAMPAIGN#";

pub fn pace_service(service_id: u64) -> String {
    format!("{PACE_SERVICE_PREFIX}{service_id}")
}

pub fn pace_campaign_service(service_id: u64) -> String {
    format!("{PACE_CAMPAIGN_SERVICE_PREFIX}{service_id}")
}

/// Work parked (`parked.rs`) while its business is disabled or its campaign paused: what the
/// keys of each hold's jobs begin with (the job's own id follows).
pub const PARKED_PREFIX: &str = "PARKED#";

pub fn parked_by_business() -> String {
    format!("{PARKED_PREFIX}BUSINESS#")
}

pub fn parked_by_campaign(id: &CampaignId) -> String {
    format!("{PARKED_PREFIX}CAMPAIGN#{}#", id.as_str())
}
