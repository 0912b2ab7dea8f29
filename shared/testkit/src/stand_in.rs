//! A local HTTP server standing in for Viber, End User Messaging or a business's callback
//! endpoint: every request is read whole and handed to the test's `answer`, which records what
//! it needs and says how to reply.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::http::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When its headers arrived.
    pub arrived: Instant,
}

impl Seen {
    /// The body, as JSON (a panic in the stand-in otherwise).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// A header's value, when it is there and text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// How the stand-in answers one request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub body: String,
    /// How long it waits before answering.
    pub delay: Duration,
}

impl Answer {
    /// `status` with a body and no content type, at once.
    pub fn plain(status: u16, body: impl Into<String>) -> Self {
        Answer {
            status,
            content_type: None,
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// `status` with a JSON body (`application/json`), at once.
    pub fn json(status: u16, body: impl ToString) -> Self {
        Answer {
            content_type: Some("application/json"),
            ..Self::plain(status, body.to_string())
        }
    }

    pub fn with_content_type(self, content_type: &'static str) -> Self {
        Answer {
            content_type: Some(content_type),
            ..self
        }
    }

    pub fn after(self, delay: Duration) -> Self {
        Answer { delay, ..self }
    }
}

/// Starts a stand-in on a free local port; `answer` is called once per request, in the order
/// they are read.
pub async fn serve(answer: impl Fn(Seen) -> Answer + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let answer = answer.clone();
                async move {
                    let arrived = Instant::now();
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await.unwrap().to_bytes();
                    let reply = answer(Seen {
                        method: parts.method.to_string(),
                        path: parts.uri.path().to_owned(),
                        headers: parts.headers,
                        body,
                        arrived,
                    });
                    tokio::time::sleep(reply.delay).await;
                    let mut response = Response::builder().status(reply.status);
                    if let Some(content_type) = reply.content_type {
                        response = response.header("content-type", content_type);
                    }
                    Ok::<_, Infallible>(response.body(Full::new(Bytes::from(reply.body))).unwrap())
                }
            });
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}
