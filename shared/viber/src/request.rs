//! The `send_message` body: Viber's partner fields, built from a domain message.
//!
//! # Where the message types come from
//!
//! Viber does not publish its partner API openly. The codes below follow the Viber Business
//! Messages API spec v11.3 as reproduced by a public partner client (the n8n community node
//! `n8n-nodes-viber-bm`, its `types.ts` type table and `ViberBusinessMessage.node.ts` body
//! builders), cross-checked with the type names in the project's design brief (306/307/221
//! session, 1701/1702 templates):
//!
//! | domain message                      | type | label       | `message` fields                         |
//! |-------------------------------------|------|-------------|------------------------------------------|
//! | session text                        | 306  | transaction | `#txt`, `#tracking_data`                 |
//! | session image                       | 307  | transaction | `#img`, `#tracking_data`                 |
//! | session file                        | 221  | transaction | `#action` (file URL), `#fileName`, `#tracking_data` if given; `file_type` beside |
//! | transactional text (+ URL)          | 106  | transaction | `#txt` (the URL on its own line)         |
//! | promotional text                    | 225  | promotion   | `#txt`, `#tracking_data`                 |
//! | promotional image                   | 107  | promotion   | `#img`                                   |
//! | promotional text + image (+ button) | 108  | promotion   | `#txt`, `#img`, `#caption`, `#action`    |
//! | promotional text + button           | 109  | promotion   | `#txt`, `#caption`, `#action`            |
//! | template, transactional             | 1701 | transaction | none: `templateId`, `templateLang`, `templateParams` |
//! | template, promotional               | 1702 | promotion   | as 1701                                  |
//! | list in a session                   | 802  | transaction | `#txt` (the title), `#tracking_data`; `survey` beside |
//! | list outside a session (legacy)     | 801  | transaction | as 802                                   |
//! | carousel                            | 901  | promotion   | `#txt`, `#tracking_data`; `carousel` beside |
//!
//! Lists and carousels follow the same client's `buildList` / `buildCarousel`: a list's options
//! go beside the message as `"survey": {"list_message_ui_type": 1, "options": ["…"]}` (1: the
//! radio-button style every Viber version shows; 2, buttons, needs Viber 27.8.2), a carousel's
//! cards as `"carousel": {"items": [{"title", "imageUrl", "primaryButton": {"label",
//! "actionUrl"}, "secondaryButton"?}]}`. Both require `#tracking_data`, and that client refuses
//! to send them without a non-empty one: ours always carries the message's id
//! ([`crate::ReplyTracking`]), which is also how the user's answer finds its list.
//!
//! Choices made where the sources leave room:
//! - Session files are 221, not 224: in the spec 224 is the smartphone-only variant of the same
//!   session file (not "a file with a caption"), and our files carry no caption.
//! - Promotional text alone is 225 (the spec's promotional text type); 106 is the transactional
//!   text type.
//! - Text + image without a button is 108 with an empty `#caption` and `#action`, which the spec
//!   documents as "hide the button"; 108 is text + image + button, 109 text + button.
//! - A transactional message's optional URL goes into `#txt`, on a line of its own after the
//!   text: 106 is text only, a `#caption`/`#action` button would make it a 109, which is a
//!   promotional type, and Viber makes links inside the text tappable anyway.
//! - `#tracking_data`: the spec requires it on 225, 306 and 307 (an empty string is accepted) and
//!   refuses it on the 1xx types with `SRVC_BAD_PARAMETERS`; so it is always sent on the former,
//!   never on the latter, and on 221 only when the business gave one. Our own message record
//!   keeps the business's tracking data either way.
//! - The design brief has 1701 transactional and 1702 promotional templates; the n8n table instead
//!   reads them as "smartphone only" and "all devices". The constants are in one place,
//!   [`MessageType`], if Viber's onboarding documents say otherwise.

use std::collections::BTreeMap;

use serde::Serialize;
use session_rules::{
    CardButton, ListDelivery, OutboundMessage, PhoneNumber, SessionContent, Template,
    TemplateParams, TemplateReach, TrackingData, Ttl,
};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Viber's numeric message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct MessageType(u16);

impl MessageType {
    pub const SESSION_TEXT: Self = Self(306);
    pub const SESSION_IMAGE: Self = Self(307);
    pub const SESSION_FILE: Self = Self(221);
    /// A session file for smartphones only (no `#tracking_data`).
    pub const SESSION_FILE_SMARTPHONES: Self = Self(224);
    /// A transactional file (with `#tracking_data`).
    pub const TRANSACTIONAL_FILE: Self = Self(220);
    /// A transactional file for smartphones only (no `#tracking_data`).
    pub const TRANSACTIONAL_FILE_SMARTPHONES: Self = Self(223);
    /// Free-form transactional text, legacy type.
    pub const TRANSACTIONAL_TEXT: Self = Self(106);
    /// Free-form transactional text, deprecated since 2026-04-01; takes `#tracking_data`.
    pub const TRANSACTIONAL_TEXT_206: Self = Self(206);
    pub const PROMOTIONAL_TEXT: Self = Self(225);
    pub const PROMOTIONAL_IMAGE: Self = Self(107);
    pub const PROMOTIONAL_TEXT_IMAGE_BUTTON: Self = Self(108);
    pub const PROMOTIONAL_TEXT_BUTTON: Self = Self(109);
    /// Promotional video: alone, with text, with text and a button.
    pub const PROMOTIONAL_VIDEO: Self = Self(230);
    pub const PROMOTIONAL_VIDEO_TEXT: Self = Self(231);
    pub const PROMOTIONAL_VIDEO_TEXT_BUTTON: Self = Self(232);
    /// Both template types are transactional; they differ by the devices they reach.
    pub const TEMPLATE_SMARTPHONES: Self = Self(1701);
    pub const TEMPLATE_ALL_DEVICES: Self = Self(1702);
    /// A list (Viber's "quick replies" survey) outside a session: a legacy transactional type.
    pub const LIST_TRANSACTIONAL: Self = Self(801);
    /// A list inside a session (API v11.2).
    pub const LIST_SESSION: Self = Self(802);
    pub const CAROUSEL: Self = Self(901);

    pub const fn code(self) -> u16 {
        self.0
    }

    fn tracking(self) -> Tracking {
        match self.0 {
            206 | 220 | 225 | 230..=233 | 306 | 307 | 801 | 802 | 901 => Tracking::Required,
            221 => Tracking::Accepted,
            _ => Tracking::Refused,
        }
    }
}

/// Whether a type takes `#tracking_data` (see the module docs).
enum Tracking {
    Required,
    Accepted,
    Refused,
}

/// Viber's `label`: what the message is billed and filtered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    Transaction,
    Promotion,
}

/// The `message` object of a non-template send. Viber's field names start with `#`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageBody {
    #[serde(rename = "#txt", skip_serializing_if = "Option::is_none")]
    pub txt: Option<String>,
    #[serde(rename = "#img", skip_serializing_if = "Option::is_none")]
    pub img: Option<String>,
    #[serde(rename = "#caption", skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(rename = "#action", skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(rename = "#fileName", skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(rename = "#tracking_data", skip_serializing_if = "Option::is_none")]
    pub tracking_data: Option<String>,
    /// A video's URL.
    #[serde(rename = "#media", skip_serializing_if = "Option::is_none")]
    pub media: Option<String>,
    #[serde(rename = "#thumbnail", skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
}

/// `POST {base}/send_message`, as Viber's partner API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendMessage {
    pub service_id: u64,
    /// International digits, no `+`.
    pub dest: String,
    /// Unique per send; Viber echoes it back. See [`seq_for`].
    pub seq: u64,
    pub label: Label,
    #[serde(rename = "type")]
    pub message_type: MessageType,
    /// Seconds Viber keeps trying to deliver.
    pub ttl: u64,
    /// Session files: the file's extension (`pdf`), beside the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_type: Option<String>,
    /// Videos: size in bytes and duration in seconds, beside the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageBody>,
    #[serde(rename = "templateId", skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    #[serde(rename = "templateLang", skip_serializing_if = "Option::is_none")]
    pub template_lang: Option<String>,
    #[serde(rename = "templateParams", skip_serializing_if = "Option::is_none")]
    pub template_params: Option<BTreeMap<String, String>>,
    /// A list's options (801/802).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey: Option<Survey>,
    /// A carousel's cards (901).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carousel: Option<CarouselBody>,
}

/// A list's options, beside the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Survey {
    /// 1: radio buttons, shown by every Viber version.
    pub list_message_ui_type: u8,
    pub options: Vec<String>,
}

/// A carousel's cards, beside the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CarouselBody {
    pub items: Vec<CarouselItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CarouselItem {
    pub title: String,
    pub image_url: String,
    pub primary_button: CarouselButton,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_button: Option<CarouselButton>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CarouselButton {
    pub label: String,
    pub action_url: String,
}

/// A message and the template handed to [`SendMessage::build`] that do not belong together.
/// Admission pairs them before a message is queued, so this is a bug in the caller, reported
/// rather than sent to Viber as a half-built request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BuildError {
    #[error("template message '{0}' needs its template and filled parameters")]
    TemplateMissing(String),
    #[error("template '{given}' given for a message of template '{expected}'")]
    TemplateMismatch { expected: String, given: String },
    #[error("a {0} message takes no template")]
    UnexpectedTemplate(&'static str),
}

impl SendMessage {
    /// Builds the body for one send. `template` is the registered template and its filling,
    /// required for (and only for) template messages.
    pub fn build(
        service_id: u64,
        seq: u64,
        to: &PhoneNumber,
        message: &OutboundMessage,
        ttl: Ttl,
        tracking_data: Option<&TrackingData>,
        template: Option<(&Template, &TemplateParams)>,
    ) -> Result<SendMessage, BuildError> {
        let mut out = SendMessage {
            service_id,
            dest: to.digits().to_owned(),
            seq,
            label: Label::Transaction,
            message_type: MessageType::TRANSACTIONAL_TEXT,
            ttl: ttl.as_secs(),
            file_type: None,
            file_size: None,
            duration: None,
            message: None,
            template_id: None,
            template_lang: None,
            template_params: None,
            survey: None,
            carousel: None,
        };
        if template.is_some() && !matches!(message, OutboundMessage::Template { .. }) {
            return Err(BuildError::UnexpectedTemplate(message.kind()));
        }
        let mut body = MessageBody::default();
        match message {
            OutboundMessage::Session(SessionContent::Text(text)) => {
                out.message_type = MessageType::SESSION_TEXT;
                body.txt = Some(text.to_string());
            }
            OutboundMessage::Session(SessionContent::Image(url)) => {
                out.message_type = MessageType::SESSION_IMAGE;
                body.img = Some(url.to_string());
            }
            OutboundMessage::Session(SessionContent::File(file)) => {
                out.message_type = match file.reach {
                    TemplateReach::AllDevices => MessageType::SESSION_FILE,
                    TemplateReach::Smartphones => MessageType::SESSION_FILE_SMARTPHONES,
                };
                body.action = Some(file.url.to_string());
                body.file_name = Some(file.name.to_string());
                out.file_type = extension(file.name.as_str());
            }
            OutboundMessage::TransactionalFile(file) => {
                out.message_type = match file.reach {
                    TemplateReach::AllDevices => MessageType::TRANSACTIONAL_FILE,
                    TemplateReach::Smartphones => MessageType::TRANSACTIONAL_FILE_SMARTPHONES,
                };
                body.action = Some(file.url.to_string());
                body.file_name = Some(file.name.to_string());
                out.file_type = extension(file.name.as_str());
            }
            OutboundMessage::Transactional { text, url } => {
                out.message_type = MessageType::TRANSACTIONAL_TEXT;
                body.txt = Some(match url {
                    Some(url) => format!("{text}\n{url}"),
                    None => text.to_string(),
                });
            }
            OutboundMessage::Promotional {
                text,
                button,
                video: Some(video),
                ..
            } => {
                out.label = Label::Promotion;
                body.txt = text.as_ref().map(ToString::to_string);
                body.media = Some(video.url.to_string());
                body.thumbnail = video.thumbnail.as_ref().map(ToString::to_string);
                out.file_size = Some(video.size_bytes);
                out.duration = Some(video.duration_seconds);
                out.message_type = match (text.is_some(), button) {
                    (false, _) => MessageType::PROMOTIONAL_VIDEO,
                    (true, None) => MessageType::PROMOTIONAL_VIDEO_TEXT,
                    (true, Some(button)) => {
                        body.caption = Some(button.caption.to_string());
                        body.action = Some(button.url.to_string());
                        MessageType::PROMOTIONAL_VIDEO_TEXT_BUTTON
                    }
                };
            }
            OutboundMessage::Promotional {
                text,
                image,
                button,
                video: None,
            } => {
                out.label = Label::Promotion;
                body.txt = text.as_ref().map(ToString::to_string);
                body.img = image.as_ref().map(ToString::to_string);
                out.message_type = match (text.is_some(), image.is_some(), button.is_some()) {
                    (false, true, false) => MessageType::PROMOTIONAL_IMAGE,
                    (true, false, false) => MessageType::PROMOTIONAL_TEXT,
                    (true, false, true) => MessageType::PROMOTIONAL_TEXT_BUTTON,
                    // Text and image, with or without a button (the domain has no button
                    // without text, nor a message with neither text nor image).
                    _ => MessageType::PROMOTIONAL_TEXT_IMAGE_BUTTON,
                };
                if out.message_type == MessageType::PROMOTIONAL_TEXT_IMAGE_BUTTON
                    || out.message_type == MessageType::PROMOTIONAL_TEXT_BUTTON
                {
                    // A 108 without a button carries an empty caption and action: Viber's way
                    // of hiding the button.
                    body.caption = Some(
                        button
                            .as_ref()
                            .map(|b| b.caption.to_string())
                            .unwrap_or_default(),
                    );
                    body.action = Some(
                        button
                            .as_ref()
                            .map(|b| b.url.to_string())
                            .unwrap_or_default(),
                    );
                }
            }
            OutboundMessage::List(list) => {
                out.message_type = match list.delivery() {
                    ListDelivery::Session => MessageType::LIST_SESSION,
                    ListDelivery::Transactional => MessageType::LIST_TRANSACTIONAL,
                };
                body.txt = Some(list.title().to_owned());
                out.survey = Some(Survey {
                    list_message_ui_type: 1,
                    options: list.options().to_vec(),
                });
            }
            OutboundMessage::Carousel(carousel) => {
                out.label = Label::Promotion;
                out.message_type = MessageType::CAROUSEL;
                body.txt = Some(carousel.text.to_string());
                let button = |b: &CardButton| CarouselButton {
                    label: b.label.clone(),
                    action_url: b.url.to_string(),
                };
                out.carousel = Some(CarouselBody {
                    items: carousel
                        .cards
                        .iter()
                        .map(|card| CarouselItem {
                            title: card.title.clone(),
                            image_url: card.image.to_string(),
                            primary_button: button(&card.primary),
                            secondary_button: card.secondary.as_ref().map(button),
                        })
                        .collect(),
                });
            }
            OutboundMessage::Template { id, .. } => {
                let Some((template, params)) = template else {
                    return Err(BuildError::TemplateMissing(id.as_str().to_owned()));
                };
                for given in [template.id(), params.template_id()] {
                    if given != id {
                        return Err(BuildError::TemplateMismatch {
                            expected: id.as_str().to_owned(),
                            given: given.as_str().to_owned(),
                        });
                    }
                }
                // No source has a promotional template: every template goes as a transaction,
                // 1701 or 1702 by the devices it reaches.
                out.label = Label::Transaction;
                out.message_type = match template.reach() {
                    TemplateReach::Smartphones => MessageType::TEMPLATE_SMARTPHONES,
                    TemplateReach::AllDevices => MessageType::TEMPLATE_ALL_DEVICES,
                };
                // Viber's id for it: the one it gave at approval (a template the business
                // created), else the template's own (an operator registers Viber's id).
                out.template_id = Some(template.viber_template_id().as_str().to_owned());
                out.template_lang = Some(template.language().as_str().to_owned());
                out.template_params = Some(params.values().clone());
                return Ok(out);
            }
        }
        body.tracking_data = match out.message_type.tracking() {
            Tracking::Required => Some(tracking_data.map(ToString::to_string).unwrap_or_default()),
            Tracking::Accepted => tracking_data.map(ToString::to_string),
            Tracking::Refused => None,
        };
        out.message = Some(body);
        Ok(out)
    }
}

impl SendMessage {
    /// A free-form transactional text (106) sent as type 206 instead, with its
    /// `#tracking_data` (206 requires one, empty allowed); any other message as it is. The
    /// deployment chooses (`VIBER_TRANSACTIONAL_TEXT`).
    pub fn as_type_206(mut self, tracking_data: Option<&TrackingData>) -> Self {
        if self.message_type == MessageType::TRANSACTIONAL_TEXT {
            self.message_type = MessageType::TRANSACTIONAL_TEXT_206;
            if let Some(body) = self.message.as_mut() {
                body.tracking_data =
                    Some(tracking_data.map(ToString::to_string).unwrap_or_default());
            }
        }
        self
    }
}

/// `report.PDF` → `pdf`.
fn extension(name: &str) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

/// The `seq` of a message: a hash of its id, so a retried send carries the same `seq` (Viber
/// can then recognise it) and different messages carry different ones.
///
/// Kept to 53 bits so it survives any JSON parser on the way (a JavaScript number is exact up
/// to 2^53); among the messages in flight at once, a collision is a 1-in-10^15 event.
pub fn seq_for(message_id: &str) -> u64 {
    let digest = Sha256::digest(message_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) & ((1 << 53) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use session_rules::{
        Button, Caption, FileAttachment, FileName, HttpsUrl, Language, Limits, TemplateCategory,
        TemplateId, Text, Video,
    };

    fn to() -> PhoneNumber {
        PhoneNumber::parse("+380501234567").unwrap()
    }

    fn ttl() -> Ttl {
        Ttl::parse_seconds(3600, &Limits::default()).unwrap()
    }

    fn text(s: &str) -> Text {
        Text::parse("text", s).unwrap()
    }

    fn url(s: &str) -> HttpsUrl {
        HttpsUrl::parse("url", s).unwrap()
    }

    fn tracking() -> TrackingData {
        TrackingData::parse("tracking_data", "order-42").unwrap()
    }

    fn build(message: &OutboundMessage, tracking_data: Option<&TrackingData>) -> Value {
        let req = SendMessage::build(7, 99, &to(), message, ttl(), tracking_data, None).unwrap();
        serde_json::to_value(&req).unwrap()
    }

    /// The fields every send carries, checked one by one.
    fn assert_envelope(v: &Value, label: &str, message_type: u64) {
        assert_eq!(v["service_id"], json!(7));
        assert_eq!(v["dest"], json!("380501234567"));
        assert_eq!(v["seq"], json!(99));
        assert_eq!(v["label"], json!(label));
        assert_eq!(v["type"], json!(message_type));
        assert_eq!(v["ttl"], json!(3600));
    }

    fn keys(v: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn session_text_is_306_with_tracking_data() {
        let v = build(
            &OutboundMessage::Session(SessionContent::Text(text("Your order is ready"))),
            Some(&tracking()),
        );
        assert_envelope(&v, "transaction", 306);
        assert_eq!(
            keys(&v),
            [
                "dest",
                "label",
                "message",
                "seq",
                "service_id",
                "ttl",
                "type"
            ]
        );
        assert_eq!(v["message"]["#txt"], json!("Your order is ready"));
        assert_eq!(v["message"]["#tracking_data"], json!("order-42"));
        assert_eq!(keys(&v["message"]), ["#tracking_data", "#txt"]);
    }

    #[test]
    fn session_image_is_307_and_tracking_data_defaults_to_empty() {
        let v = build(
            &OutboundMessage::Session(SessionContent::Image(url("https://cdn.example/a.png"))),
            None,
        );
        assert_envelope(&v, "transaction", 307);
        assert_eq!(v["message"]["#img"], json!("https://cdn.example/a.png"));
        assert_eq!(v["message"]["#tracking_data"], json!(""));
        assert_eq!(keys(&v["message"]), ["#img", "#tracking_data"]);
    }

    #[test]
    fn session_file_is_221_with_action_file_name_and_type() {
        let file = FileAttachment {
            url: url("https://cdn.example/invoice-7.PDF"),
            name: FileName::parse("file.name", "Invoice 7.PDF").unwrap(),
            reach: TemplateReach::AllDevices,
        };
        let v = build(&OutboundMessage::Session(SessionContent::File(file)), None);
        assert_envelope(&v, "transaction", 221);
        assert_eq!(v["file_type"], json!("pdf"));
        assert_eq!(
            v["message"]["#action"],
            json!("https://cdn.example/invoice-7.PDF")
        );
        assert_eq!(v["message"]["#fileName"], json!("Invoice 7.PDF"));
        assert_eq!(keys(&v["message"]), ["#action", "#fileName"]);
        let with_tracking = build(
            &OutboundMessage::Session(SessionContent::File(FileAttachment {
                url: url("https://cdn.example/readme"),
                name: FileName::parse("file.name", "readme").unwrap(),
                reach: TemplateReach::AllDevices,
            })),
            Some(&tracking()),
        );
        assert_eq!(with_tracking.get("file_type"), None);
        assert_eq!(
            with_tracking["message"]["#tracking_data"],
            json!("order-42")
        );
    }

    #[test]
    fn transactional_is_106_text_only_and_the_url_joins_the_text() {
        let v = build(
            &OutboundMessage::Transactional {
                text: text("Your code is 1234"),
                url: None,
            },
            Some(&tracking()),
        );
        assert_envelope(&v, "transaction", 106);
        assert_eq!(keys(&v["message"]), ["#txt"]);
        assert_eq!(v["message"]["#txt"], json!("Your code is 1234"));

        let v = build(
            &OutboundMessage::Transactional {
                text: text("Your order shipped"),
                url: Some(url("https://shop.example/o/1")),
            },
            None,
        );
        assert_envelope(&v, "transaction", 106);
        assert_eq!(
            v["message"]["#txt"],
            json!("Your order shipped\nhttps://shop.example/o/1")
        );
        assert_eq!(keys(&v["message"]), ["#txt"]);
    }

    #[test]
    fn transactional_text_can_go_as_206_with_its_tracking_data() {
        let message = OutboundMessage::Transactional {
            text: text("Your code is 1234"),
            url: None,
        };
        let as_206 = |tracking: Option<&TrackingData>| {
            let req = SendMessage::build(7, 99, &to(), &message, ttl(), tracking, None)
                .unwrap()
                .as_type_206(tracking);
            serde_json::to_value(&req).unwrap()
        };
        let v = as_206(Some(&tracking()));
        assert_envelope(&v, "transaction", 206);
        assert_eq!(v["message"]["#tracking_data"], json!("order-42"));
        assert_eq!(v["message"]["#txt"], json!("Your code is 1234"));
        // Required on 206: empty when the business gave none.
        assert_eq!(as_206(None)["message"]["#tracking_data"], json!(""));
        // Anything else is left as it is.
        let session = OutboundMessage::Session(SessionContent::Text(text("hi")));
        let req = SendMessage::build(7, 99, &to(), &session, ttl(), None, None)
            .unwrap()
            .as_type_206(None);
        assert_eq!(serde_json::to_value(&req).unwrap()["type"], json!(306));
    }

    fn promo(text_: Option<&str>, image: Option<&str>, button: bool) -> OutboundMessage {
        OutboundMessage::Promotional {
            text: text_.map(text),
            image: image.map(url),
            button: button.then(|| Button {
                caption: Caption::parse("button.caption", "Shop now").unwrap(),
                url: url("https://shop.example/sale"),
            }),
            video: None,
        }
    }

    #[test]
    fn a_transactional_file_is_220_with_its_tracking_data() {
        let file = OutboundMessage::TransactionalFile(FileAttachment {
            url: url("https://cdn.example/invoice.pdf"),
            name: FileName::parse("file.name", "invoice.pdf").unwrap(),
            reach: TemplateReach::AllDevices,
        });
        let v = build(&file, Some(&tracking()));
        assert_envelope(&v, "transaction", 220);
        assert_eq!(
            v["message"]["#action"],
            json!("https://cdn.example/invoice.pdf")
        );
        assert_eq!(v["message"]["#fileName"], json!("invoice.pdf"));
        assert_eq!(v["message"]["#tracking_data"], json!("order-42"));
        assert_eq!(v["file_type"], json!("pdf"));
        assert_eq!(build(&file, None)["message"]["#tracking_data"], json!(""));
    }

    #[test]
    fn files_for_smartphones_only_are_223_and_224_without_tracking_data() {
        let attachment = FileAttachment {
            url: url("https://cdn.example/invoice.pdf"),
            name: FileName::parse("file.name", "invoice.pdf").unwrap(),
            reach: TemplateReach::Smartphones,
        };
        let transactional = build(
            &OutboundMessage::TransactionalFile(attachment.clone()),
            Some(&tracking()),
        );
        assert_envelope(&transactional, "transaction", 223);
        let session = build(
            &OutboundMessage::Session(SessionContent::File(attachment)),
            Some(&tracking()),
        );
        assert_envelope(&session, "transaction", 224);
        for v in [&transactional, &session] {
            // Smartphone-only types refuse #tracking_data (Viber's status 6).
            assert_eq!(keys(&v["message"]), ["#action", "#fileName"]);
            assert_eq!(v["file_type"], json!("pdf"));
        }
    }

    #[test]
    fn promotional_video_is_230_231_or_232_with_media_size_and_duration() {
        let video = Video {
            url: url("https://cdn.example/v.mp4"),
            thumbnail: Some(url("https://cdn.example/v.jpg")),
            size_bytes: 1_048_576,
            duration_seconds: 42,
        };
        let with = |text_: Option<&str>, button: bool| OutboundMessage::Promotional {
            text: text_.map(text),
            image: None,
            button: button.then(|| Button {
                caption: Caption::parse("button.caption", "Watch").unwrap(),
                url: url("https://shop.example/v"),
            }),
            video: Some(video.clone()),
        };
        for (message, code) in [
            (with(None, false), 230),
            (with(Some("New!"), false), 231),
            (with(Some("New!"), true), 232),
        ] {
            let v = build(&message, None);
            assert_envelope(&v, "promotion", code);
            assert_eq!(v["message"]["#media"], json!("https://cdn.example/v.mp4"));
            assert_eq!(
                v["message"]["#thumbnail"],
                json!("https://cdn.example/v.jpg")
            );
            assert_eq!(v["file_size"], json!(1_048_576));
            assert_eq!(v["duration"], json!(42));
            // Required on 230-233 (empty allowed).
            assert_eq!(v["message"]["#tracking_data"], json!(""), "{code}");
            assert!(v["message"].get("#img").is_none());
        }
        let v = build(&with(Some("New!"), true), None);
        assert_eq!(v["message"]["#caption"], json!("Watch"));
        assert_eq!(v["message"]["#action"], json!("https://shop.example/v"));
    }

    #[test]
    fn promotional_text_only_is_225() {
        let v = build(&promo(Some("Sale! 🎉"), None, false), Some(&tracking()));
        assert_envelope(&v, "promotion", 225);
        assert_eq!(v["message"]["#txt"], json!("Sale! 🎉"));
        assert_eq!(v["message"]["#tracking_data"], json!("order-42"));
        assert_eq!(keys(&v["message"]), ["#tracking_data", "#txt"]);
    }

    #[test]
    fn promotional_image_only_is_107_without_tracking_data() {
        let v = build(
            &promo(None, Some("https://cdn.example/sale.jpg"), false),
            Some(&tracking()),
        );
        assert_envelope(&v, "promotion", 107);
        assert_eq!(v["message"]["#img"], json!("https://cdn.example/sale.jpg"));
        assert_eq!(keys(&v["message"]), ["#img"]);
    }

    #[test]
    fn promotional_text_and_button_is_109() {
        let v = build(&promo(Some("Sale!"), None, true), Some(&tracking()));
        assert_envelope(&v, "promotion", 109);
        assert_eq!(v["message"]["#txt"], json!("Sale!"));
        assert_eq!(v["message"]["#caption"], json!("Shop now"));
        assert_eq!(v["message"]["#action"], json!("https://shop.example/sale"));
        assert_eq!(keys(&v["message"]), ["#action", "#caption", "#txt"]);
    }

    #[test]
    fn promotional_text_image_and_button_is_108() {
        let v = build(
            &promo(Some("Sale!"), Some("https://cdn.example/sale.jpg"), true),
            None,
        );
        assert_envelope(&v, "promotion", 108);
        assert_eq!(v["message"]["#txt"], json!("Sale!"));
        assert_eq!(v["message"]["#img"], json!("https://cdn.example/sale.jpg"));
        assert_eq!(v["message"]["#caption"], json!("Shop now"));
        assert_eq!(v["message"]["#action"], json!("https://shop.example/sale"));
        assert_eq!(keys(&v["message"]), ["#action", "#caption", "#img", "#txt"]);
    }

    #[test]
    fn promotional_text_and_image_is_108_with_the_button_hidden() {
        let v = build(
            &promo(Some("Sale!"), Some("https://cdn.example/sale.jpg"), false),
            None,
        );
        assert_envelope(&v, "promotion", 108);
        assert_eq!(v["message"]["#caption"], json!(""));
        assert_eq!(v["message"]["#action"], json!(""));
        assert_eq!(keys(&v["message"]), ["#action", "#caption", "#img", "#txt"]);
    }

    fn template(category: TemplateCategory) -> Template {
        Template::parse(
            TemplateId::parse("order_ready").unwrap(),
            Language::parse("uk").unwrap(),
            category,
            true,
            "Привіт {{name}}, замовлення {{order}} готове",
        )
        .unwrap()
    }

    fn template_message() -> (OutboundMessage, BTreeMap<String, String>) {
        let params: BTreeMap<String, String> = [("name", "Олена"), ("order", "42")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        (
            OutboundMessage::Template {
                id: TemplateId::parse("order_ready").unwrap(),
                params: params.clone(),
                lang: None,
            },
            params,
        )
    }

    #[test]
    fn templates_are_1701_or_1702_by_reach_always_transactional_with_no_message() {
        let (message, raw) = template_message();
        for (t, code, label) in [
            (
                template(TemplateCategory::Transactional),
                1702,
                "transaction",
            ),
            (
                template(TemplateCategory::Transactional).with_reach(TemplateReach::Smartphones),
                1701,
                "transaction",
            ),
            (
                template(TemplateCategory::Transactional).with_reach(TemplateReach::AllDevices),
                1702,
                "transaction",
            ),
            // A legacy "promotional" template: still a transactional template type.
            (template(TemplateCategory::Promotional), 1702, "transaction"),
        ] {
            let params = TemplateParams::fill(&t, &raw).unwrap();
            let req = SendMessage::build(
                7,
                99,
                &to(),
                &message,
                ttl(),
                Some(&tracking()),
                Some((&t, &params)),
            )
            .unwrap();
            let v = serde_json::to_value(&req).unwrap();
            assert_envelope(&v, label, code);
            assert_eq!(v["templateId"], json!("order_ready"));
            assert_eq!(v["templateLang"], json!("uk"));
            assert_eq!(v["templateParams"], json!({"name": "Олена", "order": "42"}));
            assert_eq!(v.get("message"), None);
            assert_eq!(
                keys(&v),
                [
                    "dest",
                    "label",
                    "seq",
                    "service_id",
                    "templateId",
                    "templateLang",
                    "templateParams",
                    "ttl",
                    "type"
                ]
            );
        }
    }

    #[test]
    fn template_and_message_must_belong_together() {
        let (message, raw) = template_message();
        let build_with = |m: &OutboundMessage, t: Option<(&Template, &TemplateParams)>| {
            SendMessage::build(7, 1, &to(), m, ttl(), None, t)
        };
        assert_eq!(
            build_with(&message, None).unwrap_err(),
            BuildError::TemplateMissing("order_ready".into())
        );
        let other = Template::parse(
            TemplateId::parse("welcome").unwrap(),
            Language::parse("en").unwrap(),
            TemplateCategory::Transactional,
            true,
            "Hi {{name}} {{order}}",
        )
        .unwrap();
        let other_params = TemplateParams::fill(&other, &raw).unwrap();
        assert!(matches!(
            build_with(&message, Some((&other, &other_params))),
            Err(BuildError::TemplateMismatch { .. })
        ));
        let right = template(TemplateCategory::Transactional);
        assert!(matches!(
            build_with(&message, Some((&right, &other_params))),
            Err(BuildError::TemplateMismatch { .. })
        ));
        let session = OutboundMessage::Session(SessionContent::Text(text("hi")));
        let params = TemplateParams::fill(&right, &raw).unwrap();
        assert_eq!(
            build_with(&session, Some((&right, &params))).unwrap_err(),
            BuildError::UnexpectedTemplate("session")
        );
    }

    /// A template the business created goes under the id Viber gave it at approval, not ours.
    #[test]
    fn a_template_goes_under_viber_s_id() {
        let (message, raw) = template_message();
        let ours = template(TemplateCategory::Transactional);
        let viber_id = TemplateId::parse("5b1e4a7c-2d3f-4e5a-9b8c-7d6e5f4a3b2c").unwrap();
        let approved = ours.clone().restored(
            session_rules::TemplateState::Approved,
            session_rules::TemplateOrigin::Api,
            Some("Order ready".into()),
            Some(viber_id.clone()),
            None,
            None,
        );
        let params = TemplateParams::fill(&approved, &raw).unwrap();
        let body = SendMessage::build(
            7,
            1,
            &to(),
            &message,
            ttl(),
            None,
            Some((&approved, &params)),
        )
        .unwrap();
        assert_eq!(body.template_id.as_deref(), Some(viber_id.as_str()));
        let params = TemplateParams::fill(&ours, &raw).unwrap();
        let body =
            SendMessage::build(7, 1, &to(), &message, ttl(), None, Some((&ours, &params))).unwrap();
        assert_eq!(body.template_id.as_deref(), Some("order_ready"));
    }

    #[test]
    fn seq_is_stable_distinct_and_json_safe() {
        let a = seq_for("01HZX3V5W6Y7Z8A9B0C1D2E3F4");
        assert_eq!(a, seq_for("01HZX3V5W6Y7Z8A9B0C1D2E3F4"));
        assert_ne!(a, seq_for("01HZX3V5W6Y7Z8A9B0C1D2E3F5"));
        for id in ["", "a", "msg-1", "01HZX3V5W6Y7Z8A9B0C1D2E3F4"] {
            assert!(seq_for(id) < 1 << 53, "{id}");
        }
    }

    #[test]
    fn file_extensions() {
        assert_eq!(extension("a.PDF"), Some("pdf".into()));
        assert_eq!(extension("archive.tar.gz"), Some("gz".into()));
        assert_eq!(extension("README"), None);
        assert_eq!(extension(".profile"), None);
        assert_eq!(extension("trailing."), None);
    }

    /// Lists and carousels against the shape of the public partner client's `buildList` and
    /// `buildCarousel` (`andrey0001/n8n-nodes-viber-bm`, `ViberBusinessMessage.node.ts`):
    /// the expected bodies are written out by hand from it, whole.
    mod interactive {
        use super::*;
        use session_rules::{Carousel, List, ListDelivery, RawCardRef};

        fn list(delivery: ListDelivery) -> OutboundMessage {
            let options = [
                "Great".to_string(),
                "Late".to_string(),
                "Damaged".to_string(),
            ];
            OutboundMessage::List(
                List::parse("How was your delivery?", &options, delivery).unwrap(),
            )
        }

        fn tracking_of(id: &str) -> TrackingData {
            TrackingData::parse("tracking_data", id).unwrap()
        }

        #[test]
        fn a_session_list_is_802_with_its_options_in_a_survey() {
            let tracking = tracking_of("vbm-list:01JD0000000000000000000000:order-42");
            let v = build(&list(ListDelivery::Session), Some(&tracking));
            assert_eq!(
                v,
                json!({
                    "service_id": 7,
                    "dest": "380501234567",
                    "seq": 99,
                    "label": "transaction",
                    "type": 802,
                    "ttl": 3600,
                    "message": {
                        "#txt": "How was your delivery?",
                        "#tracking_data": "vbm-list:01JD0000000000000000000000:order-42"
                    },
                    "survey": {
                        "list_message_ui_type": 1,
                        "options": ["Great", "Late", "Damaged"]
                    }
                })
            );
        }

        #[test]
        fn a_transactional_list_is_801() {
            let v = build(&list(ListDelivery::Transactional), Some(&tracking()));
            assert_eq!(v["type"], json!(801));
            assert_eq!(v["label"], json!("transaction"));
            assert_eq!(v["message"]["#tracking_data"], json!("order-42"));
            assert_eq!(
                v["survey"],
                json!({"list_message_ui_type": 1, "options": ["Great", "Late", "Damaged"]})
            );
        }

        #[test]
        fn a_carousel_is_901_with_its_cards_as_items() {
            let carousel = Carousel::parse(
                "New this week",
                &[
                    RawCardRef {
                        title: "Shoes",
                        image_url: "https://cdn.example/shoes.png",
                        primary: ("Buy", "https://shop.example/shoes"),
                        secondary: Some(("Details", "https://shop.example/shoes/info")),
                    },
                    RawCardRef {
                        title: "Hats",
                        image_url: "https://cdn.example/hats.png",
                        primary: ("Buy", "https://shop.example/hats"),
                        secondary: None,
                    },
                ],
            )
            .unwrap();
            let tracking = tracking_of("vbm-carousel:01JD0000000000000000000000:");
            let v = build(&OutboundMessage::Carousel(carousel), Some(&tracking));
            assert_eq!(
                v,
                json!({
                    "service_id": 7,
                    "dest": "380501234567",
                    "seq": 99,
                    "label": "promotion",
                    "type": 901,
                    "ttl": 3600,
                    "message": {
                        "#txt": "New this week",
                        "#tracking_data": "vbm-carousel:01JD0000000000000000000000:"
                    },
                    "carousel": {
                        "items": [
                            {
                                "title": "Shoes",
                                "imageUrl": "https://cdn.example/shoes.png",
                                "primaryButton": {
                                    "label": "Buy",
                                    "actionUrl": "https://shop.example/shoes"
                                },
                                "secondaryButton": {
                                    "label": "Details",
                                    "actionUrl": "https://shop.example/shoes/info"
                                }
                            },
                            {
                                "title": "Hats",
                                "imageUrl": "https://cdn.example/hats.png",
                                "primaryButton": {
                                    "label": "Buy",
                                    "actionUrl": "https://shop.example/hats"
                                }
                            }
                        ]
                    }
                })
            );
        }
    }
}
