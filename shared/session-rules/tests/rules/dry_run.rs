//! The dry run's decision is the real send's: over random conversations (built by random user
//! messages, sends, waits and opt-outs through the crate) and a random request, what
//! `Conversation::preview_send` answers is what a real send then does on the same state:
//! accepted or the same refusal, the same conversation after, the same billing and session.

use std::time::Duration;

use proptest::prelude::*;
use session_rules::{Billing, BillingCategory, Conversation, Limits, SendClass, Timestamp};

#[derive(Debug, Clone)]
enum Step {
    UserMessage,
    Send(SendClass),
    Wait(u64),
    OptOut,
    OptIn,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::UserMessage),
        6 => Just(Step::Send(SendClass::Session)),
        1 => Just(Step::Send(SendClass::Informative)),
        1 => Just(Step::Send(SendClass::Promotional)),
        2 => prop_oneof![0u64..120, 3_000u64..7_200, 86_399u64..86_401].prop_map(Step::Wait),
        1 => Just(Step::OptOut),
        1 => Just(Step::OptIn),
    ]
}

fn request() -> impl Strategy<Value = (SendClass, BillingCategory)> {
    prop_oneof![
        Just((SendClass::Session, BillingCategory::Session)),
        Just((
            SendClass::Informative,
            BillingCategory::TransactionalTemplate
        )),
        Just((SendClass::Informative, BillingCategory::Otp)),
        Just((SendClass::Promotional, BillingCategory::Promotional)),
    ]
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (1u32..12, 1u32..6, 60u64..50_000).prop_map(|(max, consecutive, secs)| Limits {
            session_duration: Duration::from_secs(secs),
            max_session_messages: max,
            max_consecutive: consecutive,
            ..Limits::default()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_dry_run_answers_what_the_real_send_then_does(
        limits in limits(),
        steps in prop::collection::vec(step(), 0..40),
        (class, category) in request(),
        wait in 0u64..200_000,
    ) {
        let mut now = Timestamp::from_millis(1_780_000_000_000);
        let mut c = Conversation::default();
        for s in steps {
            match s {
                Step::UserMessage => c = c.user_message(now, &limits),
                Step::Send(class) => c = c.decide_send(class, now, &limits).unwrap_or(c),
                Step::Wait(secs) => now = now.plus(Duration::from_secs(secs)),
                Step::OptOut => c = c.opt_out(),
                Step::OptIn => c = c.opt_in(),
            }
        }
        now = now.plus(Duration::from_millis(wait));
        let unchanged = c;

        let dry = c.preview_send(class, category, now, &limits);
        // The dry run changed nothing: the real send meets the same conversation.
        prop_assert_eq!(c, unchanged);
        prop_assert_eq!(&dry.before, &c.snapshot(now, &limits));

        let real = c.decide_send(class, now, &limits);
        match real {
            Ok(after) => {
                prop_assert_eq!(dry.decision, Ok(()));
                prop_assert_eq!(dry.conversation_after, after);
                prop_assert_eq!(&dry.after, &after.snapshot(now, &limits));
                // The billing the real send records (`Billing::of_send` on the state it leaves).
                prop_assert_eq!(dry.billing, Billing::of_send(category, &after));
            }
            Err(refusal) => {
                prop_assert_eq!(dry.decision, Err(refusal));
                prop_assert_eq!(dry.conversation_after, c);
                prop_assert_eq!(&dry.after, &dry.before);
            }
        }
    }
}
