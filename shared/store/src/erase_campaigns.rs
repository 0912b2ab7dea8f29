//! Erasure's reach into campaigns and the quarantine (the `erase` module's step 2).
//!
//! - **Recipient chunks** keep each listed number (JSON, 100 to a chunk item), so a campaign
//!   started after an erasure would message the erased contact. The business's chunk items are
//!   read with one strongly consistent `Query`, filtered in DynamoDB on the exact JSON of the
//!   number (`"to":"+…"` with its closing quote, so `+1234` never matches `+12345`); each entry of
//!   the contact is masked ([`ERASED`], its parameters dropped) with a write conditioned on the
//!   list as read (a concurrent change is read again). The campaign fan-out refuses a masked
//!   entry as `erased`.
//! - **Campaign messages**: a campaign message's id is derived from its campaign (whose creation
//!   time it carries) and the recipient's position, so the sweep of recent ids misses one
//!   admitted now for a campaign created an hour ago. The chunks that list the contact give
//!   every such id exactly, and each message (with its `TOKEN` item) is read consistently:
//!   nothing rests on the eventually consistent contact index.
//! - **Quarantined callbacks** keep Viber's raw bodies (the number, the user's text). Any body
//!   naming the number (its digits, not part of a longer number) is deleted, whichever
//!   business it was for: it could not be attributed, and erasing errs toward erasure.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use session_rules::PhoneNumber;
use session_rules::campaign::{CHUNK_SIZE, CampaignRecipient};

use crate::attrs::{self, Item, s};
use crate::campaigns::CampaignId;
use crate::{BusinessId, MessageId, Store, StoreError, keys};

/// What an erased recipient's `to` becomes in its chunk.
pub const ERASED: &str = "erased";

type Key = (AttributeValue, AttributeValue);

/// Rounds of masking one chunk against concurrent writers of its list.
const MASK_ROUNDS: usize = 8;

impl Store {
    /// Masks the contact in every recipient chunk of the business, and returns the keys of
    /// the campaign messages those chunks name for it (with their `TOKEN` items), read
    /// consistently: whatever exists of them now.
    pub(crate) async fn erase_from_campaigns(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
    ) -> Result<Vec<Key>, StoreError> {
        let pk = keys::business(business);
        let needle = format!("\"to\":{}", serde_json::Value::from(to.as_e164()));
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :chunks)")
            .filter_expression("contains(recipients_json, :needle)")
            .projection_expression("pk, sk, recipients_json")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":chunks", s(keys::CAMPAIGN_CHUNK_PREFIX))
            .expression_attribute_values(":needle", s(&needle));
        let mut found = Vec::new();
        for item in attrs::query_all(query).await? {
            let sk = attrs::get_s(&item, keys::SK)?.to_owned();
            let Some((campaign, chunk)) = parse_chunk_sk(&sk) else {
                continue;
            };
            let positions = self.mask_chunk(&pk, &sk, item, to).await?;
            for slot in positions {
                let id = campaign.message_id(chunk as usize * CHUNK_SIZE + slot);
                found.extend(self.message_keys(business, &id).await?);
            }
        }
        Ok(found)
    }

    /// Masks the contact's entries in one chunk; returns their positions in it.
    async fn mask_chunk(
        &self,
        pk: &str,
        sk: &str,
        mut item: Item,
        to: &PhoneNumber,
    ) -> Result<Vec<usize>, StoreError> {
        for _ in 0..MASK_ROUNDS {
            let list = attrs::get_s(&item, "recipients_json")?.to_owned();
            let mut recipients: Vec<CampaignRecipient> = serde_json::from_str(&list)
                .map_err(|e| StoreError::malformed(sk, e.to_string()))?;
            let mut positions = Vec::new();
            for (slot, r) in recipients.iter_mut().enumerate() {
                if r.to == to.as_e164() {
                    r.to = ERASED.to_owned();
                    r.params.clear();
                    positions.push(slot);
                }
            }
            if positions.is_empty() {
                return Ok(positions);
            }
            let masked = serde_json::to_string(&recipients)
                .map_err(|e| StoreError::malformed(sk, e.to_string()))?;
            let write = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(keys::PK, s(pk))
                .key(keys::SK, s(sk))
                .update_expression("SET recipients_json = :masked")
                .condition_expression("recipients_json = :read")
                .expression_attribute_values(":masked", s(masked))
                .expression_attribute_values(":read", s(&list))
                .return_values(ReturnValue::None)
                .return_values_on_condition_check_failure(
                    aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            match write {
                Ok(_) => return Ok(positions),
                Err(err) => match err.into_service_error() {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
                        failed,
                    ) => match failed.item().cloned() {
                        Some(now) => item = now,
                        None => return Ok(Vec::new()),
                    },
                    other => {
                        return Err(StoreError::Unavailable(
                            aws_sdk_dynamodb::error::DisplayErrorContext(&other).to_string(),
                        ));
                    }
                },
            }
        }
        Err(StoreError::Contended)
    }

    /// The message item of `id` and its `TOKEN` item, if the message exists (consistently).
    async fn message_keys(
        &self,
        business: &BusinessId,
        id: &MessageId,
    ) -> Result<Vec<Key>, StoreError> {
        let pk = keys::business(business);
        let sk = keys::message(id);
        let Some(item) = self.get_consistent(pk.clone(), sk.clone(), None).await? else {
            return Ok(Vec::new());
        };
        let mut keys_found = vec![(s(&pk), s(&sk))];
        if let Some(token) = attrs::opt_s(&item, "viber_message_token")? {
            keys_found.push((s(keys::token(token)), s(keys::TOKEN)));
        }
        Ok(keys_found)
    }

    /// Quarantined callbacks whose body names the number.
    pub(crate) async fn quarantined_naming(
        &self,
        to: &PhoneNumber,
    ) -> Result<Vec<Key>, StoreError> {
        let digits = to.as_e164().trim_start_matches('+').to_owned();
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            .projection_expression("pk, sk, body")
            .expression_attribute_values(":pk", s(keys::QUARANTINE));
        let mut found = Vec::new();
        for item in attrs::query_all(query).await? {
            let Some(AttributeValue::B(body)) = item.get("body") else {
                continue;
            };
            if names_number(body.as_ref(), digits.as_bytes())
                && let (Some(pk), Some(sk)) = (item.get(keys::PK), item.get(keys::SK))
            {
                found.push((pk.clone(), sk.clone()));
            }
        }
        Ok(found)
    }
}

/// `CCHUNK#{campaign}#{n:05}` → the campaign and the chunk number.
fn parse_chunk_sk(sk: &str) -> Option<(CampaignId, u32)> {
    let (campaign, chunk) = sk
        .strip_prefix(keys::CAMPAIGN_CHUNK_PREFIX)?
        .split_once('#')?;
    Some((CampaignId::parse(campaign)?, chunk.parse().ok()?))
}

/// Whether `body` holds `digits` as a whole number (no digit right before or after it).
fn names_number(body: &[u8], digits: &[u8]) -> bool {
    if digits.is_empty() || body.len() < digits.len() {
        return false;
    }
    (0..=body.len() - digits.len()).any(|at| {
        body[at..].starts_with(digits)
            && (at == 0 || !body[at - 1].is_ascii_digit())
            && body
                .get(at + digits.len())
                .is_none_or(|next| !next.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_is_named_whole_in_any_spelling_viber_uses() {
        let n = b"380501234567";
        assert!(names_number(br#"{"phone_number":"380501234567"}"#, n));
        assert!(names_number(br#"{"phone":"+380501234567","text":"hi"}"#, n));
        assert!(!names_number(br#"{"phone_number":"3805012345678"}"#, n));
        assert!(!names_number(br#"{"phone_number":"1380501234567"}"#, n));
        assert!(!names_number(b"", n));
        assert!(names_number(n, n));
    }

    #[test]
    fn chunk_keys() {
        let c = CampaignId::generate();
        assert_eq!(parse_chunk_sk(&keys::campaign_chunk(&c, 42)), Some((c, 42)));
        assert_eq!(parse_chunk_sk("CCHUNK#nope#1"), None);
    }
}
