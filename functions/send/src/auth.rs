//! Who is calling: `Authorization: Bearer <api key>`, then the business's IP allowlist.

use std::time::{Duration, Instant};

use lambda_http::Request;
use lambda_http::http::header::AUTHORIZATION;
use vbm_http::{ApiError, source_ip};
use vbm_store::{ApiKey, Business, Store, TtlCache};

/// How long a container trusts a key it has looked up. A rotated key keeps working in a warm
/// container for at most this long; in exchange a busy business costs no key lookups.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

/// API key hash → business, per container. Only hashes are kept, never keys; unknown keys are
/// not cached (each costs one lookup, like any miss).
pub(crate) struct Authenticator {
    cache: TtlCache<String, Business>,
}

impl Default for Authenticator {
    fn default() -> Self {
        Self {
            cache: TtlCache::new(CACHE_TTL),
        }
    }
}

impl Authenticator {
    /// The calling business, or `401 unauthorized` (no, malformed or unknown key: one answer
    /// for all, and a malformed key costs no lookup), or `403 ip_not_allowed`.
    pub async fn authenticate(
        &self,
        store: &Store,
        request: &Request,
        now: Instant,
    ) -> Result<Business, ApiError> {
        let key = bearer(request).ok_or_else(ApiError::unauthorized)?;
        let hash = key.hash();
        let business = match self.cache.get(hash.as_str(), now) {
            Some(business) => business,
            None => {
                let business = store
                    .businesses()
                    .business_by_api_key(&key)
                    .await?
                    .ok_or_else(ApiError::unauthorized)?;
                let hash = hash.as_str().to_owned();
                self.cache.insert(hash, business.clone(), now);
                business
            }
        };
        if business.allows(source_ip(request)) {
            Ok(business)
        } else {
            Err(ApiError::ip_not_allowed())
        }
    }
}

/// The key of `Authorization: Bearer <key>` (the scheme is case-insensitive), if well-formed.
fn bearer(request: &Request) -> Option<ApiKey> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    ApiKey::parse(token.trim())
}

#[cfg(test)]
mod tests {
    use lambda_http::Body;

    use super::*;

    fn with_auth(value: &str) -> Request {
        lambda_http::http::Request::builder()
            .header(AUTHORIZATION, value)
            .body(Body::Empty)
            .unwrap()
    }

    #[test]
    fn bearer_keys() {
        let key = ApiKey::generate();
        for ok in [
            format!("Bearer {}", key.expose()),
            format!("bearer {}", key.expose()),
            format!("  Bearer   {} ", key.expose()),
        ] {
            assert_eq!(bearer(&with_auth(&ok)), Some(key.clone()), "{ok}");
        }
        for bad in [
            key.expose().to_owned(),
            format!("Basic {}", key.expose()),
            "Bearer vbm_123".to_owned(),
            "Bearer".to_owned(),
        ] {
            assert_eq!(bearer(&with_auth(&bad)), None, "{bad}");
        }
        let none = lambda_http::http::Request::builder()
            .body(Body::Empty)
            .unwrap();
        assert_eq!(bearer(&none), None);
    }
}
