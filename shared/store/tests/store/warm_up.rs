//! The store's init warm-up step (`Store::warm_up`, run by `vbm_platform::warm`) against the
//! emulator: it reaches the table, finds nothing and writes nothing.

use std::time::Duration;

use session_rules::Limits;
use vbm_store::Store;
use vbm_testkit::TestEnv;

use crate::common;

#[tokio::test]
async fn the_warm_up_reads_one_key_nobody_has_and_changes_nothing() {
    let env = TestEnv::fresh();
    let store = common::store_on(&env).await;
    store.warm_up().await.expect("the table answered");
    let footprint = env.footprint().await;
    assert!(footprint.items.is_empty(), "{:?}", footprint.items);
}

#[tokio::test]
async fn a_missing_table_fails_the_step() {
    let env = TestEnv::fresh();
    let store = Store::connect(
        &env.sdk_config().await,
        format!("{}-missing", env.table),
        Limits::default(),
        Duration::from_secs(86_400),
    );
    assert!(store.warm_up().await.is_err());
}
