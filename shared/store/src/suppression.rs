//! Opt-outs that survive erasure.
//!
//! Erasing a contact deletes its conversation item, and with it the `opted_out` flag: without
//! more, the next send would reach a user who had said no. So erasure of an opted-out user
//! leaves one item, `SUPPRESS#<HMAC-SHA256(key, E.164)>`: no number, no message, no date, only
//! a keyed hash that says "this number opted out". The key is per business (a random 256-bit
//! value in the business's `SUPPRESSION_KEY` item, made by the first erasure that needs it, never
//! rotated, so hashes stay comparable). A send to a number that has no conversation item checks
//! the suppression item in its transaction (`ConditionCheck attribute_not_exists`), or, while the
//! business has no key yet, that the key item is still absent, so an erasure racing the send is
//! seen either way. A user who writes again starts a new conversation, which (as always) ends
//! the opt-out; erasing that conversation later removes the suppression item.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, ReturnValue};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use session_rules::PhoneNumber;
use sha2::Sha256;

use crate::attrs::{self, s};
use crate::{BusinessId, Store, StoreError, keys};

/// What a send to a number without a conversation item must check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Guard {
    /// The business has a key: the number's suppression item must be absent.
    Hash(String),
    /// No key yet (no opted-out contact was ever erased): the key item must still be absent.
    NoKey,
}

/// Keys known in this container; a key never changes once made, so it is cached for good. "No
/// key" is cached too: a send relying on it checks in its transaction that the key item is
/// still absent, and forgets it when not.
#[derive(Debug, Default)]
pub(crate) struct KeyCache(Mutex<HashMap<String, Option<Vec<u8>>>>);

pub(crate) fn hash(key: &[u8], phone: &PhoneNumber) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(phone.as_e164().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

pub(crate) fn key_of(item: &attrs::Item) -> Result<Vec<u8>, StoreError> {
    key_from(item)
}

fn key_from(item: &attrs::Item) -> Result<Vec<u8>, StoreError> {
    hex::decode(attrs::get_s(item, "key")?)
        .map_err(|e| StoreError::malformed(keys::SUPPRESSION_KEY, e.to_string()))
}

impl Store {
    /// The business's suppression key, from this container's memory or one consistent read.
    pub(crate) async fn suppression_key(
        &self,
        business: &BusinessId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(known) = self.suppression_keys.get(business) {
            return Ok(known);
        }
        let item = self
            .get_consistent(keys::business(business), keys::SUPPRESSION_KEY.into(), None)
            .await?;
        let key = item.as_ref().map(key_from).transpose()?;
        self.suppression_keys.put(business, key.clone());
        Ok(key)
    }

    /// The key, made now if there is none (`if_not_exists`: racing erasures agree on one).
    async fn suppression_key_or_make(&self, business: &BusinessId) -> Result<Vec<u8>, StoreError> {
        self.suppression_keys.forget(business);
        if let Some(key) = self.suppression_key(business).await? {
            return Ok(key);
        }
        let mut fresh = [0u8; 32];
        rand::rng().fill_bytes(&mut fresh);
        let out = self
            .update_business_item(business, keys::SUPPRESSION_KEY)
            .update_expression("SET #k = if_not_exists(#k, :k)")
            .expression_attribute_names("#k", "key")
            .expression_attribute_values(":k", s(hex::encode(fresh)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        let item = out
            .attributes
            .ok_or_else(|| StoreError::malformed(keys::SUPPRESSION_KEY, "no attributes"))?;
        let key = key_from(&item)?;
        self.suppression_keys.put(business, Some(key.clone()));
        Ok(key)
    }

    /// The key when this container knows one (a key never changes once made); `None` when it
    /// knows of none or has not looked.
    pub(crate) fn suppression_keys_known(&self, business: &BusinessId) -> Option<Vec<u8>> {
        self.suppression_keys.get(business).flatten()
    }

    /// A `NoKey` guard failed: the key exists now.
    pub(crate) fn forget_suppression_key(&self, business: &BusinessId) {
        self.suppression_keys.forget(business);
    }

    /// What a send to `to`, which has no conversation item, must check.
    pub(crate) async fn suppression_guard(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
    ) -> Result<Guard, StoreError> {
        Ok(match self.suppression_key(business).await? {
            Some(key) => Guard::Hash(hash(&key, to)),
            None => Guard::NoKey,
        })
    }

    /// The transaction item for `guard`.
    pub(crate) fn suppression_check(
        &self,
        business: &BusinessId,
        guard: &Guard,
    ) -> Result<ConditionCheck, StoreError> {
        let sk = match guard {
            Guard::Hash(hash) => keys::suppression(hash),
            Guard::NoKey => keys::SUPPRESSION_KEY.to_owned(),
        };
        ConditionCheck::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(business)))
            .key(keys::SK, s(sk))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(StoreError::build)
    }

    /// The suppression item erasure leaves (opted out) or removes (not), as a transaction item.
    pub(crate) async fn suppression_write(
        &self,
        business: &BusinessId,
        to: &PhoneNumber,
        opted_out: bool,
    ) -> Result<Option<aws_sdk_dynamodb::types::TransactWriteItem>, StoreError> {
        use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
        if opted_out {
            let key = self.suppression_key_or_make(business).await?;
            let put = Put::builder()
                .table_name(&self.table)
                .item(keys::PK, s(keys::business(business)))
                .item(keys::SK, s(keys::suppression(&hash(&key, to))))
                .item("reason", AttributeValue::S("opted_out".into()))
                .build()
                .map_err(StoreError::build)?;
            return Ok(Some(TransactWriteItem::builder().put(put).build()));
        }
        let Some(key) = self.suppression_key(business).await? else {
            return Ok(None);
        };
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(business)))
            .key(keys::SK, s(keys::suppression(&hash(&key, to))))
            .build()
            .map_err(StoreError::build)?;
        Ok(Some(TransactWriteItem::builder().delete(delete).build()))
    }
}

impl KeyCache {
    fn get(&self, business: &BusinessId) -> Option<Option<Vec<u8>>> {
        self.0.lock().ok()?.get(business.as_str()).cloned()
    }

    fn put(&self, business: &BusinessId, key: Option<Vec<u8>>) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(business.as_str().to_owned(), key);
        }
    }

    fn forget(&self, business: &BusinessId) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(business.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_keyed_and_per_number() {
        let a = PhoneNumber::parse("+447911123456").unwrap();
        let b = PhoneNumber::parse("+447911123457").unwrap();
        let h = hash(b"key one", &a);
        assert_eq!(h.len(), 64);
        assert!(!h.contains("447911123456"));
        assert_eq!(h, hash(b"key one", &a));
        assert_ne!(h, hash(b"key two", &a));
        assert_ne!(h, hash(b"key one", &b));
    }
}
