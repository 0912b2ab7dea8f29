//! The warm send's AWS calls, measured through the SDK interceptor `bench-send` uses: exactly one
//! `TransactWriteItems` (the hot path of a send is one transaction; the table's stream carries
//! the message to the queue), the API key coming from the container's cache.

use serde_json::json;
use vbm_bench::in_process::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_send_makes_exactly_one_transaction() {
    let world = World::start().await.expect("the functions start");
    let body =
        json!({"to": "+447911000001", "type": "transactional", "text": "Your order is ready"});
    let first = world.send(&body).await.expect("an answer");
    assert_eq!(first.status, 202, "{}", first.body);
    // The first send looked up the API key and read the conversation once.
    let before = world.counter.snapshot();
    let warm = world.send(&body).await.expect("an answer");
    assert_eq!(warm.status, 202, "{}", warm.body);
    let calls = world.counter.snapshot().since(&before);
    assert_eq!(calls.describe(), "DynamoDB.TransactWriteItems", "{calls:?}");
    assert_eq!(calls.attempts, 1, "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_template_send_reads_no_template() {
    let world = World::start().await.expect("the functions start");
    let body = json!({"to": "+447911000003", "type": "template",
                      "template": {"id": vbm_bench::in_process::TEMPLATE, "params": {"name": "Ann"}}});
    let first = world.send(&body).await.expect("an answer");
    assert_eq!(first.status, 202, "{}", first.body);
    let before = world.counter.snapshot();
    let warm = world.send(&body).await.expect("an answer");
    assert_eq!(warm.status, 202, "{}", warm.body);
    assert_eq!(
        world.counter.snapshot().since(&before).describe(),
        "DynamoDB.TransactWriteItems"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counter_sees_the_cold_lookups_too() {
    // Against a counter that saw nothing, the test above would pass vacuously.
    let world = World::start().await.expect("the functions start");
    let before = world.counter.snapshot();
    let reply = world
        .send(&json!({"to": "+447911000002", "type": "transactional", "text": "Hello"}))
        .await
        .expect("an answer");
    assert_eq!(reply.status, 202, "{}", reply.body);
    let calls = world.counter.snapshot().since(&before);
    for read in ["DynamoDB.GetItem(KEY)", "DynamoDB.GetItem(CONV)"] {
        assert_eq!(calls.calls.get(read), Some(&1), "{calls:?}");
    }
    assert_eq!(calls.calls.get("DynamoDB.TransactWriteItems"), Some(&1));
}
