//! `campaign`: the campaign fan-out queue's consumer.
//!
//! Two kinds of job ([`CampaignJob`]), both idempotent (SQS and the timers deliver at least
//! once):
//! - **start** (a timer at `send_at`, or at once; again on resume): the campaign becomes
//!   `running` and a chunk job is queued for each of its chunks (`SendMessageBatch`, ten a call);
//! - **chunk**: the chunk's pending recipients are prepared exactly as their single sends would
//!   be (`vbm_outbound::campaign`: parsing, template, regulation), those outside their delivery
//!   window wait for a timer at its opening, and the rest are admitted in shared transactions
//!   by [`Campaigns::admit_chunk`] (the single send's own writes, one slot per recipient settled
//!   with the counts). Admitted messages reach `dispatch` through the table's stream and
//!   `relay`, exactly as single sends do.
//!
//! A third kind, **prepare** (`prepare`), turns an uploaded list (S3, up to 1,000,000 lines)
//! into chunks, part by part, before the campaign is scheduled; or rejects it, sending nobody.
//!
//! A start or chunk job of a business the operator disabled is parked (`vbm_store::Hold`), not
//! run: `relay` queues it again when the business is enabled.
//!
//! When a chunk finishes and every chunk has, the campaign becomes `completed` and its
//! `campaign.completed` event is queued (again, with the same id, if a retry finds it not yet
//! announced). A paused or cancelled campaign's jobs stop at their next write; resuming queues
//! the chunks again, and settled slots are skipped.

mod chunk;
mod csv;
mod list_line;
pub mod prepare;
pub mod window;
pub mod zones;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde_json::{Map, Value};
use session_rules::Timestamp;
use session_rules::campaign::CampaignState;
use thiserror::Error;
use vbm_events::EventsQueue;
use vbm_outbound::CampaignTimers;
use vbm_outbound::campaign::{
    FailoverSource, failover_request, prepare, prepare_hold, wait_request,
};

use crate::chunk::{Paced, Sorted};
use vbm_platform::clock::{Clock, SystemClock};
use vbm_platform::config::{Config, ConfigError};
use vbm_queue::CampaignJob;
use vbm_queue::{CampaignQueue, QueueError, batch_response};
use vbm_store::pace::{Lane, LaneOwner};
use vbm_store::{
    Admitted, Business, BusinessCache, BusinessId, Campaign, CampaignId, Candidate, Chunk,
    ChunkRef, Hold, Parked, ParkedQueue, Store, StoreError, TemplateCache,
};
use vbm_timers::TimerError;

pub use crate::prepare::PrepareLimits;

/// How far ahead a chunk books its recipients' slots in the business's campaign lane (Viber's
/// pace, `vbm_store::pace`); a lane booked further sends the chunk's job back for later.
const PACE_HORIZON: Duration = Duration::from_secs(20);

/// How long an approved template is trusted from memory (as `send` does).
const TEMPLATE_TTL: Duration = Duration::from_secs(60);

/// How long whether a business is disabled is trusted from memory.
const BUSINESS_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Timer(#[from] TimerError),
    #[error("not a campaign job: {0}")]
    Malformed(String),
    /// Reading an uploaded list (S3, the network): retried.
    #[error("uploaded list: {0}")]
    Upload(String),
}

#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the uploads reader: {0}")]
    Uploads(String),
}

/// What one job did (for the tests and the logs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Done {
    pub chunks_queued: usize,
    pub admitted: Admitted,
    /// Recipients outside their window, and when the chunk's job comes back for them.
    pub waiting: usize,
    pub wake_at: Option<Timestamp>,
    /// The campaign lane was booked past the horizon: the job comes back then.
    pub paced_until: Option<Timestamp>,
    pub completed: bool,
    /// A prepare job: the lines it read, whether it queued the next part, and the state it
    /// settled the campaign in (`scheduled` or `rejected`) when it read the last line.
    pub lines_read: u64,
    pub prepare_queued: bool,
    pub settled: Option<CampaignState>,
    /// The business is disabled: the job was parked until it is enabled.
    pub parked: bool,
}

pub struct App {
    store: Store,
    queue: CampaignQueue,
    timers: CampaignTimers,
    events: EventsQueue,
    clock: Arc<dyn Clock>,
    templates: TemplateCache,
    businesses: BusinessCache,
    /// Uploaded lists; `None` without a bucket (prepare jobs then fail, retried).
    uploads: Option<vbm_uploads::reader::Reader>,
    prepare_limits: PrepareLimits,
}

impl App {
    pub fn new(
        store: Store,
        queue: CampaignQueue,
        timers: CampaignTimers,
        events: EventsQueue,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            queue,
            timers,
            events,
            clock,
            templates: TemplateCache::new(TEMPLATE_TTL),
            businesses: BusinessCache::new(BUSINESS_TTL),
            uploads: None,
            prepare_limits: PrepareLimits::default(),
        }
    }

    /// With uploaded recipient lists: the reader of the uploads bucket.
    pub fn with_uploads(mut self, reader: vbm_uploads::reader::Reader) -> Self {
        self.uploads = Some(reader);
        self
    }

    /// Other bounds for preparations (tests: a small list limit, a crash after a step).
    pub fn with_prepare_limits(mut self, limits: PrepareLimits) -> Self {
        self.prepare_limits = limits;
        self
    }

    pub async fn from_env() -> Result<Self, StartError> {
        let config = Config::from_env();
        let sdk = vbm_platform::aws::sdk_config().await;
        let store =
            vbm_store::Store::connect(&sdk, config.table()?, config.limits()?, config.retention()?);
        let url = config.campaign_queue_url()?;
        let timers = CampaignTimers::from_config(&config, &sdk)?;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let app = Self::new(
            store,
            CampaignQueue::new(sqs.clone(), url),
            timers,
            EventsQueue::new(sqs, config.events_queue_url()?),
            Arc::new(SystemClock),
        );
        let presigner = vbm_uploads::Presigner::from_sdk(&sdk, config.uploads_bucket()?);
        let reader = vbm_uploads::reader::Reader::new(presigner)
            .map_err(|e| StartError::Uploads(e.to_string()))?;
        Ok(app.with_uploads(reader))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every record concurrently; the answer lists exactly the failed ones (retried by SQS after
    /// the visibility timeout, to the dead-letter queue after `maxReceiveCount`).
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let results = futures_util::future::join_all(event.records.iter().map(|r| async move {
            match self.handle_record(r).await {
                Ok(_) => None,
                Err(error) => {
                    tracing::warn!(%error, "campaign job failed; it will be retried");
                    Some(r.message_id.clone().unwrap_or_default())
                }
            }
        }))
        .await;
        batch_response(results.into_iter().flatten())
    }

    pub async fn handle_record(&self, record: &SqsMessage) -> Result<Done, JobError> {
        let body = record.body.as_deref().unwrap_or_default();
        let job: CampaignJob =
            serde_json::from_str(body).map_err(|e| JobError::Malformed(e.to_string()))?;
        self.handle_job(&job).await
    }

    pub async fn handle_job(&self, job: &CampaignJob) -> Result<Done, JobError> {
        let (business, campaign) = match job {
            CampaignJob::Start { business, campaign }
            | CampaignJob::Prepare { business, campaign }
            | CampaignJob::Chunk {
                business, campaign, ..
            } => (business, campaign),
        };
        let business =
            BusinessId::parse(business).map_err(|e| JobError::Malformed(e.to_string()))?;
        let campaign = CampaignId::parse(campaign)
            .ok_or_else(|| JobError::Malformed(format!("campaign id {campaign:?}")))?;
        if !matches!(job, CampaignJob::Prepare { .. }) && self.park(&business, job).await? {
            return Ok(Done {
                parked: true,
                ..Done::default()
            });
        }
        match job {
            CampaignJob::Start { .. } => self.start(&business, &campaign).await,
            CampaignJob::Prepare { .. } => self.prepare(&business, &campaign).await,
            CampaignJob::Chunk { chunk, .. } => self.chunk(&business, &campaign, *chunk).await,
        }
    }

    /// A job that would send for a disabled business is parked (one item per job, so a job
    /// parked twice is queued again once); `false` when the business is enabled (or was
    /// enabled while parking: the condition of the park failed) and the job goes on. Preparing
    /// an uploaded list sends nothing and is never parked.
    async fn park(&self, business: &BusinessId, job: &CampaignJob) -> Result<bool, JobError> {
        if !self.businesses.is_disabled(&self.store, business).await? {
            return Ok(false);
        }
        let work = match job {
            CampaignJob::Start { campaign, .. } => format!("{campaign}.start"),
            CampaignJob::Prepare { campaign, .. } => format!("{campaign}.prepare"),
            CampaignJob::Chunk {
                campaign, chunk, ..
            } => format!("{campaign}.chunk.{chunk}"),
        };
        let parked = Parked {
            work: work.clone(),
            queue: ParkedQueue::Campaign,
            body: serde_json::to_string(job).map_err(|e| JobError::Malformed(e.to_string()))?,
            group: None,
            parked_at: self.clock.now(),
        };
        let parked = self
            .store
            .parking()
            .park(business, &Hold::Business, &parked)
            .await?;
        if parked {
            tracing::info!(%work, "business disabled: campaign job parked");
        }
        Ok(parked)
    }

    async fn start(&self, business: &BusinessId, id: &CampaignId) -> Result<Done, JobError> {
        let now = self.clock.now();
        let Some(campaign) = self
            .store
            .campaigns()
            .start_campaign(business, id, now)
            .await?
        else {
            return Ok(Done::default());
        };
        let bodies = (0..campaign.chunks)
            .map(|chunk| {
                serde_json::to_string(&CampaignJob::Chunk {
                    business: business.as_str().to_owned(),
                    campaign: id.as_str().to_owned(),
                    chunk,
                })
                .map_err(|e| JobError::Malformed(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.queue.enqueue_all(&bodies).await?;
        Ok(Done {
            chunks_queued: bodies.len(),
            ..Done::default()
        })
    }

    async fn chunk(
        &self,
        business: &BusinessId,
        id: &CampaignId,
        chunk: u32,
    ) -> Result<Done, JobError> {
        let now = self.clock.now();
        let mut done = Done::default();
        // The item alone: admission needs no status counts.
        let Some(campaign) = self
            .store
            .campaigns()
            .get_campaign_item(business, id)
            .await?
        else {
            return Ok(done);
        };
        if campaign.state != CampaignState::Running {
            // Paused or cancelled (resume queues the chunks again), or not started yet.
            if campaign.state == CampaignState::Completed {
                done.completed = self.complete(&campaign, now).await?;
            }
            return Ok(done);
        }
        let at = ChunkRef {
            business,
            campaign: id,
            chunk,
        };
        let Some(stored) = self.store.campaigns().get_chunk(at).await? else {
            tracing::error!(campaign = %id, chunk, "a chunk job for a chunk that is not there");
            return Ok(done);
        };
        if stored.finished {
            done.completed = self.complete(&campaign, now).await?;
            return Ok(done);
        }
        let (sorted, owner) = self.sort_chunk(&campaign, &stored, now).await?;
        done.waiting = sorted.waiting;
        done.wake_at = sorted.wake_at;
        let candidates = sorted.candidates(business, id, chunk, now);
        if let Some(retry_at) = self.pace(business, &sorted, owner.as_ref(), now).await? {
            self.timers
                .chunk_at(business, id, chunk, retry_at, now)
                .await?;
            done.paced_until = Some(retry_at);
            return Ok(done);
        }
        if !candidates.is_empty() {
            done.admitted = self
                .admit(at, &stored, candidates, owner.as_ref(), now)
                .await?;
        }
        if done.admitted.halted {
            return Ok(done);
        }
        if let Some(wake) = done.wake_at {
            self.timers.chunk_at(business, id, chunk, wake, now).await?;
        }
        if done.admitted.finished {
            done.completed = self.complete(&campaign, now).await?;
        }
        Ok(done)
    }

    /// Admits the chunk's candidates in shared transactions. The business's caps (per billing
    /// category, on campaign recipients) count in the admitting writes; over one, a recipient
    /// is refused `quota_exceeded`.
    async fn admit(
        &self,
        at: ChunkRef<'_>,
        stored: &Chunk,
        candidates: Vec<Candidate<'_>>,
        owner: Option<&Business>,
        now: Timestamp,
    ) -> Result<Admitted, JobError> {
        let settled: BTreeSet<usize> = stored.settled.keys().copied().collect();
        let caps = owner.map(|b| b.caps.clone()).unwrap_or_default();
        let admitted = self
            .store
            .campaigns()
            .admit_chunk_within(at, stored.recipients.len(), &settled, candidates, &caps)
            .await?;
        vbm_outbound::caps::tell(
            &self.store,
            Some(&self.events),
            at.business,
            &caps.all(),
            now,
        )
        .await;
        Ok(admitted)
    }

    /// The chunk's pending recipients prepared as their single sends would be ([`Sorted`]),
    /// and the business they are sent for.
    async fn sort_chunk(
        &self,
        campaign: &Campaign,
        stored: &Chunk,
        now: Timestamp,
    ) -> Result<(Sorted, Option<Business>), JobError> {
        let (business, id) = (&campaign.business, &campaign.id);
        let message: Map<String, Value> = serde_json::from_str(&campaign.message)
            .map_err(|e| JobError::Malformed(format!("campaign {id}'s message: {e}")))?;
        let template = self.template(business, &message).await?;
        let limits = self.store.limits();
        // SMS failover: the campaign's, completed per recipient from the template
        // and the business's default, as a single send's is.
        let failover_request = failover_request(&message)
            .map_err(|e| JobError::Malformed(format!("campaign {id}'s failover: {}", e.message)))?;
        let owner = self.store.businesses().get_business(business).await?;
        let failover = FailoverSource {
            request: failover_request.as_ref(),
            business: owner.as_ref(),
        };
        // Free-form transactional content as the business's opt-in stands now.
        let legacy = owner
            .as_ref()
            .map(vbm_store::Business::transactional_opt_in)
            .unwrap_or_default();
        // `wait_for_session`: each recipient's hold, its fallback template prepared for it.
        let wait = wait_request(&message).map_err(|(field, why)| {
            JobError::Malformed(format!("campaign {id}'s {field}: {why}"))
        })?;
        let fallback_template = match wait.as_ref().and_then(|w| w.fallback.as_ref()) {
            Some(fallback) => self.template(business, fallback).await?,
            None => None,
        };
        let sorted = Sorted::of(stored, campaign.window, now, |recipient| {
            let mut prepared = prepare(
                &message,
                recipient,
                limits,
                template.as_ref(),
                failover,
                legacy,
            )?;
            if let Some(wait) = &wait {
                prepared.hold = Some(prepare_hold(
                    wait,
                    recipient,
                    limits,
                    fallback_template.as_ref(),
                    owner.as_ref(),
                )?);
            }
            Ok(prepared)
        });
        Ok((sorted, owner))
    }

    /// Viber's pace: campaigns fill the outbound queue no faster than their share of their
    /// service's rate, so a single send never waits behind a campaign's backlog. Books the
    /// chunk's sends in the campaign lane and waits for their start; `Some(retry_at)` when the
    /// lane is booked past the horizon (nothing booked).
    async fn pace(
        &self,
        business: &BusinessId,
        sorted: &Sorted,
        owner: Option<&Business>,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, JobError> {
        let sends = sorted.prepared.len() as u32;
        if sends == 0 {
            return Ok(None);
        }
        let primary = owner.map(vbm_store::Business::service_id);
        let (rate, lanes) = match chunk::lanes(sorted.service(primary), primary) {
            Some((service, lanes)) => (
                self.store.pace().pace_rates(business).await?.of(service),
                lanes,
            ),
            None => (
                self.store.pace().pace_rate(business).await?,
                LaneOwner::Primary,
            ),
        };
        let reservation = self
            .store
            .pace()
            .reserve_on(
                business,
                lanes,
                Lane::Campaigns,
                sends,
                rate,
                now,
                PACE_HORIZON,
            )
            .await?;
        match Paced::of(reservation, now, PACE_HORIZON) {
            Paced::Now => Ok(None),
            Paced::After(wait) => {
                tokio::time::sleep(wait).await;
                Ok(None)
            }
            Paced::Busy(retry_at) => Ok(Some(retry_at)),
        }
    }

    async fn template(
        &self,
        business: &BusinessId,
        message: &Map<String, Value>,
    ) -> Result<Option<session_rules::Template>, JobError> {
        let Some(id) = message
            .get("template")
            .and_then(|t| t.get("id"))
            .and_then(Value::as_str)
            .and_then(|id| session_rules::TemplateId::parse(id).ok())
        else {
            return Ok(None);
        };
        Ok(self.templates.get(&self.store, business, &id).await?)
    }

    /// The campaign becomes `completed` if every chunk has finished; its event is queued until
    /// it is recorded as announced. Whether this call completed or announced it.
    async fn complete(&self, campaign: &Campaign, now: Timestamp) -> Result<bool, JobError> {
        let Some(done) = self
            .store
            .campaigns()
            .complete_campaign(&campaign.business, &campaign.id, now)
            .await?
        else {
            return Ok(false);
        };
        let event = vbm_outbound::campaign_view::completed_event(&done, now)
            .map_err(|e| JobError::Malformed(e.to_string()))?;
        self.events.publish(&event).await?;
        self.store
            .campaigns()
            .campaign_announced(&done.business, &done.id, now)
            .await?;
        tracing::info!(campaign = %done.id, recipients = done.recipients, "campaign completed");
        Ok(true)
    }
}
