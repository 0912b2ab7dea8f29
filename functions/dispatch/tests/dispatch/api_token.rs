//! The Viber API token from Secrets Manager (never the environment), rotated without a
//! restart: a fake gateway records the `X-Viber-Auth-Token` of each call.
//! Run with `infra/scripts/with-moto.sh cargo test -p dispatch --test api_token`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dispatch::{StartError, ViberSource};
use session_rules::{Limits, OutboundMessage, PhoneNumber, SessionContent, Text, Ttl};
use vbm_testkit::secrets;
use vbm_testkit::stand_in::{self, Answer};
use viber::SendMessage;

const REFRESH: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(5);

/// A gateway that accepts every send and records the token header of each (`None`: absent).
async fn gateway() -> (SocketAddr, Arc<Mutex<Vec<Option<String>>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let addr = stand_in::serve(move |request| {
        recorder
            .lock()
            .unwrap()
            .push(request.header(viber::send::TOKEN_HEADER));
        Answer::plain(200, r#"{"status":0,"seq":1,"message_token":9000000001}"#)
    })
    .await;
    (addr, seen)
}

fn message() -> SendMessage {
    SendMessage::build(
        1000,
        1,
        &PhoneNumber::parse("+447911123456").unwrap(),
        &OutboundMessage::Session(SessionContent::Text(Text::parse("text", "hi").unwrap())),
        Ttl::default_for(&Limits::default()),
        None,
        None,
    )
    .unwrap()
}

/// One send through the current client (whatever token it holds).
async fn send_one(viber: &ViberSource) {
    viber
        .current()
        .await
        .send_message(&message())
        .await
        .unwrap();
}

/// A new value of the token's secret, and a wait long enough for it to be read.
async fn rotate(client: &aws_sdk_secretsmanager::Client, arn: &str, value: &str) {
    secrets::put(client, arn, value).await;
    tokio::time::sleep(REFRESH + Duration::from_millis(200)).await;
}

#[tokio::test]
async fn the_token_comes_from_secrets_manager_and_rotates_without_a_restart() {
    let (addr, seen) = gateway().await;
    let url = format!("http://{addr}/vibersrvc/1");
    let client = secrets::client().await;
    let arn = secrets::create(&client, "token-one\n").await;
    let viber = ViberSource::from_secret(client.clone(), &arn, &url, TIMEOUT, REFRESH)
        .await
        .expect("loads");
    send_one(&viber).await;

    rotate(&client, &arn, "token-two").await;
    send_one(&viber).await;

    // A blank value is not taken: the last good token stays.
    rotate(&client, &arn, "  ").await;
    send_one(&viber).await;

    assert_eq!(
        *seen.lock().unwrap(),
        [
            Some("token-one".to_owned()),
            Some("token-two".to_owned()),
            Some("token-two".to_owned())
        ]
    );
}

#[tokio::test]
async fn without_a_secret_no_token_and_a_bad_secret_stops_the_start() {
    let (addr, seen) = gateway().await;
    let url = format!("http://{addr}/vibersrvc/1");
    let config = vbm_platform::config::Config::from_pairs([("VIBER_API_URL", url.as_str())]);
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    let viber = ViberSource::from_config(&config, &sdk).await.unwrap();
    send_one(&viber).await;
    assert_eq!(*seen.lock().unwrap(), [None]);

    let client = secrets::client().await;
    for (id, what) in [
        ("vbm-test/no-such-token".to_owned(), "missing"),
        (secrets::create(&client, " ").await, "blank"),
        (
            secrets::create(&client, "two\nlines").await,
            "not a header value",
        ),
    ] {
        let err = ViberSource::from_secret(client.clone(), &id, &url, TIMEOUT, REFRESH)
            .await
            .err()
            .unwrap_or_else(|| panic!("{what} accepted"));
        assert!(matches!(err, StartError::Secret(_)), "{what}: {err}");
        assert!(!err.to_string().contains("lines"), "{err}");
    }
}
