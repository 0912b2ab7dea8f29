//! Business events are signed by the Standard Webhooks specification (standardwebhooks.com), so
//! a business verifies them with a published library in its own language:
//!
//! - `webhook-id`: the event id (the same on every retry and replay);
//! - `webhook-timestamp`: unix seconds of this delivery attempt;
//! - `webhook-signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the
//!   business's secret (`whsec_<base64>`: the key is what follows `whsec_`, base64-decoded).
//!
//! During a secret rotation's overlap the header carries one `v1,…` per secret, separated by
//! spaces (the specification allows several): a receiver that knows either accepts the event.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// What a secret starts with, by the specification.
pub const SECRET_PREFIX: &str = "whsec_";

type HmacSha256 = Hmac<Sha256>;

/// The HMAC key of a secret: `whsec_<base64>` decoded; a secret in another form is used as its
/// bytes (a receiver's library does the same for the `whsec_` form only, which is what
/// `vbmctl` issues).
fn key(secret: &[u8]) -> Vec<u8> {
    secret
        .strip_prefix(SECRET_PREFIX.as_bytes())
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .unwrap_or_else(|| secret.to_vec())
}

fn mac(secret: &[u8], id: &str, t: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(&key(secret)).unwrap_or_else(|_| unreachable!());
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value for event `id` with `body`, sent at `t` (unix seconds).
pub fn sign(secret: &[u8], id: &str, t: i64, body: &[u8]) -> String {
    sign_with_each(&[secret], id, t, body)
}

/// The `webhook-signature` value with one `v1,…` per secret, in the order given (the current
/// secret first, then those still honoured during a rotation's overlap).
pub fn sign_with_each(secrets: &[&[u8]], id: &str, t: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| {
            format!(
                "v1,{}",
                STANDARD.encode(mac(secret, id, t, body).finalize().into_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("no v1 signature, or no timestamp")]
    Malformed,
    #[error("signature does not match the body")]
    Mismatch,
    #[error("signature timestamp outside the tolerated window")]
    Stale,
}

/// Checks a delivery's three headers against `body`, refusing timestamps further than
/// `tolerance_secs` from `now` (unix seconds).
pub fn verify(
    secret: &[u8],
    id: &str,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let t: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed)?;
    let signatures: Vec<Vec<u8>> = signature
        .split_whitespace()
        .filter_map(|part| part.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .collect();
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // Any one of the signatures (one per secret during a rotation) will do.
    if !signatures
        .iter()
        .any(|sig| mac(secret, id, t, body).verify_slice(sig).is_ok())
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

    const SECRET: &[u8] = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";

    #[test]
    fn sign_then_verify() {
        let header = sign(SECRET, ID, 1_800_000_000, b"{\"a\":1}");
        assert!(header.starts_with("v1,"), "{header}");
        let check = |secret: &[u8], id: &str, t: &str, body: &[u8], now: i64| {
            verify(secret, id, t, &header, body, now, 300)
        };
        assert_eq!(
            check(SECRET, ID, "1800000000", b"{\"a\":1}", 1_800_000_010),
            Ok(())
        );
        assert_eq!(
            check(
                b"whsec_b3RoZXI=",
                ID,
                "1800000000",
                b"{\"a\":1}",
                1_800_000_010
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(SECRET, ID, "1800000000", b"{\"a\":2}", 1_800_000_010),
            Err(SignatureError::Mismatch)
        );
        // The id is signed: the same body under another event id does not verify.
        assert_eq!(
            check(
                SECRET,
                "msg_other",
                "1800000000",
                b"{\"a\":1}",
                1_800_000_010
            ),
            Err(SignatureError::Mismatch)
        );
        // So is the timestamp: a replay with another one does not verify.
        assert_eq!(
            check(SECRET, ID, "1800000999", b"{\"a\":1}", 1_800_001_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(SECRET, ID, "1800000000", b"{\"a\":1}", 1_800_001_000),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, ID, "x", &header, b"", 0, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, ID, "0", "v2,abc", b"", 0, 300),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        let new = b"whsec_bmV3LXNlY3JldC1ieXRlcw==";
        let old = b"whsec_b2xkLXNlY3JldC1ieXRlcw==";
        let header = sign_with_each(&[new, old], ID, 1_800_000_000, b"{}");
        assert_eq!(header.split(' ').count(), 2, "{header}");
        assert!(header.starts_with(&sign(new, ID, 1_800_000_000, b"{}")));
        for secret in [&new[..], &old[..]] {
            assert_eq!(
                verify(secret, ID, "1800000000", &header, b"{}", 1_800_000_000, 300),
                Ok(())
            );
        }
        assert_eq!(
            verify(SECRET, ID, "1800000000", &header, b"{}", 1_800_000_000, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn matches_the_specifications_example() {
        // The example of the Standard Webhooks specification (and of its libraries' tests):
        // secret, id, timestamp and payload below give exactly this signature.
        let secret = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, ID, 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
