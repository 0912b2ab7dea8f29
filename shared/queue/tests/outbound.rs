//! The outbound queue against the emulator: FIFO attributes and de-duplication by message id.

use vbm_queue::{OutboundJob, OutboundQueue};
use vbm_testkit::TestEnv;

#[tokio::test]
async fn enqueue_groups_by_conversation_and_deduplicates_by_message_id() {
    let env = TestEnv::fresh();
    let sqs = env.sqs().await;
    let queue = OutboundQueue::new(sqs.clone(), &env.outbound_queue_url);
    let first = OutboundJob::new("acme", "01JD0Z6Q9T3M8V4K2X7B5N1C0A", "+380501234567");
    let second = OutboundJob::new("acme", "01JD0Z6Q9T3M8V4K2X7B5N1C0B", "+380501234567");
    queue.enqueue(&first).await.unwrap();
    queue.enqueue(&first).await.unwrap(); // a retry: de-duplicated
    queue.enqueue(&second).await.unwrap();

    let out = sqs
        .receive_message()
        .queue_url(&env.outbound_queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    let messages = out.messages();
    let jobs: Vec<OutboundJob> = messages
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(jobs, vec![first.clone(), second]);
    let attributes = messages[0].attributes().unwrap();
    use aws_sdk_sqs::types::MessageSystemAttributeName as A;
    assert_eq!(attributes[&A::MessageGroupId], first.conversation);
    assert_eq!(attributes[&A::MessageDeduplicationId], first.message_id);
}

#[tokio::test]
async fn a_missing_queue_is_an_error() {
    let env = TestEnv::fresh();
    let queue = OutboundQueue::new(
        env.sqs().await,
        format!("{}/000000000000/no-such-queue.fifo", env.endpoint),
    );
    let job = OutboundJob::new("acme", "01JD0Z6Q9T3M8V4K2X7B5N1C0A", "+380501234567");
    assert!(queue.enqueue(&job).await.is_err());
}
