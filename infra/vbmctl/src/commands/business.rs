//! `vbmctl business create|update|show|list|disable|enable`.

use vbm_store::{BusinessUpdate, NewBusiness};

use super::{Context, existing_business, json};
use crate::cli::{BusinessCommand, CreateArgs, UpdateArgs};
use crate::error::Failure;
use crate::output::{Created, SecretRotated, Shown};
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
            let businesses = store.list_businesses().await?;
            json(
                businesses
                    .iter()
                    .map(|b| Shown::new(b, false))
                    .collect::<Vec<_>>(),
            )
        }
        BusinessCommand::Disable { id } => set_disabled(ctx, &id, true).await,
        BusinessCommand::Enable { id } => set_disabled(ctx, &id, false).await,
        BusinessCommand::Pace { id, rate } => {
            let store = ctx.store().await?;
            existing_business(&store, &id).await?;
            if let Some(rate) = rate {
                store.set_pace_rate(&id, rate).await?;
            }
            let rate = store.pace_rate(&id).await?;
            json(serde_json::json!({"business_id": id.as_str(), "messages_per_second": rate}))
        }
        BusinessCommand::RotateSecret { id, end } => {
            let store = ctx.store().await?;
            let business = store
                .rotate_callback_secret(&id, end.at(vbm_store::now_secs()))
                .await?;
            json(SecretRotated::new(&business))
        }
    }
}

async fn set_disabled(
    ctx: &Context,
    id: &vbm_store::BusinessId,
    disabled: bool,
) -> Result<String, Failure> {
    let store = ctx.store().await?;
    let business = store.set_business_disabled(id, disabled).await?;
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
    let (business, key) = store.create_business(&new).await?;
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
    let business = store.update_business(&args.id, &update).await?;
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
