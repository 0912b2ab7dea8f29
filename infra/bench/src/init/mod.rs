//! `bench-init`: cold starts of the five release binaries against a Runtime API stand-in and
//! the emulator, interleaved with the two references (`curl`, the floor; a Python handler with
//! boto3, the alternative), each with a real first event that must succeed.
//!
//! One round cold-starts every program once: `curl`, Python, then the chain
//! send → dispatch → notify, inbound, status once with warm-up off and once with it on (which
//! goes first alternates). Each function's first event comes from the one before it: `dispatch`
//! gets the job `send` queued, `notify` the event `dispatch` published, `status` a delivery
//! report for the token Viber's stand-in gave `dispatch`.

pub mod events;
pub mod process;
pub mod summary;
pub mod world;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_sqs::types::Message;

use process::{Program, Run, cold_start};
use summary::Samples;
use world::{CALLBACK_SECRET, SERVICE_ID, TEMPLATE, World};

pub const FUNCTIONS: [&str; 5] = ["send", "dispatch", "notify", "inbound", "status"];
pub const CURL: &str = "curl (floor)";
pub const PYTHON: &str = "Python + boto3 (reference)";
/// The switch `vbm_platform::warm` reads.
pub const WARM_VARIABLE: &str = "VBM_WARM_ON_INIT";

pub fn label(function: &str, warm: bool) -> String {
    format!("{function}, warm-up {}", if warm { "on" } else { "off" })
}

/// The row of a function from the baseline build (`--baseline-dir`), measured in the same rounds.
pub fn baseline_label(function: &str, warm: bool) -> String {
    format!(
        "{function} (baseline), warm-up {}",
        if warm { "on" } else { "off" }
    )
}

/// The repository root (the bench's sources are two levels down).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub struct Bench {
    world: World,
    release_dir: PathBuf,
    /// Another build of the five functions, cold-started in the same rounds (old vs new).
    baseline_dir: Option<PathBuf>,
    /// Which build `chain` runs now.
    on_baseline: bool,
    python: PathBuf,
    samples: BTreeMap<String, Samples>,
    count: u64,
}

impl Bench {
    pub fn new(world: World, release_dir: PathBuf, python: PathBuf) -> Self {
        Self {
            world,
            release_dir,
            baseline_dir: None,
            on_baseline: false,
            python,
            samples: BTreeMap::new(),
            count: 0,
        }
    }

    /// Also cold-starts the binaries in `dir`, after the current ones in every round.
    pub fn with_baseline(mut self, dir: PathBuf) -> Self {
        self.baseline_dir = Some(dir);
        self
    }

    pub fn samples(&self) -> &BTreeMap<String, Samples> {
        &self.samples
    }

    /// One cold start of every program.
    pub async fn round(&mut self, index: usize) -> Result<(), String> {
        self.curl().await?;
        self.python().await?;
        let warm_first = index % 2 == 1;
        for warm in [warm_first, !warm_first] {
            self.chain(warm).await?;
        }
        if self.baseline_dir.is_some() {
            self.on_baseline = true;
            let result = async {
                for warm in [warm_first, !warm_first] {
                    self.chain(warm).await?;
                }
                Ok::<(), String>(())
            }
            .await;
            self.on_baseline = false;
            result?;
        }
        Ok(())
    }

    fn next_id(&mut self) -> u64 {
        self.count += 1;
        self.count
    }

    fn record(&mut self, label: String, run: &Run) {
        let samples = self.samples.entry(label).or_default();
        samples.init.push(crate::stats::ms(run.init));
        if let Some(event) = run.first_event {
            samples.first_event.push(crate::stats::ms(event));
            samples
                .cold_request
                .push(crate::stats::ms(run.init + event));
        }
    }

    fn function(&self, name: &str, warm: bool) -> Program {
        let mut env = self.world.function_env(name);
        env.push((WARM_VARIABLE.to_owned(), warm.to_string()));
        let dir = match (&self.baseline_dir, self.on_baseline) {
            (Some(baseline), true) => baseline,
            _ => &self.release_dir,
        };
        Program {
            command: dir.join(name),
            args: Vec::new(),
            env,
            function_name: name.to_owned(),
            answers: true,
        }
    }

    async fn curl(&mut self) -> Result<(), String> {
        let program = Program {
            command: PathBuf::from("curl"),
            args: vec![
                "-s".into(),
                "-o".into(),
                "/dev/null".into(),
                format!(
                    "http://{}/2018-06-01/runtime/invocation/next",
                    process::RUNTIME_API
                ),
            ],
            env: Vec::new(),
            function_name: "curl".into(),
            answers: false,
        };
        let id = self.next_id();
        let run = cold_start(&program, &format!("curl-{id}"), "{}".into()).await?;
        self.record(CURL.into(), &run);
        Ok(())
    }

    async fn python(&mut self) -> Result<(), String> {
        let id = self.next_id();
        let program = Program {
            command: self.python.clone(),
            args: vec![
                repo_root()
                    .join("infra/bench/python/reference_handler.py")
                    .display()
                    .to_string(),
            ],
            env: self.world.function_env("send"),
            function_name: "python-reference".into(),
            answers: true,
        };
        let payload = events::send_template(&self.world.api_key, &phone(0, id), TEMPLATE);
        let run = cold_start(&program, &format!("python-{id}"), payload.to_string()).await?;
        expect_status(&run, 202, "Python reference")?;
        self.record(PYTHON.into(), &run);
        Ok(())
    }

    /// send → dispatch → notify, then inbound and status, each cold-started once.
    async fn chain(&mut self, warm: bool) -> Result<(), String> {
        let id = self.next_id();
        let (outbound, events_url) = (
            self.world.env.outbound_queue_url.clone(),
            self.world.env.events_queue_url.clone(),
        );

        let payload = events::send_template(&self.world.api_key, &phone(1, id), TEMPLATE);
        let run = self.run("send", warm, id, payload).await?;
        expect_status(&run, 202, "send")?;
        self.world.relay_stream().await?;
        let jobs = self.world.receive(&outbound).await?;
        expect_count(&jobs, 1, "send's job on the outbound queue")?;

        self.world.drain(&events_url).await?;
        let token_before = self.world.stand_in.last_token();
        let payload = events::sqs_batch(&self.world.outbound_arn, &jobs);
        let run = self.run("dispatch", warm, id, payload).await?;
        expect_batch(&run, "dispatch")?;
        self.world.delete(&outbound, &jobs).await?;
        let token = self.world.stand_in.last_token();
        let token = match token {
            Some(t) if token != token_before => t,
            _ => return Err("dispatch: Viber's stand-in got no send_message".into()),
        };

        let published = self.world.receive(&events_url).await?;
        expect_count(&published, 1, "dispatch's event on the events queue")?;
        let delivered_before = self.world.stand_in.events_received();
        let payload = events::sqs_batch(&self.world.events_arn, &published);
        let run = self.run("notify", warm, id, payload).await?;
        expect_batch(&run, "notify")?;
        self.world.delete(&events_url, &published).await?;
        if self.world.stand_in.events_received() <= delivered_before {
            return Err("notify: the business's callback URL got nothing".into());
        }

        let body =
            events::viber_user_message(SERVICE_ID, &phone(2, id), 8_000_000_000 + id, now_ms());
        let payload = events::viber_url_callback("/viber/inbound", CALLBACK_SECRET, &body);
        let run = self.run("inbound", warm, id, payload).await?;
        expect_status(&run, 200, "inbound")?;

        let body = events::viber_delivered(token, now_ms());
        let payload = events::viber_url_callback("/viber/status", CALLBACK_SECRET, &body);
        let run = self.run("status", warm, id, payload).await?;
        expect_status(&run, 200, "status")?;

        self.world.drain(&events_url).await?;
        Ok(())
    }

    async fn run(
        &mut self,
        function: &str,
        warm: bool,
        id: u64,
        payload: serde_json::Value,
    ) -> Result<Run, String> {
        let program = self.function(function, warm);
        let run = cold_start(&program, &format!("{function}-{id}"), payload.to_string()).await?;
        let name = if self.on_baseline {
            baseline_label(function, warm)
        } else {
            label(function, warm)
        };
        self.record(name, &run);
        Ok(run)
    }
}

/// A distinct, valid UK mobile number per run (`series` keeps senders and users apart).
pub fn phone(series: u64, id: u64) -> String {
    format!("+4479{:02}{:06}", 11 + series, id % 1_000_000)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn answer_body(run: &Run) -> &str {
    run.answer.as_ref().map_or("", |a| a.body.as_str())
}

fn expect_status(run: &Run, status: u64, who: &str) -> Result<(), String> {
    let kind = run.answer.as_ref().map(|a| &a.kind);
    if kind == Some(&crate::runtime_api::AnswerKind::Response)
        && events::http_status(answer_body(run)) == Some(status)
    {
        Ok(())
    } else {
        Err(format!(
            "{who}: expected HTTP {status}, got {kind:?}: {}",
            answer_body(run)
        ))
    }
}

fn expect_batch(run: &Run, who: &str) -> Result<(), String> {
    let kind = run.answer.as_ref().map(|a| &a.kind);
    if kind == Some(&crate::runtime_api::AnswerKind::Response)
        && events::batch_succeeded(answer_body(run))
    {
        Ok(())
    } else {
        Err(format!(
            "{who}: expected a batch without failures, got {kind:?}: {}",
            answer_body(run)
        ))
    }
}

fn expect_count(messages: &[Message], count: usize, what: &str) -> Result<(), String> {
    if messages.len() == count {
        Ok(())
    } else {
        Err(format!(
            "{what}: {} messages, expected {count}",
            messages.len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_valid_and_distinct_per_series_and_run() {
        let numbers = [phone(0, 1), phone(1, 1), phone(2, 1), phone(1, 2)];
        assert_eq!(numbers[1], "+447912000001");
        for number in &numbers {
            assert!(
                session_rules::PhoneNumber::parse(number).is_ok(),
                "{number} should be a valid number"
            );
        }
        let distinct: std::collections::HashSet<_> = numbers.iter().collect();
        assert_eq!(distinct.len(), numbers.len());
    }
}
