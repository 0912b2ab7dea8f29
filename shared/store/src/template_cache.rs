//! A short per-container memory of approved templates, so a warm template send is the same two
//! AWS calls as any other send (no template read on the hot path).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use session_rules::{Template, TemplateId};

use crate::{BusinessId, Store, StoreError};

/// Approved templates read in the last `ttl`. An edit or a withdrawn approval made with `vbmctl`
/// is seen within `ttl`, as a rotated API key is. Templates not found or not approved are never
/// remembered: one registered or approved a moment ago is found at once, and the refusal for an
/// unusable template always rests on a fresh read.
#[derive(Debug)]
pub struct TemplateCache {
    ttl: Duration,
    entries: Mutex<HashMap<(BusinessId, TemplateId), (Instant, Template)>>,
}

/// Entries kept before expired ones are dropped (and new ones refused until there is room).
const CAPACITY: usize = 1_000;

impl TemplateCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
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
        if let Ok(entries) = self.entries.lock()
            && let Some((read_at, template)) = entries.get(&key)
            && read_at.elapsed() < self.ttl
        {
            return Ok(Some(template.clone()));
        }
        let template = store.get_template(business, id).await?;
        if let (Some(found), Ok(mut entries)) = (&template, self.entries.lock())
            && found.is_approved()
        {
            if entries.len() >= CAPACITY {
                entries.retain(|_, (read_at, _)| read_at.elapsed() < self.ttl);
            }
            if entries.len() < CAPACITY {
                entries.insert(key, (Instant::now(), found.clone()));
            }
        }
        Ok(template)
    }
}
