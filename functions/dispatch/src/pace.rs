//! Viber's pace: every send waits for its slot in the business's lane
//! (`vbm_store::pace`), so no second carries more than the business's rate to Viber across
//! every container, campaigns and single sends together. The rate is read at most once a
//! minute per business and container (`vbmctl business pace` is seen within a minute).

use std::time::{Duration, Instant};

use vbm_store::pace::{Lane, Reservation};
use vbm_store::{BusinessId, Store, StoreError, TtlCache};

/// How far ahead a send books its slot: well inside the function's 30 s timeout. A lane booked
/// further (more sends than the rate for longer than this) fails the record, retried later.
pub const HORIZON: Duration = Duration::from_secs(20);
const RATE_TTL: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Rates(TtlCache<BusinessId, u32>);

impl Default for Rates {
    fn default() -> Self {
        Self(TtlCache::new(RATE_TTL))
    }
}

impl Rates {
    pub async fn get(&self, store: &Store, business: &BusinessId) -> Result<u32, StoreError> {
        if let Some(rate) = self.0.get(business, Instant::now()) {
            return Ok(rate);
        }
        let rate = store.pace_rate(business).await?;
        self.0.insert(business.clone(), rate, Instant::now());
        Ok(rate)
    }
}

/// Waits for this send's slot; `Ok(false)` when the lane is booked past [`HORIZON`].
pub async fn wait_for_slot(
    store: &Store,
    rates: &Rates,
    business: &BusinessId,
    now: session_rules::Timestamp,
) -> Result<bool, StoreError> {
    let rate = rates.get(store, business).await?;
    match store
        .reserve(business, Lane::Viber, 1, rate, now, HORIZON)
        .await?
    {
        Reservation::At(at) => {
            let wait = at.as_millis() - now.as_millis();
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait as u64).min(HORIZON)).await;
            }
            Ok(true)
        }
        Reservation::Busy { .. } => Ok(false),
    }
}
