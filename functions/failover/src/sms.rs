//! AWS End User Messaging SMS (`pinpoint-sms-voice-v2` `SendTextMessage`): the one provider
//! call, and what its answer means for the failover.
//!
//! The SDK's own retries are off for this client: SendTextMessage takes no idempotency token, so
//! a retry after a lost answer could send the SMS twice. Retries are the failover queue's, each
//! one recorded on the message first (see `vbm_store`'s `failover` module).

use aws_sdk_pinpointsmsvoicev2::error::SdkError;
use aws_sdk_pinpointsmsvoicev2::operation::send_text_message::SendTextMessageError;
use aws_sdk_pinpointsmsvoicev2::types::MessageType;

/// How long one SendTextMessage may take.
pub const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8);

/// One SMS to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms<'a> {
    pub to: &'a str,
    pub text: &'a str,
    pub origination: Option<&'a str>,
    /// Echoed in the delivery receipts (`context`): how a receipt finds its message.
    pub business_id: &'a str,
    pub message_id: &'a str,
}

/// How a provider call ended without a message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsError {
    /// The provider answered no, for now (throttling, its own failure, the spend limit).
    Retry(String),
    /// The provider answered no for good (validation, access, an opted-out number).
    Refused(String),
    /// No answer after the request may have gone (timeout, a cut response): the SMS may have
    /// been sent.
    Unknown(String),
}

/// The End User Messaging client of one container, with the deployment's settings.
#[derive(Debug, Clone)]
pub struct SmsSender {
    client: aws_sdk_pinpointsmsvoicev2::Client,
    configuration_set: Option<String>,
    default_origination: Option<String>,
}

impl SmsSender {
    /// From the SDK config, with retries off and `endpoint` (the local stand-in) when set.
    pub fn new(
        sdk: &aws_types::SdkConfig,
        endpoint: Option<&str>,
        configuration_set: Option<String>,
        default_origination: Option<String>,
    ) -> Self {
        let mut config = aws_sdk_pinpointsmsvoicev2::config::Builder::from(sdk)
            .retry_config(aws_sdk_pinpointsmsvoicev2::config::retry::RetryConfig::disabled())
            // Longer than the table's: a timeout here is an unknown outcome, reported failed.
            .timeout_config(
                aws_sdk_pinpointsmsvoicev2::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(2))
                    .operation_attempt_timeout(SEND_TIMEOUT)
                    .operation_timeout(SEND_TIMEOUT)
                    .build(),
            );
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        Self {
            client: aws_sdk_pinpointsmsvoicev2::Client::from_conf(config.build()),
            configuration_set,
            default_origination,
        }
    }

    /// Sends one SMS; its End User Messaging `MessageId`.
    pub async fn send(&self, sms: &Sms<'_>) -> Result<String, SmsError> {
        let answer = self
            .client
            .send_text_message()
            .destination_phone_number(sms.to)
            .message_body(sms.text)
            .message_type(MessageType::Transactional)
            .set_origination_identity(
                sms.origination
                    .map(str::to_owned)
                    .or_else(|| self.default_origination.clone()),
            )
            .set_configuration_set_name(self.configuration_set.clone())
            .context("business_id", sms.business_id)
            .context("message_id", sms.message_id)
            .send()
            .await;
        match answer {
            Ok(out) => out
                .message_id
                .ok_or_else(|| SmsError::Unknown("answered without a MessageId".into())),
            Err(err) => Err(classify(err)),
        }
    }
}

/// What a failed call means, with a short reason for the record and the business: the
/// provider's error code and message (`ValidationException: …`), or what went wrong on the way.
fn classify<R: std::fmt::Debug>(err: SdkError<SendTextMessageError, R>) -> SmsError {
    use aws_sdk_pinpointsmsvoicev2::error::ProvideErrorMetadata;
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let reason = format!(
                "{}: {}",
                e.code().unwrap_or("ServiceError"),
                e.message().unwrap_or_default()
            );
            match e {
                SendTextMessageError::InternalServerException(_)
                | SendTextMessageError::ThrottlingException(_)
                | SendTextMessageError::ServiceQuotaExceededException(_) => SmsError::Retry(reason),
                _ => SmsError::Refused(reason),
            }
        }
        // Never connected, or the request could not be built: nothing went out.
        SdkError::DispatchFailure(_) => SmsError::Retry("dispatch_failure".into()),
        SdkError::ConstructionFailure(_) => SmsError::Retry("construction_failure".into()),
        // A timeout or a broken answer: the provider may have sent it.
        SdkError::TimeoutError(_) => SmsError::Unknown("timeout".into()),
        _ => SmsError::Unknown("response_error".into()),
    }
}
