//! Businesses (tenants), their API keys and their Viber service ids.

use std::fmt;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use ipnet::IpNet;
use rand::{RngCore, TryRngCore};
use session_rules::{Service, ServiceKind, Services};
use sha2::{Digest, Sha256};

use crate::attrs::{self, Item, n, s};
use crate::cancelled::{cancelled_indexes, conditional};
use crate::{StoreError, keys};

/// A business's identifier: 1 to 64 of `a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BusinessId(String);

impl BusinessId {
    pub fn parse(input: &str) -> Result<Self, String> {
        let ok = (1..=64).contains(&input.len())
            && input
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-');
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(format!(
                "invalid business id {input:?}: 1 to 64 of a-z, 0-9, '_' and '-'"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BusinessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An API key as the business holds it: `vbm_` and 64 hex digits (32 random bytes). Shown once;
/// only its [`ApiKeyHash`] is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

const API_KEY_PREFIX: &str = "vbm_";

impl ApiKey {
    pub fn generate() -> Self {
        Self(format!("{API_KEY_PREFIX}{}", random_hex()))
    }

    /// Parses a presented key; anything not shaped like one of ours is refused before any lookup.
    pub fn parse(input: &str) -> Option<Self> {
        let hex_part = input.strip_prefix(API_KEY_PREFIX)?;
        (hex_part.len() == 64 && hex_part.bytes().all(|c| c.is_ascii_hexdigit()))
            .then(|| Self(input.to_ascii_lowercase()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> ApiKeyHash {
        ApiKeyHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// SHA-256 of an API key, hex: what the table holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiKeyHash(String);

impl ApiKeyHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A fresh secret for signing business events.
pub(crate) fn new_callback_secret() -> String {
    format!("whsec_{}", random_hex())
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    // The OS generator; an OS that cannot give randomness ends the process (as rand 0.8 did).
    rand::rngs::OsRng.unwrap_err().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A tenant, as the functions need it.
#[derive(Clone, PartialEq, Eq)]
pub struct Business {
    pub id: BusinessId,
    /// The business's Viber services (one-way, two-way, session), each with its own service id.
    pub services: Services,
    /// Where business events are POSTed; none keeps them for the API only.
    pub callback_url: Option<String>,
    /// Signs business events (Standard Webhooks, `webhook-signature`).
    pub callback_secret: String,
    /// The secret before the last rotation and until when events are signed with it too
    /// (unix seconds): see [`Business::signing_secrets`].
    pub previous_callback_secret: Option<(String, i64)>,
    /// Source CIDRs allowed to call the API; empty allows any.
    pub allow_cidrs: Vec<IpNet>,
    /// The newest API key's hash (authentication reads the key's own item: a business has
    /// several keys, see `api_keys`).
    pub api_key_hash: String,
    /// API access switched off (`vbmctl business disable`): every key is refused.
    pub disabled: bool,
    /// SMS failover default (`vbmctl business failover`).
    pub failover: Option<session_rules::failover::FailoverPolicy>,
    /// What the business may send by SMS (`vbmctl business sms`; the default when never set).
    pub sms: session_rules::sms::SmsPolicy,
    /// Free-form transactional content allowed as Viber's legacy types (`vbmctl business
    /// legacy-transactional`); off by default: transactional means template.
    pub legacy_transactional: bool,
    /// Caps per billing category and on campaign recipients (`vbmctl business caps`; none
    /// by default).
    pub caps: session_rules::caps::Caps,
    /// The operator's price table (`vbmctl business prices`): what estimates are made in; none
    /// by default (no estimate).
    pub prices: Option<session_rules::prices::PriceTable>,
}

impl fmt::Debug for Business {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Business")
            .field("id", &self.id)
            .field("services", &self.services)
            .field("callback_url", &self.callback_url)
            .field("allow_cidrs", &self.allow_cidrs)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl Business {
    /// The first of its Viber service ids (the one a business had before services had kinds).
    pub fn service_id(&self) -> u64 {
        self.services.primary().id
    }

    /// The secrets an event sent at `now` (unix seconds) is signed with: the current one, and
    /// the previous one while its overlap lasts (`vbmctl business rotate-secret --overlap`).
    pub fn signing_secrets(&self, now: i64) -> Vec<&[u8]> {
        let mut secrets = vec![self.callback_secret.as_bytes()];
        if let Some((previous, until)) = &self.previous_callback_secret
            && *until > now
        {
            secrets.push(previous.as_bytes());
        }
        secrets
    }

    /// What the session rules make of this business's free-form transactional sends.
    pub fn transactional_opt_in(&self) -> session_rules::LegacyTransactional {
        if self.legacy_transactional {
            session_rules::LegacyTransactional::Allowed
        } else {
            session_rules::LegacyTransactional::Refused
        }
    }

    /// Whether a caller at `ip` may use this business's key.
    pub fn allows(&self, ip: Option<std::net::IpAddr>) -> bool {
        self.allow_cidrs.is_empty()
            || ip.is_some_and(|ip| self.allow_cidrs.iter().any(|net| net.contains(&ip)))
    }
}

/// What `vbmctl business create` gives. `service_id` is one service of
/// [`ServiceKind::DEFAULT`]; [`Businesses::create_business_with_services`](crate::Businesses::create_business_with_services) names the kinds.
#[derive(Debug, Clone)]
pub struct NewBusiness {
    pub id: BusinessId,
    pub service_id: u64,
    pub callback_url: Option<String>,
    pub allow_cidrs: Vec<IpNet>,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct BusinessUpdate {
    /// `Some(None)` removes the callback URL.
    pub callback_url: Option<Option<String>>,
    pub allow_cidrs: Option<Vec<IpNet>>,
}

/// The profile's opt-in to free-form transactional content (absent: off).
const LEGACY_TRANSACTIONAL: &str = "legacy_transactional";
/// Set while the operator has the business disabled (its lifting is read from the stream:
/// `crate::stream::lifted_hold`).
pub(crate) const DISABLED: &str = "disabled";

/// The operator's price table, JSON (`session_rules::prices::PriceTable`).
const PRICES: &str = "prices";

/// The profile's services: a list of `{service_id, kind}`. A profile without it (written
/// before services had kinds) has its `service_id` as one service of [`ServiceKind::DEFAULT`].
const SERVICES: &str = "services";
/// A service id item's kind (absent on items written before services had kinds: the default).
const KIND: &str = "kind";

fn services_value(services: &Services) -> AttributeValue {
    AttributeValue::L(
        services
            .iter()
            .map(|service| {
                AttributeValue::M(
                    [
                        ("service_id".to_string(), n(service.id)),
                        (KIND.to_string(), s(service.kind.as_str())),
                    ]
                    .into(),
                )
            })
            .collect(),
    )
}

fn services_from_item(item: &Item, id: &str) -> Result<Services, StoreError> {
    let Some(AttributeValue::L(list)) = item.get(SERVICES) else {
        return Ok(Services::single(
            attrs::get_n(item, "service_id")?,
            ServiceKind::DEFAULT,
        ));
    };
    let list = list
        .iter()
        .map(|entry| {
            let m = entry
                .as_m()
                .map_err(|_| StoreError::malformed(id, "services: entry is not a map"))?;
            let kind = attrs::get_s(m, KIND)?;
            Ok(Service {
                id: attrs::get_n(m, "service_id")?,
                kind: ServiceKind::parse(kind)
                    .ok_or_else(|| StoreError::malformed(id, format!("services: kind {kind:?}")))?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Services::new(list).map_err(|e| StoreError::malformed(id, format!("services: {e}")))
}

fn cidr_list(cidrs: &[IpNet]) -> AttributeValue {
    AttributeValue::L(cidrs.iter().map(|c| s(c.to_string())).collect())
}

pub(crate) fn business_from_item(item: &Item) -> Result<Business, StoreError> {
    let id = attrs::get_s(item, "business_id")?;
    let allow_cidrs = attrs::opt_str_list(item, "allow_cidrs")?
        .iter()
        .map(|c| c.parse::<IpNet>())
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::malformed(id, format!("allow_cidrs: {e}")))?;
    Ok(Business {
        id: BusinessId::parse(id).map_err(|e| StoreError::malformed(id, e))?,
        services: services_from_item(item, id)?,
        callback_url: attrs::opt_s(item, "callback_url")?.map(str::to_owned),
        callback_secret: attrs::get_s(item, "callback_secret")?.to_owned(),
        previous_callback_secret: match (
            attrs::opt_s(item, "previous_callback_secret")?,
            attrs::opt_n::<i64>(item, "previous_callback_secret_until")?,
        ) {
            (Some(secret), Some(until)) => Some((secret.to_owned(), until)),
            _ => None,
        },
        allow_cidrs,
        api_key_hash: attrs::get_s(item, "api_key_hash")?.to_owned(),
        disabled: attrs::get_bool(item, DISABLED)?,
        failover: crate::failover::policy_from_item(item)?,
        sms: crate::sms::policy_from_item(item)?,
        legacy_transactional: attrs::get_bool(item, LEGACY_TRANSACTIONAL)?,
        caps: crate::caps::caps_from_item(item)?,
        prices: attrs::opt_s(item, PRICES)?
            .map(|json| {
                serde_json::from_str(json).map_err(|e| StoreError::malformed(PRICES, e.to_string()))
            })
            .transpose()?,
    })
}

impl crate::Businesses<'_> {
    /// Creates a business with a fresh API key and callback secret; returns the business and
    /// the key (the only time the key exists in clear). Refuses an id or service id in use.
    /// Its `service_id` is one service of [`ServiceKind::DEFAULT`].
    pub async fn create_business(
        &self,
        new: &NewBusiness,
    ) -> Result<(Business, ApiKey), StoreError> {
        let services = Services::single(new.service_id, ServiceKind::DEFAULT);
        self.create_business_with_services(new, &services).await
    }

    /// [`Businesses::create_business`](crate::Businesses::create_business) with the services named (`new.service_id` is ignored). One
    /// transaction writes the profile and one item per service id, each conditioned on the id
    /// being free: two businesses never share one, however concurrent their creation.
    pub async fn create_business_with_services(
        &self,
        new: &NewBusiness,
        services: &Services,
    ) -> Result<(Business, ApiKey), StoreError> {
        let key = ApiKey::generate();
        let business = Business {
            id: new.id.clone(),
            services: services.clone(),
            callback_url: new.callback_url.clone(),
            callback_secret: new_callback_secret(),
            previous_callback_secret: None,
            allow_cidrs: new.allow_cidrs.clone(),
            api_key_hash: key.hash().as_str().to_owned(),
            disabled: false,
            failover: None,
            sms: Default::default(),
            legacy_transactional: false,
            caps: Default::default(),
            prices: None,
        };
        let mut profile = Put::builder()
            .table_name(&self.table)
            .item(keys::PK, s(keys::business(&business.id)))
            .item(keys::SK, s(keys::PROFILE))
            .item("business_id", s(business.id.as_str()))
            .item("service_id", n(business.service_id()))
            .item(SERVICES, services_value(&business.services))
            .item("callback_secret", s(&business.callback_secret))
            .item("allow_cidrs", cidr_list(&business.allow_cidrs))
            .item("api_key_hash", s(&business.api_key_hash))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(url) = &business.callback_url {
            profile = profile.item("callback_url", s(url));
        }
        let service_items = business
            .services
            .iter()
            .map(|service| self.service_item(&business.id, *service))
            .collect::<Result<Vec<_>, _>>()?;
        let [key_lookup, key_listing] = self.new_key_items(
            &business.api_key_hash,
            &business.id,
            crate::api_keys::now_secs(),
        )?;
        let services_count = service_items.len();
        let mut items = vec![
            TransactWriteItem::builder()
                .put(profile.build().map_err(StoreError::build)?)
                .build(),
        ];
        items.extend(service_items);
        items.extend([key_lookup, key_listing]);
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok((business, key)),
            Err(err) => match cancelled_indexes(&err).as_slice() {
                [0, ..] => Err(StoreError::Conflict(format!(
                    "business {} already exists",
                    new.id
                ))),
                [i, ..] if (1..=services_count).contains(i) => Err(StoreError::Conflict(format!(
                    "service id {} already belongs to another business",
                    business.services.as_slice()[i - 1].id
                ))),
                _ => Err(StoreError::sdk(err)),
            },
        }
    }

    /// The item that makes a service id one business's: put only if the id is free.
    fn service_item(
        &self,
        business: &BusinessId,
        service: Service,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .item(keys::PK, s(keys::service(service.id)))
            .item(keys::SK, s(keys::SERVICE))
            .item("business_id", s(business.as_str()))
            .item(KIND, s(service.kind.as_str()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(StoreError::build)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub async fn get_business(&self, id: &BusinessId) -> Result<Option<Business>, StoreError> {
        let item = self
            .get_eventual(keys::business(id), keys::PROFILE.into())
            .await?;
        item.as_ref().map(business_from_item).transpose()
    }

    /// The business a Viber service id belongs to (inbound callbacks name only the service id).
    pub async fn business_by_service_id(
        &self,
        service_id: u64,
    ) -> Result<Option<Business>, StoreError> {
        match self
            .lookup_business_id(keys::service(service_id), keys::SERVICE)
            .await?
        {
            Some(id) => self.get_business(&id).await,
            None => Ok(None),
        }
    }

    /// The business a Viber service id belongs to and what the id was ordered as: what a
    /// callback naming the id is matched by. A service item written before services had kinds
    /// reads as [`ServiceKind::DEFAULT`].
    pub async fn service_owner(
        &self,
        service_id: u64,
    ) -> Result<Option<(BusinessId, ServiceKind)>, StoreError> {
        let Some(item) = self
            .get_eventual(keys::service(service_id), keys::SERVICE.into())
            .await?
        else {
            return Ok(None);
        };
        let id = attrs::get_s(&item, "business_id")?;
        let business = BusinessId::parse(id).map_err(|e| StoreError::malformed(id, e))?;
        let kind = match attrs::opt_s(&item, KIND)? {
            None => ServiceKind::DEFAULT,
            Some(kind) => ServiceKind::parse(kind)
                .ok_or_else(|| StoreError::malformed(id, format!("service kind {kind:?}")))?,
        };
        Ok(Some((business, kind)))
    }

    /// Adds a Viber service to a business: one transaction puts the service id's item (only if
    /// no business has the id) and the profile's new list (only if the list is still the one the
    /// change was decided on; a concurrent change of the same business is retried). Refused
    /// ([`StoreError::Conflict`]) when the id is another business's or this one's, or the business
    /// already has a service of that kind.
    pub async fn add_service(
        &self,
        id: &BusinessId,
        service: Service,
    ) -> Result<Business, StoreError> {
        self.change_services(
            id,
            |services| services.with(service),
            |store, business| store.service_item(business, service).map(Some),
        )
        .await
    }

    /// Removes a Viber service from a business (never its last one): deletes the id's item and
    /// the profile's entry in one transaction. Messages already accepted on it still go out on
    /// it.
    pub async fn remove_service(
        &self,
        id: &BusinessId,
        service_id: u64,
    ) -> Result<Business, StoreError> {
        self.change_services(
            id,
            |services| services.without(service_id),
            |store, business| {
                let delete = Delete::builder()
                    .table_name(&store.table)
                    .key(keys::PK, s(keys::service(service_id)))
                    .key(keys::SK, s(keys::SERVICE))
                    .condition_expression("business_id = :me")
                    .expression_attribute_values(":me", s(business.as_str()))
                    .build()
                    .map_err(StoreError::build)?;
                Ok(Some(TransactWriteItem::builder().delete(delete).build()))
            },
        )
        .await
    }

    async fn change_services(
        &self,
        id: &BusinessId,
        change: impl Fn(&Services) -> Result<Services, session_rules::ServicesInvalid>,
        service_write: impl Fn(&Self, &BusinessId) -> Result<Option<TransactWriteItem>, StoreError>,
    ) -> Result<Business, StoreError> {
        // A concurrent change to the same business's services makes the profile's condition
        // fail; a few rounds settle any realistic operator contention.
        for _ in 0..5 {
            let Some(item) = self
                .get_consistent(keys::business(id), keys::PROFILE.into(), None)
                .await?
            else {
                return Err(StoreError::Conflict(format!("no business {id}")));
            };
            let mut business = business_from_item(&item)?;
            let next = change(&business.services)
                .map_err(|e| StoreError::Conflict(format!("business {id}: {e}")))?;
            let mut profile = Update::builder()
                .table_name(&self.table)
                .key(keys::PK, s(keys::business(id)))
                .key(keys::SK, s(keys::PROFILE))
                .update_expression("SET #services = :next, service_id = :primary")
                .expression_attribute_names("#services", SERVICES)
                .expression_attribute_values(":next", services_value(&next))
                .expression_attribute_values(":primary", n(next.primary().id));
            profile = match item.get(SERVICES) {
                Some(old) => profile
                    .condition_expression("#services = :old")
                    .expression_attribute_values(":old", old.clone()),
                // Written before services had kinds: still so, and still with the same id.
                None => profile
                    .condition_expression("attribute_not_exists(#services) AND service_id = :was")
                    .expression_attribute_values(":was", n(business.service_id())),
            };
            let mut items = vec![];
            if let Some(write) = service_write(self, id)? {
                items.push(write);
            }
            items.push(
                TransactWriteItem::builder()
                    .update(profile.build().map_err(StoreError::build)?)
                    .build(),
            );
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            match result {
                Ok(_) => {
                    business.services = next;
                    return Ok(business);
                }
                Err(err) => match cancelled_indexes(&err).as_slice() {
                    [0, ..] => {
                        let added = next
                            .iter()
                            .find(|s| business.services.by_id(s.id).is_none());
                        return Err(StoreError::Conflict(match added {
                            Some(s) => {
                                format!("service id {} already belongs to another business", s.id)
                            }
                            None => format!("business {id}: its service ids changed; try again"),
                        }));
                    }
                    [1, ..] => continue,
                    _ => return Err(StoreError::sdk(err)),
                },
            }
        }
        Err(StoreError::Contended)
    }

    async fn lookup_business_id(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<BusinessId>, StoreError> {
        let item = self.get_eventual(pk, sk.into()).await?;
        item.as_ref()
            .map(|item| {
                let id = attrs::get_s(item, "business_id")?;
                BusinessId::parse(id).map_err(|e| StoreError::malformed(id, e))
            })
            .transpose()
    }

    /// Switches the business's opt-in to free-form transactional content (Viber's legacy types)
    /// on or off; returns the business as it now is. Off removes the attribute: absent is off.
    /// Replaces (or with `None` removes) a business's price table; the business as it is now.
    pub async fn set_prices(
        &self,
        id: &BusinessId,
        prices: Option<&session_rules::prices::PriceTable>,
    ) -> Result<Business, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(id)))
            .key(keys::SK, s(keys::PROFILE))
            .condition_expression("attribute_exists(pk)")
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        let request = match prices {
            Some(table) => {
                let json = serde_json::to_string(table)
                    .map_err(|e| StoreError::malformed(PRICES, e.to_string()))?;
                request
                    .update_expression(format!("SET {PRICES} = :prices"))
                    .expression_attribute_values(":prices", s(json))
            }
            None => request.update_expression(format!("REMOVE {PRICES}")),
        };
        let out = conditional(request.send().await)?
            .ok_or_else(|| StoreError::Conflict(format!("no business {id}")))?;
        out.attributes()
            .ok_or_else(|| StoreError::malformed(id.as_str(), "update returned nothing"))
            .and_then(business_from_item)
    }

    pub async fn set_legacy_transactional(
        &self,
        id: &BusinessId,
        on: bool,
    ) -> Result<Business, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(id)))
            .key(keys::SK, s(keys::PROFILE))
            .condition_expression("attribute_exists(pk)")
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        let request = if on {
            request
                .update_expression(format!("SET {LEGACY_TRANSACTIONAL} = :yes"))
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
        } else {
            request.update_expression(format!("REMOVE {LEGACY_TRANSACTIONAL}"))
        };
        let out = conditional(request.send().await)?
            .ok_or_else(|| StoreError::Conflict(format!("no business {id}")))?;
        out.attributes()
            .ok_or_else(|| StoreError::malformed(id.as_str(), "update returned nothing"))
            .and_then(business_from_item)
    }

    pub async fn update_business(
        &self,
        id: &BusinessId,
        update: &BusinessUpdate,
    ) -> Result<Business, StoreError> {
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::business(id)))
            .key(keys::SK, s(keys::PROFILE))
            .condition_expression("attribute_exists(pk)")
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        match &update.callback_url {
            Some(Some(url)) => {
                set.push("callback_url = :url");
                request = request.expression_attribute_values(":url", s(url));
            }
            Some(None) => remove.push("callback_url"),
            None => {}
        }
        if let Some(cidrs) = &update.allow_cidrs {
            set.push("allow_cidrs = :cidrs");
            request = request.expression_attribute_values(":cidrs", cidr_list(cidrs));
        }
        // A no-op update still checks the business exists and returns it.
        set.push("business_id = :id");
        request = request.expression_attribute_values(":id", s(id.as_str()));
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let out = conditional(request.update_expression(expression).send().await)?
            .ok_or_else(|| StoreError::Conflict(format!("no business {id}")))?;
        out.attributes()
            .ok_or_else(|| StoreError::malformed(id.as_str(), "update returned nothing"))
            .and_then(business_from_item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_32_random_bytes_and_parse_back() {
        let a = ApiKey::generate();
        let c = ApiKey::generate();
        assert_ne!(a, c);
        assert_eq!(a.expose().len(), 4 + 64);
        assert_eq!(ApiKey::parse(a.expose()), Some(a.clone()));
        assert_eq!(a.hash().as_str().len(), 64);
        assert_ne!(a.hash(), c.hash());
        assert!(format!("{a:?}").contains("***"));
        for bad in [
            "",
            "vbm_",
            "vbm_xyz",
            &format!("key_{}", "a".repeat(64)),
            &format!("vbm_{}", "g".repeat(64)),
        ] {
            assert_eq!(ApiKey::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn business_ids() {
        assert!(BusinessId::parse("demo").is_ok());
        assert!(BusinessId::parse("acme-shop_2").is_ok());
        for bad in ["", "Demo", "a#b", &"a".repeat(65)] {
            assert!(BusinessId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allowlists() {
        let mut business = Business {
            id: BusinessId::parse("b").unwrap(),
            services: Services::single(1, ServiceKind::DEFAULT),
            callback_url: None,
            callback_secret: String::new(),
            previous_callback_secret: None,
            allow_cidrs: vec![],
            api_key_hash: String::new(),
            disabled: false,
            failover: None,
            sms: Default::default(),
            legacy_transactional: false,
            caps: Default::default(),
            prices: None,
        };
        assert!(business.allows(None));
        business.allow_cidrs = vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ];
        assert!(business.allows(Some("10.1.2.3".parse().unwrap())));
        assert!(business.allows(Some("2001:db8::1".parse().unwrap())));
        assert!(!business.allows(Some("11.0.0.1".parse().unwrap())));
        assert!(!business.allows(None));
    }
}
