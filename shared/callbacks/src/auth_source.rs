//! Where a callback function's authentication comes from: fixed (tests, benchmarks), or the
//! Secrets Manager secret named by `VIBER_CALLBACK_SECRET_ID` plus `VIBER_CALLBACK_CIDRS`,
//! refreshed every `SECRETS_REFRESH_SECONDS` so a rotation needs no redeploy.

use std::sync::Arc;
use std::time::Duration;

use vbm_platform::config::Config;
use vbm_secrets::{Refreshing, SecretSource};
use viber::{AuthConfigError, CallbackAuth, CallbackSecrets};

use crate::StartError;

/// The callback authentication of one container.
pub enum AuthSource {
    Fixed(Arc<CallbackAuth>),
    Managed(Refreshing<CallbackAuth>),
}

impl From<CallbackAuth> for AuthSource {
    fn from(auth: CallbackAuth) -> Self {
        AuthSource::Fixed(Arc::new(auth))
    }
}

impl AuthSource {
    /// The authentication in force: the secret is read again once its TTL has passed.
    pub async fn current(&self) -> Arc<CallbackAuth> {
        match self {
            AuthSource::Fixed(auth) => Arc::clone(auth),
            AuthSource::Managed(refreshing) => refreshing.current().await,
        }
    }

    /// Reads the secret `secret_id` (with `client`) and combines it with `cidrs`. A secret
    /// that cannot be read, is not [`CallbackSecrets`] JSON, or leaves nothing configured is
    /// an error; so is a later refresh to such a value, which keeps the last good one.
    pub async fn from_secret(
        client: aws_sdk_secretsmanager::Client,
        secret_id: &str,
        cidrs: &str,
        refresh: Duration,
    ) -> Result<Self, StartError> {
        viber::auth::parse_cidrs(cidrs)?;
        let cidrs = cidrs.to_owned();
        let refreshing =
            Refreshing::load(SecretSource::new(client, secret_id), refresh, move |text| {
                CallbackSecrets::parse_json(text)
                    .and_then(|secrets| CallbackAuth::new(secrets, &cidrs))
                    .map_err(|e| e.to_string())
            })
            .await?;
        Ok(AuthSource::Managed(refreshing))
    }
}

impl std::fmt::Debug for AuthSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthSource::Fixed(auth) => f.debug_tuple("Fixed").field(auth).finish(),
            AuthSource::Managed(refreshing) => f.debug_tuple("Managed").field(refreshing).finish(),
        }
    }
}

/// The settings, read before any SDK work so a function that cannot authenticate callbacks
/// fails at once.
pub(crate) struct Settings {
    secret_id: Option<String>,
    cidrs: String,
    refresh: Duration,
}

impl Settings {
    pub(crate) fn from_config(config: &Config) -> Result<Self, StartError> {
        let secret_id = config.viber_callback_secret_id()?;
        let cidrs = config.viber_callback_cidrs()?;
        let refresh = config.secrets_refresh()?;
        let networks = viber::auth::parse_cidrs(&cidrs)?;
        if secret_id.is_none() && networks.is_empty() {
            return Err(AuthConfigError::NothingConfigured.into());
        }
        Ok(Self {
            secret_id,
            cidrs,
            refresh,
        })
    }

    pub(crate) async fn load(self, sdk: &aws_types::SdkConfig) -> Result<AuthSource, StartError> {
        match self.secret_id {
            Some(id) => {
                let client = aws_sdk_secretsmanager::Client::new(sdk);
                AuthSource::from_secret(client, &id, &self.cidrs, self.refresh).await
            }
            None => Ok(CallbackAuth::new(CallbackSecrets::default(), &self.cidrs)?.into()),
        }
    }
}
