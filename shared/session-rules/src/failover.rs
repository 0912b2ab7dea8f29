//! SMS failover, decided without I/O: what a send's `failover` member may say, what a message
//! fails over with (its own, the template's SMS text, the business's default), which triggers
//! start it, and the states and history steps of its progress.
//!
//! The store keeps a message's [`FailoverSpec`] and makes each step of [`FailoverState`] one
//! conditional write (`shared/store/src/failover.rs`, where the state machine is drawn); the
//! business's SMS policy (destinations, sender ids, parts, caps) is [`crate::sms`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Longest SMS text: 10 parts of 160 GSM characters (End User Messaging splits longer texts;
/// each part is billed).
pub const MAX_SMS_TEXT: usize = 1600;

/// What a send's `failover` says (or a business's default): the SMS to send instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverSms {
    pub text: String,
    /// The origination identity (alphanumeric sender id or E.164 number); `None` lets the
    /// deployment's default (`SMS_ORIGINATION_IDENTITY`) or AWS choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
}

/// Why a `failover` value is refused: a stable error code and a message for the business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverInvalid {
    pub code: &'static str,
    pub field: &'static str,
    pub message: String,
}

impl FailoverInvalid {
    fn new(code: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            field,
            message: message.into(),
        }
    }
}

/// A checked SMS text: 1 to [`MAX_SMS_TEXT`] characters, not only spaces, no control
/// characters but line breaks.
pub fn check_sms_text(text: &str) -> Result<(), FailoverInvalid> {
    let invalid = |m: &str| FailoverInvalid::new("failover_text_invalid", "failover.sms.text", m);
    if text.trim().is_empty() {
        return Err(invalid("the SMS text must not be empty"));
    }
    if text.chars().count() > MAX_SMS_TEXT {
        return Err(invalid("the SMS text is longer than 1600 characters"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Err(invalid("the SMS text must not hold control characters"));
    }
    Ok(())
}

/// A checked sender id: an alphanumeric sender id or short code (1 to 11 letters and digits)
/// or an E.164 number (`+` and 8 to 15 digits). What a country accepts is End User Messaging's
/// to say (its refusal fails the failover, with its reason).
pub fn check_sender_id(id: &str) -> Result<(), FailoverInvalid> {
    let alphanumeric =
        (1..=11).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric());
    let number = id
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()));
    if alphanumeric || number {
        Ok(())
    } else {
        Err(FailoverInvalid::new(
            "failover_sender_id_invalid",
            "failover.sms.sender_id",
            "sender_id: 1 to 11 letters and digits, or an E.164 number",
        ))
    }
}

/// The `failover` member of a send: `{"sms": {"text": "…", "sender_id": "…"}}`, both members
/// optional (a template's or the business's default fills what is missing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailoverRequest {
    pub text: Option<String>,
    pub sender_id: Option<String>,
}

impl FailoverRequest {
    pub fn parse(value: &serde_json::Value) -> Result<Self, FailoverInvalid> {
        let shape = |m: &str| FailoverInvalid::new("failover_invalid", "failover", m);
        let object = value
            .as_object()
            .ok_or_else(|| shape("failover must be an object: {\"sms\": {\"text\": …}}"))?;
        if object.keys().any(|k| k != "sms") {
            return Err(shape("failover has one member, sms"));
        }
        let sms = object
            .get("sms")
            .and_then(|v| v.as_object())
            .ok_or_else(|| shape("failover.sms must be an object"))?;
        if sms.keys().any(|k| k != "text" && k != "sender_id") {
            return Err(shape("failover.sms has the members text and sender_id"));
        }
        let string = |name: &str, code: &'static str, field: &'static str| match sms.get(name) {
            None => Ok(None),
            Some(serde_json::Value::String(v)) => Ok(Some(v.clone())),
            Some(_) => Err(FailoverInvalid::new(
                code,
                field,
                format!("failover.sms.{name} must be a string"),
            )),
        };
        let text = string("text", "failover_text_invalid", "failover.sms.text")?;
        let sender_id = string(
            "sender_id",
            "failover_sender_id_invalid",
            "failover.sms.sender_id",
        )?;
        if let Some(text) = &text {
            check_sms_text(text)?;
        }
        if let Some(id) = &sender_id {
            check_sender_id(id)?;
        }
        Ok(Self { text, sender_id })
    }
}

/// What may start a failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Trigger {
    /// Viber answered 9 `SRVC_NOT_VIBER_USER`.
    NotViberUser,
    /// Viber answered 10 `SRVC_NO_SUITABLE_DEVICE`.
    NoSuitableDevice,
    /// The status callback said `expired` before any `delivered`.
    Expired,
    /// No `delivered` within the deadline after `sent`.
    Deadline,
}

impl Trigger {
    pub const ALL: [Trigger; 4] = [
        Trigger::NotViberUser,
        Trigger::NoSuitableDevice,
        Trigger::Expired,
        Trigger::Deadline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::NotViberUser => "not_viber_user",
            Trigger::NoSuitableDevice => "no_suitable_device",
            Trigger::Expired => "expired",
            Trigger::Deadline => "deadline",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == input)
    }

    /// The trigger of a Viber `send_message` status, for 9 and 10.
    pub fn of_viber_status(code: i64) -> Option<Self> {
        match code {
            9 => Some(Trigger::NotViberUser),
            10 => Some(Trigger::NoSuitableDevice),
            _ => None,
        }
    }
}

/// Which triggers start a failover. Defaults: 9, 10 and `expired` do; the deadline is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Triggers {
    pub not_viber_user: bool,
    pub no_suitable_device: bool,
    pub expired: bool,
    /// Seconds after `sent` without `delivered`; `None` is off. At most
    /// [`MAX_DEADLINE_SECONDS`].
    pub deadline_seconds: Option<u32>,
}

/// The longest deadline: SQS's longest message delay (the deadline is a delayed job).
pub const MAX_DEADLINE_SECONDS: u32 = 900;

impl Default for Triggers {
    fn default() -> Self {
        Self {
            not_viber_user: true,
            no_suitable_device: true,
            expired: true,
            deadline_seconds: None,
        }
    }
}

impl Triggers {
    pub fn allows(&self, trigger: Trigger) -> bool {
        match trigger {
            Trigger::NotViberUser => self.not_viber_user,
            Trigger::NoSuitableDevice => self.no_suitable_device,
            Trigger::Expired => self.expired,
            Trigger::Deadline => self.deadline_seconds.is_some(),
        }
    }
}

/// A business's failover default (`vbmctl business failover`): what a send without its own
/// `failover` gets, and the triggers every failover of the business uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailoverPolicy {
    /// Every send fails over, with `text` when the send and its template give none.
    pub always: bool,
    pub text: Option<String>,
    pub sender_id: Option<String>,
    pub triggers: Triggers,
    /// A template's SMS text by template id, with the template's `{{placeholders}}`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub template_texts: BTreeMap<String, String>,
}

/// What a message fails over with, fixed when it was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverSpec {
    pub sms: FailoverSms,
    pub triggers: Triggers,
}

impl FailoverSpec {
    /// The failover of a send: its own `failover` (or, when the business's default says
    /// always, an empty one) completed from the template's SMS text, then the business's
    /// default. `Ok(None)`: no failover. `Err`: a failover without any text.
    pub fn resolve(
        request: Option<&FailoverRequest>,
        template_text: Option<String>,
        policy: Option<&FailoverPolicy>,
    ) -> Result<Option<Self>, FailoverInvalid> {
        let empty = FailoverRequest::default();
        let request = match (request, policy) {
            (Some(request), _) => request,
            (None, Some(policy)) if policy.always => &empty,
            _ => return Ok(None),
        };
        let text = request
            .text
            .clone()
            .or(template_text)
            .or_else(|| policy.and_then(|p| p.text.clone()))
            .ok_or_else(|| {
                FailoverInvalid::new(
                    "failover_text_missing",
                    "failover.sms.text",
                    "failover.sms.text is required: neither the template nor the business \
                     default gives an SMS text",
                )
            })?;
        check_sms_text(&text)?;
        Ok(Some(Self {
            sms: FailoverSms {
                text,
                sender_id: request
                    .sender_id
                    .clone()
                    .or_else(|| policy.and_then(|p| p.sender_id.clone())),
            },
            triggers: policy.map(|p| p.triggers).unwrap_or_default(),
        }))
    }
}

/// Where a message's failover stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverState {
    Claimed,
    Sending,
    Sent,
    Delivered,
    Failed,
    /// The business's SMS policy or a cap refused it: never sent.
    Refused,
}

impl FailoverState {
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverState::Claimed => "claimed",
            FailoverState::Sending => "sending",
            FailoverState::Sent => "sent",
            FailoverState::Delivered => "delivered",
            FailoverState::Failed => "failed",
            FailoverState::Refused => "refused",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        [
            FailoverState::Claimed,
            FailoverState::Sending,
            FailoverState::Sent,
            FailoverState::Delivered,
            FailoverState::Failed,
            FailoverState::Refused,
        ]
        .into_iter()
        .find(|s| s.as_str() == input)
    }
}

/// A failover step in a message's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverStep {
    Triggered,
    Sent,
    Delivered,
    Failed,
    Refused,
}

impl FailoverStep {
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverStep::Triggered => "failover_triggered",
            FailoverStep::Sent => "failover_sent",
            FailoverStep::Delivered => "failover_delivered",
            FailoverStep::Failed => "failover_failed",
            FailoverStep::Refused => "failover_refused",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        [
            FailoverStep::Triggered,
            FailoverStep::Sent,
            FailoverStep::Delivered,
            FailoverStep::Failed,
            FailoverStep::Refused,
        ]
        .into_iter()
        .find(|s| s.as_str() == input)
    }
}

/// A message's failover: what it was accepted with, and how far it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverRecord {
    pub spec: FailoverSpec,
    /// `None` until a trigger claimed it.
    pub state: Option<FailoverState>,
    pub trigger: Option<Trigger>,
    /// Provider calls begun.
    pub attempts: u32,
    /// Until when the current `sending` attempt is its caller's.
    pub lease_until: Option<Timestamp>,
    /// End User Messaging's `MessageId` once sent.
    pub sms_message_id: Option<String>,
    /// Why the last attempt, or the SMS, failed.
    pub reason: Option<String>,
    /// When the state was last moved.
    pub at: Option<Timestamp>,
}

impl FailoverRecord {
    /// Whether `trigger` may start this failover: not claimed yet, and the trigger on for it.
    /// The claim decides for good; this only spares queueing jobs that cannot claim.
    pub fn fires(&self, trigger: Trigger) -> bool {
        self.state.is_none() && self.spec.triggers.allows(trigger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_parses_or_says_which_code() {
        let ok = FailoverRequest::parse(&json!({"sms": {"text": "Hi", "sender_id": "Acme"}}));
        assert_eq!(
            ok,
            Ok(FailoverRequest {
                text: Some("Hi".into()),
                sender_id: Some("Acme".into())
            })
        );
        let code = |v: serde_json::Value| FailoverRequest::parse(&v).unwrap_err().code;
        assert_eq!(code(json!("sms")), "failover_invalid");
        assert_eq!(
            code(json!({"sms": {"text": "x"}, "whatsapp": {}})),
            "failover_invalid"
        );
        assert_eq!(code(json!({"sms": {"body": "x"}})), "failover_invalid");
        assert_eq!(code(json!({"sms": {"text": " "}})), "failover_text_invalid");
        assert_eq!(code(json!({"sms": {"text": 5}})), "failover_text_invalid");
        assert_eq!(
            code(json!({"sms": {"text": "x".repeat(1601)}})),
            "failover_text_invalid"
        );
        for bad in ["", "TwelveLetter", "+12", "Ac me", "+4477009001234567"] {
            assert_eq!(
                code(json!({"sms": {"text": "x", "sender_id": bad}})),
                "failover_sender_id_invalid",
                "{bad}"
            );
        }
        for good in ["+447700900123", "Acme", "12345"] {
            assert!(FailoverRequest::parse(&json!({"sms": {"sender_id": good}})).is_ok());
        }
    }

    #[test]
    fn the_send_then_the_template_then_the_business_give_the_text() {
        let policy = FailoverPolicy {
            always: false,
            text: Some("default".into()),
            sender_id: Some("Acme".into()),
            triggers: Triggers {
                deadline_seconds: Some(60),
                ..Triggers::default()
            },
            template_texts: Default::default(),
        };
        let own = FailoverRequest {
            text: Some("own".into()),
            sender_id: None,
        };
        let spec = FailoverSpec::resolve(Some(&own), Some("tpl".into()), Some(&policy))
            .unwrap()
            .unwrap();
        assert_eq!(spec.sms.text, "own");
        assert_eq!(spec.sms.sender_id.as_deref(), Some("Acme"));
        assert_eq!(spec.triggers.deadline_seconds, Some(60));
        let empty = FailoverRequest::default();
        let text = |t, p| {
            FailoverSpec::resolve(Some(&empty), t, p)
                .map(|s| s.map(|s| s.sms.text))
                .map_err(|e| e.code)
        };
        assert_eq!(
            text(Some("tpl".into()), Some(&policy)),
            Ok(Some("tpl".into()))
        );
        assert_eq!(text(None, Some(&policy)), Ok(Some("default".into())));
        assert_eq!(text(None, None), Err("failover_text_missing"));
        // Without its own failover, a send fails over only when the default says always.
        assert_eq!(FailoverSpec::resolve(None, None, Some(&policy)), Ok(None));
        let always = FailoverPolicy {
            always: true,
            ..policy
        };
        assert!(
            FailoverSpec::resolve(None, None, Some(&always))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn default_triggers_are_9_10_and_expired() {
        let t = Triggers::default();
        assert!(t.allows(Trigger::NotViberUser) && t.allows(Trigger::NoSuitableDevice));
        assert!(t.allows(Trigger::Expired) && !t.allows(Trigger::Deadline));
        for trigger in Trigger::ALL {
            assert_eq!(Trigger::parse(trigger.as_str()), Some(trigger));
        }
        assert_eq!(Trigger::of_viber_status(9), Some(Trigger::NotViberUser));
        assert_eq!(
            Trigger::of_viber_status(10),
            Some(Trigger::NoSuitableDevice)
        );
        assert_eq!(Trigger::of_viber_status(8), None);
    }
}
