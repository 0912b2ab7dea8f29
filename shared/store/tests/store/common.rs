//! Set-up shared by the store's suites (`mod common;`): a store on a fresh table, and the send
//! they record. Here rather than in `vbm-testkit`, which must not depend on `vbm-store` (the
//! store's tests dev-depend on it). Not every suite uses every helper.

use aws_sdk_dynamodb::Client;
use session_rules::{Limits, PhoneNumber, SendClass, Timestamp};
use vbm_store::{BusinessId, MessageId, NewSend, Retention, Store};
use vbm_testkit::TestEnv;

/// The suites' fixed clock.
pub const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

/// A store on `table` through `client`, with the default limits and retention.
pub fn store_with(client: Client, table: impl Into<String>) -> Store {
    Store::new(client, table, Limits::default(), Retention::default())
}

/// A store on the test's table (another container when called again).
pub async fn store_on(env: &TestEnv) -> Store {
    store_with(env.dynamodb().await, env.table.clone())
}

/// A fresh table and a store on it.
pub async fn fresh() -> (TestEnv, Store) {
    let env = TestEnv::fresh();
    let store = store_on(&env).await;
    (env, store)
}

/// An informative (`transactional`) send of `id` to `to` at `now`, with no idempotency key and
/// no failover: change what a test needs with `NewSend { class, ..informative(...) }`.
pub fn informative<'a>(
    business: &'a BusinessId,
    id: MessageId,
    to: &'a PhoneNumber,
    now: Timestamp,
) -> NewSend<'a> {
    NewSend {
        business,
        message_id: id,
        to,
        class: SendClass::Informative,
        kind: "transactional",
        billing: session_rules::BillingCategory::TransactionalTemplate,
        payload: "{}",
        service_id: None,
        idempotency: None,
        failover: None,
        now,
    }
}
