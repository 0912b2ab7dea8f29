//! A stand-in for the Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`), enough for one cold start:
//! it notes when the process first asks for work, hands out one invocation with the headers
//! Lambda sends, and notes when and how the process answers it.
//!
//! Paths and headers as documented in "Using the Lambda runtime API for custom runtimes":
//! `GET /2018-06-01/runtime/invocation/next`, `POST …/invocation/{id}/response`,
//! `POST …/invocation/{id}/error`, `POST /2018-06-01/runtime/init/error`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";

/// The one event a run hands out.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub function_arn: String,
    /// How long the function may take (`Lambda-Runtime-Deadline-Ms` is now plus this).
    pub timeout: Duration,
    pub payload: String,
}

/// How the process answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerKind {
    Response,
    Error,
    InitError,
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub kind: AnswerKind,
    pub at: Instant,
    pub body: String,
}

#[derive(Debug, Default)]
struct State {
    /// When the first `GET …/next` arrived: the end of init.
    first_poll: Option<Instant>,
    /// When the event was handed out.
    handed_out: Option<Instant>,
    answer: Option<Answer>,
}

/// One run's Runtime API on a free 127.0.0.1 port. Dropping it stops the server.
pub struct RuntimeApi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    answered: Arc<Notify>,
    server: JoinHandle<()>,
}

/// What one run observed.
#[derive(Debug, Clone)]
pub struct Observed {
    pub first_poll: Option<Instant>,
    pub handed_out: Option<Instant>,
    pub answer: Option<Answer>,
}

impl RuntimeApi {
    pub async fn start(invocation: Invocation) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let answered = Arc::new(Notify::new());
        let invocation = Arc::new(invocation);
        let (shared, notify) = (state.clone(), answered.clone());
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (state, notify, invocation) =
                    (shared.clone(), notify.clone(), invocation.clone());
                let service = service_fn(move |request: Request<Incoming>| {
                    let (state, notify, invocation) =
                        (state.clone(), notify.clone(), invocation.clone());
                    async move {
                        Ok::<_, Infallible>(serve(request, &state, &notify, &invocation).await)
                    }
                });
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            state,
            answered,
            server,
        })
    }

    /// `AWS_LAMBDA_RUNTIME_API`: host and port, no scheme.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Waits until the process answers the event (or fails init), at most `limit`.
    pub async fn wait_for_answer(&self, limit: Duration) -> Observed {
        let _ = tokio::time::timeout(limit, async {
            loop {
                let notified = self.answered.notified();
                if self.observed().answer.is_some() {
                    return;
                }
                notified.await;
            }
        })
        .await;
        self.observed()
    }

    /// Waits until the process first asks for work, at most `limit` (for clients that never
    /// answer, like `curl`).
    pub async fn wait_for_poll(&self, limit: Duration) -> Observed {
        let deadline = Instant::now() + limit;
        while self.observed().first_poll.is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.observed()
    }

    pub fn observed(&self) -> Observed {
        let state = lock(&self.state);
        Observed {
            first_poll: state.first_poll,
            handed_out: state.handed_out,
            answer: state.answer.clone(),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // A panic while holding this lock cannot leave the plain fields half-written.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn serve(
    request: Request<Incoming>,
    state: &Mutex<State>,
    answered: &Notify,
    invocation: &Invocation,
) -> Response<Full<Bytes>> {
    let arrived = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if method == Method::GET && path == NEXT {
        let first = {
            let mut state = lock(state);
            state.first_poll.get_or_insert(arrived);
            state.handed_out.is_none()
        };
        if !first {
            // One event per process: later polls wait until the run kills the process, as a
            // frozen sandbox would.
            std::future::pending::<()>().await;
        }
        let response = next_response(invocation);
        lock(state).handed_out = Some(Instant::now());
        return response;
    }
    let kind = if method == Method::POST && path == INIT_ERROR {
        Some(AnswerKind::InitError)
    } else if method == Method::POST {
        match path
            .strip_prefix(INVOCATION)
            .map(|rest| rest.split_once('/'))
        {
            Some(Some((id, "response"))) if id == invocation.request_id => {
                Some(AnswerKind::Response)
            }
            Some(Some((id, "error"))) if id == invocation.request_id => Some(AnswerKind::Error),
            _ => None,
        }
    } else {
        None
    };
    let Some(kind) = kind else {
        return plain(StatusCode::NOT_FOUND, "");
    };
    let body = match request.into_body().collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(e) => format!("<body unreadable: {e}>"),
    };
    lock(state).answer.get_or_insert(Answer {
        kind,
        at: arrived,
        body,
    });
    answered.notify_waiters();
    plain(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
}

/// The answer to `GET …/next`: the event and the headers Lambda sets.
fn next_response(invocation: &Invocation) -> Response<Full<Bytes>> {
    let deadline = SystemTime::now()
        .checked_add(invocation.timeout)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .header("Lambda-Runtime-Aws-Request-Id", &invocation.request_id)
        .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
        .header(
            "Lambda-Runtime-Invoked-Function-Arn",
            &invocation.function_arn,
        )
        .header(
            "Lambda-Runtime-Trace-Id",
            format!(
                "Root=1-{:08x}-{};Parent={};Sampled=0",
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                &hex24(&invocation.request_id),
                &hex24(&invocation.request_id)[..16],
            ),
        )
        .body(Full::new(Bytes::from(invocation.payload.clone())))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "bad invocation headers"))
}

/// 24 hex digits derived from the request id (X-Ray ids are hex; any will do here).
fn hex24(seed: &str) -> String {
    let mut out = String::with_capacity(24);
    for byte in seed.bytes().cycle().take(12) {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation() -> Invocation {
        Invocation {
            request_id: "req-1".into(),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:send".into(),
            timeout: Duration::from_secs(10),
            payload: r#"{"hello":"world"}"#.into(),
        }
    }

    async fn call(
        api: &RuntimeApi,
        method: &str,
        path: &str,
        body: &str,
    ) -> (u16, hyper::HeaderMap, String) {
        let stream = tokio::net::TcpStream::connect(api.addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", api.address())
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn hands_out_the_event_with_lambdas_headers_and_records_the_answer() {
        let api = RuntimeApi::start(invocation()).await.unwrap();
        assert!(api.observed().first_poll.is_none());
        let (status, headers, body) = call(&api, "GET", NEXT, "").await;
        assert_eq!(status, 200);
        assert_eq!(body, r#"{"hello":"world"}"#);
        assert_eq!(headers["Lambda-Runtime-Aws-Request-Id"], "req-1");
        assert_eq!(
            headers["Lambda-Runtime-Invoked-Function-Arn"],
            "arn:aws:lambda:us-east-1:123456789012:function:send"
        );
        let deadline: u128 = headers["Lambda-Runtime-Deadline-Ms"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(
            deadline > now && deadline <= now + 10_000,
            "{deadline} vs {now}"
        );
        assert!(
            headers["Lambda-Runtime-Trace-Id"]
                .to_str()
                .unwrap()
                .starts_with("Root=1-")
        );
        // An answer for another request id is not this run's answer.
        let (status, _, _) = call(&api, "POST", &format!("{INVOCATION}other/response"), "x").await;
        assert_eq!(status, 404);
        let (status, _, _) =
            call(&api, "POST", &format!("{INVOCATION}req-1/response"), "done").await;
        assert_eq!(status, 202);
        let observed = api.wait_for_answer(Duration::from_secs(5)).await;
        let answer = observed.answer.unwrap();
        assert_eq!(answer.kind, AnswerKind::Response);
        assert_eq!(answer.body, "done");
        let (first_poll, handed_out) = (observed.first_poll.unwrap(), observed.handed_out.unwrap());
        assert!(first_poll <= handed_out && handed_out <= answer.at);
    }

    #[tokio::test]
    async fn an_init_error_is_an_answer() {
        let api = RuntimeApi::start(invocation()).await.unwrap();
        let (status, _, _) = call(&api, "POST", INIT_ERROR, "boom").await;
        assert_eq!(status, 202);
        let observed = api.wait_for_answer(Duration::from_secs(5)).await;
        assert_eq!(observed.answer.unwrap().kind, AnswerKind::InitError);
        assert!(observed.first_poll.is_none());
    }
}
