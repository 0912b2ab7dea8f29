//! A phone number from the business API (`to`) or a Viber callback (`phone_number`), and the
//! country rule that follows from it.
//!
//! Input: the bytes as the number's text (lossy UTF-8: JSON strings are UTF-8 anyway).

use session_rules::{Limits, PhoneNumber, SendClass, SendRequest, SendRequestBody};

/// Calling codes of the regions the rules single out; a region the library names must agree.
const CALLING_CODES: [(&str, &str); 4] =
    [("RU", "+7"), ("KZ", "+7"), ("UA", "+380"), ("BY", "+375")];

pub fn check(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    let api = PhoneNumber::parse(&input);
    let viber = PhoneNumber::parse_viber(&input);

    if !input.trim().starts_with('+') {
        assert!(api.is_err(), "the API took {input:?} without a leading '+'");
    }
    // Viber's form accepts everything the API's does, as the same number.
    if let Ok(number) = &api {
        assert_eq!(viber.as_ref().ok(), Some(number), "{input:?}");
    }
    // Each distinct number once (the API's, when there is one, is Viber's): libphonenumber's
    // parsing is what this target spends its time on.
    match &viber {
        Ok(number) => check_number(number),
        Err(refusal) => assert_eq!(refusal.code(), "invalid_phone", "{input:?}"),
    }
    if let Err(refusal) = &api {
        assert_eq!(refusal.code(), "invalid_phone", "{input:?}");
    }
}

fn check_number(number: &PhoneNumber) {
    let e164 = number.as_e164();
    let digits = e164.strip_prefix('+').unwrap_or_default();
    assert!(
        (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
        "not E.164: {e164:?}"
    );
    assert_eq!(number.digits(), digits);
    assert_eq!(number.to_string(), e164);
    // Formatting and parsing again is the identity, in both input forms.
    assert_eq!(PhoneNumber::parse(e164).as_ref(), Ok(number), "{e164}");
    assert_eq!(
        PhoneNumber::parse_viber(digits).as_ref(),
        Ok(number),
        "{e164}"
    );
    assert_eq!(
        serde_json::to_value(number).ok(),
        Some(serde_json::Value::String(e164.to_owned()))
    );

    if let Some(region) = number.region() {
        assert!(
            region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase()),
            "region {region:?} of {e164}"
        );
        for (name, code) in CALLING_CODES {
            if region == name {
                assert!(e164.starts_with(code), "{e164} placed in {region}");
            }
        }
    }
    let regulated = number
        .region()
        .is_some_and(|r| super::REGULATED.contains(&r));
    assert_eq!(
        session_rules::regulation::is_regulated(number),
        regulated,
        "{e164}"
    );
    check_transactional_to(number, regulated);
}

/// A plain transactional text to the number goes unless its country demands a template.
fn check_transactional_to(number: &PhoneNumber, regulated: bool) {
    let body = SendRequestBody {
        to: number.as_e164().to_owned(),
        kind: "transactional".into(),
        text: Some("Your code is 1234".into()),
        ..Default::default()
    };
    let request = match SendRequest::parse(&body, &Limits::default()) {
        Ok(request) => request,
        Err(refusal) => panic!("a valid number in a valid request was refused: {refusal}"),
    };
    assert_eq!(&request.to, number);
    // With the business's opt-in: what is left is the regulation's refusal.
    match request.admit(None, session_rules::LegacyTransactional::Allowed) {
        Ok(admission) => {
            assert!(!regulated, "plain transactional text admitted to {number}");
            assert_eq!(admission.class, SendClass::Informative);
        }
        Err(refusal) => {
            assert!(regulated, "{number} refused: {refusal}");
            assert_eq!(refusal.code(), "template_required");
        }
    }
}
