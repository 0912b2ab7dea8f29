//! Viber's pace: a Viber service id's messages per second, never exceeded across containers.
//!
//! Viber grants throughput per service id. Each business has a rate (`rate` on its `PACE`
//! item, set with `vbmctl business pace`; [`DEFAULT_RATE`] until then), and each of its
//! services may have its own (`rate` on `PACE#<service id>`, `vbmctl business pace
//! --service-id`); a service without one has the business's. Each service has two lanes, each a
//! GCRA "theoretical arrival time" (`tat`, microseconds) in one item under the business:
//! - `PACE` (every message): `dispatch` reserves one slot per message just before it calls Viber,
//!   and waits for the slot. Slots are `1/rate` apart, so no second holds more than `rate`
//!   sends to Viber, whichever containers send them, campaigns and single sends together.
//! - `PACE_CAMPAIGN`: a campaign's fan-out reserves a slot per recipient at
//!   [`CAMPAIGN_SHARE`] of the rate before admitting them, so campaigns fill the outbound queue
//!   no faster than the business's pace leaves room for: a single send (an OTP) never queues
//!   behind a campaign's backlog, and always has the rest of the rate.
//!
//! The lanes of a service are `PACE#<id>` and `PACE_CAMPAIGN#<id>`, except for the business's
//! first service ([`Lane`] of [`LaneOwner::Primary`]), which keeps `PACE` and `PACE_CAMPAIGN`: a
//! business stored before services had kinds has exactly that one, so its lanes and its rate
//! stay where they were (no slot is booked twice while old and new containers run together).
//!
//! A reservation is one conditional `UpdateItem` (`tat += n × interval` while `tat` is between
//! now and now + horizon); when the lane is idle (`tat` in the past) a second one restarts it at
//! now. When the next slot is further than the horizon the caller is told when to come back.

use std::time::Duration;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use session_rules::Timestamp;

use crate::attrs::{self, n, s};
use crate::cancelled::conditional;
use crate::{BusinessId, StoreError, keys};

/// Messages per second a business gets until `vbmctl business pace` sets its own.
pub const DEFAULT_RATE: u32 = 20;
/// The share of the rate campaigns may take (numerator, denominator): 4/5.
pub const CAMPAIGN_SHARE: (u32, u32) = (4, 5);
/// The highest rate that can be set: each send is a write of the business's one `PACE` item,
/// and DynamoDB takes about 1,000 writes a second on one item.
pub const MAX_RATE: u32 = 1_000;

use crate::keys::{PACE, PACE_CAMPAIGN};
const TRIES: usize = 8;

/// Which lane a reservation is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Every send to Viber (`dispatch`).
    Viber,
    /// Campaign admissions (the fan-out), at [`CAMPAIGN_SHARE`] of the rate.
    Campaigns,
}

/// Whose lanes a reservation books.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneOwner {
    /// The business's first service: its lanes are the business's own items (`PACE`,
    /// `PACE_CAMPAIGN`), as before services had kinds.
    Primary,
    /// Any other service id of the business.
    Service(u64),
}

impl LaneOwner {
    /// The owner of `service_id`'s lanes in a business whose first service is `primary`.
    pub fn of(service_id: u64, primary: u64) -> Self {
        if service_id == primary {
            Self::Primary
        } else {
            Self::Service(service_id)
        }
    }

    fn sort_key(self, lane: Lane) -> String {
        match (self, lane) {
            (Self::Primary, Lane::Viber) => PACE.into(),
            (Self::Primary, Lane::Campaigns) => PACE_CAMPAIGN.into(),
            (Self::Service(id), Lane::Viber) => keys::pace_service(id),
            (Self::Service(id), Lane::Campaigns) => keys::pace_campaign_service(id),
        }
    }
}

/// A business's rates: its own, and those its services have of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaceRates {
    /// Messages per second for a service without its own rate.
    pub business: u32,
    /// Service id → its own messages per second.
    pub services: std::collections::BTreeMap<u64, u32>,
}

impl Default for PaceRates {
    fn default() -> Self {
        Self {
            business: DEFAULT_RATE,
            services: Default::default(),
        }
    }
}

impl PaceRates {
    /// The rate `service_id` sends at.
    pub fn of(&self, service_id: u64) -> u32 {
        self.services
            .get(&service_id)
            .copied()
            .unwrap_or(self.business)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The first reserved slot starts then (now or later; wait for it).
    At(Timestamp),
    /// The lane is booked past the horizon: nothing reserved, try again then.
    Busy { retry_at: Timestamp },
}

fn micros(t: Timestamp) -> i64 {
    t.as_millis().saturating_mul(1000)
}

fn from_micros(us: i64) -> Timestamp {
    Timestamp::from_millis(us.div_euclid(1000) + i64::from(us.rem_euclid(1000) > 0))
}

/// A lane's `tat` (µs) in the item an update answered or refused with; `None` when absent.
fn tat_of(item: Option<&attrs::Item>) -> Option<i64> {
    item?.get("tat")?.as_n().ok()?.parse().ok()
}

/// Microseconds between two slots of `lane` at `rate`.
pub fn interval_micros(rate: u32, lane: Lane) -> i64 {
    let rate = i64::from(rate.clamp(1, MAX_RATE));
    match lane {
        Lane::Viber => 1_000_000 / rate,
        Lane::Campaigns => {
            let (num, den) = CAMPAIGN_SHARE;
            1_000_000 * i64::from(den) / (rate * i64::from(num))
        }
    }
}

impl crate::Pace<'_> {
    /// The business's rate (messages per second).
    pub async fn pace_rate(&self, business: &BusinessId) -> Result<u32, StoreError> {
        let item = self
            .get_consistent(keys::business(business), PACE.into(), None)
            .await?;
        Ok(match item {
            Some(item) => attrs::opt_n::<u32>(&item, "rate")?.unwrap_or(DEFAULT_RATE),
            None => DEFAULT_RATE,
        })
    }

    /// The business's rate and its services' own, in one read.
    pub async fn pace_rates(&self, business: &BusinessId) -> Result<PaceRates, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :pace)")
            .expression_attribute_values(":pk", s(keys::business(business)))
            .expression_attribute_values(":pace", s(PACE))
            .consistent_read(true);
        let mut rates = PaceRates::default();
        for item in attrs::query_all(query).await? {
            let sk = attrs::get_s(&item, keys::SK)?;
            let Some(rate) = attrs::opt_n::<u32>(&item, "rate")? else {
                continue;
            };
            if sk == PACE {
                rates.business = rate;
            } else if let Some(id) = sk.strip_prefix(keys::PACE_SERVICE_PREFIX) {
                let id = id
                    .parse::<u64>()
                    .map_err(|_| StoreError::malformed(sk, "a pace item of no service id"))?;
                rates.services.insert(id, rate);
            }
        }
        Ok(rates)
    }

    /// Sets `service_id`'s own rate (1 to [`MAX_RATE`]), or with `None` takes it away: the
    /// service then sends at the business's rate.
    pub async fn set_service_pace_rate(
        &self,
        business: &BusinessId,
        service_id: u64,
        rate: Option<u32>,
    ) -> Result<(), StoreError> {
        let update = self.update_business_item(business, keys::pace_service(service_id));
        let update = match rate {
            Some(rate) => update
                .update_expression("SET rate = :r")
                .expression_attribute_values(":r", n(rate.clamp(1, MAX_RATE))),
            None => update.update_expression("REMOVE rate"),
        };
        update.send().await.map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Sets the business's rate (1 to [`MAX_RATE`]).
    pub async fn set_pace_rate(&self, business: &BusinessId, rate: u32) -> Result<(), StoreError> {
        self.update_business_item(business, PACE)
            .update_expression("SET rate = :r")
            .expression_attribute_values(":r", n(rate.clamp(1, MAX_RATE)))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Reserves `count` consecutive slots of the business's first service's `lane` at `rate`,
    /// no further ahead than `horizon`.
    pub async fn reserve(
        &self,
        business: &BusinessId,
        lane: Lane,
        count: u32,
        rate: u32,
        now: Timestamp,
        horizon: Duration,
    ) -> Result<Reservation, StoreError> {
        self.reserve_on(
            business,
            LaneOwner::Primary,
            lane,
            count,
            rate,
            now,
            horizon,
        )
        .await
    }

    /// Reserves `count` consecutive slots of `owner`'s `lane` at `rate`, no further ahead than
    /// `horizon`.
    #[allow(clippy::too_many_arguments)]
    pub async fn reserve_on(
        &self,
        business: &BusinessId,
        owner: LaneOwner,
        lane: Lane,
        count: u32,
        rate: u32,
        now: Timestamp,
        horizon: Duration,
    ) -> Result<Reservation, StoreError> {
        let sk = owner.sort_key(lane);
        let span = interval_micros(rate, lane) * i64::from(count.max(1));
        let now_us = micros(now);
        let limit = now_us + horizon.as_micros() as i64;
        for _ in 0..TRIES {
            // Busy lane: take the slots after the last one booked.
            let booked = self
                .update_business_item(business, &sk)
                .update_expression("SET tat = tat + :span")
                .condition_expression("tat BETWEEN :now AND :limit")
                .expression_attribute_values(":span", n(span))
                .expression_attribute_values(":now", n(now_us))
                .expression_attribute_values(":limit", n(limit))
                .return_values(ReturnValue::UpdatedOld)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let old = match booked {
                Ok(out) => {
                    let tat = tat_of(out.attributes()).unwrap_or(now_us);
                    return Ok(Reservation::At(from_micros(tat)));
                }
                Err(err) => match err.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(e)) => tat_of(e.item()),
                    _ => return Err(StoreError::sdk(err)),
                },
            };
            if let Some(tat) = old
                && tat > limit
            {
                return Ok(Reservation::Busy {
                    retry_at: from_micros(tat - limit + now_us),
                });
            }
            // Idle lane (or none yet): start it at now.
            let started = self
                .update_business_item(business, &sk)
                .update_expression("SET tat = :next")
                .condition_expression("attribute_not_exists(tat) OR tat < :now")
                .expression_attribute_values(":next", n(now_us + span))
                .expression_attribute_values(":now", n(now_us))
                .send()
                .await;
            if conditional(started)?.is_some() {
                return Ok(Reservation::At(now));
            }
        }
        Err(StoreError::Contended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lanes_tat_is_read_from_the_answered_item() {
        let item = attrs::Item::from([("tat".to_owned(), n(1_700_000_000_000_000_i64))]);
        assert_eq!(tat_of(Some(&item)), Some(1_700_000_000_000_000));
        assert_eq!(tat_of(None), None);
        assert_eq!(tat_of(Some(&attrs::Item::new())), None);
        let text = attrs::Item::from([("tat".to_owned(), s("soon"))]);
        assert_eq!(tat_of(Some(&text)), None);
    }

    #[test]
    fn intervals() {
        assert_eq!(interval_micros(20, Lane::Viber), 50_000);
        assert_eq!(interval_micros(20, Lane::Campaigns), 62_500);
        assert_eq!(interval_micros(0, Lane::Viber), 1_000_000);
        assert_eq!(from_micros(1_500), Timestamp::from_millis(2));
        assert_eq!(from_micros(2_000), Timestamp::from_millis(2));
    }

    #[test]
    fn the_first_service_keeps_the_business_lanes() {
        assert_eq!(LaneOwner::of(1000, 1000), LaneOwner::Primary);
        assert_eq!(LaneOwner::Primary.sort_key(Lane::Viber), "PACE");
        assert_eq!(
            LaneOwner::Primary.sort_key(Lane::Campaigns),
            "PACE_CAMPAIGN"
        );
        let other = LaneOwner::of(2000, 1000);
        assert_eq!(other, LaneOwner::Service(2000));
        assert_eq!(other.sort_key(Lane::Viber), "PACE#2000");
        assert_eq!(other.sort_key(Lane::Campaigns), "PACE_CAMPAIGN#2000");
    }

    #[test]
    fn a_service_without_its_own_rate_has_the_business_rate() {
        let rates = PaceRates {
            business: 30,
            services: [(2000, 5)].into(),
        };
        assert_eq!(rates.of(2000), 5);
        assert_eq!(rates.of(1000), 30);
        assert_eq!(PaceRates::default().of(1), DEFAULT_RATE);
    }
}
