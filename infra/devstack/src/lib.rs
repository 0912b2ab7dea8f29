//! The local stack: the whole system on 127.0.0.1 with no AWS account (docs/development.md).
//!
//! One process serves the real handlers of `send`, `inbound` and `status` on API Gateway's
//! paths, runs `dispatch` and `notify` by polling the emulator's queues (the same handler code
//! as the Lambda binaries, through [`poller`]) and `relay` by reading the table's stream
//! (`relay::reader::StreamReader`, what Lambda's DynamoDB event source mapping does), plays Viber ([`sandbox`]) and a business's
//! callback endpoint ([`sink`]), and shares one [`OffsetClock`] with all of them so a 24 h
//! session expiry can be tried in a second (`POST /_dev/clock`). The functions reach the
//! emulator through [`emulator_proxy`], which can play an outage, and the sandbox and sink take
//! [`faults`]. None of this is in any Lambda binary.

mod bounded;
pub mod emulator_proxy;
pub mod faults;
pub mod gateway;
pub mod poller;
pub mod sandbox;
pub mod server;
pub mod sink;
pub mod sms;
mod wiring;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use session_rules::{Language, Template, TemplateCategory, TemplateId};
use tokio::net::TcpListener;
use vbm_platform::clock::{Clock, OffsetClock};
use vbm_platform::config::Config;
use vbm_store::{BusinessId, NewBusiness, Retention, Store, StoreError};

/// One call of the stack's own to the local emulator, however long others hold its lock.
const LOCAL_CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub use wiring::Functions;

/// The local Viber callback secret: the last segment of the callback URLs
/// (`/viber/inbound/dev-viber-secret`), and the signing secret when the sandbox also signs
/// ([`Options::sign_callbacks`]). The stack puts it in the emulator's Secrets Manager, where
/// `inbound` and `status` read it as in AWS.
pub const DEV_VIBER_SECRET: &str = "dev-viber-secret";
/// The demo business `make dev` creates.
pub const DEMO_BUSINESS: &str = "demo";
pub const DEMO_SERVICE_ID: u64 = 1000;

/// Where things are, as `infra/scripts/dev.sh` passes them.
pub struct Settings {
    pub port: u16,
    pub table: String,
    pub outbound_queue_url: String,
    pub events_queue_url: String,
    /// SMS failover: the failover queue.
    pub failover_queue_url: String,
    /// The schedule group of the timers, fired here from the movable clock (`vbm_timers::dev`).
    pub timers_group: String,
    /// Campaigns: the fan-out queue.
    pub campaign_queue_url: String,
    /// Where session timers fire (business events, the `lifecycle` function).
    pub session_timers_queue_url: String,
    /// Campaigns' uploaded lists: the emulator's bucket.
    pub uploads_bucket: String,
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        Ok(Self {
            port: std::env::var("VBM_PORT")
                .unwrap_or_else(|_| "3000".into())
                .parse()
                .map_err(|_| "VBM_PORT must be a port number".to_string())?,
            table: var("VBM_TABLE")?,
            outbound_queue_url: var("OUTBOUND_QUEUE_URL")?,
            events_queue_url: var("EVENTS_QUEUE_URL")?,
            failover_queue_url: var("FAILOVER_QUEUE_URL")?,
            timers_group: var("TIMERS_GROUP")?,
            campaign_queue_url: var("CAMPAIGN_QUEUE_URL")?,
            session_timers_queue_url: var("SESSION_TIMERS_QUEUE_URL")?,
            uploads_bucket: var("UPLOADS_BUCKET")?,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The Secrets Manager secret of the callback secrets: one per table, so stacks sharing an
    /// emulator (the tests) keep their own.
    pub fn callback_secret_name(&self) -> String {
        format!("vbm-dev/{}/viber-callback", self.table)
    }

    /// The configuration every function reads, as the template would give it locally.
    pub fn function_config(&self) -> Config {
        let mut pairs = vec![
            ("VBM_TABLE", self.table.clone()),
            ("OUTBOUND_QUEUE_URL", self.outbound_queue_url.clone()),
            ("EVENTS_QUEUE_URL", self.events_queue_url.clone()),
            (
                "VIBER_API_URL",
                format!("{}/_sandbox/viber", self.base_url()),
            ),
            ("VIBER_CALLBACK_SECRET_ID", self.callback_secret_name()),
            ("TIMERS_GROUP", self.timers_group.clone()),
            // The emulator does not check roles; the devstack fires the timers itself.
            ("TIMERS_ROLE_ARN", DEV_TIMERS_ROLE.into()),
            // Campaigns: the fan-out queue.
            ("CAMPAIGN_QUEUE_URL", self.campaign_queue_url.clone()),
            (
                "SESSION_TIMERS_QUEUE_URL",
                self.session_timers_queue_url.clone(),
            ),
        ];
        pairs.push(("UPLOADS_BUCKET", self.uploads_bucket.clone()));
        // SMS failover: the queue, and End User Messaging's stand-in.
        pairs.push(("FAILOVER_QUEUE_URL", self.failover_queue_url.clone()));
        pairs.push((
            "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2",
            format!("{}/_sandbox/sms", self.base_url()),
        ));
        pairs.push(("SMS_CONFIGURATION_SET", "vbm-dev-failover".into()));
        Config::from_pairs(pairs)
    }
}

/// How the functions are tuned locally.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// `dispatch`'s timeout for a call to Viber (`VIBER_TIMEOUT_SECONDS`).
    pub viber_timeout: Duration,
    /// `notify`'s timeout for a business callback (`CALLBACK_TIMEOUT_SECONDS`).
    pub callback_timeout: Duration,
    /// At most this many entries in each log of the sandbox and the sink (what Viber received
    /// and delivered, the events), the oldest dropped; `None` keeps everything, as the audits
    /// need. Long runs (`bench-load`, `make soak`) bound them through `VBM_SANDBOX_KEEP`, so the
    /// test doubles' memory does not pass for the server's.
    pub keep_logs: Option<usize>,
    /// Whether the sandbox also signs its callbacks (`X-Viber-Signature`, as a signing partner
    /// gateway would) and the functions require it; off, it posts as the public emulators do,
    /// unsigned, to the URL with the secret.
    pub sign_callbacks: bool,
    /// Session messages in a row the sandbox takes before it answers 21, as Viber does: 5 by
    /// default (ALI, Infobip), 10 in other sources (`VBM_SANDBOX_MAX_CONSECUTIVE`). Set apart
    /// from our own rule (`SESSION_MAX_CONSECUTIVE`) to try the two disagreeing.
    pub viber_max_consecutive: u32,
}

impl Options {
    /// The defaults, with `keep_logs` from `VBM_SANDBOX_KEEP` and `viber_max_consecutive` from
    /// `VBM_SANDBOX_MAX_CONSECUTIVE` when set.
    pub fn from_env() -> Result<Self, String> {
        let keep_logs = match std::env::var("VBM_SANDBOX_KEEP") {
            Ok(n) => Some(
                n.parse()
                    .map_err(|_| "VBM_SANDBOX_KEEP must be a number of entries".to_string())?,
            ),
            Err(_) => None,
        };
        let defaults = Self::default();
        let viber_max_consecutive = match std::env::var("VBM_SANDBOX_MAX_CONSECUTIVE") {
            Ok(n) => n.parse().map_err(|_| {
                "VBM_SANDBOX_MAX_CONSECUTIVE must be a number of messages".to_string()
            })?,
            Err(_) => defaults.viber_max_consecutive,
        };
        Ok(Self {
            keep_logs,
            viber_max_consecutive,
            ..defaults
        })
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            viber_timeout: Duration::from_secs(5),
            callback_timeout: Duration::from_secs(5),
            keep_logs: None,
            sign_callbacks: false,
            viber_max_consecutive: sandbox::DEFAULT_MAX_CONSECUTIVE,
        }
    }
}

/// How much later than the client's timeout a `timeout` fault answers.
const LATE_BY: Duration = Duration::from_secs(1);

/// A started stack.
pub struct Running {
    pub base_url: String,
    /// The demo business's API key (shown once, like `vbmctl business create`).
    pub api_key: String,
    pub server: tokio::task::JoinHandle<()>,
}

/// Starts everything on `listener`, seeds the demo business, and returns once
/// `GET /_dev/health` answers 200.
pub async fn start(settings: Settings, listener: TcpListener) -> Result<Running, String> {
    start_with(settings, listener, Options::default()).await
}

/// [`start`] with other [`Options`].
pub async fn start_with(
    settings: Settings,
    listener: TcpListener,
    options: Options,
) -> Result<Running, String> {
    // The stack's own calls (seeding, the sandbox, the sink) share a local emulator with every
    // other test of a run: on a busy machine one waits behind others for seconds, which the
    // functions' production timeout (3 s) would turn into a failed start.
    let sdk = vbm_platform::aws::sdk_config()
        .await
        .into_builder()
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(LOCAL_CALL_TIMEOUT)
                .operation_timeout(LOCAL_CALL_TIMEOUT * 2)
                .build(),
        )
        .build();
    let clock = Arc::new(OffsetClock::new());
    let config = settings.function_config();
    // The functions and their pollers reach a local emulator through the outage proxy; the
    // sandbox, the sink and the seeding (the outside world) go straight to it.
    let emulator = match sdk.endpoint_url().and_then(emulator_proxy::upstream_of) {
        Some(upstream) => Some(emulator_proxy::EmulatorProxy::start(upstream).await?),
        None => None,
    };
    let function_sdk = match &emulator {
        // Set on the loader, so it wins over `AWS_ENDPOINT_URL` (which each service client would
        // otherwise read again from the environment).
        Some(proxy) => {
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(proxy.url())
                .load()
                .await
        }
        None => sdk.clone(),
    };
    put_callback_secret(
        &sdk,
        &settings.callback_secret_name(),
        options.sign_callbacks,
    )
    .await?;
    let functions = Functions::build(&config, &function_sdk, clock.clone(), &options).await?;
    let store = Arc::new(Store::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        settings.table.clone(),
        config.limits().map_err(|e| e.to_string())?,
        Retention::default(),
    ));
    let mut sandbox = sandbox::Sandbox::new(
        clock.clone(),
        settings.base_url(),
        DEV_VIBER_SECRET.into(),
        options.sign_callbacks.then(|| DEV_VIBER_SECRET.into()),
    );
    sandbox.late_answer = options.viber_timeout + LATE_BY;
    sandbox.keep = options.keep_logs;
    sandbox.max_consecutive = options.viber_max_consecutive;
    let sandbox = Arc::new(sandbox);
    let mut sink = sink::Sink::new(store.clone(), clock.clone());
    sink.late_answer = options.callback_timeout + LATE_BY;
    sink.keep = options.keep_logs;
    let sink = Arc::new(sink);
    // SMS failover: receipts go straight to the failover queue, as SNS would.
    let sms = Arc::new(sms::SmsSandbox::new(
        clock.clone(),
        (
            aws_sdk_sqs::Client::new(&sdk),
            settings.failover_queue_url.clone(),
        ),
    ));
    let ready = Arc::new(AtomicBool::new(false));
    let routes = Arc::new(server::Routes {
        send: functions.send.clone(),
        inbound: functions.inbound.clone(),
        status: functions.status.clone(),
        sandbox,
        sink,
        clock: clock.clone(),
        ready: ready.clone(),
        emulator,
        sms,
    });
    let sqs = aws_sdk_sqs::Client::new(&function_sdk);
    tokio::spawn(poller::run(
        "dispatch",
        sqs.clone(),
        settings.outbound_queue_url.clone(),
        functions.dispatch.clone(),
    ));
    // Campaigns: the fan-out queue's consumer.
    tokio::spawn(poller::run(
        "campaign",
        sqs.clone(),
        settings.campaign_queue_url.clone(),
        functions.campaign.clone(),
    ));
    tokio::spawn(poller::run(
        "notify",
        sqs.clone(),
        settings.events_queue_url.clone(),
        functions.notify.clone(),
    ));
    // SMS failover.
    tokio::spawn(poller::run(
        "failover",
        sqs,
        settings.failover_queue_url.clone(),
        functions.failover.clone(),
    ));
    // The outbox: accepted messages reach the outbound queue through the table's stream.
    let reader = relay::reader::StreamReader::for_table(
        &aws_sdk_dynamodb::Client::new(&function_sdk),
        stream_follower(&function_sdk),
        &settings.table,
    )
    .await
    .map_err(|e| e.to_string())?;
    let relay = functions.relay.clone();
    tokio::spawn(async move { reader.run(&relay, STREAM_POLL).await });
    // Business events: the lifecycle function's own mapping on the same stream (its
    // own position, as a second event source mapping has), and its timers queue.
    let lifecycle_reader = relay::reader::StreamReader::for_table(
        &aws_sdk_dynamodb::Client::new(&function_sdk),
        stream_follower(&function_sdk),
        &settings.table,
    )
    .await
    .map_err(|e| e.to_string())?;
    let lifecycle = functions.lifecycle.clone();
    tokio::spawn(async move {
        lifecycle_reader
            .run_with(
                |event| lifecycle.handle_stream(event),
                LIFECYCLE_STREAM_POLL,
            )
            .await
    });
    tokio::spawn(poller::run(
        "lifecycle",
        aws_sdk_sqs::Client::new(&function_sdk),
        settings.session_timers_queue_url.clone(),
        functions.lifecycle_timers.clone(),
    ));
    // EventBridge Scheduler's part: due timers fire by the movable clock.
    let firing = vbm_timers::dev::Firing::new(
        aws_sdk_scheduler::Client::new(&function_sdk),
        aws_sdk_sqs::Client::new(&function_sdk),
        &settings.timers_group,
    );
    let timer_clock = clock.clone();
    tokio::spawn(firing.run(TIMER_POLL, move || timer_clock.now()));
    let server = tokio::spawn(server::serve(listener, routes));

    let api_key = seed_demo(&store, &settings).await?;
    ready.store(true, Ordering::SeqCst);
    Ok(Running {
        base_url: settings.base_url(),
        api_key,
        server,
    })
}

/// The pause between two reads of the table's stream that found nothing: how late an accepted
/// message can reach the outbound queue locally (Lambda polls a stream's shard four times a
/// second). One `GetRecords` a round, so the serialized emulator keeps its pace for the rest.
const STREAM_POLL: Duration = Duration::from_millis(100);

/// The application name the stack's stream readers send in their user agent. The serialized
/// emulator answers such a reader's empty read when the table is next written (or after
/// 0.8 s) instead of at once (`infra/moto/serial_moto.py`), so an idle stack does not read the
/// stream ten times a second; other readers (tests draining the stream) are answered at once.
const STREAM_FOLLOWER: &str = "vbm-stream-follower";

/// A stream client that says it follows the stream ([`STREAM_FOLLOWER`]).
fn stream_follower(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodbstreams::Client {
    let config = aws_sdk_dynamodbstreams::config::Builder::from(sdk)
        .app_name(
            aws_sdk_dynamodbstreams::config::AppName::new(STREAM_FOLLOWER)
                .expect("a valid application name"),
        )
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(config)
}

/// The lifecycle consumer's pause between empty reads of the stream: slower than the outbox's,
/// since a session event a quarter of a second later costs nothing and the emulator is shared.
const LIFECYCLE_STREAM_POLL: Duration = Duration::from_millis(250);

/// How often due timers are looked for: one `ListSchedules` a round.
const TIMER_POLL: Duration = Duration::from_millis(200);

/// The role timers name locally.
const DEV_TIMERS_ROLE: &str = "arn:aws:iam::123456789012:role/vbm-dev-timers";

/// Creates (or overwrites) the callback secret on the emulator, as the stack's template creates
/// it in AWS: the URL secret, and the signing secret when `signed`.
async fn put_callback_secret(
    sdk: &aws_config::SdkConfig,
    name: &str,
    signed: bool,
) -> Result<(), String> {
    use aws_sdk_secretsmanager::error::DisplayErrorContext;
    let mut value = json!({"url_secret": DEV_VIBER_SECRET});
    if signed {
        value["hmac_secret"] = json!(DEV_VIBER_SECRET);
    }
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value.to_string())
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_exists_exception()) =>
        {
            client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value.to_string())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("updating secret {name}: {}", DisplayErrorContext(e)))
        }
        Err(e) => Err(format!(
            "creating secret {name}: {}",
            DisplayErrorContext(e)
        )),
    }
}

/// The demo business (service id 1000) with approved templates; returns its API key.
async fn seed_demo(store: &Store, settings: &Settings) -> Result<String, String> {
    let id = BusinessId::parse(DEMO_BUSINESS)?;
    let created = store
        .businesses()
        .create_business(&NewBusiness {
            id: id.clone(),
            service_id: DEMO_SERVICE_ID,
            callback_url: Some(format!(
                "{}/_sandbox/business/{DEMO_BUSINESS}/events",
                settings.base_url()
            )),
            allow_cidrs: Vec::new(),
        })
        .await;
    let key = match created {
        Ok((_, key)) => key,
        // The SDK retried a creation whose first attempt landed but answered late (a loaded
        // emulator; moto ignores the transaction's idempotency token, DynamoDB would not): the
        // business is there, its key lost with the answer, so it gets a new one.
        Err(StoreError::Conflict(_))
            if store
                .businesses()
                .get_business(&id)
                .await
                .ok()
                .flatten()
                .is_some() =>
        {
            store
                .businesses()
                .create_api_key(&id)
                .await
                .map_err(|e| format!("a key for the demo business: {e}"))?
        }
        Err(e) => return Err(format!("creating the demo business: {e}")),
    };
    // Viber's pace: the demo business's rate is high, so local load figures measure
    // the server; `vbmctl business pace demo --rate 5` shows the pace at work.
    store
        .pace()
        .set_pace_rate(&id, vbm_store::pace::MAX_RATE)
        .await
        .map_err(|e| format!("setting the demo business's pace: {e}"))?;
    // The SMS policy: the sender id the README's failover walk names, registered as an
    // operator would (`vbmctl business sms sender add demo Demo`).
    store
        .businesses()
        .update_sms_policy(&id, |policy| {
            policy.senders.insert("Demo".into());
        })
        .await
        .map_err(|e| format!("registering the demo business's SMS sender id: {e}"))?;
    let templates = [
        (
            "welcome",
            "en",
            TemplateCategory::Transactional,
            "Hello {{name}}, thanks for choosing us! Reply to this message to chat with us.",
        ),
        (
            "code_ru",
            "ru",
            TemplateCategory::Transactional,
            "Ваш код подтверждения: {{code}}",
        ),
        (
            // Viber has no promotional templates (VIBER.md): this one is transactional too.
            "spring_sale",
            "en",
            TemplateCategory::Transactional,
            "Hi {{name}}, spring sale: {{discount}} off everything this week.",
        ),
    ];
    for (template_id, lang, category, text) in templates {
        let template = Template::parse(
            TemplateId::parse(template_id).map_err(|e| e.to_string())?,
            Language::parse(lang).map_err(|e| e.to_string())?,
            category,
            true,
            text,
        )
        .map_err(|e| e.to_string())?;
        store
            .templates()
            .put_template(&id, &template)
            .await
            .map_err(|e| format!("seeding template {template_id}: {e}"))?;
    }
    Ok(key.expose().to_owned())
}

/// What `make dev` prints once the stack is up.
pub fn banner(running: &Running) -> String {
    let (base, api_key) = (&running.base_url, &running.api_key);
    let first = json!({"to": "+447911123456", "type": "template", "template": {"id": "welcome", "params": {"name": "Ann"}}});
    format!(
        "\nvbm-serverless is running on {base}\n\n\
         demo business: {DEMO_BUSINESS} (Viber service id {DEMO_SERVICE_ID})\n\
         API key:       {api_key}\n\
         Viber callbacks: {base}/viber/inbound/{DEV_VIBER_SECRET}, {base}/viber/status/{DEV_VIBER_SECRET}\n\n\
         Send a first message (a template: the business always writes first):\n\n  \
         export VBM_KEY={api_key}\n  \
         curl -s -X POST {base}/v1/messages -H \"Authorization: Bearer $VBM_KEY\" -H 'content-type: application/json' \\\n    -d '{first}'\n\n\
         More in the README (\"Local stack\"). Ctrl-C stops everything.\n"
    )
}
