//! Who may post callbacks (docs/viber.md, "Callback URLs and secrets"), in any combination, at least one:
//!
//! - a **secret in the callback URL** (`/viber/inbound/{secret}`): what a Viber partner
//!   registers with Viber, since no public source shows Viber signing partner callbacks;
//! - a **source-CIDR allowlist**;
//! - an **HMAC-SHA256 signature** of the raw body (header `X-Viber-Signature`, hex), for a
//!   partner gateway that signs.
//!
//! Each secret may have several accepted values (the current one and the one being rotated
//! out), so a rotation has an overlap. A Viber service id may have **its own URL secret**
//! (Viber registers a callback URL per service id): its callbacks must then come with it, and a
//! callback with it must name that service id ([`CallbackAuth::admits`]); a service without
//! one has the deployment's. With nothing configured anyone could forge "delivered"
//! statuses and user messages (which open sessions), so [`CallbackAuth::new`] refuses, and the
//! function with it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use ipnet::IpNet;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// The header Viber (or the partner gateway) signs callbacks in.
pub const SIGNATURE_HEADER: &str = "X-Viber-Signature";

/// The shortest URL secret accepted: 16 characters of 62 or more symbols is over 95 bits.
pub const URL_SECRET_MIN_LEN: usize = 16;
/// The longest: a path segment, not a document.
pub const URL_SECRET_MAX_LEN: usize = 128;

/// One accepted value of the callback URL secret: 16-128 characters, each unreserved in a URL
/// (`A-Z a-z 0-9 - . _ ~`), so it is registered with Viber exactly as written. Only its
/// SHA-256 digest is kept: comparing digests is constant-time whatever the lengths.
#[derive(Clone, PartialEq, Eq)]
pub struct UrlSecret([u8; 32]);

impl UrlSecret {
    pub fn parse(value: &str) -> Result<Self, AuthConfigError> {
        let unreserved = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        if !(URL_SECRET_MIN_LEN..=URL_SECRET_MAX_LEN).contains(&value.len())
            || !value.chars().all(unreserved)
        {
            return Err(AuthConfigError::BadUrlSecret);
        }
        Ok(Self(Sha256::digest(value.as_bytes()).into()))
    }

    /// Whether `given` is this secret, in time independent of where they differ.
    fn matches(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        self.0.ct_eq(&given).into()
    }
}

/// The secrets of the callback authentication, as the Secrets Manager secret holds them
/// (JSON; each field a string or a list of strings, all accepted, the current one first):
///
/// ```json
/// {"url_secret": ["the-new-one-xxxxxxxxxxxx", "the-old-one-yyyyyyyyyyyy"], "hmac_secret": "...",
///  "service_url_secrets": {"3002": ["its-new-one-xxxxxxxxxxx", "its-old-one-yyyyyyyyyyy"]}}
/// ```
///
/// Both fields are optional; an unknown field is refused, so a misspelt `hmac_secret` cannot
/// silently turn the signature check off.
#[derive(Clone, Default)]
pub struct CallbackSecrets {
    url: Vec<UrlSecret>,
    hmac: Vec<Vec<u8>>,
    services: BTreeMap<u64, Vec<UrlSecret>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsJson {
    #[serde(default)]
    url_secret: OneOrMany,
    #[serde(default)]
    hmac_secret: OneOrMany,
    /// Service id (as a JSON key: a string) → its URL secret(s).
    #[serde(default)]
    service_url_secrets: BTreeMap<String, OneOrMany>,
}

#[derive(Deserialize, Default)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values, blank ones dropped (an emptied field is no field).
    fn values(self) -> Vec<String> {
        let all = match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        };
        all.into_iter().filter(|v| !v.trim().is_empty()).collect()
    }
}

impl CallbackSecrets {
    /// The secrets from the secret's JSON text.
    pub fn parse_json(text: &str) -> Result<Self, AuthConfigError> {
        // Only the kind and the position: serde_json's own message may quote the value.
        let bad = |e: serde_json::Error| {
            AuthConfigError::BadSecretValue(format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        };
        // An object first: serde would also read the struct from an array of its fields.
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(bad)?;
        let json = SecretsJson::deserialize(serde_json::Value::Object(object)).map_err(bad)?;
        let url = json
            .url_secret
            .values()
            .iter()
            .map(|v| UrlSecret::parse(v))
            .collect::<Result<Vec<_>, _>>()?;
        let hmac = json
            .hmac_secret
            .values()
            .into_iter()
            .map(String::into_bytes)
            .collect();
        let mut services = BTreeMap::new();
        for (id, values) in json.service_url_secrets {
            let id = id.parse::<u64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                AuthConfigError::BadSecretValue(
                    "a service_url_secrets key is not a service id (a positive integer)".into(),
                )
            })?;
            let values = values
                .values()
                .iter()
                .map(|v| UrlSecret::parse(v))
                .collect::<Result<Vec<_>, _>>()?;
            // An emptied entry is no entry: the service is back on the deployment's secret.
            if !values.is_empty() {
                services.insert(id, values);
            }
        }
        Ok(Self {
            url,
            hmac,
            services,
        })
    }

    /// Accepted URL secrets of one service id, given as text (tests, the local stack).
    pub fn with_service_url_secrets<'a>(
        mut self,
        service_id: u64,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, AuthConfigError> {
        let mut parsed = Vec::new();
        for value in values {
            parsed.push(UrlSecret::parse(value)?);
        }
        if !parsed.is_empty() {
            self.services.entry(service_id).or_default().extend(parsed);
        }
        Ok(self)
    }

    /// Accepted URL secrets, given as text (tests, the local stack).
    pub fn with_url_secrets<'a>(
        mut self,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, AuthConfigError> {
        for value in values {
            self.url.push(UrlSecret::parse(value)?);
        }
        Ok(self)
    }

    /// Accepted HMAC signing secrets (blank ones ignored).
    pub fn with_hmac_secrets<'a>(mut self, values: impl IntoIterator<Item = &'a str>) -> Self {
        self.hmac.extend(
            values
                .into_iter()
                .filter(|v| !v.trim().is_empty())
                .map(|v| v.as_bytes().to_vec()),
        );
        self
    }
}

/// The callback authentication of one function: built at start-up and again when the secret
/// is refreshed.
#[derive(Clone)]
pub struct CallbackAuth {
    url: Vec<UrlSecret>,
    hmac: Vec<Vec<u8>>,
    allowed: Vec<IpNet>,
    services: BTreeMap<u64, Vec<UrlSecret>>,
}

/// Whose callback URL secret a verified callback came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The deployment's (or the deployment has none): any service id without its own.
    Deployment,
    /// This service id's own: only callbacks naming it.
    Service(u64),
}

/// The configuration cannot protect the callbacks: the function must not start.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthConfigError {
    #[error(
        "callbacks would be unauthenticated: set a callback URL secret, a signing secret, a source CIDR allowlist, or several"
    )]
    NothingConfigured,
    #[error("not a CIDR or IP address: '{0}'")]
    BadCidr(String),
    #[error(
        "a callback URL secret must be {URL_SECRET_MIN_LEN}-{URL_SECRET_MAX_LEN} characters of A-Z a-z 0-9 - . _ ~"
    )]
    BadUrlSecret,
    #[error(
        "the secret is not {{\"url_secret\": string or [strings], \"hmac_secret\": string or [strings]}}: {0}"
    )]
    BadSecretValue(String),
}

/// Why a callback was refused. Deliberately vague towards the caller (one code each);
/// the variant is for the logs, and never holds what was presented.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthFailure {
    #[error("the callback URL has no secret")]
    MissingUrlSecret,
    #[error("the callback URL secret does not match")]
    BadUrlSecret,
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
    #[error("service id {0} has its own callback URL secret; the callback did not come with it")]
    ServiceSecretRequired(u64),
    #[error("the callback came with service id {0}'s URL secret but names another service")]
    OtherService(u64),
}

impl AuthFailure {
    /// The business API's error codes (docs/api.md).
    pub fn code(&self) -> &'static str {
        match self {
            AuthFailure::MissingUrlSecret
            | AuthFailure::BadUrlSecret
            | AuthFailure::MissingSignature
            | AuthFailure::MalformedSignature
            | AuthFailure::BadSignature
            | AuthFailure::ServiceSecretRequired(_)
            | AuthFailure::OtherService(_) => "unauthorized",
            AuthFailure::MissingSourceIp | AuthFailure::IpNotAllowed(_) => "ip_not_allowed",
        }
    }
}

impl CallbackAuth {
    /// `secrets`: the URL and signing secrets (either may be empty). `cidrs`: comma-separated
    /// CIDRs or single addresses, possibly empty. Nothing at all is an error.
    pub fn new(secrets: CallbackSecrets, cidrs: &str) -> Result<Self, AuthConfigError> {
        let allowed = parse_cidrs(cidrs)?;
        if secrets.url.is_empty() && secrets.hmac.is_empty() && allowed.is_empty() {
            return Err(AuthConfigError::NothingConfigured);
        }
        Ok(Self {
            url: secrets.url,
            hmac: secrets.hmac,
            allowed,
            services: secrets.services,
        })
    }

    /// A signing secret (if any; blank counts as none) and CIDRs, without a URL secret.
    pub fn from_parts(secret: Option<&str>, cidrs: &str) -> Result<Self, AuthConfigError> {
        Self::new(CallbackSecrets::default().with_hmac_secrets(secret), cidrs)
    }

    /// [`verify_with`](Self::verify_with) for a callback URL without a secret.
    pub fn verify(
        &self,
        raw_body: &[u8],
        signature: Option<&str>,
        source_ip: Option<IpAddr>,
    ) -> Result<(), AuthFailure> {
        self.verify_with(None, raw_body, signature, source_ip)
    }

    /// Checks one callback, each configured way in turn: the source IP when CIDRs are set, the
    /// URL's secret segment when URL secrets are set, the signature over exactly these bytes
    /// when signing secrets are set. Any accepted value of a secret passes.
    pub fn verify_with(
        &self,
        url_secret: Option<&str>,
        raw_body: &[u8],
        signature: Option<&str>,
        source_ip: Option<IpAddr>,
    ) -> Result<(), AuthFailure> {
        self.verify_for(url_secret, raw_body, signature, source_ip)
            .map(|_| ())
    }

    /// [`verify_with`](Self::verify_with), saying whose URL secret the callback came with:
    /// a service's own (then [`admits`](Self::admits) holds it to that service) or the
    /// deployment's.
    pub fn verify_for(
        &self,
        url_secret: Option<&str>,
        raw_body: &[u8],
        signature: Option<&str>,
        source_ip: Option<IpAddr>,
    ) -> Result<Verified, AuthFailure> {
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
        let given = url_secret.filter(|s| !s.is_empty());
        let verified = match given {
            Some(given) if !self.url.is_empty() || !self.services.is_empty() => {
                // Every value is compared (no early exit): the time says nothing about which.
                let deployment = self
                    .url
                    .iter()
                    .fold(false, |found, secret| secret.matches(given) | found);
                let service = self.services.iter().fold(None, |found, (id, secrets)| {
                    let matched = secrets
                        .iter()
                        .fold(false, |found, secret| secret.matches(given) | found);
                    if matched { Some(*id) } else { found }
                });
                match (service, deployment) {
                    (Some(id), _) => Verified::Service(id),
                    (None, true) => Verified::Deployment,
                    (None, false) => return Err(AuthFailure::BadUrlSecret),
                }
            }
            None if !self.url.is_empty() => return Err(AuthFailure::MissingUrlSecret),
            // The deployment has no URL secret: none (or any) is the deployment's way.
            _ => Verified::Deployment,
        };
        if !self.hmac.is_empty() {
            let signature = signature.ok_or(AuthFailure::MissingSignature)?;
            // `hex` decodes either case.
            let given =
                hex::decode(signature.trim()).map_err(|_| AuthFailure::MalformedSignature)?;
            // Constant-time; a signature of the wrong length simply does not verify.
            let matched = self.hmac.iter().fold(false, |found, secret| {
                mac(secret, raw_body).verify_slice(&given).is_ok() | found
            });
            if !matched {
                return Err(AuthFailure::BadSignature);
            }
        }
        Ok(verified)
    }

    /// Whether a callback verified as `verified` may be about `service_id` (what its body
    /// names, `None` when it names none): with a service's own secret, only about that service
    /// (a callback naming none is refused: nothing would hold it to its service); with the
    /// deployment's, about any service that has no secret of its own.
    pub fn admits(&self, verified: Verified, service_id: Option<u64>) -> Result<(), AuthFailure> {
        match (verified, service_id) {
            (Verified::Service(own), Some(named)) if own == named => Ok(()),
            (Verified::Service(own), _) => Err(AuthFailure::OtherService(own)),
            (Verified::Deployment, Some(named)) if self.services.contains_key(&named) => {
                Err(AuthFailure::ServiceSecretRequired(named))
            }
            (Verified::Deployment, _) => Ok(()),
        }
    }

    /// The service ids with a URL secret of their own.
    pub fn services_with_own_secret(&self) -> impl Iterator<Item = u64> + '_ {
        self.services.keys().copied()
    }

    pub fn requires_url_secret(&self) -> bool {
        !self.url.is_empty()
    }

    pub fn requires_signature(&self) -> bool {
        !self.hmac.is_empty()
    }

    pub fn allowed_networks(&self) -> &[IpNet] {
        &self.allowed
    }
}

// By hand, so no secret reaches a log line.
impl std::fmt::Debug for CallbackAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackAuth")
            .field("url_secrets", &self.url.len())
            .field("signing_secrets", &self.hmac.len())
            .field("allowed", &self.allowed)
            .field("services_with_own_url_secret", &self.services.len())
            .finish()
    }
}

impl std::fmt::Debug for UrlSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSecret(<redacted>)")
    }
}

impl std::fmt::Debug for CallbackSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackSecrets")
            .field("url_secrets", &self.url.len())
            .field("signing_secrets", &self.hmac.len())
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

/// Comma-separated CIDRs or single addresses (blank entries skipped), as `VIBER_CALLBACK_CIDRS`
/// holds them.
pub fn parse_cidrs(cidrs: &str) -> Result<Vec<IpNet>, AuthConfigError> {
    cidrs
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(parse_net)
        .collect()
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

    const DEPLOYMENT_URL: &str = "deployment-url-secret-0001";
    const CHAT_URL: &str = "chat-service-url-secret-01";
    const CHAT_URL_OLD: &str = "chat-service-url-secret-00";

    /// A deployment URL secret, and service 3002 with its own (rotating: two values).
    fn per_service() -> CallbackAuth {
        let secrets = CallbackSecrets::parse_json(&format!(
            r#"{{"url_secret": "{DEPLOYMENT_URL}",
                "service_url_secrets": {{"3002": ["{CHAT_URL}", "{CHAT_URL_OLD}"], "3003": []}}}}"#
        ))
        .unwrap();
        CallbackAuth::new(secrets, "").unwrap()
    }

    #[test]
    fn a_service_with_its_own_url_secret_takes_only_it_and_it_holds_only_that_service() {
        let auth = per_service();
        assert_eq!(auth.services_with_own_secret().collect::<Vec<_>>(), [3002]);
        // Its own secret, either value of the rotation: held to its service.
        for own in [CHAT_URL, CHAT_URL_OLD] {
            let verified = auth.verify_for(Some(own), BODY, None, None).unwrap();
            assert_eq!(verified, Verified::Service(3002));
            assert_eq!(auth.admits(verified, Some(3002)), Ok(()));
            assert_eq!(
                auth.admits(verified, Some(3001)),
                Err(AuthFailure::OtherService(3002))
            );
            assert_eq!(
                auth.admits(verified, None),
                Err(AuthFailure::OtherService(3002))
            );
        }
        // The deployment's: every service without its own (3003's emptied entry is none).
        let verified = auth
            .verify_for(Some(DEPLOYMENT_URL), BODY, None, None)
            .unwrap();
        assert_eq!(verified, Verified::Deployment);
        assert_eq!(auth.admits(verified, Some(3001)), Ok(()));
        assert_eq!(auth.admits(verified, Some(3003)), Ok(()));
        assert_eq!(auth.admits(verified, None), Ok(()));
        assert_eq!(
            auth.admits(verified, Some(3002)),
            Err(AuthFailure::ServiceSecretRequired(3002))
        );
        assert_eq!(
            AuthFailure::ServiceSecretRequired(3002).code(),
            "unauthorized"
        );
        // Neither: refused as before.
        assert_eq!(
            auth.verify_for(Some("no-such-url-secret-000"), BODY, None, None),
            Err(AuthFailure::BadUrlSecret)
        );
        assert_eq!(
            auth.verify_for(None, BODY, None, None),
            Err(AuthFailure::MissingUrlSecret)
        );
    }

    #[test]
    fn a_service_url_secret_without_a_deployment_one_is_required_only_of_its_service() {
        let secrets = CallbackSecrets::default()
            .with_service_url_secrets(3002, [CHAT_URL])
            .unwrap();
        let auth = CallbackAuth::new(secrets, "10.0.0.0/8").unwrap();
        let other = auth.verify_for(None, BODY, None, ip("10.1.2.3")).unwrap();
        assert_eq!(other, Verified::Deployment);
        assert_eq!(auth.admits(other, Some(3001)), Ok(()));
        assert_eq!(
            auth.admits(other, Some(3002)),
            Err(AuthFailure::ServiceSecretRequired(3002))
        );
        let own = auth
            .verify_for(Some(CHAT_URL), BODY, None, ip("10.1.2.3"))
            .unwrap();
        assert_eq!(auth.admits(own, Some(3002)), Ok(()));
        // The allowlist still holds for it.
        assert_eq!(
            auth.verify_for(Some(CHAT_URL), BODY, None, ip("192.0.2.1")),
            Err(AuthFailure::IpNotAllowed("192.0.2.1".parse().unwrap()))
        );
        // A service URL secret alone protects nothing else: the function would not start.
        let alone = CallbackSecrets::default()
            .with_service_url_secrets(3002, [CHAT_URL])
            .unwrap();
        assert_eq!(
            CallbackAuth::new(alone, "").unwrap_err(),
            AuthConfigError::NothingConfigured
        );
    }

    #[test]
    fn service_url_secrets_are_checked_when_read() {
        for bad in [
            r#"{"service_url_secrets": {"chat": "chat-service-url-secret-01"}}"#,
            r#"{"service_url_secrets": {"0": "chat-service-url-secret-01"}}"#,
            r#"{"service_url_secrets": {"3002": "short"}}"#,
            r#"{"service_url_secret": {"3002": "chat-service-url-secret-01"}}"#,
        ] {
            assert!(CallbackSecrets::parse_json(bad).is_err(), "{bad}");
        }
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
        let secrets = CallbackSecrets::parse_json(&format!(
            r#"{{"url_secret":"{URL_SECRET}","hmac_secret":"{SECRET}"}}"#
        ))
        .unwrap();
        let auth = CallbackAuth::new(secrets.clone(), "").unwrap();
        for shown in [format!("{auth:?}"), format!("{secrets:?}")] {
            assert!(
                !shown.contains(URL_SECRET) && !shown.contains(SECRET),
                "{shown}"
            );
        }
    }

    const URL_SECRET: &str = "Zq3vT8pLw2Nx6RkY4sHd";
    const OLD_URL_SECRET: &str = "old-secret.still_valid~01";

    fn url_auth(values: &[&str]) -> CallbackAuth {
        CallbackAuth::new(
            CallbackSecrets::default()
                .with_url_secrets(values.iter().copied())
                .unwrap(),
            "",
        )
        .unwrap()
    }

    #[test]
    fn url_secret_right_wrong_or_missing() {
        let auth = url_auth(&[URL_SECRET]);
        assert!(auth.requires_url_secret() && !auth.requires_signature());
        assert_eq!(auth.verify_with(Some(URL_SECRET), BODY, None, None), Ok(()));
        for (given, failure) in [
            (None, AuthFailure::MissingUrlSecret),
            (Some(""), AuthFailure::MissingUrlSecret),
            (Some("Zq3vT8pLw2Nx6RkY4sHD"), AuthFailure::BadUrlSecret),
            (Some("Zq3vT8pLw2Nx6RkY4sH"), AuthFailure::BadUrlSecret),
            (Some("Zq3vT8pLw2Nx6RkY4sHdd"), AuthFailure::BadUrlSecret),
            (Some(OLD_URL_SECRET), AuthFailure::BadUrlSecret),
        ] {
            let verdict = auth.verify_with(given, BODY, None, None);
            assert_eq!(verdict, Err(failure), "{given:?}");
            assert_eq!(verdict.unwrap_err().code(), "unauthorized");
        }
        // Without a URL secret segment at all, as `verify` checks.
        assert_eq!(
            auth.verify(BODY, None, None),
            Err(AuthFailure::MissingUrlSecret)
        );
    }

    #[test]
    fn during_a_rotation_old_and_new_url_secrets_pass() {
        let auth = url_auth(&[URL_SECRET, OLD_URL_SECRET]);
        assert_eq!(auth.verify_with(Some(URL_SECRET), BODY, None, None), Ok(()));
        assert_eq!(
            auth.verify_with(Some(OLD_URL_SECRET), BODY, None, None),
            Ok(())
        );
        assert_eq!(
            auth.verify_with(Some("neither-of-the-two-0000"), BODY, None, None),
            Err(AuthFailure::BadUrlSecret)
        );
    }

    #[test]
    fn weak_or_unregistrable_url_secrets_are_refused() {
        for bad in [
            "short",
            "fifteen-chars15",
            "has a space in it....",
            "slash/inside/the/secret",
            "percent%20encoded-secret",
            "кириллица-кириллица",
            &"x".repeat(129),
        ] {
            assert_eq!(
                UrlSecret::parse(bad).unwrap_err(),
                AuthConfigError::BadUrlSecret,
                "{bad}"
            );
        }
        assert!(UrlSecret::parse("sixteen-chars-16").is_ok());
        assert!(UrlSecret::parse(&"A".repeat(128)).is_ok());
    }

    #[test]
    fn the_secret_value_as_json() {
        let secrets = CallbackSecrets::parse_json(&format!(
            r#"{{"url_secret": ["{URL_SECRET}", "{OLD_URL_SECRET}"], "hmac_secret": "{SECRET}"}}"#
        ))
        .unwrap();
        let auth = CallbackAuth::new(secrets, "").unwrap();
        let sig = sign(SECRET.as_bytes(), BODY);
        assert_eq!(
            auth.verify_with(Some(OLD_URL_SECRET), BODY, Some(&sig), None),
            Ok(())
        );
        // Both configured: both required.
        assert_eq!(
            auth.verify_with(Some(URL_SECRET), BODY, None, None),
            Err(AuthFailure::MissingSignature)
        );
        assert_eq!(
            auth.verify_with(None, BODY, Some(&sig), None),
            Err(AuthFailure::MissingUrlSecret)
        );

        // Signing secrets rotate the same way.
        let rotating =
            CallbackSecrets::parse_json(r#"{"hmac_secret": ["new-key", "old-key"]}"#).unwrap();
        let auth = CallbackAuth::new(rotating, "").unwrap();
        assert!(!auth.requires_url_secret());
        for key in ["new-key", "old-key"] {
            let sig = sign(key.as_bytes(), BODY);
            assert_eq!(auth.verify(BODY, Some(&sig), None), Ok(()), "{key}");
        }
        let other = sign(b"another-key", BODY);
        assert_eq!(
            auth.verify(BODY, Some(&other), None),
            Err(AuthFailure::BadSignature)
        );
    }

    #[test]
    fn bad_secret_values_are_refused() {
        for (text, expected) in [
            ("not json", None),
            (r#"{"url_secrets": "Zq3vT8pLw2Nx6RkY4sHd"}"#, None),
            (r#"{"hmac_secert": "x"}"#, None),
            (r#"{"url_secret": 42}"#, None),
            (r#"["Zq3vT8pLw2Nx6RkY4sHd"]"#, None),
            (
                r#"{"url_secret": "short"}"#,
                Some(AuthConfigError::BadUrlSecret),
            ),
            (r#""a-plain-string-secret""#, None),
            (r#"{"url_secret": {"v": "nested-secret-value"}}"#, None),
        ] {
            let err = CallbackSecrets::parse_json(text).unwrap_err();
            // The message never quotes the value.
            for leak in ["plain-string", "nested-secret", "Zq3v", "short"] {
                assert!(!err.to_string().contains(leak), "{err}");
            }
            match expected {
                Some(expected) => assert_eq!(err, expected, "{text}"),
                None => assert!(matches!(err, AuthConfigError::BadSecretValue(_)), "{text}"),
            }
        }
        // Empty and blank values configure nothing: with no CIDRs, nothing to start with.
        for text in [
            "{}",
            r#"{"url_secret": [], "hmac_secret": " "}"#,
            r#"{"url_secret": ""}"#,
        ] {
            let secrets = CallbackSecrets::parse_json(text).unwrap();
            assert_eq!(
                CallbackAuth::new(secrets.clone(), "").unwrap_err(),
                AuthConfigError::NothingConfigured,
                "{text}"
            );
            assert!(CallbackAuth::new(secrets, "192.0.2.0/24").is_ok());
        }
    }

    #[test]
    fn url_secret_source_ip_and_signature_together() {
        let secrets = CallbackSecrets::default()
            .with_url_secrets([URL_SECRET])
            .unwrap()
            .with_hmac_secrets([SECRET]);
        let auth = CallbackAuth::new(secrets, "203.0.113.0/24").unwrap();
        let sig = sign(SECRET.as_bytes(), BODY);
        let inside = ip("203.0.113.9");
        assert_eq!(
            auth.verify_with(Some(URL_SECRET), BODY, Some(&sig), inside),
            Ok(())
        );
        assert!(matches!(
            auth.verify_with(Some(URL_SECRET), BODY, Some(&sig), ip("192.0.2.1")),
            Err(AuthFailure::IpNotAllowed(_))
        ));
        assert_eq!(
            auth.verify_with(Some(OLD_URL_SECRET), BODY, Some(&sig), inside),
            Err(AuthFailure::BadUrlSecret)
        );
        assert_eq!(
            auth.verify_with(Some(URL_SECRET), BODY, None, inside),
            Err(AuthFailure::MissingSignature)
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Only an accepted value passes; any other string (a near miss included) is
            /// refused.
            #[test]
            fn only_an_accepted_url_secret_passes(
                secret in "[A-Za-z0-9._~-]{16,64}",
                other in "[A-Za-z0-9._~-]{16,64}",
                given in "\\PC{0,80}",
                flip in 0usize..64,
            ) {
                let auth = url_auth(&[&secret]);
                prop_assert_eq!(auth.verify_with(Some(&secret), BODY, None, None), Ok(()));
                let verdict = auth.verify_with(Some(&given), BODY, None, None);
                prop_assert_eq!(verdict.is_ok(), given == secret);
                // One character changed.
                let mut near: Vec<char> = secret.chars().collect();
                let at = flip % near.len();
                near[at] = if near[at] == 'a' { 'b' } else { 'a' };
                let near: String = near.into_iter().collect();
                prop_assert_eq!(
                    auth.verify_with(Some(&near), BODY, None, None).is_ok(),
                    near == secret
                );
                // With two accepted values, each passes.
                let rotating = url_auth(&[&other, &secret]);
                prop_assert_eq!(rotating.verify_with(Some(&secret), BODY, None, None), Ok(()));
                prop_assert_eq!(rotating.verify_with(Some(&other), BODY, None, None), Ok(()));
            }
        }
    }
}
