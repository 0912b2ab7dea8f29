//! `PhoneNumber` against the `phonenumber` crate it replaced (libphonenumber's Rust port, kept
//! as a dev-dependency for this): on every region's example numbers, their variations and
//! random numbers, both must accept the same numbers, as the same E.164 text, country and number
//! type (premium rate, mobile, ...: what the SMS policy refuses numbers by).

use phonenumber::metadata::DATABASE;
use proptest::prelude::*;
use session_rules::PhoneNumber;

/// E.164, country, number type (`None` where the `phonenumber` crate's `number_type` cannot be
/// the reference: it types the national number without its leading zeros, so Italy's
/// `+39 0899…`, a Salerno line, comes out premium rate like `+39 899…`, while its own
/// `is_valid` and ours keep the zeros).
type Parsed = (String, Option<String>, Option<&'static str>);

/// What the previous `PhoneNumber::parse_international` made of `+digits`: its E.164 form,
/// region and type, or a refusal.
fn reference(input: &str) -> Option<Parsed> {
    let digits = &input[1..];
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let parsed = phonenumber::parse(None, input).ok()?;
    if !phonenumber::is_valid(&parsed) {
        return None;
    }
    let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
    let region = parsed.country().id().map(|id| id.as_ref().to_owned());
    use phonenumber::Type;
    if parsed.national().zeros() > 0 {
        return Some((e164, region, None));
    }
    let kind = match parsed.number_type(&DATABASE) {
        Type::PremiumRate => "premium_rate",
        Type::TollFree => "toll_free",
        Type::SharedCost => "shared_cost",
        Type::Voip => "voip",
        Type::PersonalNumber => "personal_number",
        Type::Pager => "pager",
        Type::Uan => "uan",
        Type::Voicemail => "voicemail",
        // Ours is the first type that matches, and fixed line comes before mobile.
        Type::FixedLine | Type::FixedLineOrMobile => "fixed_line",
        Type::Mobile => "mobile",
        other => panic!("{input}: a valid number of type {other:?}"),
    };
    let kind = Some(kind);
    Some((e164, region, kind))
}

fn ours(input: &str) -> Option<Parsed> {
    let api = PhoneNumber::parse(input);
    let viber = PhoneNumber::parse_viber(&input[1..]);
    assert_eq!(api, viber, "{input}: the API's and Viber's forms differ");
    if let Err(refusal) = &api {
        assert_eq!(refusal.code(), "invalid_phone", "{input}");
    }
    api.ok().map(|n| {
        (
            n.as_e164().to_owned(),
            n.region().map(str::to_owned),
            Some(n.number_type().as_str()),
        )
    })
}

fn agree(input: &str) -> Result<(), String> {
    let (expected, mut actual) = (reference(input), ours(input));
    if let (Some((_, _, None)), Some(ours)) = (&expected, &mut actual) {
        ours.2 = None;
    }
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "{input}: phonenumber {expected:?}, ours {actual:?}"
        ))
    }
}

/// Every region's calling code and example numbers (one per number type it has).
fn examples() -> Vec<(u16, String, Option<String>)> {
    let mut out = Vec::new();
    for code in 1..=999u16 {
        for meta in DATABASE.by_code(&code).unwrap_or_default() {
            let d = meta.descriptors();
            let types = [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ];
            for example in types.into_iter().flatten().filter_map(|t| t.example()) {
                out.push((
                    code,
                    example.to_owned(),
                    meta.national_prefix().map(str::to_owned),
                ));
            }
        }
    }
    out
}

/// The example, then the ways a number goes wrong or differs: a digit changed at each place,
/// one cut off, one added, the national prefix or a zero written after the code.
fn variations(code: u16, example: &str, national_prefix: Option<&str>) -> Vec<String> {
    let mut out = vec![format!("+{code}{example}")];
    let bytes = example.as_bytes();
    for i in 0..bytes.len() {
        for shift in [1, 5] {
            let mut changed = bytes.to_vec();
            changed[i] = b'0' + (changed[i] - b'0' + shift) % 10;
            out.push(format!("+{code}{}", String::from_utf8_lossy(&changed)));
        }
    }
    out.push(format!("+{code}{}", &example[..example.len() - 1]));
    out.push(format!("+{code}{example}0"));
    out.push(format!("+{code}{example}9"));
    out.push(format!("+{code}0{example}"));
    if let Some(prefix) = national_prefix {
        out.push(format!("+{code}{prefix}{example}"));
    }
    out
}

#[test]
fn every_regions_examples_and_their_variations_agree() {
    let mut checked = 0;
    let mut accepted = 0;
    let mut disagreements = Vec::new();
    for (code, example, prefix) in examples() {
        for input in variations(code, &example, prefix.as_deref()) {
            checked += 1;
            accepted += usize::from(reference(&input).is_some());
            if let Err(e) = agree(&input) {
                disagreements.push(e);
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {checked} differ, e.g. {:#?}",
        disagreements.len(),
        &disagreements[..disagreements.len().min(20)]
    );
    // A sample the reference mostly refused would prove little.
    assert!(
        checked > 20_000 && accepted > checked / 5,
        "{accepted} of {checked}"
    );
}

#[test]
fn the_cases_the_rules_single_out() {
    for (input, region) in [
        ("+77011234567", Some("KZ")),
        ("+77272588300", Some("KZ")),
        ("+79123456789", Some("RU")),
        ("+74951234567", Some("RU")),
        ("+380501234567", Some("UA")),
        ("+375291234567", Some("BY")),
        ("+447911123456", Some("GG")), // libphonenumber places 7911 in Guernsey
        ("+442071234567", Some("GB")),
        ("+12015550123", Some("US")),
        ("+80012345678", None),
    ] {
        assert_eq!(agree(input), Ok(()));
        assert_eq!(
            PhoneNumber::parse(input)
                .ok()
                .and_then(|n| n.region().map(str::to_owned)),
            region.map(str::to_owned),
            "{input}"
        );
    }
}

fn calling_codes() -> Vec<u16> {
    (1..=999u16)
        .filter(|c| DATABASE.by_code(c).is_some())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    /// A known calling code and any digits after it.
    #[test]
    fn numbers_after_a_calling_code_agree(
        code in proptest::sample::select(calling_codes()),
        rest in "[0-9]{0,14}",
    ) {
        let input = format!("+{code}{rest}");
        prop_assert_eq!(agree(&input), Ok(()));
    }

    /// Any digits at all, calling code or not.
    #[test]
    fn any_digits_agree(digits in "[0-9]{1,16}") {
        prop_assert_eq!(agree(&format!("+{digits}")), Ok(()));
    }
}
