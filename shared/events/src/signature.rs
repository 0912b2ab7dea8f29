//! `X-VBM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with the
//! business's callback secret. The timestamp inside the signed text lets a receiver refuse
//! replays of old deliveries. While a secret is being rotated the header carries one `v1` per
//! secret (`t=…,v1=<new>,v1=<old>`): a receiver that knows either accepts the event.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

pub const HEADER: &str = "X-VBM-Signature";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], t: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `t` (unix seconds).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    sign_with_each(&[secret], t, body)
}

/// The header value with one `v1` per secret, in the order given (the current secret first,
/// then those still honoured during a rotation's overlap).
pub fn sign_with_each(secrets: &[&[u8]], t: i64, body: &[u8]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac(secret, t, body).finalize().into_bytes()));
    }
    header
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("no t=…,v1=… signature")]
    Malformed,
    #[error("signature does not match the body")]
    Mismatch,
    #[error("signature timestamp outside the tolerated window")]
    Stale,
}

/// Checks a header value against `body`, refusing timestamps further than `tolerance_secs`
/// from `now` (unix seconds).
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let Some(t) = t.filter(|_| !v1.is_empty()) else {
        return Err(SignatureError::Malformed);
    };
    // Any one of the signatures (one per secret during a rotation) will do.
    if !v1
        .iter()
        .any(|sig| mac(secret, t, body).verify_slice(sig).is_ok())
    {
        return Err(SignatureError::Mismatch);
    }
    if (now - t).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify() {
        let header = sign(b"whsec_x", 1_800_000_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1800000000,v1="));
        assert_eq!(
            verify(b"whsec_x", &header, b"{\"a\":1}", 1_800_000_010, 300),
            Ok(())
        );
        assert_eq!(
            verify(b"whsec_y", &header, b"{\"a\":1}", 1_800_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"whsec_x", &header, b"{\"a\":2}", 1_800_000_010, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"whsec_x", &header, b"{\"a\":1}", 1_800_001_000, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(b"whsec_x", "v1=00", b"", 0, 300),
            Err(SignatureError::Malformed)
        );
        // A replayed signature with another timestamp does not verify.
        let forged = header.replace("t=1800000000", "t=1800000999");
        assert_eq!(
            verify(b"whsec_x", &forged, b"{\"a\":1}", 1_800_001_000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        let header = sign_with_each(&[b"whsec_new", b"whsec_old"], 1_800_000_000, b"{}");
        assert_eq!(header.matches(",v1=").count(), 2, "{header}");
        assert!(header.starts_with(&sign(b"whsec_new", 1_800_000_000, b"{}")));
        for secret in [&b"whsec_new"[..], b"whsec_old"] {
            assert_eq!(verify(secret, &header, b"{}", 1_800_000_000, 300), Ok(()));
        }
        assert_eq!(
            verify(b"whsec_other", &header, b"{}", 1_800_000_000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"whsec_old", &header, b"{ }", 1_800_000_000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn matches_an_independent_hmac() {
        // HMAC-SHA256(key="key", "0.The quick brown fox jumps over the lazy dog"), computed with
        // Python's hmac module.
        let header = sign(b"key", 0, b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            header,
            "t=0,v1=8511f28f7a1949f0c42772b447d68b2daf760f5f0439a20a17e3b4e7cd395763"
        );
    }
}
