//! `vbmctl key rotate|create|revoke|list`.

use super::{Context, existing_business, json};
use crate::cli::KeyCommand;
use crate::error::Failure;
use crate::output::{KeyList, KeyView, Rotated};

pub async fn run(ctx: &Context, command: KeyCommand) -> Result<String, Failure> {
    let store = ctx.store().await?;
    let now = vbm_store::now_secs();
    match command {
        KeyCommand::Rotate { id, end } => {
            let key = store
                .businesses()
                .rotate_api_key_with_overlap(&id, end.at(now))
                .await?;
            json(Rotated::new(&id, &key))
        }
        KeyCommand::Create { id } => {
            let key = store.businesses().create_api_key(&id).await?;
            json(Rotated::new(&id, &key))
        }
        KeyCommand::Revoke { id, key_id, end } => {
            let key = store
                .businesses()
                .revoke_api_key(&id, &key_id, end.at(now))
                .await?;
            json(KeyView::new(&key, vbm_store::now_secs()))
        }
        KeyCommand::List { id } => {
            let business = existing_business(&store, &id).await?;
            let keys = store.businesses().api_keys(&business).await?;
            json(KeyList {
                business_id: id.as_str(),
                keys: keys.iter().map(|k| KeyView::new(k, now)).collect(),
            })
        }
    }
}
