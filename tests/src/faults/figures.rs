//! The counts a fault run ends with, the table they print as, and which of them must be zero.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Default, Clone)]
pub struct Figures {
    // What the business did and was answered.
    pub sends_tried: u64,
    pub http_requests: u64,
    pub accepted: u64,
    /// Final refusals by error code (`409 session_locked`, …).
    pub refused: BTreeMap<String, u64>,
    /// `503 unavailable` answers, retries included.
    pub unavailable_answers: u64,
    /// Sends whose last answer was a 503 (without a key there is no retry).
    pub ended_unavailable: u64,
    // What became of the accepted messages.
    /// Final status of each accepted message (`seen`, `delivered`, `failed`, …).
    pub statuses: BTreeMap<String, u64>,
    pub failed_by_reason: BTreeMap<String, u64>,
    pub dead_lettered: u64,
    /// Accepted messages neither sent nor failed nor in the dead-letter queue.
    pub lost: u64,
    /// Accepted messages delivered to the user more than once (extra deliveries).
    pub duplicates: u64,
    /// Deliveries of messages that were never accepted (a 503 that sent anyway).
    pub unaccepted_deliveries: u64,
    /// Message records no 202 named: something a refused or 503 send left behind.
    pub orphans: u64,
    // Conversation counters.
    pub counters_checked: u64,
    pub counters_off: u64,
    pub counter_details: Vec<String>,
    // User messages.
    pub user_messages: u64,
    pub user_messages_refused: u64,
    // Business events.
    pub events_expected: u64,
    /// Distinct expected events that reached the business.
    pub events_delivered: u64,
    /// Deliveries of an event already delivered (at least once: the business de-duplicates).
    pub events_redelivered: u64,
    pub events_dead_lettered: u64,
    pub events_lost: u64,
    /// Events nothing explains (a status the message never had).
    pub events_unexplained: u64,
    pub bad_signatures: u64,
    // The faults as they happened.
    pub outages: u64,
    pub emulator_connections_dropped: u64,
    /// What the Viber sandbox answered, by kind.
    pub viber_answers: BTreeMap<String, u64>,
    /// Status callbacks the sandbox gave up on after its retries.
    pub callbacks_abandoned: u64,
    /// Tokens still holding status callbacks `status` kept before the token was recorded.
    pub statuses_left_kept: u64,
    /// Dead-lettered jobs Viber had taken (delivered, never recorded here): their callbacks
    /// stay kept until the job is redriven, one token each.
    pub delivered_dead_lettered: u64,
    /// What went wrong, one line each (empty when nothing did).
    pub details: Vec<String>,
}

impl Figures {
    /// The invariants: each entry names one that does not hold.
    pub fn violations(&self) -> Vec<String> {
        let must_be_zero = [
            ("lost", self.lost),
            ("duplicates", self.duplicates),
            ("unaccepted deliveries", self.unaccepted_deliveries),
            ("orphans", self.orphans),
            ("counters off", self.counters_off),
            ("user messages refused", self.user_messages_refused),
            ("events lost", self.events_lost),
            ("events unexplained", self.events_unexplained),
            ("bad signatures", self.bad_signatures),
            ("callbacks abandoned", self.callbacks_abandoned),
            (
                "statuses kept, unexplained",
                self.statuses_left_kept
                    .saturating_sub(self.delivered_dead_lettered),
            ),
        ];
        must_be_zero
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name}: {n}"))
            .collect()
    }
}

fn map(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "0".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total: u64 = self.refused.values().sum();
        let rows: Vec<(&str, String)> = vec![
            ("sends tried", self.sends_tried.to_string()),
            (
                "HTTP requests (with retries)",
                self.http_requests.to_string(),
            ),
            ("accepted (202)", self.accepted.to_string()),
            ("refused", format!("{total} ({})", map(&self.refused))),
            (
                "503 answers (retryable)",
                self.unavailable_answers.to_string(),
            ),
            (
                "ended on a 503 (no key, not retried)",
                self.ended_unavailable.to_string(),
            ),
            ("accepted → final status", map(&self.statuses)),
            ("failed, by reason", map(&self.failed_by_reason)),
            (
                "dead-lettered (outbound DLQ)",
                self.dead_lettered.to_string(),
            ),
            ("duplicates (delivered twice)", self.duplicates.to_string()),
            ("lost", self.lost.to_string()),
            (
                "delivered but never accepted",
                self.unaccepted_deliveries.to_string(),
            ),
            (
                "orphan records (503 left a write)",
                self.orphans.to_string(),
            ),
            (
                "conversation counters off",
                format!("{} of {}", self.counters_off, self.counters_checked),
            ),
            (
                "user messages (refused in the end)",
                format!("{} ({})", self.user_messages, self.user_messages_refused),
            ),
            ("events expected", self.events_expected.to_string()),
            (
                "events delivered (distinct)",
                self.events_delivered.to_string(),
            ),
            (
                "events redelivered (same id)",
                self.events_redelivered.to_string(),
            ),
            (
                "events dead-lettered",
                self.events_dead_lettered.to_string(),
            ),
            ("events lost", self.events_lost.to_string()),
            ("events unexplained", self.events_unexplained.to_string()),
            ("bad signatures", self.bad_signatures.to_string()),
            (
                "emulator outages (connections cut)",
                format!("{} ({})", self.outages, self.emulator_connections_dropped),
            ),
            ("Viber sandbox answers", map(&self.viber_answers)),
            (
                "status callbacks abandoned",
                self.callbacks_abandoned.to_string(),
            ),
            (
                "statuses kept (tokens; DLQ jobs Viber took)",
                format!(
                    "{} ({})",
                    self.statuses_left_kept, self.delivered_dead_lettered
                ),
            ),
        ];
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        writeln!(f, "| {:width$} | figure |", "fault run")?;
        writeln!(f, "|{}|--------|", "-".repeat(width + 2))?;
        for (k, v) in rows {
            writeln!(f, "| {k:width$} | {v} |")?;
        }
        for line in &self.details {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}
