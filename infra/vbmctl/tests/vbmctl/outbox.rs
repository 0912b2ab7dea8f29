//! `vbmctl outbox redrive` against the emulator: a stream batch the outbox's event source mapping
//! gave up on (as Lambda records it on the failure queue) is read again from the table's stream
//! and its message queued once; a record that is not a batch failure is left and reported.

use std::process::Command;

use serde_json::Value;
use session_rules::{Limits, PhoneNumber, SendClass, Timestamp};
use vbm_store::{BusinessId, MessageId, NewSend, Retention, SendOutcome, Store};
use vbm_testkit::TestEnv;

async fn receive_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    vbm_testkit::drain(sqs, url)
        .await
        .into_iter()
        .map(|m| m.body)
        .collect()
}

#[tokio::test]
async fn a_failed_stream_batch_is_read_again_and_its_message_queued_once() {
    let env = TestEnv::fresh();
    let store = Store::new(
        env.dynamodb().await,
        &env.table,
        Limits::default(),
        Retention::default(),
    );
    let business = BusinessId::parse("acme").unwrap();
    let to = PhoneNumber::parse("+447911123456").unwrap();
    let id = MessageId::generate();
    let outcome = store
        .messages()
        .record_send(&NewSend {
            business: &business,
            message_id: id.clone(),
            to: &to,
            class: SendClass::Informative,
            kind: "transactional",
            billing: session_rules::BillingCategory::TransactionalTemplate,
            payload: "{}",
            service_id: None,
            idempotency: None,
            failover: None,
            now: Timestamp::from_millis(1_800_000_000_000),
        })
        .await
        .unwrap();
    assert!(matches!(outcome, SendOutcome::Accepted { .. }));

    // The stream's whole range so far, as the failure record Lambda writes names it.
    let failure = env.stream_failure_record().await;
    let sqs = env.sqs().await;
    for body in [failure.to_string(), "not a failure record".to_owned()] {
        sqs.send_message()
            .queue_url(&env.relay_failure_queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let out = Command::new(env!("CARGO_BIN_EXE_vbmctl"))
        .args([
            "outbox",
            "redrive",
            "--failure-queue-url",
            &env.relay_failure_queue_url,
            "--outbound-queue-url",
            &env.outbound_queue_url,
        ])
        .env("VBM_TABLE", &env.table)
        .output()
        .expect("vbmctl runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["batches"], 1, "{summary}");
    assert_eq!(
        summary["left"].as_array().map(Vec::len),
        Some(1),
        "{summary}"
    );

    let jobs = receive_all(&sqs, &env.outbound_queue_url).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job: Value = serde_json::from_str(&jobs[0]).unwrap();
    assert_eq!(job["message_id"], id.as_str());
    assert_eq!(job["business_id"], "acme");
}
