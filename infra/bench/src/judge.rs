//! Judging each answer of a load run against [`crate::model`], and the tally of what was seen.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{Act, Conversation, Verdict};
use crate::workload::Kind;

/// What came back: HTTP status and JSON body, or a transport error.
pub type Answer = Result<(u16, Value), String>;

/// Everything seen.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub requests: u64,
    /// Latency in ms by kind.
    pub latency: BTreeMap<Kind, Vec<f64>>,
    /// `202`, `409 session_locked`, `transport error`, ...
    pub codes: BTreeMap<String, u64>,
    /// Accepted although the rules forbid it.
    pub violations: u64,
    /// Refused although the rules allow it, or refused with another code than they give.
    pub unexpected_refusals: u64,
    /// Session counters or opt-out in an answer that differ from the model's.
    pub state_mismatches: u64,
    /// `session_locked` explained by Viber's own 5-in-a-row answer (21) to a message sent late.
    pub viber_locks: u64,
    /// 5xx, transport errors, answers that are neither success nor a documented refusal.
    pub errors: u64,
    /// The first few of each problem, for the report.
    pub examples: Vec<String>,
}

impl Tally {
    pub(crate) fn problem(&mut self, what: String) {
        if self.examples.len() < 10 {
            self.examples.push(what);
        }
    }

    pub fn all_latencies(&self) -> Vec<f64> {
        self.latency.values().flatten().copied().collect()
    }

    pub fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        for (kind, mut v) in other.latency {
            self.latency.entry(kind).or_default().append(&mut v);
        }
        for (code, n) in other.codes {
            *self.codes.entry(code).or_default() += n;
        }
        self.violations += other.violations;
        self.unexpected_refusals += other.unexpected_refusals;
        self.state_mismatches += other.state_mismatches;
        self.viber_locks += other.viber_locks;
        self.errors += other.errors;
        for e in other.examples {
            self.problem(e);
        }
    }

    /// Problems that fail a run: rule violations, errors, answers the model cannot explain.
    pub fn failures(&self) -> u64 {
        self.violations + self.errors + self.unexpected_refusals + self.state_mismatches
    }
}

pub fn judge(
    tally: &mut Tally,
    conversation: &mut Conversation,
    kind: Kind,
    to: &str,
    answer: Answer,
) {
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(e) => {
            *tally.codes.entry("transport error".into()).or_default() += 1;
            tally.errors += 1;
            tally.problem(format!("{}: transport error: {e}", kind.name()));
            return;
        }
    };
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let label = if code.is_empty() {
        status.to_string()
    } else {
        format!("{status} {code}")
    };
    *tally.codes.entry(label.clone()).or_default() += 1;
    if status >= 500 {
        tally.errors += 1;
        tally.problem(format!("{} to {to}: {label}", kind.name()));
        return;
    }
    match kind {
        Kind::UserMessage => {
            if status == 200 && body["inbound_status"] == 200 {
                conversation.user_message();
            } else {
                tally.errors += 1;
                tally.problem(format!("user message from {to}: {status} {body}"));
            }
        }
        Kind::Unsubscribe => {
            if status == 200 {
                conversation.unsubscribe();
            } else {
                tally.errors += 1;
                tally.problem(format!("unsubscribe of {to}: {status} {body}"));
            }
        }
        Kind::ReadSession => {
            if status == 200 {
                check_session(tally, conversation, &body, to);
            } else {
                tally.errors += 1;
                tally.problem(format!("session of {to}: {label}"));
            }
        }
        Kind::Session | Kind::Transactional | Kind::Template | Kind::Promotional => {
            let Some(act) = kind.act() else { return };
            match (conversation.verdict(act), status) {
                (Verdict::Allowed, 202) => {
                    conversation.accepted(act);
                    if act == Act::Session {
                        check_session(tally, conversation, &body["session"], to);
                    }
                }
                (Verdict::Refused(expected), 202) => {
                    tally.violations += 1;
                    tally.problem(format!(
                        "VIOLATION: {} to {to} accepted; the rules say {expected}",
                        kind.name()
                    ));
                    conversation.accepted(act);
                }
                (Verdict::Allowed, 409) if code == "session_locked" && act == Act::Session => {
                    // Viber answered 21 to one of ours dispatched after the user's reply.
                    tally.viber_locks += 1;
                    conversation.locked_by_viber();
                }
                (Verdict::Refused(expected), 409) if expected == code => {}
                (verdict, _) => {
                    tally.unexpected_refusals += 1;
                    tally.problem(format!(
                        "{} to {to}: {label}, the rules say {verdict:?}",
                        kind.name()
                    ));
                }
            }
        }
    }
}

/// The session in an answer against the model: the counters and the opt-out.
fn check_session(tally: &mut Tally, conversation: &mut Conversation, view: &Value, to: &str) {
    let seen = (
        view["messages_sent"].as_u64().unwrap_or(u64::MAX),
        view["consecutive"].as_u64().unwrap_or(u64::MAX),
    );
    let (sent, row) = conversation.counters();
    let opted_out = view["opted_out"].as_bool();
    if opted_out != Some(conversation.opted_out()) {
        tally.state_mismatches += 1;
        tally.problem(format!(
            "session of {to}: opted_out {opted_out:?}, model {}",
            conversation.opted_out()
        ));
    }
    if seen == (u64::from(sent), u64::from(row)) {
        return;
    }
    if seen.0 == u64::from(sent) && seen.1 >= u64::from(crate::model::IN_A_ROW) {
        // Locked by Viber's 21 in the meantime.
        tally.viber_locks += 1;
        conversation.locked_by_viber();
        return;
    }
    tally.state_mismatches += 1;
    tally.problem(format!(
        "session of {to}: server {seen:?}, model {:?}",
        (sent, row)
    ));
}
