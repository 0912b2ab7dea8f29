//! `bench-send`: the warm send's overhead over the one call it must make, the AWS calls of every
//! warm operation, and the time from a 202 to the job on the outbound queue, measured in one
//! process against the emulator.
//!
//! Run under `infra/scripts/with-moto.sh` (release build). Publishes `overhead` and `calls`.

use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use vbm_bench::bare_send::BareSend;
use vbm_bench::calls::Tally;
use vbm_bench::cpu::thread_cpu;
use vbm_bench::in_process::{Error, Reply, TEMPLATE, World};
use vbm_bench::report::Section;
use vbm_bench::stats::{median, ms, percentile};
use vbm_store::MessageId;

#[derive(Parser)]
#[command(about = "Warm send overhead and AWS calls per operation, against the emulator")]
struct Args {
    /// Handler sends and bare sends each, interleaved.
    #[arg(long, default_value_t = 400)]
    samples: usize,
    /// Operations of each kind whose calls are counted (after one that warms the caches).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Sends whose time from 202 to the outbound queue is measured.
    #[arg(long, default_value_t = 100)]
    outbox: usize,
}

/// Sends before measuring: connection pools, the API-key cache, the conversation hint.
const WARM_UP: usize = 20;
const HANDLER_PHONE: &str = "+447911000001";
const BARE_PHONE: &str = "+447911000002";

fn main() -> ExitCode {
    let args = Args::parse();
    // One thread: everything a call does runs here, so its thread CPU time is the call's.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bench-send: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-send: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<(), Error> {
    let world = World::start().await?;
    overhead(&world, args.samples).await?.publish()?;
    calls(&world, args.repeats).await?.publish()?;
    outbox(&world, args.outbox).await?.publish()?;
    Ok(())
}

/// From a send's 202 to its job on the outbound queue: the table's stream read as `make dev`
/// reads it (a `GetRecords` every 100 ms when idle), `relay` queueing, the job received.
async fn outbox(world: &World, samples: usize) -> Result<Section, Error> {
    const POLL: Duration = Duration::from_millis(100);
    // Past everything sent before on the stream; the jobs still queued are passed over below
    // (SQS refuses a second purge within 60 s).
    world.relay_all().await?;
    let reader = vbm_bench::in_process::stream_reader(&world.env).await?;
    let relay = world.relay_app();
    let pump = tokio::spawn(async move { reader.run(&relay, POLL).await });
    let mut waits = Vec::new();
    for i in 0..samples {
        let reply = world
            .send(&transactional(&format!("+4479112{i:05}")))
            .await?;
        accepted(&reply)?;
        let accepted_at = Instant::now();
        let id = reply.body["message_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let deadline = accepted_at + Duration::from_secs(30);
        'wait: loop {
            let out = world
                .sqs
                .receive_message()
                .queue_url(&world.env.outbound_queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await?;
            for m in out.messages() {
                let found = m.body().is_some_and(|b| b.contains(&id));
                if let Some(handle) = m.receipt_handle() {
                    world
                        .sqs
                        .delete_message()
                        .queue_url(&world.env.outbound_queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await?;
                }
                if found {
                    waits.push(ms(accepted_at.elapsed()));
                    break 'wait;
                }
            }
            if Instant::now() > deadline {
                pump.abort();
                return Err(format!("message {id} did not reach the queue in 30 s").into());
            }
        }
    }
    pump.abort();
    let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
    let mut section = Section::new(
        "outbox",
        "From 202 to the outbound queue",
        format!(
            "`bench-send`: {samples} warm transactional sends, one at a time; for each, the time \
             from its 202 to its job received from the outbound FIFO queue. In between: the \
             table's stream read as `make dev` reads the emulator's (`relay::reader`, a \
             `GetRecords` every {} ms when idle; Lambda polls a shard 4 times a second), `relay` \
             queueing with `SendMessageBatch`, and a long-polling receive, all through the \
             serialized emulator on this machine.",
            POLL.as_millis()
        ),
    )
    .header(["samples", "p50 ms", "p90 ms", "p99 ms", "max ms"]);
    section.row([
        waits.len().to_string(),
        fmt(percentile(&waits, 50.0)),
        fmt(percentile(&waits, 90.0)),
        fmt(percentile(&waits, 99.0)),
        fmt(percentile(&waits, 100.0)),
    ]);
    Ok(section)
}

struct Sample {
    wall: Duration,
    cpu: Duration,
}

async fn timed<T, F: Future<Output = Result<T, Error>>>(f: F) -> Result<(T, Sample), Error> {
    let (wall, cpu) = (Instant::now(), thread_cpu());
    let value = f.await?;
    let sample = Sample {
        cpu: thread_cpu() - cpu,
        wall: wall.elapsed(),
    };
    Ok((value, sample))
}

fn accepted(reply: &Reply) -> Result<(), Error> {
    if reply.status == 202 {
        Ok(())
    } else {
        Err(format!("send answered {}: {}", reply.status, reply.body).into())
    }
}

fn transactional(to: &str) -> Value {
    json!({"to": to, "type": "transactional", "text": "Your order 42 is ready for collection."})
}

async fn overhead(world: &World, samples: usize) -> Result<Section, Error> {
    let body = transactional(HANDLER_PHONE);
    let payload = body.to_string();
    let bare = BareSend::prepare(world.dynamodb.clone(), &world.env.table, BARE_PHONE).await?;
    for _ in 0..WARM_UP {
        accepted(&world.send(&body).await?)?;
        bare.send(MessageId::generate().as_str(), &payload).await?;
    }

    let before = world.counter.snapshot();
    let (mut handler, mut direct) = (Vec::new(), Vec::new());
    for i in 0..samples {
        // Alternate which goes first, so neither always follows the other.
        for handler_turn in [i % 2 == 0, i % 2 == 1] {
            if handler_turn {
                let (reply, sample) = timed(world.send(&body)).await?;
                accepted(&reply)?;
                handler.push(sample);
            } else {
                let id = MessageId::generate();
                let ((), sample) = timed(bare.send(id.as_str(), &payload)).await?;
                direct.push(sample);
            }
        }
    }
    // The bare sends use uncounted clients: this is the handler's alone.
    let handler_calls = world.counter.snapshot().since(&before);
    // The handler's messages are not for `dispatch` here: past them on the stream, and off the
    // queue (the bare ones are not message items: the outbox passes them over).
    world.relay_all().await?;
    world
        .sqs
        .purge_queue()
        .queue_url(&world.env.outbound_queue_url)
        .send()
        .await?;

    let wall = |s: &[Sample]| s.iter().map(|s| ms(s.wall)).collect::<Vec<_>>();
    let cpu = |s: &[Sample]| s.iter().map(|s| ms(s.cpu)).collect::<Vec<_>>();
    let fmt = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
    let mut section = Section::new(
        "overhead",
        "Warm send overhead",
        format!(
            "`bench-send`, release build, one process, one thread, against the serialized emulator \
             on this machine. {samples} sends through the real `send` handler (`App::handle`: \
             routing, API-key check from the container cache, parsing, the rules, one \
             `TransactWriteItems`, the 202 answer) interleaved with {samples} bare SDK calls of \
             the same shape (`TransactWriteItems` of a conditional `Update` and a `Put`), after \
             {WARM_UP} of each to warm up. \
             CPU is this thread's CPU time around each call."
        ),
    )
    .header([
        "path",
        "samples",
        "median ms",
        "p90 ms",
        "median CPU ms",
        "p90 CPU ms",
    ]);
    for (name, samples) in [
        ("`send` handler, warm transactional send", &handler),
        ("bare `TransactWriteItems`", &direct),
    ] {
        section.row([
            name.to_string(),
            samples.len().to_string(),
            fmt(median(&wall(samples))),
            fmt(percentile(&wall(samples), 90.0)),
            fmt(median(&cpu(samples))),
            fmt(percentile(&cpu(samples), 90.0)),
        ]);
    }
    let ratio = median(&wall(&handler))
        .zip(median(&wall(&direct)))
        .map(|(h, d)| h / d);
    let cpu_added = median(&cpu(&handler))
        .zip(median(&cpu(&direct)))
        .map(|(h, d)| h - d);
    section.note(format!(
        "**ratio of medians (handler / bare): {}** (target ≤ 1.15)",
        ratio.map_or("-".into(), |r| format!("{r:.3}"))
    ));
    section.note(format!(
        "CPU the handler adds to the call (difference of median CPU): {} ms",
        fmt(cpu_added)
    ));
    section.note(format!(
        "AWS calls the handler made for its {samples} sends (SDK interceptor): {} ({:.2} per send, \
         {} HTTP attempts)",
        handler_calls.describe(),
        handler_calls.total() as f64 / samples.max(1) as f64,
        handler_calls.attempts
    ));
    Ok(section)
}

/// The calls of each of `n` operations made by `op`, after one that warms the caches.
struct Counted {
    name: String,
    tallies: Vec<Tally>,
}

async fn count<F, Fut>(world: &World, name: &str, n: usize, mut op: F) -> Result<Counted, Error>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let mut tallies = Vec::new();
    for i in 0..n {
        let before = world.counter.snapshot();
        op(i).await?;
        tallies.push(world.counter.snapshot().since(&before));
    }
    Ok(Counted {
        name: name.to_owned(),
        tallies,
    })
}

fn ok(reply: Reply, status: u16) -> Result<(), Error> {
    if reply.status == status {
        Ok(())
    } else {
        Err(format!("expected {status}, got {}: {}", reply.status, reply.body).into())
    }
}

async fn calls(world: &World, n: usize) -> Result<Section, Error> {
    let mut rows = Vec::new();
    let template = |to: &str| json!({"to": to, "type": "template", "template": {"id": TEMPLATE, "params": {"name": "Ann"}}});
    let session =
        |to: &str, i: usize| json!({"to": to, "type": "session", "text": format!("Reply {i}")});

    // send: the same conversation again (the hint from the first send is current).
    let warm = "+447911000010";
    accepted(&world.send(&transactional(warm)).await?)?;
    rows.push(
        count(
            world,
            "send: transactional, known conversation",
            n,
            |_| async { accepted(&world.send(&transactional(warm)).await?) },
        )
        .await?,
    );
    accepted(&world.send(&template(warm)).await?)?;
    rows.push(
        count(world, "send: template, known conversation", n, |_| async {
            accepted(&world.send(&template(warm)).await?)
        })
        .await?,
    );
    rows.push(
        count(
            world,
            "send: transactional, first to a new number",
            n,
            |i| async move {
                accepted(
                    &world
                        .send(&transactional(&format!("+4479111{i:05}")))
                        .await?,
                )
            },
        )
        .await?,
    );

    // dry runs: reads only (the conversation, the key's record, a new number's suppression).
    let dry = |reply: Reply| match reply.body["dry_run"].as_bool() {
        Some(true) if reply.status == 200 => Ok(()),
        _ => Err(Error::from(format!("not a dry run: {}", reply.body))),
    };
    rows.push(
        count(
            world,
            "send dry run: template, known conversation",
            n,
            |_| async { dry(world.dry_send(&template(warm), None).await?) },
        )
        .await?,
    );
    rows.push(
        count(
            world,
            "send dry run: template with Idempotency-Key, known conversation",
            n,
            |i| async move {
                dry(world
                    .dry_send(&template(warm), Some(&format!("dry-{i}")))
                    .await?)
            },
        )
        .await?,
    );
    rows.push(
        count(
            world,
            "send dry run: template, new number",
            n,
            |i| async move {
                dry(world
                    // New numbers in the range the transactional row uses (`+447911 3…` is
                    // not in the numbering plan: the row measured an `invalid_phone` refusal).
                    .dry_send(&template(&format!("+4479111{:05}", 50_000 + i)), None)
                    .await?)
            },
        )
        .await?,
    );

    // inbound and session sends: a user writes, the business answers in the session.
    let user = "+447911000020";
    ok(world.user_writes(user, "Hello").await?, 200)?;
    accepted(&world.send(&session(user, 0)).await?)?;
    rows.push(
        count(
            world,
            "send: session, open session, known",
            n.min(3),
            |i| async move { accepted(&world.send(&session(user, i + 1)).await?) },
        )
        .await?,
    );
    let mut after_reply = Vec::new();
    let mut inbound = Vec::new();
    for i in 0..n {
        let before = world.counter.snapshot();
        ok(world.user_writes(user, "Thanks").await?, 200)?;
        let middle = world.counter.snapshot();
        accepted(&world.send(&session(user, 10 + i)).await?)?;
        inbound.push(middle.since(&before));
        after_reply.push(world.counter.snapshot().since(&middle));
    }
    rows.push(Counted {
        name: "send: session, first after the user replied".into(),
        tallies: after_reply,
    });
    rows.push(Counted {
        name: "inbound: user message, open session".into(),
        tallies: inbound,
    });

    // dispatch: everything sent so far (which warms its business cache), then n fresh jobs.
    if world.dispatch_all().await? == 0 {
        return Err("nothing was dispatched before measuring".into());
    }
    for _ in 0..n {
        accepted(&world.send(&transactional(warm)).await?)?;
    }
    // relay: the n accepted messages, as one batch of the table's stream.
    let before = world.counter.snapshot();
    world.relay_all().await?;
    rows.push(Counted {
        name: format!("relay: {n} accepted messages (one stream batch)"),
        tallies: vec![world.counter.snapshot().since(&before)],
    });
    let mut dispatch = Vec::new();
    let mut tokens = Vec::new();
    for _ in 0..n {
        let before = world.counter.snapshot();
        if !world.dispatch_one().await? {
            return Err("the outbound queue ran dry".into());
        }
        dispatch.push(world.counter.snapshot().since(&before));
        tokens.push(world.stand_in.last_token().ok_or("no token")?);
    }
    rows.push(Counted {
        name: "dispatch: one job, sent".into(),
        tallies: dispatch,
    });

    // status: warm with the first token, then delivered and seen for the others.
    ok(world.status_callback(tokens[0], 0).await?, 200)?;
    for (name, code) in [("status: delivered", 0u8), ("status: seen", 1)] {
        let tokens = &tokens[1..];
        rows.push(
            count(world, name, tokens.len(), |i| async move {
                ok(world.status_callback(tokens[i], code).await?, 200)
            })
            .await?,
        );
    }

    // notify: one event first (its business cache), then one event each.
    world.notify_one().await?;
    rows.push(
        count(world, "notify: one event delivered", n, |_| async {
            if world.notify_one().await? {
                Ok(())
            } else {
                Err("the events queue ran dry".into())
            }
        })
        .await?,
    );

    let mut section = Section::new(
        "calls",
        "AWS calls per warm operation",
        format!(
            "`bench-send`: the six functions in one process, each with its own store (its own \
             container caches), on DynamoDB and SQS clients with an SDK interceptor that counts \
             every operation they start and every HTTP attempt. Each \
             row: {n} operations (3 for session sends, to stay under 5 in a row) after one of \
             the same kind warmed the caches; the queue functions get batches of one record, \
             received and deleted outside the function as Lambda's event source mapping does, \
             and `relay` the table's stream, read outside it the same way."
        ),
    )
    .header(["operation", "AWS calls each", "count", "attempts"]);
    for row in &rows {
        let first = row.tallies.first().cloned().unwrap_or_default();
        let same = row.tallies.iter().all(|t| t.calls == first.calls);
        let calls = if same {
            first.describe()
        } else {
            row.tallies
                .iter()
                .map(Tally::describe)
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let totals: Vec<usize> = row.tallies.iter().map(Tally::total).collect();
        let (lo, hi) = (
            totals.iter().min().copied().unwrap_or(0),
            totals.iter().max().copied().unwrap_or(0),
        );
        let attempts: usize = row.tallies.iter().map(|t| t.attempts).sum();
        section.row([
            row.name.clone(),
            calls,
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            },
            format!("{attempts} in {}", row.tallies.len()),
        ]);
    }
    Ok(section)
}
