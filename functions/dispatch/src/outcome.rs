//! What Viber's answer means for the message, decided without I/O.
//!
//! Viber answers `send_message` with HTTP 200 even when it refuses; the body's `status` decides:
//!
//! | answer                                  | the message | the conversation           | the queue record |
//! |-----------------------------------------|-------------|----------------------------|------------------|
//! | 0 `SRVC_SUCCESS`                        | `sent` + `TOKEN` item | —                | done             |
//! | 12 `SRVC_ALREADY_SENT`                  | `sent` (an earlier attempt got through) | — | done          |
//! | 8 `SRVC_USER_BLOCKED`                   | `failed`    | opted out; session slot back | done           |
//! | 21 `SRVC_WAIT_FOR_USER_RESPONSE`        | `failed`    | locked until the user writes (not if they wrote since the send was admitted) | done |
//! | 1 `SRVC_INTERNAL_FAILURE`, 7 `SRVC_TIMEOUT` | stays `accepted` | —                | retried          |
//! | any other refusal                       | `failed`    | session slot back          | done             |
//! | timeout, network, HTTP 5xx/429, garbage | stays `accepted` | —                     | retried          |
//! | other HTTP 4xx                          | `failed`    | session slot back          | done             |
//!
//! "Session slot back" applies to session messages only: one that never reached the user does
//! not count toward the session's 60 and 5. A 21 keeps its slot: Viber is telling us the
//! counters are (at least) full, which [`Conversation::lock`](session_rules::Conversation::lock)
//! records.

use vbm_platform::metrics;
use vbm_store::Failure;
use viber::{SendAnswer, SendError, ViberStatus};

/// Counts one send attempt in CloudWatch (`DispatchOutcome` by `ViberStatus`): Viber's status
/// when it answered, else why it did not ([`no_answer_reason`]).
pub fn count(answer: &Result<SendAnswer, SendError>) {
    match answer {
        Ok(answer) => metrics::dispatch_viber_status(answer.status.code()),
        Err(error) => metrics::dispatch_no_answer(no_answer_reason(error)),
    }
}

/// Why a send attempt got no Viber status, from a small fixed set (a metric dimension):
/// `timeout`, `network`, `http_429`, `http_4xx`, `http_5xx`, `invalid_answer`.
pub fn no_answer_reason(error: &SendError) -> &'static str {
    match error {
        SendError::Timeout => "timeout",
        SendError::Network(_) => "network",
        SendError::Http { status: 429, .. } => "http_429",
        SendError::Http { status: 500.., .. } => "http_5xx",
        SendError::Http { .. } => "http_4xx",
        SendError::InvalidAnswer(_) => "invalid_answer",
    }
}

/// What to record for one send attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Viber took it (0), or had taken it on an earlier attempt (12, possibly without a token).
    Sent {
        token: Option<String>,
        session_id: Option<String>,
        already: bool,
    },
    /// The user blocked the sender (8): opt them out, the message failed.
    UserBlocked(Failure),
    /// Too many session messages without a reply (21): lock the session, the message failed.
    WaitForUser(Failure),
    /// Any other final refusal: the message failed.
    Refused(Failure),
    /// Nothing final: leave the message `accepted` and let the queue try again.
    Retry(String),
}

impl Outcome {
    pub fn from_answer(answer: Result<SendAnswer, SendError>) -> Self {
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) if error.retryable() => return Outcome::Retry(error.to_string()),
            Err(SendError::Http { status, .. }) => {
                return Outcome::Refused(Failure {
                    code: None,
                    reason: format!("VIBER_HTTP_{status}"),
                });
            }
            // Every other error is retryable today; kept total in case that changes.
            Err(error) => return Outcome::Retry(error.to_string()),
        };
        let failure = || Failure {
            code: Some(answer.status.code()),
            reason: answer.status.name().to_owned(),
        };
        match answer.status {
            ViberStatus::SRVC_SUCCESS => Outcome::Sent {
                token: answer.message_token,
                session_id: answer.session_id,
                already: false,
            },
            ViberStatus::SRVC_ALREADY_SENT => Outcome::Sent {
                token: answer.message_token,
                session_id: answer.session_id,
                already: true,
            },
            ViberStatus::SRVC_USER_BLOCKED => Outcome::UserBlocked(failure()),
            ViberStatus::SRVC_WAIT_FOR_USER_RESPONSE => Outcome::WaitForUser(failure()),
            status if status.retryable() => Outcome::Retry(format!("Viber answered {status}")),
            _ => Outcome::Refused(failure()),
        }
    }

    /// The name logged as the record's `outcome`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Sent { already: false, .. } => "sent",
            Outcome::Sent { already: true, .. } => "sent_earlier",
            Outcome::UserBlocked(_) => "user_blocked",
            Outcome::WaitForUser(_) => "wait_for_user",
            Outcome::Refused(_) => "refused",
            Outcome::Retry(_) => "retry",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: i64, token: Option<&str>) -> Result<SendAnswer, SendError> {
        Ok(SendAnswer {
            status: ViberStatus(status),
            message_token: token.map(str::to_owned),
            session_id: None,
            seq: None,
        })
    }

    fn http(status: u16) -> Result<SendAnswer, SendError> {
        Err(SendError::Http {
            status,
            body: String::new(),
        })
    }

    #[test]
    fn every_answer_has_one_meaning() {
        assert!(matches!(
            Outcome::from_answer(answer(0, Some("t"))),
            Outcome::Sent {
                token: Some(_),
                already: false,
                ..
            }
        ));
        assert!(matches!(
            Outcome::from_answer(answer(12, None)),
            Outcome::Sent {
                token: None,
                already: true,
                ..
            }
        ));
        assert_eq!(
            Outcome::from_answer(answer(8, None)),
            Outcome::UserBlocked(Failure {
                code: Some(8),
                reason: "SRVC_USER_BLOCKED".into()
            })
        );
        assert_eq!(
            Outcome::from_answer(answer(21, None)),
            Outcome::WaitForUser(Failure {
                code: Some(21),
                reason: "SRVC_WAIT_FOR_USER_RESPONSE".into()
            })
        );
        for retryable in [1, 7] {
            assert!(matches!(
                Outcome::from_answer(answer(retryable, None)),
                Outcome::Retry(_)
            ));
        }
        for refused in [2, 3, 9, 10, 11, 13, 38, 43, 999] {
            assert!(
                matches!(Outcome::from_answer(answer(refused, None)), Outcome::Refused(Failure { code: Some(c), .. }) if c == refused),
                "{refused}"
            );
        }
    }

    #[test]
    fn every_missing_answer_has_a_metric_reason() {
        let reason = |answer: Result<SendAnswer, SendError>| no_answer_reason(&answer.unwrap_err());
        assert_eq!(reason(Err(SendError::Timeout)), "timeout");
        assert_eq!(reason(Err(SendError::Network("reset".into()))), "network");
        assert_eq!(reason(http(429)), "http_429");
        assert_eq!(reason(http(400)), "http_4xx");
        assert_eq!(reason(http(500)), "http_5xx");
        assert_eq!(reason(http(503)), "http_5xx");
        assert_eq!(
            reason(Err(SendError::InvalidAnswer("x".into()))),
            "invalid_answer"
        );
    }

    #[test]
    fn transport_errors_retry_unless_the_request_itself_is_wrong() {
        for retry in [http(500), http(503), http(429), Err(SendError::Timeout)] {
            assert!(matches!(Outcome::from_answer(retry), Outcome::Retry(_)));
        }
        assert!(matches!(
            Outcome::from_answer(Err(SendError::Network("reset".into()))),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            Outcome::from_answer(Err(SendError::InvalidAnswer("x".into()))),
            Outcome::Retry(_)
        ));
        assert_eq!(
            Outcome::from_answer(http(400)),
            Outcome::Refused(Failure {
                code: None,
                reason: "VIBER_HTTP_400".into()
            })
        );
    }
}
