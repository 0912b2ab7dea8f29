//! Viber and a business's callback endpoint, as far as the in-process benches need them: one
//! local HTTP server that accepts every `send_message` (status 0, a fresh token) and every event.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

#[derive(Debug, Default)]
struct Seen {
    tokens: Vec<u64>,
    events: usize,
}

pub struct StandIn {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
}

/// The first token handed out: far from anything a test would pick.
const FIRST_TOKEN: u64 = 7_000_000_000_000_000_000;

impl StandIn {
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = shared.clone();
                let service = service_fn(move |request: Request<Incoming>| {
                    let seen = seen.clone();
                    async move { Ok::<_, Infallible>(answer(request, &seen).await) }
                });
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, seen })
    }

    /// `VIBER_API_URL` for `dispatch`.
    pub fn viber_url(&self) -> String {
        format!("http://{}/viber", self.addr)
    }

    /// A business callback URL.
    pub fn events_url(&self) -> String {
        format!("http://{}/events", self.addr)
    }

    /// The token of the last message accepted.
    pub fn last_token(&self) -> Option<u64> {
        self.seen.lock().ok()?.tokens.last().copied()
    }

    pub fn events_received(&self) -> usize {
        self.seen.lock().map(|s| s.events).unwrap_or(0)
    }
}

async fn answer(request: Request<Incoming>, seen: &Mutex<Seen>) -> Response<Full<Bytes>> {
    let is_send = request.uri().path().ends_with("/send_message");
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return reply(400, json!({})),
    };
    let Ok(mut seen) = seen.lock() else {
        return reply(500, json!({}));
    };
    if !is_send {
        seen.events += 1;
        return reply(200, json!({}));
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let token = FIRST_TOKEN + seen.tokens.len() as u64;
    seen.tokens.push(token);
    reply(
        200,
        json!({"status": 0, "status_message": "SRVC_SUCCESS", "seq": request["seq"],
               "message_token": token, "session_id": format!("s-{token}")}),
    )
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}
