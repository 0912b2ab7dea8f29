//! GDPR erasure: everything stored about one user of one business.
//!
//! In order, so that sends racing the erasure cannot survive it:
//! 1. **tombstone**: the conversation item gets `erasing` (created if absent). Every write that
//!    builds on a conversation state checks `attribute_not_exists(erasing)` (or that there is no
//!    item at all), so from here on no send, user message or lock lands on the erased state;
//!    they are answered "retry" until the erasure ends, then start a new conversation;
//! 2. **find** every item of the contact: through the contact index (`gsi1pk`), *and*, because
//!    that index is eventually consistent, through a strongly consistent query of the
//!    business's messages of the last [`CONSISTENT_SWEEP`] by their time-ordered ids, filtered
//!    on the message's own `to`: a message written just before the tombstone is found even
//!    when the index has not caught up with it, and with it its idempotency record and its
//!    Viber token item (named by the message's attributes); and through the business's
//!    recipient chunks, which name every campaign message of the contact exactly (a campaign
//!    message's id carries its campaign's creation time, which the recent sweep would miss),
//!    masking the contact in them on the way, so no later start messages it; and the
//!    quarantined callbacks whose body names the number (`erase_campaigns`);
//! 3. **delete** them;
//! 4. last, in one transaction, **the conversation item** goes and, if the user had opted out,
//!    a suppression record is left (the `suppression` module), or an old one removed.
//!
//! A failure on the way answers a retryable error with the tombstone still in place: the
//! contact stays closed to writes until the erasure is retried and completes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, ReturnValue, TransactWriteItem, WriteRequest,
};
use session_rules::PhoneNumber;

use crate::attrs::{self, s};
use crate::conversation::ERASING;
use crate::{BusinessId, StoreError, keys};

/// How far back the consistent sweep of step 2 looks: far beyond the index's propagation delay
/// (typically well under a second in DynamoDB).
pub const CONSISTENT_SWEEP: Duration = Duration::from_secs(15 * 60);

type Key = (AttributeValue, AttributeValue);

impl crate::Erasure<'_> {
    /// Deletes the conversation, messages, idempotency records and anything else indexed under
    /// the contact, keeping only a suppression record when the user had opted out; returns how
    /// many items went. See the module documentation.
    pub async fn erase_contact(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
    ) -> Result<usize, StoreError> {
        self.conversations.forget(business, to);
        let conversation: Key = (s(keys::business(business)), s(keys::conversation(to)));
        let before = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, conversation.0.clone())
            .key(keys::SK, conversation.1.clone())
            .update_expression("SET #e = :e")
            .expression_attribute_names("#e", ERASING)
            .expression_attribute_values(":e", s(ulid::Ulid::new().to_string()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let opted_out = match before.attributes() {
            Some(item) if item.contains_key("opted_out") => attrs::get_bool(item, "opted_out")?,
            _ => false,
        };

        // The messages it holds for the user's reply, named exactly by the conversation (the
        // contact index may not have caught up with a hold made just before the tombstone).
        let held_ids = crate::held::held_of(before.attributes());
        self.messages()
            .erase_campaign_holds(business, &held_ids)
            .await?;
        let held: Vec<Key> = held_ids
            .iter()
            .map(|id| (s(keys::business(business)), s(keys::held(id))))
            .collect();
        let contact = keys::contact(business, to);
        let mut found = self.indexed_under(&contact).await?;
        found.extend(held);
        found.extend(self.recent_messages_of(business, to).await?);
        found.extend(self.erase_from_campaigns(business, to).await?);
        found.extend(self.quarantined_naming(to).await?);
        // Most items are found both ways, and BatchWriteItem refuses a key twice.
        let mut seen = std::collections::HashSet::new();
        found.retain(|key| *key != conversation && seen.insert(key_text(key)));
        self.delete_all(&found).await?;

        let delete = Delete::builder()
            .table_name(&self.table)
            .key(keys::PK, conversation.0)
            .key(keys::SK, conversation.1)
            .build()
            .map_err(StoreError::build)?;
        let mut last = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build());
        if let Some(suppression) = self.suppression_write(business, to, opted_out).await? {
            last = last.transact_items(suppression);
        }
        last.send().await.map_err(StoreError::sdk)?;
        self.conversations.forget(business, to);
        Ok(found.len() + 1)
    }

    /// Every item the contact index lists under `contact`.
    async fn indexed_under(&self, contact: &str) -> Result<Vec<Key>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI1)
            .key_condition_expression("gsi1pk = :c")
            .expression_attribute_values(":c", s(contact));
        Ok(keys_of(&attrs::query_all(query).await?).collect())
    }

    /// The contact's messages of the last [`CONSISTENT_SWEEP`], read strongly consistently
    /// from the table itself: message ids are ULIDs, so their sort keys are in time order.
    async fn recent_messages_of(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
    ) -> Result<Vec<Key>, StoreError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let first = ulid::Ulid::from_parts(ms(now.saturating_sub(CONSISTENT_SWEEP)), 0);
        // Ids from containers whose clocks run a little ahead too.
        let last = ulid::Ulid::from_parts(ms(now + Duration::from_secs(60)), u128::MAX);
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :b AND sk BETWEEN :from AND :to")
            // The message's own attributes, not its index key: an item the index has not
            // caught up with is what this sweep is for.
            .filter_expression("business_id = :id AND #to = :to_phone")
            .expression_attribute_names("#to", "to")
            .projection_expression("pk, sk, idempotency_key, viber_message_token")
            .expression_attribute_values(":b", s(keys::business(business)))
            .expression_attribute_values(":from", s(keys::message_bound(first)))
            .expression_attribute_values(":to", s(keys::message_bound(last)))
            .expression_attribute_values(":id", s(business.as_str()))
            .expression_attribute_values(":to_phone", s(to.as_e164()));
        let items = attrs::query_all(query).await?;
        let mut found: Vec<Key> = keys_of(&items).collect();
        // Written with the message (its idempotency record) or onto it (`dispatch`'s token
        // item): as new as the message, so as likely to be missing from the index.
        for item in &items {
            if let Some(key) = attrs::opt_s(item, "idempotency_key")? {
                found.push((s(keys::business(business)), s(keys::idempotency(key))));
            }
            if let Some(token) = attrs::opt_s(item, "viber_message_token")? {
                found.push((s(keys::token(token)), s(keys::TOKEN)));
            }
        }
        Ok(found)
    }

    async fn delete_all(&self, found: &[Key]) -> Result<(), StoreError> {
        for chunk in found.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|(pk, sk)| -> Result<WriteRequest, StoreError> {
                    Ok(WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .key(keys::PK, pk.clone())
                                .key(keys::SK, sk.clone())
                                .build()
                                .map_err(StoreError::build)?,
                        )
                        .build())
                })
                .collect::<Result<_, _>>()?;
            // BatchWriteItem may hand some back unprocessed: resend them, with a pause.
            for attempt in 0..8u32 {
                if requests.is_empty() {
                    break;
                }
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(self.table.clone(), requests)
                    .send()
                    .await
                    .map_err(StoreError::sdk)?;
                requests = out
                    .unprocessed_items()
                    .and_then(|m| m.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if !requests.is_empty() {
                    // Jittered (half to all of the step), so concurrent erasures spread out.
                    let step = std::time::Duration::from_millis(50 << attempt);
                    tokio::time::sleep(step.mul_f64(0.5 + rand::random::<f64>() / 2.0)).await;
                }
            }
            if !requests.is_empty() {
                return Err(StoreError::Unavailable(
                    "erasure left items unprocessed; retry".into(),
                ));
            }
        }
        Ok(())
    }
}

fn key_text((pk, sk): &Key) -> (String, String) {
    let text = |v: &AttributeValue| v.as_s().cloned().unwrap_or_default();
    (text(pk), text(sk))
}

fn keys_of(items: &[attrs::Item]) -> impl Iterator<Item = Key> + '_ {
    items
        .iter()
        .filter_map(|item| Some((item.get(keys::PK)?.clone(), item.get(keys::SK)?.clone())))
}
