//! A chunk job's decisions, without I/O: what the content rules and the delivery windows make
//! of the chunk's pending recipients ([`Sorted`]), in which lanes they are paced ([`lanes`]),
//! and what the lane's answer means ([`Paced`]). [`crate::App`] reads, asks here, and writes.

use std::time::Duration;

use session_rules::campaign::{CHUNK_SIZE, CampaignRecipient, Window};
use session_rules::{Refusal, Timestamp};
use vbm_outbound::campaign::Prepared;
use vbm_store::pace::{LaneOwner, Reservation};
use vbm_store::{BusinessId, CampaignId, Candidate, Chunk};

use crate::window;

/// A chunk's pending recipients (its settled slots skipped), sorted.
#[derive(Default)]
pub(crate) struct Sorted {
    /// Ready to go, with their slot.
    pub prepared: Vec<(usize, Prepared)>,
    /// Refused with the code a single send would have been refused with.
    pub refused: Vec<(usize, &'static str)>,
    /// Outside their delivery window, and when the earliest of those windows opens.
    pub waiting: usize,
    pub wake_at: Option<Timestamp>,
}

impl Sorted {
    /// Content rules and windows first (`prepare`: one recipient as its single send would be
    /// prepared); what they let through goes to the session rules.
    pub fn of(
        chunk: &Chunk,
        window: Option<Window>,
        now: Timestamp,
        prepare: impl Fn(&CampaignRecipient) -> Result<Prepared, Refusal>,
    ) -> Self {
        let mut sorted = Sorted::default();
        for (slot, recipient) in chunk.recipients.iter().enumerate() {
            if chunk.settled.contains_key(&slot) {
                continue;
            }
            // Masked by an erasure of the contact: never messaged.
            if recipient.to == vbm_store::erase_campaigns::ERASED {
                sorted.refused.push((slot, "erased"));
                continue;
            }
            match prepare(recipient) {
                Ok(p) => sorted.place(slot, p, window, now),
                Err(refusal) => sorted.refused.push((slot, refusal.code())),
            }
        }
        sorted
    }

    fn place(&mut self, slot: usize, p: Prepared, window: Option<Window>, now: Timestamp) {
        if let Some(window) = window
            && let Some(opens) = window::wait_until(window, &p.to, now)
        {
            self.waiting += 1;
            self.wake_at = Some(self.wake_at.map_or(opens, |w| w.min(opens)));
            return;
        }
        self.prepared.push((slot, p));
    }

    /// What goes to admission, in slot order: a send per prepared recipient (its message id
    /// from its place in the campaign, `chunk` of 100), a refusal per refused one.
    pub fn candidates<'a>(
        &'a self,
        business: &'a BusinessId,
        id: &CampaignId,
        chunk: u32,
        now: Timestamp,
    ) -> Vec<Candidate<'a>> {
        let index = |slot: usize| chunk as usize * CHUNK_SIZE + slot;
        let mut candidates: Vec<Candidate<'a>> = self
            .prepared
            .iter()
            .map(|(slot, p)| {
                let message_id = id.message_id(index(*slot));
                match p.new_hold(business, message_id.clone(), now) {
                    Some(hold) => Candidate::Hold { slot: *slot, hold },
                    None => Candidate::Send {
                        slot: *slot,
                        send: p.new_send(business, message_id, now),
                    },
                }
            })
            .collect();
        candidates.extend(
            self.refused
                .iter()
                .map(|(slot, code)| Candidate::Refused { slot: *slot, code }),
        );
        candidates.sort_by_key(Candidate::slot);
        candidates
    }

    /// The service the chunk's sends go on: a campaign's recipients all go on one, chosen as
    /// its message says (the first prepared one's), else the business's first (`primary`).
    pub fn service(&self, primary: Option<u64>) -> Option<u64> {
        self.prepared
            .iter()
            .find_map(|(_, p)| p.service_id)
            .or(primary)
    }
}

/// The service whose rate paces the chunk and the lanes it books, when both it and the
/// business's first service are known; `None`: the business's own rate and lanes.
pub(crate) fn lanes(service: Option<u64>, primary: Option<u64>) -> Option<(u64, LaneOwner)> {
    match (service, primary) {
        (Some(service), Some(primary)) => Some((service, LaneOwner::of(service, primary))),
        _ => None,
    }
}

/// What a booking in the campaign lane means for the chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Paced {
    /// Its slots start now.
    Now,
    /// Its slots start after this wait (at most `horizon`).
    After(Duration),
    /// Booked past the horizon: the chunk's job comes back then.
    Busy(Timestamp),
}

impl Paced {
    pub fn of(reservation: Reservation, now: Timestamp, horizon: Duration) -> Self {
        match reservation {
            Reservation::At(at) => {
                let wait = at.as_millis() - now.as_millis();
                if wait > 0 {
                    Paced::After(Duration::from_millis(wait as u64).min(horizon))
                } else {
                    Paced::Now
                }
            }
            Reservation::Busy { retry_at } => Paced::Busy(retry_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use serde_json::{Map, Value};
    use session_rules::{
        Language, LegacyTransactional, Limits, Template, TemplateCategory, TemplateId,
    };
    use vbm_outbound::campaign::{FailoverSource, prepare};

    fn recipient(to: &str) -> CampaignRecipient {
        CampaignRecipient {
            to: to.into(),
            params: BTreeMap::new(),
        }
    }

    struct Content {
        message: Map<String, Value>,
        template: Template,
        limits: Limits,
    }

    fn content() -> Content {
        Content {
            message: serde_json::from_str(r#"{"template":{"id":"parcel"},"type":"template"}"#)
                .unwrap(),
            template: Template::parse(
                TemplateId::parse("parcel").unwrap(),
                Language::parse("en").unwrap(),
                TemplateCategory::Transactional,
                true,
                "Your parcel is on its way",
            )
            .unwrap(),
            limits: Limits::default(),
        }
    }

    impl Content {
        fn sort(&self, chunk: &Chunk, window: Option<Window>, now: Timestamp) -> Sorted {
            Sorted::of(chunk, window, now, |r| {
                prepare(
                    &self.message,
                    r,
                    &self.limits,
                    Some(&self.template),
                    FailoverSource::default(),
                    LegacyTransactional::default(),
                )
            })
        }
    }

    /// 2026-12-07T12:00:00Z.
    const NOON: i64 = 1_796_644_800_000;

    #[test]
    fn settled_slots_are_skipped_erased_and_bad_ones_refused_in_slot_order() {
        let chunk = Chunk {
            recipients: vec![
                recipient("+447911123450"),
                recipient(vbm_store::erase_campaigns::ERASED),
                recipient("+447911123452"),
                recipient("12"),
            ],
            settled: BTreeMap::from([(2, "queued".to_owned())]),
            finished: false,
        };
        let c = content();
        let now = Timestamp::from_millis(NOON);
        let sorted = c.sort(&chunk, None, now);
        let prepared: Vec<usize> = sorted.prepared.iter().map(|(slot, _)| *slot).collect();
        assert_eq!(prepared, [0]);
        let refused_slots: Vec<usize> = sorted.refused.iter().map(|(slot, _)| *slot).collect();
        assert_eq!(refused_slots, [1, 3]);
        assert_eq!(sorted.refused[0].1, "erased");
        assert_ne!(sorted.refused[1].1, "erased");
        assert_eq!((sorted.waiting, sorted.wake_at), (0, None));

        let business = BusinessId::parse("acme").unwrap();
        let id = CampaignId::generate();
        let candidates = sorted.candidates(&business, &id, 2, now);
        let slots: Vec<(usize, bool)> = candidates
            .iter()
            .map(|c| match c {
                Candidate::Send { slot, send } => {
                    assert_eq!(send.message_id, id.message_id(200));
                    (*slot, true)
                }
                Candidate::Refused { slot, .. } => (*slot, false),
                Candidate::Hold { .. } => panic!("a hold without `wait_for_session`"),
            })
            .collect();
        assert_eq!(slots, [(0, true), (1, false), (3, false)]);
    }

    #[test]
    fn a_recipient_whose_message_waits_is_a_hold_with_its_terms() {
        let message: Map<String, Value> =
            serde_json::from_str(r#"{"type":"session","text":"Your parcel is at the door"}"#)
                .unwrap();
        let limits = Limits::default();
        let now = Timestamp::from_millis(NOON);
        let until = Timestamp::from_millis(NOON + 3_600_000);
        let chunk = Chunk {
            recipients: vec![recipient("+447911123450")],
            settled: BTreeMap::new(),
            finished: false,
        };
        let sorted = Sorted::of(&chunk, None, now, |r| {
            let mut p = prepare(
                &message,
                r,
                &limits,
                None,
                FailoverSource::default(),
                LegacyTransactional::default(),
            )?;
            p.hold = Some(vbm_outbound::campaign::HoldTerms {
                until,
                fallback: None,
            });
            Ok(p)
        });
        let business = BusinessId::parse("acme").unwrap();
        let id = CampaignId::generate();
        let candidates = sorted.candidates(&business, &id, 0, now);
        let [Candidate::Hold { slot: 0, hold }] = candidates.as_slice() else {
            panic!("{candidates:?}");
        };
        assert_eq!(hold.until, until);
        assert_eq!(hold.send.message_id, id.message_id(0));
        assert_eq!(hold.send.class, session_rules::SendClass::Session);
    }

    #[test]
    fn recipients_outside_their_window_wait_for_the_earliest_opening() {
        let chunk = Chunk {
            recipients: vec![recipient("+447911123450"), recipient("+4915112345678")],
            settled: BTreeMap::new(),
            finished: false,
        };
        let c = content();
        let now = Timestamp::from_millis(NOON);
        // Midnight to one in the morning, local: closed at noon in London and Berlin.
        let night = Window {
            start_minute: 0,
            end_minute: 60,
        };
        let sorted = c.sort(&chunk, Some(night), now);
        assert!(sorted.prepared.is_empty());
        let london = window::wait_until(night, &sorted_to("+447911123450"), now).unwrap();
        let berlin = window::wait_until(night, &sorted_to("+4915112345678"), now).unwrap();
        assert!(berlin < london);
        assert_eq!((sorted.waiting, sorted.wake_at), (2, Some(berlin)));
        // No window: both go.
        let open = c.sort(&chunk, None, now);
        assert_eq!((open.prepared.len(), open.waiting), (2, 0));
    }

    fn sorted_to(number: &str) -> session_rules::PhoneNumber {
        session_rules::PhoneNumber::parse(number).unwrap()
    }

    #[test]
    fn a_chunk_paces_on_its_service_when_the_business_is_known() {
        assert_eq!(lanes(Some(7), Some(7)), Some((7, LaneOwner::Primary)));
        assert_eq!(lanes(Some(8), Some(7)), Some((8, LaneOwner::Service(8))));
        assert_eq!(lanes(None, Some(7)), None);
        assert_eq!(lanes(Some(8), None), None);
    }

    #[test]
    fn a_booking_waits_at_most_the_horizon_and_a_busy_lane_comes_back_later() {
        let now = Timestamp::from_millis(NOON);
        let horizon = Duration::from_secs(20);
        let at = |ms| Reservation::At(Timestamp::from_millis(NOON + ms));
        assert_eq!(Paced::of(at(0), now, horizon), Paced::Now);
        assert_eq!(Paced::of(at(-5), now, horizon), Paced::Now);
        assert_eq!(
            Paced::of(at(1500), now, horizon),
            Paced::After(Duration::from_millis(1500))
        );
        assert_eq!(Paced::of(at(60_000), now, horizon), Paced::After(horizon));
        let later = Timestamp::from_millis(NOON + 90_000);
        assert_eq!(
            Paced::of(Reservation::Busy { retry_at: later }, now, horizon),
            Paced::Busy(later)
        );
    }
}
