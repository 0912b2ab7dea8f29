//! A short per-container memory of business profiles, for the queue workers (`dispatch` needs
//! the service id of every message, `notify` the callback URL and secret of every event).

use std::time::{Duration, Instant};

use crate::{Business, BusinessId, Store, StoreError, TtlCache};

/// Businesses read in the last `ttl`. A change made with `vbmctl` (a new callback URL) is seen
/// within `ttl`; an unknown business is never remembered, so one created a moment ago is found.
#[derive(Debug)]
pub struct BusinessCache(TtlCache<BusinessId, Business>);

impl BusinessCache {
    pub fn new(ttl: Duration) -> Self {
        Self(TtlCache::new(ttl))
    }

    /// The business, from memory when read less than `ttl` ago, else from the table.
    pub async fn get(
        &self,
        store: &Store,
        id: &BusinessId,
    ) -> Result<Option<Business>, StoreError> {
        if let Some(business) = self.0.get(id, Instant::now()) {
            return Ok(Some(business));
        }
        let business = store.businesses().get_business(id).await?;
        if let Some(found) = &business {
            self.0.insert(id.clone(), found.clone(), Instant::now());
        }
        Ok(business)
    }

    /// Whether the operator has switched the business off (`vbmctl business disable`), as
    /// [`get`](Self::get) knows it: the kill switch every worker that sends for a business
    /// reads before it sends. An unknown business is not disabled.
    pub async fn is_disabled(&self, store: &Store, id: &BusinessId) -> Result<bool, StoreError> {
        Ok(self.get(store, id).await?.is_some_and(|b| b.disabled))
    }
}
