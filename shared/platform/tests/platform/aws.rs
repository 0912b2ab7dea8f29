//! The SDK configuration the functions build from their environment, against the emulator
//! (`with-moto.sh` sets what Lambda would: region, credentials, and here an endpoint): both
//! clients built from it make signed calls that succeed.

use vbm_testkit::TestEnv;

#[tokio::test]
async fn clients_from_the_environment_reach_dynamodb_and_sqs() {
    let env = TestEnv::fresh();
    let sdk = vbm_platform::aws::sdk_config().await;
    assert!(sdk.region().is_some(), "no region from the environment");
    assert!(sdk.endpoint_url().is_some(), "no AWS_ENDPOINT_URL");

    // Every page: `make test` creates well over 100 tables on its one emulator, and a page
    // holds at most 100 names (the first page alone missed this test's table).
    let tables: Vec<String> = aws_sdk_dynamodb::Client::new(&sdk)
        .list_tables()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .expect("ListTables through the environment's configuration");
    assert!(
        tables.contains(&env.table),
        "{} not among {} tables",
        env.table,
        tables.len()
    );
    let queues = aws_sdk_sqs::Client::new(&sdk)
        .list_queues()
        // Only this test's: the run makes more queues than one page holds.
        .queue_name_prefix(&env.table)
        .send()
        .await
        .expect("ListQueues through the environment's configuration");
    assert!(queues.queue_urls().contains(&env.outbound_queue_url));
}
