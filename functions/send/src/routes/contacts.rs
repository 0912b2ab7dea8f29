//! `DELETE /v1/contacts/{phone}`: erase everything stored about one user for this business.

use lambda_http::http::StatusCode;
use vbm_http::{Answer, empty_response};
use vbm_store::Business;

use super::sessions::phone_param;
use crate::App;

/// `204 No Content` once the conversation, messages and idempotency records of that user are
/// gone (also when there was nothing to erase: erasure is idempotent).
pub async fn erase(app: &App, business: &Business, phone: &str) -> Answer {
    let phone = phone_param(phone)?;
    let items = app
        .store()
        .erasure()
        .erase_contact(&business.id, &phone)
        .await?;
    tracing::info!(items, "contact erased");
    Ok(empty_response(StatusCode::NO_CONTENT))
}
