//! The rules of Viber Business Messages, decided without I/O.
//!
//! This crate is the domain of vbm-serverless: it knows what a session is, which message may go
//! when, what each kind of message may carry, which countries need approved templates, and how a
//! message's status moves. It reads no clock (time is always an argument), touches no network and
//! no database: adapters persist what it decides, and the DynamoDB conditions that make those
//! decisions atomic are built from the same [`Limits`].
//!
//! The shape, following the rules as README.md states them:
//! - [`Conversation`] is one business × user: the current [`Session`] (if any), opt-out and
//!   whether the two have been in contact; [`Conversation::decide_send`] says whether a message of
//!   a [`SendClass`] may go now, and how the counters move.
//! - [`OutboundMessage`] is a send request parsed from the wire ([`SendRequestBody`]): content that
//!   exists is valid content.
//! - [`Template`] and [`TemplateParams`]: a registered template and a complete, valid filling of it.
//! - [`regulation`]: the RU/UA/BY rule for transactional messages.
//! - [`MessageStatus`] and [`StatusTrack`]: the forward-only status order and the full history.
//! - [`Refusal`]: every reason to say no, each with one stable error code.
//! - [`sms`]: the SMS failover's policy (destinations, sender ids, billed parts, caps).
//! - [`campaign`]: a campaign's states and controls, delivery windows, recipients and chunks.
//! - [`failover`]: a send's SMS failover (its request, what it completes to, its triggers and
//!   states).
//! - [`services`]: a business's Viber services (one-way, two-way, session) and which one
//!   carries which message.

mod billing;
pub mod callback_address;
pub mod campaign;
pub mod caps;
mod content;
mod conversation;
pub mod failover;
pub mod hold;
mod interactive;
mod limits;
mod message;
mod phone;
pub mod predefined;
pub mod prices;
mod refusal;
pub mod regulation;
pub mod services;
pub mod sms;
mod status;
mod template;
mod time;
pub mod usage;

pub use billing::{Billing, BillingCategory};
pub use content::{Caption, FileName, HttpsUrl, Text, TrackingData, Ttl, is_blank};
pub use conversation::{
    Conversation, SendClass, SendPreview, Session, SessionSnapshot, SessionState,
};
pub use hold::{AtDeadline, HeldState, HoldDecision, Release};
pub use interactive::{
    Card, CardButton, Carousel, List, ListDelivery, MAX_CARD_TITLE_CHARS, MAX_CAROUSEL_CARDS,
    MAX_LIST_OPTION_CHARS, MAX_LIST_OPTIONS, MAX_LIST_TITLE_CHARS, MAX_PRIMARY_LABEL_CHARS,
    MAX_SECONDARY_LABEL_CHARS, MIN_CARD_TITLE_CHARS, MIN_CAROUSEL_CARDS, MIN_LIST_OPTIONS,
    RawCardRef,
};
pub use limits::{Limits, TransactionalText};
pub use message::{
    Admission, Button, FileAttachment, INTERACTIVE_TRACKING_RESERVE, LegacyTransactional,
    MAX_THUMBNAIL_URL_BYTES, MAX_VIDEO_BYTES, MAX_VIDEO_SECONDS, OutboundMessage, RawButton,
    RawCard, RawCarousel, RawFile, RawList, RawTemplate, RawVideo, SendRequest, SendRequestBody,
    SessionContent, TEMPLATE_REQUIRED_HOW, Video, whole_number,
};
pub use phone::{Country, NumberType, PhoneNumber};
pub use refusal::Refusal;
pub use services::{
    Carriage, NoService, Service, ServiceKind, Services, ServicesInvalid, TwoWaySessions,
    UserMessageEffect,
};
pub use status::{CallbackStatus, MessageStatus, StatusEvent, StatusTrack};
pub use template::{
    Language, MAX_PLACEHOLDER_NAME_CHARS, MAX_REJECTION_REASON_CHARS, MAX_TEMPLATE_NAME_CHARS,
    MAX_TEMPLATES_PER_BUSINESS, Moderated, Moderation, ModerationRefused, PIN, RawTemplateDraft,
    Template, TemplateCategory, TemplateDraft, TemplateId, TemplateOrigin, TemplateParams,
    TemplateReach, TemplateRule, TemplateState,
};
pub use time::{Timestamp, civil_from_days, days_from_civil};
