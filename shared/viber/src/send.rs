//! The outbound call: `POST {base}/send_message`, and what Viber's answer means.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::request::SendMessage;

/// Header carrying the optional API token. Viber's own partner API authenticates by source IP
/// per service ID and needs none; partner gateways and the local sandbox may ask for one.
pub const TOKEN_HEADER: &str = "X-Viber-Auth-Token";

/// Longest time spent opening a connection, whatever the total timeout: a connect that takes
/// longer is a dead route, and the queue retry is the better use of the remaining time.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How many characters of an unexpected answer body are kept for the logs.
const BODY_EXCERPT_CHARS: usize = 512;

/// The client for Viber's partner API: one per process (built in `main`), sharing one
/// connection pool across invocations.
#[derive(Debug, Clone)]
pub struct ViberClient {
    http: reqwest::Client,
    send_url: String,
    token: Redacted,
}

/// The API token, kept to scrub it from Viber's answers: a gateway or proxy error page that
/// echoes the request's headers would otherwise carry it into the logs.
#[derive(Clone, Default)]
struct Redacted(Option<String>);

impl Redacted {
    /// The answer as text, with every occurrence of the token replaced.
    fn scrub(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        match &self.0 {
            Some(token) if text.contains(token.as_str()) => {
                text.replace(token.as_str(), "<redacted>")
            }
            _ => text.into_owned(),
        }
    }
}

// By hand, so the token never reaches a log line.
impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "<redacted>"
        } else {
            "None"
        })
    }
}

/// The client could not be built: a configuration error, reported at start-up.
#[derive(Debug, Error)]
pub enum ClientBuildError {
    #[error("VIBER_API_URL must be an http(s) URL, got '{0}'")]
    BadBaseUrl(String),
    #[error("the Viber API token is not a valid header value")]
    BadToken,
    #[error("building the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

impl ViberClient {
    /// `base_url` is the API root (`https://…/vibersrvc/1`); `timeout` bounds a whole call,
    /// connect included.
    pub fn new(
        base_url: &str,
        api_token: Option<String>,
        timeout: Duration,
    ) -> Result<Self, ClientBuildError> {
        let base = base_url.trim().trim_end_matches('/');
        let scheme_ok = ["https://", "http://"].iter().any(|scheme| {
            base.get(..scheme.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
                && base.len() > scheme.len()
        });
        if !scheme_ok {
            return Err(ClientBuildError::BadBaseUrl(base_url.to_owned()));
        }
        let mut headers = HeaderMap::new();
        let api_token = api_token.filter(|t| !t.is_empty());
        if let Some(token) = &api_token {
            let mut value = HeaderValue::from_str(token).map_err(|_| ClientBuildError::BadToken)?;
            value.set_sensitive(true);
            headers.insert(TOKEN_HEADER, value);
        }
        // reqwest's rustls has no provider of its own (one TLS stack with the AWS SDK's client:
        // ring); installing it is idempotent, and a provider already installed stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
            // A redirect of a POST would be followed as a GET elsewhere: refuse instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(ClientBuildError::Http)?;
        Ok(Self {
            http,
            send_url: format!("{base}/send_message"),
            token: Redacted(api_token),
        })
    }

    /// Sends one message. `Ok` means Viber answered; whether it accepted is
    /// [`SendAnswer::status`].
    pub async fn send_message(&self, req: &SendMessage) -> Result<SendAnswer, SendError> {
        let response = self
            .http
            .post(&self.send_url)
            .json(req)
            .send()
            .await
            .map_err(SendError::from_reqwest)?;
        let status = response.status();
        let body = response.bytes().await.map_err(SendError::from_reqwest)?;
        let body = self.token.scrub(&body);
        if !status.is_success() {
            return Err(SendError::Http {
                status: status.as_u16(),
                body: excerpt(&body),
            });
        }
        SendAnswer::parse(body.as_bytes()).inspect_err(|e| {
            tracing::warn!(error = %e, body = %excerpt(&body), "unparseable answer from Viber");
        })
    }
}

/// Why a send did not get an answer from Viber, and whether trying again later can help.
#[derive(Debug, Error)]
pub enum SendError {
    #[error("Viber did not answer in time")]
    Timeout,
    #[error("network error talking to Viber: {0}")]
    Network(String),
    #[error("Viber answered HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("Viber's answer could not be read: {0}")]
    InvalidAnswer(String),
}

impl SendError {
    /// Whether the same request may succeed later: network trouble, timeouts, Viber's own
    /// failures (5xx), rate limiting (429) and garbled answers. Other 4xx say the request itself
    /// is wrong, and sending it again would only be refused again.
    pub fn retryable(&self) -> bool {
        match self {
            SendError::Timeout | SendError::Network(_) | SendError::InvalidAnswer(_) => true,
            SendError::Http { status, .. } => {
                *status >= 500 || *status == StatusCode::TOO_MANY_REQUESTS.as_u16()
            }
        }
    }

    fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            SendError::Timeout
        } else {
            // The chain names the cause (DNS, refused, TLS, reset); the URL is ours and known.
            let e = e.without_url();
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            SendError::Network(message)
        }
    }
}

/// Viber's answer to `send_message`, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendAnswer {
    pub status: ViberStatus,
    /// Viber's id for the message; its callbacks carry it.
    pub message_token: Option<String>,
    /// Set for session message types.
    pub session_id: Option<String>,
    /// The `seq` of the request, echoed.
    pub seq: Option<u64>,
}

#[derive(Deserialize)]
struct RawAnswer {
    status: Option<i64>,
    message_token: Option<Value>,
    session_id: Option<Value>,
    seq: Option<Value>,
}

impl SendAnswer {
    pub fn is_success(&self) -> bool {
        self.status == ViberStatus::SRVC_SUCCESS
    }

    fn parse(body: &[u8]) -> Result<Self, SendError> {
        let raw: RawAnswer = serde_json::from_slice(body)
            .map_err(|e| SendError::InvalidAnswer(format!("not a JSON answer: {e}")))?;
        let status = raw
            .status
            .map(ViberStatus)
            .ok_or_else(|| SendError::InvalidAnswer("no numeric 'status'".into()))?;
        let message_token = id_field(raw.message_token, "message_token")?;
        if status == ViberStatus::SRVC_SUCCESS && message_token.is_none() {
            // Without the token no callback could ever be matched to the message.
            return Err(SendError::InvalidAnswer(
                "status 0 without a message_token".into(),
            ));
        }
        Ok(SendAnswer {
            status,
            message_token,
            session_id: id_field(raw.session_id, "session_id")?,
            // Only echoed back; an odd one is not worth failing a send that went out.
            seq: raw.seq.as_ref().and_then(Value::as_u64),
        })
    }
}

/// Viber sends ids as JSON numbers (`5379697806260881548`) or strings; keep them as text.
fn id_field(value: Option<Value>, name: &str) -> Result<Option<String>, SendError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
        Some(other) => Err(SendError::InvalidAnswer(format!(
            "'{name}' is neither a string nor an integer: {other}"
        ))),
    }
}

fn excerpt(text: &str) -> String {
    match text.char_indices().nth(BODY_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The `status` of Viber's answer: 0 is success, anything else a refusal.
///
/// Codes and names from the Viber partner API's status list as public partner clients and
/// Alibaba Cloud Chat App's "Viber API error codes" page give it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ViberStatus(pub i64);

macro_rules! statuses {
    ($($name:ident = $code:expr),* $(,)?) => {
        impl ViberStatus {
            $(pub const $name: ViberStatus = ViberStatus($code);)*

            /// Viber's name for the code (`SRVC_USER_BLOCKED`), or `UNKNOWN`.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($code => stringify!($name),)*
                    _ => "UNKNOWN",
                }
            }
        }
    };
}

statuses! {
    SRVC_SUCCESS = 0,
    SRVC_INTERNAL_FAILURE = 1,
    SRVC_BAD_SERVICE_ID = 2,
    SRVC_BAD_DATA = 3,
    SRVC_BLOCKED_MESSAGE_TYPE = 4,
    SRVC_BAD_MESSAGE_TYPE = 5,
    SRVC_BAD_PARAMETERS = 6,
    SRVC_TIMEOUT = 7,
    SRVC_USER_BLOCKED = 8,
    SRVC_NOT_VIBER_USER = 9,
    SRVC_NO_SUITABLE_DEVICE = 10,
    SRVC_UNAUTHORIZED_IP = 11,
    SRVC_ALREADY_SENT = 12,
    SRVC_NOT_PERMITTED = 13,
    SRVC_BILLING_FAILURE = 14,
    SRVC_NO_MORE_MESSAGES = 17,
    SRVC_BAD_LABEL = 18,
    SRVC_INVALID_TTL = 20,
    SRVC_WAIT_FOR_USER_RESPONSE = 21,
    SRVC_INVALID_PHONE_NUMBER = 27,
    SRVC_FILE_NOT_PERMITTED = 28,
    SRVC_BAD_FILE_NAME_LENGTH = 29,
    SRVC_BAD_THUMBNAIL = 30,
    SRVC_BAD_FILE_SIZE = 31,
    SRVC_BAD_DURATION = 32,
    TEMPLATE_NOT_FOUND = 38,
    TEMPLATE_VALIDATION_ERROR = 39,
    SRVC_SURVEY_VALIDATION_ERROR = 40,
    SRVC_CAROUSEL_VALIDATION_ERROR = 41,
    SRVC_SERVICE_BLOCKED = 43,
}

impl ViberStatus {
    pub const fn code(self) -> i64 {
        self.0
    }

    /// Viber's own transient failures (internal failure, timeout on its side): the same
    /// request may go through later. Every other refusal is about the request, the user or the
    /// account, and repeats.
    pub fn retryable(self) -> bool {
        self == Self::SRVC_INTERNAL_FAILURE || self == Self::SRVC_TIMEOUT
    }
}

impl fmt::Debug for ViberStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ViberStatus({} {})", self.0, self.name())
    }
}

impl fmt::Display for ViberStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_and_retryability() {
        assert_eq!(ViberStatus(0).name(), "SRVC_SUCCESS");
        assert_eq!(ViberStatus(8).name(), "SRVC_USER_BLOCKED");
        assert_eq!(ViberStatus(21).name(), "SRVC_WAIT_FOR_USER_RESPONSE");
        assert_eq!(ViberStatus(999).name(), "UNKNOWN");
        assert_eq!(ViberStatus::SRVC_BAD_DATA.to_string(), "SRVC_BAD_DATA (3)");
        let retryable: Vec<i64> = (0..50).filter(|c| ViberStatus(*c).retryable()).collect();
        assert_eq!(retryable, [1, 7]);
    }

    #[test]
    fn answers_parse_with_string_or_numeric_ids() {
        let a = SendAnswer::parse(
            br#"{"status":0,"seq":12,"message_token":5379697806260881548,"session_id":"s-1","extra":true}"#,
        )
        .unwrap();
        assert!(a.is_success());
        assert_eq!(a.message_token.as_deref(), Some("5379697806260881548"));
        assert_eq!(a.session_id.as_deref(), Some("s-1"));
        assert_eq!(a.seq, Some(12));

        let refused = SendAnswer::parse(br#"{"status":8,"seq":12}"#).unwrap();
        assert_eq!(refused.status, ViberStatus::SRVC_USER_BLOCKED);
        assert_eq!(refused.message_token, None);
    }

    #[test]
    fn unreadable_answers_are_retryable_errors() {
        for body in [
            &b"<html>gateway</html>"[..],
            br#"{"seq":1}"#,
            br#"{"status":"0"}"#,
            br#"{"status":0}"#,
            br#"{"status":0,"message_token":1.5}"#,
            br#"[]"#,
        ] {
            let err = SendAnswer::parse(body).unwrap_err();
            assert!(matches!(err, SendError::InvalidAnswer(_)), "{err}");
            assert!(err.retryable());
        }
    }

    #[test]
    fn http_errors_retry_on_5xx_and_429_only() {
        let http = |status| SendError::Http {
            status,
            body: String::new(),
        };
        assert!(http(500).retryable());
        assert!(http(503).retryable());
        assert!(http(429).retryable());
        assert!(!http(400).retryable());
        assert!(!http(401).retryable());
        assert!(!http(404).retryable());
        assert!(!http(302).retryable());
        assert!(SendError::Timeout.retryable());
        assert!(SendError::Network("reset".into()).retryable());
    }

    #[test]
    fn base_url_must_be_http() {
        let t = Duration::from_secs(1);
        assert!(ViberClient::new("https://viber.example/v1/", None, t).is_ok());
        assert!(ViberClient::new("http://127.0.0.1:9000", Some("tok".into()), t).is_ok());
        for bad in ["", "viber.example", "ftp://x", "https://"] {
            assert!(
                matches!(
                    ViberClient::new(bad, None, t),
                    Err(ClientBuildError::BadBaseUrl(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            ViberClient::new("https://x", Some("bad\ntoken".into()), t),
            Err(ClientBuildError::BadToken)
        ));
    }

    #[test]
    fn excerpts_are_cut_on_character_boundaries() {
        let long = "я".repeat(600);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), BODY_EXCERPT_CHARS + 1);
        assert_eq!(excerpt("short"), "short");
    }

    #[test]
    fn the_token_is_scrubbed_from_answers_and_debug_output() {
        let token = Redacted(Some("tok-123".into()));
        assert_eq!(
            token.scrub(b"X-Viber-Auth-Token: tok-123; again tok-123"),
            "X-Viber-Auth-Token: <redacted>; again <redacted>"
        );
        assert_eq!(Redacted(None).scrub(b"tok-123"), "tok-123");
        let client = ViberClient::new(
            "https://viber.example/1",
            Some("tok-123".into()),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(!format!("{client:?}").contains("tok-123"));
    }
}
