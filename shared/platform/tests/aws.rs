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

    // Every page: the emulator of a whole `make test` holds more than one page (100) of tables.
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let mut tables = Vec::new();
    let mut start = None;
    loop {
        let page = dynamodb
            .list_tables()
            .set_exclusive_start_table_name(start)
            .send()
            .await
            .expect("ListTables through the environment's configuration");
        tables.extend(page.table_names().iter().cloned());
        start = page.last_evaluated_table_name().map(str::to_owned);
        if start.is_none() {
            break;
        }
    }
    assert!(
        tables.contains(&env.table),
        "{} not among {} tables",
        env.table,
        tables.len()
    );
    let queues = aws_sdk_sqs::Client::new(&sdk)
        .list_queues()
        .send()
        .await
        .expect("ListQueues through the environment's configuration");
    assert!(queues.queue_urls().contains(&env.outbound_queue_url));
}
