//! The one business every in-process bench sends as: its events go to the stand-in, it sends
//! free-form transactional text (Viber's legacy type, as measured before templates were
//! required, so it has opted in), and it has one approved transactional template.

use session_rules::{Language, Template, TemplateCategory, TemplateId};
use vbm_store::{ApiKey, BusinessId, NewBusiness, Store};

/// Creates the bench business `business` on `service_id`, its events to `events_url`, with
/// the template `template_id` reading `text`; its API key.
pub async fn create(
    store: &Store,
    business: &BusinessId,
    service_id: u64,
    events_url: String,
    (template_id, text): (&str, &str),
) -> Result<ApiKey, String> {
    let (_, key) = store
        .businesses()
        .create_business(&NewBusiness {
            id: business.clone(),
            service_id,
            callback_url: Some(events_url),
            allow_cidrs: Vec::new(),
        })
        .await
        .map_err(|e| format!("creating the business: {e}"))?;
    store
        .businesses()
        .set_legacy_transactional(business, true)
        .await
        .map_err(|e| format!("opting the business in to legacy transactional: {e}"))?;
    let template = Template::parse(
        TemplateId::parse(template_id).map_err(|e| e.to_string())?,
        Language::parse("en").map_err(|e| e.to_string())?,
        TemplateCategory::Transactional,
        true,
        text,
    )
    .map_err(|e| e.to_string())?;
    store
        .templates()
        .put_template(business, &template)
        .await
        .map_err(|e| format!("adding the template: {e}"))?;
    Ok(key)
}
