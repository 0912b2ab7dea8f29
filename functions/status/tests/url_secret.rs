//! `POST /viber/status/{secret}` as Viber posts it (unsigned), with the secret read from the
//! emulator's Secrets Manager by the function's own start-up path. (The rotation and start-up
//! cases, shared code, are in `functions/inbound/tests/url_secret.rs`.)
//! Run with `infra/scripts/with-moto.sh cargo test -p status --test url_secret`.

use std::collections::HashMap;
use std::time::Duration;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Value, json};
use status::App;
use vbm_platform::config::Config;
use vbm_store::{BusinessId, NewBusiness};
use vbm_testkit::TestEnv;

const SERVICE_ID: u64 = 5151;
const NEW: &str = "NewUrlSecret9876543210abc";
const REFRESH: Duration = Duration::from_secs(1);

async fn secrets_manager() -> aws_sdk_secretsmanager::Client {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&sdk)
}

async fn create_secret(client: &aws_sdk_secretsmanager::Client, value: &Value) -> String {
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

fn config(env: &TestEnv, secret_id: &str) -> Config {
    Config::from_pairs([
        ("VBM_TABLE", env.table.clone()),
        ("EVENTS_QUEUE_URL", env.events_queue_url.clone()),
        ("VIBER_CALLBACK_SECRET_ID", secret_id.to_owned()),
        ("SECRETS_REFRESH_SECONDS", REFRESH.as_secs().to_string()),
    ])
}

/// An unsubscribe as the public emulators post it: no signature header, the secret in the
/// URL (`None`: `POST /viber/status`).
fn callback(secret: Option<&str>, token: u64) -> Request {
    let body = json!({
        "service_id": SERVICE_ID,
        "phone_number": "447911123456",
        "message_token": token,
        "message_time": 1_700_000_000_000u64,
        "message_status": 5,
    })
    .to_string();
    let path = match secret {
        Some(secret) => format!("/viber/status/{secret}"),
        None => "/viber/status".to_owned(),
    };
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.method = lambda_http::http::Method::POST;
    context.http.path = Some(path.clone());
    context.http.source_ip = Some("203.0.113.10".into());
    let request = lambda_http::http::Request::builder()
        .method("POST")
        .uri(format!("https://api.example.com{path}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
        .with_request_context(RequestContext::ApiGatewayV2(context))
        .with_raw_http_path(&path);
    match secret {
        Some(secret) => {
            request.with_path_parameters(HashMap::from([("secret".to_owned(), secret.to_owned())]))
        }
        None => request,
    }
}

async fn post(app: &App, request: Request) -> (u16, Value) {
    let response = app.handle(request).await;
    let status = response.status().as_u16();
    (status, serde_json::from_slice(response.body()).unwrap())
}

async fn started(env: &TestEnv, secret_id: &str) -> App {
    vbm_platform::metrics::set_enabled(false);
    let app = App::from_config(&config(env, secret_id))
        .await
        .expect("starts");
    app.store()
        .create_business(&NewBusiness {
            id: BusinessId::parse("urlsecret").unwrap(),
            service_id: SERVICE_ID,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    app
}

#[tokio::test]
async fn a_wrong_or_missing_url_secret_is_refused_and_nothing_is_stored() {
    let env = TestEnv::fresh();
    let client = secrets_manager().await;
    let arn = create_secret(&client, &json!({"url_secret": NEW})).await;
    let app = started(&env, &arn).await;
    let before = env.footprint().await;
    for request in [
        callback(None, 1),
        callback(Some(""), 2),
        callback(Some("some-other-secret-000000"), 3),
        callback(Some(&NEW[1..]), 4),
    ] {
        let (status, body) = post(&app, request).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    assert_eq!(
        env.footprint().await,
        before,
        "a refused callback stores nothing"
    );

    // The right secret: the unsubscribe is applied (an opt-out and its event).
    let (status, body) = post(&app, callback(Some(NEW), 5)).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(env.footprint().await, before);
}
