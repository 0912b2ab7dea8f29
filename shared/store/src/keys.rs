//! Key formats, in one place.

use session_rules::PhoneNumber;

use crate::{BusinessId, MessageId};

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
