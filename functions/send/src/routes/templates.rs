//! `GET /v1/templates`: the business's templates, with what a template picker needs.

use lambda_http::http::StatusCode;
use vbm_http::{Answer, json_response};
use vbm_store::Business;

use crate::App;
use crate::views::{TemplateList, TemplateView};

pub async fn list(app: &App, business: &Business) -> Answer {
    let templates = app.store().list_templates(&business.id).await?;
    Ok(json_response(
        StatusCode::OK,
        &TemplateList {
            templates: templates.iter().map(TemplateView::from).collect(),
        },
    ))
}
