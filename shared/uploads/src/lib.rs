//! Recipient lists uploaded to S3: where an upload lives, and the URLs that reach it.
//!
//! An upload is `s3://{bucket}/uploads/{business}/{upload_id}`: the business is part of the key,
//! and every key is built from the authenticated business, so one business's upload id names
//! nothing of another's. `send` hands out a presigned PUT ([`Presigner::presign`]); the fan-out
//! reads the object through a presigned GET with ranges ([`reader`], feature `reader`). Both are
//! signed with `aws-sigv4`, the SDK's own signer: no S3 SDK in either binary.

#[cfg(feature = "reader")]
pub mod reader;

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_types::SdkConfig;
use thiserror::Error;

/// Where uploads are kept in the bucket (the lifecycle rule expires this prefix).
pub const PREFIX: &str = "uploads/";

/// How long an upload URL is valid.
pub const PUT_EXPIRY: Duration = Duration::from_secs(15 * 60);

/// The largest upload a campaign takes: 1,000,000 recipients at up to ~256 bytes a line.
pub const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Upload slots a business may open per [`PUT_EXPIRY`] window: a slot's URL lives at most
/// that long, so no more than twice this many are ever usable at once.
pub const MAX_OPEN_SLOTS: u32 = 10;

/// What the PUT of an upload slot must carry, covered by the URL's signature: S3 refuses a
/// body of another length or type (`SignatureDoesNotMatch`), so a slot holds exactly the list
/// its request announced, never S3's 5 GB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutBinding {
    /// The list's exact size (`content-length`), 1 to [`MAX_BYTES`].
    pub bytes: u64,
    /// `content-type`.
    pub content_type: &'static str,
}

impl PutBinding {
    /// The headers the PUT must carry, as signed.
    pub fn headers(&self) -> [(&'static str, String); 2] {
        [
            ("content-length", self.bytes.to_string()),
            ("content-type", self.content_type.to_owned()),
        ]
    }
}

#[derive(Debug, Error)]
pub enum UploadError {
    /// No credentials, or the signer refused the request: an infrastructure failure.
    #[error("signing an S3 request: {0}")]
    Signing(String),
}

/// An upload id: a ULID, as campaign ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    pub fn generate() -> Self {
        Self(ulid::Ulid::new().to_string())
    }

    /// Only the ids this API writes (26 upper-case Crockford base-32 characters).
    pub fn parse(input: &str) -> Option<Self> {
        let canonical = input.len() == 26
            && input
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        canonical
            .then(|| ulid::Ulid::from_string(input).ok())
            .flatten()
            .map(|u| Self(u.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// When the id was drawn (its upload URL expired [`PUT_EXPIRY`] later).
    pub fn created_ms(&self) -> u64 {
        ulid::Ulid::from_string(&self.0)
            .map(|u| u.timestamp_ms())
            .unwrap_or_default()
    }
}

impl std::fmt::Display for UploadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The object key of `business`'s upload `id` (a business id is `[a-z0-9_-]`, an upload id
/// base-32: nothing to escape).
pub fn key(business: &str, id: &UploadId) -> String {
    format!("{PREFIX}{business}/{}", id.as_str())
}

/// Signs S3 URLs for the uploads bucket. Built once per process.
#[derive(Debug, Clone)]
pub struct Presigner {
    bucket: String,
    region: String,
    /// The local emulator (`AWS_ENDPOINT_URL`): path-style URLs below it.
    endpoint: Option<String>,
    credentials: Option<SharedCredentialsProvider>,
}

impl Presigner {
    pub fn new(
        bucket: impl Into<String>,
        region: impl Into<String>,
        endpoint: Option<String>,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Self {
        Self {
            bucket: bucket.into(),
            region: region.into(),
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_owned()),
            credentials,
        }
    }

    /// The bucket with the SDK configuration's region, endpoint and credentials.
    pub fn from_sdk(sdk: &SdkConfig, bucket: impl Into<String>) -> Self {
        Self::new(
            bucket,
            sdk.region().map_or("us-east-1", |r| r.as_ref()),
            sdk.endpoint_url().map(str::to_owned),
            sdk.credentials_provider(),
        )
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn object_url(&self, key: &str) -> String {
        match &self.endpoint {
            Some(endpoint) => format!("{endpoint}/{}/{key}", self.bucket),
            None => format!(
                "https://{}.s3.{}.amazonaws.com/{key}",
                self.bucket, self.region
            ),
        }
    }

    /// A URL that lets its holder `method` (PUT, GET) the object `key` until `now + expires`,
    /// with the signer's permissions (SigV4 query parameters, unsigned payload: the body is
    /// the holder's). No header is signed: for reads (the fan-out's ranged GETs); an upload
    /// slot is [`Presigner::presign_put`].
    pub async fn presign(
        &self,
        method: &str,
        key: &str,
        expires: Duration,
        now: SystemTime,
    ) -> Result<String, UploadError> {
        self.sign(method, key, &[], expires, now).await
    }

    /// An upload slot's URL: a PUT of `key` that must carry exactly `binding`'s
    /// `content-length` and `content-type` (both in `X-Amz-SignedHeaders`).
    pub async fn presign_put(
        &self,
        key: &str,
        binding: &PutBinding,
        expires: Duration,
        now: SystemTime,
    ) -> Result<String, UploadError> {
        let headers = binding.headers();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        self.sign("PUT", key, &headers, expires, now).await
    }

    async fn sign(
        &self,
        method: &str,
        key: &str,
        headers: &[(&str, &str)],
        expires: Duration,
        now: SystemTime,
    ) -> Result<String, UploadError> {
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| UploadError::Signing("no credentials".into()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| UploadError::Signing(e.to_string()))?;
        let identity: Identity = credentials.into();
        let mut settings = SigningSettings::default();
        // S3 takes the path as it is (no double encoding, no normalisation).
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| UploadError::Signing(e.to_string()))?
            .into();
        let url = self.object_url(key);
        let request = SignableRequest::new(
            method,
            url.as_str(),
            headers.iter().copied(),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| UploadError::Signing(e.to_string()))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| UploadError::Signing(e.to_string()))?
            .into_parts();
        let mut out = url;
        for (i, (name, value)) in instructions.params().iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(name);
            out.push('=');
            encode_into(&mut out, value);
        }
        Ok(out)
    }
}

/// RFC 3986 query encoding: everything but the unreserved characters.
fn encode_into(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_credential_types::Credentials;

    use super::*;

    fn presigner(endpoint: Option<&str>) -> Presigner {
        Presigner::new(
            "vbm-uploads",
            "eu-west-1",
            endpoint.map(str::to_owned),
            Some(SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                Some("token/with+chars".into()),
                None,
                "test",
            ))),
        )
    }

    #[test]
    fn keys_carry_the_business() {
        let id = UploadId::parse("01JDXZ6Q4T9M3N8K2R5V7W0YAB").unwrap();
        assert_eq!(key("acme", &id), "uploads/acme/01JDXZ6Q4T9M3N8K2R5V7W0YAB");
        for bad in [
            "",
            "../x",
            "01jdxz6q4t9m3n8k2r5v7w0yab",
            "01JDXZ6Q4T9M3N8K2R5V7W0YA/",
        ] {
            assert_eq!(UploadId::parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn presigned_urls_name_the_object_and_expire() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let url = presigner(None)
            .presign("PUT", "uploads/acme/01J", PUT_EXPIRY, now)
            .await
            .unwrap();
        assert!(
            url.starts_with("https://vbm-uploads.s3.eu-west-1.amazonaws.com/uploads/acme/01J?"),
            "{url}"
        );
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20270115%2Feu-west-1%2Fs3%2Faws4_request",
            "X-Amz-Expires=900",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Security-Token=token%2Fwith%2Bchars",
            "X-Amz-Signature=",
        ] {
            assert!(url.contains(part), "{part} in {url}");
        }
        let local = presigner(Some("http://127.0.0.1:5000/"))
            .presign("GET", "uploads/acme/01J", PUT_EXPIRY, now)
            .await
            .unwrap();
        assert!(local.starts_with("http://127.0.0.1:5000/vbm-uploads/uploads/acme/01J?"));
        assert_ne!(url, local);
    }

    /// The signature covers the slot's length and type: another length or type is another
    /// signature, so S3 (which recomputes it from the request's own headers) refuses the PUT.
    /// moto does not check presigned signatures, hence this test of the URL itself.
    #[tokio::test]
    async fn an_upload_url_signs_its_length_and_type() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let p = presigner(None);
        let put = |bytes, content_type| {
            let p = p.clone();
            async move {
                p.presign_put(
                    "uploads/acme/01J",
                    &PutBinding {
                        bytes,
                        content_type,
                    },
                    PUT_EXPIRY,
                    now,
                )
                .await
                .unwrap()
            }
        };
        let signature = |url: &str| url.split("X-Amz-Signature=").nth(1).unwrap().to_owned();
        let url = put(61, "text/csv").await;
        assert!(
            url.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"),
            "{url}"
        );
        assert_eq!(put(61, "text/csv").await, url, "deterministic");
        assert_ne!(signature(&put(62, "text/csv").await), signature(&url));
        assert_ne!(
            signature(&put(5_000_000_000, "text/csv").await),
            signature(&url)
        );
        assert_ne!(
            signature(&put(61, "application/x-ndjson").await),
            signature(&url)
        );
        // Reads sign the host alone.
        let get = p
            .presign("GET", "uploads/acme/01J", PUT_EXPIRY, now)
            .await
            .unwrap();
        assert!(get.contains("X-Amz-SignedHeaders=host&"), "{get}");
    }

    #[tokio::test]
    async fn without_credentials_signing_fails() {
        let p = Presigner::new("b", "us-east-1", None, None);
        assert!(
            p.presign("PUT", "k", PUT_EXPIRY, SystemTime::now())
                .await
                .is_err()
        );
    }
}
