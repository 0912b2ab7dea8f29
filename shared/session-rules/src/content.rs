//! Content values that can only hold what Viber accepts.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::{Limits, Refusal};

/// Longest text Viber shows in one message, in characters (Unicode scalar values).
pub const MAX_TEXT_CHARS: usize = 1000;
/// Longest button caption.
pub const MAX_CAPTION_CHARS: usize = 30;
/// Longest URL we pass on; far above any real media or button link.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest file name Viber takes (VIBER.md: longer is refused with status 29,
/// `SRVC_BAD_FILE_NAME_LENGTH`): refused here, before anything is stored.
pub const MAX_FILE_NAME_CHARS: usize = 25;
/// Longest tracking data echoed back in callbacks, in characters (Viber's limit, and what
/// openapi.yaml's `maxLength` counts).
pub const MAX_TRACKING_DATA_CHARS: usize = 4096;

/// Whether `input` shows nothing: every character is whitespace or invisible (Unicode's
/// `Default_Ignorable_Code_Point`: zero-width spaces and joiners U+200B-U+200F, word joiner
/// U+2060, BOM U+FEFF, soft hyphen, variation selectors, Hangul fillers, tags...). Text made
/// only of those is as empty as `""` to the user who receives it.
pub fn is_blank(input: &str) -> bool {
    input
        .chars()
        .all(|c| c.is_whitespace() || is_default_ignorable(c))
}

/// `Default_Ignorable_Code_Point` (DerivedCoreProperties.txt, Unicode 15.1).
fn is_default_ignorable(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }
    };
}

/// Message text: not blank, at most [`MAX_TEXT_CHARS`] characters, no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(String);
string_newtype!(Text);

impl Text {
    pub fn parse(field: &str, input: &str) -> Result<Self, Refusal> {
        if is_blank(input) {
            return Err(Refusal::invalid(field, "must not be empty"));
        }
        let chars = input.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(Refusal::invalid(
                field,
                format!("at most {MAX_TEXT_CHARS} characters (got {chars})"),
            ));
        }
        if input.contains('\0') {
            return Err(Refusal::invalid(field, "must not contain NUL characters"));
        }
        Ok(Self(input.to_owned()))
    }
}

/// An absolute `https://` URL with a host and no whitespace or control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsUrl(String);
string_newtype!(HttpsUrl);

impl HttpsUrl {
    pub fn parse(field: &str, input: &str) -> Result<Self, Refusal> {
        if input.len() > MAX_URL_BYTES {
            return Err(Refusal::invalid(
                field,
                format!("URL longer than {MAX_URL_BYTES} bytes"),
            ));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Refusal::invalid(
                field,
                "URL must not contain spaces or control characters",
            ));
        }
        let Some(rest) = strip_prefix_ignore_case(input, "https://") else {
            return Err(Refusal::invalid(field, "must be an https:// URL"));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        // Drop credentials and port to look at the host itself.
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        let host = if host_port.starts_with('[') {
            host_port
                .split(']')
                .next()
                .map(|h| &h[1..])
                .unwrap_or_default()
        } else {
            host_port.split(':').next().unwrap_or_default()
        };
        if host.is_empty() || authority.contains('@') {
            return Err(Refusal::invalid(
                field,
                "URL must name a host (and carry no user name or password)",
            ));
        }
        Ok(Self(input.to_owned()))
    }
}

fn strip_prefix_ignore_case<'a>(input: &'a str, prefix: &str) -> Option<&'a str> {
    let head = input.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &input[prefix.len()..])
}

/// A button caption: not blank, at most [`MAX_CAPTION_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caption(String);
string_newtype!(Caption);

impl Caption {
    pub fn parse(field: &str, input: &str) -> Result<Self, Refusal> {
        let chars = input.chars().count();
        if is_blank(input) {
            return Err(Refusal::invalid(field, "must not be empty"));
        }
        if chars > MAX_CAPTION_CHARS || input.chars().any(char::is_control) {
            return Err(Refusal::invalid(
                field,
                format!("at most {MAX_CAPTION_CHARS} characters, no control characters"),
            ));
        }
        Ok(Self(input.to_owned()))
    }
}

/// The name a file attachment is shown under: no path separators, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);
string_newtype!(FileName);

impl FileName {
    pub fn parse(field: &str, input: &str) -> Result<Self, Refusal> {
        if is_blank(input)
            || input.chars().count() > MAX_FILE_NAME_CHARS
            || input
                .chars()
                .any(|c| c.is_control() || c == '/' || c == '\\')
        {
            return Err(Refusal::invalid(
                field,
                format!(
                    "a file name of 1 to {MAX_FILE_NAME_CHARS} characters, without '/' or '\\'"
                ),
            ));
        }
        Ok(Self(input.to_owned()))
    }
}

/// Opaque data the business gets back with status callbacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingData(String);
string_newtype!(TrackingData);

impl TrackingData {
    pub fn parse(field: &str, input: &str) -> Result<Self, Refusal> {
        if input.chars().count() > MAX_TRACKING_DATA_CHARS {
            return Err(Refusal::invalid(
                field,
                format!("at most {MAX_TRACKING_DATA_CHARS} characters"),
            ));
        }
        Ok(Self(input.to_owned()))
    }
}

/// How long Viber keeps trying to deliver a message: within Viber's range (30 s to 14 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl(Duration);

impl Ttl {
    pub fn parse_seconds(seconds: u64, limits: &Limits) -> Result<Self, Refusal> {
        let ttl = Duration::from_secs(seconds);
        if ttl < limits.min_ttl || ttl > limits.max_ttl {
            return Err(Refusal::invalid(
                "ttl_seconds",
                format!(
                    "must be between {} and {} seconds",
                    limits.min_ttl.as_secs(),
                    limits.max_ttl.as_secs()
                ),
            ));
        }
        Ok(Self(ttl))
    }

    pub fn default_for(limits: &Limits) -> Self {
        Self(limits.default_ttl.clamp(limits.min_ttl, limits.max_ttl))
    }

    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_at_most_25_characters_as_viber_takes_them() {
        let name = "ы".repeat(25);
        assert_eq!(FileName::parse("file.name", &name).unwrap().as_str(), name);
        let err = FileName::parse("file.name", &"a".repeat(26)).unwrap_err();
        assert_eq!(err.code(), "validation_failed");
        assert!(err.to_string().contains("file.name"), "{err}");
        assert!(err.to_string().contains("25"), "{err}");
    }

    #[test]
    fn text_boundary_is_1000_characters_not_bytes() {
        assert!(Text::parse("text", &"я".repeat(1000)).is_ok());
        let err = Text::parse("text", &"я".repeat(1001)).unwrap_err();
        assert_eq!(err.field(), Some("text"));
        assert!(Text::parse("text", "   ").is_err());
    }

    #[test]
    fn text_of_only_invisible_characters_is_blank() {
        for blank in [
            "",
            " \t\n",
            "\u{200B}",
            "\u{200B}\u{2060}\u{FEFF}",
            "\u{00A0}\u{3000}",
            "\u{E0020}",
        ] {
            assert!(is_blank(blank), "{blank:?}");
            assert!(Text::parse("text", blank).is_err(), "{blank:?}");
            assert!(Caption::parse("caption", blank).is_err(), "{blank:?}");
            assert!(FileName::parse("name", blank).is_err(), "{blank:?}");
        }
        for visible in ["a", "\u{200B}a", "😀", "\u{2800}x"] {
            assert!(!is_blank(visible), "{visible:?}");
            assert!(Text::parse("text", visible).is_ok(), "{visible:?}");
        }
    }

    #[test]
    fn only_https_urls_with_a_host() {
        assert!(HttpsUrl::parse("url", "https://example.com/a.png").is_ok());
        assert!(HttpsUrl::parse("url", "HTTPS://example.com").is_ok());
        assert!(HttpsUrl::parse("url", "https://[::1]:8443/x").is_ok());
        for bad in [
            "http://example.com",
            "https://",
            "https:///path",
            "ftp://example.com",
            "https://exa mple.com",
            "https://user:pw@example.com/",
            "javascript:alert(1)",
            "https://example.com/\r\nX-Injected: 1",
        ] {
            assert_eq!(
                HttpsUrl::parse("url", bad).unwrap_err().code(),
                "validation_failed",
                "{bad}"
            );
        }
    }

    #[test]
    fn tracking_data_boundary_is_4096_characters_not_bytes() {
        assert!(TrackingData::parse("tracking_data", &"я".repeat(4096)).is_ok());
        assert!(TrackingData::parse("tracking_data", &"a".repeat(4097)).is_err());
    }

    #[test]
    fn caption_boundary_is_30() {
        assert!(Caption::parse("button.caption", &"a".repeat(30)).is_ok());
        assert!(Caption::parse("button.caption", &"a".repeat(31)).is_err());
    }

    #[test]
    fn ttl_range_is_viber_range_inclusive() {
        let limits = Limits::default();
        assert!(Ttl::parse_seconds(29, &limits).is_err());
        assert_eq!(Ttl::parse_seconds(30, &limits).unwrap().as_secs(), 30);
        assert_eq!(
            Ttl::parse_seconds(1_209_600, &limits).unwrap().as_secs(),
            1_209_600
        );
        assert!(Ttl::parse_seconds(1_209_601, &limits).is_err());
    }
}
