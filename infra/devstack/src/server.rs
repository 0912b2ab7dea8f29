//! The one local HTTP server: the functions on API Gateway's paths, the sandbox, the sink and
//! the local-only `/_dev` endpoints.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use vbm_platform::clock::OffsetClock;

use crate::emulator_proxy::EmulatorProxy;
use crate::faults;
use crate::gateway;
use crate::sandbox::Sandbox;
use crate::sink::Sink;

/// An HTTP-triggered function: the same `handle` the Lambda binary runs.
pub type HttpHandler =
    Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> + Send + Sync>;

/// Larger than the API's own 64 KiB limit, so the function (not this server) answers 413.
// 6 MiB: a campaign body (5 MiB at most) passes, as Lambda takes 6 MB.
const MAX_LOCAL_BODY: usize = 6 * 1024 * 1024;

pub struct Routes {
    pub send: HttpHandler,
    pub inbound: HttpHandler,
    pub status: HttpHandler,
    pub sandbox: Arc<Sandbox>,
    pub sink: Arc<Sink>,
    pub clock: Arc<OffsetClock>,
    pub ready: Arc<AtomicBool>,
    /// Between the functions and the emulator, when there is one.
    pub emulator: Option<Arc<EmulatorProxy>>,
    /// SMS failover: End User Messaging's stand-in.
    pub sms: Arc<crate::sms::SmsSandbox>,
}

pub type Reply = hyper::Response<Full<Bytes>>;

fn json_reply(status: StatusCode, value: &Value) -> Reply {
    let mut response = hyper::Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error_reply(status: StatusCode, code: &str, message: &str) -> Reply {
    json_reply(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// How long a client may take over one request: its headers, then its body. A slow or idle
/// client is cut off (408 for a body, a closed connection for headers) instead of holding a
/// task and a socket forever.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// Larger bodies get 413, before any byte of them is read when `Content-Length` says so.
    pub max_body: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            // hyper also applies this to a kept-alive connection waiting for its next request;
            // 30 s (hyper's own default) leaves the local clients' pools their reuse.
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            max_body: MAX_LOCAL_BODY,
        }
    }
}

pub async fn serve(listener: TcpListener, routes: Arc<Routes>) {
    serve_with(listener, ReadLimits::default(), move |parts, body, peer| {
        let routes = Arc::clone(&routes);
        async move { route(&routes, parts, body, peer).await }
    })
    .await
}

/// Accepts connections forever; each request's body is read within `limits` and handed to
/// `handle` whole.
pub async fn serve_with<F, Fut>(listener: TcpListener, limits: ReadLimits, handle: F)
where
    F: Fn(hyper::http::request::Parts, Bytes, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let handle = handle.clone();
                async move {
                    let (parts, body) = match read_request(request, &limits).await {
                        Ok(read) => read,
                        Err(reply) => return Ok::<_, Infallible>(reply),
                    };
                    Ok::<_, Infallible>(handle(parts, body, peer).await)
                }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
}

/// The request with its whole body: `413` at once for a `Content-Length` over the limit, `413`
/// when the body turns out longer, `408` when it does not arrive in time.
async fn read_request(
    request: hyper::Request<Incoming>,
    limits: &ReadLimits,
) -> Result<(hyper::http::request::Parts, Bytes), Reply> {
    let too_large = || {
        error_reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "body too large",
        )
    };
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limits.max_body as u64) {
        return Err(too_large());
    }
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(
        limits.body_timeout,
        Limited::new(body, limits.max_body).collect(),
    )
    .await
    {
        Ok(Ok(collected)) => Ok((parts, collected.to_bytes())),
        Ok(Err(_)) => Err(too_large()),
        Err(_) => Err(error_reply(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body did not arrive in time",
        )),
    }
}

async fn route(
    routes: &Routes,
    parts: hyper::http::request::Parts,
    body: Bytes,
    peer: SocketAddr,
) -> Reply {
    let path = parts.uri.path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // API Gateway's routes, and their path parameters.
    let (function, parameters): (Option<&HttpHandler>, Vec<(&str, &str)>) =
        match segments.as_slice() {
            ["v1", ..] => (Some(&routes.send), Vec::new()),
            ["viber", "inbound"] => (Some(&routes.inbound), Vec::new()),
            ["viber", "status"] => (Some(&routes.status), Vec::new()),
            ["viber", "inbound", secret] => (Some(&routes.inbound), vec![("secret", *secret)]),
            ["viber", "status", secret] => (Some(&routes.status), vec![("secret", *secret)]),
            _ => (None, Vec::new()),
        };
    if let Some(handler) = function {
        return match gateway::to_lambda(
            &parts.method,
            &parts.uri,
            &parts.headers,
            &body,
            peer,
            &parameters,
        ) {
            Ok(request) => gateway::from_lambda(handler(request).await),
            Err(e) => error_reply(StatusCode::BAD_REQUEST, "invalid_request", &e),
        };
    }
    match (&parts.method, segments.as_slice()) {
        (&Method::GET, ["_dev", "health"]) => {
            if routes.ready.load(Ordering::SeqCst) {
                json_reply(StatusCode::OK, &json!({"status": "ready"}))
            } else {
                json_reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"status": "starting"}),
                )
            }
        }
        (&Method::POST, ["_dev", "clock"]) => advance_clock(routes, &body),
        (&Method::GET, ["_dev", "clock"]) => clock_reply(routes),
        (&Method::POST, ["_dev", "emulator", "outage"]) => emulator_outage(routes, &body),
        (&Method::GET, ["_dev", "emulator"]) => emulator_reply(routes),
        // SMS failover: End User Messaging's stand-in (the SDK posts to the
        // endpoint's path, with or without a trailing slash).
        (&Method::POST, ["_sandbox", "sms"]) => {
            let target = parts
                .headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok());
            let reply = routes.sms.call(target, &body).await;
            let mut response = json_reply(
                StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK),
                &reply.body,
            );
            response.headers_mut().insert(
                "content-type",
                hyper::header::HeaderValue::from_static("application/x-amz-json-1.0"),
            );
            response
        }
        (&Method::GET, ["_sandbox", "sms", "sent"]) => {
            json_reply(StatusCode::OK, &routes.sms.sent().await)
        }
        (&Method::POST, ["_sandbox", "sms", "faults"]) => match routes.sms.faults(&body) {
            Ok(answer) => json_reply(StatusCode::OK, &answer),
            Err(message) => error_reply(StatusCode::BAD_REQUEST, "invalid_request", &message),
        },
        (&Method::POST, ["_sandbox", "viber", "send_message"]) => {
            let reply = routes.sandbox.send_message(&body).await;
            let mut response = json_reply(
                StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK),
                &Value::Null,
            );
            *response.body_mut() = Full::new(Bytes::from(reply.body));
            response
        }
        (&Method::GET, ["_sandbox", "viber", "sent"]) => {
            json_reply(StatusCode::OK, &routes.sandbox.sent().await)
        }
        (&Method::GET, ["_sandbox", "viber", "delivered"]) => {
            json_reply(StatusCode::OK, &routes.sandbox.delivered().await)
        }
        (&Method::GET, ["_sandbox", "viber", "stats"]) => {
            json_reply(StatusCode::OK, &routes.sandbox.stats().await)
        }
        (&Method::POST, ["_sandbox", "viber", "faults"]) => match faults::parse_viber(&body) {
            Ok(request) => json_reply(
                StatusCode::OK,
                &faults::apply(&routes.sandbox.faults, request, &body),
            ),
            Err(message) => error_reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                &message,
            ),
        },
        (&Method::POST, ["_sandbox", "viber", "user_message"]) => {
            match routes.sandbox.user_message(&body).await {
                Ok(answer) => json_reply(StatusCode::OK, &answer),
                Err(message) => error_reply(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    &message,
                ),
            }
        }
        (&Method::POST, ["_sandbox", "viber", "answer_list"]) => {
            match routes.sandbox.answer_list(&body).await {
                Ok(answer) => json_reply(StatusCode::OK, &answer),
                Err(message) => error_reply(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    &message,
                ),
            }
        }
        (&Method::POST, ["_sandbox", "viber", "services"]) => {
            match routes.sandbox.register_service(&body).await {
                Ok(answer) => json_reply(StatusCode::OK, &answer),
                Err(message) => error_reply(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    &message,
                ),
            }
        }
        (&Method::POST, ["_sandbox", "viber", "callback"]) => {
            match routes.sandbox.callback(&body).await {
                Ok(answer) => json_reply(StatusCode::OK, &answer),
                Err(message) => error_reply(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    &message,
                ),
            }
        }
        (&Method::POST, ["_sandbox", "business", business, "events"]) => {
            let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
            use vbm_events::signature::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
            let signed = match (
                header(ID_HEADER),
                header(TIMESTAMP_HEADER),
                header(SIGNATURE_HEADER),
            ) {
                (Some(id), Some(t), Some(signature)) => Some((id, t, signature)),
                _ => None,
            };
            let status = routes.sink.receive(business, signed, &body).await;
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_reply(code, &json!({"received": status == 200}))
        }
        (&Method::GET, ["_sandbox", "business", business, "events"]) => {
            json_reply(StatusCode::OK, &routes.sink.list(business).await)
        }
        (&Method::POST, ["_sandbox", "business", _, "fail_next"]) => {
            let n = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("count").and_then(Value::as_u64))
                .unwrap_or(1);
            let count = u32::try_from(n).unwrap_or(u32::MAX);
            // "The next N": instead of whatever was armed.
            routes.sink.faults.clear();
            routes
                .sink
                .faults
                .arm(faults::SinkFault::Error, Some(count), None);
            json_reply(StatusCode::OK, &json!({"fail_next": n}))
        }
        (&Method::POST, ["_sandbox", "business", _, "faults"]) => match faults::parse_sink(&body) {
            Ok(request) => json_reply(
                StatusCode::OK,
                &faults::apply(&routes.sink.faults, request, &body),
            ),
            Err(message) => error_reply(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                &message,
            ),
        },
        _ => error_reply(StatusCode::NOT_FOUND, "not_found", "no such route"),
    }
}

fn emulator_reply(routes: &Routes) -> Reply {
    match &routes.emulator {
        Some(proxy) => json_reply(
            StatusCode::OK,
            &json!({
                "down": proxy.is_down(),
                "connections_dropped": proxy.dropped(),
                "proxy": proxy.url(),
            }),
        ),
        None => error_reply(
            StatusCode::NOT_FOUND,
            "not_found",
            "no emulator in front of the functions (AWS_ENDPOINT_URL is not a local http URL)",
        ),
    }
}

/// `POST /_dev/emulator/outage {"seconds": S}`: the functions lose the emulator for S seconds
/// (0 ends an outage).
fn emulator_outage(routes: &Routes, body: &Bytes) -> Reply {
    let seconds = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("seconds").and_then(Value::as_f64))
        .filter(|s| (0.0..=3600.0).contains(s));
    match (seconds, &routes.emulator) {
        (Some(s), Some(proxy)) => {
            proxy.outage(Duration::from_secs_f64(s));
            emulator_reply(routes)
        }
        (None, _) => error_reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "expected {\"seconds\": S} with 0 <= S <= 3600",
        ),
        (Some(_), None) => emulator_reply(routes),
    }
}

fn clock_reply(routes: &Routes) -> Reply {
    use vbm_platform::clock::Clock;
    json_reply(
        StatusCode::OK,
        &json!({
            "offset_seconds": routes.clock.offset().as_secs(),
            "now": vbm_platform::time::rfc3339(routes.clock.now()),
        }),
    )
}

fn advance_clock(routes: &Routes, body: &Bytes) -> Reply {
    let seconds = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("advance_seconds").and_then(Value::as_u64));
    match seconds {
        Some(s) if s <= 10 * 365 * 86_400 => {
            routes.clock.advance(Duration::from_secs(s));
            clock_reply(routes)
        }
        _ => error_reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "expected {\"advance_seconds\": N} with 0 <= N <= 10 years",
        ),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    /// A server of `limits` answering every request with the length of its body.
    async fn server(limits: ReadLimits) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_with(
            listener,
            limits,
            |_, body: Bytes, _| async move { json_reply(StatusCode::OK, &json!({"read": body.len()})) },
        ));
        addr
    }

    fn quick() -> ReadLimits {
        ReadLimits {
            header_timeout: Duration::from_millis(300),
            body_timeout: Duration::from_millis(300),
            max_body: 1024,
        }
    }

    /// Everything the server sends until it closes the connection (bounded, so a server that
    /// never closes fails the test instead of hanging it).
    async fn until_closed(stream: &mut TcpStream) -> String {
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out));
        read.await
            .expect("the server kept the connection open")
            .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_cut_off() {
        let addr = server(quick()).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"POST /x HTTP/1.1\r\nHost: a\r\n")
            .await
            .unwrap();
        let answer = until_closed(&mut stream).await;
        assert!(!answer.contains("200 OK"), "{answer}");
    }

    #[tokio::test]
    async fn a_body_that_never_arrives_is_408() {
        let addr = server(quick()).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
            .await
            .unwrap();
        let answer = until_closed(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("request_timeout"), "{answer}");
    }

    #[tokio::test]
    async fn a_huge_content_length_is_413_before_any_body() {
        let addr = server(quick()).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // No body byte is ever sent: the answer can only come from the header.
        stream
            .write_all(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10737418240\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        tokio::time::timeout(Duration::from_secs(20), stream.read_exact(&mut head))
            .await
            .expect("no early answer")
            .unwrap();
        assert_eq!(&head, b"HTTP/1.1 413");
    }

    #[tokio::test]
    async fn a_prompt_request_is_served() {
        let addr = server(quick()).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
            )
            .await
            .unwrap();
        let answer = until_closed(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains(r#"{"read":3}"#), "{answer}");
    }
}
