//! The warm-up against the emulator: every step reaches its service, and a step that cannot
//! (a queue that does not exist) is dropped without failing the rest. (The store's own step,
//! `Store::warm_up`, is tested with the store.)

use std::time::Duration;

use vbm_platform::warm::Warmup;
use vbm_testkit::TestEnv;

#[tokio::test]
async fn every_step_reaches_its_service() {
    let env = TestEnv::fresh();
    let sqs = env.sqs().await;
    let done = Warmup::new()
        .queue(&sqs, &env.outbound_queue_url)
        .phone_numbers()
        // Generous: a debug build on a busy machine (Lambda gets the 2 s of `BUDGET`).
        .run(Duration::from_secs(60))
        .await;
    assert_eq!(done, ["sqs", "phone_numbers"]);
    // It read and wrote nothing: the table and the queues are as created.
    let footprint = env.footprint().await;
    assert!(footprint.items.is_empty(), "{:?}", footprint.items);
    assert!(footprint.queues.iter().all(|(_, depth)| *depth == 0));
}

#[tokio::test]
async fn a_step_that_fails_leaves_the_others() {
    let env = TestEnv::fresh();
    let sqs = env.sqs().await;
    let missing = format!("{}-missing", env.outbound_queue_url);
    let done = Warmup::new()
        .step("fine", async { Ok(()) })
        .queue(&sqs, &missing)
        .run(Duration::from_secs(30))
        .await;
    assert_eq!(done, ["fine"]);
}
