//! What the commands print: JSON views of the store's values. Secrets appear only where a
//! command asks for them; the API key hash never does.

use serde::Serialize;
use session_rules::Template;
use vbm_store::{ApiKey, Business, BusinessId, KeyInfo};

/// `business create`: everything, including the API key shown this once.
#[derive(Debug, Serialize)]
pub struct Created<'a> {
    pub business_id: &'a str,
    pub service_id: u64,
    pub api_key: &'a str,
    pub callback_secret: &'a str,
    pub callback_url: Option<&'a str>,
    pub allow_cidrs: Vec<String>,
    /// Every Viber service (`service_id` is the first's).
    pub services: Vec<ServiceView>,
}

impl<'a> Created<'a> {
    pub fn new(business: &'a Business, key: &'a ApiKey) -> Self {
        Self {
            business_id: business.id.as_str(),
            service_id: business.service_id(),
            services: services(business),
            api_key: key.expose(),
            callback_secret: &business.callback_secret,
            callback_url: business.callback_url.as_deref(),
            allow_cidrs: cidrs(business),
        }
    }
}

/// One Viber service of a business.
#[derive(Debug, Serialize)]
pub struct ServiceView {
    pub service_id: u64,
    pub kind: &'static str,
}

fn services(business: &Business) -> Vec<ServiceView> {
    business
        .services
        .iter()
        .map(|s| ServiceView {
            service_id: s.id,
            kind: s.kind.as_str(),
        })
        .collect()
}

/// `business service add|remove|list`.
#[derive(Debug, Serialize)]
pub struct ServicesShown<'a> {
    pub business_id: &'a str,
    pub services: Vec<ServiceView>,
}

impl<'a> ServicesShown<'a> {
    pub fn new(business: &'a Business) -> Self {
        Self {
            business_id: business.id.as_str(),
            services: services(business),
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
    /// Every Viber service (`service_id` is the first's).
    pub services: Vec<ServiceView>,
    /// Only when API access is switched off (`business disable`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// Only when free-form transactional content is allowed (`business legacy-transactional`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub legacy_transactional: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_secret: Option<&'a str>,
}

impl<'a> Shown<'a> {
    pub fn new(business: &'a Business, with_secret: bool) -> Self {
        Self {
            business_id: business.id.as_str(),
            service_id: business.service_id(),
            services: services(business),
            callback_url: business.callback_url.as_deref(),
            allow_cidrs: cidrs(business),
            disabled: business.disabled,
            legacy_transactional: business.legacy_transactional,
            callback_secret: with_secret.then_some(business.callback_secret.as_str()),
        }
    }
}

/// `business rotate-secret`: the new secret, and until when the old one still signs events.
#[derive(Debug, Serialize)]
pub struct SecretRotated<'a> {
    pub business_id: &'a str,
    pub callback_secret: &'a str,
    pub previous_secret_valid_until: Option<i64>,
}

impl<'a> SecretRotated<'a> {
    pub fn new(business: &'a Business) -> Self {
        Self {
            business_id: business.id.as_str(),
            callback_secret: &business.callback_secret,
            previous_secret_valid_until: business.previous_callback_secret.as_ref().map(|p| p.1),
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

/// `key rotate` / `key create`: the new key, shown this once, and its id.
#[derive(Debug, Serialize)]
pub struct Rotated<'a> {
    pub business_id: &'a str,
    pub key_id: String,
    pub api_key: &'a str,
}

impl<'a> Rotated<'a> {
    pub fn new(business: &'a BusinessId, key: &'a ApiKey) -> Self {
        Self {
            business_id: business.as_str(),
            key_id: vbm_store::key_id(key.hash().as_str()),
            api_key: key.expose(),
        }
    }
}

/// One key in `key list` / `key revoke` (times in unix seconds).
#[derive(Debug, Serialize)]
pub struct KeyView<'a> {
    pub key_id: &'a str,
    pub state: &'static str,
    pub created_at: Option<i64>,
    pub valid_until: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl<'a> KeyView<'a> {
    pub fn new(key: &'a KeyInfo, now: i64) -> Self {
        Self {
            key_id: &key.key_id,
            state: key.state(now).as_str(),
            created_at: key.created_at,
            valid_until: key.valid_until,
            revoked_at: key.revoked_at,
        }
    }
}

/// `key list`.
#[derive(Debug, Serialize)]
pub struct KeyList<'a> {
    pub business_id: &'a str,
    pub keys: Vec<KeyView<'a>>,
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
    /// `pending_review`, `approved`, `rejected` or `deleted`.
    pub state: &'a str,
    pub text: &'a str,
    pub placeholders: &'a [String],
    /// `operator` (`template put`) or `api` (created by the business).
    pub origin: &'a str,
    pub name: Option<&'a str>,
    pub viber_template_id: Option<&'a str>,
    pub rejection_reason: Option<&'a str>,
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
            state: template.state().as_str(),
            text: template.text(),
            placeholders: template.placeholders(),
            origin: template.origin().as_str(),
            name: template.name(),
            viber_template_id: template
                .is_approved()
                .then(|| template.viber_template_id().as_str()),
            rejection_reason: template.rejection_reason(),
        }
    }
}

/// `template list`.
#[derive(Debug, Serialize)]
pub struct TemplateList<'a> {
    pub business_id: &'a str,
    pub templates: Vec<TemplateView<'a>>,
}
