//! Secrets on the emulator's Secrets Manager, as the functions' start-up path reads them.

pub async fn client() -> aws_sdk_secretsmanager::Client {
    crate::endpoint();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&sdk)
}

/// A new secret (a unique name under `vbm-test/`) holding `value` (a `serde_json::Value` as
/// its JSON, a `&str` as it is); its ARN.
pub async fn create(client: &aws_sdk_secretsmanager::Client, value: impl ToString) -> String {
    client
        .create_secret()
        .name(format!("vbm-test/{}", ulid::Ulid::new()))
        .secret_string(value.to_string())
        .send()
        .await
        .expect("create_secret")
        .arn
        .expect("an ARN")
}

/// A new current value of the secret `arn`.
pub async fn put(client: &aws_sdk_secretsmanager::Client, arn: &str, value: impl ToString) {
    client
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value.to_string())
        .send()
        .await
        .expect("put_secret_value");
}
