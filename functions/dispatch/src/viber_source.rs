//! Where `dispatch`'s Viber client comes from. Without `VIBER_API_TOKEN_SECRET_ID`, a client
//! with no token (Viber's own partner API authenticates by source IP). With it, the token is the
//! Secrets Manager secret's value (the whole string), never an environment variable: read at
//! init, and re-read every `SECRETS_REFRESH_SECONDS`, each new value a new client, so a rotated
//! token reaches every container without a redeploy.

use std::sync::Arc;
use std::time::Duration;

use vbm_platform::config::Config;
use vbm_secrets::{Refreshing, SecretSource};
use viber::ViberClient;

use crate::StartError;

/// The Viber client of one container.
pub enum ViberSource {
    Fixed(Arc<ViberClient>),
    Managed(Refreshing<ViberClient>),
}

impl From<ViberClient> for ViberSource {
    fn from(client: ViberClient) -> Self {
        ViberSource::Fixed(Arc::new(client))
    }
}

impl ViberSource {
    /// The client in force: the token is read again once its TTL has passed.
    pub async fn current(&self) -> Arc<ViberClient> {
        match self {
            ViberSource::Fixed(client) => Arc::clone(client),
            ViberSource::Managed(refreshing) => refreshing.current().await,
        }
    }

    /// A client for `base_url` whose token is the value of `secret_id`. An unreadable secret,
    /// or a blank or multi-line value, is an error (and a later refresh to one keeps the last
    /// good token).
    pub async fn from_secret(
        client: aws_sdk_secretsmanager::Client,
        secret_id: &str,
        base_url: &str,
        timeout: Duration,
        refresh: Duration,
    ) -> Result<Self, StartError> {
        // The URL is checked before any call.
        ViberClient::new(base_url, None, timeout)?;
        let base_url = base_url.to_owned();
        let refreshing =
            Refreshing::load(SecretSource::new(client, secret_id), refresh, move |text| {
                let token = text.trim();
                if token.is_empty() {
                    return Err("the API token is empty".to_owned());
                }
                ViberClient::new(&base_url, Some(token.to_owned()), timeout)
                    .map_err(|e| e.to_string())
            })
            .await?;
        Ok(ViberSource::Managed(refreshing))
    }

    /// `VIBER_API_URL`, `VIBER_TIMEOUT_SECONDS` and, when set, the token from
    /// `VIBER_API_TOKEN_SECRET_ID`.
    pub async fn from_config(
        config: &Config,
        sdk: &aws_types::SdkConfig,
    ) -> Result<Self, StartError> {
        let url = config.viber_api_url()?;
        let timeout = config.viber_timeout()?;
        match config.viber_api_token_secret_id()? {
            Some(id) => {
                let client = aws_sdk_secretsmanager::Client::new(sdk);
                Self::from_secret(client, &id, &url, timeout, config.secrets_refresh()?).await
            }
            None => Ok(ViberClient::new(&url, None, timeout)?.into()),
        }
    }
}
