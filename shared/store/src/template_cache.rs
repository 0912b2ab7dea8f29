//! A short per-container memory of approved templates, so a warm template send is the same two
//! AWS calls as any other send (no template read on the hot path).

use std::time::{Duration, Instant};

use session_rules::{Template, TemplateId};

use crate::{BusinessId, Store, StoreError, TtlCache};

/// Approved templates read in the last `ttl`. An edit or a withdrawn approval made with `vbmctl`
/// is seen within `ttl`, as a rotated API key is. Templates not found or not approved are never
/// remembered: one registered or approved a moment ago is found at once, and the refusal for an
/// unusable template always rests on a fresh read.
#[derive(Debug)]
pub struct TemplateCache(TtlCache<(BusinessId, TemplateId), Template>);

impl TemplateCache {
    pub fn new(ttl: Duration) -> Self {
        Self(TtlCache::new(ttl))
    }

    /// The template, from memory when it was approved when read less than `ttl` ago, else from
    /// the table.
    pub async fn get(
        &self,
        store: &Store,
        business: &BusinessId,
        id: &TemplateId,
    ) -> Result<Option<Template>, StoreError> {
        let key = (business.clone(), id.clone());
        if let Some(template) = self.0.get(&key, Instant::now()) {
            return Ok(Some(template));
        }
        let template = store.templates().get_template(business, id).await?;
        if let Some(found) = template.as_ref().filter(|t| t.is_approved()) {
            self.0.insert(key, found.clone(), Instant::now());
        }
        Ok(template)
    }

    /// Forgets a template this container just deleted, so its next send here is refused at
    /// once (other containers see it within `ttl`; `dispatch` reads it afresh either way).
    pub fn forget(&self, business: &BusinessId, id: &TemplateId) {
        self.0.remove(&(business.clone(), id.clone()));
    }
}
