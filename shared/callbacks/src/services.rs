//! Viber service id → business, cached per container.

use std::time::{Duration, Instant};

use session_rules::ServiceKind;
use vbm_store::{BusinessId, Store, StoreError, TtlCache};

/// How long a container trusts a service id it has looked up. Service ids are set when a
/// business is created and practically never move; a busy sender costs no lookups.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

/// Known service ids only: an unknown one is looked up every time, so a business created a
/// second ago is found at once.
pub struct ServiceDirectory {
    cache: TtlCache<u64, (BusinessId, ServiceKind)>,
}

impl Default for ServiceDirectory {
    fn default() -> Self {
        Self {
            cache: TtlCache::new(CACHE_TTL),
        }
    }
}

impl ServiceDirectory {
    pub async fn business(
        &self,
        store: &Store,
        service_id: u64,
        now: Instant,
    ) -> Result<Option<BusinessId>, StoreError> {
        Ok(self
            .service(store, service_id, now)
            .await?
            .map(|(business, _)| business))
    }

    /// The business a service id belongs to and what the id was ordered as.
    pub async fn service(
        &self,
        store: &Store,
        service_id: u64,
        now: Instant,
    ) -> Result<Option<(BusinessId, ServiceKind)>, StoreError> {
        if let Some(cached) = self.cache.get(&service_id, now) {
            return Ok(Some(cached));
        }
        let Some(owner) = store.businesses().service_owner(service_id).await? else {
            return Ok(None);
        };
        self.cache.insert(service_id, owner.clone(), now);
        Ok(Some(owner))
    }
}
