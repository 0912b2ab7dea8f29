use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Refusal;

// Generated (tests/phone_metadata.rs checks it), so kept as written.
#[rustfmt::skip]
mod metadata;
mod plan;

/// What kind of line a number is, as libphonenumber's metadata types it (the first type whose
/// pattern matches, in libphonenumber's order: premium rate before mobile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberType {
    PremiumRate,
    TollFree,
    SharedCost,
    Voip,
    PersonalNumber,
    Pager,
    Uan,
    Voicemail,
    FixedLine,
    Mobile,
}

impl NumberType {
    /// libphonenumber's name, in snake case (`premium_rate`).
    pub fn as_str(self) -> &'static str {
        match self {
            NumberType::PremiumRate => "premium_rate",
            NumberType::TollFree => "toll_free",
            NumberType::SharedCost => "shared_cost",
            NumberType::Voip => "voip",
            NumberType::PersonalNumber => "personal_number",
            NumberType::Pager => "pager",
            NumberType::Uan => "uan",
            NumberType::Voicemail => "voicemail",
            NumberType::FixedLine => "fixed_line",
            NumberType::Mobile => "mobile",
        }
    }
}

/// A valid, dialable phone number in E.164 form (`+380501234567`), with the country its
/// numbering plan places it in and its type.
///
/// Validity and the country come from libphonenumber's metadata (`plan`), not from the prefix:
/// `+7 701…` is Kazakhstan, `+7 912…` Russia.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    e164: String,
    /// The ISO 3166-1 alpha-2 code's two letters: three bytes rather than a 16-byte `&str`
    /// (numbers sit in records and enums that clippy keeps small).
    country: Option<[u8; 2]>,
    kind: NumberType,
}

impl PhoneNumber {
    /// Parses a number as the business API takes it: E.164 with a leading `+`, exactly (no
    /// surrounding spaces: openapi.yaml's pattern has none, and the API takes what it documents).
    pub fn parse(input: &str) -> Result<Self, Refusal> {
        if !input.starts_with('+') {
            return Err(Refusal::InvalidPhone(
                "expected E.164 with a leading '+', e.g. +380501234567".into(),
            ));
        }
        Self::parse_international(input)
    }

    /// Parses a number as Viber sends it in callbacks: international digits, `+` optional.
    pub fn parse_viber(input: &str) -> Result<Self, Refusal> {
        let trimmed = input.trim();
        if trimmed.starts_with('+') {
            Self::parse_international(trimmed)
        } else {
            Self::parse_international(&format!("+{trimmed}"))
        }
    }

    fn parse_international(input: &str) -> Result<Self, Refusal> {
        let digits = &input[1..];
        if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::InvalidPhone(
                "an E.164 number is '+' and 1 to 15 digits".into(),
            ));
        }
        let parsed = plan::parse(digits).map_err(|invalid| {
            Refusal::InvalidPhone(
                match invalid {
                    plan::Invalid::TooShort => "not a phone number: too short",
                    plan::Invalid::TooLong => "not a phone number: too long",
                    plan::Invalid::UnknownCallingCode => {
                        "not a phone number: no country has this calling code"
                    }
                    plan::Invalid::NotANumber => "not a phone number",
                    plan::Invalid::NotInPlan => {
                        "not a valid number in its country's numbering plan"
                    }
                }
                .into(),
            )
        })?;
        Ok(Self {
            e164: parsed.e164,
            country: parsed.country.and_then(|c| c.as_bytes().try_into().ok()),
            kind: parsed.kind,
        })
    }

    /// `+380501234567`.
    pub fn as_e164(&self) -> &str {
        &self.e164
    }

    /// The number without `+`, as Viber's partner API takes `dest`.
    pub fn digits(&self) -> &str {
        &self.e164[1..]
    }

    /// The number's type (mobile, premium rate, ...), as the numbering plan gives it.
    pub fn number_type(&self) -> NumberType {
        self.kind
    }

    /// The country the plan places the number in, as [`region`](Self::region) names it.
    pub fn country(&self) -> Option<Country> {
        self.country.map(Country)
    }

    /// ISO 3166-1 alpha-2 region of the number (`"RU"`, `"KZ"`), when the plan tells; `None`
    /// for the non-geographic calling codes (international networks +882/+883, satellite
    /// +881, Inmarsat +870, universal freephone +800, ...).
    pub fn region(&self) -> Option<&str> {
        self.country
            .as_ref()
            .and_then(|c| std::str::from_utf8(c).ok())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.e164)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.e164)
    }
}

/// A country a number can be in: an ISO 3166-1 alpha-2 code the numbering plan knows (`DE`,
/// `GG`), two bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    /// A code as written (`DE`): two capital letters of a country in the plan.
    pub fn parse(code: &str) -> Option<Self> {
        let bytes: [u8; 2] = code.as_bytes().try_into().ok()?;
        (bytes.iter().all(u8::is_ascii_uppercase) && plan::is_country(code)).then_some(Self(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Two ASCII capitals, by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({:?})", self.as_str())
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Country {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Country::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown country {text:?}: an ISO 3166-1 alpha-2 code of the numbering plan (DE)"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kazakhstan_shares_plus_seven_with_russia_but_is_not_russia() {
        assert_eq!(
            PhoneNumber::parse("+77011234567").unwrap().region(),
            Some("KZ")
        );
        assert_eq!(
            PhoneNumber::parse("+79123456789").unwrap().region(),
            Some("RU")
        );
    }

    #[test]
    fn countries_are_the_plans_own_codes() {
        for known in ["DE", "AT", "GG", "KZ", "UA", "US"] {
            assert_eq!(Country::parse(known).unwrap().as_str(), known);
        }
        // Not a code, lower case, and codes no number is in (the EU, the non-geographic "001").
        for unknown in ["", "D", "de", "DEU", "EU", "XX", "00", "ZZ"] {
            assert_eq!(Country::parse(unknown), None, "{unknown:?}");
        }
        let number = PhoneNumber::parse("+77011234567").unwrap();
        assert_eq!(number.country(), Country::parse("KZ"));
        assert_eq!(
            PhoneNumber::parse("+8823451234567").unwrap().country(),
            None
        );
    }

    #[test]
    fn ukraine_and_belarus_are_recognised() {
        assert_eq!(
            PhoneNumber::parse("+380501234567").unwrap().region(),
            Some("UA")
        );
        assert_eq!(
            PhoneNumber::parse("+375291234567").unwrap().region(),
            Some("BY")
        );
    }

    #[test]
    fn numbers_are_normalised_to_e164() {
        let n = PhoneNumber::parse(" +44 7911 123456 ".replace(' ', "").as_str()).unwrap();
        assert_eq!(n.as_e164(), "+447911123456");
        assert_eq!(n.digits(), "447911123456");
    }

    #[test]
    fn viber_digits_without_plus_are_accepted_in_callbacks_only() {
        assert_eq!(
            PhoneNumber::parse_viber("380501234567").unwrap().as_e164(),
            "+380501234567"
        );
        assert!(PhoneNumber::parse("380501234567").is_err());
    }

    #[test]
    fn the_plan_types_premium_shared_cost_and_non_geographic_numbers() {
        let kind = |n: &str| {
            let p = PhoneNumber::parse(n).unwrap_or_else(|e| panic!("{n}: {e}"));
            (p.number_type(), p.region().map(str::to_owned))
        };
        assert_eq!(
            kind("+447400123456"),
            (NumberType::Mobile, Some("GB".into()))
        );
        // +44 7911 1… is Guernsey's, not Great Britain's: the plan, not the prefix.
        assert_eq!(
            kind("+447911123456"),
            (NumberType::Mobile, Some("GG".into()))
        );
        assert_eq!(
            kind("+449098790000"),
            (NumberType::PremiumRate, Some("GB".into()))
        );
        assert_eq!(
            kind("+19002345678"),
            (NumberType::PremiumRate, Some("US".into()))
        );
        assert_eq!(
            kind("+448431234567"),
            (NumberType::PremiumRate, Some("GB".into()))
        );
        assert_eq!(
            kind("+33810123456"),
            (NumberType::SharedCost, Some("FR".into()))
        );
        assert_eq!(kind("+443001234567"), (NumberType::Uan, Some("GB".into())));
        assert_eq!(
            kind("+447012345678"),
            (NumberType::PersonalNumber, Some("GB".into()))
        );
        assert_eq!(kind("+2693212345").1, Some("KM".into()));
        for network in [
            "+8823451234567",
            "+883510012345",
            "+881612345678",
            "+870301234567",
        ] {
            assert_eq!(kind(network).1, None, "{network}");
        }
        assert_eq!(NumberType::PremiumRate.as_str(), "premium_rate");
    }

    #[test]
    fn garbage_and_impossible_numbers_are_refused() {
        for bad in [
            " +447911123456",
            "+447911123456 ",
            "",
            "+",
            "+abc",
            "+1234",
            "+0001112223",
            "+3805012345678901",
            "+7 912 345",
        ] {
            let err = PhoneNumber::parse(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_phone", "{bad:?}");
        }
    }
}
