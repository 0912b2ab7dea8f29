//! `vbmctl template put|approve|list`.

use session_rules::Template;

use super::{Context, existing_business, json};
use crate::cli::{PutTemplateArgs, TemplateCommand};
use crate::error::Failure;
use crate::output::{TemplateList, TemplateView};

pub async fn run(ctx: &Context, command: TemplateCommand) -> Result<String, Failure> {
    match command {
        TemplateCommand::Put(args) => put(ctx, args).await,
        TemplateCommand::Approve {
            business,
            template_id,
        } => {
            let store = ctx.store().await?;
            existing_business(&store, &business).await?;
            store.approve_template(&business, &template_id).await?;
            let template = store
                .get_template(&business, &template_id)
                .await?
                .ok_or_else(|| {
                    Failure::input(format!(
                        "no template {} for business {business}",
                        template_id.as_str()
                    ))
                })?;
            json(TemplateView::new(&business, &template))
        }
        TemplateCommand::List { business } => {
            let store = ctx.store().await?;
            existing_business(&store, &business).await?;
            let templates = store.list_templates(&business).await?;
            json(TemplateList {
                business_id: business.as_str(),
                templates: templates
                    .iter()
                    .map(|t| TemplateView::new(&business, t))
                    .collect(),
            })
        }
    }
}

async fn put(ctx: &Context, args: PutTemplateArgs) -> Result<String, Failure> {
    let template = Template::parse(
        args.template_id,
        args.lang,
        args.category,
        args.approved,
        &args.text,
    )
    .map_err(|refusal| Failure::input(format!("template {refusal}")))?
    .with_reach(args.reach);
    let store = ctx.store().await?;
    existing_business(&store, &args.business).await?;
    store.put_template(&args.business, &template).await?;
    json(TemplateView::new(&args.business, &template))
}
