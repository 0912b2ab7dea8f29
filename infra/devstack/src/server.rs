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
use hyper_util::rt::TokioIo;
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
const MAX_LOCAL_BODY: usize = 1024 * 1024;

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
}

type Reply = hyper::Response<Full<Bytes>>;

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

pub async fn serve(listener: TcpListener, routes: Arc<Routes>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let routes = Arc::clone(&routes);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let routes = Arc::clone(&routes);
                async move { Ok::<_, Infallible>(route(&routes, request, peer).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
}

async fn route(routes: &Routes, request: hyper::Request<Incoming>, peer: SocketAddr) -> Reply {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_LOCAL_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return error_reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "body too large",
            );
        }
    };
    let path = parts.uri.path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let function = match segments.as_slice() {
        ["v1", ..] => Some(&routes.send),
        ["viber", "inbound"] => Some(&routes.inbound),
        ["viber", "status"] => Some(&routes.status),
        _ => None,
    };
    if let Some(handler) = function {
        return match gateway::to_lambda(&parts.method, &parts.uri, &parts.headers, &body, peer) {
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
            let signature = parts
                .headers
                .get(vbm_events::signature::HEADER)
                .and_then(|v| v.to_str().ok());
            let status = routes.sink.receive(business, signature, &body).await;
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
