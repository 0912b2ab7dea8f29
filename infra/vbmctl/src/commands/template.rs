//! `vbmctl template put|approve|reject|list`.

use session_rules::{Moderation, Template, TemplateId};
use vbm_callbacks::moderation::{self, ModerationError};
use vbm_events::EventsQueue;
use vbm_platform::clock::{Clock, SystemClock};
use vbm_store::BusinessId;

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
            viber_id,
            events_queue_url,
        } => {
            let moderation = Moderation::Approve { viber_id };
            moderate(ctx, &business, &template_id, &moderation, events_queue_url).await
        }
        TemplateCommand::Reject {
            business,
            template_id,
            reason,
            events_queue_url,
        } => {
            let moderation = Moderation::reject(&reason)
                .map_err(|refusal| Failure::input(format!("--reason: {refusal}")))?;
            moderate(ctx, &business, &template_id, &moderation, events_queue_url).await
        }
        TemplateCommand::List { business } => {
            let store = ctx.store().await?;
            existing_business(&store, &business).await?;
            let templates = store.templates().list_templates(&business).await?;
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
    store
        .templates()
        .put_template(&args.business, &template)
        .await?;
    json(TemplateView::new(&args.business, &template))
}

/// Viber's answer on a template, through the functions' own code: the state, then the event.
async fn moderate(
    ctx: &Context,
    business: &BusinessId,
    id: &TemplateId,
    moderation: &Moderation,
    events_queue_url: String,
) -> Result<String, Failure> {
    let store = ctx.store().await?;
    existing_business(&store, business).await?;
    let sqs = aws_sdk_sqs::Client::new(&ctx.sdk().await?);
    let events = EventsQueue::new(sqs, events_queue_url);
    let now = SystemClock.now();
    let template = moderation::moderate(&store, &events, business, id, moderation, now)
        .await
        .map_err(|error| match error {
            ModerationError::NotFound(_) | ModerationError::Refused(_) => {
                Failure::input(error.to_string())
            }
            ModerationError::Store(e) => e.into(),
            ModerationError::Queue(..) => Failure::Infra(error.to_string()),
        })?;
    json(TemplateView::new(business, &template))
}
