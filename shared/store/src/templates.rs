//! A business's templates.
//!
//! One item per template (`BIZ#{business}` / `TEMPLATE#{id}`). Its `state` is
//! `pending_review`, `approved`, `rejected` or `deleted`; `approved` (a boolean) is written
//! beside it. Templates an operator registered before states existed have only `approved`:
//! they read as `approved` or `pending_review` and every conditional write accepts either
//! spelling, so they need no migration. A template a business creates counts in its
//! profile's `template_count`, moved in the same transaction as the template itself.
//!
//! A creation with an `Idempotency-Key` writes, in that same transaction, the key's record
//! (`BIZ#{business}` / `TIDEM#{key}`: the template's id and the request's hash, kept for the
//! idempotency retention): a retry answers the template recorded, counted once. Its own
//! prefix keeps a key a business used for a send (`IDEM#`) or a campaign (`CIDEM#`) apart.

use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use session_rules::{
    Language, Template, TemplateCategory, TemplateId, TemplateOrigin, TemplateReach, TemplateState,
    Timestamp,
};

use crate::attrs::{self, Item, b, n, s};
use crate::cancelled::{Cancelled, conditional};
use crate::creation_key::{self, Earlier};
use crate::{BusinessId, IdempotencyKey, StoreError, keys};

/// The profile's count of templates created through the API.
const TEMPLATE_COUNT: &str = "template_count";

/// A template's item is in `state` (either spelling: `state`, or only `approved` for one
/// registered before states existed). Uses `:state` and `:approved`.
const IN_STATE: &str = "attribute_exists(pk) AND (#state = :state OR \
     (attribute_not_exists(#state) AND approved = :approved))";

fn template_from_item(item: &Item) -> Result<Template, StoreError> {
    let id = attrs::get_s(item, "template_id")?;
    let bad = |e: session_rules::Refusal| StoreError::malformed(id, e.to_string());
    // Templates registered before reach was recorded reach all devices (Viber's 1702).
    let reach = match attrs::opt_s(item, "reach")? {
        Some(reach) => TemplateReach::parse(reach).map_err(bad)?,
        None => TemplateReach::default(),
    };
    let approved = attrs::get_bool(item, "approved")?;
    let state = match attrs::opt_s(item, "state")? {
        Some(state) => TemplateState::parse(state).map_err(bad)?,
        None if approved => TemplateState::Approved,
        None => TemplateState::PendingReview,
    };
    let origin = match attrs::opt_s(item, "origin")? {
        Some(origin) => TemplateOrigin::parse(origin)
            .ok_or_else(|| StoreError::malformed(id, format!("origin {origin:?}")))?,
        None => TemplateOrigin::Operator,
    };
    let viber_id = attrs::opt_s(item, "viber_template_id")?
        .map(TemplateId::parse)
        .transpose()
        .map_err(bad)?;
    Template::parse(
        TemplateId::parse(id).map_err(bad)?,
        Language::parse(attrs::get_s(item, "lang")?).map_err(bad)?,
        TemplateCategory::parse_stored(attrs::get_s(item, "category")?).map_err(bad)?,
        approved,
        attrs::get_s(item, "text")?,
    )
    .map(|t| {
        t.with_reach(reach).restored(
            state,
            origin,
            attrs::opt_s(item, "name").ok().flatten().map(str::to_owned),
            viber_id,
            attrs::opt_s(item, "rejection_reason")
                .ok()
                .flatten()
                .map(str::to_owned),
            attrs::opt_n::<i64>(item, "created_at")
                .ok()
                .flatten()
                .map(Timestamp::from_millis),
        )
    })
    .map_err(bad)
}

/// A new id for a template a business creates: a ULID (26 letters and digits, time-ordered).
pub fn new_template_id() -> TemplateId {
    TemplateId::parse(&ulid::Ulid::new().to_string())
        .expect("a ULID is 26 letters and digits, a valid template id")
}

/// What creating a template came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateCreated {
    Created,
    /// The same key and body were recorded before: that template, as it stands now.
    Replayed(Template),
    /// The business already holds `cap` templates: nothing was written.
    LimitReached(u32),
    /// The same key came with a different body: nothing was written.
    KeyReused,
}

/// A key's record: the template it created and the hash of that request.
fn template_id(earlier: &Earlier) -> Result<TemplateId, StoreError> {
    TemplateId::parse(&earlier.id).map_err(|e| StoreError::malformed(&earlier.id, e.to_string()))
}

/// The template's item as registering and creating it both write it (creating adds its
/// origin, name and creation time).
fn template_item(business: &BusinessId, template: &Template) -> Item {
    Item::from([
        (keys::PK.to_owned(), s(keys::business(business))),
        (
            keys::SK.to_owned(),
            s(keys::template(template.id().as_str())),
        ),
        ("template_id".to_owned(), s(template.id().as_str())),
        ("lang".to_owned(), s(template.language().as_str())),
        ("category".to_owned(), s(template.category().as_str())),
        ("reach".to_owned(), s(template.reach().as_str())),
        ("approved".to_owned(), b(template.is_approved())),
        ("state".to_owned(), s(template.state().as_str())),
        ("text".to_owned(), s(template.text())),
    ])
}

impl crate::Templates<'_> {
    /// Registers or replaces a template.
    pub async fn put_template(
        &self,
        business: &BusinessId,
        template: &Template,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(template_item(business, template)))
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(())
    }

    /// Stores a template a business created (`pending_review`) and counts it, in one
    /// transaction: the profile's `template_count` goes up only while it is below `cap`
    /// (Viber's 2,000, [`session_rules::MAX_TEMPLATES_PER_BUSINESS`]), so concurrent creations
    /// never take a business past it. With `idempotency` (the key and a hash of the canonical
    /// request body) the key's record is written in the same transaction: a retry, even one
    /// racing the first, answers the template recorded instead of making another.
    pub async fn create_template(
        &self,
        business: &BusinessId,
        template: &Template,
        cap: u32,
        idempotency: Option<(&IdempotencyKey, &str)>,
        now: Timestamp,
    ) -> Result<TemplateCreated, StoreError> {
        if let Some((key, hash)) = idempotency
            && let Some(earlier) = creation_key::TEMPLATE
                .earlier(self, business, key, now)
                .await?
        {
            return self.replay_template(business, earlier, hash).await;
        }
        let count = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(business)))
            .key(keys::SK, s(keys::PROFILE))
            .update_expression("SET #count = if_not_exists(#count, :zero) + :one")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(#count) OR #count < :cap)",
            )
            .expression_attribute_names("#count", TEMPLATE_COUNT)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cap", n(cap))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::build)?;
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(template_item(business, template)))
            .item("origin", s(template.origin().as_str()))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(name) = template.name() {
            put = put.item("name", s(name));
        }
        if let Some(at) = template.created_at() {
            put = put.item("created_at", n(at.as_millis()));
        }
        let put = put.build().map_err(StoreError::build)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(count).build())
            .transact_items(TransactWriteItem::builder().put(put).build());
        if let Some((key, hash)) = idempotency {
            let record = creation_key::TEMPLATE.record(
                self,
                business,
                key,
                (template.id().as_str(), hash),
                now,
            )?;
            request = request.transact_items(TransactWriteItem::builder().put(record).build());
        }
        match request.send().await {
            Ok(_) => Ok(TemplateCreated::Created),
            Err(err) => {
                let Some(cancelled) = Cancelled::of(&err) else {
                    return Err(StoreError::sdk(err));
                };
                // The key's record first: a retry that lost the race to its first request
                // answers that template, even at the cap.
                if let Some((_, hash)) = idempotency
                    && cancelled.failed(2)
                    && let Some(record) = cancelled.item(2)
                {
                    let earlier = creation_key::TEMPLATE.earlier_from(record)?;
                    return self.replay_template(business, earlier, hash).await;
                }
                if cancelled.failed(0) {
                    return match cancelled.item(0) {
                        Some(profile) if profile.contains_key(keys::PK) => {
                            Ok(TemplateCreated::LimitReached(cap))
                        }
                        _ => Err(StoreError::Conflict(format!("no business {business}"))),
                    };
                }
                if cancelled.failed(1) {
                    return Err(StoreError::Conflict(format!(
                        "template {} exists already",
                        template.id().as_str()
                    )));
                }
                // A conflicting transaction on the profile (another creation) or throttling:
                // retryable.
                Err(StoreError::sdk(err))
            }
        }
    }

    async fn replay_template(
        &self,
        business: &BusinessId,
        earlier: Earlier,
        hash: &str,
    ) -> Result<TemplateCreated, StoreError> {
        if earlier.request_hash != hash {
            return Ok(TemplateCreated::KeyReused);
        }
        let id = template_id(&earlier)?;
        // Deletion keeps the item: the template is there whatever became of it.
        match self.get_template_consistent(business, &id).await? {
            Some(t) => Ok(TemplateCreated::Replayed(t)),
            None => Err(StoreError::Conflict(format!(
                "template {} of an idempotency record is gone",
                id.as_str()
            ))),
        }
    }

    /// Stores what moderation made of `from` (its state, Viber's id or the reason), on the
    /// condition that it still stands where `from` stood. `false` when it no longer did.
    pub async fn set_template_state(
        &self,
        business: &BusinessId,
        from: &Template,
        to: &Template,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut set = vec![
            "#state = :to",
            "approved = :to_approved",
            "moderated_at = :now",
        ];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(business)))
            .key(keys::SK, s(keys::template(from.id().as_str())))
            .condition_expression(IN_STATE)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":state", s(from.state().as_str()))
            .expression_attribute_values(":approved", b(from.is_approved()))
            .expression_attribute_values(":to", s(to.state().as_str()))
            .expression_attribute_values(":to_approved", b(to.is_approved()))
            .expression_attribute_values(":now", n(now.as_millis()));
        if let Some(viber_id) = to.viber_id() {
            set.push("viber_template_id = :viber_id");
            update = update.expression_attribute_values(":viber_id", s(viber_id.as_str()));
        }
        if let Some(reason) = to.rejection_reason() {
            set.push("rejection_reason = :reason");
            update = update.expression_attribute_values(":reason", s(reason));
        }
        let written = update
            .update_expression(format!("SET {}", set.join(", ")))
            .send()
            .await;
        Ok(conditional(written)?.is_some())
    }

    /// Deletes `template` (keeps its item as `deleted`, for the messages sent with it) and, for
    /// one the business created, gives its place among the 2,000 back, in one transaction
    /// conditioned on it not being deleted yet. `false` when it already was.
    pub async fn delete_template(
        &self,
        business: &BusinessId,
        template: &Template,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mark = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(business)))
            .key(keys::SK, s(keys::template(template.id().as_str())))
            .update_expression("SET #state = :deleted, approved = :no, deleted_at = :now")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(#state) OR #state <> :deleted)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":deleted", s(TemplateState::Deleted.as_str()))
            .expression_attribute_values(":no", b(false))
            .expression_attribute_values(":now", n(now.as_millis()))
            .build()
            .map_err(StoreError::build)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(mark).build());
        if template.origin() == TemplateOrigin::Api {
            let uncount = Update::builder()
                .table_name(&self.table)
                .key(keys::PK, s(keys::business(business)))
                .key(keys::SK, s(keys::PROFILE))
                .update_expression("SET #count = #count - :one")
                .condition_expression("#count > :zero")
                .expression_attribute_names("#count", TEMPLATE_COUNT)
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .build()
                .map_err(StoreError::build)?;
            request = request.transact_items(TransactWriteItem::builder().update(uncount).build());
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err) => match Cancelled::of(&err) {
                Some(cancelled) if cancelled.failed(0) => Ok(false),
                _ => Err(StoreError::sdk(err)),
            },
        }
    }

    /// How many templates the business created counts toward the 2,000.
    pub async fn template_count(&self, business: &BusinessId) -> Result<u32, StoreError> {
        let item = self.profile(business).await?;
        Ok(match item {
            Some(item) => attrs::opt_n(&item, TEMPLATE_COUNT)?.unwrap_or(0),
            None => 0,
        })
    }

    /// A template as it stands now (a consistent read: moderation and deletion decide on it).
    pub async fn get_template_consistent(
        &self,
        business: &BusinessId,
        id: &TemplateId,
    ) -> Result<Option<Template>, StoreError> {
        let item = self
            .get_consistent(keys::business(business), keys::template(id.as_str()), None)
            .await?;
        item.as_ref().map(template_from_item).transpose()
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
            .update_business_item(business, keys::template(id.as_str()))
            .update_expression("SET approved = :yes, #state = :approved")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":yes", b(true))
            .expression_attribute_values(":approved", s(TemplateState::Approved.as_str()))
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
