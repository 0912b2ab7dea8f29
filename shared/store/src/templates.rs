//! A business's templates.

use session_rules::{Language, Template, TemplateCategory, TemplateId, TemplateReach};

use crate::attrs::{self, Item, b, s};
use crate::cancelled::conditional;
use crate::{BusinessId, Store, StoreError, keys};

fn template_from_item(item: &Item) -> Result<Template, StoreError> {
    let id = attrs::get_s(item, "template_id")?;
    let bad = |e: session_rules::Refusal| StoreError::malformed(id, e.to_string());
    // Templates registered before reach was recorded reach all devices (Viber's 1702).
    let reach = match attrs::opt_s(item, "reach")? {
        Some(reach) => TemplateReach::parse(reach).map_err(bad)?,
        None => TemplateReach::default(),
    };
    Template::parse(
        TemplateId::parse(id).map_err(bad)?,
        Language::parse(attrs::get_s(item, "lang")?).map_err(bad)?,
        TemplateCategory::parse_stored(attrs::get_s(item, "category")?).map_err(bad)?,
        attrs::get_bool(item, "approved")?,
        attrs::get_s(item, "text")?,
    )
    .map(|t| t.with_reach(reach))
    .map_err(bad)
}

impl Store {
    /// Registers or replaces a template.
    pub async fn put_template(
        &self,
        business: &BusinessId,
        template: &Template,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(keys::PK, s(keys::business(business)))
            .item(keys::SK, s(keys::template(template.id().as_str())))
            .item("template_id", s(template.id().as_str()))
            .item("lang", s(template.language().as_str()))
            .item("category", s(template.category().as_str()))
            .item("reach", s(template.reach().as_str()))
            .item("approved", b(template.is_approved()))
            .item("text", s(template.text()))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    pub async fn get_template(
        &self,
        business: &BusinessId,
        id: &TemplateId,
    ) -> Result<Option<Template>, StoreError> {
        let item = self
            .get_eventual(keys::business(business), keys::template(id.as_str()))
            .await?;
        item.as_ref().map(template_from_item).transpose()
    }

    /// Every template of a business, by id.
    pub async fn list_templates(&self, business: &BusinessId) -> Result<Vec<Template>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::business(business)))
            .expression_attribute_values(":prefix", s(keys::TEMPLATE_PREFIX));
        let mut templates = attrs::query_all(query)
            .await?
            .iter()
            .map(template_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        templates.sort_by(|a, b| a.id().cmp(b.id()));
        Ok(templates)
    }

    /// Marks a template approved by Viber.
    pub async fn approve_template(
        &self,
        business: &BusinessId,
        id: &TemplateId,
    ) -> Result<(), StoreError> {
        let approved = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(business)))
            .key(keys::SK, s(keys::template(id.as_str())))
            .update_expression("SET approved = :yes")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":yes", b(true))
            .send()
            .await;
        conditional(approved)?.map(|_| ()).ok_or_else(|| {
            StoreError::Conflict(format!(
                "no template {} for business {business}",
                id.as_str()
            ))
        })
    }
}
