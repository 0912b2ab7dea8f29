use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::http::HeaderMap;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use relay::reader::StreamReader;
use send::App;
use serde_json::Value;
use session_rules::{Limits, PhoneNumber};
use vbm_platform::clock::{Clock, SystemClock};
use vbm_queue::OutboundQueue;
use vbm_store::{Business, BusinessId, NewBusiness, Retention, Store};
use vbm_testkit::TestEnv;

pub const CALLER_IP: &str = "203.0.113.10";
/// Every request of these tests gets a Lambda context with a request id `req-<n>`.
pub const REQUEST_ID_PREFIX: &str = "req-";
static REQUESTS: AtomicUsize = AtomicUsize::new(0);
pub const UK: &str = "+447911123456";

/// One answer, decoded.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {}",
            self.body
        );
        assert_eq!(self.headers["content-type"], "application/json");
        assert!(self.body["error"]["message"].is_string());
        // The id a business quotes: in the body and the header, and the invocation's own.
        let id = self.headers["x-request-id"].to_str().unwrap();
        assert!(id.starts_with(REQUEST_ID_PREFIX), "{id}");
        assert_eq!(self.body["error"]["request_id"], id, "{}", self.body);
        self
    }

    pub fn message_id(&self) -> String {
        self.body["message_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// DynamoDB calls made through the harness's client (the app's store uses it too).
#[derive(Debug, Default)]
pub struct Calls {
    pub transact_writes: AtomicUsize,
    pub get_items: AtomicUsize,
    pub other: AtomicUsize,
    /// HTTP attempts, SDK retries included.
    pub attempts: AtomicUsize,
}

impl Calls {
    pub fn snapshot(&self) -> [usize; 4] {
        [
            self.transact_writes.load(Ordering::SeqCst),
            self.get_items.load(Ordering::SeqCst),
            self.other.load(Ordering::SeqCst),
            self.attempts.load(Ordering::SeqCst),
        ]
    }
}

#[derive(Debug, Clone)]
struct Counter(Arc<Calls>);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "call-counter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let counter = if input.downcast_ref::<TransactWriteItemsInput>().is_some() {
            &self.0.transact_writes
        } else if input.downcast_ref::<GetItemInput>().is_some() {
            &self.0.get_items
        } else {
            &self.0.other
        };
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.attempts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

pub struct Harness {
    pub calls: Arc<Calls>,
    pub env: TestEnv,
    pub app: Arc<App>,
    pub business: Business,
    pub key: String,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The outbox as Lambda runs it: the table's stream read into `relay`.
    pub relay: relay::App,
    pub stream: tokio::sync::Mutex<StreamReader>,
}

pub fn phone(p: &str) -> PhoneNumber {
    PhoneNumber::parse(p).unwrap()
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock)).await
    }

    pub async fn with_clock(clock: Arc<dyn Clock>) -> Self {
        // EMF metric lines go straight to stdout, past the test harness's capture.
        vbm_platform::metrics::set_enabled(false);
        let env = TestEnv::fresh();
        let calls = Arc::new(Calls::default());
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&env.sdk_config().await)
                .interceptor(Counter(calls.clone()))
                .build(),
        );
        let sqs = env.sqs().await;
        let app = App::new(store(&env, &dynamodb), clock);
        let relay = relay::App::new(OutboundQueue::new(sqs.clone(), &env.outbound_queue_url));
        let stream =
            StreamReader::for_table(&env.dynamodb().await, env.streams().await, &env.table)
                .await
                .unwrap();
        let (business, key) = app
            .store()
            .businesses()
            .create_business(&NewBusiness {
                id: BusinessId::parse("acme").unwrap(),
                service_id: 1001,
                callback_url: None,
                allow_cidrs: vec![],
            })
            .await
            .unwrap();
        Self {
            calls,
            env,
            app: Arc::new(app),
            business,
            key: key.expose().to_owned(),
            sqs,
            dynamodb,
            relay,
            stream: tokio::sync::Mutex::new(stream),
        }
    }

    /// Opts this harness's business in to free-form transactional content (Viber's legacy
    /// types). Before the first call: the app remembers a business for `auth::CACHE_TTL`.
    pub async fn allow_legacy_transactional(&self) {
        self.store()
            .businesses()
            .set_legacy_transactional(&self.business.id, true)
            .await
            .unwrap();
    }

    /// Another app over the same table (another container, nothing cached).
    pub fn cold_app(&self) -> App {
        App::new(store(&self.env, &self.dynamodb), Arc::new(SystemClock))
    }

    /// Hands everything on the table's stream to `relay` (what Lambda's event source mapping
    /// does in AWS and the local stack does in `make dev`).
    pub async fn relay_stream(&self) -> usize {
        self.stream.lock().await.drain(&self.relay).await.unwrap()
    }

    pub fn store(&self) -> &Store {
        self.app.store()
    }

    pub fn now(&self) -> session_rules::Timestamp {
        self.app.clock().now()
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        call(&self.app, request(method, path, body, headers, CALLER_IP)).await
    }

    /// An authenticated call as this harness's business.
    pub async fn authed(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let auth = format!("Bearer {}", self.key);
        self.call(method, path, body, &[("authorization", &auth)])
            .await
    }

    pub async fn send(&self, body: &Value, idempotency_key: Option<&str>) -> Reply {
        send_with(&self.app, &self.key, body, idempotency_key).await
    }

    pub async fn session(&self, phone: &str) -> Value {
        let reply = self
            .authed(
                "GET",
                &format!("/v1/sessions/{}", phone.replace('+', "%2B")),
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    pub async fn open_session(&self, p: &str) {
        self.store()
            .conversations()
            .record_user_message(&self.business.id, &phone(p), self.now())
            .await
            .unwrap();
    }

    /// Every job on the outbound queue (received and deleted), after the stream has been
    /// handed to `relay`: their message ids.
    pub async fn drain_queue(&self) -> Vec<String> {
        self.relay_stream().await;
        drain(&self.sqs, &self.env.outbound_queue_url).await
    }

    /// How many items of a kind (`MSG#`, `IDEM#`) this business has.
    pub async fn count_items(&self, prefix: &str) -> i32 {
        self.dynamodb
            .query()
            .table_name(&self.env.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(format!("BIZ#{}", self.business.id)),
            )
            .expression_attribute_values(":p", AttributeValue::S(prefix.into()))
            .consistent_read(true)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .unwrap()
            .count()
    }

    /// The state of everything a refused send must not touch.
    pub async fn footprint(&self, p: &str) -> (Value, i32, i32) {
        (
            self.session(p).await,
            self.count_items("MSG#").await,
            self.count_items("IDEM#").await,
        )
    }

    /// Asserts a refusal stored, counted and queued nothing.
    pub async fn assert_untouched(&self, p: &str, before: &(Value, i32, i32)) {
        assert_eq!(
            &self.footprint(p).await,
            before,
            "a refused send changed state"
        );
        assert_eq!(
            self.drain_queue().await,
            Vec::<String>::new(),
            "a refused send was queued"
        );
    }
}

fn store(env: &TestEnv, dynamodb: &aws_sdk_dynamodb::Client) -> Store {
    Store::new(
        dynamodb.clone(),
        &env.table,
        Limits::default(),
        Retention::default(),
    )
}

pub fn request(
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
    source_ip: &str,
) -> Request {
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.method = method.parse().unwrap();
    context.http.path = Some(path.to_owned());
    context.http.source_ip = Some(source_ip.to_owned());
    context.stage = Some("$default".into());
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(body.map_or(Body::Empty, |b| Body::from(b.to_owned())))
        .unwrap()
        .with_request_context(RequestContext::ApiGatewayV2(context))
        .with_lambda_context(lambda_context())
        .with_raw_http_path(path)
}

/// What the runtime gives each invocation: a distinct request id.
fn lambda_context() -> lambda_http::Context {
    let mut context = lambda_http::Context::default();
    let n = REQUESTS.fetch_add(1, Ordering::Relaxed);
    context.request_id = format!("{REQUEST_ID_PREFIX}{n}");
    context
}

pub async fn call(app: &App, request: Request) -> Reply {
    let id = request.lambda_context_ref().map(|c| c.request_id.clone());
    let response = app.handle(request).await;
    // Every answer, success or not, names the invocation.
    if let Some(id) = id {
        assert_eq!(response.headers()["x-request-id"], id.as_str());
    }
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes: &[u8] = response.body().as_ref();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
    };
    Reply {
        status,
        body,
        headers,
    }
}

pub async fn send_with(app: &App, key: &str, body: &Value, idempotency_key: Option<&str>) -> Reply {
    let auth = format!("Bearer {key}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(k) = idempotency_key {
        headers.push(("idempotency-key", k));
    }
    let text = body.to_string();
    call(
        app,
        request("POST", "/v1/messages", Some(&text), &headers, CALLER_IP),
    )
    .await
}

/// The message ids of the jobs on `url`, taken off it.
pub async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    vbm_testkit::drain(sqs, url)
        .await
        .into_iter()
        .map(|m| {
            let job: Value = serde_json::from_str(&m.body).unwrap();
            job["message_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

pub fn session_text(to: &str) -> Value {
    serde_json::json!({"to": to, "type": "session", "text": "Your order is ready"})
}

/// `2026-11-21T13:34:24.123Z`.
#[track_caller]
pub fn assert_rfc3339_millis(value: &Value) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    assert!(
        b.len() == 24
            && digits(0..4)
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && b[19] == b'.'
            && digits(20..23)
            && b[23] == b'Z',
        "not RFC 3339 UTC with milliseconds: {s}"
    );
}
