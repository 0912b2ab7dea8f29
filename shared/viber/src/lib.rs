//! The Viber partner API, as vbm-serverless talks to it (docs/viber.md).
//!
//! - [`request`]: [`SendMessage`], the `send_message` body built from a domain
//!   [`OutboundMessage`](session_rules::OutboundMessage), and the message-type mapping.
//! - [`send`]: [`ViberClient`], one per process, which posts it and reads Viber's answer
//!   ([`SendAnswer`], whose [`ViberStatus`] decides, since Viber answers HTTP 200 even when it
//!   refuses), and [`SendError`], which says whether a queue retry can help.
//! - [`reply`]: [`ReplyTracking`], the `#tracking_data` a list or carousel goes with, which
//!   Viber echoes with the user's answer.
//! - [`callback`]: what Viber posts back ([`InboundCallback`], [`StatusCallback`]), parsed into
//!   domain types.
//! - [`auth`]: [`CallbackAuth`], the URL-secret, source-CIDR and HMAC signature checks on those
//!   callbacks, and [`CallbackSecrets`], the secret's value.

pub mod auth;
pub mod callback;
pub mod reply;
pub mod request;
pub mod send;

pub use auth::{
    AuthConfigError, AuthFailure, CallbackAuth, CallbackSecrets, UrlSecret, Verified, sign,
};
pub use callback::{CallbackError, InboundCallback, InboundContent, StatusCallback};
pub use reply::{Interactive, ReplyTracking};
pub use request::{
    BuildError, CarouselBody, CarouselButton, CarouselItem, Label, MessageBody, MessageType,
    SendMessage, Survey, seq_for,
};
pub use send::{ClientBuildError, SendAnswer, SendError, ViberClient, ViberStatus};
