//! Secrets from AWS Secrets Manager, so none sits in plain text in the template or the
//! function's environment (which anyone with `lambda:GetFunctionConfiguration` reads).
//!
//! A [`Refreshing`] value is read and parsed once at init (a function whose secret cannot be
//! read or parsed does not start), then served from memory. After its TTL the next caller reads
//! it again, so a rotation reaches every container within one TTL with no redeploy; the other
//! callers keep the cached value meanwhile. A failed, slow (over [`REFRESH_TIMEOUT`]) or
//! unusable refresh keeps the last good value (logged, retried after [`RETRY_AFTER_FAILURE`] at
//! most): a Secrets Manager outage or a bad edit of the secret must not refuse every callback.
//!
//! Why Secrets Manager rather than SSM SecureString: CloudFormation can create a Secrets
//! Manager secret and generate its value (it cannot create a SecureString parameter), the AWS
//! managed key needs no `kms:Decrypt` grant, and the secret is versioned.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use thiserror::Error;

/// How soon a refresh that failed is tried again (or the TTL, when shorter).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// The longest a refresh may hold up the caller that makes it (a callback being answered):
/// past it, the cached value is used and the refresh counts as failed.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(2);

/// Reading or using a secret failed. Never holds the secret's value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SecretError {
    #[error("reading secret {id}: {message}")]
    Read { id: String, message: String },
    #[error("secret {id} has no string value")]
    NotAString { id: String },
    #[error("secret {id}: {reason}")]
    Unusable { id: String, reason: String },
    #[error("reading secret {id}: no answer within {REFRESH_TIMEOUT:?}")]
    TimedOut { id: String },
}

/// One secret in Secrets Manager: its id (name or ARN) and the client that reads it.
#[derive(Clone, Debug)]
pub struct SecretSource {
    client: aws_sdk_secretsmanager::Client,
    id: String,
}

impl SecretSource {
    pub fn new(client: aws_sdk_secretsmanager::Client, id: impl Into<String>) -> Self {
        Self {
            client,
            id: id.into(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The current value (`AWSCURRENT`) and its version id.
    pub async fn read(&self) -> Result<(String, Option<String>), SecretError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(&self.id)
            .send()
            .await
            .map_err(|e| SecretError::Read {
                id: self.id.clone(),
                message: DisplayErrorContext(e).to_string(),
            })?;
        let version = output.version_id().map(str::to_owned);
        let value = output
            .secret_string
            .ok_or_else(|| SecretError::NotAString {
                id: self.id.clone(),
            })?;
        Ok((value, version))
    }
}

type Parse<T> = Arc<dyn Fn(&str) -> Result<T, String> + Send + Sync>;

/// A secret's parsed value, cached and refreshed after `ttl`.
pub struct Refreshing<T> {
    source: SecretSource,
    parse: Parse<T>,
    ttl: Duration,
    state: Mutex<State<T>>,
}

struct State<T> {
    value: Arc<T>,
    version: Option<String>,
    /// When the next caller reads the secret again.
    refresh_at: Instant,
}

impl<T> Refreshing<T> {
    /// Reads and parses the secret now. `parse` says why a value cannot be used, without
    /// quoting it.
    pub async fn load(
        source: SecretSource,
        ttl: Duration,
        parse: impl Fn(&str) -> Result<T, String> + Send + Sync + 'static,
    ) -> Result<Self, SecretError> {
        let parse: Parse<T> = Arc::new(parse);
        let (text, version) = source.read().await?;
        let value = parse(&text).map_err(|reason| SecretError::Unusable {
            id: source.id.clone(),
            reason,
        })?;
        tracing::info!(secret = source.id(), version = ?version, "secret loaded");
        Ok(Self {
            source,
            parse,
            ttl,
            state: Mutex::new(State {
                value: Arc::new(value),
                version,
                refresh_at: Instant::now() + ttl,
            }),
        })
    }

    /// The value, read again first when the TTL has passed.
    pub async fn current(&self) -> Arc<T> {
        self.current_at(Instant::now()).await
    }

    /// [`current`](Self::current) as of `now` (tests move time without sleeping).
    pub async fn current_at(&self, now: Instant) -> Arc<T> {
        {
            let mut state = self.lock();
            if now < state.refresh_at {
                return Arc::clone(&state.value);
            }
            // This caller refreshes; the others keep the cached value until it is done.
            state.refresh_at = now + self.ttl.min(RETRY_AFTER_FAILURE);
        }
        match self.refresh().await {
            Ok((value, version)) => {
                let mut state = self.lock();
                if state.version != version {
                    tracing::info!(secret = self.source.id(), version = ?version, "secret refreshed");
                }
                state.value = Arc::new(value);
                state.version = version;
                state.refresh_at = now + self.ttl;
                Arc::clone(&state.value)
            }
            Err(error) => {
                tracing::warn!(%error, "secret not refreshed; the cached value stays in use");
                Arc::clone(&self.lock().value)
            }
        }
    }

    /// The version id of the value in use (Secrets Manager's `VersionId`).
    pub fn version(&self) -> Option<String> {
        self.lock().version.clone()
    }

    async fn refresh(&self) -> Result<(T, Option<String>), SecretError> {
        let (text, version) = tokio::time::timeout(REFRESH_TIMEOUT, self.source.read())
            .await
            .map_err(|_| SecretError::TimedOut {
                id: self.source.id.clone(),
            })??;
        let value = (self.parse)(&text).map_err(|reason| SecretError::Unusable {
            id: self.source.id.clone(),
            reason,
        })?;
        Ok((value, version))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // The state is replaced whole, so a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> std::fmt::Debug for Refreshing<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refreshing")
            .field("secret", &self.source.id)
            .field("ttl", &self.ttl)
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}
