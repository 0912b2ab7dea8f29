//! The local stand-in for EventBridge Scheduler's firing (the emulator stores schedules but never
//! fires them): every due schedule of the group has its input sent to its target queue and is
//! deleted, as `ActionAfterCompletion: DELETE` does in AWS. Driven by the devstack's movable clock.

use std::collections::HashMap;
use std::time::Duration;

use session_rules::Timestamp;

use crate::TimerError;
use crate::timer::parse_at;

/// What a schedule says, read once (schedules are never updated here: a timer is set or cancelled).
#[derive(Debug, Clone)]
struct Due {
    at: Timestamp,
    arn: String,
    input: String,
    message_group: Option<String>,
}

pub struct Firing {
    scheduler: aws_sdk_scheduler::Client,
    sqs: aws_sdk_sqs::Client,
    group: String,
    known: HashMap<String, Due>,
    urls: HashMap<String, String>,
}

impl Firing {
    pub fn new(
        scheduler: aws_sdk_scheduler::Client,
        sqs: aws_sdk_sqs::Client,
        group: impl Into<String>,
    ) -> Self {
        Self {
            scheduler,
            sqs,
            group: group.into(),
            known: HashMap::new(),
            urls: HashMap::new(),
        }
    }

    /// Fires every schedule of the group due at `now`; returns how many fired. One list call,
    /// plus one read for each schedule not seen before.
    pub async fn fire_due(&mut self, now: Timestamp) -> Result<usize, TimerError> {
        let mut names = Vec::new();
        let mut pages = self
            .scheduler
            .list_schedules()
            .group_name(&self.group)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(TimerError::sdk)?;
            names.extend(
                page.schedules()
                    .iter()
                    .filter_map(|s| s.name().map(str::to_owned)),
            );
        }
        self.known.retain(|name, _| names.contains(name));
        let mut fired = 0;
        for name in names {
            let due = match self.known.get(&name) {
                Some(due) => due.clone(),
                None => match self.read(&name).await? {
                    Some(due) => {
                        self.known.insert(name.clone(), due.clone());
                        due
                    }
                    None => continue,
                },
            };
            if due.at > now {
                continue;
            }
            let url = self.queue_url(&due.arn).await?;
            let mut send = self
                .sqs
                .send_message()
                .queue_url(url)
                .message_body(&due.input);
            if let Some(group) = &due.message_group {
                // Scheduler relies on the FIFO queue's content-based de-duplication; the name
                // is as good a de-duplication id.
                send = send.message_group_id(group).message_deduplication_id(&name);
            }
            send.send().await.map_err(TimerError::sqs)?;
            let deleted = self
                .scheduler
                .delete_schedule()
                .group_name(&self.group)
                .name(&name)
                .send()
                .await;
            if let Err(err) = deleted
                && !err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception())
            {
                // Sent but not deleted: it fires again next round, as Scheduler may.
                tracing::warn!(timer = %name, error = %aws_sdk_scheduler::error::DisplayErrorContext(&err), "fired timer not deleted");
            }
            self.known.remove(&name);
            fired += 1;
        }
        Ok(fired)
    }

    /// Fires due timers every `every`, by the time `now()` tells, until the process ends.
    pub async fn run(mut self, every: Duration, now: impl Fn() -> Timestamp) {
        loop {
            if let Err(err) = self.fire_due(now()).await {
                tracing::warn!(error = %err, "firing timers failed; trying again");
            }
            tokio::time::sleep(every).await;
        }
    }

    async fn read(&self, name: &str) -> Result<Option<Due>, TimerError> {
        let got = self
            .scheduler
            .get_schedule()
            .group_name(&self.group)
            .name(name)
            .send()
            .await;
        let schedule = match got {
            Ok(schedule) => schedule,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(err) => return Err(TimerError::sdk(err)),
        };
        let Some(at) = schedule.schedule_expression().and_then(parse_at) else {
            tracing::warn!(timer = %name, expression = ?schedule.schedule_expression(), "not a one-time schedule; left alone");
            return Ok(None);
        };
        let Some(target) = schedule.target() else {
            return Ok(None);
        };
        Ok(Some(Due {
            at,
            arn: target.arn().to_owned(),
            input: target.input().unwrap_or_default().to_owned(),
            message_group: target
                .sqs_parameters()
                .and_then(|p| p.message_group_id())
                .map(str::to_owned),
        }))
    }

    async fn queue_url(&mut self, arn: &str) -> Result<String, TimerError> {
        if let Some(url) = self.urls.get(arn) {
            return Ok(url.clone());
        }
        let mut parts = arn.rsplit(':');
        let (Some(name), Some(account)) = (parts.next(), parts.next()) else {
            return Err(TimerError::Invalid(format!("not a queue ARN: {arn}")));
        };
        let url = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(account)
            .send()
            .await
            .map_err(TimerError::sqs)?
            .queue_url
            .ok_or_else(|| TimerError::Unavailable(format!("no URL for {arn}")))?;
        self.urls.insert(arn.to_owned(), url.clone());
        Ok(url)
    }
}
