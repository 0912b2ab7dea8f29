//! The six functions, built the way their Lambda binaries build them, but sharing the local
//! stack's clock and configuration.

use std::sync::Arc;

use aws_config::SdkConfig;
use vbm_events::EventsQueue;
use vbm_platform::clock::{Clock, OffsetClock};
use vbm_platform::config::Config;
use vbm_queue::OutboundQueue;

use crate::poller::BatchHandler;
use crate::server::HttpHandler;

pub struct Functions {
    pub send: HttpHandler,
    pub inbound: HttpHandler,
    pub status: HttpHandler,
    pub dispatch: BatchHandler,
    pub notify: BatchHandler,
    /// Campaigns: the fan-out queue's consumer.
    pub campaign: BatchHandler,
    /// SMS failover: the failover queue's consumer.
    pub failover: BatchHandler,
    /// The table's stream consumer (the outbox), driven by `relay::reader::StreamReader`.
    pub relay: Arc<relay::App>,
    /// Business events: the second stream consumer (session lifecycle, read by its
    /// own `StreamReader`) and the consumer of the session timers queue.
    pub lifecycle: Arc<lifecycle::App>,
    pub lifecycle_timers: BatchHandler,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Functions {
    pub async fn build(
        config: &Config,
        sdk: &SdkConfig,
        clock: Arc<OffsetClock>,
        options: &crate::Options,
    ) -> Result<Self, String> {
        let clock: Arc<dyn Clock> = clock;
        let (table, limits) = (config.table().map_err(err)?, config.limits().map_err(err)?);
        let retention = config.retention().map_err(err)?;
        let store = || vbm_store::Store::connect(sdk, table.clone(), limits, retention);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let outbound_url = config.outbound_queue_url().map_err(err)?;
        let events_url = config.events_queue_url().map_err(err)?;
        let events = || EventsQueue::new(sqs.clone(), events_url.clone());
        // Each function its own cache of the secret, as two Lambda functions would have.
        let secret_id = config
            .viber_callback_secret_id()
            .map_err(err)?
            .ok_or("VIBER_CALLBACK_SECRET_ID is not set")?;
        let refresh = config.secrets_refresh().map_err(err)?;
        let secrets = aws_sdk_secretsmanager::Client::new(sdk);
        let auth =
            || vbm_callbacks::AuthSource::from_secret(secrets.clone(), &secret_id, "", refresh);

        // Campaigns: start timers from send, the fan-out with window timers.
        let campaign_timers =
            vbm_outbound::CampaignTimers::from_config(config, sdk).map_err(err)?;
        let campaign_url = config.campaign_queue_url().map_err(err)?;
        let campaign_queue = vbm_queue::CampaignQueue::new(sqs.clone(), campaign_url);
        let campaign = campaign::App::new(
            store(),
            campaign_queue.clone(),
            campaign_timers.clone(),
            events(),
            clock.clone(),
        );
        // Uploaded lists: presigned URLs to the emulator's bucket (path-style, below its URL).
        let presigner =
            vbm_uploads::Presigner::from_sdk(sdk, config.uploads_bucket().map_err(err)?);
        let reader = vbm_uploads::reader::Reader::new(presigner.clone()).map_err(err)?;
        let campaign = Arc::new(campaign.with_uploads(reader));
        let send = Arc::new(
            send::App::new(store(), clock.clone())
                .with_events(events())
                .with_campaigns(campaign_timers)
                .with_uploads(presigner),
        );
        // Parked work goes back to its queue when its hold is lifted.
        let relay = Arc::new(
            relay::App::new(OutboundQueue::new(sqs.clone(), outbound_url.clone())).with_holds(
                relay::Holds {
                    store: store(),
                    campaign: Some(campaign_queue),
                    failover: Some(vbm_queue::FailoverQueue::new(
                        sqs.clone(),
                        config.failover_queue_url().map_err(err)?,
                    )),
                },
            ),
        );
        let inbound = Arc::new(inbound::App::new(
            store(),
            events(),
            clock.clone(),
            auth().await.map_err(err)?,
        ));
        // SMS failover: dispatch and status queue jobs, `failover` takes them.
        let failover_queue =
            vbm_queue::FailoverQueue::new(sqs.clone(), config.failover_queue_url().map_err(err)?);
        let status = Arc::new(
            status::App::new(store(), events(), clock.clone(), auth().await.map_err(err)?)
                .map_route(|route| route.with_failover(failover_queue.clone())),
        );
        let viber_url = config.viber_api_url().map_err(err)?;
        let dispatch = dispatch::App::new(
            store(),
            viber::ViberClient::new(&viber_url, None, options.viber_timeout).map_err(err)?,
            events(),
            sqs.clone(),
            outbound_url,
            clock.clone(),
        );
        let dispatch = Arc::new(dispatch.with_failover(failover_queue.clone()));
        let failover: BatchHandler = {
            let app = Arc::new(failover::App::new(
                store(),
                failover::sms::SmsSender::new(
                    sdk,
                    config.sms_endpoint_url().map_err(err)?.as_deref(),
                    config.sms_configuration_set().map_err(err)?,
                    config.sms_origination_identity().map_err(err)?,
                ),
                events(),
                vbm_queue::Retries::new(sqs.clone(), failover_queue.url(), failover::SCHEDULE),
                clock.clone(),
                config.sms_max_attempts().map_err(err)?,
            ));
            Arc::new(move |event| {
                let app = app.clone();
                Box::pin(async move { app.handle_batch(event).await })
            })
        };
        // Business events: session lifecycle events, their timers fired locally by
        // the movable clock (vbm_timers::dev).
        let timers = vbm_timers::Timers::new(
            aws_sdk_scheduler::Client::new(sdk),
            sqs.clone(),
            config.timers_group().map_err(err)?,
            config.timers_role_arn().map_err(err)?,
        );
        let region = sdk
            .region()
            .map_or("us-east-1".to_owned(), |r| r.to_string());
        let target =
            vbm_timers::Target::queue(&config.session_timers_queue_url().map_err(err)?, &region)
                .map_err(err)?;
        let lifecycle = Arc::new(lifecycle::App::new(
            store(),
            events(),
            timers,
            target,
            clock.clone(),
            lifecycle::transitions::Expiring {
                before: config.session_expiring_before().map_err(err)?,
                messages_left: config.session_expiring_messages_left().map_err(err)?,
            },
        ));
        // The local stack's callback sink is on this machine: the loopback, explicitly.
        let http = notify::http_client(
            options.callback_timeout,
            session_rules::callback_address::CallbackAddresses::AlsoLoopback,
        )
        .map_err(err)?;
        let notify = Arc::new(
            notify::App::new(store(), http, sqs.clone(), events_url.clone(), clock)
                .with_max_receive_count(config.events_max_receive_count().map_err(err)?),
        );

        Ok(Self {
            send: Arc::new(move |request| {
                let app = send.clone();
                Box::pin(async move { app.handle(request).await })
            }),
            inbound: Arc::new(move |request| {
                let app = inbound.clone();
                Box::pin(async move { app.handle(request).await })
            }),
            status: Arc::new(move |request| {
                let app = status.clone();
                Box::pin(async move { app.handle(request).await })
            }),
            dispatch: Arc::new(move |event| {
                let app = dispatch.clone();
                Box::pin(async move { app.handle_batch(event).await })
            }),
            campaign: Arc::new(move |event| {
                let app = campaign.clone();
                Box::pin(async move { app.handle_batch(event).await })
            }),
            notify: Arc::new(move |event| {
                let app = notify.clone();
                Box::pin(async move { app.handle_batch(event).await })
            }),
            failover,
            relay,
            lifecycle_timers: {
                let app = lifecycle.clone();
                Arc::new(move |event| {
                    let app = app.clone();
                    Box::pin(async move { app.handle_timers(event).await })
                })
            },
            lifecycle,
        })
    }
}
