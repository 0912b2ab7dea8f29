//! `POST /viber/inbound/{secret}` as Viber posts it (unsigned), with the secret read from the
//! emulator's Secrets Manager by the function's own start-up path, and rotated with an overlap.
//! Run with `infra/scripts/with-moto.sh cargo test -p inbound --test url_secret`.

use std::collections::HashMap;
use std::time::Duration;

use inbound::App;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Value, json};
use vbm_platform::config::Config;
use vbm_store::{BusinessId, NewBusiness};
use vbm_testkit::TestEnv;

const SERVICE_ID: u64 = 5151;
const OLD: &str = "old-url-secret-0123456789";
const NEW: &str = "NewUrlSecret9876543210abc";
/// The functions' `SECRETS_REFRESH_SECONDS` here; the test waits a little longer than this
/// for a rotation to be read.
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

async fn put_secret(client: &aws_sdk_secretsmanager::Client, arn: &str, value: &Value) {
    client
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value.to_string())
        .send()
        .await
        .expect("put_secret_value");
}

fn config(env: &TestEnv, secret_id: &str) -> Config {
    Config::from_pairs([
        ("VBM_TABLE", env.table.clone()),
        ("EVENTS_QUEUE_URL", env.events_queue_url.clone()),
        ("VIBER_CALLBACK_SECRET_ID", secret_id.to_owned()),
        ("SECRETS_REFRESH_SECONDS", REFRESH.as_secs().to_string()),
    ])
}

/// A user message as the public emulators post it: no signature header, the secret in the
/// URL (`None`: `POST /viber/inbound`).
fn callback(secret: Option<&str>, token: u64) -> Request {
    let body = json!({
        "service_id": SERVICE_ID,
        "phone_number": "447911123456",
        "message_token": token,
        "time": 1_700_000_000_000u64,
        "message": {"text": "hello"},
    })
    .to_string();
    let path = match secret {
        Some(secret) => format!("/viber/inbound/{secret}"),
        None => "/viber/inbound".to_owned(),
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
        callback(Some(OLD), 3),
        callback(Some(&NEW[..NEW.len() - 1]), 4),
        callback(Some(&format!("{NEW}x")), 5),
        callback(Some(&NEW.to_lowercase()), 6),
    ] {
        let (status, body) = post(&app, request).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(
            !body.to_string().contains(NEW),
            "the answer names the secret"
        );
    }
    assert_eq!(
        env.footprint().await,
        before,
        "a refused callback stores nothing"
    );

    let (status, body) = post(&app, callback(Some(NEW), 7)).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(env.footprint().await, before);
}

#[tokio::test]
async fn a_rotation_with_overlap_needs_no_restart() {
    let env = TestEnv::fresh();
    let client = secrets_manager().await;
    let arn = create_secret(&client, &json!({"url_secret": OLD})).await;
    let app = started(&env, &arn).await;
    assert_eq!(post(&app, callback(Some(OLD), 11)).await.0, 200);
    assert_eq!(post(&app, callback(Some(NEW), 12)).await.0, 401);

    // Step 1: the new value first, the old one still accepted while Viber is re-registered.
    put_secret(&client, &arn, &json!({"url_secret": [NEW, OLD]})).await;
    tokio::time::sleep(REFRESH + Duration::from_millis(200)).await;
    assert_eq!(post(&app, callback(Some(NEW), 13)).await.0, 200);
    assert_eq!(post(&app, callback(Some(OLD), 14)).await.0, 200);

    // Step 2: the old value removed.
    put_secret(&client, &arn, &json!({"url_secret": NEW})).await;
    tokio::time::sleep(REFRESH + Duration::from_millis(200)).await;
    assert_eq!(post(&app, callback(Some(NEW), 15)).await.0, 200);
    let (status, body) = post(&app, callback(Some(OLD), 16)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );

    // A bad edit (nothing left to authenticate with) is not taken: the last good value stays.
    put_secret(&client, &arn, &json!({})).await;
    tokio::time::sleep(REFRESH + Duration::from_millis(200)).await;
    assert_eq!(post(&app, callback(Some(NEW), 17)).await.0, 200);
    assert_eq!(post(&app, callback(None, 18)).await.0, 401);
}

#[tokio::test]
async fn the_function_refuses_to_start_with_an_unreadable_or_empty_secret() {
    let env = TestEnv::fresh();
    let client = secrets_manager().await;
    let err = App::from_config(&config(&env, "vbm-test/no-such-secret"))
        .await
        .err()
        .expect("a missing secret stops the start");
    assert!(matches!(err, inbound::StartError::Secret(_)), "{err}");
    assert!(
        err.to_string().contains("VIBER_CALLBACK_SECRET_ID"),
        "{err}"
    );

    for value in [
        json!({}),
        json!({"url_secret": "too-short"}),
        json!({"url_secret": NEW, "hmac_secert": "typo"}),
    ] {
        let arn = create_secret(&client, &value).await;
        let err = App::from_config(&config(&env, &arn))
            .await
            .err()
            .unwrap_or_else(|| panic!("{value} accepted"));
        assert!(matches!(err, inbound::StartError::Secret(_)), "{err}");
        assert!(!err.to_string().contains(NEW), "{err}");
    }

    // An empty secret is fine beside a CIDR allowlist.
    let arn = create_secret(&client, &json!({})).await;
    let mut pairs = vec![("VIBER_CALLBACK_CIDRS", "203.0.113.0/24".to_owned())];
    pairs.extend([
        ("VBM_TABLE", env.table.clone()),
        ("EVENTS_QUEUE_URL", env.events_queue_url.clone()),
        ("VIBER_CALLBACK_SECRET_ID", arn),
    ]);
    let app = App::from_config(&Config::from_pairs(pairs))
        .await
        .expect("starts");
    app.store()
        .create_business(&NewBusiness {
            id: BusinessId::parse("cidronly").unwrap(),
            service_id: SERVICE_ID,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    assert_eq!(post(&app, callback(None, 21)).await.0, 200);
}
