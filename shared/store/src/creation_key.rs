//! The record of a creation's `Idempotency-Key` (a template, a campaign): written in the
//! creation's own transaction, so a retry, even one racing the first request, finds what the
//! first made instead of making another, and the same key with another body is told apart.
//!
//! | item       | pk               | sk                            |
//! |------------|------------------|-------------------------------|
//! | create key | `BIZ#{business}` | `TIDEM#{key}` / `CIDEM#{key}` |
//!
//! Attributes: the created item's id (`template_id` / `campaign_id`), `request_hash` (of the
//! canonical body), `expires_at` (the idempotency retention).

use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure};
use session_rules::Timestamp;

use crate::attrs::{self, Item, n, s};
use crate::{BusinessId, IdempotencyKey, Store, StoreError, keys};

/// What was created under a key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Creation {
    /// The sort key's prefix.
    prefix: &'static str,
    /// The attribute holding the created item's id.
    id: &'static str,
}

pub(crate) const TEMPLATE: Creation = Creation {
    prefix: keys::TEMPLATE_CREATION_PREFIX,
    id: "template_id",
};
pub(crate) const CAMPAIGN: Creation = Creation {
    prefix: keys::CAMPAIGN_CREATION_PREFIX,
    id: "campaign_id",
};

/// What an earlier request under the key made: the id, and its body's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Earlier {
    pub id: String,
    pub request_hash: String,
}

impl Creation {
    fn sk(self, key: &IdempotencyKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }

    /// The key's record, for the creation's transaction: written unless a live record is
    /// there (whose item the cancellation then returns: [`Creation::earlier_from`]).
    pub(crate) fn record(
        self,
        store: &Store,
        business: &BusinessId,
        key: &IdempotencyKey,
        (id, request_hash): (&str, &str),
        now: Timestamp,
    ) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&store.table)
            .item(keys::PK, s(keys::business(business)))
            .item(keys::SK, s(self.sk(key)))
            .item(self.id, s(id))
            .item("request_hash", s(request_hash))
            .item(
                keys::EXPIRES_AT,
                n(now.plus(store.retention.idempotency).as_secs()),
            )
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_values(":now", n(now.as_secs()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::build)
    }

    /// A record's item (read, or returned by a cancelled transaction).
    pub(crate) fn earlier_from(self, item: &Item) -> Result<Earlier, StoreError> {
        Ok(Earlier {
            id: attrs::get_s(item, self.id)?.to_owned(),
            request_hash: attrs::get_s(item, "request_hash")?.to_owned(),
        })
    }

    /// The live record of `key`, read consistently.
    pub(crate) async fn earlier(
        self,
        store: &Store,
        business: &BusinessId,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> Result<Option<Earlier>, StoreError> {
        store
            .get_consistent(keys::business(business), self.sk(key), Some(now))
            .await?
            .as_ref()
            .map(|item| self.earlier_from(item))
            .transpose()
    }
}
