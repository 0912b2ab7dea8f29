//! `vbmctl quarantine list|replay`: the Viber callbacks kept aside, and running them again
//! through the very handler code of `inbound` and `status` ([`inbound::App::replay`],
//! [`status::App::replay`]) once their cause is fixed.
//!
//! A replay acts like the function would: same session rules (`SESSION_*` from the
//! environment, as the functions read them), same retention (`RETENTION_DAYS`), same events
//! published to `EVENTS_QUEUE_URL`.

use std::sync::Arc;

use serde::Serialize;
use vbm_callbacks::Replay;
use vbm_events::EventsQueue;
use vbm_platform::clock::{Clock, SystemClock};
use vbm_platform::config::Config;
use vbm_store::{Quarantined, Store};

use super::{Context, json};
use crate::cli::{QuarantineCommand, ReplayArgs};
use crate::error::Failure;

pub async fn run(ctx: &Context, command: QuarantineCommand) -> Result<String, Failure> {
    match command {
        QuarantineCommand::List => {
            let store = ctx.store().await?;
            let entries = store.quarantine().quarantined(SystemClock.now()).await?;
            json(List {
                quarantined: entries.iter().map(Entry::from).collect(),
            })
        }
        QuarantineCommand::Replay(args) => replay(ctx, args).await,
    }
}

async fn replay(ctx: &Context, args: ReplayArgs) -> Result<String, Failure> {
    // The handlers' EMF lines would mix into the JSON on stdout; a replay is no traffic to count.
    vbm_platform::metrics::set_enabled(false);
    let env = Config::from_env();
    let limits = env.limits().map_err(|e| Failure::input(e.to_string()))?;
    let retention = env.retention().map_err(|e| Failure::input(e.to_string()))?;
    let sdk = ctx.sdk().await?;
    let store = || Store::connect(&sdk, &ctx.table, limits, retention);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let events = || EventsQueue::new(sqs.clone(), &args.events_queue_url);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let inbound = inbound::App::for_replay(store(), events(), clock.clone());
    let status = status::App::for_replay(store(), events(), clock.clone());

    let all = inbound
        .store()
        .quarantine()
        .quarantined(clock.now())
        .await?;
    let chosen: Vec<&Quarantined> = if args.all {
        all.iter().collect()
    } else {
        let mut chosen = Vec::new();
        for id in &args.ids {
            let entry = all
                .iter()
                .find(|q| &q.id == id)
                .ok_or_else(|| Failure::input(format!("no callback {id} in quarantine")))?;
            chosen.push(entry);
        }
        chosen
    };
    let mut report = Report::default();
    for entry in chosen {
        let replayed = match entry.route.as_str() {
            inbound::ROUTE => inbound.replay(entry).await,
            status::ROUTE => status.replay(entry).await,
            other => {
                report.still_quarantined.push(Kept {
                    id: entry.id.clone(),
                    reason: "unknown_route",
                    detail: format!("no handler for route {other}"),
                });
                continue;
            }
        };
        match replayed {
            Ok(Replay::Used(outcome)) => report.replayed.push(Used {
                id: entry.id.clone(),
                outcome,
            }),
            Ok(Replay::StillAside(aside)) => report.still_quarantined.push(Kept {
                id: entry.id.clone(),
                reason: aside.reason.as_str(),
                detail: aside.detail,
            }),
            Err(error) => {
                return Err(Failure::Infra(format!(
                    "replaying {}: {} ({}); the entry stays in quarantine",
                    entry.id, error.message, error.code
                )));
            }
        }
    }
    json(report)
}

#[derive(Serialize)]
struct List<'a> {
    quarantined: Vec<Entry<'a>>,
}

#[derive(Serialize)]
struct Entry<'a> {
    id: &'a str,
    route: &'a str,
    received_at: String,
    reason: &'static str,
    detail: &'a str,
    /// The Viber service id the callback names (`null` when it could not be read).
    service_id: Option<u64>,
    /// The raw body as text (invalid UTF-8 shown as U+FFFD; the table keeps the bytes).
    body: String,
    body_bytes: usize,
}

impl<'a> From<&'a Quarantined> for Entry<'a> {
    fn from(q: &'a Quarantined) -> Self {
        Self {
            id: &q.id,
            route: &q.route,
            received_at: vbm_platform::time::rfc3339(q.received_at),
            reason: q.reason.as_str(),
            detail: &q.detail,
            service_id: q.service_id,
            body: String::from_utf8_lossy(&q.body).into_owned(),
            body_bytes: q.body.len(),
        }
    }
}

#[derive(Serialize, Default)]
struct Report {
    replayed: Vec<Used>,
    still_quarantined: Vec<Kept>,
}

#[derive(Serialize)]
struct Used {
    id: String,
    outcome: &'static str,
}

#[derive(Serialize)]
struct Kept {
    id: String,
    reason: &'static str,
    detail: String,
}
