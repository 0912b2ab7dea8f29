//! Viber service id → business, cached per container.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vbm_store::{BusinessId, Store, StoreError};

/// How long a container trusts a service id it has looked up. Service ids are set when a
/// business is created and practically never move; a busy sender costs no lookups.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

const CACHE_CAPACITY: usize = 1024;

/// Known service ids only: an unknown one is looked up every time, so a business created a
/// second ago is found at once.
#[derive(Default)]
pub struct ServiceDirectory {
    cache: Mutex<HashMap<u64, (Instant, BusinessId)>>,
}

impl ServiceDirectory {
    pub async fn business(
        &self,
        store: &Store,
        service_id: u64,
        now: Instant,
    ) -> Result<Option<BusinessId>, StoreError> {
        let cached = self.cache.lock().ok().and_then(|cache| {
            cache
                .get(&service_id)
                .filter(|(at, _)| now.duration_since(*at) < CACHE_TTL)
                .map(|(_, id)| id.clone())
        });
        if cached.is_some() {
            return Ok(cached);
        }
        let Some(business) = store.business_by_service_id(service_id).await? else {
            return Ok(None);
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(service_id, (now, business.id.clone()));
        }
        Ok(Some(business.id))
    }
}
