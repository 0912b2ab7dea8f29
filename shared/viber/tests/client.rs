//! `ViberClient` against a local HTTP server playing Viber: it records what it receives and
//! answers from a script.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use session_rules::{
    Language, Limits, OutboundMessage, PhoneNumber, SessionContent, Template, TemplateCategory,
    TemplateId, TemplateParams, Text, TrackingData, Ttl,
};
use tokio::net::TcpListener;
use viber::{SendError, SendMessage, ViberClient, ViberStatus, seq_for};

/// One scripted answer.
struct Reply {
    status: u16,
    body: &'static str,
    delay: Duration,
}

fn reply(status: u16, body: &'static str) -> Reply {
    Reply {
        status,
        body,
        delay: Duration::ZERO,
    }
}

struct Received {
    method: String,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the client sent JSON")
    }
}

struct FakeViber {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl FakeViber {
    async fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let received = Arc::new(Mutex::new(Vec::new()));
        let recorder = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let script = script.clone();
                let recorder = recorder.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let script = script.clone();
                    let recorder = recorder.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        recorder.lock().unwrap().push(Received {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_owned(),
                            headers: parts.headers,
                            body,
                        });
                        let next = script.lock().unwrap().pop_front();
                        let next = next.unwrap_or(reply(599, "script exhausted"));
                        tokio::time::sleep(next.delay).await;
                        let response = Response::builder()
                            .status(next.status)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(next.body.as_bytes())))
                            .unwrap();
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
        Self { addr, received }
    }

    /// A client for this server, under a path prefix as Viber's real base URL has one.
    fn client(&self, timeout: Duration) -> ViberClient {
        ViberClient::new(
            &format!("http://{}/vibersrvc/1/", self.addr),
            Some("sandbox-token".into()),
            timeout,
        )
        .unwrap()
    }

    fn received(&self) -> std::sync::MutexGuard<'_, Vec<Received>> {
        self.received.lock().unwrap()
    }
}

fn to() -> PhoneNumber {
    PhoneNumber::parse("+380501234567").unwrap()
}

fn ttl() -> Ttl {
    Ttl::parse_seconds(86_400, &Limits::default()).unwrap()
}

fn session_text() -> SendMessage {
    let message = OutboundMessage::Session(SessionContent::Text(
        Text::parse("text", "Your order #42 is ready 🎉").unwrap(),
    ));
    let tracking = TrackingData::parse("tracking_data", "order-42").unwrap();
    SendMessage::build(
        1234,
        seq_for("01J0MSG"),
        &to(),
        &message,
        ttl(),
        Some(&tracking),
        None,
    )
    .unwrap()
}

const SLOW: Duration = Duration::from_secs(5);
const PATIENT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn session_message_goes_out_as_viber_expects_and_the_answer_is_read() {
    let viber = FakeViber::start(vec![reply(
        200,
        r#"{"status":0,"seq":1,"message_token":5379697806260881548,"session_id":"7888877812345678901","billing_status":2}"#,
    )])
    .await;
    let answer = viber
        .client(PATIENT)
        .send_message(&session_text())
        .await
        .unwrap();
    assert!(answer.is_success());
    assert_eq!(answer.status, ViberStatus::SRVC_SUCCESS);
    assert_eq!(answer.message_token.as_deref(), Some("5379697806260881548"));
    assert_eq!(answer.session_id.as_deref(), Some("7888877812345678901"));
    assert_eq!(answer.seq, Some(1));

    let received = viber.received();
    assert_eq!(received.len(), 1);
    let req = &received[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/vibersrvc/1/send_message");
    assert_eq!(req.headers["content-type"], "application/json");
    assert_eq!(req.headers["x-viber-auth-token"], "sandbox-token");
    let v = req.json();
    assert_eq!(v["service_id"], json!(1234));
    assert_eq!(v["dest"], json!("380501234567"));
    assert_eq!(v["seq"], json!(seq_for("01J0MSG")));
    assert_eq!(v["label"], json!("transaction"));
    assert_eq!(v["type"], json!(306));
    assert_eq!(v["ttl"], json!(86_400));
    assert_eq!(
        v["message"],
        json!({"#txt": "Your order #42 is ready 🎉", "#tracking_data": "order-42"})
    );
    assert_eq!(v.as_object().unwrap().len(), 7);
}

#[tokio::test]
async fn template_message_goes_out_with_template_fields() {
    let viber = FakeViber::start(vec![reply(
        200,
        r#"{"status":0,"seq":2,"message_token":"tok-2"}"#,
    )])
    .await;
    let template = Template::parse(
        TemplateId::parse("otp_ru").unwrap(),
        Language::parse("ru").unwrap(),
        TemplateCategory::Transactional,
        true,
        "Ваш код {{code}}",
    )
    .unwrap();
    let raw: BTreeMap<String, String> = [("code".to_owned(), "1234".to_owned())].into();
    let params = TemplateParams::fill(&template, &raw).unwrap();
    let message = OutboundMessage::Template {
        id: template.id().clone(),
        params: raw,
        lang: None,
    };
    let req = SendMessage::build(
        1234,
        2,
        &PhoneNumber::parse("+79123456789").unwrap(),
        &message,
        ttl(),
        None,
        Some((&template, &params)),
    )
    .unwrap();
    let answer = viber.client(PATIENT).send_message(&req).await.unwrap();
    assert!(answer.is_success());
    assert_eq!(answer.message_token.as_deref(), Some("tok-2"));
    assert_eq!(answer.session_id, None);

    let v = viber.received()[0].json();
    assert_eq!(v["service_id"], json!(1234));
    assert_eq!(v["dest"], json!("79123456789"));
    assert_eq!(v["seq"], json!(2));
    assert_eq!(v["label"], json!("transaction"));
    // A template reaches all devices unless registered for smartphones only: 1702.
    assert_eq!(v["type"], json!(1702));
    assert_eq!(v["ttl"], json!(86_400));
    assert_eq!(v["templateId"], json!("otp_ru"));
    assert_eq!(v["templateLang"], json!("ru"));
    assert_eq!(v["templateParams"], json!({"code": "1234"}));
    assert_eq!(v.get("message"), None);
    assert_eq!(v.as_object().unwrap().len(), 9);
}

#[tokio::test]
async fn refusals_come_back_as_answers_over_one_pooled_client() {
    let viber = FakeViber::start(vec![
        reply(200, r#"{"status":8,"seq":1}"#),
        reply(200, r#"{"status":21,"seq":1}"#),
        reply(200, r#"{"status":7,"seq":1}"#),
    ])
    .await;
    let client = viber.client(PATIENT);
    let blocked = client.send_message(&session_text()).await.unwrap();
    assert_eq!(blocked.status, ViberStatus::SRVC_USER_BLOCKED);
    assert_eq!(blocked.status.name(), "SRVC_USER_BLOCKED");
    assert!(!blocked.is_success());
    assert!(!blocked.status.retryable());
    assert_eq!(blocked.message_token, None);

    let wait = client.send_message(&session_text()).await.unwrap();
    assert_eq!(wait.status, ViberStatus::SRVC_WAIT_FOR_USER_RESPONSE);
    assert!(!wait.status.retryable());

    let viber_timeout = client.send_message(&session_text()).await.unwrap();
    assert!(viber_timeout.status.retryable());
    assert_eq!(viber.received().len(), 3);
}

#[tokio::test]
async fn http_500_is_a_retryable_error() {
    let viber = FakeViber::start(vec![reply(500, "internal error")]).await;
    let err = viber
        .client(PATIENT)
        .send_message(&session_text())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SendError::Http { status: 500, body } if body == "internal error"),
        "{err}"
    );
    assert!(err.retryable());
}

#[tokio::test]
async fn http_429_is_a_retryable_error() {
    let viber = FakeViber::start(vec![reply(429, "")]).await;
    let err = viber
        .client(PATIENT)
        .send_message(&session_text())
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Http { status: 429, .. }), "{err}");
    assert!(err.retryable());
}

#[tokio::test]
async fn http_200_with_garbage_is_a_retryable_error() {
    let viber = FakeViber::start(vec![reply(200, "<html>upstream hiccup</html>")]).await;
    let err = viber
        .client(PATIENT)
        .send_message(&session_text())
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::InvalidAnswer(_)), "{err}");
    assert!(err.retryable());
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_a_retryable_timeout() {
    let viber = FakeViber::start(vec![Reply {
        status: 200,
        body: r#"{"status":0,"seq":1,"message_token":"late"}"#,
        delay: SLOW,
    }])
    .await;
    let started = std::time::Instant::now();
    let err = viber
        .client(Duration::from_millis(300))
        .send_message(&session_text())
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Timeout), "{err}");
    assert!(err.retryable());
    assert!(started.elapsed() < SLOW, "the client gave up on time");
}

#[tokio::test]
async fn http_400_is_not_retryable() {
    let viber = FakeViber::start(vec![reply(400, r#"{"error":"bad request"}"#)]).await;
    let err = viber
        .client(PATIENT)
        .send_message(&session_text())
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Http { status: 400, .. }), "{err}");
    assert!(!err.retryable());
}

#[tokio::test]
async fn nobody_listening_is_a_retryable_network_error() {
    // A port that was free a moment ago.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let client = ViberClient::new(&format!("http://{addr}"), None, PATIENT).unwrap();
    let err = client.send_message(&session_text()).await.unwrap_err();
    assert!(matches!(err, SendError::Network(_)), "{err}");
    assert!(err.retryable());
}
