//! The local server (`vbm-dev`, release build) as a process of its own, on a free port against a
//! fresh table and queues on the emulator, so its memory and CPU can be read from `/proc`.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use vbm_testkit::TestEnv;

use crate::in_process::Error;

/// The Viber callback URL secret of the local stack (`vbm_dev::DEV_VIBER_SECRET`).
pub const DEV_VIBER_SECRET: &str = "dev-viber-secret";
/// The demo business's Viber service id.
pub const DEMO_SERVICE_ID: u64 = 1000;

/// Entries the sandbox and the sink keep of each log in the measured runs: few enough that the
/// logs are full within a soak's warm-up.
pub const SANDBOX_KEEP: usize = 100;

/// A running server; stopped when dropped.
pub struct Server {
    child: Child,
    pid: i32,
    pub base_url: String,
    pub api_key: String,
    /// Log lines at WARN and at ERROR the server printed after its banner.
    pub warnings: Arc<AtomicUsize>,
    pub errors: Arc<AtomicUsize>,
}

/// Memory and CPU of the server process.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Resident set size now, and its peak so far (`VmRSS`, `VmHWM`), in KiB.
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
    /// User + system CPU time so far.
    pub cpu: Duration,
}

/// `target/release/vbm-dev`: beside this program, or `VBM_DEV_BIN`.
fn server_binary() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os("VBM_DEV_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .ok_or("this program has no directory")?
        .join("vbm-dev");
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: `cargo build --release -p vbm-dev` first (or set VBM_DEV_BIN)",
            path.display()
        )
        .into())
    }
}

fn free_port() -> Result<u16, Error> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl Server {
    /// Creates a table and queues (needs `AWS_ENDPOINT_URL`: run under
    /// `infra/scripts/with-moto.sh`), starts the server as `make dev` would, reads the demo
    /// business's API key from its banner and waits until `/_dev/health` answers.
    pub async fn start() -> Result<Self, Error> {
        let env = TestEnv::fresh();
        let port = free_port()?;
        let mut child = Command::new(server_binary()?)
            .env("VBM_PORT", port.to_string())
            .env("VBM_TABLE", &env.table)
            .env("OUTBOUND_QUEUE_URL", &env.outbound_queue_url)
            .env("EVENTS_QUEUE_URL", &env.events_queue_url)
            .env("TIMERS_GROUP", &env.timers_group)
            .env("CAMPAIGN_QUEUE_URL", &env.campaign_queue_url)
            .env("SESSION_TIMERS_QUEUE_URL", &env.session_timers_queue_url)
            .env("FAILOVER_QUEUE_URL", &env.failover_queue_url)
            .env("UPLOADS_BUCKET", &env.uploads_bucket)
            .env("RUST_LOG", "warn")
            // The sandbox's and the sink's logs keep only their newest entries: what is measured
            // is the server, not what the test doubles remember of every message.
            .env("VBM_SANDBOX_KEEP", SANDBOX_KEEP.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .ok_or("the server exited at once")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let api_key = loop {
            let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
                .await
                .map_err(|_| "no banner from the server within 60 s")??
                .ok_or("the server exited before its banner")?;
            if let Some(key) = line.trim().strip_prefix("API key:") {
                break key.trim().to_owned();
            }
        };
        // Keep reading, so the pipe never fills; count what went wrong.
        let (warnings, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (w, e) = (warnings.clone(), errors.clone());
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains(r#""level":"ERROR""#) {
                    e.fetch_add(1, Ordering::Relaxed);
                    eprintln!("server: {line}");
                } else if line.contains(r#""level":"WARN""#) {
                    w.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let server = Self {
            child,
            pid,
            base_url: format!("http://127.0.0.1:{port}"),
            api_key,
            warnings,
            errors,
        };
        server.wait_healthy(deadline).await?;
        Ok(server)
    }

    async fn wait_healthy(&self, deadline: Instant) -> Result<(), Error> {
        let http = reqwest::Client::new();
        let url = format!("{}/_dev/health", self.base_url);
        loop {
            if let Ok(response) = http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("the server did not become healthy within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Memory and CPU now.
    pub fn usage(&self) -> Result<Usage, Error> {
        usage_of(self.pid)
    }

    /// Samples [`Usage`] every `every` until dropped.
    pub fn sampler(&self, every: Duration) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (pid, shared, started) = (self.pid, samples.clone(), Instant::now());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let (Ok(usage), Ok(mut samples)) = (usage_of(pid), shared.lock()) {
                    samples.push((started.elapsed(), usage));
                }
            }
        });
        Sampler { samples, task }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Memory and CPU of process `pid`, from `/proc/<pid>/status` and `/proc/<pid>/stat`.
pub fn usage_of(pid: i32) -> Result<Usage, Error> {
    let process = procfs::process::Process::new(pid)?;
    let status = process.status()?;
    let stat = process.stat()?;
    let ticks = procfs::ticks_per_second().max(1);
    let cpu_ticks = stat.utime + stat.stime;
    Ok(Usage {
        rss_kib: status.vmrss.ok_or("no VmRSS")?,
        peak_rss_kib: status.vmhwm.ok_or("no VmHWM")?,
        cpu: Duration::from_secs_f64(cpu_ticks as f64 / ticks as f64),
    })
}

/// [`Usage`] samples with the time since sampling began.
pub struct Sampler {
    samples: Arc<Mutex<Vec<(Duration, Usage)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn samples(&self) -> Vec<(Duration, Usage)> {
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs a bench's `run` on a new runtime, raced against [`interrupted`]: an interruption drops
/// the run (and its [`Server`]) and is an error, as is a runtime that cannot start.
pub fn run_interruptible<T>(run: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        tokio::select! {
            outcome = run => outcome,
            () = interrupted() => Err("interrupted; the server was stopped".into()),
        }
    })
}

/// Resolves on Ctrl-C or SIGTERM (what `with-moto.sh` sends when it is stopped). A bench that
/// races its run against this drops the run, and with it the [`Server`], whose process is then
/// killed rather than left polling an emulator that is gone.
pub async fn interrupted() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that ends answers its own outcome, success or error.
    #[test]
    fn an_uninterrupted_run_answers_its_outcome() {
        assert_eq!(run_interruptible(async { Ok(3) }).unwrap(), 3);
        let failed = run_interruptible::<()>(async { Err("no server".into()) });
        assert_eq!(failed.unwrap_err().to_string(), "no server");
    }
}
