//! libphonenumber's parsing and validity check for a number in international form ('+' and
//! digits), over the metadata table in `metadata.rs`.
//!
//! A port of what `phonenumber::parse(None, ..)`, `phonenumber::is_valid` and
//! `PhoneNumber::country().id()` do with such input, step for step (including their quirks:
//! a reference test compares the two on a large sample). The difference is the cost: that crate
//! parses every pattern of every region at its first number (0.1-0.4 s, the whole first event
//! of a cold Lambda); here a pattern is compiled, with `regex-lite` (already linked through the
//! AWS SDK), the first time a number needs it, so a number costs only its own country's few.

use std::sync::OnceLock;

use regex_lite::{Regex, RegexBuilder};

use super::NumberType;
use super::metadata::{CODES, PATTERN_COUNT, PATTERNS, REGIONS};

/// One number type's pattern (an index into `PATTERNS`) and the lengths it allows.
pub(super) struct Desc(pub u16, pub &'static [u16]);

/// One region's metadata: the fields parsing and validation read.
pub(super) struct Region {
    /// ISO 3166-1 alpha-2, `None` for the non-geographic codes ("001").
    pub country: Option<&'static str>,
    pub leading_digits: Option<u16>,
    pub national_prefix: Option<&'static str>,
    pub prefix_for_parsing: Option<u16>,
    pub transform: Option<&'static str>,
    pub general: Desc,
    pub local_lengths: &'static [u16],
    /// Premium rate, toll free, shared cost, VoIP, personal, pager, UAN, voicemail, fixed
    /// line, mobile: those the region has, in that order.
    pub types: &'static [(NumberType, Desc)],
}

/// Why a number is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Invalid {
    TooShort,
    TooLong,
    UnknownCallingCode,
    NotANumber,
    NotInPlan,
}

/// A valid number: its E.164 form, its country and its type.
#[derive(Debug)]
pub(super) struct Parsed {
    pub e164: String,
    pub country: Option<&'static str>,
    pub kind: NumberType,
}

/// libphonenumber's shortest and longest national significant numbers.
const MIN_NSN: usize = 2;
const MAX_NSN: usize = 17;

static COMPILED: [OnceLock<Regex>; PATTERN_COUNT] = [const { OnceLock::new() }; PATTERN_COUNT];

fn regex(pattern: u16) -> &'static Regex {
    let i = usize::from(pattern);
    COMPILED[i].get_or_init(|| {
        RegexBuilder::new(PATTERNS[i])
            .ignore_whitespace(true)
            .build()
            // Compiled-in data, every pattern compiled by a unit test.
            .expect("libphonenumber pattern compiles")
    })
}

/// The end of the pattern's leftmost match, when that match starts at the beginning.
fn match_at_start(pattern: u16, value: &str) -> Option<usize> {
    regex(pattern)
        .find(value)
        .filter(|m| m.start() == 0)
        .map(|m| m.end())
}

fn is_match(desc: &Desc, value: &str) -> bool {
    let length_allowed = desc.1.is_empty() || desc.1.iter().any(|&l| usize::from(l) == value.len());
    length_allowed && match_at_start(desc.0, value).is_some()
}

/// `number_type(..)`: the first type whose pattern matches, `None` for `Unknown`.
fn number_type(region: &Region, national: &str) -> Option<NumberType> {
    if !is_match(&region.general, national) {
        return None;
    }
    region
        .types
        .iter()
        .find(|(_, desc)| is_match(desc, national))
        .map(|(kind, _)| *kind)
}

/// `number_type(..) != Unknown`.
fn has_type(region: &Region, national: &str) -> bool {
    number_type(region, national).is_some()
}

/// The regions of a calling code, the main country first; empty for an unknown code.
fn regions_of(code: u16) -> &'static [Region] {
    match CODES.binary_search_by_key(&code, |&(c, _, _)| c) {
        Ok(i) => {
            let (_, first, end) = CODES[i];
            &REGIONS[usize::from(first)..usize::from(end)]
        }
        Err(_) => &[],
    }
}

/// Whether some region of the plan is the country `code` (ISO 3166-1 alpha-2).
pub(super) fn is_country(code: &str) -> bool {
    REGIONS.iter().any(|region| region.country == Some(code))
}

/// Which region's metadata applies to a national number (`validator::source_for`).
fn source_for<'r>(regions: &'r [Region], national: &str) -> Option<&'r Region> {
    if let [only] = regions {
        return Some(only);
    }
    regions.iter().find(|region| match region.leading_digits {
        Some(pattern) => match_at_start(pattern, national).is_some(),
        None => has_type(region, national),
    })
}

/// Strips a national prefix (and applies the transform rule) as `helper::national_number`.
fn strip_national_prefix(region: &Region, national: &str) -> String {
    let Some(pattern) = region.prefix_for_parsing else {
        return match region.national_prefix {
            Some(prefix) => national.strip_prefix(prefix).unwrap_or(national).to_owned(),
            None => national.to_owned(),
        };
    };
    let parsing = regex(pattern);
    let Some(end) = match_at_start(pattern, national) else {
        return national.to_owned();
    };
    let viable = is_match(&region.general, national);
    let last_group = parsing
        .captures(national)
        .and_then(|c| c.get(c.len() - 1).map(|m| m.as_str().len()));
    match (region.transform, last_group) {
        (Some(transform), Some(_)) => {
            let transformed = parsing.replace(national, transform).into_owned();
            if viable && !is_match(&region.general, &transformed) {
                national.to_owned()
            } else {
                transformed
            }
        }
        // (phonenumber's check here compares the number with itself: it always strips.)
        _ => national[end..].to_owned(),
    }
}

/// Shorter than every length of the region (`validator::length(..) == TooShort`).
fn too_short(region: &Region, national: &str) -> bool {
    let len = national.len();
    let Some(&min) = region.general.1.first() else {
        return false;
    };
    !region.local_lengths.iter().any(|&l| usize::from(l) == len) && len < usize::from(min)
}

/// Parses `digits`, the number after its '+' (ASCII digits, at most 15, checked by the caller).
pub(super) fn parse(digits: &str) -> Result<Parsed, Invalid> {
    if digits.len() <= MIN_NSN {
        return Err(Invalid::TooShort);
    }
    if digits.starts_with('0') {
        return Err(Invalid::UnknownCallingCode);
    }
    // The first of its 1-3 leading digits that is a calling code.
    let (code, regions, rest) = (1..=3)
        .find_map(|len| {
            let code: u16 = digits[..len].parse().ok()?;
            let regions = regions_of(code);
            (!regions.is_empty()).then(|| (code, regions, &digits[len..]))
        })
        .ok_or(Invalid::UnknownCallingCode)?;

    let mut national = rest.to_owned();
    if let Some(region) = source_for(regions, rest.trim_start_matches('0')) {
        let mut potential = strip_national_prefix(region, rest);
        if let Some(prefix) = region.national_prefix
            && let Some(stripped) = potential.strip_prefix(prefix)
        {
            potential = stripped.to_owned();
        }
        if !too_short(region, &potential) {
            national = potential;
        }
    }
    if national.len() < MIN_NSN {
        return Err(Invalid::TooShort);
    }
    if national.len() > MAX_NSN {
        return Err(Invalid::TooLong);
    }
    // phonenumber keeps the number as leading zeros and a u64 below 2^56.
    let significant = national.trim_start_matches('0');
    let value: u64 = significant.parse().map_err(|_| Invalid::NotANumber)?;
    if value >= 1 << 56 {
        return Err(Invalid::TooLong);
    }

    let kind = source_for(regions, &national)
        .and_then(|r| number_type(r, &national))
        .ok_or(Invalid::NotInPlan)?;
    Ok(Parsed {
        country: source_for(regions, significant).and_then(|r| r.country),
        e164: format!("+{code}{national}"),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles_with_regex_lite() {
        assert!(u16::try_from(PATTERN_COUNT).is_ok());
        for pattern in PATTERNS {
            let built = RegexBuilder::new(pattern).ignore_whitespace(true).build();
            assert!(built.is_ok(), "{pattern}: {built:?}");
        }
    }

    #[test]
    fn every_country_is_two_capital_letters() {
        // `PhoneNumber` keeps the country as two bytes.
        for region in &REGIONS {
            if let Some(country) = region.country {
                assert!(
                    country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase()),
                    "{country:?}"
                );
            }
        }
    }

    #[test]
    fn calling_codes_are_sorted_and_cover_every_region_once() {
        assert!(CODES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(CODES.first().map(|c| c.1), Some(0));
        assert!(CODES.windows(2).all(|w| w[0].2 == w[1].1));
        assert_eq!(CODES.last().map(|c| usize::from(c.2)), Some(REGIONS.len()));
    }

    #[test]
    fn a_number_compiles_only_its_own_countrys_patterns() {
        assert!(parse("380501234567").is_ok());
        let compiled = COMPILED.iter().filter(|c| c.get().is_some()).count();
        // Other tests in this process parse a few more countries' numbers; still a small part
        // of the table, all of which the `phonenumber` crate parses at its first number.
        assert!(
            compiled < PATTERN_COUNT / 10,
            "{compiled} of {PATTERN_COUNT}"
        );
    }
}
