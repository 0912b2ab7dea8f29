//! A business's usage: what its counters count, how a range of UTC days is asked for and cut
//! into periods, and what a period is estimated to cost.
//!
//! The store keeps one set of counters per business, UTC day and shard, moved in the very
//! write that moves what they count (`vbm_store::usage`). Each counter is named here, so the
//! writers and the readers agree:
//!
//! | counter                      | moves by                                                    |
//! |------------------------------|-------------------------------------------------------------|
//! | `accepted_{category}`        | +1 when a message of that billing category is accepted      |
//! | `billable_{category}`        | +1 when that message is billable                            |
//! | `status_{status}`            | +1 to the new status, −1 to the prior one, when it moves    |
//! | `sessions_opened`            | +1 when a user message opens a new session                  |
//! | `sms_failovers`, `sms_parts` | +1 and the SMS's parts when a failover is claimed           |
//! | `campaign_recipients`        | +1 when a campaign recipient is admitted                    |
//! | `{CC}.{c}`                   | +1 with `billable_{category}` when the number is in country `CC` |
//! | `{CC}.sms`                   | the SMS's parts, with `sms_parts`, when it goes to country `CC` |
//!
//! `{CC}` is the destination's ISO 3166-1 alpha-2 country, as the numbering plan places it
//! (none for a number of no country); `{c}` the category's letter: `t` transactional template,
//! `o` OTP, `p` promotional, `s` session. The names are short because every one sits in the
//! shard item each counted change rewrites, and a write is billed by that item's size (one
//! write unit per KB). Counting by country, not by the price table's country group, lets the
//! groups change and the estimate follow, as it follows a changed price. What the country
//! counters of a period do not account for (counted before they existed, or to a number of no
//! country) is priced at the table's own prices.
//!
//! `{status}` is `sent`, `delivered`, `seen`, `expired`, `cancelled` or `failed_{reason}`.
//! Everything counts on the day the counted change happens. A status moving on a later day
//! than the message's acceptance (sent on the 1st, delivered on the 2nd) counts `sent` +1 on
//! the 1st, and `sent` −1, `delivered` +1 on the 2nd: a day's status figures are the net moves
//! of that day (they can be negative), and over a range covering the messages' whole life they
//! are exactly the tally of the messages' statuses.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::prices::{Billed, Estimate, PriceTable};
use crate::{BillingCategory, Country, Timestamp, civil_from_days, days_from_civil};

/// The longest range one request may ask for, in days (a year, leap or not).
pub const MAX_RANGE_DAYS: i64 = 366;

pub const ACCEPTED_PREFIX: &str = "accepted_";
pub const BILLABLE_PREFIX: &str = "billable_";
pub const STATUS_PREFIX: &str = "status_";
pub const SESSIONS_OPENED: &str = "sessions_opened";
pub const SMS_FAILOVERS: &str = "sms_failovers";
pub const SMS_PARTS: &str = "sms_parts";
pub const CAMPAIGN_RECIPIENTS: &str = "campaign_recipients";

/// The counter of messages accepted in `category`.
pub fn accepted(category: BillingCategory) -> String {
    format!("{ACCEPTED_PREFIX}{}", category.as_str())
}

/// The counter of billable messages accepted in `category`.
pub fn billable(category: BillingCategory) -> String {
    format!("{BILLABLE_PREFIX}{}", category.as_str())
}

/// The counter of messages standing at `status` (`sent`, `failed_{reason}`...).
pub fn status(status: &str) -> String {
    format!("{STATUS_PREFIX}{status}")
}

/// The suffix of SMS parts' country counter.
const SMS_IN: &str = "sms";

/// A category's letter in its country counters.
fn letter(category: BillingCategory) -> &'static str {
    match category {
        BillingCategory::TransactionalTemplate => "t",
        BillingCategory::Otp => "o",
        BillingCategory::Promotional => "p",
        BillingCategory::Session => "s",
    }
}

/// The counter of billable messages of `category` to numbers in `country`: `DE.p`.
pub fn billable_in(category: BillingCategory, country: Country) -> String {
    format!("{country}.{}", letter(category))
}

/// The counter of SMS parts sent to numbers in `country`: `DE.sms`.
pub fn sms_parts_in(country: Country) -> String {
    format!("{country}.{SMS_IN}")
}

/// The counters one accepted message to a number in `country` moves: its category, and its
/// billable counts (the total and its country's) when billable.
pub fn accepted_message(billing: crate::Billing, country: Option<Country>) -> Vec<(String, i64)> {
    let mut moves = vec![(accepted(billing.category), 1)];
    if billing.billable {
        moves.push((billable(billing.category), 1));
        if let Some(country) = country {
            moves.push((billable_in(billing.category, country), 1));
        }
    }
    moves
}

/// The counters an SMS failover of `parts` parts to a number in `country` moves.
pub fn sms_failover(parts: u32, country: Option<Country>) -> Vec<(String, i64)> {
    let mut moves = vec![
        (SMS_FAILOVERS.to_owned(), 1),
        (SMS_PARTS.to_owned(), i64::from(parts)),
    ];
    if let Some(country) = country {
        moves.push((sms_parts_in(country), i64::from(parts)));
    }
    moves
}

/// A UTC calendar day, as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i64);

impl Day {
    /// The day `at` falls on, UTC.
    pub fn of(at: Timestamp) -> Self {
        Self(at.as_secs().div_euclid(86_400))
    }

    /// `YYYY-MM-DD`, a real date of the proleptic Gregorian calendar (no 2026-02-30).
    pub fn parse(input: &str) -> Option<Self> {
        let bytes = input.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let digits = |range: std::ops::Range<usize>| -> Option<i64> {
            let part = &input[range];
            part.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| part.parse().ok())
                .flatten()
        };
        let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        if !(1..=12).contains(&m) || d < 1 {
            return None;
        }
        let days = days_from_civil(y, m as u32, d as u32);
        // A day past the month's end comes back as another date.
        (civil_from_days(days) == (y, m as u32, d as u32)).then_some(Self(days))
    }

    pub fn from_days(days: i64) -> Self {
        Self(days)
    }

    pub fn days(self) -> i64 {
        self.0
    }

    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }

    /// The month this day is in: `YYYY-MM`.
    pub fn month(self) -> String {
        let (y, m, _) = civil_from_days(self.0);
        format!("{y:04}-{m:02}")
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// How a range is cut into periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Day,
    Month,
}

impl Granularity {
    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "day" => Some(Self::Day),
            "month" => Some(Self::Month),
            _ => None,
        }
    }

    /// The period `day` belongs to: the day itself or its month.
    pub fn period_of(self, day: Day) -> String {
        match self {
            Self::Day => day.to_string(),
            Self::Month => day.month(),
        }
    }
}

/// Why a usage range is refused; each has a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("{field} must be a date YYYY-MM-DD (UTC)")]
    InvalidDate { field: &'static str },
    #[error("from is after to")]
    Reversed,
    #[error("the range is longer than {MAX_RANGE_DAYS} days")]
    TooLong,
    #[error("granularity must be day or month")]
    InvalidGranularity,
}

impl RangeError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidDate { .. } | Self::InvalidGranularity => "validation_failed",
            Self::Reversed => "range_reversed",
            Self::TooLong => "range_too_long",
        }
    }

    /// The query parameter at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::InvalidDate { field } => field,
            Self::Reversed | Self::TooLong => "from",
            Self::InvalidGranularity => "granularity",
        }
    }
}

/// Days `from` to `to`, both included, cut by `granularity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageRange {
    pub from: Day,
    pub to: Day,
    pub granularity: Granularity,
}

impl UsageRange {
    /// A range as a request writes it; `granularity` defaults to `day`.
    pub fn parse(from: &str, to: &str, granularity: Option<&str>) -> Result<Self, RangeError> {
        let from_day = Day::parse(from).ok_or(RangeError::InvalidDate { field: "from" })?;
        let to_day = Day::parse(to).ok_or(RangeError::InvalidDate { field: "to" })?;
        let granularity = match granularity {
            None => Granularity::Day,
            Some(g) => Granularity::parse(g).ok_or(RangeError::InvalidGranularity)?,
        };
        if from_day > to_day {
            return Err(RangeError::Reversed);
        }
        if to_day.0 - from_day.0 + 1 > MAX_RANGE_DAYS {
            return Err(RangeError::TooLong);
        }
        Ok(Self {
            from: from_day,
            to: to_day,
            granularity,
        })
    }

    /// Every day of the range, in order.
    pub fn days(&self) -> impl Iterator<Item = Day> + use<> {
        (self.from.0..=self.to.0).map(Day)
    }

    /// The periods of the range in order (a month cut at the range's ends keeps its name).
    pub fn periods(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for day in self.days() {
            let period = self.granularity.period_of(day);
            if out.last() != Some(&period) {
                out.push(period);
            }
        }
        out
    }
}

/// One period's usage: the sums of its counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Messages accepted, by billing category.
    pub accepted: BTreeMap<BillingCategory, i64>,
    /// Of those, the billable ones.
    pub billable: BTreeMap<BillingCategory, i64>,
    /// Net moves into each status (`sent`, `delivered`, `seen`, `expired`,
    /// `failed_{reason}`, `cancelled`); see the module documentation.
    pub statuses: BTreeMap<String, i64>,
    pub sessions_opened: i64,
    pub sms_failovers: i64,
    pub sms_parts: i64,
    pub campaign_recipients: i64,
    /// The billable messages and SMS parts by destination country: a part of `billable` and
    /// `sms_parts` (the rest went to numbers of no country, or were counted before countries
    /// were).
    pub by_country: BTreeMap<Country, CountryUsage>,
}

/// What went to one destination country.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CountryUsage {
    pub billable: BTreeMap<BillingCategory, i64>,
    pub sms_parts: i64,
}

impl CountryUsage {
    fn merge(&mut self, other: &CountryUsage) {
        for (c, v) in &other.billable {
            *self.billable.entry(*c).or_default() += v;
        }
        self.sms_parts += other.sms_parts;
    }

    fn is_empty(&self) -> bool {
        self.billable.is_empty() && self.sms_parts == 0
    }
}

/// A country counter's name, read: the country's figures and which of them.
fn country_counter(name: &str) -> Option<(Country, Option<BillingCategory>)> {
    let (country, what) = name.split_once('.')?;
    let country = Country::parse(country)?;
    if what == SMS_IN {
        return Some((country, None));
    }
    let category = BillingCategory::ALL
        .into_iter()
        .find(|c| letter(*c) == what)?;
    Some((country, Some(category)))
}

/// A count as the price table takes it (counts only ever grow: none is negative).
fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Usage {
    /// Adds one stored counter; a name this version does not know is left out.
    pub fn add(&mut self, name: &str, value: i64) {
        if let Some((country, what)) = country_counter(name) {
            let usage = self.by_country.entry(country).or_default();
            match what {
                Some(category) => *usage.billable.entry(category).or_default() += value,
                None => usage.sms_parts += value,
            }
        } else if let Some(category) = name.strip_prefix(ACCEPTED_PREFIX) {
            if let Some(c) = BillingCategory::parse(category) {
                *self.accepted.entry(c).or_default() += value;
            }
        } else if let Some(category) = name.strip_prefix(BILLABLE_PREFIX) {
            if let Some(c) = BillingCategory::parse(category) {
                *self.billable.entry(c).or_default() += value;
            }
        } else if let Some(status) = name.strip_prefix(STATUS_PREFIX) {
            *self.statuses.entry(status.to_owned()).or_default() += value;
        } else {
            match name {
                SESSIONS_OPENED => self.sessions_opened += value,
                SMS_FAILOVERS => self.sms_failovers += value,
                SMS_PARTS => self.sms_parts += value,
                CAMPAIGN_RECIPIENTS => self.campaign_recipients += value,
                _ => {}
            }
        }
    }

    /// Adds another period's usage to this one.
    pub fn merge(&mut self, other: &Usage) {
        for (c, v) in &other.accepted {
            *self.accepted.entry(*c).or_default() += v;
        }
        for (c, v) in &other.billable {
            *self.billable.entry(*c).or_default() += v;
        }
        for (s, v) in &other.statuses {
            *self.statuses.entry(s.clone()).or_default() += v;
        }
        self.sessions_opened += other.sessions_opened;
        self.sms_failovers += other.sms_failovers;
        self.sms_parts += other.sms_parts;
        self.campaign_recipients += other.campaign_recipients;
        for (country, usage) in &other.by_country {
            self.by_country.entry(*country).or_default().merge(usage);
        }
    }

    /// Drops the zeros (a status every message moved on from within the period).
    pub fn without_zeros(mut self) -> Self {
        self.accepted.retain(|_, v| *v != 0);
        self.billable.retain(|_, v| *v != 0);
        self.statuses.retain(|_, v| *v != 0);
        for usage in self.by_country.values_mut() {
            usage.billable.retain(|_, v| *v != 0);
        }
        self.by_country.retain(|_, usage| !usage.is_empty());
        self
    }

    /// Billable messages by category and SMS parts in `prices`, each destination country's at
    /// its prices and the rest (no country counted) at the table's own; `None` when a counted
    /// category (or the SMS, when any) has no price where it went.
    pub fn estimated_cost(&self, prices: &PriceTable) -> Option<Estimate> {
        let mut rest = Billed {
            messages: self.billable.iter().map(|(c, v)| (*c, count(*v))).collect(),
            sms_parts: count(self.sms_parts),
        };
        let mut by_country = Vec::with_capacity(self.by_country.len());
        for (country, usage) in &self.by_country {
            let billed = Billed {
                messages: usage
                    .billable
                    .iter()
                    .map(|(c, v)| (*c, count(*v)))
                    .collect(),
                sms_parts: count(usage.sms_parts),
            };
            for (c, n) in &billed.messages {
                let total = rest.messages.entry(*c).or_default();
                *total = total.saturating_sub(*n);
            }
            rest.sms_parts = rest.sms_parts.saturating_sub(billed.sms_parts);
            by_country.push((Some(*country), billed));
        }
        prices.total(
            by_country
                .iter()
                .map(|(c, b)| (*c, b))
                .chain([(None, &rest)]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Billing;
    use crate::prices::{Amount, Currency};
    use proptest::prelude::*;

    #[test]
    fn days_parse_only_real_dates() {
        assert_eq!(Day::parse("2026-12-07").unwrap().to_string(), "2026-12-07");
        assert_eq!(Day::parse("2028-02-29").unwrap().to_string(), "2028-02-29");
        assert_eq!(Day::parse("1969-12-31").unwrap().days(), -1);
        assert_eq!(Day::parse("0000-01-01").unwrap().to_string(), "0000-01-01");
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-04-31",
            "2026-1-01",
            "26-01-01",
            "2026/01/01",
            "2026-01-0a",
            "+026-01-01",
            "",
        ] {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Day::of(Timestamp::from_secs(1_796_601_599)).to_string(),
            "2026-12-06"
        );
        assert_eq!(
            Day::of(Timestamp::from_secs(1_796_601_600)).to_string(),
            "2026-12-07"
        );
    }

    #[test]
    fn ranges_are_checked_with_stable_codes() {
        let code = |f, t, g| UsageRange::parse(f, t, g).unwrap_err().code();
        assert_eq!(code("2026-12-08", "2026-12-07", None), "range_reversed");
        assert_eq!(code("2025-01-01", "2026-01-02", None), "range_too_long");
        assert_eq!(
            code("2026-12-01", "2026-12-07", Some("week")),
            "validation_failed"
        );
        assert_eq!(code("2026-12-1", "2026-12-07", None), "validation_failed");
        assert_eq!(
            UsageRange::parse("x", "2026-12-07", None)
                .unwrap_err()
                .field(),
            "from"
        );
        assert_eq!(
            UsageRange::parse("2026-12-07", "x", None)
                .unwrap_err()
                .field(),
            "to"
        );
        // A leap year's whole year is 366 days, allowed; one day more is not.
        assert!(UsageRange::parse("2028-01-01", "2028-12-31", None).is_ok());
        assert!(UsageRange::parse("2027-12-31", "2028-12-31", None).is_err());
        let one = UsageRange::parse("2026-12-07", "2026-12-07", None).unwrap();
        assert_eq!(one.granularity, Granularity::Day);
        assert_eq!(one.periods(), ["2026-12-07"]);
    }

    #[test]
    fn months_are_cut_at_the_range_ends() {
        let range = UsageRange::parse("2026-11-30", "2027-01-02", Some("month")).unwrap();
        assert_eq!(range.periods(), ["2026-11", "2026-12", "2027-01"]);
        assert_eq!(range.days().count(), 34);
        let days = UsageRange::parse("2026-02-27", "2026-03-01", Some("day")).unwrap();
        assert_eq!(days.periods(), ["2026-02-27", "2026-02-28", "2026-03-01"]);
    }

    #[test]
    fn counters_sum_by_name_and_unknown_ones_are_left_out() {
        let mut usage = Usage::default();
        for (name, v) in accepted_message(
            Billing {
                category: BillingCategory::Session,
                billable: true,
            },
            None,
        ) {
            usage.add(&name, v);
        }
        usage.add(&accepted(BillingCategory::Session), 1);
        usage.add(&status("sent"), 1);
        usage.add(&status("sent"), -1);
        usage.add(&status("failed_SRVC_NOT_VIBER_USER"), 1);
        usage.add(SESSIONS_OPENED, 2);
        usage.add("accepted_carrier_pigeon", 5);
        usage.add("something_else", 5);
        let usage = usage.without_zeros();
        assert_eq!(usage.accepted[&BillingCategory::Session], 2);
        assert_eq!(usage.billable[&BillingCategory::Session], 1);
        assert_eq!(usage.statuses.len(), 1);
        assert_eq!(usage.statuses["failed_SRVC_NOT_VIBER_USER"], 1);
        assert_eq!(usage.sessions_opened, 2);
    }

    #[test]
    fn the_cost_is_the_billable_messages_and_sms_parts_at_their_prices() {
        let mut table = PriceTable::new(Currency::parse("EUR").unwrap());
        table.categories.insert(
            BillingCategory::Session,
            Amount::parse_price("0.01").unwrap(),
        );
        table
            .categories
            .insert(BillingCategory::Otp, Amount::parse_price("0.0125").unwrap());
        let mut usage = Usage::default();
        usage.add(&accepted(BillingCategory::Session), 7);
        usage.add(&billable(BillingCategory::Session), 3);
        usage.add(&billable(BillingCategory::Otp), 4);
        assert_eq!(
            usage.estimated_cost(&table).unwrap().amount.micros(),
            80_000
        );
        // An SMS without a price: no estimate rather than a wrong one.
        usage.add(SMS_PARTS, 2);
        assert_eq!(usage.estimated_cost(&table), None);
        table.sms_part = Some(Amount::parse_price("0.05").unwrap());
        assert_eq!(
            usage.estimated_cost(&table).unwrap().amount.micros(),
            180_000
        );
    }

    fn dach_table() -> PriceTable {
        use crate::prices::CountryGroup;
        let mut table = PriceTable::new(Currency::parse("EUR").unwrap());
        table.categories.insert(
            BillingCategory::Promotional,
            Amount::parse_price("0.035").unwrap(),
        );
        table.sms_part = Some(Amount::parse_price("0.05").unwrap());
        let mut dach = CountryGroup::new(
            "DACH",
            ["DE", "AT", "CH"].map(|c| Country::parse(c).unwrap()),
        );
        dach.categories.insert(
            BillingCategory::Promotional,
            Amount::parse_price("0.04").unwrap(),
        );
        dach.sms_part = Some(Amount::parse_price("0.07").unwrap());
        table.add_group(dach).unwrap();
        table
    }

    #[test]
    fn country_counters_have_short_names_and_read_back() {
        let de = Country::parse("DE").unwrap();
        let promo = Billing {
            category: BillingCategory::Promotional,
            billable: true,
        };
        assert_eq!(
            accepted_message(promo, Some(de)),
            [
                ("accepted_promotional".to_owned(), 1),
                ("billable_promotional".to_owned(), 1),
                ("DE.p".to_owned(), 1),
            ]
        );
        // A message that is not billable counts in no country.
        let reply = Billing {
            category: BillingCategory::Session,
            billable: false,
        };
        assert_eq!(accepted_message(reply, Some(de)).len(), 1);
        assert_eq!(
            sms_failover(3, Some(de)),
            [
                ("sms_failovers".to_owned(), 1),
                ("sms_parts".to_owned(), 3),
                ("DE.sms".to_owned(), 3),
            ]
        );
        assert_eq!(sms_failover(2, None).len(), 2);
        let mut usage = Usage::default();
        for category in BillingCategory::ALL {
            usage.add(&billable_in(category, de), 1);
        }
        usage.add(&sms_parts_in(de), 4);
        // Not a country counter: an unknown country, an unknown letter.
        usage.add("EU.p", 1);
        usage.add("DE.x", 1);
        usage.add("DE.", 1);
        assert_eq!(usage.by_country.len(), 1);
        assert_eq!(usage.by_country[&de].billable.len(), 4);
        assert_eq!(usage.by_country[&de].sms_parts, 4);
        assert!(usage.billable.is_empty());
    }

    #[test]
    fn each_country_is_priced_by_its_group_and_the_rest_by_the_table() {
        let table = dach_table();
        let promo = Billing {
            category: BillingCategory::Promotional,
            billable: true,
        };
        let mut usage = Usage::default();
        let send = |usage: &mut Usage, country: Option<&str>, parts| {
            let country = country.map(|c| Country::parse(c).unwrap());
            for (name, v) in accepted_message(promo, country) {
                usage.add(&name, v);
            }
            for (name, v) in sms_failover(parts, country) {
                usage.add(&name, v);
            }
        };
        send(&mut usage, Some("DE"), 2);
        send(&mut usage, Some("AT"), 0);
        send(&mut usage, Some("FR"), 1);
        send(&mut usage, None, 1);
        // DACH: 2 × 0.04 + 2 × 0.07; France and no country: 2 × 0.035 + 2 × 0.05.
        assert_eq!(
            usage.estimated_cost(&table).unwrap().amount.to_string(),
            "0.39"
        );
        // The groups change, the estimate follows: without groups, all at the table's prices.
        let plain = {
            let mut t = PriceTable::new(table.currency.clone());
            t.categories = table.categories.clone();
            t.sms_part = table.sms_part;
            t
        };
        assert_eq!(
            usage.estimated_cost(&plain).unwrap().amount.to_string(),
            "0.34"
        );
        // A day counted before the country counters: its totals only, at the table's prices.
        let mut old = Usage::default();
        old.add(&billable(BillingCategory::Promotional), 4);
        old.add(SMS_PARTS, 4);
        assert_eq!(
            old.estimated_cost(&table).unwrap().amount.to_string(),
            "0.34"
        );
        // Merged with a new day, the new day's countries keep their group's prices.
        let mut both = old.clone();
        both.merge(&usage);
        assert_eq!(
            both.estimated_cost(&table).unwrap().amount.to_string(),
            "0.73"
        );
    }

    proptest! {
        /// Summing days into months agrees with summing the whole range at once.
        #[test]
        fn merged_periods_sum_to_the_whole(counts in proptest::collection::vec((0usize..5, -3i64..10), 0..60)) {
            let names = [
                accepted(BillingCategory::Promotional),
                status("sent"),
                SESSIONS_OPENED.to_owned(),
                SMS_PARTS.to_owned(),
                billable_in(BillingCategory::Promotional, Country::parse("UA").unwrap()),
            ];
            let mut whole = Usage::default();
            let mut halves = [Usage::default(), Usage::default()];
            for (i, (name, v)) in counts.iter().enumerate() {
                whole.add(&names[*name], *v);
                halves[i % 2].add(&names[*name], *v);
            }
            let mut merged = halves[0].clone();
            merged.merge(&halves[1]);
            prop_assert_eq!(merged.without_zeros(), whole.without_zeros());
        }

        /// Every day parses back from what it prints, and its period is its own prefix.
        #[test]
        fn days_round_trip(days in -719_528i64..2_932_896) {
            let day = Day::from_days(days);
            prop_assert_eq!(Day::parse(&day.to_string()), Some(day));
            prop_assert!(day.to_string().starts_with(&day.month()));
        }
    }
}
