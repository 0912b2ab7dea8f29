//! Warm-up during init (`VBM_WARM_ON_INIT=true`, set in template.yaml): the work the first
//! event would otherwise pay, done before the function asks Lambda for it.
//!
//! The SDK opens its connections lazily, so without this the first request pays DNS, TCP, the
//! TLS handshake, loading the system's root certificates and resolving credentials; parsing
//! the first phone number compiles its country's few numbering-plan patterns. Init runs with a full
//! CPU burst, so all of it is cheaper there. One read of a key that never exists (allowed by
//! every function's policy) and one `GetQueueAttributes` of the function's own queue open the
//! connections the first event reuses (the store's step is `Store::warm_up`, added with
//! [`Warmup::step`]).
//!
//! A warm-up step that fails or runs out of time is logged and forgotten: the first event then
//! pays as it would have. It never fails init.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;

use crate::config::{Config, ConfigError};

/// The most init waits for the warm-up (Lambda allows 10 s of init).
pub const BUDGET: Duration = Duration::from_secs(2);

type Step<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// The steps one function warms, run concurrently by [`Warmup::run`].
#[derive(Default)]
pub struct Warmup<'a> {
    steps: Vec<(&'static str, Step<'a>)>,
}

impl<'a> Warmup<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a step an adapter supplies (the store's is `Store::warm_up`): it should open the
    /// connection the first event reuses and change nothing.
    pub fn step(
        mut self,
        name: &'static str,
        step: impl Future<Output = Result<(), String>> + Send + 'a,
    ) -> Self {
        self.steps.push((name, Box::pin(step)));
        self
    }

    /// Reads the queue's ARN: opens the connection to SQS the function's sends reuse.
    pub fn queue(mut self, sqs: &'a aws_sdk_sqs::Client, queue_url: &'a str) -> Self {
        self.steps.push((
            "sqs",
            Box::pin(async move {
                sqs.get_queue_attributes()
                    .queue_url(queue_url)
                    .attribute_names(QueueAttributeName::QueueArn)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            }),
        ));
        self
    }

    /// Parses one phone number: compiles the numbering-plan patterns of one country (+44), what
    /// a first number of that country would. CPU work, on a blocking thread so the requests go on meanwhile.
    pub fn phone_numbers(mut self) -> Self {
        self.steps.push((
            "phone_numbers",
            Box::pin(async {
                tokio::task::spawn_blocking(|| {
                    session_rules::PhoneNumber::parse("+447911123456")
                        .map(|_| ())
                        .map_err(|e| format!("{e:?}"))
                })
                .await
                .map_err(|e| e.to_string())?
            }),
        ));
        self
    }

    /// Runs the steps when `VBM_WARM_ON_INIT` is on, concurrently and within [`BUDGET`];
    /// logs each outcome. Only a malformed switch is an error (like any setting).
    pub async fn run_if_enabled(self, config: &Config) -> Result<(), ConfigError> {
        if config.warm_on_init()? {
            self.run(BUDGET).await;
        }
        Ok(())
    }

    /// Runs the steps concurrently, each for at most `budget`; returns the names of those that
    /// finished without error, in the order they were added.
    pub async fn run(self, budget: Duration) -> Vec<&'static str> {
        let started = Instant::now();
        let steps = self.steps.into_iter().map(|(name, step)| async move {
            let began = Instant::now();
            let result = tokio::time::timeout(budget, step)
                .await
                .unwrap_or_else(|_| Err(format!("not done within {budget:?}")));
            let elapsed_us = began.elapsed().as_micros() as u64;
            match &result {
                Ok(()) => tracing::debug!(step = name, elapsed_us, "warm-up step done"),
                Err(error) => {
                    tracing::warn!(step = name, elapsed_us, %error, "warm-up step failed")
                }
            }
            result.ok().map(|()| name)
        });
        let done: Vec<_> = futures_util::future::join_all(steps)
            .await
            .into_iter()
            .flatten()
            .collect();
        tracing::info!(
            elapsed_us = started.elapsed().as_micros() as u64,
            steps = ?done,
            "warm-up finished"
        );
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_and_slow_steps_never_fail_the_warm_up() {
        let mut warmup = Warmup::new().phone_numbers();
        warmup
            .steps
            .push(("broken", Box::pin(async { Err("no route".to_string()) })));
        assert_eq!(warmup.run(Duration::from_secs(60)).await, ["phone_numbers"]);

        let mut slow = Warmup::new();
        slow.steps.push((
            "slow",
            Box::pin(async {
                std::future::pending::<()>().await;
                Ok(())
            }),
        ));
        assert!(slow.run(Duration::from_millis(10)).await.is_empty());
    }

    #[tokio::test]
    async fn nothing_runs_unless_switched_on() {
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let mut warmup = Warmup::new();
        warmup.steps.push((
            "flag",
            Box::pin(async move {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }),
        ));
        let off = Config::from_pairs::<&str, &str>([]);
        warmup.run_if_enabled(&off).await.unwrap();
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
        let bad = Config::from_pairs([(crate::config::WARM_ON_INIT, "on")]);
        assert!(Warmup::new().run_if_enabled(&bad).await.is_err());
    }
}
