//! A business's API keys: several at once, each with an id, created, revoked, or rotated with
//! an overlap (the old keys keep working until a given time), and businesses switched off.
//!
//! Two items per key, written together:
//!
//! - the lookup `KEY#<hash>` / `KEY` (`business_id`, `key_id`, `created_at`, optional
//!   `valid_until`): what authentication reads, one `GetItem`; revoking deletes it;
//! - the listing `BIZ#<business>` / `APIKEY#<key_id>` (`key_hash`, `created_at`, optional
//!   `valid_until`, `revoked_at`): what `vbmctl key list` shows.
//!
//! A key's id is `key_` and the first 16 hex digits of its hash: it names the key in logs and
//! commands and cannot be turned back into the key. Times are unix seconds of the system clock
//! (an overlap is wall time for the business too). Keys made before this module (one per
//! business, no listing item) keep working and are listed from the business's profile.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};

use crate::attrs::{self, Item, n, s};
use crate::cancelled::{cancelled_indexes, conditional};
use crate::{ApiKey, Business, BusinessId, StoreError, keys};

/// Listing items of keys sort under this prefix in the business's partition.
/// More live keys than this on one business is a mistake (and one rotation is one transaction
/// of at most 100 items).
pub const MAX_LIVE_KEYS: usize = 20;

/// The public name of a key: `key_` and the first 16 hex digits of its hash.
pub fn key_id(hash: &str) -> String {
    format!("key_{}", &hash[..hash.len().min(16)])
}

/// Now, in unix seconds.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Where a key stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Works, with no end set.
    Active,
    /// Works until its `valid_until` (a rotation's overlap, or a revocation set ahead).
    Expiring,
    /// Its `valid_until` has passed.
    Expired,
    /// Revoked: refused.
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Expiring => "expiring",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        }
    }

    /// Whether a key in this state authenticates.
    pub fn works(self) -> bool {
        matches!(self, KeyState::Active | KeyState::Expiring)
    }
}

/// One of a business's keys, as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub key_id: String,
    pub created_at: Option<i64>,
    pub valid_until: Option<i64>,
    pub revoked_at: Option<i64>,
    hash: String,
}

impl KeyInfo {
    pub fn state(&self, now: i64) -> KeyState {
        match (self.revoked_at, self.valid_until) {
            (Some(_), _) => KeyState::Revoked,
            (None, Some(until)) if until <= now => KeyState::Expired,
            (None, Some(_)) => KeyState::Expiring,
            (None, None) => KeyState::Active,
        }
    }
}

fn key_info(item: &Item) -> Result<KeyInfo, StoreError> {
    Ok(KeyInfo {
        key_id: attrs::get_s(item, "key_id")?.to_owned(),
        created_at: attrs::opt_n(item, "created_at")?,
        valid_until: attrs::opt_n(item, "valid_until")?,
        revoked_at: attrs::opt_n(item, "revoked_at")?,
        hash: attrs::get_s(item, "key_hash")?.to_owned(),
    })
}

impl crate::Businesses<'_> {
    /// The lookup and listing items of a new key of `business`, created `now`.
    pub(crate) fn new_key_items(
        &self,
        hash: &str,
        business: &BusinessId,
        now: i64,
    ) -> Result<[TransactWriteItem; 2], StoreError> {
        let id = key_id(hash);
        let lookup = Put::builder()
            .table_name(&self.table)
            .item(keys::PK, s(keys::api_key(hash)))
            .item(keys::SK, s(keys::KEY))
            .item("business_id", s(business.as_str()))
            .item("key_id", s(&id))
            .item("created_at", n(now))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(StoreError::build)?;
        let listing = Put::builder()
            .table_name(&self.table)
            .item(keys::PK, s(keys::business(business)))
            .item(keys::SK, s(keys::api_key_listing(&id)))
            .item("key_id", s(&id))
            .item("key_hash", s(hash))
            .item("created_at", n(now))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(StoreError::build)?;
        Ok([
            TransactWriteItem::builder().put(lookup).build(),
            TransactWriteItem::builder().put(listing).build(),
        ])
    }

    /// The business an API key belongs to, if the key works now and the business is enabled.
    pub async fn business_by_api_key(&self, key: &ApiKey) -> Result<Option<Business>, StoreError> {
        self.business_by_api_key_at(key, now_secs()).await
    }

    /// [`Businesses::business_by_api_key`](crate::Businesses::business_by_api_key) at `now` (unix seconds).
    pub async fn business_by_api_key_at(
        &self,
        key: &ApiKey,
        now: i64,
    ) -> Result<Option<Business>, StoreError> {
        let hash = key.hash();
        let out = self
            .get_consistent(keys::api_key(hash.as_str()), keys::KEY.into(), None)
            .await?;
        let Some(item) = out.as_ref() else {
            return Ok(None);
        };
        if attrs::opt_n::<i64>(item, "valid_until")?.is_some_and(|until| until <= now) {
            return Ok(None);
        }
        let id = attrs::get_s(item, "business_id")?;
        let id = BusinessId::parse(id).map_err(|e| StoreError::malformed(id, e))?;
        Ok(self.get_business(&id).await?.filter(|b| !b.disabled))
    }

    /// Every key of a business, oldest first, as it stands (revoked ones included).
    pub async fn api_keys(&self, business: &Business) -> Result<Vec<KeyInfo>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::business(&business.id)))
            .expression_attribute_values(":prefix", s(keys::API_KEY_LISTING_PREFIX))
            .consistent_read(true);
        let mut listed = attrs::query_all(query)
            .await?
            .iter()
            .map(key_info)
            .collect::<Result<Vec<_>, _>>()?;
        // A key from before listings existed: the profile's, while its lookup item lasts.
        if !listed.iter().any(|k| k.hash == business.api_key_hash)
            && self.key_lookup_exists(&business.api_key_hash).await?
        {
            listed.insert(
                0,
                KeyInfo {
                    key_id: key_id(&business.api_key_hash),
                    created_at: None,
                    valid_until: None,
                    revoked_at: None,
                    hash: business.api_key_hash.clone(),
                },
            );
        }
        listed.sort_by_key(|k| (k.created_at.unwrap_or(i64::MIN), k.key_id.clone()));
        Ok(listed)
    }

    async fn key_lookup_exists(&self, hash: &str) -> Result<bool, StoreError> {
        let item = self
            .get_consistent(keys::api_key(hash), keys::KEY.into(), None)
            .await?;
        Ok(item.is_some())
    }

    /// A further key for the business, alongside the ones it has. Returns the key (the only
    /// time it exists in clear) and its id.
    pub async fn create_api_key(&self, business: &BusinessId) -> Result<ApiKey, StoreError> {
        let current = self.existing(business).await?;
        let live = self.live_keys(&current, now_secs()).await?;
        if live.len() >= MAX_LIVE_KEYS {
            return Err(StoreError::Conflict(format!(
                "business {business} already has {MAX_LIVE_KEYS} live keys: revoke one first"
            )));
        }
        let key = ApiKey::generate();
        let [lookup, listing] = self.new_key_items(key.hash().as_str(), business, now_secs())?;
        self.client
            .transact_write_items()
            .transact_items(self.profile_exists(business)?)
            .transact_items(lookup)
            .transact_items(listing)
            .send()
            .await
            .map_err(|err| match cancelled_indexes(&err).as_slice() {
                [0, ..] => StoreError::Conflict(format!("no business {business}")),
                _ => StoreError::sdk(err),
            })?;
        Ok(key)
    }

    /// Revokes one key: at once (`at` none or not in the future), or from `at` on (unix
    /// seconds; the key works until then). Refuses an unknown or already revoked key.
    pub async fn revoke_api_key(
        &self,
        business: &BusinessId,
        key_id: &str,
        at: Option<i64>,
    ) -> Result<KeyInfo, StoreError> {
        let current = self.existing(business).await?;
        let now = now_secs();
        let key = self
            .api_keys(&current)
            .await?
            .into_iter()
            .find(|k| k.key_id == key_id)
            .ok_or_else(|| {
                StoreError::Conflict(format!("business {business} has no key {key_id}"))
            })?;
        if key.state(now) == KeyState::Revoked {
            return Err(StoreError::Conflict(format!(
                "key {key_id} is already revoked"
            )));
        }
        let items = self.end_key_items(business, &key, at.filter(|&t| t > now), now)?;
        let request = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items));
        changed_concurrently(request.send().await, || format!("key {key_id}"))?;
        let mut listed = self.api_keys(&current).await?;
        listed.retain(|k| k.key_id == key_id);
        listed
            .pop()
            .ok_or_else(|| StoreError::malformed(key_id, "revoked key not listed"))
    }

    /// A new key, and every key that works now ends: at once (`old_valid_until` none or not in
    /// the future) or at `old_valid_until` (the overlap in which a business switches over).
    pub async fn rotate_api_key_with_overlap(
        &self,
        business: &BusinessId,
        old_valid_until: Option<i64>,
    ) -> Result<ApiKey, StoreError> {
        let current = self.existing(business).await?;
        let now = now_secs();
        let ending = old_valid_until.filter(|&t| t > now);
        let live = self.live_keys(&current, now).await?;
        let key = ApiKey::generate();
        let hash = key.hash();
        let [lookup, listing] = self.new_key_items(hash.as_str(), business, now)?;
        // The profile names the newest key (what keys from before listings were checked by).
        let profile = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(business)))
            .key(keys::SK, s(keys::PROFILE))
            .update_expression("SET api_key_hash = :new")
            .condition_expression("api_key_hash = :old")
            .expression_attribute_values(":new", s(hash.as_str()))
            .expression_attribute_values(":old", s(&current.api_key_hash))
            .build()
            .map_err(StoreError::build)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(profile).build())
            .transact_items(lookup)
            .transact_items(listing);
        for old in &live {
            // An overlap never lengthens a key that already ends sooner.
            let until = match (ending, old.valid_until) {
                (Some(end), Some(sooner)) if sooner < end => Some(sooner),
                (end, _) => end,
            };
            for item in self.end_key_items(business, old, until, now)? {
                request = request.transact_items(item);
            }
        }
        changed_concurrently(request.send().await, || "the keys".into())?;
        Ok(key)
    }

    /// Replaces a business's API keys: every old one stops working at once.
    pub async fn rotate_api_key(&self, id: &BusinessId) -> Result<ApiKey, StoreError> {
        self.rotate_api_key_with_overlap(id, None).await
    }

    /// Switches a business's API access off (`disabled`: every key is refused) or back on.
    /// Viber's callbacks for it are still recorded: nothing Viber sends is dropped.
    pub async fn set_business_disabled(
        &self,
        business: &BusinessId,
        disabled: bool,
    ) -> Result<Business, StoreError> {
        let request = self
            .update_business_item(business, keys::PROFILE)
            .condition_expression("attribute_exists(pk)")
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        let request = if disabled {
            request
                .update_expression("SET disabled = :yes, disabled_at = :now")
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .expression_attribute_values(":now", n(now_secs()))
        } else {
            request.update_expression("REMOVE disabled, disabled_at")
        };
        let out = conditional(request.send().await)?
            .ok_or_else(|| StoreError::Conflict(format!("no business {business}")))?;
        out.attributes()
            .ok_or_else(|| StoreError::malformed(business.as_str(), "update returned nothing"))
            .and_then(crate::business::business_from_item)
    }

    /// A new secret for signing the business's events. Until `overlap_until` (unix seconds; none
    /// or past: no overlap) events are signed with the new and the old secret, so the business
    /// can switch its check over without losing an event. Returns the business as it now is.
    pub async fn rotate_callback_secret(
        &self,
        business: &BusinessId,
        overlap_until: Option<i64>,
    ) -> Result<Business, StoreError> {
        let current = self.existing(business).await?;
        let secret = crate::business::new_callback_secret();
        let request = self
            .update_business_item(business, keys::PROFILE)
            // A rotation that raced another one would drop a secret the business may hold.
            .condition_expression("callback_secret = :old")
            .expression_attribute_values(":old", s(&current.callback_secret))
            .expression_attribute_values(":new", s(&secret))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        let request = match overlap_until.filter(|&t| t > now_secs()) {
            Some(until) => request
                .update_expression(
                    "SET callback_secret = :new, previous_callback_secret = :old, \
                     previous_callback_secret_until = :until",
                )
                .expression_attribute_values(":until", n(until)),
            None => request.update_expression(
                "SET callback_secret = :new REMOVE previous_callback_secret, \
                 previous_callback_secret_until",
            ),
        };
        let out = conditional(request.send().await)?.ok_or_else(|| {
            StoreError::Conflict("the secret was rotated concurrently; try again".into())
        })?;
        out.attributes()
            .ok_or_else(|| StoreError::malformed(business.as_str(), "update returned nothing"))
            .and_then(crate::business::business_from_item)
    }

    /// Every business, in id order (an admin scan of the table: `vbmctl business list`).
    pub async fn list_businesses(&self) -> Result<Vec<Business>, StoreError> {
        let scan = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("sk = :profile")
            .expression_attribute_values(":profile", s(keys::PROFILE));
        let mut found = attrs::scan_all(scan)
            .await?
            .iter()
            .map(crate::business::business_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }

    async fn existing(&self, business: &BusinessId) -> Result<Business, StoreError> {
        self.get_business(business)
            .await?
            .ok_or_else(|| StoreError::Conflict(format!("no business {business}")))
    }

    async fn live_keys(&self, business: &Business, now: i64) -> Result<Vec<KeyInfo>, StoreError> {
        let mut keys = self.api_keys(business).await?;
        keys.retain(|k| k.state(now).works());
        Ok(keys)
    }

    fn profile_exists(&self, business: &BusinessId) -> Result<TransactWriteItem, StoreError> {
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(business)))
            .key(keys::SK, s(keys::PROFILE))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(StoreError::build)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// The writes that end `key`: from `until` on (both items get `valid_until`), or now (the
    /// lookup goes, the listing gets `revoked_at`). Each is conditioned on the item existing.
    fn end_key_items(
        &self,
        business: &BusinessId,
        key: &KeyInfo,
        until: Option<i64>,
        now: i64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let listed = keys::business(business);
        let listing_sk = keys::api_key_listing(&key.key_id);
        // Keys from before listings have no listing item: only their lookup is changed.
        let has_listing = key.created_at.is_some();
        // `SET {attribute} = value` on an item that must exist.
        let set = |pk: String, sk: String, attribute: &str, value: i64| {
            let update = Update::builder()
                .table_name(&self.table)
                .key(keys::PK, s(pk))
                .key(keys::SK, s(sk))
                .update_expression(format!("SET {attribute} = :v"))
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":v", n(value))
                .build()
                .map_err(StoreError::build)?;
            Ok::<_, StoreError>(TransactWriteItem::builder().update(update).build())
        };
        let lookup = (keys::api_key(&key.hash), keys::KEY.to_owned());
        let mut items = Vec::new();
        match until {
            Some(until) => {
                items.push(set(lookup.0, lookup.1, "valid_until", until)?);
                if has_listing {
                    items.push(set(listed, listing_sk, "valid_until", until)?);
                }
            }
            None => {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .key(keys::PK, s(lookup.0))
                    .key(keys::SK, s(lookup.1))
                    .build()
                    .map_err(StoreError::build)?;
                items.push(TransactWriteItem::builder().delete(delete).build());
                if has_listing {
                    items.push(set(listed, listing_sk, "revoked_at", now)?);
                }
            }
        }
        Ok(items)
    }
}

/// A key transaction's answer: a failed condition means another admin command changed `what`
/// meanwhile (a conflict to try again); anything else is the table's trouble.
fn changed_concurrently<T, R>(
    answer: Result<T, SdkError<TransactWriteItemsError, R>>,
    what: impl FnOnce() -> String,
) -> Result<T, StoreError>
where
    R: std::fmt::Debug,
{
    answer.map_err(|err| match cancelled_indexes(&err).as_slice() {
        [] => StoreError::sdk(err),
        _ => StoreError::Conflict(format!("{} changed concurrently; try again", what())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(valid_until: Option<i64>, revoked_at: Option<i64>) -> KeyInfo {
        KeyInfo {
            key_id: "key_0123456789abcdef".into(),
            created_at: Some(1),
            valid_until,
            revoked_at,
            hash: "0123456789abcdef00".into(),
        }
    }

    #[test]
    fn a_key_works_until_its_end_and_never_once_revoked() {
        assert_eq!(info(None, None).state(100), KeyState::Active);
        assert_eq!(info(Some(101), None).state(100), KeyState::Expiring);
        assert_eq!(info(Some(100), None).state(100), KeyState::Expired);
        assert_eq!(info(Some(500), Some(50)).state(100), KeyState::Revoked);
        assert!(KeyState::Active.works() && KeyState::Expiring.works());
        assert!(!KeyState::Expired.works() && !KeyState::Revoked.works());
    }

    #[test]
    fn key_ids_are_a_prefix_of_the_hash() {
        let key = ApiKey::generate();
        let hash = key.hash();
        let id = key_id(hash.as_str());
        assert_eq!(id.len(), 4 + 16);
        assert!(hash.as_str().starts_with(&id[4..]));
        assert!(!id.contains(&key.expose()[4..20]));
    }
}
