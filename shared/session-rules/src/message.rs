//! A business's send request: the wire form, and what it parses into.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{
    BillingCategory, Caption, Carousel, FileName, HttpsUrl, Language, Limits, List, ListDelivery,
    PhoneNumber, RawCardRef, Refusal, SendClass, ServiceKind, Template, TemplateCategory,
    TemplateId, TemplateParams, TemplateReach, Text, TrackingData, TransactionalText, Ttl,
    content::MAX_TRACKING_DATA_CHARS, regulation,
};

/// `POST /v1/messages` as it arrives. Unknown fields are an error: a typo must not silently
/// send something other than what the business meant. So is `null` for an optional field: the
/// document says "a string", and an absent field is written by leaving it out.
///
/// ```json
/// {"to": "+380501234567", "type": "session", "text": "Your order is ready",
///  "ttl_seconds": 3600, "tracking_data": "order-42"}
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequestBody {
    pub to: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "not_null")]
    pub text: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub image_url: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub file: Option<RawFile>,
    #[serde(default, deserialize_with = "not_null")]
    pub button: Option<RawButton>,
    #[serde(default, deserialize_with = "not_null")]
    pub video: Option<RawVideo>,
    #[serde(default, deserialize_with = "not_null")]
    pub template: Option<RawTemplate>,
    #[serde(default, deserialize_with = "not_null")]
    pub list: Option<RawList>,
    #[serde(default, deserialize_with = "not_null")]
    pub carousel: Option<RawCarousel>,
    #[serde(default, deserialize_with = "whole_seconds")]
    pub ttl_seconds: Option<u64>,
    #[serde(default, deserialize_with = "not_null")]
    pub tracking_data: Option<String>,
    /// The kind of the business's Viber services to send on (`one_way`, `two_way`, `session`);
    /// absent: chosen by the message's kind ([`crate::Services::route`]).
    #[serde(default, deserialize_with = "not_null")]
    pub service: Option<String>,
}

/// An optional field that, when present, must hold a value (`Option`'s own impl reads `null` as
/// absent, which the document does not allow; found by the API fuzzing review).
pub(crate) fn not_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `ttl_seconds` as JSON has it: one number type, so `3600.0` is the whole number 3600 (as JSON
/// Schema's `integer` says; found by the API fuzzer). Fractions and negatives are refused.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Whole;
    impl serde::de::Visitor<'_> for Whole {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number of seconds")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            // 2^64 itself is out of range; below it every whole f64 converts exactly.
            if v.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&v) {
                Ok(Some(v as u64))
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
            }
        }
    }
    d.deserialize_any(Whole)
}

/// A required count as JSON has it: `169.0` is the whole number 169, as for [`whole_seconds`]
/// (found by the API fuzzer on a video's size).
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    whole_seconds(d).map(Option::unwrap_or_default)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub url: String,
    pub name: String,
    /// `all_devices` (the default) or `smartphones` (Viber's smartphone-only file types).
    #[serde(default, deserialize_with = "not_null")]
    pub reach: Option<String>,
}

/// A promotional video as the business sends it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVideo {
    pub url: String,
    #[serde(default, deserialize_with = "not_null")]
    pub thumbnail_url: Option<String>,
    #[serde(deserialize_with = "whole_number")]
    pub size_bytes: u64,
    #[serde(deserialize_with = "whole_number")]
    pub duration_seconds: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawButton {
    pub caption: String,
    pub url: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTemplate {
    pub id: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The language to send it in: for Viber's predefined OTP templates (default `en`); for
    /// the business's own, optional, and then it must be the template's.
    #[serde(default, deserialize_with = "not_null")]
    pub lang: Option<String>,
}

/// A list as the business sends it: `{"title": "…", "options": ["…", "…"]}`, and where it goes
/// (`session`, the default, or `transactional`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawList {
    pub title: String,
    pub options: Vec<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub delivery: Option<String>,
}

/// A carousel as the business sends it: text above 2 to 5 cards.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCarousel {
    pub text: String,
    pub cards: Vec<RawCard>,
}

/// One card: a title, an image, a primary button and maybe a secondary one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCard {
    pub title: String,
    pub image_url: String,
    pub primary_button: RawButton,
    #[serde(default, deserialize_with = "not_null")]
    pub secondary_button: Option<RawButton>,
}

/// How much of Viber's tracking data a list or carousel keeps for itself: Viber echoes the
/// `#tracking_data` of the message a user answers, so those carry the message's id and a digest
/// of each option beside the business's own (see `viber::ReplyTracking`).
pub const INTERACTIVE_TRACKING_RESERVE: usize = 128;

/// Exactly one piece of session content (Viber session types 306 text, 307 image, file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionContent {
    Text(Text),
    Image(HttpsUrl),
    File(FileAttachment),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAttachment {
    pub url: HttpsUrl,
    pub name: FileName,
    /// Which devices get it: Viber has a file type for each (session 221/224, transactional
    /// 220/223; the smartphone-only ones take no `#tracking_data`).
    pub reach: TemplateReach,
}

impl FileAttachment {
    fn parse(raw: &RawFile) -> Result<Self, Refusal> {
        Ok(Self {
            url: HttpsUrl::parse("file.url", &raw.url)?,
            name: FileName::parse("file.name", &raw.name)?,
            reach: match raw.reach.as_deref() {
                None => TemplateReach::AllDevices,
                Some(reach) => TemplateReach::parse(reach).map_err(|_| {
                    Refusal::invalid("file.reach", "must be all_devices or smartphones")
                })?,
            },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub caption: Caption,
    pub url: HttpsUrl,
}

/// Longest video thumbnail URL Viber takes (VIBER.md: status 30).
pub const MAX_THUMBNAIL_URL_BYTES: usize = 1000;
/// Largest video Viber takes (VIBER.md: 200 MB, status 31).
pub const MAX_VIDEO_BYTES: u64 = 200 * 1024 * 1024;
/// Longest video Viber takes (VIBER.md: 600 s, status 32).
pub const MAX_VIDEO_SECONDS: u64 = 600;

/// A promotional video (Viber types 230-232): an HTTPS URL, its size and duration within
/// Viber's limits, and an optional thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Video {
    pub url: HttpsUrl,
    pub thumbnail: Option<HttpsUrl>,
    pub size_bytes: u64,
    pub duration_seconds: u64,
}

impl Video {
    pub fn parse(raw: &RawVideo) -> Result<Self, Refusal> {
        let thumbnail = match raw.thumbnail_url.as_deref() {
            None => None,
            Some(t) if t.len() > MAX_THUMBNAIL_URL_BYTES => {
                return Err(Refusal::invalid(
                    "video.thumbnail_url",
                    format!("at most {MAX_THUMBNAIL_URL_BYTES} bytes"),
                ));
            }
            Some(t) => Some(HttpsUrl::parse("video.thumbnail_url", t)?),
        };
        if raw.size_bytes == 0 || raw.size_bytes > MAX_VIDEO_BYTES {
            return Err(Refusal::invalid(
                "video.size_bytes",
                format!("1 to {MAX_VIDEO_BYTES} bytes (200 MB)"),
            ));
        }
        if raw.duration_seconds == 0 || raw.duration_seconds > MAX_VIDEO_SECONDS {
            return Err(Refusal::invalid(
                "video.duration_seconds",
                format!("1 to {MAX_VIDEO_SECONDS} seconds"),
            ));
        }
        Ok(Self {
            url: HttpsUrl::parse("video.url", &raw.url)?,
            thumbnail,
            size_bytes: raw.size_bytes,
            duration_seconds: raw.duration_seconds,
        })
    }
}

/// A message whose content fits its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundMessage {
    /// Inside an open session only.
    Session(SessionContent),
    /// Informative: text, plus an optional URL related to it.
    Transactional { text: Text, url: Option<HttpsUrl> },
    /// Informative: a file (Viber type 220), on its own.
    TransactionalFile(FileAttachment),
    /// Rich content: text and/or image, or a video, and a button (which needs text to sit
    /// under).
    Promotional {
        text: Option<Text>,
        image: Option<HttpsUrl>,
        button: Option<Button>,
        video: Option<Video>,
    },
    /// A registered template, with the parameters as the business gave them; they are checked
    /// against the template itself in [`SendRequest::admit`].
    Template {
        id: TemplateId,
        params: BTreeMap<String, String>,
        lang: Option<Language>,
    },
    /// A list the user answers with a tap (Viber 802 in a session, 801 outside one).
    List(List),
    /// Text above 2 to 5 cards with buttons (Viber 901), promotional content.
    Carousel(Carousel),
}

impl OutboundMessage {
    pub fn kind(&self) -> &'static str {
        match self {
            OutboundMessage::Session(_) => "session",
            OutboundMessage::Transactional { .. } | OutboundMessage::TransactionalFile(_) => {
                "transactional"
            }
            OutboundMessage::Promotional { .. } => "promotional",
            OutboundMessage::Template { .. } => "template",
            OutboundMessage::List(_) => "list",
            OutboundMessage::Carousel(_) => "carousel",
        }
    }
}

/// Whether a business may still send free-form transactional content (Viber's legacy types 106 /
/// 206 text, 220 file). Since 2026-07-01 Viber takes transactional messages only as templates it
/// approved (docs/viber.md); an operator opts a business in (`vbmctl business
/// legacy-transactional <id> --on`) for a service id Viber still accepts the old types on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LegacyTransactional {
    /// The default: a free-form transactional send is `template_required`.
    #[default]
    Refused,
    /// The business opted in: free-form transactional content goes as the legacy types.
    Allowed,
}

/// What a free-form transactional send is told by default: how to get a template.
pub const TEMPLATE_REQUIRED_HOW: &str = "since 2026-07-01 Viber takes transactional messages \
     only as templates it approved: send type template with an approved template of this \
     business (create one with POST /v1/templates and send it once Viber approved it, or send \
     one of Viber's predefined OTP templates for codes; an operator can also record one Viber \
     approved with `vbmctl template put <business> <id> --lang xx --category transactional \
     --text '...' --approved`; see docs/api.md, \"Transactional means template\")";

/// A send request whose every field is valid on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    pub to: PhoneNumber,
    pub message: OutboundMessage,
    pub ttl: Ttl,
    pub tracking_data: Option<TrackingData>,
    /// The service kind the send named, if any ([`crate::Services::choose`]).
    pub service: Option<ServiceKind>,
}

/// What a request is cleared to be, once its template (if any) is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub class: SendClass,
    pub template_params: Option<TemplateParams>,
    /// What the message is billed as; whether a session message is billable is decided with
    /// the session ([`crate::Billing::of_send`]).
    pub billing: BillingCategory,
}

impl SendRequest {
    /// Parses the wire form. Fields that do not belong to the message's type are refused rather
    /// than ignored, so a business learns at once that its image would not have been shown.
    pub fn parse(body: &SendRequestBody, limits: &Limits) -> Result<Self, Refusal> {
        let to = PhoneNumber::parse(&body.to)?;
        let message = match body.kind.as_str() {
            "session" => parse_session(body)?,
            "transactional" => {
                only(body, &["text", "url", "file"])?;
                if limits.transactional_text == TransactionalText::TemplateOnly {
                    return Err(Refusal::TemplateRequired(
                        "this deployment sends transactional content only as Viber-approved \
                         templates (template_only_transactional): use type template"
                            .into(),
                    ));
                }
                match &body.file {
                    Some(file) => {
                        // Viber's transactional file (220) carries the file alone.
                        if let Some(extra) =
                            [("text", body.text.is_some()), ("url", body.url.is_some())]
                                .iter()
                                .find(|(_, set)| *set)
                        {
                            return Err(Refusal::invalid(
                                extra.0,
                                "a transactional file message carries the file alone",
                            ));
                        }
                        OutboundMessage::TransactionalFile(FileAttachment::parse(file)?)
                    }
                    None => OutboundMessage::Transactional {
                        text: Text::parse("text", required(&body.text, "text")?)?,
                        url: body
                            .url
                            .as_deref()
                            .map(|u| HttpsUrl::parse("url", u))
                            .transpose()?,
                    },
                }
            }
            "promotional" => parse_promotional(body)?,
            "template" => {
                only(body, &["template"])?;
                let raw = body
                    .template
                    .as_ref()
                    .ok_or_else(|| Refusal::invalid("template", "required for type template"))?;
                OutboundMessage::Template {
                    id: TemplateId::parse(&raw.id)?,
                    params: raw.params.clone(),
                    lang: raw
                        .lang
                        .as_deref()
                        .map(|l| {
                            Language::parse(l).map_err(|_| {
                                Refusal::invalid(
                                    "template.lang",
                                    "a two-letter language code such as en, ru or uk",
                                )
                            })
                        })
                        .transpose()?,
                }
            }
            "list" => parse_list(body)?,
            "carousel" => parse_carousel(body)?,
            _ => {
                return Err(Refusal::invalid(
                    "type",
                    "must be one of session, transactional, promotional, template, list, \
                     carousel",
                ));
            }
        };
        let ttl = match body.ttl_seconds {
            Some(seconds) => Ttl::parse_seconds(seconds, limits)?,
            None => Ttl::default_for(limits),
        };
        let tracking_data = body
            .tracking_data
            .as_deref()
            .map(|t| TrackingData::parse("tracking_data", t))
            .transpose()?;
        if matches!(
            message,
            OutboundMessage::List(_) | OutboundMessage::Carousel(_)
        ) && let Some(tracking) = &tracking_data
        {
            let max = MAX_TRACKING_DATA_CHARS - INTERACTIVE_TRACKING_RESERVE;
            if tracking.as_str().chars().count() > max {
                return Err(Refusal::invalid(
                    "tracking_data",
                    format!("at most {max} characters on a list or carousel"),
                ));
            }
        }
        let service = body
            .service
            .as_deref()
            .map(|named| {
                ServiceKind::parse(named)
                    .ok_or_else(|| Refusal::invalid("service", "one of one_way, two_way, session"))
            })
            .transpose()?;
        Ok(Self {
            to,
            message,
            ttl,
            tracking_data,
            service,
        })
    }

    /// The checks that need the template: it exists and is approved, its parameters fill it,
    /// and local regulation allows this message to this number. Returns what the message counts
    /// as for the session rules.
    /// `legacy`: whether this business may send free-form transactional content.
    pub fn admit(
        &self,
        template: Option<&Template>,
        legacy: LegacyTransactional,
    ) -> Result<Admission, Refusal> {
        // Only the message's own template counts: any other is as good as none, for the
        // regulation check too (found by fuzzing: an unrelated English template made a
        // template_not_found request to RU a template_required one).
        let template = match &self.message {
            OutboundMessage::Template { id, .. } => template.filter(|t| t.id() == id),
            _ => None,
        };
        regulation::check(&self.to, &self.message, template)?;
        match &self.message {
            OutboundMessage::Session(_) => Ok(Admission {
                class: SendClass::Session,
                template_params: None,
                billing: BillingCategory::Session,
            }),
            OutboundMessage::Transactional { .. } | OutboundMessage::TransactionalFile(_) => {
                if legacy == LegacyTransactional::Refused {
                    return Err(Refusal::TemplateRequired(TEMPLATE_REQUIRED_HOW.into()));
                }
                Ok(Admission {
                    class: SendClass::Informative,
                    template_params: None,
                    // Outside a template "may be billed as promotional" (docs/viber.md).
                    billing: BillingCategory::Promotional,
                })
            }
            OutboundMessage::Promotional { .. } => Ok(Admission {
                class: SendClass::Promotional,
                template_params: None,
                billing: BillingCategory::Promotional,
            }),
            // Rich content inside a session is billed as promotional (8x8, billing.rs); a
            // session list still counts toward the session's messages like any session message.
            OutboundMessage::List(list) => match list.delivery() {
                ListDelivery::Session => Ok(Admission {
                    class: SendClass::Session,
                    template_params: None,
                    billing: BillingCategory::Promotional,
                }),
                // 801 is one of the legacy transactional types the template format replaced
                // (CM.com): only for a business opted in to those, billed as promotional.
                ListDelivery::Transactional => {
                    if legacy == LegacyTransactional::Refused {
                        return Err(Refusal::TemplateRequired(TEMPLATE_REQUIRED_HOW.into()));
                    }
                    Ok(Admission {
                        class: SendClass::Informative,
                        template_params: None,
                        billing: BillingCategory::Promotional,
                    })
                }
            },
            OutboundMessage::Carousel(_) => Ok(Admission {
                class: SendClass::Promotional,
                template_params: None,
                billing: BillingCategory::Promotional,
            }),
            OutboundMessage::Template { params, lang, .. } => {
                let template = template.ok_or(Refusal::TemplateNotFound)?;
                if !template.is_approved() {
                    return Err(Refusal::TemplateNotApproved);
                }
                if let Some(lang) = lang
                    && lang != template.language()
                {
                    return Err(Refusal::invalid(
                        "template.lang",
                        format!(
                            "this template is written in '{}'; leave lang out or give that",
                            template.language().as_str()
                        ),
                    ));
                }
                let filled = TemplateParams::fill(template, params)?;
                Ok(Admission {
                    class: match template.category() {
                        TemplateCategory::Transactional | TemplateCategory::Otp => {
                            SendClass::Informative
                        }
                        TemplateCategory::Promotional => SendClass::Promotional,
                    },
                    template_params: Some(filled),
                    billing: match template.category() {
                        TemplateCategory::Otp => BillingCategory::Otp,
                        TemplateCategory::Transactional if template.is_otp() => {
                            BillingCategory::Otp
                        }
                        TemplateCategory::Transactional => BillingCategory::TransactionalTemplate,
                        TemplateCategory::Promotional => BillingCategory::Promotional,
                    },
                })
            }
        }
    }
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, Refusal> {
    value
        .as_deref()
        .ok_or_else(|| Refusal::invalid(field, "required for this message type"))
}

/// Refuses content fields that the message's type cannot carry.
fn only(body: &SendRequestBody, allowed: &[&str]) -> Result<(), Refusal> {
    let present = [
        ("text", body.text.is_some()),
        ("url", body.url.is_some()),
        ("image_url", body.image_url.is_some()),
        ("file", body.file.is_some()),
        ("button", body.button.is_some()),
        ("template", body.template.is_some()),
        ("video", body.video.is_some()),
        ("list", body.list.is_some()),
        ("carousel", body.carousel.is_some()),
    ];
    match present
        .iter()
        .find(|(name, is_set)| *is_set && !allowed.contains(name))
    {
        Some((name, _)) => Err(Refusal::invalid(
            *name,
            format!("not allowed in a {} message", body.kind),
        )),
        None => Ok(()),
    }
}

fn parse_session(body: &SendRequestBody) -> Result<OutboundMessage, Refusal> {
    only(body, &["text", "image_url", "file"])?;
    let content = match (&body.text, &body.image_url, &body.file) {
        (Some(text), None, None) => SessionContent::Text(Text::parse("text", text)?),
        (None, Some(url), None) => SessionContent::Image(HttpsUrl::parse("image_url", url)?),
        (None, None, Some(file)) => SessionContent::File(FileAttachment::parse(file)?),
        _ => {
            return Err(Refusal::invalid(
                "text",
                "a session message carries exactly one of text, image_url, file",
            ));
        }
    };
    Ok(OutboundMessage::Session(content))
}

fn parse_list(body: &SendRequestBody) -> Result<OutboundMessage, Refusal> {
    only(body, &["list"])?;
    let raw = body
        .list
        .as_ref()
        .ok_or_else(|| Refusal::invalid("list", "required for type list"))?;
    let delivery = match raw.delivery.as_deref() {
        None => ListDelivery::Session,
        Some(d) => ListDelivery::parse(d).ok_or_else(|| {
            Refusal::invalid(
                "list.delivery",
                "must be session or transactional (no public source has a promotional list)",
            )
        })?,
    };
    Ok(OutboundMessage::List(List::parse(
        &raw.title,
        &raw.options,
        delivery,
    )?))
}

fn parse_carousel(body: &SendRequestBody) -> Result<OutboundMessage, Refusal> {
    only(body, &["carousel"])?;
    let raw = body
        .carousel
        .as_ref()
        .ok_or_else(|| Refusal::invalid("carousel", "required for type carousel"))?;
    let cards: Vec<RawCardRef<'_>> = raw
        .cards
        .iter()
        .map(|c| RawCardRef {
            title: &c.title,
            image_url: &c.image_url,
            primary: (&c.primary_button.caption, &c.primary_button.url),
            secondary: c
                .secondary_button
                .as_ref()
                .map(|b| (b.caption.as_str(), b.url.as_str())),
        })
        .collect();
    Ok(OutboundMessage::Carousel(Carousel::parse(
        &raw.text, &cards,
    )?))
}

fn parse_promotional(body: &SendRequestBody) -> Result<OutboundMessage, Refusal> {
    only(body, &["text", "image_url", "button", "video"])?;
    let text = body
        .text
        .as_deref()
        .map(|t| Text::parse("text", t))
        .transpose()?;
    let image = body
        .image_url
        .as_deref()
        .map(|u| HttpsUrl::parse("image_url", u))
        .transpose()?;
    let button = body
        .button
        .as_ref()
        .map(|b| -> Result<Button, Refusal> {
            Ok(Button {
                caption: Caption::parse("button.caption", &b.caption)?,
                url: HttpsUrl::parse("button.url", &b.url)?,
            })
        })
        .transpose()?;
    let video = body.video.as_ref().map(Video::parse).transpose()?;
    if video.is_some() && image.is_some() {
        return Err(Refusal::invalid(
            "video",
            "a promotional message has an image or a video, not both",
        ));
    }
    if text.is_none() && image.is_none() && video.is_none() {
        return Err(Refusal::invalid(
            "text",
            "a promotional message needs text, an image or a video",
        ));
    }
    if button.is_some() && text.is_none() {
        return Err(Refusal::invalid(
            "button",
            "a button needs text to go with it",
        ));
    }
    Ok(OutboundMessage::Promotional {
        text,
        image,
        button,
        video,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transactional_file_goes_alone() {
        let parse = |body: serde_json::Value| {
            let body: SendRequestBody = serde_json::from_value(body).unwrap();
            SendRequest::parse(&body, &Limits::default())
        };
        let file =
            serde_json::json!({"url": "https://cdn.example/invoice.pdf", "name": "invoice.pdf"});
        let parsed = parse(
            serde_json::json!({"to": "+447911123456", "type": "transactional", "file": file}),
        )
        .unwrap();
        assert!(matches!(
            parsed.message,
            OutboundMessage::TransactionalFile(_)
        ));
        assert_eq!(
            parsed
                .admit(None, LegacyTransactional::Allowed)
                .unwrap()
                .class,
            SendClass::Informative
        );
        let refused = parse(serde_json::json!({"to": "+447911123456", "type": "transactional", "file": file, "text": "x"}))
            .unwrap_err();
        assert_eq!(refused.code(), "validation_failed");
        assert!(refused.to_string().starts_with("text"), "{refused}");
        // To Russia, Ukraine and Belarus, transactional content goes only as a template.
        let ru =
            parse(serde_json::json!({"to": "+79123456789", "type": "transactional", "file": file}))
                .unwrap();
        assert_eq!(
            ru.admit(None, LegacyTransactional::Allowed)
                .unwrap_err()
                .code(),
            "template_required"
        );
    }

    #[test]
    fn promotional_video_within_vibers_limits() {
        let parse = |video: serde_json::Value, extra: serde_json::Value| {
            let mut body =
                serde_json::json!({"to": "+447911123456", "type": "promotional", "video": video});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let body: SendRequestBody = serde_json::from_value(body).unwrap();
            SendRequest::parse(&body, &Limits::default())
        };
        let ok = serde_json::json!({"url": "https://cdn.example/v.mp4", "size_bytes": 1000, "duration_seconds": 600});
        let parsed = parse(ok.clone(), serde_json::json!({"text": "New"})).unwrap();
        assert!(matches!(
            parsed.message,
            OutboundMessage::Promotional {
                video: Some(Video {
                    duration_seconds: 600,
                    ..
                }),
                ..
            }
        ));
        let field = |r: Result<SendRequest, Refusal>| match r.unwrap_err() {
            Refusal::ValidationFailed { field, .. } => field,
            other => panic!("{other:?}"),
        };
        let mut long = ok.clone();
        long["duration_seconds"] = serde_json::json!(601);
        assert_eq!(
            field(parse(long, serde_json::json!({}))),
            "video.duration_seconds"
        );
        let mut big = ok.clone();
        big["size_bytes"] = serde_json::json!(MAX_VIDEO_BYTES + 1);
        assert_eq!(field(parse(big, serde_json::json!({}))), "video.size_bytes");
        let mut thumb = ok.clone();
        thumb["thumbnail_url"] =
            serde_json::json!(format!("https://cdn.example/{}", "t".repeat(1000)));
        assert_eq!(
            field(parse(thumb, serde_json::json!({}))),
            "video.thumbnail_url"
        );
        assert_eq!(
            field(parse(
                ok.clone(),
                serde_json::json!({"image_url": "https://cdn.example/i.png"})
            )),
            "video"
        );
        let session: SendRequestBody = serde_json::from_value(serde_json::json!(
            {"to": "+447911123456", "type": "session", "text": "hi", "video": ok}
        ))
        .unwrap();
        assert_eq!(
            field(SendRequest::parse(&session, &Limits::default())),
            "video"
        );
    }

    #[test]
    fn free_form_transactional_needs_the_business_opt_in() {
        let parse = |body: serde_json::Value| {
            let body: SendRequestBody = serde_json::from_value(body).unwrap();
            SendRequest::parse(&body, &Limits::default()).unwrap()
        };
        let file =
            serde_json::json!({"url": "https://cdn.example/invoice.pdf", "name": "invoice.pdf"});
        for request in [
            parse(
                serde_json::json!({"to": "+447911123456", "type": "transactional", "text": "Shipped"}),
            ),
            parse(
                serde_json::json!({"to": "+447911123456", "type": "transactional", "text": "Shipped", "url": "https://shop.example/o/42"}),
            ),
            parse(
                serde_json::json!({"to": "+447911123456", "type": "transactional", "file": file}),
            ),
        ] {
            let refused = request
                .admit(None, LegacyTransactional::default())
                .unwrap_err();
            assert_eq!(refused.code(), "template_required");
            let how = refused.to_string();
            assert!(
                how.contains("2026-07-01")
                    && how.contains("vbmctl template put")
                    && how.contains("docs/api.md"),
                "{how}"
            );
            let allowed = request.admit(None, LegacyTransactional::Allowed).unwrap();
            assert_eq!(allowed.class, SendClass::Informative);
        }
        // Other kinds are not touched by the opt-in.
        for body in [
            serde_json::json!({"to": "+447911123456", "type": "session", "text": "hi"}),
            serde_json::json!({"to": "+447911123456", "type": "promotional", "text": "Sale"}),
        ] {
            assert!(
                parse(body)
                    .admit(None, LegacyTransactional::Refused)
                    .is_ok()
            );
        }
    }

    #[test]
    fn template_only_transactional_refuses_free_form_transactional_text() {
        let body: SendRequestBody = serde_json::from_value(serde_json::json!(
            {"to": "+447911123456", "type": "transactional", "text": "Your order shipped"}
        ))
        .unwrap();
        assert!(SendRequest::parse(&body, &Limits::default()).is_ok());
        let template_only = Limits {
            transactional_text: TransactionalText::TemplateOnly,
            ..Limits::default()
        };
        let refused = SendRequest::parse(&body, &template_only).unwrap_err();
        assert_eq!(refused.code(), "template_required");
        assert!(
            refused.to_string().contains("use type template"),
            "{refused}"
        );
        for (setting, parsed) in [
            ("106", TransactionalText::Type106),
            ("206", TransactionalText::Type206),
            (
                "template_only_transactional",
                TransactionalText::TemplateOnly,
            ),
        ] {
            assert_eq!(TransactionalText::parse(setting), Some(parsed));
        }
        assert_eq!(TransactionalText::parse("107"), None);
    }
    use crate::{Language, SendClass};

    fn body(kind: &str) -> SendRequestBody {
        SendRequestBody {
            to: "+447911123456".into(),
            kind: kind.into(),
            ..Default::default()
        }
    }

    fn parse(body: &SendRequestBody) -> Result<SendRequest, Refusal> {
        SendRequest::parse(body, &Limits::default())
    }

    fn field_of(result: Result<SendRequest, Refusal>) -> Option<String> {
        result.err().and_then(|e| e.field().map(str::to_owned))
    }

    #[test]
    fn session_carries_exactly_one_of_text_image_file() {
        let mut b = body("session");
        assert_eq!(field_of(parse(&b)), Some("text".into()));
        b.text = Some("hello".into());
        assert!(matches!(
            parse(&b).unwrap().message,
            OutboundMessage::Session(SessionContent::Text(_))
        ));
        b.image_url = Some("https://example.com/a.png".into());
        assert_eq!(field_of(parse(&b)), Some("text".into()));
        b.text = None;
        assert!(matches!(
            parse(&b).unwrap().message,
            OutboundMessage::Session(SessionContent::Image(_))
        ));
        b.button = Some(RawButton {
            caption: "Buy".into(),
            url: "https://example.com".into(),
        });
        assert_eq!(field_of(parse(&b)), Some("button".into()));
    }

    #[test]
    fn session_file_needs_https_and_a_name() {
        let mut b = body("session");
        b.file = Some(RawFile {
            url: "http://example.com/a.pdf".into(),
            name: "a.pdf".into(),
            reach: None,
        });
        assert_eq!(field_of(parse(&b)), Some("file.url".into()));
        b.file = Some(RawFile {
            url: "https://example.com/a.pdf".into(),
            name: "../a.pdf".into(),
            reach: None,
        });
        assert_eq!(field_of(parse(&b)), Some("file.name".into()));
        b.file = Some(RawFile {
            url: "https://example.com/a.pdf".into(),
            name: "a.pdf".into(),
            reach: Some("tablets".into()),
        });
        assert_eq!(field_of(parse(&b)), Some("file.reach".into()));
        for (reach, expected) in [
            (None, TemplateReach::AllDevices),
            (Some("all_devices"), TemplateReach::AllDevices),
            (Some("smartphones"), TemplateReach::Smartphones),
        ] {
            b.file = Some(RawFile {
                url: "https://example.com/a.pdf".into(),
                name: "a.pdf".into(),
                reach: reach.map(Into::into),
            });
            match parse(&b).map(|r| r.message) {
                Ok(OutboundMessage::Session(SessionContent::File(file))) => {
                    assert_eq!(file.reach, expected, "{reach:?}")
                }
                other => panic!("{reach:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn transactional_is_text_with_an_optional_url_only() {
        let mut b = body("transactional");
        assert_eq!(field_of(parse(&b)), Some("text".into()));
        b.text = Some("Your code is 1234".into());
        b.url = Some("https://example.com/orders/1".into());
        assert!(parse(&b).is_ok());
        b.image_url = Some("https://example.com/a.png".into());
        assert_eq!(field_of(parse(&b)), Some("image_url".into()));
    }

    #[test]
    fn promotional_rich_content_rules() {
        let mut b = body("promotional");
        assert!(parse(&b).is_err());
        b.image_url = Some("https://example.com/a.png".into());
        assert!(parse(&b).is_ok());
        b.button = Some(RawButton {
            caption: "Shop now".into(),
            url: "https://example.com".into(),
        });
        assert_eq!(field_of(parse(&b)), Some("button".into()));
        b.text = Some("Sale! 🎉".into());
        assert!(parse(&b).is_ok());
        b.button = Some(RawButton {
            caption: "x".repeat(31),
            url: "https://example.com".into(),
        });
        assert_eq!(field_of(parse(&b)), Some("button.caption".into()));
        b.button = Some(RawButton {
            caption: "Go".into(),
            url: "http://example.com".into(),
        });
        assert_eq!(field_of(parse(&b)), Some("button.url".into()));
    }

    #[test]
    fn unknown_type_bad_phone_and_ttl() {
        assert_eq!(field_of(parse(&body("sms"))), Some("type".into()));
        let mut b = body("transactional");
        b.text = Some("hi".into());
        b.to = "12345".into();
        assert_eq!(parse(&b).unwrap_err().code(), "invalid_phone");
        b.to = "+447911123456".into();
        b.ttl_seconds = Some(10);
        assert_eq!(field_of(parse(&b)), Some("ttl_seconds".into()));
        b.ttl_seconds = None;
        assert_eq!(parse(&b).unwrap().ttl.as_secs(), 86_400);
    }

    #[test]
    fn a_videos_size_and_duration_are_any_whole_json_number() {
        let video = |size: &str, duration: &str| {
            serde_json::from_str::<RawVideo>(&format!(
                r#"{{"url":"https://example.com/v.mp4","size_bytes":{size},"duration_seconds":{duration}}}"#
            ))
            .map(|v| (v.size_bytes, v.duration_seconds))
            .map_err(|e| e.to_string())
        };
        assert_eq!(video("169", "30"), Ok((169, 30)));
        assert_eq!(video("169.0", "3e1"), Ok((169, 30)));
        for (size, duration) in [
            ("169.5", "30"),
            ("-1", "30"),
            ("169", "null"),
            ("169", "\"30\""),
        ] {
            assert!(video(size, duration).is_err(), "{size} {duration}");
        }
    }

    #[test]
    fn ttl_seconds_is_any_whole_json_number() {
        let ttl = |raw: &str| {
            serde_json::from_str::<SendRequestBody>(&format!(
                r#"{{"to":"+447911123456","type":"session","text":"hi","ttl_seconds":{raw}}}"#
            ))
            .map(|b| b.ttl_seconds)
            .map_err(|e| e.to_string())
        };
        assert_eq!(ttl("3600"), Ok(Some(3600)));
        assert_eq!(ttl("3600.0"), Ok(Some(3600)));
        assert_eq!(ttl("36e2"), Ok(Some(3600)));
        for bad in [
            "3600.5",
            "-1",
            "-1.0",
            "1e300",
            "18446744073709551616",
            "null",
            "\"60\"",
        ] {
            assert!(ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn null_is_not_a_value_of_an_optional_field() {
        for field in [
            "text",
            "url",
            "image_url",
            "file",
            "button",
            "template",
            "ttl_seconds",
            "tracking_data",
        ] {
            let json = format!(r#"{{"to":"+447911123456","type":"session","{field}":null}}"#);
            let err = serde_json::from_str::<SendRequestBody>(&json).unwrap_err();
            assert!(err.to_string().contains("null"), "{field}: {err}");
        }
        let absent = serde_json::from_str::<SendRequestBody>(r#"{"to":"+4479","type":"session"}"#);
        assert!(absent.is_ok_and(|b| b.text.is_none() && b.ttl_seconds.is_none()));
    }

    #[test]
    fn unknown_fields_are_refused_on_the_wire() {
        let err = serde_json::from_str::<SendRequestBody>(
            r#"{"to":"+447911123456","type":"session","text":"hi","colour":"red"}"#,
        );
        assert!(err.is_err());
    }

    fn template(category: TemplateCategory, approved: bool) -> Template {
        Template::parse(
            TemplateId::parse("welcome").unwrap(),
            Language::parse("en").unwrap(),
            category,
            approved,
            "Hello {{name}}",
        )
        .unwrap()
    }

    fn template_request(params: &[(&str, &str)]) -> SendRequest {
        let mut b = body("template");
        b.template = Some(RawTemplate {
            id: "welcome".into(),
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            lang: None,
        });
        parse(&b).unwrap()
    }

    #[test]
    fn template_admission() {
        let req = template_request(&[("name", "Ann")]);
        assert_eq!(
            req.admit(None, LegacyTransactional::Refused).unwrap_err(),
            Refusal::TemplateNotFound
        );
        assert_eq!(
            req.admit(
                Some(&template(TemplateCategory::Transactional, false)),
                LegacyTransactional::Refused
            )
            .unwrap_err(),
            Refusal::TemplateNotApproved
        );
        let ok = req
            .admit(
                Some(&template(TemplateCategory::Transactional, true)),
                LegacyTransactional::Refused,
            )
            .unwrap();
        assert_eq!(ok.class, SendClass::Informative);
        assert_eq!(
            ok.template_params
                .unwrap()
                .values()
                .get("name")
                .map(String::as_str),
            Some("Ann")
        );
        let promo = req
            .admit(
                Some(&template(TemplateCategory::Promotional, true)),
                LegacyTransactional::Refused,
            )
            .unwrap();
        assert_eq!(promo.class, SendClass::Promotional);
        let bad = template_request(&[]);
        assert_eq!(
            bad.admit(
                Some(&template(TemplateCategory::Transactional, true)),
                LegacyTransactional::Refused
            )
            .unwrap_err()
            .code(),
            "template_params_invalid"
        );
    }

    #[test]
    fn another_template_is_not_found_even_where_regulation_applies() {
        let mut b = body("template");
        b.to = "+79123456789".into();
        b.template = Some(RawTemplate {
            id: "code".into(),
            params: [("name".to_string(), "Ann".to_string())].into(),
            lang: None,
        });
        let req = parse(&b).unwrap();
        // `welcome` is English and transactional: to RU it would be template_required, but it
        // is not the template the request names.
        assert_eq!(
            req.admit(
                Some(&template(TemplateCategory::Transactional, true)),
                LegacyTransactional::Refused
            ),
            Err(Refusal::TemplateNotFound)
        );
    }

    #[test]
    fn billing_category_of_each_kind() {
        let category = |b: &SendRequestBody, t: Option<&Template>| {
            parse(b)
                .unwrap()
                .admit(t, LegacyTransactional::Allowed)
                .unwrap()
                .billing
        };
        let mut session = body("session");
        session.text = Some("hi".into());
        assert_eq!(category(&session, None), BillingCategory::Session);
        let mut image = body("session");
        image.image_url = Some("https://cdn.example/i.png".into());
        assert_eq!(category(&image, None), BillingCategory::Session);
        let mut promo = body("promotional");
        promo.text = Some("Sale".into());
        assert_eq!(category(&promo, None), BillingCategory::Promotional);
        let mut legacy = body("transactional");
        legacy.text = Some("Shipped".into());
        assert_eq!(category(&legacy, None), BillingCategory::Promotional);
        let welcome = template_request(&[("name", "Ann")]);
        assert_eq!(
            welcome
                .admit(
                    Some(&template(TemplateCategory::Transactional, true)),
                    LegacyTransactional::Refused
                )
                .unwrap()
                .billing,
            BillingCategory::TransactionalTemplate
        );
        assert_eq!(
            welcome
                .admit(
                    Some(&template(TemplateCategory::Promotional, true)),
                    LegacyTransactional::Refused
                )
                .unwrap()
                .billing,
            BillingCategory::Promotional
        );
        let otp = Template::parse(
            TemplateId::parse("welcome").unwrap(),
            Language::parse("en").unwrap(),
            TemplateCategory::Transactional,
            true,
            "Your code is {{pin}}",
        )
        .unwrap();
        assert_eq!(
            template_request(&[("pin", "4711")])
                .admit(Some(&otp), LegacyTransactional::Refused)
                .unwrap()
                .billing,
            BillingCategory::Otp
        );
    }

    #[test]
    fn classes_of_plain_kinds() {
        let mut b = body("session");
        b.text = Some("hi".into());
        assert_eq!(
            parse(&b)
                .unwrap()
                .admit(None, LegacyTransactional::Refused)
                .unwrap()
                .class,
            SendClass::Session
        );
        let mut b = body("promotional");
        b.text = Some("hi".into());
        assert_eq!(
            parse(&b)
                .unwrap()
                .admit(None, LegacyTransactional::Refused)
                .unwrap()
                .class,
            SendClass::Promotional
        );
    }

    #[test]
    fn a_send_may_name_its_service_kind() {
        let mut b = body("session");
        b.text = Some("Hi".into());
        assert_eq!(parse(&b).unwrap().service, None);
        for kind in crate::ServiceKind::ALL {
            b.service = Some(kind.as_str().into());
            assert_eq!(parse(&b).unwrap().service, Some(kind));
        }
        for bad in ["", "oneway", "ONE_WAY", "sms"] {
            b.service = Some(bad.into());
            match parse(&b) {
                Err(Refusal::ValidationFailed { field, .. }) => assert_eq!(field, "service"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let null: Result<SendRequestBody, _> = serde_json::from_str(
            r#"{"to":"+447911123456","type":"session","text":"Hi","service":null}"#,
        );
        assert!(null.is_err());
    }
}

#[cfg(test)]
mod interactive_tests {
    use super::*;
    use serde_json::json;

    fn parse(body: serde_json::Value) -> Result<SendRequest, Refusal> {
        let body: SendRequestBody = serde_json::from_value(body).unwrap();
        SendRequest::parse(&body, &Limits::default())
    }

    fn list_body(delivery: Option<&str>) -> serde_json::Value {
        let mut list = json!({"title": "How was your delivery?", "options": ["Great", "Late"]});
        if let Some(d) = delivery {
            list["delivery"] = json!(d);
        }
        json!({"to": "+447911123456", "type": "list", "list": list})
    }

    fn carousel_body() -> serde_json::Value {
        let card = |title: &str| {
            json!({"title": title, "image_url": "https://cdn.example/a.png",
                   "primary_button": {"caption": "Buy", "url": "https://shop.example/1"}})
        };
        json!({"to": "+447911123456", "type": "carousel",
               "carousel": {"text": "New in", "cards": [card("Shoes"), card("Hats")]}})
    }

    #[test]
    fn a_session_list_is_a_session_message_billed_as_promotional() {
        let request = parse(list_body(None)).unwrap();
        let OutboundMessage::List(list) = &request.message else {
            panic!("{:?}", request.message)
        };
        assert_eq!(list.delivery(), ListDelivery::Session);
        let admission = request.admit(None, LegacyTransactional::Refused).unwrap();
        assert_eq!(admission.class, SendClass::Session);
        assert_eq!(admission.billing, BillingCategory::Promotional);
    }

    #[test]
    fn a_session_list_is_the_billed_first_reply_and_later_texts_are_free() {
        use crate::{Billing, Conversation, Timestamp};
        let limits = Limits::default();
        let now = Timestamp::from_millis(1_700_000_000_000);
        let open = Conversation::default().user_message(now, &limits);
        let admission = parse(list_body(None))
            .unwrap()
            .admit(None, LegacyTransactional::Refused)
            .unwrap();
        let after_list = open.decide_send(admission.class, now, &limits).unwrap();
        let list = Billing::of_send(admission.billing, &after_list);
        assert_eq!(
            (list.category, list.billable),
            (BillingCategory::Promotional, true)
        );
        assert_eq!(after_list.session.unwrap().messages_sent, 1);
        let after_text = after_list
            .decide_send(SendClass::Session, now, &limits)
            .unwrap();
        assert!(!Billing::of_send(BillingCategory::Session, &after_text).billable);
    }

    #[test]
    fn a_transactional_list_is_legacy_content() {
        let request = parse(list_body(Some("transactional"))).unwrap();
        let refused = request
            .admit(None, LegacyTransactional::Refused)
            .unwrap_err();
        assert_eq!(refused.code(), "template_required");
        let allowed = request.admit(None, LegacyTransactional::Allowed).unwrap();
        assert_eq!(allowed.class, SendClass::Informative);
        assert_eq!(allowed.billing, BillingCategory::Promotional);
        // To RU/UA/BY, transactional content goes only as a template, opt-in or not.
        let mut ru = list_body(Some("transactional"));
        ru["to"] = json!("+79123456789");
        assert_eq!(
            parse(ru)
                .unwrap()
                .admit(None, LegacyTransactional::Allowed)
                .unwrap_err()
                .code(),
            "template_required"
        );
        let err = parse(list_body(Some("promotional"))).unwrap_err();
        assert_eq!(err.field(), Some("list.delivery"));
    }

    #[test]
    fn a_carousel_is_promotional() {
        let request = parse(carousel_body()).unwrap();
        assert!(matches!(request.message, OutboundMessage::Carousel(_)));
        let admission = request.admit(None, LegacyTransactional::Refused).unwrap();
        assert_eq!(admission.class, SendClass::Promotional);
        assert_eq!(admission.billing, BillingCategory::Promotional);
    }

    #[test]
    fn interactive_types_carry_only_their_own_field() {
        let mut list = list_body(None);
        list["text"] = json!("hi");
        assert_eq!(parse(list).unwrap_err().field(), Some("text"));
        let mut carousel = carousel_body();
        carousel["list"] = list_body(None)["list"].clone();
        assert_eq!(parse(carousel).unwrap_err().field(), Some("list"));
        let mut session = json!({"to": "+447911123456", "type": "session", "text": "hi"});
        session["carousel"] = carousel_body()["carousel"].clone();
        assert_eq!(parse(session).unwrap_err().field(), Some("carousel"));
        assert_eq!(
            parse(json!({"to": "+447911123456", "type": "list"}))
                .unwrap_err()
                .field(),
            Some("list")
        );
        // Unknown fields inside are refused on the wire, as everywhere.
        let mut typo = list_body(None);
        typo["list"]["choices"] = json!(["a"]);
        assert!(serde_json::from_value::<SendRequestBody>(typo).is_err());
    }

    #[test]
    fn a_lists_tracking_data_leaves_room_for_the_message_id() {
        let max = MAX_TRACKING_DATA_CHARS - INTERACTIVE_TRACKING_RESERVE;
        for (body, kind) in [(list_body(None), "list"), (carousel_body(), "carousel")] {
            let mut ok = body.clone();
            ok["tracking_data"] = json!("t".repeat(max));
            assert!(parse(ok).is_ok(), "{kind}");
            let mut long = body;
            long["tracking_data"] = json!("t".repeat(max + 1));
            assert_eq!(
                parse(long).unwrap_err().field(),
                Some("tracking_data"),
                "{kind}"
            );
        }
    }
}
