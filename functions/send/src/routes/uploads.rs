//! `POST /v1/campaigns/uploads`: where to put a recipient list too long to send
//! inline (up to 1,000,000 lines). The request names the list's format and exact size; the
//! answer is a presigned S3 PUT URL for `uploads/{business}/{upload_id}`, valid
//! [`PUT_EXPIRY`], whose signature covers that `content-length` and `content-type` (S3 refuses
//! any other body). The business PUTs its CSV or JSONL there with the answer's `headers` and
//! names the upload in `POST /v1/campaigns` (`recipients_upload`). A business opens at most
//! [`MAX_OPEN_SLOTS`] slots per [`PUT_EXPIRY`] (`429 too_many_uploads`). Nothing else is
//! stored: an upload id is only a name until an object is PUT under it.

use std::time::{Duration, SystemTime};

use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde::Deserialize;
use vbm_http::{Answer, ApiError, from_value, json_response, read_json_value};
use vbm_store::{Allowance, Business, Use};
use vbm_uploads::{MAX_BYTES, MAX_OPEN_SLOTS, PUT_EXPIRY, PutBinding, UploadId};

use crate::App;
use crate::views::UploadView;

/// [`MAX_OPEN_SLOTS`] per business per [`PUT_EXPIRY`], counted atomically across containers.
const SLOT_ALLOWANCE: Allowance = Allowance {
    what: "upload",
    limit: MAX_OPEN_SLOTS,
    window: PUT_EXPIRY,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotRequest {
    format: String,
    /// `470.0` is 470, as every count of the API reads it.
    #[serde(deserialize_with = "session_rules::whole_number")]
    bytes: u64,
}

/// The PUT's `content-type` for a list format.
fn content_type(format: &str) -> Option<&'static str> {
    match format {
        "csv" => Some("text/csv"),
        "jsonl" => Some("application/x-ndjson"),
        _ => None,
    }
}

pub async fn create(app: &App, business: &Business, request: &Request) -> Answer {
    let presigner = app.uploads().ok_or_else(|| {
        ApiError::unavailable("uploaded lists are not configured on this deployment")
    })?;
    let value = read_json_value(request.body())?;
    if !value.is_object() {
        return Err(ApiError::validation_failed(
            None,
            "the request body must be a JSON object: {\"format\": \"csv\", \"bytes\": 1234}",
        ));
    }
    let slot: SlotRequest = from_value(&value)?;
    let content_type = content_type(&slot.format)
        .ok_or_else(|| ApiError::validation_failed(Some("format"), "`csv` or `jsonl`"))?;
    if !(1..=MAX_BYTES).contains(&slot.bytes) {
        return Err(ApiError::validation_failed(
            Some("bytes"),
            format!("the list's exact size in bytes, 1 to {MAX_BYTES}"),
        ));
    }
    let now = app.clock().now();
    if let Use::Refused { retry_after } = app
        .store()
        .allowances()
        .take_allowance(&business.id, &SLOT_ALLOWANCE, now)
        .await?
    {
        let seconds = u32::try_from(retry_after.as_secs().max(1)).unwrap_or(u32::MAX);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_uploads",
            format!(
                "at most {MAX_OPEN_SLOTS} upload slots per {} minutes; retry later",
                PUT_EXPIRY.as_secs() / 60
            ),
        )
        .with_retry_after(seconds));
    }
    let id = UploadId::generate();
    let binding = PutBinding {
        bytes: slot.bytes,
        content_type,
    };
    // The URL carries the clock's time (the local stack moves it; in AWS it is the system's).
    let signed_at = SystemTime::UNIX_EPOCH + Duration::from_millis(now.as_millis().max(0) as u64);
    let url = presigner
        .presign_put(
            &vbm_uploads::key(business.id.as_str(), &id),
            &binding,
            PUT_EXPIRY,
            signed_at,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "presigning an upload URL");
            ApiError::unavailable("the service is briefly unavailable; retry")
        })?;
    Ok(json_response(
        StatusCode::CREATED,
        &UploadView {
            upload_id: id.to_string(),
            url,
            method: "PUT",
            headers: binding
                .headers()
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            expires_at: now.plus(PUT_EXPIRY),
            max_bytes: MAX_BYTES,
        },
    ))
}
