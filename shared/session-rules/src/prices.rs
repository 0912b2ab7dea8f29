//! A business's price table, set by the operator (`vbmctl business prices`): a price per
//! billing category and per SMS part, in one currency. What a message costs is estimated here,
//! in exact integer millionths of the currency's unit (no float drifts over a month of sums).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Billing, BillingCategory};

/// Millionths of the currency unit per unit: six decimal places.
const SCALE: u64 = 1_000_000;
/// The largest price of one message or part: 1,000 units.
const MAX_PRICE: u64 = 1_000 * SCALE;

/// An amount in millionths of a currency unit, written as a decimal string (`"0.0125"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u64);

impl Amount {
    pub const ZERO: Amount = Amount(0);

    pub fn from_micros(micros: u64) -> Self {
        Self(micros)
    }

    pub fn micros(self) -> u64 {
        self.0
    }

    /// A price as the operator writes it: digits, optionally a point and up to six decimals,
    /// at most 1,000.
    pub fn parse_price(input: &str) -> Result<Self, PriceError> {
        let bad = || PriceError::Invalid(input.to_owned());
        let (whole, fraction) = input.split_once('.').unwrap_or((input, ""));
        if whole.is_empty()
            || whole.len() > 4
            || fraction.len() > 6
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || (input.contains('.') && fraction.is_empty())
        {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let fraction: u64 = format!("{fraction:0<6}").parse().map_err(|_| bad())?;
        let micros = whole * SCALE + fraction;
        if micros > MAX_PRICE {
            return Err(bad());
        }
        Ok(Self(micros))
    }

    /// `n` times this amount (saturating: a sum past u64 is no real bill).
    pub fn times(self, n: u64) -> Self {
        Self(self.0.saturating_mul(n))
    }

    pub fn plus(self, other: Amount) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for Amount {
    /// The shortest decimal that is exact: `0.0125`, `3`, `0.000001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, fraction) = (self.0 / SCALE, self.0 % SCALE);
        if fraction == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{fraction:06}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Amount::parse_price(&text).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("invalid price {0:?}: a decimal of at most 6 places, 0 to 1000 (0.0125)")]
    Invalid(String),
    #[error("invalid currency {0:?}: an ISO 4217 code of three capital letters (EUR)")]
    Currency(String),
}

/// A currency: three capital letters (ISO 4217's form; which codes exist is the operator's).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    pub fn parse(input: &str) -> Result<Self, PriceError> {
        (input.len() == 3 && input.bytes().all(|b| b.is_ascii_uppercase()))
            .then(|| Self(input.to_owned()))
            .ok_or_else(|| PriceError::Currency(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Currency::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The operator's prices for one business; none set means no estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceTable {
    pub currency: Currency,
    /// A billable message of each category; a category without a price is not estimated.
    #[serde(default)]
    pub categories: BTreeMap<BillingCategory, Amount>,
    /// One billed SMS part of a failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_part: Option<Amount>,
}

/// An estimated cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Estimate {
    pub amount: Amount,
    pub currency: Currency,
}

impl PriceTable {
    pub fn new(currency: Currency) -> Self {
        Self {
            currency,
            categories: BTreeMap::new(),
            sms_part: None,
        }
    }

    /// What one accepted message billed as `billing` costs: its category's price when billable,
    /// nothing when not (a session reply after the first); `None` when its category has no price.
    pub fn message(&self, billing: Billing) -> Option<Estimate> {
        let price = self.categories.get(&billing.category)?;
        Some(self.estimate(if billing.billable {
            *price
        } else {
            Amount::ZERO
        }))
    }

    /// Messages by category and billable count, and SMS parts: their total; `None` when some
    /// counted category (or the SMS, when any was sent) has no price.
    pub fn total(
        &self,
        billable: &BTreeMap<BillingCategory, u64>,
        sms_parts: u64,
    ) -> Option<Estimate> {
        let mut sum = Amount::ZERO;
        for (category, count) in billable {
            if *count == 0 {
                continue;
            }
            sum = sum.plus(self.categories.get(category)?.times(*count));
        }
        if sms_parts > 0 {
            sum = sum.plus(self.sms_part?.times(sms_parts));
        }
        Some(self.estimate(sum))
    }

    fn estimate(&self, amount: Amount) -> Estimate {
        Estimate {
            amount,
            currency: self.currency.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prices_parse_exactly_and_print_shortest() {
        assert_eq!(Amount::parse_price("0.0125").unwrap().micros(), 12_500);
        assert_eq!(Amount::parse_price("3").unwrap().micros(), 3_000_000);
        assert_eq!(Amount::parse_price("0.000001").unwrap().micros(), 1);
        assert_eq!(Amount::parse_price("1000").unwrap().micros(), 1_000_000_000);
        for bad in [
            "",
            ".5",
            "5.",
            "-1",
            "1e3",
            "0.0000001",
            "1000.000001",
            "10000",
            "1,5",
            " 1",
        ] {
            assert!(Amount::parse_price(bad).is_err(), "{bad}");
        }
        assert_eq!(Amount::from_micros(12_500).to_string(), "0.0125");
        assert_eq!(Amount::from_micros(3_000_000).to_string(), "3");
        assert!(Currency::parse("EUR").is_ok());
        for bad in ["eur", "EURO", "E1R", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_message_costs_its_category_price_when_billable() {
        let mut table = PriceTable::new(Currency::parse("EUR").unwrap());
        table.categories.insert(
            BillingCategory::Session,
            Amount::parse_price("0.01").unwrap(),
        );
        table.categories.insert(
            BillingCategory::Promotional,
            Amount::parse_price("0.035").unwrap(),
        );
        let billed = |category, billable| Billing { category, billable };
        assert_eq!(
            table
                .message(billed(BillingCategory::Session, true))
                .unwrap()
                .amount
                .to_string(),
            "0.01"
        );
        assert_eq!(
            table
                .message(billed(BillingCategory::Session, false))
                .unwrap()
                .amount,
            Amount::ZERO
        );
        assert_eq!(table.message(billed(BillingCategory::Otp, true)), None);
        let counts = BTreeMap::from([
            (BillingCategory::Promotional, 1000),
            (BillingCategory::Session, 3),
        ]);
        assert_eq!(table.total(&counts, 0).unwrap().amount.to_string(), "35.03");
        assert_eq!(table.total(&counts, 2), None, "the SMS has no price");
        table.sms_part = Some(Amount::parse_price("0.05").unwrap());
        assert_eq!(table.total(&counts, 2).unwrap().amount.to_string(), "35.13");
        let json = serde_json::to_value(&table).unwrap();
        assert_eq!(json["categories"]["promotional"], "0.035");
        assert_eq!(serde_json::from_value::<PriceTable>(json).unwrap(), table);
    }

    proptest! {
        /// Printing and parsing a price give it back exactly.
        #[test]
        fn prices_round_trip(micros in 0u64..=MAX_PRICE) {
            let amount = Amount::from_micros(micros);
            prop_assert_eq!(Amount::parse_price(&amount.to_string()).unwrap(), amount);
        }

        /// A total is the sum of its messages' estimates.
        #[test]
        fn a_total_is_the_sum_of_its_messages(
            price in 0u64..=MAX_PRICE, n in 0u64..100_000, session in 0u64..1000,
        ) {
            let mut table = PriceTable::new(Currency::parse("USD").unwrap());
            table.categories.insert(BillingCategory::Otp, Amount::from_micros(price));
            table.categories.insert(BillingCategory::Session, Amount::from_micros(price / 2));
            let counts = BTreeMap::from([(BillingCategory::Otp, n), (BillingCategory::Session, session)]);
            let one = table.message(Billing { category: BillingCategory::Otp, billable: true }).unwrap();
            let other = table.message(Billing { category: BillingCategory::Session, billable: true }).unwrap();
            prop_assert_eq!(
                table.total(&counts, 0).unwrap().amount.micros(),
                one.amount.micros() * n + other.amount.micros() * session
            );
        }
    }
}
