//! `X-VBM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with the
//! business's callback secret. The timestamp inside the signed text lets a receiver refuse
//! replays of old deliveries.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

pub const HEADER: &str = "X-VBM-Signature";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], t: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `t` (unix seconds).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    format!(
        "t={t},v1={}",
        hex::encode(mac(secret, t, body).finalize().into_bytes())
    )
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
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(SignatureError::Malformed);
    };
    mac(secret, t, body)
        .verify_slice(&v1)
        .map_err(|_| SignatureError::Mismatch)?;
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
