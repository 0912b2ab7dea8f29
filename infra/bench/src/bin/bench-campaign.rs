//! `bench-campaign`: a campaign through the fan-out against the emulator, side by side
//! with single sends on the same emulator: recipients admitted per second, AWS calls per
//! recipient (admission and queueing, counted by the SDK interceptor as bench-send counts them),
//! and whether the campaign lane kept to its share of the business's pace.
//!
//! Run under `infra/scripts/with-moto.sh` (release build in `make bench`). Publishes `campaign`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use session_rules::campaign::{CampaignRecipient, CampaignState};
use session_rules::{PhoneNumber, SendClass};
use vbm_bench::calls::{CallCounter, Tally, counted_clients};
use vbm_bench::in_process::{Error, stream_reader};
use vbm_bench::report::Section;
use vbm_events::EventsQueue;
use vbm_platform::clock::{Clock, SystemClock};
use vbm_queue::CampaignJob;
use vbm_queue::{CampaignQueue, OutboundQueue};
use vbm_store::pace::CAMPAIGN_SHARE;
use vbm_store::{
    BusinessId, CampaignId, MessageId, NewCampaign, NewSend, Retention, SendOutcome, Store,
};
use vbm_testkit::TestEnv;
use vbm_timers::{Target, Timers};

#[derive(Parser)]
#[command(about = "A campaign's admission rate and AWS calls per recipient, against the emulator")]
struct Args {
    /// Recipients of the unpaced campaign (admission rate and calls).
    #[arg(long, default_value_t = 1000)]
    recipients: usize,
    /// Single sends measured beside it.
    #[arg(long, default_value_t = 200)]
    singles: usize,
    /// Chunk jobs run at once (Lambda's concurrency on the campaign queue).
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// The business rate (messages/s) of the paced run, and its recipients.
    #[arg(long, default_value_t = 50)]
    paced_rate: u32,
    #[arg(long, default_value_t = 200)]
    paced_recipients: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bench-campaign: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-campaign: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Bench {
    env: TestEnv,
    counter: CallCounter,
    store: Arc<Store>,
    app: Arc<campaign::App>,
    relay: relay::App,
}

async fn bench() -> Result<Bench, Error> {
    vbm_platform::metrics::set_enabled(false);
    let env = TestEnv::fresh();
    let sdk = env.sdk_config().await;
    let counter = CallCounter::default();
    let (dynamodb, sqs) = counted_clients(&sdk, &counter);
    let store = || {
        Store::new(
            dynamodb.clone(),
            env.table.clone(),
            session_rules::Limits::default(),
            Retention::default(),
        )
    };
    let timers = vbm_outbound::CampaignTimers::new(
        Timers::new(
            aws_sdk_scheduler::Client::new(&sdk),
            sqs.clone(),
            env.timers_group.clone(),
            "arn:aws:iam::123456789012:role/timers",
        ),
        Target::queue(&env.campaign_queue_url, "us-east-1")?,
    );
    let app = Arc::new(campaign::App::new(
        store(),
        CampaignQueue::new(sqs.clone(), env.campaign_queue_url.clone()),
        timers,
        EventsQueue::new(sqs.clone(), env.events_queue_url.clone()),
        Arc::new(SystemClock),
    ));
    let relay = relay::App::new(OutboundQueue::new(sqs, env.outbound_queue_url.clone()));
    Ok(Bench {
        store: Arc::new(store()),
        counter,
        app,
        relay,
        env,
    })
}

fn recipients(first: usize, count: usize) -> Vec<CampaignRecipient> {
    (first..first + count)
        .map(|i| CampaignRecipient {
            to: format!("+447911{i:06}"),
            params: Default::default(),
        })
        .collect()
}

/// Creates a campaign (not counted: storing the list is not admission), then runs its start job
/// and every chunk job `concurrency` at a time, and relays its messages to the outbound queue.
/// Returns (seconds from the start job to the last admission, calls counted, admitted).
async fn campaign_run(
    b: &Bench,
    business: &BusinessId,
    first: usize,
    count: usize,
    concurrency: usize,
) -> Result<(f64, Tally, u64), Error> {
    let id = CampaignId::generate();
    let list = recipients(first, count);
    b.store
        .campaigns()
        .create_campaign(&NewCampaign {
            business,
            id: id.clone(),
            name: None,
            message: r#"{"text":"Your parcel is on its way","type":"transactional"}"#,
            recipients: &list,
            send_at: None,
            window: None,
            idempotency: None,
            now: SystemClock.now(),
        })
        .await?;
    let mut reader = stream_reader(&b.env).await?;
    reader.drain(&b.relay).await?;
    let before = b.counter.snapshot();
    let started = Instant::now();
    b.app
        .handle_job(&CampaignJob::Start {
            business: business.as_str().into(),
            campaign: id.as_str().into(),
        })
        .await?;
    // The chunk jobs, as Lambda's poller hands them over (its receives are not counted).
    let sqs = b.env.sqs().await;
    let mut jobs = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(&b.env.campaign_queue_url)
            .max_number_of_messages(10)
            .send()
            .await?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            jobs.push(serde_json::from_str::<CampaignJob>(
                m.body().unwrap_or_default(),
            )?);
            sqs.delete_message()
                .queue_url(&b.env.campaign_queue_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await?;
        }
    }
    let jobs = Arc::new(tokio::sync::Mutex::new(jobs));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (jobs, app) = (jobs.clone(), b.app.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let Some(job) = jobs.lock().await.pop() else {
                    return Ok::<_, campaign::JobError>(());
                };
                app.handle_job(&job).await?;
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let admitted_in = started.elapsed().as_secs_f64();
    reader.drain(&b.relay).await?;
    let calls = b.counter.snapshot().since(&before);
    let c = b
        .store
        .campaigns()
        .get_campaign(business, &id)
        .await?
        .ok_or("the campaign is gone")?;
    if c.state != CampaignState::Completed || c.counts.get("queued") != Some(&(count as u64)) {
        return Err(format!("campaign {} is {:?}: {:?}", c.id, c.state, c.counts).into());
    }
    Ok((
        admitted_in,
        calls,
        c.counts.get("queued").copied().unwrap_or(0),
    ))
}

/// Single sends, `concurrency` at a time, each one transaction as `send` makes it, then relayed.
async fn singles_run(
    b: &Bench,
    business: &BusinessId,
    count: usize,
    concurrency: usize,
) -> Result<(f64, Tally), Error> {
    let mut reader = stream_reader(&b.env).await?;
    reader.drain(&b.relay).await?;
    let before = b.counter.snapshot();
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (next, store, business) = (next.clone(), b.store.clone(), business.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= count {
                    return Ok::<_, Error>(());
                }
                let to = PhoneNumber::parse(&format!("+447911{:06}", 800_000 + i))?;
                let payload = format!(
                    r#"{{"text":"Your parcel is on its way","to":"{}","type":"transactional"}}"#,
                    to.as_e164()
                );
                let outcome = store
                    .messages()
                    .record_send(&NewSend {
                        business: &business,
                        message_id: MessageId::generate(),
                        to: &to,
                        class: SendClass::Informative,
                        kind: "transactional",
                        billing: session_rules::BillingCategory::TransactionalTemplate,
                        payload: &payload,
                        service_id: None,
                        idempotency: None,
                        failover: None,
                        now: SystemClock.now(),
                    })
                    .await?;
                if !matches!(outcome, SendOutcome::Accepted { .. }) {
                    return Err(format!("a single send was not accepted: {outcome:?}").into());
                }
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    reader.drain(&b.relay).await?;
    Ok((elapsed, b.counter.snapshot().since(&before)))
}

async fn run(args: &Args) -> Result<(), Error> {
    let b = bench().await?;
    let fast = BusinessId::parse("bench")?;
    let paced = BusinessId::parse("paced")?;
    // The unpaced run: a rate above what the emulator can take, so admission is what is timed.
    b.store
        .pace()
        .set_pace_rate(&fast, vbm_store::pace::MAX_RATE)
        .await?;
    b.store
        .pace()
        .set_pace_rate(&paced, args.paced_rate)
        .await?;

    let (single_s, single_calls) = singles_run(&b, &fast, args.singles, args.concurrency).await?;
    let (campaign_s, campaign_calls, admitted) =
        campaign_run(&b, &fast, 0, args.recipients, args.concurrency).await?;
    let (paced_s, _, paced_admitted) = campaign_run(
        &b,
        &paced,
        args.recipients + 10,
        args.paced_recipients,
        args.concurrency,
    )
    .await?;

    let single_rate = args.singles as f64 / single_s;
    let campaign_rate = admitted as f64 / campaign_s;
    let lane =
        f64::from(args.paced_rate) * f64::from(CAMPAIGN_SHARE.0) / f64::from(CAMPAIGN_SHARE.1);
    let paced_rate = paced_admitted as f64 / paced_s;
    // A chunk reserves its recipients' slots at once and goes at the first: n recipients take at
    // least (n - one chunk) / lane seconds.
    let chunk = session_rules::campaign::CHUNK_SIZE as f64;
    let bound = (paced_admitted as f64 - chunk).max(0.0) / lane;
    let held = paced_s + 0.05 >= bound;

    let mut section = Section::new(
        "campaign",
        "Campaigns: admission rate and AWS calls per recipient",
        format!(
            "`bench-campaign` (infra/bench/src/bin/bench-campaign.rs), in one process against the \
             serialized emulator: {singles} single sends (`Messages::record_send`, {c} at a time) and \
             a {n}-recipient transactional campaign (its start job, then its chunk jobs {c} at a \
             time, as Lambda's concurrency on the campaign queue would run them), each relayed \
             from the table's stream to the outbound queue by `relay`. Calls are counted by the \
             SDK interceptor on the functions' DynamoDB and SQS clients (storing the list at \
             `POST /v1/campaigns`, and Lambda's receives and deletes of chunk jobs, are not \
             counted). Then a {p}-recipient campaign of a business paced at {r} messages/s \
             (campaign lane: {lane:.0}/s).",
            singles = args.singles,
            c = args.concurrency,
            n = args.recipients,
            p = args.paced_recipients,
            r = args.paced_rate,
        ),
    )
    .header([
        "run",
        "recipients",
        "seconds",
        "per second",
        "AWS calls",
        "calls per recipient",
    ]);
    section.row([
        "single sends".to_owned(),
        args.singles.to_string(),
        format!("{single_s:.2}"),
        format!("{single_rate:.0}"),
        single_calls.total().to_string(),
        format!("{:.2}", single_calls.total() as f64 / args.singles as f64),
    ]);
    section.row([
        "campaign".to_owned(),
        admitted.to_string(),
        format!("{campaign_s:.2}"),
        format!("{campaign_rate:.0}"),
        campaign_calls.total().to_string(),
        format!(
            "{:.3}",
            campaign_calls.total() as f64 / admitted.max(1) as f64
        ),
    ]);
    section.row([
        format!("campaign paced at {} /s", args.paced_rate),
        paced_admitted.to_string(),
        format!("{paced_s:.2}"),
        format!("{paced_rate:.0}"),
        "–".to_owned(),
        "–".to_owned(),
    ]);
    section.note(format!(
        "campaign admission is {:.1}× the single-send rate on the same emulator",
        campaign_rate / single_rate
    ));
    section.note(format!("campaign calls: {}", campaign_calls.describe()));
    section.note(format!("single-send calls: {}", single_calls.describe()));
    section.note(format!(
        "pace held: {} (the paced campaign took {paced_s:.2} s, at least {bound:.2} s at its lane's {lane:.0}/s after a first chunk that goes at once)",
        if held { "yes" } else { "NO" }
    ));
    section.publish()?;
    if !held {
        return Err("the campaign lane went faster than its share of the pace".into());
    }
    Ok(())
}
