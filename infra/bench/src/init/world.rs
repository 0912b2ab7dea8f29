//! What the cold starts run against: a fresh table and queues on the emulator (from
//! template.yaml, through the testkit), one business with an API key and an approved template,
//! and a local stand-in for Viber and for the business's callback URL.

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use session_rules::Limits;
use vbm_store::{BusinessId, Retention, Store};
use vbm_testkit::TestEnv;

use crate::stand_in::StandIn;

pub const BUSINESS: &str = "bench";
pub const SERVICE_ID: u64 = 5151;
pub const TEMPLATE: &str = "welcome";
/// The callback URL secret of inbound and status, in the world's Secrets Manager secret.
pub const CALLBACK_SECRET: &str = "bench-viber-callback-secret";
pub const REGION: &str = "us-east-1";

pub struct World {
    pub env: TestEnv,
    pub sqs: aws_sdk_sqs::Client,
    pub api_key: String,
    pub stand_in: StandIn,
    pub outbound_arn: String,
    pub events_arn: String,
    /// The ARN of the callback secret (`VIBER_CALLBACK_SECRET_ID`).
    pub callback_secret_arn: String,
    /// The outbox between send and dispatch: the table's stream read as Lambda's event source
    /// mapping would, into `relay` (in process: relay's own cold start is not measured here).
    pub stream: relay::reader::StreamReader,
    pub relay: relay::App,
}

impl World {
    pub async fn new() -> Result<Self, String> {
        let env = TestEnv::fresh();
        let stand_in = StandIn::start()
            .await
            .map_err(|e| format!("starting the Viber and callback stand-in: {e}"))?;
        let store = Store::new(
            env.dynamodb().await,
            env.table.clone(),
            Limits::default(),
            Retention::default(),
        );
        let business = BusinessId::parse(BUSINESS)?;
        let key = crate::bench_business::create(
            &store,
            &business,
            SERVICE_ID,
            stand_in.events_url(),
            (TEMPLATE, "Hello {{name}}, thanks for choosing us!"),
        )
        .await?;
        // As the stack creates it: a URL secret only.
        let callback_secret_arn = aws_sdk_secretsmanager::Client::new(&env.sdk_config().await)
            .create_secret()
            .name(format!("{}/viber-callback", env.table))
            .secret_string(serde_json::json!({"url_secret": CALLBACK_SECRET}).to_string())
            .send()
            .await
            .map_err(|e| format!("creating the callback secret: {e:?}"))?
            .arn
            .ok_or("the callback secret has no ARN")?;
        let sqs = env.sqs().await;
        let outbound_arn = queue_arn(&sqs, &env.outbound_queue_url).await?;
        let events_arn = queue_arn(&sqs, &env.events_queue_url).await?;
        let stream = relay::reader::StreamReader::for_table(
            &env.dynamodb().await,
            env.streams().await,
            &env.table,
        )
        .await
        .map_err(|e| format!("reading the table's stream: {e}"))?;
        let relay = relay::App::new(vbm_queue::OutboundQueue::new(
            sqs.clone(),
            env.outbound_queue_url.clone(),
        ));
        Ok(Self {
            stream,
            relay,
            env,
            sqs,
            api_key: key.expose().to_owned(),
            stand_in,
            outbound_arn,
            events_arn,
            callback_secret_arn,
        })
    }

    /// The environment Lambda gives function `name`: template.yaml's `Globals` and the
    /// function's own variables with the parameters' defaults, pointed at this world.
    pub fn function_env(&self, name: &str) -> Vec<(String, String)> {
        let mut vars = vec![
            ("VBM_TABLE", self.env.table.clone()),
            ("OUTBOUND_QUEUE_URL", self.env.outbound_queue_url.clone()),
            ("EVENTS_QUEUE_URL", self.env.events_queue_url.clone()),
            ("TIMERS_GROUP", self.env.timers_group.clone()),
            ("CAMPAIGN_QUEUE_URL", self.env.campaign_queue_url.clone()),
            ("FAILOVER_QUEUE_URL", self.env.failover_queue_url.clone()),
            (
                "TIMERS_ROLE_ARN",
                "arn:aws:iam::123456789012:role/timers".into(),
            ),
            ("VIBER_API_URL", self.stand_in.viber_url()),
            ("SESSION_DURATION_SECONDS", "86400".into()),
            ("SESSION_MAX_MESSAGES", "60".into()),
            ("SESSION_MAX_CONSECUTIVE", "5".into()),
            ("RETENTION_DAYS", "30".into()),
            ("RUST_LOG", "INFO".into()),
        ];
        match name {
            "send" | "campaign" => vars.push(("UPLOADS_BUCKET", self.env.uploads_bucket.clone())),
            "inbound" | "status" => {
                vars.push(("VIBER_CALLBACK_SECRET_ID", self.callback_secret_arn.clone()));
                vars.push(("SECRETS_REFRESH_SECONDS", "300".into()));
                vars.push(("VIBER_CALLBACK_CIDRS", String::new()));
            }
            _ => {}
        }
        vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// Moves what the stream holds onto the outbound queue through `relay`.
    pub async fn relay_stream(&mut self) -> Result<usize, String> {
        self.stream
            .drain(&self.relay)
            .await
            .map_err(|e| format!("relaying the stream: {e}"))
    }

    /// The messages on a queue now (received, so invisible until deleted or timed out).
    pub async fn receive(&self, queue_url: &str) -> Result<Vec<Message>, String> {
        let mut messages = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .map_err(|e| format!("receiving from {queue_url}: {e:?}"))?;
            if out.messages().is_empty() {
                return Ok(messages);
            }
            messages.extend(out.messages().iter().cloned());
        }
    }

    /// What the event source mapping does after a successful batch.
    pub async fn delete(&self, queue_url: &str, messages: &[Message]) -> Result<(), String> {
        for message in messages {
            if let Some(handle) = message.receipt_handle() {
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(|e| format!("deleting from {queue_url}: {e:?}"))?;
            }
        }
        Ok(())
    }

    /// Empties a queue, so the next receive sees only what the next run puts there.
    pub async fn drain(&self, queue_url: &str) -> Result<usize, String> {
        let messages = self.receive(queue_url).await?;
        self.delete(queue_url, &messages).await?;
        Ok(messages.len())
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| format!("reading {url}'s ARN: {e:?}"))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| format!("{url} has no QueueArn"))
}
