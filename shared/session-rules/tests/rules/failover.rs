//! SMS failover's rules against the same rules written out plainly here: which Viber codes
//! trigger it, what an SMS text and a sender id may be, where a failover's text and sender id
//! come from, and when a trigger may start one.

use proptest::prelude::*;
use regex_lite::Regex;
use serde_json::json;
use session_rules::failover::{
    FailoverPolicy, FailoverRecord, FailoverRequest, FailoverSms, FailoverSpec, FailoverState,
    FailoverStep, MAX_SMS_TEXT, Trigger, Triggers, check_sender_id, check_sms_text,
};
use session_rules::sms::SmsPeriod;

fn trigger() -> impl Strategy<Value = Trigger> {
    prop::sample::select(Trigger::ALL.to_vec())
}

fn triggers() -> impl Strategy<Value = Triggers> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(1u32..=900),
    )
        .prop_map(
            |(not_viber_user, no_suitable_device, expired, deadline_seconds)| Triggers {
                not_viber_user,
                no_suitable_device,
                expired,
                deadline_seconds,
            },
        )
}

fn state() -> impl Strategy<Value = Option<FailoverState>> {
    prop::option::of(prop::sample::select(vec![
        FailoverState::Claimed,
        FailoverState::Sending,
        FailoverState::Sent,
        FailoverState::Delivered,
        FailoverState::Failed,
        FailoverState::Refused,
    ]))
}

/// Texts near the rule's edges: blanks, control characters, line breaks, lengths about
/// [`MAX_SMS_TEXT`] in characters of one and of several bytes.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ a-z\n\r\t\u{0}\u{7f}é€]{0,12}",
        (
            1usize..=3,
            1595usize..1605,
            prop::sample::select(vec!['a', 'é', '€'])
        )
            .prop_map(|(lead, len, c)| " ".repeat(lead) + &c.to_string().repeat(len)),
    ]
}

fn sender_id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9]{0,13}",
        "\\+[0-9]{6,17}",
        "[A-Za-z0-9 +_-]{0,12}",
        "[+ÄÉ0-9]{1,9}"
    ]
}

proptest! {
    #[test]
    fn only_viber_codes_9_and_10_trigger_a_failover(
        // Viber's codes are small: most cases among them.
        code in prop_oneof![1 => any::<i64>(), 3 => -2i64..20]
    ) {
        let expected = match code {
            9 => Some(Trigger::NotViberUser),
            10 => Some(Trigger::NoSuitableDevice),
            _ => None,
        };
        prop_assert_eq!(Trigger::of_viber_status(code), expected);
    }

    #[test]
    fn a_trigger_reads_back_only_from_its_name(input in "[a-z_]{0,20}", t in trigger()) {
        prop_assert_eq!(Trigger::parse(t.as_str()), Some(t));
        if let Some(parsed) = Trigger::parse(&input) {
            prop_assert_eq!(parsed.as_str(), input.as_str());
        }
    }

    #[test]
    fn an_sms_text_is_not_blank_at_most_1600_characters_without_controls(text in text()) {
        let model = !text.trim().is_empty()
            && text.chars().count() <= MAX_SMS_TEXT
            && text.chars().all(|c| !c.is_control() || c == '\n' || c == '\r');
        let checked = check_sms_text(&text);
        prop_assert_eq!(checked.is_ok(), model, "{:?}", text);
        if let Err(invalid) = checked {
            prop_assert_eq!(invalid.code, "failover_text_invalid");
            prop_assert_eq!(invalid.field, "failover.sms.text");
        }
    }

    #[test]
    fn a_sender_id_is_11_letters_and_digits_or_an_e164_number(id in sender_id()) {
        let model = Regex::new(r"^(?:[A-Za-z0-9]{1,11}|\+[0-9]{8,15})$").unwrap();
        let checked = check_sender_id(&id);
        prop_assert_eq!(checked.is_ok(), model.is_match(&id), "{:?}", id);
        if let Err(invalid) = checked {
            prop_assert_eq!(invalid.code, "failover_sender_id_invalid");
        }
    }

    #[test]
    fn a_request_is_its_checked_members(text in prop::option::of(text()), id in prop::option::of(sender_id())) {
        let mut sms = serde_json::Map::new();
        if let Some(t) = &text {
            sms.insert("text".into(), json!(t));
        }
        if let Some(i) = &id {
            sms.insert("sender_id".into(), json!(i));
        }
        let parsed = FailoverRequest::parse(&json!({ "sms": sms }));
        let text_ok = text.as_deref().is_none_or(|t| check_sms_text(t).is_ok());
        let id_ok = id.as_deref().is_none_or(|i| check_sender_id(i).is_ok());
        match parsed {
            Ok(request) => {
                prop_assert!(text_ok && id_ok);
                prop_assert_eq!(request, FailoverRequest { text, sender_id: id });
            }
            // The text is checked first.
            Err(invalid) if !text_ok => prop_assert_eq!(invalid.code, "failover_text_invalid"),
            Err(invalid) => {
                prop_assert!(!id_ok);
                prop_assert_eq!(invalid.code, "failover_sender_id_invalid");
            }
        }
    }

    #[test]
    fn the_send_then_the_template_then_the_business_decide(
        own in prop::option::of((prop::option::of("[a-z]{1,5}"), prop::option::of("[A-Z]{1,5}"))),
        template_text in prop::option::of("[a-z]{1,5}"),
        policy in prop::option::of((
            any::<bool>(), prop::option::of("[a-z]{1,5}"), prop::option::of("[A-Z]{1,5}"), triggers()
        )),
    ) {
        let request = own.clone().map(|(text, sender_id)| FailoverRequest { text, sender_id });
        let policy = policy.map(|(always, text, sender_id, triggers)| FailoverPolicy {
            always,
            text,
            sender_id,
            triggers,
            template_texts: Default::default(),
        });
        let resolved =
            FailoverSpec::resolve(request.as_ref(), template_text.clone(), policy.as_ref());
        let fails_over = request.is_some() || policy.as_ref().is_some_and(|p| p.always);
        if !fails_over {
            prop_assert_eq!(resolved, Ok(None));
            return Ok(());
        }
        let own_text = request.as_ref().and_then(|r| r.text.clone());
        let text = own_text
            .or(template_text)
            .or_else(|| policy.as_ref().and_then(|p| p.text.clone()));
        let Some(text) = text else {
            prop_assert_eq!(resolved.map_err(|e| e.code), Err("failover_text_missing"));
            return Ok(());
        };
        let sender_id = request
            .as_ref()
            .and_then(|r| r.sender_id.clone())
            .or_else(|| policy.as_ref().and_then(|p| p.sender_id.clone()));
        prop_assert_eq!(resolved, Ok(Some(FailoverSpec {
            sms: FailoverSms { text, sender_id },
            triggers: policy.map(|p| p.triggers).unwrap_or_default(),
        })));
    }

    #[test]
    fn only_an_unclaimed_failover_whose_trigger_is_on_fires(
        state in state(), triggers in triggers(), trigger in trigger()
    ) {
        let record = FailoverRecord {
            spec: FailoverSpec {
                sms: FailoverSms { text: "Hi".into(), sender_id: None },
                triggers,
            },
            state,
            trigger: None,
            attempts: 0,
            lease_until: None,
            sms_message_id: None,
            reason: None,
            at: None,
        };
        let on = match trigger {
            Trigger::NotViberUser => triggers.not_viber_user,
            Trigger::NoSuitableDevice => triggers.no_suitable_device,
            Trigger::Expired => triggers.expired,
            Trigger::Deadline => triggers.deadline_seconds.is_some(),
        };
        prop_assert_eq!(record.fires(trigger), state.is_none() && on);
    }
}

#[test]
fn triggers_left_out_are_the_defaults() {
    let stored: Triggers = serde_json::from_str(r#"{"deadline_seconds": 60}"#).unwrap();
    assert_eq!(
        stored,
        Triggers {
            deadline_seconds: Some(60),
            ..Triggers::default()
        }
    );
    let policy: FailoverPolicy = serde_json::from_str("{}").unwrap();
    assert_eq!(policy, FailoverPolicy::default());
    assert!(!policy.always && policy.triggers.allows(Trigger::Expired));
}

#[test]
fn states_and_steps_read_back_as_written() {
    for state in [
        FailoverState::Claimed,
        FailoverState::Sending,
        FailoverState::Sent,
        FailoverState::Delivered,
        FailoverState::Failed,
        FailoverState::Refused,
    ] {
        assert_eq!(FailoverState::parse(state.as_str()), Some(state));
    }
    for step in [
        FailoverStep::Triggered,
        FailoverStep::Sent,
        FailoverStep::Delivered,
        FailoverStep::Failed,
        FailoverStep::Refused,
    ] {
        assert_eq!(FailoverStep::parse(step.as_str()), Some(step));
        // History entries of steps are told apart from statuses by their prefix.
        assert!(step.as_str().starts_with("failover_"));
    }
}

#[test]
fn each_cap_has_its_reason() {
    assert_eq!(SmsPeriod::Day.cap_reason(), "daily_cap");
    assert_eq!(SmsPeriod::Month.cap_reason(), "monthly_cap");
}
