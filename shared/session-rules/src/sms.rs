//! What a business may send by SMS (the SMS failover's policy), decided purely: destinations,
//! sender ids, the length of one SMS in billed parts, and the caps the store enforces.
//!
//! SMS is the channel a leaked API key turns into money (toll fraud, "SMS pumping": texts to
//! premium-rate or high-termination numbers whose revenue the attacker shares). So every failover
//! SMS passes [`SmsPolicy::check`] when the send is accepted and again when the failover is
//! claimed (the operator may have changed the policy meanwhile), and the claim counts it against
//! [`SmsPolicy::max_per_day`] and [`SmsPolicy::max_per_month`] in its own conditional write.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::phone::{NumberType, PhoneNumber};

/// How an SMS text is encoded on the air: GSM 03.38 (7 bits a character, escapes count two)
/// when every character is in its alphabet, else UCS-2 (16 bits a code unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsEncoding {
    Gsm7,
    Ucs2,
}

/// How long an SMS text is in what carriers bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsLength {
    pub encoding: SmsEncoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: u32,
    /// Billed parts: one up to 160 septets / 70 units; beyond, 153 / 67 a part (the rest of
    /// each part is the concatenation header), never splitting an escape or a surrogate pair.
    pub parts: u32,
}

/// The GSM 03.38 default alphabet (one septet each; its escape, 0x1B, is not a character).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                         ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: an escape and the character, two septets each.
const GSM_EXTENSION: &str = "\u{c}^{}\\[~]|€";

fn gsm_septets(c: char) -> Option<u32> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The encoding, length and billed parts of `text`.
pub fn sms_length(text: &str) -> SmsLength {
    let gsm: Option<Vec<u32>> = text.chars().map(gsm_septets).collect();
    let (encoding, widths, single, multi) = match gsm {
        Some(widths) => (SmsEncoding::Gsm7, widths, 160, 153),
        None => (
            SmsEncoding::Ucs2,
            text.chars().map(|c| c.len_utf16() as u32).collect(),
            70,
            67,
        ),
    };
    let units: u32 = widths.iter().sum();
    let parts = if units <= single {
        1
    } else {
        let (mut parts, mut used) = (1, 0);
        for width in widths {
            if used + width > multi {
                parts += 1;
                used = 0;
            }
            used += width;
        }
        parts
    };
    SmsLength {
        encoding,
        units,
        parts,
    }
}

/// The number types no failover SMS goes to: billed above a mobile (premium rate, shared cost,
/// personal numbers that forward at the caller's cost) or not a phone that reads SMS (pager,
/// UAN, voicemail): the ranges toll fraud uses.
pub const REFUSED_NUMBER_TYPES: [NumberType; 6] = [
    NumberType::PremiumRate,
    NumberType::SharedCost,
    NumberType::PersonalNumber,
    NumberType::Pager,
    NumberType::Uan,
    NumberType::Voicemail,
];

/// Countries no failover SMS goes to unless the operator names them
/// ([`SmsPolicy::countries`]): the destinations of the telecom industry's international revenue
/// share fraud (IRSF) high-risk lists, small networks with high termination rates whose number
/// ranges are resold to fraudsters.
pub const DEFAULT_DENIED_COUNTRIES: [&str; 26] = [
    "CK", "CU", "ER", "FK", "GN", "GQ", "GW", "IO", "KI", "KM", "LR", "MR", "NR", "NU", "PG", "SB",
    "SH", "SL", "SO", "ST", "TD", "TK", "TL", "TV", "VU", "WF",
];

/// Defaults, on for every business from the first deploy.
pub const DEFAULT_MAX_PER_DAY: u32 = 1_000;
pub const DEFAULT_MAX_PER_MONTH: u32 = 10_000;
pub const DEFAULT_MAX_PARTS: u32 = 3;
/// The most parts a policy may allow: the longest failover text (1600 characters) in UCS-2.
pub const MAX_PARTS_LIMIT: u32 = 24;

/// A business's SMS policy (`vbmctl business sms`). What is not set is the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SmsPolicy {
    /// ISO 3166-1 alpha-2 countries an SMS may go to. Empty: every country of the business's
    /// Viber traffic (a failover goes to the number its Viber message went to) except
    /// [`DEFAULT_DENIED_COUNTRIES`]; named, only these (a denied one included).
    pub countries: BTreeSet<String>,
    /// The sender ids (origination identities) the operator registered for the business; a
    /// failover naming another is refused. One naming none uses the deployment's default.
    pub senders: BTreeSet<String>,
    /// SMS a UTC day; 0 stops SMS.
    pub max_per_day: u32,
    /// SMS a UTC month.
    pub max_per_month: u32,
    /// Billed parts of one SMS ([`sms_length`]).
    pub max_parts: u32,
}

impl Default for SmsPolicy {
    fn default() -> Self {
        Self {
            countries: BTreeSet::new(),
            senders: BTreeSet::new(),
            max_per_day: DEFAULT_MAX_PER_DAY,
            max_per_month: DEFAULT_MAX_PER_MONTH,
            max_parts: DEFAULT_MAX_PARTS,
        }
    }
}

/// Why the policy refuses an SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsRefusal {
    /// A non-geographic number: international networks (+882, +883), satellite (+881, +870),
    /// universal numbers (+800, +808, +979).
    InternationalNetwork,
    /// A number of a [`REFUSED_NUMBER_TYPES`] type.
    NumberType(NumberType),
    /// Outside the allowed countries (the country's ISO code).
    CountryNotAllowed(String),
    TooManyParts {
        parts: u32,
        max: u32,
    },
    /// A sender id the operator did not register for the business.
    SenderNotRegistered(String),
}

impl SmsRefusal {
    /// The API's stable error code when a send is refused for it.
    pub fn code(&self) -> &'static str {
        match self {
            SmsRefusal::InternationalNetwork
            | SmsRefusal::NumberType(_)
            | SmsRefusal::CountryNotAllowed(_) => "failover_destination_refused",
            SmsRefusal::TooManyParts { .. } => "failover_too_many_parts",
            SmsRefusal::SenderNotRegistered(_) => "failover_sender_id_not_registered",
        }
    }

    /// The request field it is about.
    pub fn field(&self) -> &'static str {
        match self {
            SmsRefusal::InternationalNetwork
            | SmsRefusal::NumberType(_)
            | SmsRefusal::CountryNotAllowed(_) => "to",
            SmsRefusal::TooManyParts { .. } => "failover.sms.text",
            SmsRefusal::SenderNotRegistered(_) => "failover.sms.sender_id",
        }
    }

    /// The reason a refused failover is recorded with (stable, in the message's `failover`
    /// and its `message.failover` event).
    pub fn reason(&self) -> &'static str {
        match self {
            SmsRefusal::InternationalNetwork => "international_network",
            SmsRefusal::NumberType(kind) => kind.as_str(),
            SmsRefusal::CountryNotAllowed(_) => "country_not_allowed",
            SmsRefusal::TooManyParts { .. } => "too_many_parts",
            SmsRefusal::SenderNotRegistered(_) => "sender_not_registered",
        }
    }
}

impl std::fmt::Display for SmsRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmsRefusal::InternationalNetwork => {
                f.write_str("no SMS to international network, satellite or universal numbers")
            }
            SmsRefusal::NumberType(kind) => {
                write!(f, "no SMS to {} numbers", kind.as_str().replace('_', " "))
            }
            SmsRefusal::CountryNotAllowed(country) => write!(
                f,
                "SMS to {country} is not allowed for this business (the operator's \
                 `vbmctl business sms countries`)"
            ),
            SmsRefusal::TooManyParts { parts, max } => write!(
                f,
                "the SMS text is {parts} billed parts; this business may send at most {max}"
            ),
            SmsRefusal::SenderNotRegistered(id) => write!(
                f,
                "sender id {id:?} is not registered for this business (the operator's \
                 `vbmctl business sms sender add`)"
            ),
        }
    }
}

impl SmsPolicy {
    /// Whether an SMS may go to `to`: not a refused type, not a non-geographic number, in the
    /// allowed countries.
    pub fn check_destination(&self, to: &PhoneNumber) -> Result<(), SmsRefusal> {
        let Some(country) = to.region() else {
            return Err(SmsRefusal::InternationalNetwork);
        };
        let kind = to.number_type();
        if REFUSED_NUMBER_TYPES.contains(&kind) {
            return Err(SmsRefusal::NumberType(kind));
        }
        let allowed = if self.countries.is_empty() {
            !DEFAULT_DENIED_COUNTRIES.contains(&country)
        } else {
            self.countries.contains(country)
        };
        if allowed {
            Ok(())
        } else {
            Err(SmsRefusal::CountryNotAllowed(country.to_owned()))
        }
    }

    /// Whether the text and sender id are the business's to send: at most
    /// [`SmsPolicy::max_parts`] parts, a registered sender id (or none). The text's length.
    pub fn check_content(
        &self,
        text: &str,
        sender_id: Option<&str>,
    ) -> Result<SmsLength, SmsRefusal> {
        let length = sms_length(text);
        if length.parts > self.max_parts {
            return Err(SmsRefusal::TooManyParts {
                parts: length.parts,
                max: self.max_parts,
            });
        }
        if let Some(id) = sender_id
            && !self.senders.contains(id)
        {
            return Err(SmsRefusal::SenderNotRegistered(id.to_owned()));
        }
        Ok(length)
    }

    /// Both checks, the destination first.
    pub fn check(
        &self,
        to: &PhoneNumber,
        text: &str,
        sender_id: Option<&str>,
    ) -> Result<SmsLength, SmsRefusal> {
        self.check_destination(to)?;
        self.check_content(text, sender_id)
    }
}

/// An ISO 3166-1 alpha-2 code as policies hold them: two capital letters.
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// The periods an SMS cap counts over (UTC day and month); which cap a claim met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsPeriod {
    Day,
    Month,
}

impl SmsPeriod {
    /// The reason a capped failover is recorded with.
    pub fn cap_reason(self) -> &'static str {
        match self {
            SmsPeriod::Day => "daily_cap",
            SmsPeriod::Month => "monthly_cap",
        }
    }
}

/// What a failover claim counts, against which caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsAllowance {
    /// The SMS's billed parts.
    pub parts: u32,
    pub max_per_day: u32,
    pub max_per_month: u32,
}

impl SmsAllowance {
    pub fn of(policy: &SmsPolicy, parts: u32) -> Self {
        Self {
            parts,
            max_per_day: policy.max_per_day,
            max_per_month: policy.max_per_month,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn phone(n: &str) -> PhoneNumber {
        PhoneNumber::parse(n).unwrap_or_else(|e| panic!("{n}: {e}"))
    }

    #[test]
    fn gsm_and_ucs2_parts_follow_the_segment_sizes() {
        let gsm = |n: usize| sms_length(&"a".repeat(n));
        assert_eq!(gsm(1).parts, 1);
        assert_eq!(gsm(160).parts, 1);
        assert_eq!(gsm(161).parts, 2);
        assert_eq!(gsm(306).parts, 2);
        assert_eq!(gsm(307).parts, 3);
        assert_eq!(gsm(1600).parts, 11);
        assert_eq!(gsm(160).encoding, SmsEncoding::Gsm7);
        let cyrillic = |n: usize| sms_length(&"Ж".repeat(n));
        assert_eq!(cyrillic(70).parts, 1);
        assert_eq!(cyrillic(71).parts, 2);
        assert_eq!(cyrillic(134).parts, 2);
        assert_eq!(cyrillic(135).parts, 3);
        // The pumping example: 1,600 Cyrillic characters are 24 billed parts.
        assert_eq!(cyrillic(1600).parts, 24);
        assert_eq!(cyrillic(1).encoding, SmsEncoding::Ucs2);
    }

    #[test]
    fn escapes_count_two_and_never_split() {
        // `€` is an escape and a character: 80 of them are 160 septets, one part.
        assert_eq!(sms_length(&"€".repeat(80)).units, 160);
        assert_eq!(sms_length(&"€".repeat(80)).parts, 1);
        // 152 septets then an escape: it does not fit the first part's 153, so it starts the
        // second, and the text is three parts where splitting it would make two.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(sms_length(&text).units, 306);
        assert_eq!(sms_length(&text).parts, 3);
        // One non-GSM character makes the whole text UCS-2.
        assert_eq!(sms_length("Hello ☺").encoding, SmsEncoding::Ucs2);
        assert_eq!(sms_length("Hello é").encoding, SmsEncoding::Gsm7);
        // An emoji is a surrogate pair: two units.
        assert_eq!(sms_length("😀").units, 2);
    }

    proptest! {
        #[test]
        fn basic_gsm_text_is_one_part_to_160_then_153_each(n in 1usize..2000) {
            let parts = sms_length(&"x".repeat(n)).parts as usize;
            prop_assert_eq!(parts, if n <= 160 { 1 } else { n.div_ceil(153) });
        }

        #[test]
        fn bmp_text_is_one_part_to_70_then_67_each(n in 1usize..2000) {
            let parts = sms_length(&"ї".repeat(n)).parts as usize;
            prop_assert_eq!(parts, if n <= 70 { 1 } else { n.div_ceil(67) });
        }

        #[test]
        fn a_longer_text_is_never_fewer_parts(
            text in "[a-zA-Z€{}Жї😀 ]{0,400}",
            more in "[a-zA-Z€{}Жї😀 ]{1,40}",
        ) {
            let longer = format!("{text}{more}");
            prop_assert!(sms_length(&longer).parts >= sms_length(&text).parts);
            // Every part holds at most its segment's units.
            let l = sms_length(&longer);
            let per = match l.encoding { SmsEncoding::Gsm7 => 153, SmsEncoding::Ucs2 => 67 };
            prop_assert!(l.parts == 1 || l.units <= l.parts * per);
            prop_assert!(l.units > (l.parts - 1) * (per - 1) || l.parts == 1);
        }
    }

    #[test]
    fn premium_shared_cost_networks_and_denied_countries_are_refused_by_default() {
        let policy = SmsPolicy::default();
        let reason = |n: &str| policy.check_destination(&phone(n)).map_err(|r| r.reason());
        assert_eq!(reason("+447911123456"), Ok(()));
        assert_eq!(reason("+380501234567"), Ok(()));
        assert_eq!(reason("+449098790000"), Err("premium_rate"));
        assert_eq!(reason("+19002345678"), Err("premium_rate"));
        assert_eq!(reason("+33810123456"), Err("shared_cost"));
        assert_eq!(reason("+443001234567"), Err("uan"));
        assert_eq!(reason("+448001234567"), Ok(()));
        assert_eq!(reason("+447012345678"), Err("personal_number"));
        assert_eq!(reason("+2693212345"), Err("country_not_allowed"));
        for network in [
            "+8823451234567",
            "+883510012345",
            "+881612345678",
            "+870301234567",
        ] {
            assert_eq!(reason(network), Err("international_network"), "{network}");
        }
        let refusal = policy.check_destination(&phone("+2693212345")).unwrap_err();
        assert_eq!(refusal.code(), "failover_destination_refused");
        assert_eq!(refusal.field(), "to");
        assert!(refusal.to_string().contains("KM"), "{refusal}");
    }

    #[test]
    fn an_explicit_country_list_allows_only_its_countries_a_denied_one_included() {
        let policy = SmsPolicy {
            countries: ["GB".to_owned(), "KM".to_owned()].into(),
            ..SmsPolicy::default()
        };
        assert_eq!(policy.check_destination(&phone("+2693212345")), Ok(()));
        assert_eq!(policy.check_destination(&phone("+447400123456")), Ok(()));
        assert_eq!(
            policy.check_destination(&phone("+380501234567")),
            Err(SmsRefusal::CountryNotAllowed("UA".into()))
        );
        // A named country never lets a premium number through.
        assert_eq!(
            policy.check_destination(&phone("+449098790000")),
            Err(SmsRefusal::NumberType(NumberType::PremiumRate))
        );
        for country in DEFAULT_DENIED_COUNTRIES {
            assert!(is_country_code(country), "{country}");
        }
    }

    #[test]
    fn parts_and_sender_ids_are_checked_against_the_policy() {
        let policy = SmsPolicy {
            senders: ["Acme".to_owned()].into(),
            ..SmsPolicy::default()
        };
        assert_eq!(policy.check_content("Hi", None).map(|l| l.parts), Ok(1));
        assert!(policy.check_content("Hi", Some("Acme")).is_ok());
        let other = policy.check_content("Hi", Some("HSBC")).unwrap_err();
        assert_eq!(other.code(), "failover_sender_id_not_registered");
        assert_eq!(other.reason(), "sender_not_registered");
        assert_eq!(
            policy
                .check_content(&"a".repeat(459), None)
                .map(|l| l.parts),
            Ok(3)
        );
        let long = policy.check_content(&"Ж".repeat(1600), None).unwrap_err();
        assert_eq!(long, SmsRefusal::TooManyParts { parts: 24, max: 3 });
        assert_eq!(long.code(), "failover_too_many_parts");
        assert_eq!(long.field(), "failover.sms.text");
    }

    #[test]
    fn a_stored_policy_without_members_is_the_default() {
        let policy: SmsPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(policy, SmsPolicy::default());
        let policy: SmsPolicy = serde_json::from_str(r#"{"max_per_day": 5}"#).unwrap();
        assert_eq!(policy.max_per_day, 5);
        assert_eq!(policy.max_parts, DEFAULT_MAX_PARTS);
    }
}
