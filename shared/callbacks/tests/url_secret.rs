//! `POST /viber/inbound/{secret}` and `POST /viber/status/{secret}` as Viber posts them
//! (unsigned), with the secret read from the emulator's Secrets Manager by the functions' own
//! start-up path (`CallbackApp::from_config`, one for both routes), and rotated with an
//! overlap. The refusal of a wrong or missing secret is checked for both routes; the rotation
//! and start-up cases, route-independent, once (through `inbound`).
//! Run with `infra/scripts/with-moto.sh cargo test -p vbm-callbacks --test url_secret`.

use std::time::Duration;

use lambda_http::Request;
use serde_json::{Value, json};
use vbm_callbacks::{CallbackApp, Route};
use vbm_platform::config::Config;
use vbm_store::{BusinessId, NewBusiness};
use vbm_testkit::TestEnv;
use vbm_testkit::callback::{Reply, with_url_secret};
use vbm_testkit::secrets;

const SERVICE_ID: u64 = 5151;
const OLD: &str = "old-url-secret-0123456789";
const NEW: &str = "NewUrlSecret9876543210abc";
/// The functions' `SECRETS_REFRESH_SECONDS` here; the test waits a little longer than this
/// for a rotation to be read.
const REFRESH: Duration = Duration::from_secs(1);

fn config(env: &TestEnv, secret_id: &str) -> Config {
    Config::from_pairs([
        ("VBM_TABLE", env.table.clone()),
        ("EVENTS_QUEUE_URL", env.events_queue_url.clone()),
        // The status route queues SMS failovers: its queue is always deployed.
        ("FAILOVER_QUEUE_URL", env.failover_queue_url.clone()),
        ("VIBER_CALLBACK_SECRET_ID", secret_id.to_owned()),
        ("SECRETS_REFRESH_SECONDS", REFRESH.as_secs().to_string()),
    ])
}

/// A user message as the public emulators post it: no signature header, the secret in the
/// URL (`None`: `POST /viber/inbound`).
fn user_message(secret: Option<&str>, token: u64) -> Request {
    let body = json!({
        "service_id": SERVICE_ID,
        "phone_number": "447911123456",
        "message_token": token,
        "time": 1_700_000_000_000u64,
        "message": {"text": "hello"},
    });
    with_url_secret("/viber/inbound", body.to_string(), secret)
}

/// An unsubscribe as the public emulators post it (`None`: `POST /viber/status`).
fn unsubscribe(secret: Option<&str>, token: u64) -> Request {
    let body = json!({
        "service_id": SERVICE_ID,
        "phone_number": "447911123456",
        "message_token": token,
        "message_time": 1_700_000_000_000u64,
        "message_status": 5,
    });
    with_url_secret("/viber/status", body.to_string(), secret)
}

async fn post<R: Route>(app: &CallbackApp<R>, request: Request) -> (u16, Value) {
    let reply = Reply::of(app.handle(request).await);
    (reply.status, reply.body)
}

async fn started<R: Route>(env: &TestEnv, secret_id: &str) -> CallbackApp<R> {
    vbm_platform::metrics::set_enabled(false);
    let app = CallbackApp::<R>::from_config(&config(env, secret_id))
        .await
        .expect("starts");
    app.store()
        .businesses()
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

/// Wrong, partial and missing secrets are refused `401 unauthorized`, never naming the secret,
/// and store nothing; the right one is applied (a user message, or an opt-out, and its event).
async fn a_wrong_or_missing_url_secret_is_refused<R: Route>(
    callback: fn(Option<&str>, u64) -> Request,
) {
    let env = TestEnv::fresh();
    let client = secrets::client().await;
    let arn = secrets::create(&client, &json!({"url_secret": NEW})).await;
    let app = started::<R>(&env, &arn).await;
    let before = env.footprint().await;
    for request in [
        callback(None, 1),
        callback(Some(""), 2),
        callback(Some(OLD), 3),
        callback(Some(&NEW[..NEW.len() - 1]), 4),
        callback(Some(&format!("{NEW}x")), 5),
        callback(Some(&NEW.to_lowercase()), 6),
        callback(Some("some-other-secret-000000"), 7),
        callback(Some(&NEW[1..]), 8),
    ] {
        let (status, body) = post(&app, request).await;
        assert_eq!(status, 401, "{}: {body}", R::ROUTE);
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(
            !body.to_string().contains(NEW),
            "the answer names the secret"
        );
    }
    assert_eq!(
        env.footprint().await,
        before,
        "{}: a refused callback stores nothing",
        R::ROUTE
    );

    let (status, body) = post(&app, callback(Some(NEW), 9)).await;
    assert_eq!(status, 200, "{}: {body}", R::ROUTE);
    assert_ne!(env.footprint().await, before);
}

#[tokio::test]
async fn a_wrong_or_missing_url_secret_is_refused_and_nothing_is_stored_inbound() {
    a_wrong_or_missing_url_secret_is_refused::<inbound::Inbound>(user_message).await;
}

#[tokio::test]
async fn a_wrong_or_missing_url_secret_is_refused_and_nothing_is_stored_status() {
    a_wrong_or_missing_url_secret_is_refused::<status::Status>(unsubscribe).await;
}

#[tokio::test]
async fn a_rotation_with_overlap_needs_no_restart() {
    let env = TestEnv::fresh();
    let client = secrets::client().await;
    let arn = secrets::create(&client, &json!({"url_secret": OLD})).await;
    let app = started::<inbound::Inbound>(&env, &arn).await;
    let callback = user_message;
    assert_eq!(post(&app, callback(Some(OLD), 11)).await.0, 200);
    assert_eq!(post(&app, callback(Some(NEW), 12)).await.0, 401);

    // Step 1: the new value first, the old one still accepted while Viber is re-registered.
    secrets::put(&client, &arn, &json!({"url_secret": [NEW, OLD]})).await;
    tokio::time::sleep(REFRESH + Duration::from_millis(200)).await;
    assert_eq!(post(&app, callback(Some(NEW), 13)).await.0, 200);
    assert_eq!(post(&app, callback(Some(OLD), 14)).await.0, 200);

    // Step 2: the old value removed.
    secrets::put(&client, &arn, &json!({"url_secret": NEW})).await;
    tokio::time::sleep(REFRESH + Duration::from_millis(200)).await;
    assert_eq!(post(&app, callback(Some(NEW), 15)).await.0, 200);
    let (status, body) = post(&app, callback(Some(OLD), 16)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );

    // A bad edit (nothing left to authenticate with) is not taken: the last good value stays.
    secrets::put(&client, &arn, &json!({})).await;
    tokio::time::sleep(REFRESH + Duration::from_millis(200)).await;
    assert_eq!(post(&app, callback(Some(NEW), 17)).await.0, 200);
    assert_eq!(post(&app, callback(None, 18)).await.0, 401);
}

#[tokio::test]
async fn the_function_refuses_to_start_with_an_unreadable_or_empty_secret() {
    let env = TestEnv::fresh();
    let client = secrets::client().await;
    let err = inbound::App::from_config(&config(&env, "vbm-test/no-such-secret"))
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
        let arn = secrets::create(&client, &value).await;
        let err = inbound::App::from_config(&config(&env, &arn))
            .await
            .err()
            .unwrap_or_else(|| panic!("{value} accepted"));
        assert!(matches!(err, inbound::StartError::Secret(_)), "{err}");
        assert!(!err.to_string().contains(NEW), "{err}");
    }

    // An empty secret is fine beside a CIDR allowlist.
    let arn = secrets::create(&client, &json!({})).await;
    let mut pairs = vec![("VIBER_CALLBACK_CIDRS", "203.0.113.0/24".to_owned())];
    pairs.extend([
        ("VBM_TABLE", env.table.clone()),
        ("EVENTS_QUEUE_URL", env.events_queue_url.clone()),
        ("VIBER_CALLBACK_SECRET_ID", arn),
    ]);
    let app = inbound::App::from_config(&Config::from_pairs(pairs))
        .await
        .expect("starts");
    app.store()
        .businesses()
        .create_business(&NewBusiness {
            id: BusinessId::parse("cidronly").unwrap(),
            service_id: SERVICE_ID,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    assert_eq!(post(&app, user_message(None, 21)).await.0, 200);
}
