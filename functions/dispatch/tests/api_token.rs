//! The Viber API token from Secrets Manager (never the environment), rotated without a
//! restart: a fake gateway records the `X-Viber-Auth-Token` of each call.
//! Run with `infra/scripts/with-moto.sh cargo test -p dispatch --test api_token`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dispatch::{StartError, ViberSource};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use session_rules::{Limits, OutboundMessage, PhoneNumber, SessionContent, Text, Ttl};
use tokio::net::TcpListener;
use viber::SendMessage;

const REFRESH: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(5);

/// A gateway that accepts every send and records the token header of each (`None`: absent).
async fn gateway() -> (SocketAddr, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let recorder = recorder.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let token = req
                    .headers()
                    .get(viber::send::TOKEN_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                recorder.lock().unwrap().push(token);
                async move {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
                        r#"{"status":0,"seq":1,"message_token":9000000001}"#,
                    ))))
                }
            });
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
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

async fn secrets_manager() -> aws_sdk_secretsmanager::Client {
    vbm_testkit::endpoint();
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&sdk)
}

async fn create_secret(client: &aws_sdk_secretsmanager::Client, value: &str) -> String {
    client
        .create_secret()
        .name(format!("vbm-test/{}", ulid::Ulid::new()))
        .secret_string(value)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

#[tokio::test]
async fn the_token_comes_from_secrets_manager_and_rotates_without_a_restart() {
    let (addr, seen) = gateway().await;
    let url = format!("http://{addr}/vibersrvc/1");
    let client = secrets_manager().await;
    let arn = create_secret(&client, "token-one\n").await;
    let viber = ViberSource::from_secret(client.clone(), &arn, &url, TIMEOUT, REFRESH)
        .await
        .expect("loads");
    viber
        .current()
        .await
        .send_message(&message())
        .await
        .unwrap();

    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("token-two")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(REFRESH + Duration::from_millis(200)).await;
    viber
        .current()
        .await
        .send_message(&message())
        .await
        .unwrap();

    // A blank value is not taken: the last good token stays.
    client
        .put_secret_value()
        .secret_id(&arn)
        .secret_string("  ")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(REFRESH + Duration::from_millis(200)).await;
    viber
        .current()
        .await
        .send_message(&message())
        .await
        .unwrap();

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
    viber
        .current()
        .await
        .send_message(&message())
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), [None]);

    let client = secrets_manager().await;
    for (id, what) in [
        ("vbm-test/no-such-token".to_owned(), "missing"),
        (create_secret(&client, " ").await, "blank"),
        (
            create_secret(&client, "two\nlines").await,
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
