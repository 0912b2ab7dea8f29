//! Settings from the environment, typed. Each function asks only for what it uses, so a function
//! never fails to start over a variable meant for another one.
//!
//! A variable that is set but malformed is an error naming the variable: a typo in a limit must
//! not silently fall back to Viber's default. Unset (or empty: CloudFormation passes optional
//! parameters as `""`) takes the documented default where there is one.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use session_rules::{Limits, TransactionalText, TwoWaySessions};
use thiserror::Error;

pub const TABLE: &str = "VBM_TABLE";
pub const OUTBOUND_QUEUE_URL: &str = "OUTBOUND_QUEUE_URL";
pub const EVENTS_QUEUE_URL: &str = "EVENTS_QUEUE_URL";
pub const SESSION_DURATION_SECONDS: &str = "SESSION_DURATION_SECONDS";
pub const SESSION_MAX_MESSAGES: &str = "SESSION_MAX_MESSAGES";
pub const SESSION_MAX_CONSECUTIVE: &str = "SESSION_MAX_CONSECUTIVE";
pub const RETENTION_DAYS: &str = "RETENTION_DAYS";
/// Messages are kept 30 days unless `RETENTION_DAYS` says otherwise.
pub const DEFAULT_RETENTION_DAYS: u64 = 30;
pub const VIBER_API_URL: &str = "VIBER_API_URL";
pub const VIBER_API_TOKEN_SECRET_ID: &str = "VIBER_API_TOKEN_SECRET_ID";
pub const VIBER_TIMEOUT_SECONDS: &str = "VIBER_TIMEOUT_SECONDS";
pub const CALLBACK_TIMEOUT_SECONDS: &str = "CALLBACK_TIMEOUT_SECONDS";
pub const VIBER_CALLBACK_SECRET_ID: &str = "VIBER_CALLBACK_SECRET_ID";
pub const SECRETS_REFRESH_SECONDS: &str = "SECRETS_REFRESH_SECONDS";
pub const VIBER_CALLBACK_CIDRS: &str = "VIBER_CALLBACK_CIDRS";
/// How an opted-in business's free-form transactional text goes: `106` (default), `206`,
/// `template_only_transactional` (refused for every business).
pub const VIBER_TRANSACTIONAL_TEXT: &str = "VIBER_TRANSACTIONAL_TEXT";
/// Whether a user's reply on a two-way service opens a session: `open` (default) or `closed`.
pub const VIBER_TWO_WAY_SESSIONS: &str = "VIBER_TWO_WAY_SESSIONS";
pub const WARM_ON_INIT: &str = "VBM_WARM_ON_INIT";
// SMS failover.
/// The failover queue.
pub const FAILOVER_QUEUE_URL: &str = "FAILOVER_QUEUE_URL";
/// End User Messaging's endpoint (the local SMS stand-in); unset is AWS's.
pub const SMS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2";
/// The configuration set whose event destination carries the SMS delivery receipts.
pub const SMS_CONFIGURATION_SET: &str = "SMS_CONFIGURATION_SET";
/// The origination identity used when a failover names no sender id.
pub const SMS_ORIGINATION_IDENTITY: &str = "SMS_ORIGINATION_IDENTITY";
/// Provider calls before a failover is reported failed (default 4).
pub const SMS_MAX_ATTEMPTS: &str = "SMS_MAX_ATTEMPTS";
pub const TIMERS_GROUP: &str = "TIMERS_GROUP";
pub const TIMERS_ROLE_ARN: &str = "TIMERS_ROLE_ARN";
/// Campaigns: the fan-out queue.
pub const CAMPAIGN_QUEUE_URL: &str = "CAMPAIGN_QUEUE_URL";
/// Campaigns' uploaded recipient lists: the S3 bucket.
pub const UPLOADS_BUCKET: &str = "UPLOADS_BUCKET";
/// Business events: the events queue's `maxReceiveCount`.
pub const EVENTS_MAX_RECEIVE_COUNT: &str = "EVENTS_MAX_RECEIVE_COUNT";
/// Session lifecycle events.
pub const SESSION_TIMERS_QUEUE_URL: &str = "SESSION_TIMERS_QUEUE_URL";
pub const SESSION_EXPIRING_BEFORE_SECONDS: &str = "SESSION_EXPIRING_BEFORE_SECONDS";
pub const SESSION_EXPIRING_MESSAGES_LEFT: &str = "SESSION_EXPIRING_MESSAGES_LEFT";

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self {
            variable,
            reason: reason.into(),
        }
    }
}

/// Where settings are read from: the process environment, or a map in tests.
pub struct Config {
    source: Source,
}

enum Source {
    Process,
    Map(HashMap<String, String>),
}

impl Default for Config {
    fn default() -> Self {
        Self::from_env()
    }
}

impl Config {
    pub fn from_env() -> Self {
        Self {
            source: Source::Process,
        }
    }

    /// Settings from pairs instead of the environment (tests, the local stack).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            source: Source::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
            ),
        }
    }

    /// The value, `None` when unset or empty; an error when not valid UTF-8.
    fn get(&self, variable: &'static str) -> Result<Option<String>, ConfigError> {
        let value = match &self.source {
            Source::Process => match std::env::var(variable) {
                Ok(v) => Some(v),
                Err(std::env::VarError::NotPresent) => None,
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(ConfigError::new(variable, "not valid UTF-8"));
                }
            },
            Source::Map(map) => map.get(variable).cloned(),
        };
        Ok(value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
    }

    fn required(&self, variable: &'static str) -> Result<String, ConfigError> {
        self.get(variable)?
            .ok_or_else(|| ConfigError::new(variable, "required but not set"))
    }

    /// A positive number, or `default` when unset.
    fn positive<T>(&self, variable: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Default,
    {
        let Some(raw) = self.get(variable)? else {
            return Ok(default);
        };
        match raw.parse::<T>() {
            Ok(v) if v > T::default() => Ok(v),
            _ => Err(ConfigError::new(
                variable,
                format!("expected a positive whole number, got {raw:?}"),
            )),
        }
    }

    /// `VBM_TABLE`: the DynamoDB table.
    pub fn table(&self) -> Result<String, ConfigError> {
        self.required(TABLE)
    }

    /// `OUTBOUND_QUEUE_URL`: the FIFO queue `send` fills and `dispatch` drains.
    pub fn outbound_queue_url(&self) -> Result<String, ConfigError> {
        self.url(OUTBOUND_QUEUE_URL)
    }

    /// `EVENTS_QUEUE_URL`: business events for `notify`.
    pub fn events_queue_url(&self) -> Result<String, ConfigError> {
        self.url(EVENTS_QUEUE_URL)
    }

    fn url(&self, variable: &'static str) -> Result<String, ConfigError> {
        let url = self.required(variable)?;
        if url.starts_with("https://") || url.starts_with("http://") {
            Ok(url)
        } else {
            Err(ConfigError::new(
                variable,
                format!("expected an http(s) URL, got {url:?}"),
            ))
        }
    }

    /// The session rules' numbers: `SESSION_DURATION_SECONDS`, `SESSION_MAX_MESSAGES`,
    /// `SESSION_MAX_CONSECUTIVE`, each defaulting to [`Limits::default`] (24 h, 60, 5), and
    /// `VIBER_TRANSACTIONAL_TEXT` (106 by default), `VIBER_TWO_WAY_SESSIONS` (`open` by default).
    pub fn limits(&self) -> Result<Limits, ConfigError> {
        let defaults = Limits::default();
        let limits = Limits {
            session_duration: Duration::from_secs(self.positive(
                SESSION_DURATION_SECONDS,
                defaults.session_duration.as_secs(),
            )?),
            max_session_messages: self
                .positive(SESSION_MAX_MESSAGES, defaults.max_session_messages)?,
            max_consecutive: self.positive(SESSION_MAX_CONSECUTIVE, defaults.max_consecutive)?,
            transactional_text: match self.get(VIBER_TRANSACTIONAL_TEXT)? {
                None => defaults.transactional_text,
                Some(value) => TransactionalText::parse(&value).ok_or_else(|| {
                    ConfigError::new(
                        VIBER_TRANSACTIONAL_TEXT,
                        format!("{value:?}: must be 106, 206 or template_only_transactional"),
                    )
                })?,
            },
            two_way_sessions: match self.get(VIBER_TWO_WAY_SESSIONS)? {
                None => defaults.two_way_sessions,
                Some(value) => TwoWaySessions::parse(&value).ok_or_else(|| {
                    ConfigError::new(
                        VIBER_TWO_WAY_SESSIONS,
                        format!("{value:?}: must be open or closed"),
                    )
                })?,
            },
            ..defaults
        };
        if limits.max_consecutive > limits.max_session_messages {
            return Err(ConfigError::new(
                SESSION_MAX_CONSECUTIVE,
                format!(
                    "{} is more than {SESSION_MAX_MESSAGES} ({})",
                    limits.max_consecutive, limits.max_session_messages
                ),
            ));
        }
        Ok(limits)
    }

    /// `VIBER_CALLBACK_SECRET_ID`: the Secrets Manager secret (name or ARN) holding the
    /// callback URL secret and/or signing secret (`viber::CallbackSecrets`); `None` when unset
    /// or empty. The value itself is never in the environment.
    pub fn viber_callback_secret_id(&self) -> Result<Option<String>, ConfigError> {
        self.get(VIBER_CALLBACK_SECRET_ID)
    }

    /// `SECRETS_REFRESH_SECONDS`: how long a secret read from Secrets Manager is used before it
    /// is read again (default 300): the longest a rotation takes to reach every container.
    pub fn secrets_refresh(&self) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(
            self.positive(SECRETS_REFRESH_SECONDS, 300u64)?,
        ))
    }

    /// `VIBER_CALLBACK_CIDRS`: comma-separated source CIDRs allowed to post callbacks; empty
    /// when unset. (Parsed by `viber::CallbackAuth`, which also refuses to start with neither.)
    pub fn viber_callback_cidrs(&self) -> Result<String, ConfigError> {
        Ok(self.get(VIBER_CALLBACK_CIDRS)?.unwrap_or_default())
    }

    /// `TIMERS_GROUP`: the EventBridge Scheduler group timers are set in (`vbm_timers`).
    pub fn timers_group(&self) -> Result<String, ConfigError> {
        self.required(TIMERS_GROUP)
    }

    /// `CAMPAIGN_QUEUE_URL` (campaigns): the fan-out queue of `functions/campaign`. The
    /// template always deploys it: unset is an error at start, not campaigns turned off.
    pub fn campaign_queue_url(&self) -> Result<String, ConfigError> {
        self.url(CAMPAIGN_QUEUE_URL)
    }

    /// `UPLOADS_BUCKET`: the bucket of uploaded recipient lists (always deployed).
    pub fn uploads_bucket(&self) -> Result<String, ConfigError> {
        self.required(UPLOADS_BUCKET)
    }

    /// `TIMERS_ROLE_ARN`: the role Scheduler assumes to put a fired timer's body on its queue.
    pub fn timers_role_arn(&self) -> Result<String, ConfigError> {
        self.required(TIMERS_ROLE_ARN)
    }

    /// `VIBER_API_URL`: the root of Viber's (or a partner gateway's) API; `send_message` is
    /// POSTed below it.
    pub fn viber_api_url(&self) -> Result<String, ConfigError> {
        self.url(VIBER_API_URL)
    }

    /// `VIBER_API_TOKEN_SECRET_ID`: the Secrets Manager secret (name or ARN) whose value is the
    /// optional token for Viber or the gateway; `None` when unset or empty (no token). The
    /// token itself is never in the environment.
    pub fn viber_api_token_secret_id(&self) -> Result<Option<String>, ConfigError> {
        self.get(VIBER_API_TOKEN_SECRET_ID)
    }

    /// `VIBER_TIMEOUT_SECONDS`: how long one `send_message` call may take (default 5).
    pub fn viber_timeout(&self) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(
            self.positive(VIBER_TIMEOUT_SECONDS, 5u64)?,
        ))
    }

    /// `CALLBACK_TIMEOUT_SECONDS`: how long one delivery to a business callback URL may take
    /// (default 5).
    /// `EVENTS_MAX_RECEIVE_COUNT`: the receive after which the events queue dead-letters an
    /// event (its redrive policy's `maxReceiveCount`; default 5, the template's default), so
    /// `notify` can log the last failed attempt as `failed` rather than `pending`.
    pub fn events_max_receive_count(&self) -> Result<u32, ConfigError> {
        self.positive(EVENTS_MAX_RECEIVE_COUNT, 5u32)
    }

    /// `SESSION_TIMERS_QUEUE_URL`: where a session's timers fire (`lifecycle`).
    pub fn session_timers_queue_url(&self) -> Result<String, ConfigError> {
        self.url(SESSION_TIMERS_QUEUE_URL)
    }

    /// `SESSION_EXPIRING_BEFORE_SECONDS`: how long before a session's end `session.expiring`
    /// (`reason: time`) is sent; default 900 (15 minutes); `0` sends none.
    pub fn session_expiring_before(&self) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(
            self.whole(SESSION_EXPIRING_BEFORE_SECONDS, 900)?,
        ))
    }

    /// `SESSION_EXPIRING_MESSAGES_LEFT`: `session.expiring` (`reason: messages`) is sent when
    /// this many session messages are left; default 5; `0` sends none.
    pub fn session_expiring_messages_left(&self) -> Result<u32, ConfigError> {
        let n = self.whole(SESSION_EXPIRING_MESSAGES_LEFT, 5)?;
        u32::try_from(n).map_err(|_| ConfigError::new(SESSION_EXPIRING_MESSAGES_LEFT, "too large"))
    }

    /// A whole number, zero allowed (`positive` refuses zero).
    fn whole(&self, variable: &'static str, default: u64) -> Result<u64, ConfigError> {
        let Some(raw) = self.get(variable)? else {
            return Ok(default);
        };
        raw.parse::<u64>().map_err(|_| {
            ConfigError::new(variable, format!("expected a whole number, got {raw:?}"))
        })
    }

    pub fn callback_timeout(&self) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(
            self.positive(CALLBACK_TIMEOUT_SECONDS, 5u64)?,
        ))
    }

    /// `VBM_WARM_ON_INIT`: whether init opens the function's AWS connections and loads its
    /// lazy data before the first event ([`crate::warm`]). `true` or `false`; off when unset
    /// (tests, the local stack); template.yaml turns it on for Lambda.
    pub fn warm_on_init(&self) -> Result<bool, ConfigError> {
        match self.get(WARM_ON_INIT)?.as_deref() {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(other) => Err(ConfigError::new(
                WARM_ON_INIT,
                format!("expected true or false, got {other:?}"),
            )),
        }
    }

    /// `RETENTION_DAYS`: how long messages are kept (default 30 days, at most 3650); the
    /// store's other records keep their own fixed times.
    pub fn retention(&self) -> Result<Duration, ConfigError> {
        let days: u64 = self.positive(RETENTION_DAYS, DEFAULT_RETENTION_DAYS)?;
        days.checked_mul(86_400)
            .filter(|_| days <= 3650)
            .map(Duration::from_secs)
            .ok_or_else(|| ConfigError::new(RETENTION_DAYS, "at most 3650 days"))
    }

    // SMS failover.

    /// `FAILOVER_QUEUE_URL`: the SMS failover queue (always deployed; whether a business
    /// fails over is its own policy).
    pub fn failover_queue_url(&self) -> Result<String, ConfigError> {
        self.url(FAILOVER_QUEUE_URL)
    }

    /// `AWS_ENDPOINT_URL_PINPOINT_SMS_VOICE_V2`: End User Messaging's endpoint, when not AWS's.
    pub fn sms_endpoint_url(&self) -> Result<Option<String>, ConfigError> {
        match self.get(SMS_ENDPOINT_URL)? {
            None => Ok(None),
            Some(_) => self.url(SMS_ENDPOINT_URL).map(Some),
        }
    }

    /// `SMS_CONFIGURATION_SET`.
    pub fn sms_configuration_set(&self) -> Result<Option<String>, ConfigError> {
        self.get(SMS_CONFIGURATION_SET)
    }

    /// `SMS_ORIGINATION_IDENTITY`.
    pub fn sms_origination_identity(&self) -> Result<Option<String>, ConfigError> {
        self.get(SMS_ORIGINATION_IDENTITY)
    }

    /// `SMS_MAX_ATTEMPTS` (default 4, at most 10).
    pub fn sms_max_attempts(&self) -> Result<u32, ConfigError> {
        let n: u32 = self.positive(SMS_MAX_ATTEMPTS, 4)?;
        if n > 10 {
            return Err(ConfigError::new(SMS_MAX_ATTEMPTS, "at most 10"));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_unset_or_empty() {
        let config = Config::from_pairs([(SESSION_MAX_MESSAGES, "")]);
        assert_eq!(config.limits().unwrap(), Limits::default());
        assert_eq!(
            config.retention().unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(config.secrets_refresh().unwrap(), Duration::from_secs(300));
        assert_eq!(config.viber_callback_secret_id().unwrap(), None);
    }

    #[test]
    fn two_way_sessions_is_a_deployment_setting() {
        let limits = |v: &str| Config::from_pairs([(VIBER_TWO_WAY_SESSIONS, v)]).limits();
        assert_eq!(limits("").unwrap().two_way_sessions, TwoWaySessions::Open);
        assert_eq!(
            limits("closed").unwrap().two_way_sessions,
            TwoWaySessions::Closed
        );
        let err = limits("yes").unwrap_err();
        assert!(err.to_string().contains("VIBER_TWO_WAY_SESSIONS"), "{err}");
    }

    #[test]
    fn transactional_text_is_a_deployment_setting() {
        let limits = |v: &str| Config::from_pairs([(VIBER_TRANSACTIONAL_TEXT, v)]).limits();
        assert_eq!(
            limits("206").unwrap().transactional_text,
            TransactionalText::Type206
        );
        assert_eq!(
            limits("template_only_transactional")
                .unwrap()
                .transactional_text,
            TransactionalText::TemplateOnly
        );
        assert_eq!(
            limits("").unwrap().transactional_text,
            TransactionalText::Type106
        );
        let err = limits("207").unwrap_err();
        assert!(
            err.to_string().contains("VIBER_TRANSACTIONAL_TEXT"),
            "{err}"
        );
    }

    #[test]
    fn warm_up_is_off_unless_switched_on() {
        assert!(!Config::from_pairs::<&str, &str>([]).warm_on_init().unwrap());
        assert!(
            !Config::from_pairs([(WARM_ON_INIT, "")])
                .warm_on_init()
                .unwrap()
        );
        assert!(
            !Config::from_pairs([(WARM_ON_INIT, "false")])
                .warm_on_init()
                .unwrap()
        );
        assert!(
            Config::from_pairs([(WARM_ON_INIT, "true")])
                .warm_on_init()
                .unwrap()
        );
        assert!(
            Config::from_pairs([(WARM_ON_INIT, " TRUE ")])
                .warm_on_init()
                .unwrap()
        );
    }

    #[test]
    fn values_are_read() {
        let config = Config::from_pairs([
            (TABLE, "vbm"),
            (OUTBOUND_QUEUE_URL, "http://127.0.0.1:5000/123/out.fifo"),
            (SESSION_DURATION_SECONDS, "43200"),
            (SESSION_MAX_MESSAGES, "10"),
            (SESSION_MAX_CONSECUTIVE, " 2 "),
            (RETENTION_DAYS, "7"),
        ]);
        assert_eq!(config.table().unwrap(), "vbm");
        assert!(config.outbound_queue_url().unwrap().ends_with("out.fifo"));
        let limits = config.limits().unwrap();
        assert_eq!(limits.session_duration, Duration::from_secs(43_200));
        assert_eq!(
            (limits.max_session_messages, limits.max_consecutive),
            (10, 2)
        );
        assert_eq!(config.retention().unwrap(), Duration::from_secs(7 * 86_400));
    }

    /// Resources the template always deploys: a function without one must not start with the
    /// feature silently off.
    #[test]
    fn always_deployed_resources_are_required() {
        let missing = Config::from_pairs([(FAILOVER_QUEUE_URL, "")]);
        assert_eq!(
            missing.failover_queue_url().unwrap_err().variable,
            FAILOVER_QUEUE_URL
        );
        assert_eq!(
            missing.campaign_queue_url().unwrap_err().variable,
            CAMPAIGN_QUEUE_URL
        );
        assert_eq!(
            missing.uploads_bucket().unwrap_err().variable,
            UPLOADS_BUCKET
        );
        let malformed = Config::from_pairs([(CAMPAIGN_QUEUE_URL, "vbm-campaigns")]);
        assert!(
            malformed
                .campaign_queue_url()
                .unwrap_err()
                .reason
                .contains("URL")
        );
    }

    #[test]
    fn errors_name_the_variable() {
        let missing = Config::from_pairs::<&str, &str>([]);
        assert_eq!(missing.table().unwrap_err().variable, TABLE);
        assert_eq!(
            missing.events_queue_url().unwrap_err().variable,
            EVENTS_QUEUE_URL
        );
        for (variable, value) in [
            (SESSION_DURATION_SECONDS, "24h"),
            (SESSION_MAX_MESSAGES, "0"),
            (SESSION_MAX_CONSECUTIVE, "-5"),
            (SESSION_MAX_CONSECUTIVE, "61"),
            (RETENTION_DAYS, "thirty"),
            (RETENTION_DAYS, "99999999999999999"),
        ] {
            let config = Config::from_pairs([(variable, value)]);
            let err = config
                .limits()
                .err()
                .or(config.retention().err())
                .unwrap_or_else(|| panic!("{variable}={value} accepted"));
            assert_eq!(err.variable, variable, "{value}");
            assert!(err.to_string().starts_with(variable));
        }
        let bad_refresh = Config::from_pairs([(SECRETS_REFRESH_SECONDS, "5m")]);
        assert_eq!(
            bad_refresh.secrets_refresh().unwrap_err().variable,
            SECRETS_REFRESH_SECONDS
        );
        let bad_switch = Config::from_pairs([(WARM_ON_INIT, "yes")]);
        assert_eq!(
            bad_switch.warm_on_init().unwrap_err().variable,
            WARM_ON_INIT
        );
        let bad_url = Config::from_pairs([(OUTBOUND_QUEUE_URL, "out.fifo")]);
        assert_eq!(
            bad_url.outbound_queue_url().unwrap_err().variable,
            OUTBOUND_QUEUE_URL
        );
    }
}
