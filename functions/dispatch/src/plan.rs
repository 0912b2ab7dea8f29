//! What `dispatch` does with one accepted message, decided without I/O from what it read:
//! whether it goes now ([`hold`]), on which service's pace ([`pacing`]), and what is written
//! for Viber's answer ([`Write::of`]). [`crate::App`] reads, asks here, and carries it out.

use session_rules::campaign::CampaignState;
use session_rules::{ServiceKind, Services};
use vbm_store::{CampaignId, Failure, Hold};

use crate::outcome::Outcome;
use crate::pace::SendingService;

/// The hold an accepted message is parked under, if any: the business disabled (first), or its
/// campaign paused. A cancelled campaign is decided before (its message is never parked).
pub fn hold(
    campaign: Option<(&CampaignId, Option<CampaignState>)>,
    business_disabled: bool,
) -> Option<Hold> {
    match campaign {
        _ if business_disabled => Some(Hold::Business),
        Some((c, Some(CampaignState::Paused))) => Some(Hold::Campaign(c.clone())),
        _ => None,
    }
}

/// The service a send to `service_id` is paced on, and its kind for the metrics: the business's
/// first service owns the lanes; a business not found paces on the message's own service, and
/// an id the business no longer has has no kind.
pub fn pacing(owner: Option<&Services>, service_id: u64) -> (SendingService, Option<ServiceKind>) {
    let primary = owner.map_or(service_id, |services| services.primary().id);
    let kind = owner
        .and_then(|services| services.by_id(service_id))
        .map(|service| service.kind);
    (
        SendingService {
            id: service_id,
            primary,
        },
        kind,
    )
}

/// A change to the conversation that a refusal implies, written before the message's `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationChange {
    /// The user blocked the sender (8).
    OptOut,
    /// Locked until the user writes (21), unless they wrote since the message was admitted.
    LockForWait,
}

/// What is written for one send attempt's [`Outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// `sent` with the `TOKEN` item (when there is a token).
    Sent {
        token: Option<String>,
        session_id: Option<String>,
        /// Viber says an earlier attempt got through but gave no token: its status callbacks
        /// cannot be matched (a warning).
        tokenless_earlier: bool,
    },
    /// `failed`, after `conversation`'s change.
    Failed {
        failure: Failure,
        conversation: Option<ConversationChange>,
        /// Session messages give their slot back, except on a 21: Viber counts that one.
        release_session_slot: bool,
        /// The deployment is wrong: the `ViberMisconfigured` metric and an error log.
        misconfigured: bool,
    },
    /// Nothing written: the queue tries again.
    Retry(String),
}

impl Write {
    pub fn of(outcome: Outcome) -> Self {
        let failed = |failure, conversation, release_session_slot, misconfigured| Write::Failed {
            failure,
            conversation,
            release_session_slot,
            misconfigured,
        };
        match outcome {
            Outcome::Sent {
                token,
                session_id,
                already,
            } => Write::Sent {
                tokenless_earlier: already && token.is_none(),
                token,
                session_id,
            },
            Outcome::UserBlocked(f) => failed(f, Some(ConversationChange::OptOut), true, false),
            Outcome::WaitForUser(f) => {
                failed(f, Some(ConversationChange::LockForWait), false, false)
            }
            Outcome::Refused(f) => failed(f, None, true, false),
            Outcome::Misconfigured(f) => failed(f, None, true, true),
            Outcome::Retry(reason) => Write::Retry(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_rules::Service;

    fn failure(code: i64) -> Failure {
        Failure {
            code: Some(code),
            reason: format!("code {code}"),
        }
    }

    #[test]
    fn a_disabled_business_holds_before_a_paused_campaign() {
        let id = CampaignId::generate();
        let paused = Some((&id, Some(CampaignState::Paused)));
        assert_eq!(hold(paused, true), Some(Hold::Business));
        assert_eq!(hold(paused, false), Some(Hold::Campaign(id.clone())));
        assert_eq!(hold(None, true), Some(Hold::Business));
        assert_eq!(hold(None, false), None);
        for state in [
            None,
            Some(CampaignState::Running),
            Some(CampaignState::Scheduled),
        ] {
            assert_eq!(hold(Some((&id, state)), false), None, "{state:?}");
        }
    }

    #[test]
    fn the_first_service_owns_the_lanes_and_an_unknown_id_has_no_kind() {
        let services = Services::new(vec![
            Service {
                id: 100,
                kind: ServiceKind::OneWay,
            },
            Service {
                id: 200,
                kind: ServiceKind::TwoWay,
            },
        ])
        .unwrap();
        let (service, kind) = pacing(Some(&services), 200);
        assert_eq!(
            (service.id, service.primary, kind),
            (200, 100, Some(ServiceKind::TwoWay))
        );
        let (service, kind) = pacing(Some(&services), 300);
        assert_eq!((service.id, service.primary, kind), (300, 100, None));
        let (service, kind) = pacing(None, 300);
        assert_eq!((service.id, service.primary, kind), (300, 300, None));
    }

    #[test]
    fn each_refusal_writes_its_conversation_change_and_keeps_or_frees_the_slot() {
        let cases = [
            (
                Outcome::UserBlocked(failure(8)),
                Some(ConversationChange::OptOut),
                true,
                false,
            ),
            (
                Outcome::WaitForUser(failure(21)),
                Some(ConversationChange::LockForWait),
                false,
                false,
            ),
            (Outcome::Refused(failure(3)), None, true, false),
            (Outcome::Misconfigured(failure(2)), None, true, true),
        ];
        for (outcome, change, release, misconfigured) in cases {
            let code = match &outcome {
                Outcome::UserBlocked(f)
                | Outcome::WaitForUser(f)
                | Outcome::Refused(f)
                | Outcome::Misconfigured(f) => f.code,
                _ => None,
            };
            assert_eq!(
                Write::of(outcome),
                Write::Failed {
                    failure: failure(code.unwrap()),
                    conversation: change,
                    release_session_slot: release,
                    misconfigured,
                }
            );
        }
        assert_eq!(
            Write::of(Outcome::Retry("busy".into())),
            Write::Retry("busy".into())
        );
    }

    #[test]
    fn only_an_earlier_send_without_a_token_is_warned_about() {
        let sent = |token: Option<&str>, already| {
            Write::of(Outcome::Sent {
                token: token.map(str::to_owned),
                session_id: None,
                already,
            })
        };
        let warned = |write| {
            matches!(
                write,
                Write::Sent {
                    tokenless_earlier: true,
                    ..
                }
            )
        };
        assert!(warned(sent(None, true)));
        assert!(!warned(sent(Some("t"), true)));
        assert!(!warned(sent(None, false)));
        assert!(!warned(sent(Some("t"), false)));
    }
}
