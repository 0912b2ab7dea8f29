//! The commands. Each checks all of its input first and only then opens the table, so a refused
//! command writes nothing (and needs no AWS access to be refused).

mod business;
// Business events: the events dead-letter queue's redrive.
mod events;
mod key;
mod outbox;
mod quarantine;
// What the redrive commands (outbox, events) share.
mod redrive;
mod template;
// Usage and estimated cost across businesses, for invoicing.
mod usage;

use aws_config::BehaviorVersion;
use serde::Serialize;
use session_rules::Limits;
use vbm_store::{Business, BusinessId, Retention, Store};

use crate::cli::{Cli, Command};
use crate::error::Failure;

/// What a command needs besides its own arguments.
pub struct Context {
    table: String,
    local: bool,
}

impl Context {
    /// The store over the table, with the operator's AWS configuration (AWS_REGION, profiles,
    /// AWS_ENDPOINT_URL, ...). Limits and retention do not matter to admin commands.
    async fn store(&self) -> Result<Store, Failure> {
        let config = self.sdk().await?;
        Ok(Store::new(
            aws_sdk_dynamodb::Client::new(&config),
            &self.table,
            Limits::default(),
            Retention::default(),
        ))
    }

    async fn sdk(&self) -> Result<aws_config::SdkConfig, Failure> {
        sdk_config().await
    }
}

/// The operator's AWS configuration (AWS_REGION, profiles, AWS_ENDPOINT_URL, ...).
async fn sdk_config() -> Result<aws_config::SdkConfig, Failure> {
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    if config.region().is_none() {
        return Err(Failure::Infra(
            "no AWS region configured: set AWS_REGION (or a profile's region)".into(),
        ));
    }
    Ok(config)
}

/// Runs the command; its result is the JSON to print.
pub async fn run(cli: Cli) -> Result<String, Failure> {
    let ctx = Context {
        table: cli.table,
        local: cli.local,
    };
    match cli.command {
        Command::Business(command) => business::run(&ctx, command).await,
        Command::Key(command) => key::run(&ctx, command).await,
        Command::Template(command) => template::run(&ctx, command).await,
        Command::Outbox(command) => outbox::run(&ctx, command).await,
        Command::Events(command) => events::run(&ctx, command).await,
        Command::Quarantine(command) => quarantine::run(&ctx, command).await,
        Command::Usage(args) => usage::run(&ctx, args).await,
    }
}

/// Pretty JSON, fields in the order the views declare them.
fn json(value: impl Serialize) -> Result<String, Failure> {
    serde_json::to_string_pretty(&value)
        .map_err(|e| Failure::Infra(format!("encoding the output: {e}")))
}

/// The business, or a refusal naming the table looked in.
async fn existing_business(store: &Store, id: &BusinessId) -> Result<Business, Failure> {
    store
        .businesses()
        .get_business(id)
        .await?
        .ok_or_else(|| Failure::input(format!("no business {id} in table {}", store.table())))
}
