//! One cold start: a fresh Runtime API stand-in, the program spawned with the environment
//! Lambda sets, and the instants that matter (spawn, first poll, event handed out, answer).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::runtime_api::{Answer, Invocation, RuntimeApi};

/// In a program's arguments, replaced by the Runtime API's address (for `curl`'s URL).
pub const RUNTIME_API: &str = "{AWS_LAMBDA_RUNTIME_API}";

/// How long one run may take before it counts as failed.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// A program to cold-start: a function's release binary, `curl` or the Python reference.
#[derive(Debug, Clone)]
pub struct Program {
    pub command: PathBuf,
    pub args: Vec<String>,
    /// Its own configuration (template.yaml's variables); the Lambda variables are added.
    pub env: Vec<(String, String)>,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: String,
    /// Whether it answers the event (`curl` only fetches it).
    pub answers: bool,
}

/// What one cold start measured.
#[derive(Debug, Clone)]
pub struct Run {
    /// Spawn to the first `GET …/invocation/next`.
    pub init: Duration,
    /// Event handed out to the answer posted (programs that answer).
    pub first_event: Option<Duration>,
    pub answer: Option<Answer>,
}

/// The variables Lambda sets for a function (those a runtime or the SDK read), plus the
/// emulator's endpoint and test credentials.
pub fn lambda_env(runtime_api: &str, function_name: &str) -> Vec<(String, String)> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", function_name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function_name}"),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/21/[$LATEST]0123456789abcdef".to_owned(),
        ),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_REGION", crate::init::world::REGION.to_owned()),
        ("AWS_DEFAULT_REGION", crate::init::world::REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_SESSION_TOKEN", "test".to_owned()),
        ("AWS_ENDPOINT_URL", endpoint),
        ("_HANDLER", "bootstrap".to_owned()),
        ("LAMBDA_TASK_ROOT", "/var/task".to_owned()),
        ("LANG", "en_US.UTF-8".to_owned()),
        ("TZ", ":UTC".to_owned()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Cold-starts `program` once and hands it `payload`.
pub async fn cold_start(
    program: &Program,
    request_id: &str,
    payload: String,
) -> Result<Run, String> {
    let api = RuntimeApi::start(Invocation {
        request_id: request_id.to_owned(),
        function_arn: format!(
            "arn:aws:lambda:{}:123456789012:function:{}",
            crate::init::world::REGION,
            program.function_name
        ),
        timeout: Duration::from_secs(10),
        payload,
    })
    .await
    .map_err(|e| format!("starting the Runtime API stand-in: {e}"))?;
    let mut command = Command::new(&program.command);
    command
        .args(
            program
                .args
                .iter()
                .map(|arg| arg.replace(RUNTIME_API, &api.address())),
        )
        .env_clear()
        .envs(lambda_env(&api.address(), &program.function_name))
        .envs(program.env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let spawned = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", program.command.display()))?;
    let observed = if program.answers {
        api.wait_for_answer(RUN_LIMIT).await
    } else {
        api.wait_for_poll(RUN_LIMIT).await
    };
    // Only this run's own child, by its handle.
    let _ = child.start_kill();
    let output = collect_output(&mut child).await;
    let _ = child.wait().await;
    let failed = |what: &str| {
        format!(
            "{}: {what}; its output:\n{}",
            program.command.display(),
            tail(&output, 2000)
        )
    };
    let Some(first_poll) = observed.first_poll else {
        return Err(failed("never asked the Runtime API for an event"));
    };
    let first_event = match (&observed.answer, observed.handed_out) {
        (Some(answer), Some(handed_out)) => Some(answer.at.saturating_duration_since(handed_out)),
        _ if program.answers => return Err(failed("never answered its event")),
        _ => None,
    };
    Ok(Run {
        init: first_poll.saturating_duration_since(spawned),
        first_event,
        answer: observed.answer,
    })
}

async fn collect_output(child: &mut tokio::process::Child) -> String {
    let mut text = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_end(&mut text).await;
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_end(&mut text).await;
    }
    String::from_utf8_lossy(&text).into_owned()
}

fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
