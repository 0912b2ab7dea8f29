//! A business's price table, set by the operator (`vbmctl business prices`): a price per
//! billing category and per SMS part, in one currency, and optionally other prices for groups
//! of destination countries. What a message costs is estimated here, in exact integer
//! millionths of the currency's unit (no float drifts over a month of sums).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Billing, BillingCategory, Country};

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
    #[error(
        "unknown country {0:?}: an ISO 3166-1 alpha-2 code (two capital letters) of a country \
         phone numbers are in (DE)"
    )]
    Country(String),
    #[error("invalid group name {0:?}: 1 to {MAX_GROUP_NAME} letters, digits, '_' or '-'")]
    GroupName(String),
    #[error("two country groups are named {0:?}")]
    DuplicateGroup(String),
    #[error("country group {0:?} has no country")]
    EmptyGroup(String),
    #[error(
        "{country} is in two country groups, {first:?} and {second:?}: a country has one price"
    )]
    CountryInTwoGroups {
        country: Country,
        first: String,
        second: String,
    },
    #[error("more than {MAX_GROUPS} country groups")]
    TooManyGroups,
}

/// The most country groups a table has (each country is in one at most: 254 countries).
pub const MAX_GROUPS: usize = 64;
/// The longest group name.
pub const MAX_GROUP_NAME: usize = 32;

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
///
/// A destination country in one of the `groups` is priced by its group: the group's price of a
/// category (or of an SMS part) where it has one, else the table's. Any other destination, and a
/// number of no country (an international network's), is priced by the table. A country is in
/// one group at most: a table is built ([`PriceTable::add_group`]) and read (its JSON) only so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PriceTableForm")]
pub struct PriceTable {
    pub currency: Currency,
    /// A billable message of each category; a category without a price is not estimated.
    #[serde(default)]
    pub categories: BTreeMap<BillingCategory, Amount>,
    /// One billed SMS part of a failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_part: Option<Amount>,
    /// Other prices for some destination countries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    groups: Vec<CountryGroup>,
}

/// A group of destination countries and the prices that are theirs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountryGroup {
    /// `EU`, `cis-mobile`: 1 to 32 letters, digits, `_` or `-`.
    pub name: String,
    pub countries: BTreeSet<Country>,
    /// A billable message of a category, to these countries; a category without one here is
    /// priced as the table prices it.
    #[serde(default)]
    pub categories: BTreeMap<BillingCategory, Amount>,
    /// One SMS part to these countries; without one, the table's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_part: Option<Amount>,
}

impl CountryGroup {
    /// A group of `countries` with no price of its own yet.
    pub fn new(name: impl Into<String>, countries: impl IntoIterator<Item = Country>) -> Self {
        Self {
            name: name.into(),
            countries: countries.into_iter().collect(),
            categories: BTreeMap::new(),
            sms_part: None,
        }
    }
}

/// The JSON form, checked into a [`PriceTable`].
#[derive(Deserialize)]
struct PriceTableForm {
    currency: Currency,
    #[serde(default)]
    categories: BTreeMap<BillingCategory, Amount>,
    #[serde(default)]
    sms_part: Option<Amount>,
    #[serde(default)]
    groups: Vec<CountryGroup>,
}

impl TryFrom<PriceTableForm> for PriceTable {
    type Error = PriceError;

    fn try_from(form: PriceTableForm) -> Result<Self, PriceError> {
        let mut table = PriceTable::new(form.currency);
        table.categories = form.categories;
        table.sms_part = form.sms_part;
        for group in form.groups {
            table.add_group(group)?;
        }
        Ok(table)
    }
}

/// Billable messages by category and SMS parts, of some destinations: what a total prices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Billed {
    pub messages: BTreeMap<BillingCategory, u64>,
    pub sms_parts: u64,
}

impl Billed {
    /// Counts one accepted message: its category, with 1 when billable, 0 when not.
    pub fn add(&mut self, billing: Billing) {
        *self.messages.entry(billing.category).or_default() += u64::from(billing.billable);
    }
}

/// The prices that apply to one destination: its group's where it has them, else the table's.
#[derive(Debug, Clone, Copy)]
pub struct Rates<'a> {
    table: &'a PriceTable,
    group: Option<&'a CountryGroup>,
}

impl Rates<'_> {
    pub fn category(&self, category: BillingCategory) -> Option<Amount> {
        self.group
            .and_then(|g| g.categories.get(&category))
            .or_else(|| self.table.categories.get(&category))
            .copied()
    }

    pub fn sms_part(&self) -> Option<Amount> {
        self.group.and_then(|g| g.sms_part).or(self.table.sms_part)
    }

    /// The group whose prices these are; `None`: the table's.
    pub fn group(&self) -> Option<&str> {
        self.group.map(|g| g.name.as_str())
    }
}

/// An estimated cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Estimate {
    pub amount: Amount,
    pub currency: Currency,
}

fn valid_group_name(name: &str) -> bool {
    (1..=MAX_GROUP_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl PriceTable {
    pub fn new(currency: Currency) -> Self {
        Self {
            currency,
            categories: BTreeMap::new(),
            sms_part: None,
            groups: Vec::new(),
        }
    }

    /// The country groups, in the order they were added.
    pub fn groups(&self) -> &[CountryGroup] {
        &self.groups
    }

    /// Adds a group; refused (the table unchanged) for a bad or taken name, no country, a
    /// country already in another group, or one group too many.
    pub fn add_group(&mut self, group: CountryGroup) -> Result<(), PriceError> {
        if !valid_group_name(&group.name) {
            return Err(PriceError::GroupName(group.name));
        }
        if self.groups.iter().any(|g| g.name == group.name) {
            return Err(PriceError::DuplicateGroup(group.name));
        }
        if group.countries.is_empty() {
            return Err(PriceError::EmptyGroup(group.name));
        }
        for country in &group.countries {
            if let Some(other) = self.group_of(*country) {
                return Err(PriceError::CountryInTwoGroups {
                    country: *country,
                    first: other.name.clone(),
                    second: group.name,
                });
            }
        }
        if self.groups.len() >= MAX_GROUPS {
            return Err(PriceError::TooManyGroups);
        }
        self.groups.push(group);
        Ok(())
    }

    /// The group `country` is in, if any.
    pub fn group_of(&self, country: Country) -> Option<&CountryGroup> {
        self.groups.iter().find(|g| g.countries.contains(&country))
    }

    /// The prices for a destination in `country` (`None`: a number of no country).
    pub fn rates(&self, country: Option<Country>) -> Rates<'_> {
        Rates {
            table: self,
            group: country.and_then(|c| self.group_of(c)),
        }
    }

    /// What one accepted message billed as `billing` to a number in `country` costs: its
    /// category's price there when billable, nothing when not (a session reply after the
    /// first); `None` when its category has no price.
    pub fn message(&self, billing: Billing, country: Option<Country>) -> Option<Estimate> {
        let price = self.rates(country).category(billing.category)?;
        Some(self.estimate(if billing.billable {
            price
        } else {
            Amount::ZERO
        }))
    }

    /// Billable messages and SMS parts by destination country (`None`: of no known country,
    /// priced by the table), their total; `None` when some counted category (or the SMS, when
    /// any was sent) has no price where it went.
    pub fn total<'a>(
        &self,
        billed: impl IntoIterator<Item = (Option<Country>, &'a Billed)>,
    ) -> Option<Estimate> {
        let mut sum = Amount::ZERO;
        for (country, billed) in billed {
            let rates = self.rates(country);
            for (category, count) in &billed.messages {
                if *count > 0 {
                    sum = sum.plus(rates.category(*category)?.times(*count));
                }
            }
            if billed.sms_parts > 0 {
                sum = sum.plus(rates.sms_part()?.times(billed.sms_parts));
            }
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

    fn eur(categories: &[(BillingCategory, &str)], sms: Option<&str>) -> PriceTable {
        let mut table = PriceTable::new(Currency::parse("EUR").unwrap());
        for (c, p) in categories {
            table.categories.insert(*c, Amount::parse_price(p).unwrap());
        }
        table.sms_part = sms.map(|p| Amount::parse_price(p).unwrap());
        table
    }

    fn country(code: &str) -> Country {
        Country::parse(code).unwrap()
    }

    fn group(name: &str, countries: &[&str]) -> CountryGroup {
        CountryGroup::new(name, countries.iter().map(|c| country(c)))
    }

    /// Messages of each category, and SMS parts, all to one destination.
    fn billed(messages: &[(BillingCategory, u64)], sms_parts: u64) -> Billed {
        Billed {
            messages: messages.iter().copied().collect(),
            sms_parts,
        }
    }

    #[test]
    fn a_message_costs_its_category_price_when_billable() {
        use BillingCategory::{Otp, Promotional, Session};
        let mut table = eur(&[(Session, "0.01"), (Promotional, "0.035")], None);
        let billing = |category, billable| Billing { category, billable };
        assert_eq!(
            table
                .message(billing(Session, true), None)
                .unwrap()
                .amount
                .to_string(),
            "0.01"
        );
        assert_eq!(
            table.message(billing(Session, false), None).unwrap().amount,
            Amount::ZERO
        );
        assert_eq!(table.message(billing(Otp, true), None), None);
        let counts = billed(&[(Promotional, 1000), (Session, 3)], 0);
        assert_eq!(
            table.total([(None, &counts)]).unwrap().amount.to_string(),
            "35.03"
        );
        let with_sms = Billed {
            sms_parts: 2,
            ..counts.clone()
        };
        assert_eq!(
            table.total([(None, &with_sms)]),
            None,
            "the SMS has no price"
        );
        table.sms_part = Some(Amount::parse_price("0.05").unwrap());
        assert_eq!(
            table.total([(None, &with_sms)]).unwrap().amount.to_string(),
            "35.13"
        );
        let json = serde_json::to_value(&table).unwrap();
        assert_eq!(json["categories"]["promotional"], "0.035");
        assert!(json.get("groups").is_none(), "no groups, no key: {json}");
        assert_eq!(serde_json::from_value::<PriceTable>(json).unwrap(), table);
    }

    #[test]
    fn a_country_in_a_group_gets_its_groups_prices_and_the_tables_for_the_rest() {
        use BillingCategory::{Otp, Promotional};
        let mut table = eur(&[(Promotional, "0.035"), (Otp, "0.02")], Some("0.05"));
        let mut dach = group("DACH", &["DE", "AT", "CH"]);
        dach.categories
            .insert(Promotional, Amount::parse_price("0.04").unwrap());
        dach.sms_part = Some(Amount::parse_price("0.07").unwrap());
        table.add_group(dach).unwrap();
        let promo = Billing {
            category: Promotional,
            billable: true,
        };
        let otp = Billing {
            category: Otp,
            billable: true,
        };
        let price = |billing, c: Option<&str>| {
            table
                .message(billing, c.map(country))
                .unwrap()
                .amount
                .to_string()
        };
        assert_eq!(price(promo, Some("AT")), "0.04");
        assert_eq!(price(promo, Some("FR")), "0.035", "no group: the table's");
        assert_eq!(price(promo, None), "0.035", "no country: the table's");
        // The group has no OTP price: the table's.
        assert_eq!(price(otp, Some("DE")), "0.02");
        assert_eq!(table.rates(Some(country("CH"))).group(), Some("DACH"));
        assert_eq!(
            table
                .rates(Some(country("CH")))
                .sms_part()
                .unwrap()
                .to_string(),
            "0.07"
        );
        assert_eq!(table.rates(Some(country("UA"))).group(), None);

        // 10 promotional + 3 SMS parts to Germany, 10 promotional + 3 parts to France, 1 to a
        // number of no country.
        let germany = billed(&[(Promotional, 10)], 3);
        let france = billed(&[(Promotional, 10)], 3);
        let nowhere = billed(&[(Promotional, 1)], 0);
        let total = table
            .total([
                (Some(country("DE")), &germany),
                (Some(country("FR")), &france),
                (None, &nowhere),
            ])
            .unwrap();
        // 0.40 + 0.21 + 0.35 + 0.15 + 0.035
        assert_eq!(total.amount.to_string(), "1.145");

        let json = serde_json::to_value(&table).unwrap();
        assert_eq!(
            json["groups"],
            serde_json::json!([{
                "name": "DACH",
                "countries": ["AT", "CH", "DE"],
                "categories": {"promotional": "0.04"},
                "sms_part": "0.07",
            }])
        );
        assert_eq!(serde_json::from_value::<PriceTable>(json).unwrap(), table);
    }

    #[test]
    fn invalid_groups_are_refused_and_leave_the_table_as_it_was() {
        let mut table = eur(&[], None);
        table.add_group(group("EU", &["DE", "FR"])).unwrap();
        let before = table.clone();
        let refused = |table: &mut PriceTable, g| table.add_group(g).unwrap_err();
        assert_eq!(
            refused(&mut table, group("west", &["PT", "FR"])),
            PriceError::CountryInTwoGroups {
                country: country("FR"),
                first: "EU".into(),
                second: "west".into(),
            }
        );
        assert_eq!(
            refused(&mut table, group("EU", &["PT"])),
            PriceError::DuplicateGroup("EU".into())
        );
        assert_eq!(
            refused(&mut table, group("none", &[])),
            PriceError::EmptyGroup("none".into())
        );
        for bad in [
            "",
            "a b",
            "ü",
            &"x".repeat(MAX_GROUP_NAME + 1),
            "a,b",
            "a:b",
            "a=b",
        ] {
            assert_eq!(
                refused(&mut table, group(bad, &["PT"])),
                PriceError::GroupName(bad.into())
            );
        }
        assert_eq!(table, before);
        // The JSON form is held to the same rules.
        let json = serde_json::json!({
            "currency": "EUR",
            "groups": [
                {"name": "a", "countries": ["DE"]},
                {"name": "b", "countries": ["AT", "DE"]},
            ],
        });
        let err = serde_json::from_value::<PriceTable>(json).unwrap_err();
        assert!(
            err.to_string().contains("DE is in two country groups"),
            "{err}"
        );
        let unknown = serde_json::json!({
            "currency": "EUR",
            "groups": [{"name": "a", "countries": ["EU"]}],
        });
        let err = serde_json::from_value::<PriceTable>(unknown).unwrap_err();
        assert!(err.to_string().contains("unknown country \"EU\""), "{err}");
        // Up to MAX_GROUPS groups.
        let mut many = eur(&[], None);
        let codes: Vec<&str> = [
            "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AR", "AS", "AT", "AU", "AW", "AX",
            "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO",
            "BQ", "BR", "BS", "BT", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI",
            "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ",
            "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER",
        ]
        .to_vec();
        for (i, code) in codes.iter().enumerate().take(MAX_GROUPS) {
            many.add_group(group(&format!("g{i}"), &[code])).unwrap();
        }
        assert_eq!(
            many.add_group(group("one-more", &[codes[MAX_GROUPS]])),
            Err(PriceError::TooManyGroups)
        );
    }

    /// A table of a few groups over a few countries, with or without each price.
    fn grouped_table() -> impl Strategy<Value = PriceTable> {
        let price = proptest::option::of(0u64..=MAX_PRICE);
        let codes = ["DE", "AT", "FR", "UA", "GB", "US"];
        (
            proptest::collection::vec((0usize..3, price.clone(), price.clone()), codes.len()),
            proptest::collection::vec((price.clone(), price.clone()), 3),
            price.clone(),
            price,
        )
            .prop_map(
                move |(membership, group_prices, default_promo, default_sms)| {
                    let mut table = PriceTable::new(Currency::parse("EUR").unwrap());
                    if let Some(p) = default_promo {
                        table
                            .categories
                            .insert(BillingCategory::Promotional, Amount::from_micros(p));
                    }
                    table.sms_part = default_sms.map(Amount::from_micros);
                    for (g, (promo, sms)) in group_prices.into_iter().enumerate() {
                        let members = codes
                            .iter()
                            .zip(&membership)
                            .filter(|(_, (m, _, _))| *m == g)
                            .map(|(c, _)| country(c));
                        let mut group = CountryGroup::new(format!("g{g}"), members);
                        if let Some(p) = promo {
                            group
                                .categories
                                .insert(BillingCategory::Promotional, Amount::from_micros(p));
                        }
                        group.sms_part = sms.map(Amount::from_micros);
                        if !group.countries.is_empty() {
                            table.add_group(group).unwrap();
                        }
                    }
                    table
                },
            )
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
            let counts = billed(&[(BillingCategory::Otp, n), (BillingCategory::Session, session)], 0);
            let one = table.message(Billing { category: BillingCategory::Otp, billable: true }, None).unwrap();
            let other = table.message(Billing { category: BillingCategory::Session, billable: true }, None).unwrap();
            prop_assert_eq!(
                table.total([(None, &counts)]).unwrap().amount.micros(),
                one.amount.micros() * n + other.amount.micros() * session
            );
        }

        /// Over any grouping, a total by country is the sum of each message's price to its
        /// country and each SMS part's there; without a price where one went, no total.
        #[test]
        fn a_total_by_country_sums_each_destinations_prices(
            table in grouped_table(),
            sends in proptest::collection::vec((0usize..7, 0u64..50, 0u64..5), 0..8),
        ) {
            let codes = [Some("DE"), Some("AT"), Some("FR"), Some("UA"), Some("GB"), Some("US"), None];
            let mut by_country: BTreeMap<Option<Country>, Billed> = BTreeMap::new();
            let mut expected = Some(0u64);
            let promo = Billing { category: BillingCategory::Promotional, billable: true };
            for (c, messages, parts) in &sends {
                let to = codes[*c].map(country);
                let billed = by_country.entry(to).or_default();
                *billed.messages.entry(BillingCategory::Promotional).or_default() += messages;
                billed.sms_parts += parts;
                for _ in 0..*messages {
                    let one = table.message(promo, to).map(|e| e.amount.micros());
                    expected = expected.zip(one).map(|(a, b)| a + b);
                }
                if *parts > 0 {
                    let part = table.rates(to).sms_part().map(|a| a.micros() * parts);
                    expected = expected.zip(part).map(|(a, b)| a + b);
                }
            }
            let total = table.total(by_country.iter().map(|(c, b)| (*c, b)));
            prop_assert_eq!(total.map(|e| e.amount.micros()), expected);
            // The table's JSON gives the same table back.
            let json = serde_json::to_string(&table).unwrap();
            prop_assert_eq!(serde_json::from_str::<PriceTable>(&json).unwrap(), table);
        }
    }
}
