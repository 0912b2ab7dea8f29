//! The Viber request for a stored message, rebuilt from what the business sent.
//!
//! `send` stores the business's request body (canonical JSON) as the message's `payload`;
//! here it goes through the same parsing as at the API ([`SendRequest::parse`]), the template is
//! filled again ([`TemplateParams::fill`]) and [`SendMessage::build`] makes Viber's body, with
//! `seq` derived from the message id so a retried send carries the same `seq`.
//!
//! A message whose payload no longer builds (its template was removed or changed since it was
//! accepted) is [`Unsendable`]: it fails for good, with the reason, instead of being retried.

use std::time::Duration;

use session_rules::{
    Limits, OutboundMessage, SendRequest, SendRequestBody, Template, TemplateParams, Timestamp,
    TransactionalText, Ttl,
};
use vbm_store::MessageRecord;
use viber::{Interactive, ReplyTracking, SendMessage, seq_for};

/// Why a message cannot be sent at all: recorded as its failure reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsendable(pub String);

/// What the request needs besides the message: the sender and, for templates, the template.
pub struct Sender<'a> {
    pub service_id: u64,
    pub template: Option<&'a Template>,
}

/// Whether the message is an OTP template: one that carries a `pin` parameter (VIBER.md: OTP
/// templates need a `pin`; without it Viber answers 7). Viber's 7 on it is then final.
pub fn is_otp(message: &MessageRecord) -> bool {
    serde_json::from_str::<serde_json::Value>(&message.payload).is_ok_and(|body| {
        body["type"] == "template" && body["template"]["params"].get("pin").is_some()
    })
}

/// The business's request, parsed again from the stored payload.
pub fn parse(message: &MessageRecord, limits: &Limits) -> Result<SendRequest, Unsendable> {
    let body: SendRequestBody = serde_json::from_str(&message.payload)
        .map_err(|e| Unsendable(format!("payload_invalid: {e}")))?;
    SendRequest::parse(&body, limits).map_err(|refusal| Unsendable(refusal.code().to_owned()))
}

/// Viber's `send_message` body for `request` at `now`.
///
/// The TTL the business asked for counts from acceptance: a message that waited in the queue
/// (retries) goes with what is left of it, at least Viber's minimum; one whose TTL ran out
/// before it could go is not sent (`ttl_elapsed`).
pub fn build(
    message: &MessageRecord,
    request: &SendRequest,
    sender: &Sender<'_>,
    limits: &Limits,
    now: Timestamp,
) -> Result<SendMessage, Unsendable> {
    let ttl = remaining_ttl(request.ttl, message.created_at, now, limits)?;
    let filled = match (&request.message, sender.template) {
        (OutboundMessage::Template { params, .. }, Some(template)) => {
            if !template.is_approved() {
                return Err(Unsendable("template_not_approved".into()));
            }
            Some(
                TemplateParams::fill(template, params)
                    .map_err(|refusal| Unsendable(refusal.code().to_owned()))?,
            )
        }
        (OutboundMessage::Template { .. }, None) => {
            return Err(Unsendable("template_not_found".into()));
        }
        _ => None,
    };
    // A list or carousel names itself in its tracking data, which Viber echoes with the user's
    // answer (viber::reply).
    let interactive = match &request.message {
        OutboundMessage::List(list) => Some((Interactive::List, list.options())),
        OutboundMessage::Carousel(_) => Some((Interactive::Carousel, &[][..])),
        _ => None,
    };
    let tracking = match interactive {
        Some((kind, options)) => Some(
            ReplyTracking::encode(
                kind,
                message.id.as_str(),
                options,
                request.tracking_data.as_ref(),
            )
            .map_err(|e| Unsendable(format!("request_invalid: {e}")))?,
        ),
        None => request.tracking_data.clone(),
    };
    let send = SendMessage::build(
        sender.service_id,
        seq_for(message.id.as_str()),
        &request.to,
        &request.message,
        ttl,
        tracking.as_ref(),
        sender.template.zip(filled.as_ref()),
    )
    .map_err(|e| Unsendable(format!("request_invalid: {e}")))?;
    Ok(match limits.transactional_text {
        TransactionalText::Type206 => send.as_type_206(request.tracking_data.as_ref()),
        TransactionalText::Type106 | TransactionalText::TemplateOnly => send,
    })
}

fn remaining_ttl(
    ttl: Ttl,
    accepted_at: Timestamp,
    now: Timestamp,
    limits: &Limits,
) -> Result<Ttl, Unsendable> {
    let waited = Duration::from_millis(
        u64::try_from(now.as_millis() - accepted_at.as_millis()).unwrap_or(0),
    );
    let left = Duration::from_secs(ttl.as_secs()).saturating_sub(waited);
    if left.is_zero() {
        return Err(Unsendable("ttl_elapsed".into()));
    }
    let seconds = left.max(limits.min_ttl).as_secs();
    Ttl::parse_seconds(seconds, limits).map_err(|refusal| Unsendable(refusal.code().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttl(seconds: u64) -> Ttl {
        Ttl::parse_seconds(seconds, &Limits::default()).unwrap()
    }

    #[test]
    fn ttl_counts_from_acceptance() {
        let limits = Limits::default();
        let at = Timestamp::from_millis(1_000_000);
        let left = |ttl_s: u64, waited_ms: i64| {
            remaining_ttl(
                ttl(ttl_s),
                at,
                Timestamp::from_millis(1_000_000 + waited_ms),
                &limits,
            )
            .map(Ttl::as_secs)
        };
        assert_eq!(left(3600, 0), Ok(3600));
        assert_eq!(left(3600, 600_000), Ok(3000));
        // Never below Viber's minimum while some is left…
        assert_eq!(left(60, 50_000), Ok(30));
        // …and not sent at all once it has run out.
        assert_eq!(left(60, 60_000), Err(Unsendable("ttl_elapsed".into())));
        // A clock behind the acceptance time takes nothing off.
        assert_eq!(left(3600, -5_000), Ok(3600));
    }
}
