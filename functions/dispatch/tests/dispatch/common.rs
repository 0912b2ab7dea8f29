//! Set-up shared by dispatch's suites (`mod common;`): stores on the test's table, a business,
//! and a `dispatch` container sending to a Viber stand-in.

use std::sync::Arc;
use std::time::Duration;

use dispatch::App;
use session_rules::Limits;
use vbm_events::EventsQueue;
use vbm_platform::clock::SystemClock;
use vbm_store::{BusinessId, NewBusiness, Retention, Store};
use vbm_testkit::TestEnv;
use viber::ViberClient;

/// A store on the test's table (each call another container's, with its own caches).
pub fn store(env: &TestEnv, dynamodb: &aws_sdk_dynamodb::Client) -> Store {
    Store::new(
        dynamodb.clone(),
        env.table.clone(),
        Limits::default(),
        Retention::default(),
    )
}

/// Creates the business `id` with Viber's `service_id` (no callback URL, no allowlist).
pub async fn business(store: &Store, id: &str, service_id: u64) -> BusinessId {
    let business = BusinessId::parse(id).unwrap();
    store
        .businesses()
        .create_business(&NewBusiness {
            id: business.clone(),
            service_id,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    business
}

/// A `dispatch` container on `store`, sending to Viber at `viber_url` (the stand-in's
/// `http://…/vibersrvc/1`), queueing events and retries on the test's queues, on the real clock.
pub fn app(
    env: &TestEnv,
    sqs: &aws_sdk_sqs::Client,
    store: Store,
    viber_url: &str,
    timeout: Duration,
) -> App {
    App::new(
        store,
        ViberClient::new(viber_url, None, timeout).unwrap(),
        EventsQueue::new(sqs.clone(), env.events_queue_url.clone()),
        sqs.clone(),
        env.outbound_queue_url.clone(),
        Arc::new(SystemClock),
    )
}
