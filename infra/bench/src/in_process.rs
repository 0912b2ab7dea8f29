//! The six functions in this process, each built as its Lambda binary builds it (its own store,
//! so its own container caches) but on SDK clients that count their calls, against a fresh
//! table and queues on the emulator, with [`StandIn`] playing Viber and the business.
//!
//! The queue functions get their batches the way Lambda's event source mapping hands them over:
//! received and deleted through an uncounted client, since those calls are not the function's;
//! `relay` gets the table's stream the same way (`relay::reader::StreamReader`, uncounted).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::{Value, json};
use vbm_events::EventsQueue;
use vbm_platform::clock::{Clock, SystemClock};
use vbm_queue::OutboundQueue;
use vbm_store::{BusinessId, Retention, Store};
use vbm_testkit::TestEnv;

use crate::calls::{CallCounter, counted_clients};
use crate::requests::{send_request, signed_callback};
use crate::stand_in::StandIn;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The Viber callback secret of the in-process functions.
pub const VIBER_SECRET: &str = "bench-viber-secret";
pub const SERVICE_ID: u64 = 3100;
/// An approved transactional template with one parameter, `name`.
pub const TEMPLATE: &str = "welcome";

pub struct World {
    pub env: TestEnv,
    pub counter: CallCounter,
    pub send: send::App,
    pub inbound: inbound::App,
    pub status: status::App,
    pub dispatch: dispatch::App,
    pub notify: notify::App,
    pub relay: relay::App,
    /// The event source mapping of `relay` (uncounted clients).
    pub stream: tokio::sync::Mutex<relay::reader::StreamReader>,
    pub api_key: String,
    pub business: BusinessId,
    pub stand_in: StandIn,
    /// Uncounted clients: set-up, and the event source mapping's receives and deletes.
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    sqs_counted: aws_sdk_sqs::Client,
    next_token: std::sync::atomic::AtomicU64,
}

/// An answer of an HTTP function: status and JSON body (`Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

async fn reply(response: lambda_http::Response<lambda_http::Body>) -> Reply {
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    Reply { status, body }
}

/// The table's stream from its oldest record, on uncounted clients (the event source mapping's
/// calls are not the function's).
pub async fn stream_reader(env: &TestEnv) -> Result<relay::reader::StreamReader, Error> {
    Ok(relay::reader::StreamReader::for_table(
        &env.dynamodb().await,
        env.streams().await,
        &env.table,
    )
    .await?)
}

impl World {
    /// Needs `AWS_ENDPOINT_URL` (run under `infra/scripts/with-moto.sh`).
    pub async fn start() -> Result<Self, Error> {
        // EMF metric lines would go to stdout, between the tables.
        vbm_platform::metrics::set_enabled(false);
        let env = TestEnv::fresh();
        let sdk = env.sdk_config().await;
        let counter = CallCounter::default();
        let (dynamodb_counted, sqs_counted) = counted_clients(&sdk, &counter);
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let store = || {
            Store::new(
                dynamodb_counted.clone(),
                env.table.clone(),
                session_rules::Limits::default(),
                Retention::default(),
            )
        };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let events = || EventsQueue::new(sqs_counted.clone(), env.events_queue_url.clone());
        let auth = || viber::CallbackAuth::from_parts(Some(VIBER_SECRET), "");
        let stand_in = StandIn::start().await?;

        let business = BusinessId::parse("bench")?;
        let setup = Store::new(
            dynamodb.clone(),
            env.table.clone(),
            session_rules::Limits::default(),
            Retention::default(),
        );
        let key = crate::bench_business::create(
            &setup,
            &business,
            SERVICE_ID,
            stand_in.events_url(),
            (TEMPLATE, "Hello {{name}}, your order is ready."),
        )
        .await?;

        Ok(Self {
            send: send::App::new(store(), clock.clone()),
            relay: relay::App::new(OutboundQueue::new(
                sqs_counted.clone(),
                env.outbound_queue_url.clone(),
            )),
            stream: tokio::sync::Mutex::new(stream_reader(&env).await?),
            inbound: inbound::App::new(store(), events(), clock.clone(), auth()?),
            status: status::App::new(store(), events(), clock.clone(), auth()?),
            dispatch: dispatch::App::new(
                store(),
                viber::ViberClient::new(&stand_in.viber_url(), None, Duration::from_secs(5))?,
                events(),
                sqs_counted.clone(),
                env.outbound_queue_url.clone(),
                clock.clone(),
            ),
            notify: notify::App::new(
                store(),
                notify::http_client(
                    Duration::from_secs(5),
                    session_rules::callback_address::CallbackAddresses::AlsoLoopback,
                )?,
                sqs_counted.clone(),
                env.events_queue_url.clone(),
                clock,
            ),
            api_key: key.expose().to_owned(),
            business,
            stand_in,
            dynamodb,
            sqs,
            sqs_counted,
            env,
            counter,
            next_token: std::sync::atomic::AtomicU64::new(8_000_000_000_000_000_000),
        })
    }

    /// `POST /v1/messages` through `send`.
    pub async fn send(&self, body: &Value) -> Result<Reply, Error> {
        let request = send_request(&self.api_key, body).ok_or("could not build the request")?;
        Ok(reply(self.send.handle(request).await).await)
    }

    /// `POST /v1/messages?dry_run=true` (writes nothing).
    pub async fn dry_send(&self, body: &Value, key: Option<&str>) -> Result<Reply, Error> {
        let request = crate::requests::dry_run_request(&self.api_key, body, key)
            .ok_or("could not build the request")?;
        Ok(reply(self.send.handle(request).await).await)
    }

    /// The user writes in Viber: a signed inbound callback with a new token.
    pub async fn user_writes(&self, phone: &str, text: &str) -> Result<Reply, Error> {
        let token = self
            .next_token
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = json!({
            "service_id": SERVICE_ID,
            "phone_number": phone.trim_start_matches('+'),
            "message_token": token,
            "time": SystemClock.now().as_millis(),
            "message": {"text": text},
        });
        let request = signed_callback("/viber/inbound", VIBER_SECRET, &body)
            .ok_or("could not build the request")?;
        Ok(reply(self.inbound.handle(request).await).await)
    }

    /// Viber reports `message_status` (0 delivered, 1 seen) for `token`.
    pub async fn status_callback(&self, token: u64, message_status: u8) -> Result<Reply, Error> {
        let body = json!({
            "message_token": token,
            "message_time": SystemClock.now().as_millis(),
            "message_status": message_status,
        });
        let request = signed_callback("/viber/status", VIBER_SECRET, &body)
            .ok_or("could not build the request")?;
        Ok(reply(self.status.handle(request).await).await)
    }

    /// Another `relay` over the same queue and counted client (another container).
    pub fn relay_app(&self) -> relay::App {
        relay::App::new(OutboundQueue::new(
            self.sqs_counted.clone(),
            self.env.outbound_queue_url.clone(),
        ))
    }

    /// Hands what is new on the table's stream to `relay` (which queues the accepted
    /// messages); returns how many stream records it took.
    pub async fn relay_all(&self) -> Result<usize, Error> {
        Ok(self.stream.lock().await.drain(&self.relay).await?)
    }

    /// Relays the stream, then hands the next job on the outbound queue to `dispatch` (a batch
    /// of one); `false` when the queue is empty. A record reported failed is an error.
    pub async fn dispatch_one(&self) -> Result<bool, Error> {
        self.relay_all().await?;
        let url = self.env.outbound_queue_url.clone();
        self.handle_one(&url, |event| async move {
            self.dispatch
                .handle_batch(event)
                .await
                .batch_item_failures
                .len()
        })
        .await
    }

    /// The same for the events queue and `notify`.
    pub async fn notify_one(&self) -> Result<bool, Error> {
        let url = self.env.events_queue_url.clone();
        self.handle_one(&url, |event| async move {
            self.notify
                .handle_batch(event)
                .await
                .batch_item_failures
                .len()
        })
        .await
    }

    /// Dispatches everything queued; returns how many jobs.
    pub async fn dispatch_all(&self) -> Result<usize, Error> {
        let mut n = 0;
        while self.dispatch_one().await? {
            n += 1;
        }
        Ok(n)
    }

    /// Notifies everything queued; returns how many events.
    pub async fn notify_all(&self) -> Result<usize, Error> {
        let mut n = 0;
        while self.notify_one().await? {
            n += 1;
        }
        Ok(n)
    }

    async fn handle_one<F, Fut>(&self, url: &str, handle: F) -> Result<bool, Error>
    where
        F: FnOnce(SqsEvent) -> Fut,
        Fut: std::future::Future<Output = usize>,
    {
        let out = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await?;
        let Some(message) = out.messages().first() else {
            return Ok(false);
        };
        let mut record = vbm_testkit::sqs::record_of(message);
        record.event_source = Some("aws:sqs".into());
        let mut event = SqsEvent::default();
        event.records = vec![record];
        if handle(event).await > 0 {
            return Err(format!("a record failed on {url}").into());
        }
        if let Some(receipt) = message.receipt_handle() {
            self.sqs
                .delete_message()
                .queue_url(url)
                .receipt_handle(receipt)
                .send()
                .await?;
        }
        Ok(true)
    }
}
