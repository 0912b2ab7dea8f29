//! GDPR erasure: everything stored about one user of one business.

use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
use session_rules::PhoneNumber;

use crate::attrs::s;
use crate::{BusinessId, Store, StoreError, keys};

impl Store {
    /// Deletes the conversation, messages, idempotency records and anything else indexed under
    /// the contact; returns how many items went.
    pub async fn erase_contact(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
    ) -> Result<usize, StoreError> {
        let contact = keys::contact(business, to);
        let mut keys_to_delete = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::GSI1)
                .key_condition_expression("gsi1pk = :c")
                .expression_attribute_values(":c", s(&contact))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(StoreError::sdk)?;
            for item in out.items() {
                if let (Some(pk), Some(sk)) = (item.get(keys::PK), item.get(keys::SK)) {
                    keys_to_delete.push((pk.clone(), sk.clone()));
                }
            }
            match out.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => break,
            }
        }
        // The conversation item is indexed too, but delete it by key in case the index lags.
        let conversation = (s(keys::business(business)), s(keys::conversation(to)));
        if !keys_to_delete.contains(&conversation) {
            keys_to_delete.push(conversation);
        }
        let count = keys_to_delete.len();
        for chunk in keys_to_delete.chunks(25) {
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
        self.conversations.forget(business, to);
        Ok(count)
    }
}
