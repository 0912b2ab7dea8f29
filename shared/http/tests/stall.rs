//! A DynamoDB that accepts connections and never answers (a stalled endpoint, a black-holed
//! network path): with the SDK timeouts of `vbm_platform::aws`, a call gives up and the API
//! answers the documented `503 unavailable`, instead of hanging until Lambda kills the
//! invocation and API Gateway answers its own 5xx.

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use vbm_http::ApiError;

/// Accepts every connection and reads forever, answering nothing.
async fn black_hole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_stalled_dynamodb_is_a_503_not_a_hang() {
    let endpoint = black_hole().await;
    let sdk = vbm_platform::aws::sdk_config_from(|name| match name {
        "AWS_REGION" => Some("us-east-1".to_owned()),
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" => Some("test".to_owned()),
        "AWS_ENDPOINT_URL" => Some(endpoint.clone()),
        _ => None,
    });
    let store = vbm_store::Store::connect(
        &sdk,
        "stalled",
        Default::default(),
        std::time::Duration::from_secs(86_400),
    );
    let business = vbm_store::BusinessId::parse("shop").expect("id");
    // A guard so a regression fails the test instead of hanging it; the SDK's operation
    // timeout is what must end the call, long before.
    let guard = vbm_platform::aws::OPERATION_TIMEOUT * 10;
    let result = tokio::time::timeout(guard, store.businesses().get_business(&business))
        .await
        .expect("the call never ended: no SDK timeout");
    let error = result.expect_err("a stalled endpoint cannot answer");
    let response = ApiError::from(error).into_response();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(response.headers()["retry-after"], "1");
}
