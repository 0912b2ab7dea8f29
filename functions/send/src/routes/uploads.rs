//! `POST /v1/campaigns/uploads` (issue 15): where to put a recipient list too long to send
//! inline (up to 1,000,000 lines). The answer is a presigned S3 PUT URL for
//! `uploads/{business}/{upload_id}`, valid [`PUT_EXPIRY`]; the business PUTs its CSV or JSONL
//! there and names the upload in `POST /v1/campaigns` (`recipients_upload`). Nothing is stored
//! here: an upload id is only a name until an object is PUT under it.

use std::time::{Duration, SystemTime};

use lambda_http::http::StatusCode;
use vbm_http::{Answer, ApiError, json_response};
use vbm_store::Business;
use vbm_uploads::{MAX_BYTES, PUT_EXPIRY, UploadId};

use crate::App;
use crate::views::UploadView;

pub async fn create(app: &App, business: &Business) -> Answer {
    let presigner = app.uploads().ok_or_else(|| {
        ApiError::unavailable("uploaded lists are not configured on this deployment")
    })?;
    let id = UploadId::generate();
    let now = app.clock().now();
    // The URL carries the clock's time (the local stack moves it; in AWS it is the system's).
    let signed_at = SystemTime::UNIX_EPOCH + Duration::from_millis(now.as_millis().max(0) as u64);
    let url = presigner
        .presign(
            "PUT",
            &vbm_uploads::key(business.id.as_str(), &id),
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
            headers: Default::default(),
            expires_at: now.plus(PUT_EXPIRY),
            max_bytes: MAX_BYTES,
        },
    ))
}
