//! Starting campaigns on time: every start and every wait for a delivery window is
//! a timer (`vbm-timers`, EventBridge Scheduler one-time schedules) whose body is a
//! `CampaignJob` for the fan-out queue. A due timer is sent at once, so "now" and "later" are
//! one path; a timer set twice (a retried request) is one timer, and a timer that fires twice
//! finds its job already done.

use aws_types::SdkConfig;
use session_rules::Timestamp;
use vbm_platform::config::{Config, ConfigError};
use vbm_queue::CampaignJob;
use vbm_store::{BusinessId, CampaignId};
use vbm_timers::{Set, Target, Timer, TimerError, Timers};

/// The timers that put campaign jobs on the fan-out queue. Built once per process.
#[derive(Debug, Clone)]
pub struct CampaignTimers {
    timers: Timers,
    target: Target,
}

impl CampaignTimers {
    pub fn new(timers: Timers, target: Target) -> Self {
        Self { timers, target }
    }

    /// From `CAMPAIGN_QUEUE_URL`, `TIMERS_GROUP` and `TIMERS_ROLE_ARN`, all deployed by the
    /// template: a missing or malformed one stops the function at start.
    pub fn from_config(config: &Config, sdk: &SdkConfig) -> Result<Self, ConfigError> {
        let url = config.campaign_queue_url()?;
        let region = sdk.region().map_or("us-east-1", |r| r.as_ref());
        let target = Target::queue(&url, region).map_err(|error| ConfigError {
            variable: vbm_platform::config::CAMPAIGN_QUEUE_URL,
            reason: format!("not a queue URL: {error}"),
        })?;
        let timers = Timers::new(
            aws_sdk_scheduler::Client::new(sdk),
            aws_sdk_sqs::Client::new(sdk),
            config.timers_group()?,
            config.timers_role_arn()?,
        );
        Ok(Self::new(timers, target))
    }

    /// The campaign's start job at `at` (now, when due).
    pub async fn start_at(
        &self,
        business: &BusinessId,
        campaign: &CampaignId,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<Set, TimerError> {
        let job = CampaignJob::Start {
            business: business.as_str().to_owned(),
            campaign: campaign.as_str().to_owned(),
        };
        self.set(&format!("cs-{campaign}"), at, &job, now).await
    }

    /// The preparation of an uploaded list (its first job; each job queues the next itself).
    pub async fn prepare_now(
        &self,
        business: &BusinessId,
        campaign: &CampaignId,
        now: Timestamp,
    ) -> Result<Set, TimerError> {
        let job = CampaignJob::Prepare {
            business: business.as_str().to_owned(),
            campaign: campaign.as_str().to_owned(),
        };
        self.set(&format!("cp-{campaign}"), now, &job, now).await
    }

    /// A chunk's job again at `at`: recipients waiting for their delivery window.
    pub async fn chunk_at(
        &self,
        business: &BusinessId,
        campaign: &CampaignId,
        chunk: u32,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<Set, TimerError> {
        let job = CampaignJob::Chunk {
            business: business.as_str().to_owned(),
            campaign: campaign.as_str().to_owned(),
            chunk,
        };
        let name = format!("cw-{campaign}-{chunk}-{}", at.as_secs());
        self.set(&name, at, &job, now).await
    }

    async fn set(
        &self,
        name: &str,
        at: Timestamp,
        job: &CampaignJob,
        now: Timestamp,
    ) -> Result<Set, TimerError> {
        let body = serde_json::to_string(job).map_err(|e| TimerError::Invalid(e.to_string()))?;
        self.timers
            .set(
                &Timer {
                    name,
                    at,
                    target: &self.target,
                    body: &body,
                },
                now,
            )
            .await
    }
}
