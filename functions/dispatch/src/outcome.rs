//! What Viber's answer means for the message, decided without I/O.
//!
//! Viber answers `send_message` with HTTP 200 even when it refuses; the body's `status` decides,
//! through **one table**, [`TABLE`]: every code in VIBER.md mapped on purpose to a
//! [`Handling`]. docs/viber.md shows the same table (a test keeps the two equal).
//!
//! | handling        | the message | the conversation             | the queue record | operator |
//! |-----------------|-------------|------------------------------|------------------|----------|
//! | `sent`          | `sent` + `TOKEN` item | —                  | done             | —        |
//! | `sent_earlier`  | `sent` (an earlier attempt got through) | — | done           | —        |
//! | `opt_out` (8)   | `failed`    | opted out; session slot back | done             | —        |
//! | `lock` (21)     | `failed`    | locked until the user writes (not if they wrote since the send was admitted) | done | — |
//! | `retry`         | stays `accepted` | —                       | retried, [`crate::retry::SCHEDULE`] back-off, then the DLQ | DLQ alarm |
//! | `failed`        | `failed`, Viber's code and name as the reason (view and event) | session slot back | done | — |
//! | `misconfigured` | `failed`, as above | session slot back     | done             | `ViberMisconfigured` metric + alarm |
//!
//! A code not in the table is `failed` (its number kept as the reason's code). Transport
//! failures (timeout, network, HTTP 5xx/429, garbage) are `retry`; HTTP 401/403 (N8N: 401 is
//! the unauthorized-IP answer) are `misconfigured`; other HTTP 4xx `failed`. Status 7 on an OTP
//! template means the `pin` is missing: `failed`, never retried into the DLQ.
//!
//! "Session slot back" applies to session messages only: one that never reached the user does
//! not count toward the session's 60 and 5. A 21 keeps its slot: Viber is telling us the
//! counters are (at least) full, which [`Conversation::lock`](session_rules::Conversation::lock)
//! records.

use session_rules::ServiceKind;
use vbm_platform::metrics;
use vbm_store::Failure;
use viber::{SendAnswer, SendError, ViberStatus};

/// Counts one send attempt in CloudWatch (`DispatchOutcome` by `ViberStatus`, and also by
/// `ServiceKind` when the service is known): Viber's status when it answered, else why it did
/// not ([`no_answer_reason`]).
pub fn count(answer: &Result<SendAnswer, SendError>, service_kind: Option<ServiceKind>) {
    let kind = service_kind.map(ServiceKind::as_str);
    match answer {
        Ok(answer) => metrics::dispatch_viber_status_on(answer.status.code(), kind),
        Err(error) => metrics::dispatch_no_answer_on(no_answer_reason(error), kind),
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

/// What dispatch does with one Viber status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    Sent,
    SentEarlier,
    /// Viber's own transient failure: the queue retries with its back-off.
    Retry,
    /// Final: the message failed, with Viber's code and name as the reason.
    Failed,
    /// The user blocked the sender: opted out, the message failed.
    OptOut,
    /// Too many session messages without a reply: session locked, the message failed.
    Lock,
    /// The deployment is wrong (service id, source IP, billing, blocked service): the message
    /// failed, and an operator must see it (`ViberMisconfigured` metric, alarmed).
    Misconfigured,
}

impl Handling {
    pub fn as_str(self) -> &'static str {
        match self {
            Handling::Sent => "sent",
            Handling::SentEarlier => "sent_earlier",
            Handling::Retry => "retry",
            Handling::Failed => "failed",
            Handling::OptOut => "opt_out",
            Handling::Lock => "lock",
            Handling::Misconfigured => "misconfigured",
        }
    }
}

/// Every Viber `send_message` status in VIBER.md, and what dispatch does with it.
pub const TABLE: &[(ViberStatus, Handling)] = &[
    (ViberStatus::SRVC_SUCCESS, Handling::Sent),
    (ViberStatus::SRVC_INTERNAL_FAILURE, Handling::Retry),
    (ViberStatus::SRVC_BAD_SERVICE_ID, Handling::Misconfigured),
    (ViberStatus::SRVC_BAD_DATA, Handling::Failed),
    (ViberStatus::SRVC_BLOCKED_MESSAGE_TYPE, Handling::Failed),
    (ViberStatus::SRVC_BAD_MESSAGE_TYPE, Handling::Failed),
    (ViberStatus::SRVC_BAD_PARAMETERS, Handling::Failed),
    // Viber's own timeout; on an OTP template it means the pin is missing (see `handling`).
    (ViberStatus::SRVC_TIMEOUT, Handling::Retry),
    (ViberStatus::SRVC_USER_BLOCKED, Handling::OptOut),
    // Not a Viber user / no device that can show it: final; a message with an SMS failover
    // then gets its SMS (`crate::failover`).
    (ViberStatus::SRVC_NOT_VIBER_USER, Handling::Failed),
    (ViberStatus::SRVC_NO_SUITABLE_DEVICE, Handling::Failed),
    (ViberStatus::SRVC_UNAUTHORIZED_IP, Handling::Misconfigured),
    (ViberStatus::SRVC_ALREADY_SENT, Handling::SentEarlier),
    (ViberStatus::SRVC_NOT_PERMITTED, Handling::Failed),
    (ViberStatus::SRVC_BILLING_FAILURE, Handling::Misconfigured),
    // Viber's session message limit: retrying cannot help until the user writes.
    (ViberStatus::SRVC_NO_MORE_MESSAGES, Handling::Failed),
    (ViberStatus::SRVC_BAD_LABEL, Handling::Failed),
    (ViberStatus::SRVC_INVALID_TTL, Handling::Failed),
    (ViberStatus::SRVC_WAIT_FOR_USER_RESPONSE, Handling::Lock),
    (ViberStatus::SRVC_INVALID_PHONE_NUMBER, Handling::Failed),
    (ViberStatus::SRVC_FILE_NOT_PERMITTED, Handling::Failed),
    (ViberStatus::SRVC_BAD_FILE_NAME_LENGTH, Handling::Failed),
    (ViberStatus::SRVC_BAD_THUMBNAIL, Handling::Failed),
    (ViberStatus::SRVC_BAD_FILE_SIZE, Handling::Failed),
    (ViberStatus::SRVC_BAD_DURATION, Handling::Failed),
    (ViberStatus::TEMPLATE_NOT_FOUND, Handling::Failed),
    (ViberStatus::TEMPLATE_VALIDATION_ERROR, Handling::Failed),
    (ViberStatus::SRVC_SURVEY_VALIDATION_ERROR, Handling::Failed),
    (
        ViberStatus::SRVC_CAROUSEL_VALIDATION_ERROR,
        Handling::Failed,
    ),
    (ViberStatus::SRVC_SERVICE_BLOCKED, Handling::Misconfigured),
];

/// What dispatch does with `status`, for a message that is (`otp`) or is not an OTP template.
pub fn handling(status: ViberStatus, otp: bool) -> Handling {
    if otp && status == ViberStatus::SRVC_TIMEOUT {
        // OTP template without its pin: the same request fails the same way every time.
        return Handling::Failed;
    }
    TABLE
        .iter()
        .find(|(code, _)| *code == status)
        .map_or(Handling::Failed, |(_, handling)| *handling)
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
    /// A refusal that says the deployment is wrong: the message failed, an operator is told.
    Misconfigured(Failure),
    /// Nothing final: leave the message `accepted` and let the queue try again.
    Retry(String),
}

impl Outcome {
    /// The outcome of an answer to a message that is (`otp`) or is not an OTP template.
    pub fn from_answer(answer: Result<SendAnswer, SendError>, otp: bool) -> Self {
        let answer = match answer {
            Ok(answer) => answer,
            Err(error) if error.retryable() => return Outcome::Retry(error.to_string()),
            Err(SendError::Http { status, .. }) => {
                let failure = Failure {
                    code: None,
                    reason: format!("VIBER_HTTP_{status}"),
                };
                return if status == 401 || status == 403 {
                    Outcome::Misconfigured(failure)
                } else {
                    Outcome::Refused(failure)
                };
            }
            // Every other error is retryable today; kept total in case that changes.
            Err(error) => return Outcome::Retry(error.to_string()),
        };
        let failure = || Failure {
            code: Some(answer.status.code()),
            reason: answer.status.name().to_owned(),
        };
        match handling(answer.status, otp) {
            Handling::Sent | Handling::SentEarlier => Outcome::Sent {
                already: answer.status != ViberStatus::SRVC_SUCCESS,
                token: answer.message_token,
                session_id: answer.session_id,
            },
            Handling::OptOut => Outcome::UserBlocked(failure()),
            Handling::Lock => Outcome::WaitForUser(failure()),
            Handling::Retry => Outcome::Retry(format!("Viber answered {}", answer.status)),
            Handling::Failed => Outcome::Refused(failure()),
            Handling::Misconfigured => Outcome::Misconfigured(failure()),
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
            Outcome::Misconfigured(_) => "misconfigured",
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
            Outcome::from_answer(answer(0, Some("t")), false),
            Outcome::Sent {
                token: Some(_),
                already: false,
                ..
            }
        ));
        assert!(matches!(
            Outcome::from_answer(answer(12, None), false),
            Outcome::Sent {
                token: None,
                already: true,
                ..
            }
        ));
        assert_eq!(
            Outcome::from_answer(answer(8, None), false),
            Outcome::UserBlocked(Failure {
                code: Some(8),
                reason: "SRVC_USER_BLOCKED".into()
            })
        );
        assert_eq!(
            Outcome::from_answer(answer(21, None), false),
            Outcome::WaitForUser(Failure {
                code: Some(21),
                reason: "SRVC_WAIT_FOR_USER_RESPONSE".into()
            })
        );
        for retryable in [1, 7] {
            assert!(matches!(
                Outcome::from_answer(answer(retryable, None), false),
                Outcome::Retry(_)
            ));
        }
        for refused in [3, 9, 10, 13, 17, 38, 999] {
            assert!(
                matches!(Outcome::from_answer(answer(refused, None), false), Outcome::Refused(Failure { code: Some(c), .. }) if c == refused),
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
            assert!(matches!(
                Outcome::from_answer(retry, false),
                Outcome::Retry(_)
            ));
        }
        assert!(matches!(
            Outcome::from_answer(Err(SendError::Network("reset".into())), false),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            Outcome::from_answer(Err(SendError::InvalidAnswer("x".into())), false),
            Outcome::Retry(_)
        ));
        assert_eq!(
            Outcome::from_answer(http(400), false),
            Outcome::Refused(Failure {
                code: None,
                reason: "VIBER_HTTP_400".into()
            })
        );
    }

    /// Every status code VIBER.md lists (TYN, ALI, N8N, HAWK), copied from it rather than
    /// from the table.
    const DOCUMENTED: &[i64] = &[
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17, 18, 20, 21, 27, 28, 29, 30, 31, 32,
        38, 39, 40, 41, 43,
    ];

    #[test]
    fn every_documented_code_is_mapped_once_and_on_purpose() {
        let documented: std::collections::BTreeSet<i64> = DOCUMENTED.iter().copied().collect();
        let mapped: Vec<i64> = TABLE.iter().map(|(s, _)| s.code()).collect();
        let unique: std::collections::BTreeSet<i64> = mapped.iter().copied().collect();
        assert_eq!(unique.len(), mapped.len(), "a code twice in the table");
        assert_eq!(unique, documented);
        for (status, _) in TABLE {
            assert_ne!(status.name(), "UNKNOWN", "{status:?} has Viber's name");
        }
    }

    #[test]
    fn the_table_says_what_the_issue_asks() {
        use Handling::*;
        let of = |code| handling(ViberStatus(code), false);
        assert_eq!(of(8), OptOut);
        assert_eq!(of(21), Lock);
        for misconfigured in [2, 11, 14, 43] {
            assert_eq!(of(misconfigured), Misconfigured, "{misconfigured}");
        }
        for retry in [1, 7] {
            assert_eq!(of(retry), Retry, "{retry}");
        }
        // 7 on an OTP template: the pin is missing, retrying cannot help.
        assert_eq!(handling(ViberStatus(7), true), Failed);
        assert_eq!(handling(ViberStatus(1), true), Retry);
        assert_eq!(of(999), Failed);
        assert!(matches!(
            Outcome::from_answer(answer(7, None), true),
            Outcome::Refused(Failure { code: Some(7), .. })
        ));
        for code in [2, 11, 14, 43] {
            assert!(
                matches!(Outcome::from_answer(answer(code, None), false), Outcome::Misconfigured(Failure { code: Some(c), .. }) if c == code),
                "{code}"
            );
        }
        assert_eq!(
            Outcome::from_answer(http(401), false),
            Outcome::Misconfigured(Failure {
                code: None,
                reason: "VIBER_HTTP_401".into()
            })
        );
    }

    /// docs/viber.md's status table says what [`TABLE`] does, code by code.
    #[test]
    fn the_docs_show_the_same_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/viber.md");
        let doc = std::fs::read_to_string(path).expect("docs/viber.md");
        let mut documented = std::collections::BTreeMap::new();
        for line in doc.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 5 {
                continue;
            }
            if let Ok(code) = cells[1].parse::<i64>() {
                documented.insert(code, cells[3].trim_matches('`').to_owned());
            }
        }
        let table: std::collections::BTreeMap<i64, String> = TABLE
            .iter()
            .map(|(s, h)| (s.code(), h.as_str().to_owned()))
            .collect();
        assert_eq!(documented, table);
    }
}
