//! `vbmctl key rotate`.

use super::{Context, json};
use crate::cli::KeyCommand;
use crate::error::Failure;
use crate::output::Rotated;

pub async fn run(ctx: &Context, command: KeyCommand) -> Result<String, Failure> {
    match command {
        KeyCommand::Rotate { id } => {
            let store = ctx.store().await?;
            let key = store.rotate_api_key(&id).await?;
            json(Rotated {
                business_id: id.as_str(),
                api_key: key.expose(),
            })
        }
    }
}
