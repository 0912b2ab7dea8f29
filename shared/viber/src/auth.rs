//! Who may post callbacks: an HMAC-SHA256 signature of the raw body with a shared secret
//! (header `X-Viber-Signature`, hex), a source-CIDR allowlist, or both (DESIGN §3).
//!
//! With neither configured anyone could forge "delivered" statuses and user messages (which
//! open sessions), so [`CallbackAuth::from_parts`] refuses, and the function with it.

use std::net::IpAddr;
use std::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use ipnet::IpNet;
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// The header Viber (or the partner gateway) signs callbacks in.
pub const SIGNATURE_HEADER: &str = "X-Viber-Signature";

/// The callback authentication of one function, built once at start-up.
#[derive(Clone)]
pub struct CallbackAuth {
    secret: Option<Vec<u8>>,
    allowed: Vec<IpNet>,
}

/// The configuration cannot protect the callbacks: the function must not start.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthConfigError {
    #[error(
        "callbacks would be unauthenticated: set a signing secret, a source CIDR allowlist, or both"
    )]
    NothingConfigured,
    #[error("not a CIDR or IP address: '{0}'")]
    BadCidr(String),
}

/// Why a callback was refused. Deliberately vague towards the caller (one code each);
/// the variant is for the logs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthFailure {
    #[error("missing {SIGNATURE_HEADER} header")]
    MissingSignature,
    #[error("{SIGNATURE_HEADER} is not hex")]
    MalformedSignature,
    #[error("{SIGNATURE_HEADER} does not match the body")]
    BadSignature,
    #[error("the source IP is unknown")]
    MissingSourceIp,
    #[error("source IP {0} is not allowed")]
    IpNotAllowed(IpAddr),
}

impl AuthFailure {
    /// The business API's error codes (DESIGN §3).
    pub fn code(&self) -> &'static str {
        match self {
            AuthFailure::MissingSignature
            | AuthFailure::MalformedSignature
            | AuthFailure::BadSignature => "unauthorized",
            AuthFailure::MissingSourceIp | AuthFailure::IpNotAllowed(_) => "ip_not_allowed",
        }
    }
}

impl CallbackAuth {
    /// `secret`: the shared signing secret, if any (blank counts as none). `cidrs`:
    /// comma-separated CIDRs or single addresses, possibly empty.
    pub fn from_parts(secret: Option<&str>, cidrs: &str) -> Result<Self, AuthConfigError> {
        let secret = secret
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.as_bytes().to_vec());
        let allowed = cidrs
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(parse_net)
            .collect::<Result<Vec<_>, _>>()?;
        if secret.is_none() && allowed.is_empty() {
            return Err(AuthConfigError::NothingConfigured);
        }
        Ok(Self { secret, allowed })
    }

    /// Checks one callback: the signature over exactly these bytes when a secret is set, the
    /// source IP when CIDRs are set.
    pub fn verify(
        &self,
        raw_body: &[u8],
        signature: Option<&str>,
        source_ip: Option<IpAddr>,
    ) -> Result<(), AuthFailure> {
        if !self.allowed.is_empty() {
            // An IPv4 client seen through a dual-stack socket arrives as ::ffff:a.b.c.d.
            let ip = source_ip
                .ok_or(AuthFailure::MissingSourceIp)?
                .to_canonical();
            // And an IPv4 host is also its IPv4-mapped address, which an IPv6 entry may cover
            // (`::ffff:192.0.2.7`, `::/80`; found by fuzzing).
            let mapped = match ip {
                IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
                IpAddr::V6(_) => None,
            };
            let allowed =
                |net: &IpNet| net.contains(&ip) || mapped.as_ref().is_some_and(|m| net.contains(m));
            if !self.allowed.iter().any(allowed) {
                return Err(AuthFailure::IpNotAllowed(ip));
            }
        }
        if let Some(secret) = &self.secret {
            let signature = signature.ok_or(AuthFailure::MissingSignature)?;
            // `hex` decodes either case.
            let given =
                hex::decode(signature.trim()).map_err(|_| AuthFailure::MalformedSignature)?;
            // Constant-time; a signature of the wrong length simply does not verify.
            mac(secret, raw_body)
                .verify_slice(&given)
                .map_err(|_| AuthFailure::BadSignature)?;
        }
        Ok(())
    }

    pub fn requires_signature(&self) -> bool {
        self.secret.is_some()
    }

    pub fn allowed_networks(&self) -> &[IpNet] {
        &self.allowed
    }
}

// By hand, so the secret never reaches a log line.
impl std::fmt::Debug for CallbackAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackAuth")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("allowed", &self.allowed)
            .finish()
    }
}

/// The signature of `body` as the header carries it: lowercase hex HMAC-SHA256. For the local
/// Viber sandbox and tests.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    hex::encode(mac(secret, body).finalize().into_bytes())
}

fn mac(secret: &[u8], body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    mac
}

fn parse_net(input: &str) -> Result<IpNet, AuthConfigError> {
    IpNet::from_str(input)
        .or_else(|_| IpAddr::from_str(input).map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| AuthConfigError::BadCidr(input.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cret-shared-with-viber";
    const BODY: &[u8] = br#"{"message_token":1,"message_time":1700000000000,"message_status":0}"#;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn refuses_to_start_with_nothing_configured() {
        assert_eq!(
            CallbackAuth::from_parts(None, "").unwrap_err(),
            AuthConfigError::NothingConfigured
        );
        assert_eq!(
            CallbackAuth::from_parts(Some("  "), " , ").unwrap_err(),
            AuthConfigError::NothingConfigured
        );
    }

    #[test]
    fn refuses_bad_cidrs() {
        for bad in ["10.0.0.0/33", "10.0.0", "example.com", "10.0.0.0/8, nope"] {
            assert!(
                matches!(
                    CallbackAuth::from_parts(Some(SECRET), bad),
                    Err(AuthConfigError::BadCidr(_))
                ),
                "{bad}"
            );
        }
        let auth =
            CallbackAuth::from_parts(None, " 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,").unwrap();
        assert_eq!(auth.allowed_networks().len(), 3);
        assert!(!auth.requires_signature());
    }

    #[test]
    fn good_signature_passes_in_either_case() {
        let auth = CallbackAuth::from_parts(Some(SECRET), "").unwrap();
        let sig = sign(SECRET.as_bytes(), BODY);
        assert_eq!(sig.len(), 64);
        assert_eq!(sig, sig.to_lowercase());
        assert_eq!(auth.verify(BODY, Some(&sig), None), Ok(()));
        assert_eq!(auth.verify(BODY, Some(&sig.to_uppercase()), None), Ok(()));
    }

    #[test]
    fn missing_malformed_wrong_length_and_wrong_signatures_fail() {
        let auth = CallbackAuth::from_parts(Some(SECRET), "").unwrap();
        let sig = sign(SECRET.as_bytes(), BODY);
        assert_eq!(
            auth.verify(BODY, None, None),
            Err(AuthFailure::MissingSignature)
        );
        assert_eq!(
            auth.verify(BODY, Some("not hex!"), None),
            Err(AuthFailure::MalformedSignature)
        );
        assert_eq!(
            auth.verify(BODY, Some(&sig[..40]), None),
            Err(AuthFailure::BadSignature)
        );
        assert_eq!(
            auth.verify(BODY, Some(&format!("{sig}00")), None),
            Err(AuthFailure::BadSignature)
        );
        assert_eq!(
            auth.verify(BODY, Some(""), None),
            Err(AuthFailure::BadSignature)
        );
        let other = sign(b"another secret", BODY);
        assert_eq!(
            auth.verify(BODY, Some(&other), None),
            Err(AuthFailure::BadSignature)
        );
        assert_eq!(
            auth.verify(BODY, Some(&other), None).unwrap_err().code(),
            "unauthorized"
        );
    }

    #[test]
    fn a_signature_replayed_with_a_changed_body_fails() {
        let auth = CallbackAuth::from_parts(Some(SECRET), "").unwrap();
        let sig = sign(SECRET.as_bytes(), BODY);
        let changed = br#"{"message_token":1,"message_time":1700000000000,"message_status":1}"#;
        assert_eq!(
            auth.verify(changed, Some(&sig), None),
            Err(AuthFailure::BadSignature)
        );
        // Even a whitespace change: the signature covers the raw bytes, not the JSON value.
        let reformatted =
            br#"{"message_token":1, "message_time":1700000000000,"message_status":0}"#;
        assert_eq!(
            auth.verify(reformatted, Some(&sig), None),
            Err(AuthFailure::BadSignature)
        );
    }

    #[test]
    fn source_ip_inside_or_outside_the_allowlist() {
        let auth = CallbackAuth::from_parts(None, "203.0.113.0/24,198.51.100.9").unwrap();
        assert_eq!(auth.verify(BODY, None, ip("203.0.113.200")), Ok(()));
        assert_eq!(auth.verify(BODY, None, ip("198.51.100.9")), Ok(()));
        assert_eq!(
            auth.verify(BODY, None, ip("198.51.100.10")),
            Err(AuthFailure::IpNotAllowed("198.51.100.10".parse().unwrap()))
        );
        assert_eq!(
            auth.verify(BODY, None, None),
            Err(AuthFailure::MissingSourceIp)
        );
        assert_eq!(
            auth.verify(BODY, None, None).unwrap_err().code(),
            "ip_not_allowed"
        );
        // IPv4 seen through an IPv6 socket.
        assert_eq!(auth.verify(BODY, None, ip("::ffff:203.0.113.5")), Ok(()));
    }

    #[test]
    fn ipv6_allowlists() {
        let auth = CallbackAuth::from_parts(None, "2001:db8:abcd::/48").unwrap();
        assert_eq!(auth.verify(BODY, None, ip("2001:db8:abcd:12::1")), Ok(()));
        assert!(matches!(
            auth.verify(BODY, None, ip("2001:db8:abce::1")),
            Err(AuthFailure::IpNotAllowed(_))
        ));
        assert!(matches!(
            auth.verify(BODY, None, ip("203.0.113.5")),
            Err(AuthFailure::IpNotAllowed(_))
        ));
    }

    #[test]
    fn ipv6_entries_cover_the_ipv4_hosts_they_map() {
        let auth =
            CallbackAuth::from_parts(None, "::ffff:198.51.100.9,::ffff:203.0.113.0/120").unwrap();
        for source in ["198.51.100.9", "::ffff:198.51.100.9", "203.0.113.255"] {
            assert_eq!(auth.verify(BODY, None, ip(source)), Ok(()), "{source}");
        }
        assert!(matches!(
            auth.verify(BODY, None, ip("198.51.100.10")),
            Err(AuthFailure::IpNotAllowed(_))
        ));
        // ::/80 ends at ::ffff:255.255.255.255 and so holds every IPv4-mapped address.
        let wide = CallbackAuth::from_parts(None, "::/80").unwrap();
        assert_eq!(wide.verify(BODY, None, ip("255.255.255.255")), Ok(()));
        assert_eq!(wide.verify(BODY, None, ip("::1")), Ok(()));
        assert!(matches!(
            wide.verify(BODY, None, ip("2001:db8::1")),
            Err(AuthFailure::IpNotAllowed(_))
        ));
    }

    #[test]
    fn both_configured_means_both_required() {
        let auth = CallbackAuth::from_parts(Some(SECRET), "203.0.113.0/24").unwrap();
        let sig = sign(SECRET.as_bytes(), BODY);
        assert_eq!(auth.verify(BODY, Some(&sig), ip("203.0.113.1")), Ok(()));
        assert_eq!(
            auth.verify(BODY, None, ip("203.0.113.1")),
            Err(AuthFailure::MissingSignature)
        );
        assert!(matches!(
            auth.verify(BODY, Some(&sig), ip("192.0.2.1")),
            Err(AuthFailure::IpNotAllowed(_))
        ));
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let auth = CallbackAuth::from_parts(Some(SECRET), "").unwrap();
        assert!(!format!("{auth:?}").contains(SECRET));
    }
}
