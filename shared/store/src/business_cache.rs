//! A short per-container memory of business profiles, for the queue workers (`dispatch` needs
//! the service id of every message, `notify` the callback URL and secret of every event).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{Business, BusinessId, Store, StoreError};

/// Businesses read in the last `ttl`. A change made with `vbmctl` (a new callback URL) is seen
/// within `ttl`; an unknown business is never remembered, so one created a moment ago is found.
#[derive(Debug)]
pub struct BusinessCache {
    ttl: Duration,
    entries: Mutex<HashMap<BusinessId, (Instant, Business)>>,
}

const CAPACITY: usize = 1_000;

impl BusinessCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The business, from memory when read less than `ttl` ago, else from the table.
    pub async fn get(
        &self,
        store: &Store,
        id: &BusinessId,
    ) -> Result<Option<Business>, StoreError> {
        if let Ok(entries) = self.entries.lock()
            && let Some((read_at, business)) = entries.get(id)
            && read_at.elapsed() < self.ttl
        {
            return Ok(Some(business.clone()));
        }
        let business = store.get_business(id).await?;
        if let (Some(found), Ok(mut entries)) = (&business, self.entries.lock()) {
            if entries.len() >= CAPACITY {
                entries.retain(|_, (read_at, _)| read_at.elapsed() < self.ttl);
            }
            if entries.len() < CAPACITY {
                entries.insert(id.clone(), (Instant::now(), found.clone()));
            }
        }
        Ok(business)
    }
}
