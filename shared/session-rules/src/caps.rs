//! Caps a business's operator sets: at most so many messages of a billing category, or campaign
//! recipients, a UTC day or a UTC month. What is decided here: whether a count may grow by some
//! amount under a limit, how much room is left, and which notice thresholds (80 % and 100 % of
//! a limit) a count has reached. Counting and storing are the store's.
//!
//! A cap counts from the moment it is set: what was sent in the same window before it was set
//! is not in its counter (nothing is counted for a business without caps).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{BillingCategory, Timestamp, civil_from_days, days_from_civil};

/// The largest limit a cap takes (a business past this needs no cap).
pub const MAX_CAP: u32 = 1_000_000_000;

/// The percentages of a limit at which the business is told (`usage.cap_reached`).
pub const THRESHOLDS: [u8; 2] = [80, 100];

/// What a cap counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CapSubject {
    /// Accepted messages of one billing category (single sends and campaign recipients).
    Category(BillingCategory),
    /// Campaign recipients admitted (queued), whatever their category.
    CampaignRecipients,
}

impl CapSubject {
    pub const ALL: [CapSubject; 5] = [
        CapSubject::Category(BillingCategory::TransactionalTemplate),
        CapSubject::Category(BillingCategory::Otp),
        CapSubject::Category(BillingCategory::Promotional),
        CapSubject::Category(BillingCategory::Session),
        CapSubject::CampaignRecipients,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CapSubject::Category(category) => category.as_str(),
            CapSubject::CampaignRecipients => "campaign_recipients",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == input)
    }
}

impl fmt::Display for CapSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CapSubject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CapSubject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown cap subject {text:?}")))
    }
}

/// A cap's window: the UTC day or the UTC month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapPeriod {
    Day,
    Month,
}

impl CapPeriod {
    pub const ALL: [CapPeriod; 2] = [CapPeriod::Day, CapPeriod::Month];

    pub fn as_str(self) -> &'static str {
        match self {
            CapPeriod::Day => "day",
            CapPeriod::Month => "month",
        }
    }

    /// The window `at` falls in: `2026-12-07` (a day) or `2026-12` (a month), UTC.
    pub fn window(self, at: Timestamp) -> String {
        let (y, m, d) = civil_from_days(at.as_secs().div_euclid(86_400));
        match self {
            CapPeriod::Day => format!("{y:04}-{m:02}-{d:02}"),
            CapPeriod::Month => format!("{y:04}-{m:02}"),
        }
    }

    /// When the window `at` falls in ends (the next one starts): what `Retry-After` says.
    pub fn window_end(self, at: Timestamp) -> Timestamp {
        let days = at.as_secs().div_euclid(86_400);
        let next = match self {
            CapPeriod::Day => days + 1,
            CapPeriod::Month => {
                let (y, m, _) = civil_from_days(days);
                if m == 12 {
                    days_from_civil(y + 1, 1, 1)
                } else {
                    days_from_civil(y, m + 1, 1)
                }
            }
        };
        Timestamp::from_millis(next * 86_400_000)
    }
}

/// The limits of one subject: per day, per month, either or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<u32>,
}

impl PeriodLimits {
    pub fn get(&self, period: CapPeriod) -> Option<u32> {
        match period {
            CapPeriod::Day => self.day,
            CapPeriod::Month => self.month,
        }
    }

    fn set(&mut self, period: CapPeriod, limit: Option<u32>) {
        match period {
            CapPeriod::Day => self.day = limit,
            CapPeriod::Month => self.month = limit,
        }
    }

    fn is_empty(&self) -> bool {
        self.day.is_none() && self.month.is_none()
    }
}

/// A business's caps (`vbmctl business caps`); none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Caps(BTreeMap<CapSubject, PeriodLimits>);

/// One cap: what, over which window, how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Cap {
    pub subject: CapSubject,
    pub period: CapPeriod,
    pub limit: u32,
}

/// Why a cap setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a cap is 0 to {MAX_CAP}, got {0}")]
pub struct CapOutOfRange(pub u64);

impl Caps {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets (`Some`) or removes (`None`) one cap.
    pub fn set(
        &mut self,
        subject: CapSubject,
        period: CapPeriod,
        limit: Option<u64>,
    ) -> Result<(), CapOutOfRange> {
        let limit = limit
            .map(|l| {
                u32::try_from(l)
                    .ok()
                    .filter(|l| *l <= MAX_CAP)
                    .ok_or(CapOutOfRange(l))
            })
            .transpose()?;
        let limits = self.0.entry(subject).or_default();
        limits.set(period, limit);
        if limits.is_empty() {
            self.0.remove(&subject);
        }
        Ok(())
    }

    /// Every cap set, in a stable order.
    pub fn all(&self) -> Vec<Cap> {
        self.0
            .iter()
            .flat_map(|(subject, limits)| {
                CapPeriod::ALL.into_iter().filter_map(move |period| {
                    limits.get(period).map(|limit| Cap {
                        subject: *subject,
                        period,
                        limit,
                    })
                })
            })
            .collect()
    }

    /// The caps on `subject` (none, one or two).
    pub fn on(&self, subject: CapSubject) -> Vec<Cap> {
        self.all()
            .into_iter()
            .filter(|c| c.subject == subject)
            .collect()
    }

    /// The caps one accepted message of `category` counts against (outside a campaign).
    pub fn for_send(&self, category: BillingCategory) -> Vec<Cap> {
        self.on(CapSubject::Category(category))
    }
}

/// Whether a count of `count` may grow by `adding` and stay within `limit`.
pub fn admits(count: u64, adding: u64, limit: u32) -> bool {
    count.saturating_add(adding) <= u64::from(limit)
}

/// How many more a count of `count` may grow by under `limit`.
pub fn room(count: u64, limit: u32) -> u64 {
    u64::from(limit).saturating_sub(count)
}

/// The count at which `percent` of `limit` is reached: the smallest count `c` with
/// `c * 100 >= percent * limit`, and at least 1 (a cap of 0 is never "reached" by a send).
pub fn threshold_count(limit: u32, percent: u8) -> u64 {
    (u64::from(limit) * u64::from(percent)).div_ceil(100).max(1)
}

/// The thresholds (of [`THRESHOLDS`]) a count of `count` has reached under `limit`.
pub fn thresholds_reached(count: u64, limit: u32) -> Vec<u8> {
    if limit == 0 {
        return Vec::new();
    }
    THRESHOLDS
        .into_iter()
        .filter(|p| count >= threshold_count(limit, *p))
        .collect()
}

/// The thresholds a count crossed going from `before` to `after`.
pub fn thresholds_crossed(before: u64, after: u64, limit: u32) -> Vec<u8> {
    let already = thresholds_reached(before, limit);
    thresholds_reached(after, limit)
        .into_iter()
        .filter(|p| !already.contains(p))
        .collect()
}

/// The indexes of the caps in `caps` one admitted campaign recipient of `category` counts
/// against: its category's and the campaign recipients'.
pub fn recipient_needs(caps: &[Cap], category: BillingCategory) -> Vec<usize> {
    caps.iter()
        .enumerate()
        .filter(|(_, c)| match c.subject {
            CapSubject::CampaignRecipients => true,
            CapSubject::Category(of) => of == category,
        })
        .map(|(i, _)| i)
        .collect()
}

/// Admits members in order under the caps' rooms: member `i` needs one of each cap in
/// `needs[i]` (indexes into `room`), and is admitted when every one has room left, which it
/// then takes. A batch (a campaign's chunk) is admitted exactly as the same members sent one
/// by one would be.
pub fn admit_in_order(room: &mut [u64], needs: &[Vec<usize>]) -> Vec<bool> {
    needs
        .iter()
        .map(|need| {
            let fits = need.iter().all(|&c| room.get(c).is_some_and(|r| *r > 0));
            if fits {
                for &c in need {
                    room[c] -= 1;
                }
            }
            fits
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn caps_are_set_removed_and_listed() {
        let mut caps = Caps::default();
        assert!(caps.is_empty());
        let promo = CapSubject::Category(BillingCategory::Promotional);
        caps.set(promo, CapPeriod::Day, Some(100)).unwrap();
        caps.set(promo, CapPeriod::Month, Some(2000)).unwrap();
        caps.set(CapSubject::CampaignRecipients, CapPeriod::Month, Some(5))
            .unwrap();
        assert_eq!(caps.for_send(BillingCategory::Promotional).len(), 2);
        assert!(caps.for_send(BillingCategory::Session).is_empty());
        assert_eq!(
            serde_json::to_value(&caps).unwrap(),
            serde_json::json!({"promotional": {"day": 100, "month": 2000},
                               "campaign_recipients": {"month": 5}})
        );
        let back: Caps = serde_json::from_value(serde_json::to_value(&caps).unwrap()).unwrap();
        assert_eq!(back, caps);
        caps.set(promo, CapPeriod::Day, None).unwrap();
        caps.set(promo, CapPeriod::Month, None).unwrap();
        caps.set(CapSubject::CampaignRecipients, CapPeriod::Month, None)
            .unwrap();
        assert!(caps.is_empty());
        assert_eq!(
            caps.set(promo, CapPeriod::Day, Some(u64::from(MAX_CAP) + 1)),
            Err(CapOutOfRange(u64::from(MAX_CAP) + 1))
        );
        assert!(serde_json::from_str::<Caps>(r#"{"sms": {"day": 1}}"#).is_err());
    }

    #[test]
    fn windows_are_utc_days_and_months() {
        let late = Timestamp::from_millis(1_796_687_999_999); // 2026-12-07T23:59:59.999Z
        assert_eq!(CapPeriod::Day.window(late), "2026-12-07");
        assert_eq!(CapPeriod::Month.window(late), "2026-12");
        let next = Timestamp::from_millis(1_796_688_000_000);
        assert_eq!(CapPeriod::Day.window(next), "2026-12-08");
        assert_eq!(CapPeriod::Day.window_end(late), next);
        assert_eq!(
            CapPeriod::Day.window_end(next).as_millis(),
            1_796_774_400_000
        );
        // 2027-01-01T00:00:00Z ends December; 2027-03-01 ends February.
        assert_eq!(
            CapPeriod::Month.window_end(late).as_millis(),
            1_798_761_600_000
        );
        let feb = Timestamp::from_millis(1_801_180_800_000); // 2027-01-29
        assert_eq!(
            CapPeriod::Month.window_end(feb).as_millis(),
            1_801_440_000_000 // 2027-02-01
        );
    }

    #[test]
    fn thresholds_of_small_and_round_limits() {
        assert_eq!(threshold_count(10, 80), 8);
        assert_eq!(threshold_count(10, 100), 10);
        assert_eq!(threshold_count(3, 80), 3); // 2.4 rounds up
        assert_eq!(threshold_count(1, 80), 1);
        assert_eq!(thresholds_crossed(7, 8, 10), vec![80]);
        assert_eq!(thresholds_crossed(9, 10, 10), vec![100]);
        assert_eq!(thresholds_crossed(2, 3, 3), vec![80, 100]);
        assert!(thresholds_reached(5, 0).is_empty());
        assert!(admits(9, 1, 10));
        assert!(!admits(10, 1, 10));
        assert!(!admits(0, 1, 0));
        assert_eq!(room(12, 10), 0);
    }

    #[test]
    fn members_are_admitted_in_order_while_every_cap_they_count_against_has_room() {
        // Cap 0: promotional day (room 2); cap 1: campaign recipients (room 3).
        let mut room = [2, 3];
        let needs = [vec![0, 1], vec![1], vec![0, 1], vec![0, 1], vec![1], vec![]];
        assert_eq!(
            admit_in_order(&mut room, &needs),
            vec![true, true, true, false, false, true]
        );
        assert_eq!(room, [0, 0]);
        let caps = [
            Cap {
                subject: CapSubject::Category(BillingCategory::Promotional),
                period: CapPeriod::Day,
                limit: 2,
            },
            Cap {
                subject: CapSubject::CampaignRecipients,
                period: CapPeriod::Month,
                limit: 3,
            },
        ];
        assert_eq!(
            recipient_needs(&caps, BillingCategory::Promotional),
            vec![0, 1]
        );
        assert_eq!(recipient_needs(&caps, BillingCategory::Otp), vec![1]);
    }

    proptest! {
        /// Batched admission is one-by-one admission: no cap's room is exceeded, and a member
        /// refused had some cap of its own spent when its turn came.
        #[test]
        fn batched_admission_never_passes_a_room(
            rooms in proptest::collection::vec(0u64..6, 1..4),
            needs in proptest::collection::vec(proptest::collection::vec(0usize..4, 0..3), 0..20),
        ) {
            let needs: Vec<Vec<usize>> = needs
                .into_iter()
                .map(|mut n| { n.retain(|c| *c < rooms.len()); n.sort_unstable(); n.dedup(); n })
                .collect();
            let mut room = rooms.clone();
            let admitted = admit_in_order(&mut room, &needs);
            for (c, start) in rooms.iter().enumerate() {
                let used = needs.iter().zip(&admitted).filter(|(n, a)| **a && n.contains(&c)).count();
                prop_assert_eq!(start - room[c], used as u64);
            }
            let mut left = rooms.clone();
            for (need, ok) in needs.iter().zip(&admitted) {
                let fits = need.iter().all(|&c| left[c] > 0);
                prop_assert_eq!(fits, *ok);
                if fits { for &c in need { left[c] -= 1; } }
            }
        }

        /// Counting one by one from 0 to past the limit crosses each threshold exactly once,
        /// at the count where `percent` of the limit is first reached.
        #[test]
        fn each_threshold_is_crossed_once(limit in 1u32..5000, extra in 0u64..50) {
            let mut crossed: Vec<(u8, u64)> = Vec::new();
            for count in 1..=u64::from(limit) + extra {
                for p in thresholds_crossed(count - 1, count, limit) {
                    crossed.push((p, count));
                }
            }
            prop_assert_eq!(crossed.len(), THRESHOLDS.len());
            for (p, at) in crossed {
                prop_assert!(at * 100 >= u64::from(p) * u64::from(limit));
                prop_assert!((at - 1) * 100 < u64::from(p) * u64::from(limit));
            }
        }

        /// A count admitted one at a time never passes the limit, and reaches it.
        #[test]
        fn admitting_one_by_one_stops_at_the_limit(limit in 0u32..500, tries in 0u64..1000) {
            let mut count = 0u64;
            for _ in 0..tries {
                if admits(count, 1, limit) {
                    count += 1;
                }
            }
            prop_assert_eq!(count, tries.min(u64::from(limit)));
            prop_assert_eq!(room(count, limit), u64::from(limit) - count);
        }

        /// Crossing over a jump reports what one-by-one counting would have.
        #[test]
        fn a_jump_crosses_what_its_steps_cross(limit in 1u32..1000, before in 0u64..1200, by in 0u64..300) {
            let after = before + by;
            let mut steps: Vec<u8> = (before..after)
                .flat_map(|c| thresholds_crossed(c, c + 1, limit))
                .collect();
            steps.sort_unstable();
            prop_assert_eq!(thresholds_crossed(before, after, limit), steps);
        }
    }
}
