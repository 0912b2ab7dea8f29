//! The business's templates: `POST /v1/templates` (submit one for Viber's review),
//! `GET /v1/templates` (`?state=` to filter), `GET /v1/templates/{id}`,
//! `DELETE /v1/templates/{id}`.
//!
//! A template is checked against the content rules before anything is stored
//! ([`TemplateDraft::parse`]); it is created `pending_review` and counted toward the business's
//! 2,000 in one transaction. Viber's answer comes through the operator (`vbmctl template
//! approve|reject`). A template is never edited: a change is a new template. Another business's
//! template id, like an unknown one, is `404 not_found`.

use lambda_http::http::StatusCode;
use lambda_http::{Request, RequestExt};
use session_rules::{
    MAX_TEMPLATES_PER_BUSINESS, RawTemplateDraft, Refusal, TemplateDraft, TemplateId, TemplateState,
};
use vbm_http::idempotency::{canonical_json, request_hash};
use vbm_http::{Answer, ApiError, from_value, json_response, read_json_value};
use vbm_store::{Business, TemplateCreated, new_template_id};

use crate::App;
use crate::routes::messages::{idempotency_key, key_reused};
use crate::views::{TemplateList, TemplateView};

/// `GET /v1/templates[?state=pending_review|approved|rejected|deleted]`: without `state`, every
/// template but the deleted ones.
pub async fn list(app: &App, business: &Business, request: &Request) -> Answer {
    let query = request.query_string_parameters();
    let state = query
        .first("state")
        .map(|s| {
            TemplateState::parse(s).map_err(|_| {
                ApiError::validation_failed(
                    Some("state"),
                    "one of pending_review, approved, rejected, deleted",
                )
            })
        })
        .transpose()?;
    let templates = app.store().templates().list_templates(&business.id).await?;
    Ok(json_response(
        StatusCode::OK,
        &TemplateList {
            templates: templates
                .iter()
                .filter(|t| match state {
                    Some(state) => t.state() == state,
                    None => t.state() != TemplateState::Deleted,
                })
                .map(TemplateView::from)
                .collect(),
        },
    ))
}

/// `POST /v1/templates`: `201` with the template, `pending_review`. With an
/// `Idempotency-Key`, a retry with the same body answers the template the first one created
/// (counted once), as it stands now; the same key with another body is
/// `422 idempotency_key_reused`.
pub async fn create(app: &App, business: &Business, request: &Request) -> Answer {
    let key = idempotency_key(request)?;
    let value = read_json_value(request.body())?;
    if !value.is_object() {
        return Err(ApiError::validation_failed(
            None,
            "the request body must be a JSON object",
        ));
    }
    let raw: RawTemplateDraft = from_value(&value)?;
    let draft = TemplateDraft::parse(&raw)?;
    let now = app.clock().now();
    let template = draft.into_template(new_template_id(), now);
    let hash = request_hash(&canonical_json(&value));
    let created = app
        .store()
        .templates()
        .create_template(
            &business.id,
            &template,
            MAX_TEMPLATES_PER_BUSINESS,
            key.as_ref().map(|k| (k, hash.as_str())),
            now,
        )
        .await?;
    let template = match created {
        TemplateCreated::Created => {
            tracing::info!(template = template.id().as_str(), "template submitted");
            template
        }
        TemplateCreated::Replayed(earlier) => earlier,
        TemplateCreated::LimitReached(cap) => {
            return Err(Refusal::TemplateLimitReached(cap).into());
        }
        TemplateCreated::KeyReused => return Err(key_reused()),
    };
    Ok(json_response(
        StatusCode::CREATED,
        &TemplateView::from(&template),
    ))
}

/// `GET /v1/templates/{id}`.
pub async fn get(app: &App, business: &Business, id: &str) -> Answer {
    let id = template_id(id)?;
    let template = app
        .store()
        .templates()
        .get_template_consistent(&business.id, &id)
        .await?
        .ok_or_else(not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &TemplateView::from(&template),
    ))
}

/// `DELETE /v1/templates/{id}`: `200` with the template, `deleted`. Deleting a deleted
/// template answers the same and changes nothing.
pub async fn delete(app: &App, business: &Business, id: &str) -> Answer {
    let id = template_id(id)?;
    // A delete that lost a race with moderation decides again on what it finds.
    for _ in 0..3 {
        let current = app
            .store()
            .templates()
            .get_template_consistent(&business.id, &id)
            .await?
            .ok_or_else(not_found)?;
        let Some(deleted) = current.delete() else {
            return Ok(json_response(StatusCode::OK, &TemplateView::from(&current)));
        };
        if app
            .store()
            .templates()
            .delete_template(&business.id, &current, app.clock().now())
            .await?
        {
            app.templates.forget(&business.id, &id);
            tracing::info!(template = id.as_str(), "template deleted");
            return Ok(json_response(StatusCode::OK, &TemplateView::from(&deleted)));
        }
    }
    Err(ApiError::unavailable(
        "the template kept changing while it was deleted; retry the same request",
    ))
}

fn not_found() -> ApiError {
    ApiError::not_found("no such template")
}

/// A path's template id; one that cannot be an id is as unknown as any other.
fn template_id(raw: &str) -> Result<TemplateId, ApiError> {
    TemplateId::parse(raw).map_err(|_: Refusal| not_found())
}
