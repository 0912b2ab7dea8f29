//! What the commands print: JSON views of the store's values. Secrets appear only where a
//! command asks for them; the API key hash never does.

use serde::Serialize;
use session_rules::Template;
use vbm_store::{ApiKey, Business, BusinessId};

/// `business create`: everything, including the API key shown this once.
#[derive(Debug, Serialize)]
pub struct Created<'a> {
    pub business_id: &'a str,
    pub service_id: u64,
    pub api_key: &'a str,
    pub callback_secret: &'a str,
    pub callback_url: Option<&'a str>,
    pub allow_cidrs: Vec<String>,
}

impl<'a> Created<'a> {
    pub fn new(business: &'a Business, key: &'a ApiKey) -> Self {
        Self {
            business_id: business.id.as_str(),
            service_id: business.service_id,
            api_key: key.expose(),
            callback_secret: &business.callback_secret,
            callback_url: business.callback_url.as_deref(),
            allow_cidrs: cidrs(business),
        }
    }
}

/// `business show` / `business update`: no API key, the callback secret only on request.
#[derive(Debug, Serialize)]
pub struct Shown<'a> {
    pub business_id: &'a str,
    pub service_id: u64,
    pub callback_url: Option<&'a str>,
    pub allow_cidrs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_secret: Option<&'a str>,
}

impl<'a> Shown<'a> {
    pub fn new(business: &'a Business, with_secret: bool) -> Self {
        Self {
            business_id: business.id.as_str(),
            service_id: business.service_id,
            callback_url: business.callback_url.as_deref(),
            allow_cidrs: cidrs(business),
            callback_secret: with_secret.then_some(business.callback_secret.as_str()),
        }
    }
}

fn cidrs(business: &Business) -> Vec<String> {
    business
        .allow_cidrs
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// `key rotate`.
#[derive(Debug, Serialize)]
pub struct Rotated<'a> {
    pub business_id: &'a str,
    pub api_key: &'a str,
}

/// One template, as `GET /v1/templates` describes it, with its business.
#[derive(Debug, Serialize)]
pub struct TemplateView<'a> {
    pub business_id: &'a str,
    pub template_id: &'a str,
    pub lang: &'a str,
    pub category: &'a str,
    pub reach: &'a str,
    pub approved: bool,
    pub text: &'a str,
    pub placeholders: &'a [String],
}

impl<'a> TemplateView<'a> {
    pub fn new(business: &'a BusinessId, template: &'a Template) -> Self {
        Self {
            business_id: business.as_str(),
            template_id: template.id().as_str(),
            lang: template.language().as_str(),
            category: template.category().as_str(),
            reach: template.reach().as_str(),
            approved: template.is_approved(),
            text: template.text(),
            placeholders: template.placeholders(),
        }
    }
}

/// `template list`.
#[derive(Debug, Serialize)]
pub struct TemplateList<'a> {
    pub business_id: &'a str,
    pub templates: Vec<TemplateView<'a>>,
}
