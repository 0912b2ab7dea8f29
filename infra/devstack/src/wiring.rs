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
    /// The table's stream consumer (the outbox), driven by `relay::reader::StreamReader`.
    pub relay: Arc<relay::App>,
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
        let store = || vbm_platform::aws::store(config, sdk).map_err(err);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let outbound_url = config.outbound_queue_url().map_err(err)?;
        let events_url = config.events_queue_url().map_err(err)?;
        let events = || EventsQueue::new(sqs.clone(), events_url.clone());
        let auth = || {
            viber::auth::CallbackAuth::from_parts(Some(crate::DEV_VIBER_SECRET), "").map_err(err)
        };

        let send = Arc::new(send::App::new(store()?, clock.clone()));
        let relay = Arc::new(relay::App::new(OutboundQueue::new(
            sqs.clone(),
            outbound_url.clone(),
        )));
        let inbound = Arc::new(inbound::App::new(
            store()?,
            events(),
            clock.clone(),
            auth()?,
        ));
        let status = Arc::new(status::App::new(store()?, events(), clock.clone(), auth()?));
        let viber_url = config.viber_api_url().map_err(err)?;
        let dispatch = Arc::new(dispatch::App::new(
            store()?,
            viber::ViberClient::new(&viber_url, None, options.viber_timeout).map_err(err)?,
            events(),
            sqs.clone(),
            outbound_url,
            clock.clone(),
        ));
        let http = notify::http_client(options.callback_timeout).map_err(err)?;
        let notify = Arc::new(notify::App::new(
            store()?,
            http,
            sqs.clone(),
            events_url.clone(),
            clock,
        ));

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
            notify: Arc::new(move |event| {
                let app = notify.clone();
                Box::pin(async move { app.handle_batch(event).await })
            }),
            relay,
        })
    }
}
