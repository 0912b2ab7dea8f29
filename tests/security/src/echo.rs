//! A local HTTP endpoint that answers every request with what [`Answer`] says, given the
//! request it received: a Viber or a business endpoint that fails, and echoes back headers and
//! body (the worst a remote can do to our logs).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request as the endpoint received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    /// Every header and the body, as text: what an echoing endpoint sends back.
    pub fn echo(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        format!(
            "{}\n\n{}",
            headers.join("\n"),
            String::from_utf8_lossy(&self.body)
        )
    }
}

/// HTTP status and body to answer a request with.
pub type Answer = Arc<dyn Fn(&Received) -> (u16, String) + Send + Sync>;

pub struct Echo {
    /// `http://127.0.0.1:{port}`.
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Echo {
    pub async fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free local port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let recorder = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (answer, recorder) = (answer.clone(), recorder.clone());
                let service = service_fn(move |request: Request<Incoming>| {
                    let (answer, recorder) = (answer.clone(), recorder.clone());
                    async move {
                        let path = request.uri().path().to_owned();
                        let headers = request
                            .headers()
                            .iter()
                            .map(|(n, v)| {
                                (n.to_string(), String::from_utf8_lossy(v.as_bytes()).into())
                            })
                            .collect();
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes().to_vec())
                            .unwrap_or_default();
                        let received = Received {
                            path,
                            headers,
                            body,
                        };
                        let (status, body) = answer(&received);
                        if let Ok(mut all) = recorder.lock() {
                            all.push(received);
                        }
                        let response = Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::from(body)))
                            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, received }
    }

    /// What it has received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}
