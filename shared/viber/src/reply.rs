//! How a user's answer finds the list it answers.
//!
//! Viber posts the user's tap on a list as a user message whose text is the option's text
//! (CM.com, "List messages"), and echoes the `#tracking_data` of the message answered ("String
//! returned to your webhook when the user replies": the n8n partner client's description of the
//! field). So a list or carousel goes with a `#tracking_data` that names it,
//! `vbm-list:{message id}:{option digests}:{business tracking data}` (or `vbm-carousel:`, with
//! no digests), and the answer's tracking data, read back with [`ReplyTracking::parse`], gives
//! the message id, which option the answer's text is (a short digest of each option, so a
//! tapped option is told from text the user typed) and the business's own tracking data.
//! Nothing is looked up: the event is built from the callback alone, the same every time it is
//! redelivered, even after the list itself was erased.

use session_rules::{INTERACTIVE_TRACKING_RESERVE, TrackingData};
use sha2::{Digest, Sha256};

const LIST_PREFIX: &str = "vbm-list:";
const CAROUSEL_PREFIX: &str = "vbm-carousel:";

/// Which interactive message is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interactive {
    List,
    Carousel,
}

impl Interactive {
    pub fn as_str(self) -> &'static str {
        match self {
            Interactive::List => "list",
            Interactive::Carousel => "carousel",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Interactive::List => LIST_PREFIX,
            Interactive::Carousel => CAROUSEL_PREFIX,
        }
    }
}

/// The `#tracking_data` of a list or carousel, as sent and as echoed back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTracking {
    pub kind: Interactive,
    pub message_id: String,
    /// A digest of each of a list's options, in order ([`option_digest`]).
    pub options: Vec<String>,
    /// The business's own tracking data of that message (empty when it gave none).
    pub business: String,
}

/// Six hex digits of an option's SHA-256: among a list's ten options at most, text the user
/// typed passes for one with a chance of about 1 in 1.6 million.
pub fn option_digest(option: &str) -> String {
    hex::encode(&Sha256::digest(option.as_bytes())[..3])
}

impl ReplyTracking {
    /// The tracking data a list or carousel goes with. `message_id` is one of ours (a ULID,
    /// without `:`); the API keeps the business's part short enough for both to fit
    /// ([`INTERACTIVE_TRACKING_RESERVE`]).
    pub fn encode(
        kind: Interactive,
        message_id: &str,
        options: &[String],
        business: Option<&TrackingData>,
    ) -> Result<TrackingData, String> {
        let digests: Vec<String> = options.iter().map(|o| option_digest(o)).collect();
        let head = format!("{}{message_id}:{}:", kind.prefix(), digests.join(","));
        if message_id.is_empty()
            || message_id.contains(':')
            || head.chars().count() > INTERACTIVE_TRACKING_RESERVE
        {
            return Err(format!("message id '{message_id}' cannot name a reply"));
        }
        let raw = format!(
            "{head}{}",
            business.map(TrackingData::as_str).unwrap_or_default()
        );
        TrackingData::parse("tracking_data", &raw).map_err(|refusal| refusal.to_string())
    }

    /// The list or carousel an echoed tracking data names, if it is one of ours; anything else
    /// (a business's tracking data of another message, or none) is `None` and passes through
    /// as it came.
    pub fn parse(echoed: &str) -> Option<Self> {
        let (kind, rest) = [Interactive::List, Interactive::Carousel]
            .into_iter()
            .find_map(|k| echoed.strip_prefix(k.prefix()).map(|rest| (k, rest)))?;
        let (message_id, rest) = rest.split_once(':')?;
        let (digests, business) = rest.split_once(':')?;
        let options: Vec<String> = match digests {
            "" => Vec::new(),
            d => d.split(',').map(str::to_owned).collect(),
        };
        (!message_id.is_empty()).then(|| Self {
            kind,
            message_id: message_id.to_owned(),
            options,
            business: business.to_owned(),
        })
    }

    /// Which option (from 0) `answer` is, when it is one of the list's.
    pub fn chosen(&self, answer: &str) -> Option<usize> {
        let digest = option_digest(answer);
        self.options.iter().position(|d| *d == digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_the_business_part_whole() {
        let id = "01JD0000000000000000000000";
        let options: Vec<String> = ["Great", "Late", "Dam:aged"].map(String::from).to_vec();
        for business in [
            None,
            Some(""),
            Some("order-42"),
            Some("a:b:c"),
            Some("vbm-list:x:y:z"),
        ] {
            let tracking = business.map(|b| TrackingData::parse("t", b).unwrap());
            for (kind, options) in [
                (Interactive::List, &options[..]),
                (Interactive::Carousel, &[][..]),
            ] {
                let sent = ReplyTracking::encode(kind, id, options, tracking.as_ref()).unwrap();
                let back = ReplyTracking::parse(sent.as_str()).unwrap();
                assert_eq!(back.kind, kind);
                assert_eq!(back.message_id, id);
                assert_eq!(back.business, business.unwrap_or_default());
                for (i, option) in options.iter().enumerate() {
                    assert_eq!(back.chosen(option), Some(i));
                }
                assert_eq!(back.chosen("I typed this"), None);
            }
        }
        assert_eq!(
            ReplyTracking::encode(Interactive::Carousel, id, &[], None)
                .unwrap()
                .as_str(),
            "vbm-carousel:01JD0000000000000000000000::"
        );
        // Ten options and the longest prefix fit the room the API keeps.
        let ten: Vec<String> = (0..10).map(|i| format!("Option {i}")).collect();
        assert!(ReplyTracking::encode(Interactive::List, id, &ten, None).is_ok());
    }

    #[test]
    fn other_tracking_data_is_not_a_reply() {
        for other in [
            "",
            "order-42",
            "vbm-list:",
            "vbm-list:nocolon",
            "vbm-list:id:nocolon",
            "vbm-list::x:y",
            "list:1:2:3",
        ] {
            assert_eq!(ReplyTracking::parse(other), None, "{other}");
        }
        assert!(ReplyTracking::encode(Interactive::List, "a:b", &[], None).is_err());
        assert!(ReplyTracking::encode(Interactive::List, "", &[], None).is_err());
    }
}
