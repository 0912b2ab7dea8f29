//! The quarantine: Viber callbacks that authenticated but could not be used, kept whole.
//!
//! A callback lands here when it cannot be parsed, names a service id no business has, names a
//! service id other than the one owning its message, or is a status for a token that stayed
//! unknown past the window statuses are kept for. Viber is answered 200 (it would retry, then
//! drop it), and an operator lists and replays them (`vbmctl quarantine list|replay`) once the
//! cause is fixed. Nothing a user wrote is lost because our parser was stricter than Viber.
//!
//! | item        | pk           | sk            |
//! |-------------|--------------|---------------|
//! | quarantined | `QUARANTINE` | `Q#{id}`      |
//!
//! Attributes: `route`, `body` (the raw bytes, binary), `received_at` (epoch ms), `reason`,
//! `detail`, `expires_at` (TTL: the message retention). The id is a hash of the route and the
//! body, so Viber's retries of one callback keep one entry.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use session_rules::Timestamp;
use sha2::{Digest, Sha256};

use crate::attrs::{self, Item, n, s};
use crate::cancelled::conditional;
use crate::{StoreError, keys};

/// Why a callback was kept aside. The names are the `Reason` dimension of the
/// `CallbackQuarantined` metric: a small fixed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuarantineReason {
    /// Not JSON, or a field we cannot use (`detail` names it).
    Unparseable,
    /// A `service_id` no business has.
    UnknownService,
    /// A status naming another `service_id` than the business owning its message.
    ServiceMismatch,
    /// A status for a token still unknown past the window statuses are kept for.
    TokenUnknown,
    /// A user message on a one-way service id (users cannot write to one).
    OneWayService,
}

impl QuarantineReason {
    pub const ALL: [QuarantineReason; 5] = [
        QuarantineReason::Unparseable,
        QuarantineReason::UnknownService,
        QuarantineReason::ServiceMismatch,
        QuarantineReason::TokenUnknown,
        QuarantineReason::OneWayService,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineReason::Unparseable => "unparseable",
            QuarantineReason::UnknownService => "unknown_service",
            QuarantineReason::ServiceMismatch => "service_mismatch",
            QuarantineReason::TokenUnknown => "token_unknown",
            QuarantineReason::OneWayService => "one_way_service",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == input)
    }
}

/// One callback kept aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// Stable per route and body: 32 hex digits.
    pub id: String,
    /// The route it came in on, e.g. `POST /viber/status`.
    pub route: String,
    pub body: Vec<u8>,
    pub received_at: Timestamp,
    pub reason: QuarantineReason,
    /// What exactly was wrong (a field and why, the service id, ...).
    pub detail: String,
    /// The Viber service id the callback names, when it was read (not for an unparseable one).
    pub service_id: Option<u64>,
}

/// The id of a callback's quarantine entry.
pub fn quarantine_id(route: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update((route.len() as u64).to_be_bytes());
    hash.update(route.as_bytes());
    hash.update(body);
    hex::encode(&hash.finalize()[..16])
}

fn from_item(item: &Item) -> Result<Quarantined, StoreError> {
    let sk = attrs::get_s(item, keys::SK)?;
    let reason = attrs::get_s(item, "reason")?;
    let body = match item.get("body") {
        Some(AttributeValue::B(blob)) => blob.as_ref().to_vec(),
        _ => return Err(StoreError::malformed(sk, "quarantine entry without a body")),
    };
    Ok(Quarantined {
        id: sk.trim_start_matches(keys::QUARANTINED_PREFIX).to_owned(),
        route: attrs::get_s(item, "route")?.to_owned(),
        body,
        received_at: Timestamp::from_millis(attrs::get_n(item, "received_at")?),
        reason: QuarantineReason::parse(reason)
            .ok_or_else(|| StoreError::malformed(sk, format!("unknown reason {reason}")))?,
        detail: attrs::get_s(item, "detail")?.to_owned(),
        service_id: attrs::opt_n(item, "service_id")?,
    })
}

impl crate::Quarantine<'_> {
    /// Keeps a callback whole. Viber's retry of the same callback on the same route keeps one
    /// entry (its first arrival). Returns the entry's id.
    pub async fn quarantine(
        &self,
        route: &str,
        body: &[u8],
        reason: QuarantineReason,
        detail: &str,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        self.quarantine_from(route, body, reason, detail, None, now)
            .await
    }

    /// [`Quarantine::quarantine`](crate::Quarantine::quarantine), recording the Viber service id the callback names.
    pub async fn quarantine_from(
        &self,
        route: &str,
        body: &[u8],
        reason: QuarantineReason,
        detail: &str,
        service_id: Option<u64>,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        let id = quarantine_id(route, body);
        let expires = now.plus(self.retention.messages).as_secs();
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::QUARANTINE))
            .item(keys::SK, s(keys::quarantined(&id)))
            .item("route", s(route))
            .item("body", AttributeValue::B(Blob::new(body)))
            .item("received_at", n(now.as_millis()))
            .item("reason", s(reason.as_str()))
            .item("detail", s(detail))
            .item(keys::EXPIRES_AT, n(expires))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(service_id) = service_id {
            put = put.item("service_id", n(service_id));
        }
        let put = put.send().await;
        // Kept already (the same callback again): the first stays.
        conditional(put)?;
        Ok(id)
    }

    /// Every callback in quarantine and not past its retention, oldest first.
    pub async fn quarantined(&self, now: Timestamp) -> Result<Vec<Quarantined>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::QUARANTINE))
            .consistent_read(true);
        let mut out = attrs::query_all(query)
            .await?
            .iter()
            .filter(|item| !attrs::is_expired(item, now.as_secs()))
            .map(from_item)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| (a.received_at, &a.id).cmp(&(b.received_at, &b.id)));
        Ok(out)
    }

    /// One callback in quarantine by id.
    pub async fn quarantined_one(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<Quarantined>, StoreError> {
        self.get_consistent(keys::QUARANTINE.into(), keys::quarantined(id), Some(now))
            .await?
            .as_ref()
            .map(from_item)
            .transpose()
    }

    /// Takes a callback out of quarantine (after a replay used it). Absent already: nothing to do.
    pub async fn release_quarantined(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::QUARANTINE))
            .key(keys::SK, s(keys::quarantined(id)))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_by_route_and_body_and_are_stable() {
        let a = quarantine_id("POST /viber/status", b"{}");
        assert_eq!(a, quarantine_id("POST /viber/status", b"{}"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, quarantine_id("POST /viber/inbound", b"{}"));
        assert_ne!(a, quarantine_id("POST /viber/status", b"{ }"));
        // The length prefix: route/body boundaries cannot shift into each other.
        assert_ne!(quarantine_id("ab", b"c"), quarantine_id("a", b"bc"));
    }

    #[test]
    fn reasons_round_trip() {
        for r in QuarantineReason::ALL {
            assert_eq!(QuarantineReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(QuarantineReason::parse("other"), None);
    }
}
