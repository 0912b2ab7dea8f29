//! Viber's pace: every send waits for its slot in its Viber service's lane
//! (`vbm_store::pace`), so no second carries more than the service's rate to Viber across
//! every container, campaigns and single sends together. The rates are read at most once a
//! minute per business and container (`vbmctl business pace` is seen within a minute).

use std::time::{Duration, Instant};

use vbm_store::pace::{Lane, LaneOwner, PaceRates, Reservation};
use vbm_store::{BusinessId, Store, StoreError, TtlCache};

/// How far ahead a send books its slot: well inside the function's 30 s timeout. A lane booked
/// further (more sends than the rate for longer than this) fails the record, retried later.
pub const HORIZON: Duration = Duration::from_secs(20);
const RATE_TTL: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Rates(TtlCache<BusinessId, PaceRates>);

impl Default for Rates {
    fn default() -> Self {
        Self(TtlCache::new(RATE_TTL))
    }
}

impl Rates {
    pub async fn get(&self, store: &Store, business: &BusinessId) -> Result<PaceRates, StoreError> {
        if let Some(rates) = self.0.get(business, Instant::now()) {
            return Ok(rates);
        }
        let rates = store.pace().pace_rates(business).await?;
        self.0
            .insert(business.clone(), rates.clone(), Instant::now());
        Ok(rates)
    }
}

/// The Viber service a send goes on, and the business's first service (whose lanes are the
/// business's own items).
#[derive(Debug, Clone, Copy)]
pub struct SendingService {
    pub id: u64,
    pub primary: u64,
}

/// Waits for this send's slot on its service; `Ok(false)` when the lane is booked past
/// [`HORIZON`].
pub async fn wait_for_slot(
    store: &Store,
    rates: &Rates,
    business: &BusinessId,
    service: SendingService,
    now: session_rules::Timestamp,
) -> Result<bool, StoreError> {
    let rate = rates.get(store, business).await?.of(service.id);
    let owner = LaneOwner::of(service.id, service.primary);
    match store
        .pace()
        .reserve_on(business, owner, Lane::Viber, 1, rate, now, HORIZON)
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
