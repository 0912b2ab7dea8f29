//! `vbmctl business create|update|show|list|disable|enable|pace|rotate-secret|failover|sms|caps|prices|legacy-transactional`.

use vbm_store::{BusinessUpdate, NewBusiness};

use super::{Context, existing_business, json};
use crate::cli::{
    BusinessCommand, CapsCommand, CreateArgs, PricesCommand, SenderCommand, ServiceCommand,
    SmsCommand, UpdateArgs,
};
use crate::error::Failure;
use crate::output::{Created, SecretRotated, ServicesShown, Shown};
use crate::validate;

pub async fn run(ctx: &Context, command: BusinessCommand) -> Result<String, Failure> {
    match command {
        BusinessCommand::Create(args) => create(ctx, args).await,
        BusinessCommand::Update(args) => update(ctx, args).await,
        BusinessCommand::Show { id, show_secret } => {
            let store = ctx.store().await?;
            let business = existing_business(&store, &id).await?;
            json(Shown::new(&business, show_secret))
        }
        BusinessCommand::List => {
            let store = ctx.store().await?;
            let businesses = store.businesses().list_businesses().await?;
            json(
                businesses
                    .iter()
                    .map(|b| Shown::new(b, false))
                    .collect::<Vec<_>>(),
            )
        }
        BusinessCommand::Disable { id } => set_disabled(ctx, &id, true).await,
        BusinessCommand::Enable { id } => set_disabled(ctx, &id, false).await,
        BusinessCommand::Pace {
            id,
            rate,
            service_id,
            unset,
        } => pace(ctx, &id, rate, service_id, unset).await,
        BusinessCommand::RotateSecret { id, end } => {
            let store = ctx.store().await?;
            let business = store
                .businesses()
                .rotate_callback_secret(&id, end.at(vbm_store::now_secs()))
                .await?;
            json(SecretRotated::new(&business))
        }
        BusinessCommand::Failover(args) => failover(ctx, args).await,
        BusinessCommand::Sms(command) => sms(ctx, command).await,
        BusinessCommand::Caps(command) => caps(ctx, command).await,
        BusinessCommand::Prices(command) => prices(ctx, command).await,
        BusinessCommand::Service(command) => service(ctx, command).await,
        BusinessCommand::LegacyTransactional { id, on, .. } => {
            let store = ctx.store().await?;
            let business = store.businesses().set_legacy_transactional(&id, on).await?;
            json(Shown::new(&business, false))
        }
    }
}

/// Viber's pace of the business and of each of its services; prints them all.
async fn pace(
    ctx: &Context,
    id: &vbm_store::BusinessId,
    rate: Option<u32>,
    service_id: Option<u64>,
    unset: bool,
) -> Result<String, Failure> {
    let store = ctx.store().await?;
    let business = existing_business(&store, id).await?;
    match service_id {
        Some(service_id) => {
            if business.services.by_id(service_id).is_none() {
                return Err(Failure::Input(format!(
                    "business {id} has no service id {service_id} (vbmctl business service list {id})"
                )));
            }
            if unset {
                store
                    .pace()
                    .set_service_pace_rate(id, service_id, None)
                    .await?;
            } else if let Some(rate) = rate {
                store
                    .pace()
                    .set_service_pace_rate(id, service_id, Some(rate))
                    .await?;
            }
        }
        None => {
            if let Some(rate) = rate {
                store.pace().set_pace_rate(id, rate).await?;
            }
        }
    }
    let rates = store.pace().pace_rates(id).await?;
    let services: Vec<serde_json::Value> = business
        .services
        .iter()
        .map(|service| {
            serde_json::json!({
                "service_id": service.id,
                "kind": service.kind.as_str(),
                "messages_per_second": rates.of(service.id),
                "own_rate": rates.services.contains_key(&service.id),
            })
        })
        .collect();
    json(serde_json::json!({
        "business_id": id.as_str(),
        "messages_per_second": rates.business,
        "services": services,
    }))
}

/// A business's Viber services; every subcommand prints them.
async fn service(ctx: &Context, command: ServiceCommand) -> Result<String, Failure> {
    let store = ctx.store().await?;
    let business = match command {
        ServiceCommand::Add {
            id,
            service_id,
            kind,
        } => {
            let service = session_rules::Service {
                id: service_id,
                kind,
            };
            store.businesses().add_service(&id, service).await?
        }
        ServiceCommand::Remove { id, service_id } => {
            store.businesses().remove_service(&id, service_id).await?
        }
        ServiceCommand::List { id } => store
            .businesses()
            .get_business(&id)
            .await?
            .ok_or_else(|| Failure::Input(format!("no business {id}")))?,
    };
    json(ServicesShown::new(&business))
}

/// The SMS policy: every value checked before the table is opened; each change is applied to
/// the policy as stored (`Businesses::update_sms_policy`), then the policy is printed.
async fn sms(ctx: &Context, command: SmsCommand) -> Result<String, Failure> {
    use session_rules::sms::{SmsPolicy, is_country_code};
    type Change = Box<dyn Fn(&mut SmsPolicy)>;
    let (id, change): (vbm_store::BusinessId, Option<Change>) = match command {
        SmsCommand::Show { id } | SmsCommand::Sender(SenderCommand::List { id }) => (id, None),
        SmsCommand::Sender(SenderCommand::Add { id, senders }) => {
            for sender in &senders {
                session_rules::failover::check_sender_id(sender)
                    .map_err(|e| Failure::input(format!("{}: {}", e.field, e.message)))?;
            }
            (
                id,
                Some(Box::new(move |p| p.senders.extend(senders.clone()))),
            )
        }
        SmsCommand::Sender(SenderCommand::Remove { id, senders }) => (
            id,
            Some(Box::new(move |p| {
                p.senders.retain(|s| !senders.contains(s));
            })),
        ),
        SmsCommand::Countries {
            id,
            countries,
            default: _,
        } => {
            let countries = countries
                .iter()
                .map(|c| {
                    let code = c.to_ascii_uppercase();
                    if is_country_code(&code) {
                        Ok(code)
                    } else {
                        Err(Failure::input(format!(
                            "{c}: a country is its ISO 3166-1 alpha-2 code (GB, UA)"
                        )))
                    }
                })
                .collect::<Result<std::collections::BTreeSet<_>, _>>()?;
            // No countries with --default: the list emptied, the default in force.
            (id, Some(Box::new(move |p| p.countries = countries.clone())))
        }
        SmsCommand::Limits(args) => (
            args.id,
            Some(Box::new(move |p| {
                if let Some(n) = args.per_day {
                    p.max_per_day = n;
                }
                if let Some(n) = args.per_month {
                    p.max_per_month = n;
                }
                if let Some(n) = args.max_parts {
                    p.max_parts = n;
                }
            })),
        ),
    };
    let store = ctx.store().await?;
    let no_business = || Failure::input(format!("no business {id} in table {}", store.table()));
    let policy = match change {
        None => store.businesses().sms_policy(&id).await?,
        Some(change) => store.businesses().update_sms_policy(&id, change).await?,
    }
    .ok_or_else(no_business)?;
    let now = session_rules::Timestamp::from_secs(vbm_store::now_secs());
    let usage = store.businesses().sms_usage(&id, now).await?;
    let denied: &[&str] = if policy.countries.is_empty() {
        &session_rules::sms::DEFAULT_DENIED_COUNTRIES
    } else {
        &[]
    };
    json(serde_json::json!({
        "business_id": id.as_str(),
        "sms": policy,
        "denied_countries": denied,
        "usage": usage,
    }))
}

/// The price table: replaced whole or removed, then printed.
async fn prices(ctx: &Context, command: PricesCommand) -> Result<String, Failure> {
    use session_rules::prices::PriceTable;
    let store = ctx.store().await?;
    let business = match command {
        PricesCommand::Show { id } => existing_business(&store, &id).await?,
        PricesCommand::Set {
            id,
            currency,
            categories,
            sms_part,
            mut groups,
            group_categories,
            group_sms_parts,
        } => {
            let mut table = PriceTable::new(currency);
            table.categories.extend(categories);
            table.sms_part = sms_part;
            for (name, (category, price)) in group_categories {
                group_named(&mut groups, &name)?
                    .categories
                    .insert(category, price);
            }
            for (name, price) in group_sms_parts {
                group_named(&mut groups, &name)?.sms_part = Some(price);
            }
            for group in groups {
                table
                    .add_group(group)
                    .map_err(|e| Failure::input(e.to_string()))?;
            }
            store.businesses().set_prices(&id, Some(&table)).await?
        }
        PricesCommand::Clear { id } => store.businesses().set_prices(&id, None).await?,
    };
    json(serde_json::json!({
        "business_id": business.id.as_str(),
        "prices": business.prices,
    }))
}

/// The `--group` a group price names.
fn group_named<'a>(
    groups: &'a mut [session_rules::prices::CountryGroup],
    name: &str,
) -> Result<&'a mut session_rules::prices::CountryGroup, Failure> {
    groups
        .iter_mut()
        .find(|g| g.name == name)
        .ok_or_else(|| Failure::input(format!("no --group named {name:?} to price")))
}

/// The caps: a change is applied to the caps as stored (`Businesses::update_caps`), then the caps
/// and their counts in the current windows are printed.
async fn caps(ctx: &Context, command: CapsCommand) -> Result<String, Failure> {
    use session_rules::caps::{CapOutOfRange, CapPeriod, Caps};
    type Change = Box<dyn Fn(&mut Caps) -> Result<(), CapOutOfRange>>;
    let (id, change): (_, Option<Change>) = match command {
        CapsCommand::Show { id } => (id, None),
        CapsCommand::Set(args) => (
            args.id,
            Some(Box::new(move |caps| {
                if let Some(n) = args.per_day {
                    caps.set(args.subject, CapPeriod::Day, Some(n))?;
                }
                if let Some(n) = args.per_month {
                    caps.set(args.subject, CapPeriod::Month, Some(n))?;
                }
                Ok(())
            })),
        ),
        CapsCommand::Clear {
            id,
            subject,
            day,
            month,
        } => (
            id,
            Some(Box::new(move |caps| {
                for period in CapPeriod::ALL {
                    let named = match period {
                        CapPeriod::Day => day,
                        CapPeriod::Month => month,
                    };
                    if named || !(day || month) {
                        caps.set(subject, period, None)?;
                    }
                }
                Ok(())
            })),
        ),
    };
    let store = ctx.store().await?;
    let no_business = || Failure::input(format!("no business {id} in table {}", store.table()));
    let caps = match change {
        None => store.businesses().caps(&id).await?,
        Some(change) => store
            .businesses()
            .update_caps(&id, change)
            .await?
            .map(|r| r.map_err(|e| Failure::input(e.to_string())))
            .transpose()?,
    }
    .ok_or_else(no_business)?;
    let now = session_rules::Timestamp::from_secs(vbm_store::now_secs());
    let counts = store.businesses().cap_counts(&id, &caps.all(), now).await?;
    json(serde_json::json!({
        "business_id": id.as_str(),
        "caps": caps,
        "counts": counts,
    }))
}

/// SMS failover: every value is checked before the table is opened; the templates
/// named must exist, and their SMS texts use only their placeholders.
async fn failover(ctx: &Context, args: crate::cli::FailoverArgs) -> Result<String, Failure> {
    use session_rules::failover::{FailoverPolicy, Triggers};
    let input = |e: session_rules::failover::FailoverInvalid| {
        Failure::input(format!("{}: {}", e.field, e.message))
    };
    if let Some(text) = &args.text {
        session_rules::failover::check_sms_text(text).map_err(input)?;
    }
    if let Some(id) = &args.sender_id {
        session_rules::failover::check_sender_id(id).map_err(input)?;
    }
    if let Some(seconds) = args.deadline
        && !(1..=session_rules::failover::MAX_DEADLINE_SECONDS).contains(&seconds)
    {
        return Err(Failure::input("--deadline: 1 to 900 seconds"));
    }
    let mut template_texts = std::collections::BTreeMap::new();
    for pair in &args.template_texts {
        let (id, text) = pair
            .split_once('=')
            .ok_or_else(|| Failure::input("--template-text: TEMPLATE=TEXT"))?;
        let id = session_rules::TemplateId::parse(id)
            .map_err(|e| Failure::input(format!("--template-text: {e}")))?;
        session_rules::failover::check_sms_text(text).map_err(input)?;
        template_texts.insert(id, text.to_owned());
    }
    let store = ctx.store().await?;
    let business = existing_business(&store, &args.id).await?;
    if let Some(sender) = &args.sender_id
        && !business.sms.senders.contains(sender)
    {
        return Err(Failure::input(format!(
            "--sender-id {sender}: not registered for {} (vbmctl business sms sender add {} {sender})",
            args.id, args.id
        )));
    }
    if args.show {
        return json(serde_json::json!({
            "business_id": args.id.as_str(),
            "failover": store.businesses().failover_policy(&args.id).await?,
        }));
    }
    let policy = if args.clear {
        None
    } else {
        let mut texts = std::collections::BTreeMap::new();
        for (id, text) in template_texts {
            let template = store
                .templates()
                .get_template(&args.id, &id)
                .await?
                .ok_or_else(|| {
                    Failure::input(format!("--template-text: no template {}", id.as_str()))
                })?;
            let sms = session_rules::Template::parse(
                id.clone(),
                template.language().clone(),
                template.category(),
                true,
                &text,
            )
            .map_err(|e| Failure::input(format!("--template-text {}: {e}", id.as_str())))?;
            if let Some(extra) = sms
                .placeholders()
                .iter()
                .find(|p| !template.placeholders().contains(p))
            {
                return Err(Failure::input(format!(
                    "--template-text {}: {{{{{extra}}}}} is not a placeholder of the template",
                    id.as_str()
                )));
            }
            texts.insert(id.as_str().to_owned(), text);
        }
        Some(FailoverPolicy {
            always: args.always,
            text: args.text,
            sender_id: args.sender_id,
            triggers: Triggers {
                not_viber_user: !args.no_not_viber_user,
                no_suitable_device: !args.no_no_suitable_device,
                expired: !args.no_expired,
                deadline_seconds: args.deadline,
            },
            template_texts: texts,
        })
    };
    if !store
        .businesses()
        .set_failover_policy(&args.id, policy.as_ref())
        .await?
    {
        return Err(Failure::input(format!("no business {}", args.id)));
    }
    json(serde_json::json!({"business_id": args.id.as_str(), "failover": policy}))
}

async fn set_disabled(
    ctx: &Context,
    id: &vbm_store::BusinessId,
    disabled: bool,
) -> Result<String, Failure> {
    let store = ctx.store().await?;
    let business = store
        .businesses()
        .set_business_disabled(id, disabled)
        .await?;
    json(Shown::new(&business, false))
}

fn callback_url(ctx: &Context, url: Option<&str>) -> Result<Option<String>, Failure> {
    url.map(|u| validate::callback_url(u, ctx.local))
        .transpose()
        .map_err(Failure::Input)
}

async fn create(ctx: &Context, args: CreateArgs) -> Result<String, Failure> {
    let new = NewBusiness {
        callback_url: callback_url(ctx, args.callback_url.as_deref())?,
        id: args.id,
        service_id: args.service_id,
        allow_cidrs: dedup(args.allow_cidrs),
    };
    let store = ctx.store().await?;
    let services = session_rules::Services::single(args.service_id, args.service_kind);
    let (business, key) = store
        .businesses()
        .create_business_with_services(&new, &services)
        .await?;
    json(Created::new(&business, &key))
}

async fn update(ctx: &Context, args: UpdateArgs) -> Result<String, Failure> {
    let update = BusinessUpdate {
        callback_url: if args.no_callback_url {
            Some(None)
        } else {
            callback_url(ctx, args.callback_url.as_deref())?.map(Some)
        },
        allow_cidrs: if args.no_allowlist {
            Some(Vec::new())
        } else if args.allow_cidrs.is_empty() {
            None
        } else {
            Some(dedup(args.allow_cidrs))
        },
    };
    let store = ctx.store().await?;
    let business = store
        .businesses()
        .update_business(&args.id, &update)
        .await?;
    json(Shown::new(&business, false))
}

/// The CIDRs in the order given, each once.
fn dedup(cidrs: Vec<ipnet::IpNet>) -> Vec<ipnet::IpNet> {
    let mut out = Vec::with_capacity(cidrs.len());
    for cidr in cidrs {
        if !out.contains(&cidr) {
            out.push(cidr);
        }
    }
    out
}
