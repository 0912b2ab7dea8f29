//! `GET /v1/sessions/{phone}`: where the session with one user stands, for this business.

use lambda_http::http::StatusCode;
use session_rules::{PhoneNumber, Refusal};
use vbm_http::{Answer, ApiError, json_response, percent_decode};
use vbm_store::Business;

use crate::App;
use crate::views::SessionView;

pub async fn get(app: &App, business: &Business, phone: &str) -> Answer {
    let phone = phone_param(phone)?;
    let conversation = app
        .store()
        .conversations()
        .get_conversation(&business.id, &phone)
        .await?
        .unwrap_or_default();
    let snapshot = conversation.snapshot(app.clock().now(), app.store().limits());
    Ok(json_response(StatusCode::OK, &SessionView::from(snapshot)))
}

/// A phone number in a path: E.164, its `+` written as `%2B` or as itself. Anything else is
/// `422 invalid_phone` with `field: phone`.
pub(crate) fn phone_param(raw: &str) -> Result<PhoneNumber, ApiError> {
    let invalid = |refusal: Refusal| crate::with_field(ApiError::from(refusal), "phone");
    let decoded = percent_decode(raw).ok_or_else(|| {
        invalid(Refusal::InvalidPhone(
            "the path segment is not a valid percent-encoded string".into(),
        ))
    })?;
    PhoneNumber::parse(&decoded).map_err(invalid)
}
