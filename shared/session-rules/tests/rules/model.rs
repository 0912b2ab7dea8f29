//! Random event sequences through the crate, checked against a reference model written here
//! from the rules' own words (as README.md states them), and against the invariants the product promises.

use std::time::Duration;

use proptest::prelude::*;
use session_rules::{
    Billing, BillingCategory, Conversation, Limits, MessageStatus, Refusal, SendClass, StatusEvent,
    StatusTrack, Timestamp,
};

#[derive(Debug, Clone)]
enum Event {
    UserMessage,
    Send(SendClass),
    Wait(u64),
    OptOut,
    OptIn,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => Just(Event::UserMessage),
        8 => Just(Event::Send(SendClass::Session)),
        1 => Just(Event::Send(SendClass::Informative)),
        1 => Just(Event::Send(SendClass::Promotional)),
        // Seconds: small steps, and steps around the session length.
        2 => prop_oneof![0u64..120, 3_000u64..7_200, 86_399u64..86_401, Just(24 * 3600)].prop_map(Event::Wait),
        1 => Just(Event::OptOut),
        1 => Just(Event::OptIn),
    ]
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        // Smaller numbers reach the edges more often; Viber has used 12 h / 10 before.
        (1u32..12, 1u32..6, 60u64..50_000).prop_map(|(max, consecutive, secs)| Limits {
            session_duration: Duration::from_secs(secs),
            max_session_messages: max,
            max_consecutive: consecutive,
            ..Limits::default()
        }),
    ]
}

/// The rules, written out plainly: a session is `(start, sent, in_a_row)`.
#[derive(Debug, Default)]
struct Model {
    session: Option<(i64, u32, u32)>,
    blocked: bool,
    contacted: bool,
}

impl Model {
    fn session_over(&self, now: i64, l: &Limits) -> bool {
        match self.session {
            None => true,
            Some((start, sent, _)) => {
                now - start >= l.session_duration.as_millis() as i64
                    || sent >= l.max_session_messages
            }
        }
    }

    fn send(&mut self, class: SendClass, now: i64, l: &Limits) -> Result<(), &'static str> {
        if self.blocked {
            return Err("recipient_opted_out");
        }
        if class == SendClass::Promotional && !self.contacted {
            return Err("first_message_promotional");
        }
        if class == SendClass::Session {
            let Some((start, sent, in_a_row)) = self.session else {
                return Err("no_session");
            };
            if now - start >= l.session_duration.as_millis() as i64 {
                return Err("session_expired");
            }
            if sent >= l.max_session_messages {
                return Err("session_limit_reached");
            }
            if in_a_row >= l.max_consecutive {
                return Err("session_locked");
            }
            self.session = Some((start, sent + 1, in_a_row + 1));
        }
        self.contacted = true;
        Ok(())
    }

    fn user(&mut self, now: i64, l: &Limits) {
        self.blocked = false;
        self.contacted = true;
        self.session = match self.session {
            Some((start, sent, _)) if !self.session_over(now, l) => Some((start, sent, 0)),
            _ => Some((now, 0, 0)),
        };
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn crate_agrees_with_the_model_and_keeps_the_promises(
        limits in limits(),
        events in prop::collection::vec(event(), 1..200),
    ) {
        let mut now = Timestamp::from_millis(1_700_000_000_000);
        let mut conversation = Conversation::default();
        let mut model = Model::default();
        // Independent bookkeeping for the invariants.
        let mut session_sends_since_start = 0u32;
        let mut in_a_row = 0u32;
        let mut session_start: Option<Timestamp> = None;

        for event in events {
            match event {
                Event::Wait(secs) => now = now.plus(Duration::from_secs(secs)),
                Event::OptOut => {
                    conversation = conversation.opt_out();
                    model.blocked = true;
                }
                Event::OptIn => {
                    conversation = conversation.opt_in();
                    model.blocked = false;
                }
                Event::UserMessage => {
                    let before = conversation.session;
                    conversation = conversation.user_message(now, &limits);
                    model.user(now.as_millis(), &limits);
                    let after = conversation.session;
                    let restarted = after.map(|s| s.started_at) != before.map(|s| s.started_at)
                        || after.map(|s| s.messages_sent) < before.map(|s| s.messages_sent);
                    if restarted {
                        session_sends_since_start = 0;
                        session_start = Some(now);
                    }
                    in_a_row = 0;
                }
                Event::Send(class) => {
                    let decided = conversation.decide_send(class, now, &limits);
                    let expected = model.send(class, now.as_millis(), &limits);
                    prop_assert_eq!(decided.as_ref().map(|_| ()).map_err(Refusal::code), expected);
                    if let Ok(after) = decided {
                        conversation = after;
                        let category = match class {
                            SendClass::Session => BillingCategory::Session,
                            SendClass::Informative => BillingCategory::TransactionalTemplate,
                            SendClass::Promotional => BillingCategory::Promotional,
                        };
                        let billing = Billing::of_send(category, &after);
                        prop_assert_eq!(billing.category, category);
                        if class == SendClass::Session {
                            session_sends_since_start += 1;
                            in_a_row += 1;
                            let start = session_start.expect("a session send needs a user message first");
                            prop_assert!(now < start.plus(limits.session_duration));
                            // Billed: the session's first business reply, and only it.
                            prop_assert_eq!(billing.billable, session_sends_since_start == 1);
                        } else {
                            prop_assert!(billing.billable);
                        }
                    }
                }
            }
            prop_assert!(session_sends_since_start <= limits.max_session_messages);
            prop_assert!(in_a_row <= limits.max_consecutive);
            prop_assert_eq!(
                conversation.session.map(|s| (s.started_at.as_millis(), s.messages_sent, s.consecutive)),
                model.session
            );
            prop_assert_eq!(conversation.opted_out, model.blocked);
            let snapshot = conversation.snapshot(now, &limits);
            prop_assert_eq!(snapshot.can_send_session, conversation.decide_send(SendClass::Session, now, &limits).is_ok());
        }
    }

    #[test]
    fn status_is_the_first_arrival_of_the_highest_rank(
        arrivals in prop::collection::vec(prop::sample::select(MessageStatus::ALL.to_vec()), 0..20),
    ) {
        let mut track = StatusTrack::accepted(Timestamp::from_millis(0));
        let mut previous_rank = 0;
        for (i, status) in arrivals.iter().enumerate() {
            track.apply(StatusEvent { status: *status, at: Timestamp::from_millis(i as i64 + 1) });
            prop_assert!(track.current.rank() >= previous_rank, "moved backwards");
            previous_rank = track.current.rank();
        }
        // Reference: every status ever told, the first one of the top rank wins.
        let told: Vec<MessageStatus> = std::iter::once(MessageStatus::Accepted).chain(arrivals.iter().copied()).collect();
        let top = told.iter().map(|s| s.rank()).max().unwrap_or(0);
        let expected = told.iter().find(|s| s.rank() == top).copied().unwrap_or(MessageStatus::Accepted);
        prop_assert_eq!(track.current, expected);
        prop_assert_eq!(track.history.len(), arrivals.len() + 1);
        let kept: Vec<MessageStatus> = track.history.iter().map(|e| e.status).collect();
        prop_assert_eq!(kept, told);
    }

    #[test]
    fn any_template_text_round_trips_through_fill_and_render(
        words in prop::collection::vec("[a-zA-Zа-я ]{0,8}", 1..5),
        names in prop::collection::vec("[a-z_]{1,6}", 1..4),
        values in prop::collection::vec("[A-Za-z0-9Ёё]{1,20}", 4),
    ) {
        use session_rules::{Language, Template, TemplateCategory, TemplateId, TemplateParams};
        let mut text = String::from("x");
        let mut expected = String::from("x");
        let mut params = std::collections::BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            let word = &words[i % words.len()];
            let value = params.entry(name.clone()).or_insert_with(|| values[i % values.len()].clone()).clone();
            text.push_str(word);
            text.push_str(&format!("{{{{{name}}}}}"));
            expected.push_str(word);
            expected.push_str(&value);
        }
        let t = Template::parse(TemplateId::parse("t").unwrap(), Language::parse("en").unwrap(), TemplateCategory::Transactional, true, &text).unwrap();
        let filled = TemplateParams::fill(&t, &params).unwrap();
        prop_assert_eq!(filled.render(&t), expected);
    }
}
