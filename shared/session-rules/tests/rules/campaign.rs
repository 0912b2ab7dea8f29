//! A campaign's controls, windows and chunks, against the rules written out plainly here:
//! nothing leaves a finished campaign, a control repeated changes nothing, a window is open
//! for one stretch of the local day.

use proptest::prelude::*;
use session_rules::campaign::{
    CHUNK_SIZE, CampaignRecipient, CampaignState, Control, Transition, Window, chunk_count,
    control_target,
};

fn state() -> impl Strategy<Value = CampaignState> {
    prop::sample::select(CampaignState::ALL.to_vec())
}

fn control() -> impl Strategy<Value = Control> {
    prop::sample::select(vec![Control::Pause, Control::Resume, Control::Cancel])
}

/// States no control moves a campaign out of.
fn finished(state: CampaignState) -> bool {
    matches!(
        state,
        CampaignState::Rejected | CampaignState::Completed | CampaignState::Cancelled
    )
}

/// `HH:MM` of a minute of the day (0 to 1440).
fn clock(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

proptest! {
    #[test]
    fn nothing_leaves_a_finished_campaign(
        state in state(), action in control(), started in any::<bool>()
    ) {
        let to = control_target(action, state, started);
        if finished(state) {
            prop_assert!(!matches!(to, Transition::To(_)), "{state:?} {action:?}: {to:?}");
        }
        // A control that writes always writes another state.
        if let Transition::To(next) = to {
            prop_assert_ne!(next, state);
        }
    }

    #[test]
    fn a_control_repeated_changes_nothing(
        state in state(), action in control(), started in any::<bool>()
    ) {
        if let Transition::To(next) = control_target(action, state, started) {
            prop_assert_eq!(control_target(action, next, started), Transition::Already);
        }
    }

    #[test]
    fn an_unfinished_campaign_can_always_be_cancelled(
        state in state(), started in any::<bool>()
    ) {
        let to = control_target(Control::Cancel, state, started);
        match state {
            CampaignState::Cancelled => prop_assert_eq!(to, Transition::Already),
            s if finished(s) => prop_assert_eq!(to, Transition::Impossible),
            _ => prop_assert_eq!(to, Transition::To(CampaignState::Cancelled)),
        }
    }

    #[test]
    fn a_window_is_open_for_one_stretch_of_the_day(
        start in 0u32..=1440,
        end in 0u32..=1440,
        // A minute anywhere, or one at most two minutes from a bound: where an edge is wrong.
        near in prop_oneof![Just(None), (any::<bool>(), -2i64..=2).prop_map(Some)],
        anywhere in 0u32..1440,
    ) {
        let minute = match near {
            None => anywhere,
            Some((at_start, delta)) => {
                let bound = if at_start { start } else { end };
                (i64::from(bound) + delta).rem_euclid(1440) as u32
            }
        };
        let parsed = Window::parse(&clock(start), &clock(end));
        if start == end {
            prop_assert_eq!(parsed.map_err(|e| e.field), Err("window"));
            return Ok(());
        }
        let window = parsed.unwrap();
        prop_assert_eq!(window, Window { start_minute: start, end_minute: end });
        // Open from `start`, for `(end - start) mod 1440` minutes; 0 is the whole day
        // (`00:00-24:00`, `24:00-00:00`).
        let open = (i64::from(end) - i64::from(start % 1440)).rem_euclid(1440);
        let since_start = (i64::from(minute) - i64::from(start % 1440)).rem_euclid(1440);
        prop_assert_eq!(window.contains(minute), open == 0 || since_start < open);
    }

    #[test]
    fn a_window_bound_is_hh_mm_or_refused(
        text in prop_oneof!["[0-9]{2}:[0-9]{2}", "[0-9:+ ]{0,6}"]
    ) {
        let model = text.len() == 5
            && text.as_bytes()[2] == b':'
            && [0, 1, 3, 4].iter().all(|&i| text.as_bytes()[i].is_ascii_digit())
            && {
                let h: u32 = text[..2].parse().unwrap();
                let m: u32 = text[3..].parse().unwrap();
                m < 60 && h * 60 + m <= 1440
            };
        let parsed = Window::parse(&text, "12:34");
        // 12:34 itself is refused as an empty window.
        if text != "12:34" {
            prop_assert_eq!(parsed.is_ok(), model, "{:?}", text);
        }
        if !model {
            prop_assert_eq!(parsed.map_err(|e| e.field), Err("window.start"));
        }
    }

    #[test]
    fn chunks_hold_every_recipient_and_none_is_empty(recipients in 0usize..2_000_000) {
        let chunks = chunk_count(recipients) as usize;
        prop_assert!(chunks * CHUNK_SIZE >= recipients);
        if recipients > 0 {
            prop_assert!((chunks - 1) * CHUNK_SIZE < recipients);
        } else {
            prop_assert_eq!(chunks, 0);
        }
    }
}

#[test]
fn states_read_back_as_written() {
    for state in CampaignState::ALL {
        assert_eq!(CampaignState::parse(state.as_str()), Some(state));
    }
    assert_eq!(CampaignState::parse("Running"), None);
}

#[test]
fn resume_goes_back_where_the_campaign_was() {
    let resume = |started| control_target(Control::Resume, CampaignState::Paused, started);
    assert_eq!(resume(true), Transition::To(CampaignState::Running));
    assert_eq!(resume(false), Transition::To(CampaignState::Scheduled));
    // A list still being prepared is neither paused nor resumed.
    for action in [Control::Pause, Control::Resume] {
        assert_eq!(
            control_target(action, CampaignState::Preparing, false),
            Transition::Impossible
        );
    }
}

#[test]
fn a_recipient_without_params_is_its_number_on_the_wire() {
    let bare = CampaignRecipient {
        to: "+447911123456".into(),
        params: Default::default(),
    };
    let text = serde_json::to_string(&bare).unwrap();
    assert_eq!(text, r#"{"to":"+447911123456"}"#);
    assert_eq!(
        serde_json::from_str::<CampaignRecipient>(&text).unwrap(),
        bare
    );
}
