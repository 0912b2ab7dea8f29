//! Fault injection for the sandbox and the sink: "misbehave for the next N calls, or for S
//! seconds". Local only; set through `POST /_sandbox/viber/faults` and
//! `POST /_sandbox/business/{id}/faults`. Faults queue up: each one armed takes over when the
//! ones before it are used up or over, so a schedule can be armed at once and meets whatever
//! traffic comes.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How Viber's `send_message` misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViberFault {
    /// HTTP 503, nothing sent to the user.
    Http5xx,
    /// The message goes to the user, but the answer comes after the client has given up.
    Timeout,
    /// The message goes to the user, the answer is HTTP 200 with a body that is not JSON.
    Garbage,
}

/// How the business's callback endpoint misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkFault {
    /// HTTP 500, the event not taken.
    Error,
    /// The event is taken, but the answer comes after `notify` has given up.
    Timeout,
}

impl ViberFault {
    fn parse(mode: &str) -> Option<Self> {
        match mode {
            "http_5xx" => Some(Self::Http5xx),
            "timeout" => Some(Self::Timeout),
            "garbage" => Some(Self::Garbage),
            _ => None,
        }
    }
}

impl SinkFault {
    fn parse(mode: &str) -> Option<Self> {
        match mode {
            "error" => Some(Self::Error),
            "timeout" => Some(Self::Timeout),
            _ => None,
        }
    }
}

/// One armed fault: its mode, and when it stops (after `calls` more calls, at `until`, or at
/// whichever comes first; `until` counts from when it is armed).
#[derive(Debug, Clone, Copy)]
struct Armed<M> {
    mode: M,
    calls: Option<u32>,
    until: Option<Instant>,
}

/// Faults that can be armed (queued), taken call by call, and cleared.
#[derive(Debug)]
pub struct Switch<M> {
    armed: Mutex<VecDeque<Armed<M>>>,
}

impl<M: Copy> Default for Switch<M> {
    fn default() -> Self {
        Self {
            armed: Mutex::new(VecDeque::new()),
        }
    }
}

impl<M: Copy> Switch<M> {
    /// Queues `mode` for `calls` calls and/or `seconds`; neither means until cleared.
    pub fn arm(&self, mode: M, calls: Option<u32>, seconds: Option<f64>) {
        let until = seconds.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
        self.lock().push_back(Armed { mode, calls, until });
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The fault for this call, if one is armed; counts the call.
    pub fn take(&self) -> Option<M> {
        let mut armed = self.lock();
        loop {
            let current = armed.front_mut()?;
            let expired = current.until.is_some_and(|until| Instant::now() >= until);
            if expired || current.calls == Some(0) {
                armed.pop_front();
                continue;
            }
            if let Some(calls) = current.calls.as_mut() {
                *calls -= 1;
            }
            return Some(current.mode);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Armed<M>>> {
        // A panic while holding this lock cannot leave it half-written (one assignment).
        self.armed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A parsed `{"mode": …, "count": N, "seconds": S}` request (`"mode": "off"` clears).
pub enum Request<M> {
    Arm {
        mode: M,
        count: Option<u32>,
        seconds: Option<f64>,
    },
    Off,
}

fn parse<M>(
    body: &[u8],
    modes: &str,
    mode_of: fn(&str) -> Option<M>,
) -> Result<Request<M>, String> {
    let usage =
        || format!("expected {{\"mode\": {modes} or \"off\", \"count\": N, \"seconds\": S}}");
    let value: Value = serde_json::from_slice(body).map_err(|_| usage())?;
    let mode = value
        .get("mode")
        .and_then(Value::as_str)
        .ok_or_else(usage)?;
    if mode == "off" {
        return Ok(Request::Off);
    }
    let mode = mode_of(mode).ok_or_else(usage)?;
    let count = match value.get("count") {
        None | Some(Value::Null) => None,
        Some(n) => Some(
            n.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(usage)?,
        ),
    };
    let seconds = match value.get("seconds") {
        None | Some(Value::Null) => None,
        Some(s) => Some(s.as_f64().filter(|s| *s >= 0.0).ok_or_else(usage)?),
    };
    Ok(Request::Arm {
        mode,
        count,
        seconds,
    })
}

pub fn parse_viber(body: &[u8]) -> Result<Request<ViberFault>, String> {
    parse(
        body,
        "\"http_5xx\", \"timeout\", \"garbage\"",
        ViberFault::parse,
    )
}

pub fn parse_sink(body: &[u8]) -> Result<Request<SinkFault>, String> {
    parse(body, "\"error\", \"timeout\"", SinkFault::parse)
}

/// Applies a parsed request to a switch; the JSON answer echoes it.
pub fn apply<M: Copy>(switch: &Switch<M>, request: Request<M>, echo: &[u8]) -> Value {
    match request {
        Request::Off => {
            switch.clear();
            json!({"mode": "off"})
        }
        Request::Arm {
            mode,
            count,
            seconds,
        } => {
            switch.arm(mode, count, seconds);
            serde_json::from_slice(echo).unwrap_or(Value::Null)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_fault_fires_exactly_that_many_times() {
        let switch = Switch::default();
        switch.arm(ViberFault::Garbage, Some(2), None);
        let taken: Vec<_> = (0..4).map(|_| switch.take()).collect();
        assert_eq!(
            taken,
            [
                Some(ViberFault::Garbage),
                Some(ViberFault::Garbage),
                None,
                None
            ]
        );
    }

    #[test]
    fn faults_armed_one_after_another_fire_in_turn() {
        let switch = Switch::default();
        switch.arm(ViberFault::Http5xx, Some(1), None);
        switch.arm(ViberFault::Timeout, Some(2), None);
        switch.arm(ViberFault::Garbage, Some(1), None);
        let taken: Vec<_> = (0..5).map(|_| switch.take()).collect();
        assert_eq!(
            taken,
            [
                Some(ViberFault::Http5xx),
                Some(ViberFault::Timeout),
                Some(ViberFault::Timeout),
                Some(ViberFault::Garbage),
                None
            ]
        );
    }

    #[test]
    fn a_timed_fault_stops_at_its_end_and_off_clears() {
        let switch = Switch::default();
        switch.arm(SinkFault::Error, None, Some(0.0));
        assert_eq!(switch.take(), None);
        switch.arm(SinkFault::Timeout, None, Some(60.0));
        assert_eq!(switch.take(), Some(SinkFault::Timeout));
        switch.clear();
        assert_eq!(switch.take(), None);
    }

    #[test]
    fn requests_are_checked() {
        assert!(matches!(
            parse_viber(br#"{"mode":"http_5xx","count":3}"#),
            Ok(Request::Arm {
                mode: ViberFault::Http5xx,
                count: Some(3),
                seconds: None
            })
        ));
        assert!(matches!(parse_sink(br#"{"mode":"off"}"#), Ok(Request::Off)));
        assert!(parse_viber(br#"{"mode":"slow"}"#).is_err());
        assert!(parse_sink(br#"{"mode":"error","seconds":-1}"#).is_err());
        assert!(parse_sink(b"not json").is_err());
    }
}
