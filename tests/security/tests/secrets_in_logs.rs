//! Secrets never reach the logs. The production JSON subscriber writes into memory at
//! `LogLevel` TRACE, the most the template allows (the AWS SDK and HTTP stacks included), while
//! every function
//! runs through its normal and failing paths against the emulator: API keys good, unknown,
//! malformed, revoked and another tenant's; callbacks with the right, a wrong and no URL secret,
//! signed, unsigned and badly signed (both secrets read from Secrets Manager); a Viber
//! that accepts, refuses, fails and answers garbage, echoing our request headers back; a business
//! endpoint that fails echoing them too, and one that is unreachable. Then no log line may hold an
//! API key (whole or its hex part), the Viber API token, the Viber callback URL or signing
//! secret or a business's signing secret.
//!
//! Run with `infra/scripts/with-moto.sh cargo test -p vbm-security`.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Value, json};
use session_rules::Limits;
use vbm_events::EventsQueue;
use vbm_platform::clock::{Clock, SystemClock};
use vbm_queue::OutboundQueue;
use vbm_security::capture::{LogCapture, leaks};
use vbm_security::echo::{Answer, Echo, Received};
use vbm_security::queue::receive;
use vbm_store::{ApiKey, BusinessId, NewBusiness, Retention, Store};
use vbm_testkit::TestEnv;

const CALLER_IP: &str = "203.0.113.10";
const USER: &str = "+447911123456";

fn random_secret(prefix: &str) -> String {
    format!("{prefix}-{}", hex::encode(rand::random::<[u8; 16]>()))
}

/// An API Gateway (HTTP API) request, as the functions receive it.
fn request(method: &str, path: &str, body: &str, headers: &[(&str, &str)], ip: &str) -> Request {
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.method = method.parse().unwrap();
    context.http.path = Some(path.to_owned());
    context.http.source_ip = Some(ip.to_owned());
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Body::from(body.to_owned()))
        .unwrap()
        .with_request_context(RequestContext::ApiGatewayV2(context))
        .with_raw_http_path(path)
}

fn status_and_body(response: lambda_http::Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (status, body)
}

/// What the Viber stand-in answers, by the last digits of the destination: success, a
/// refusal (8), HTTP 400 and 500, and a garbled 200; every failure echoes our request back.
fn viber_answers() -> Answer {
    Arc::new(|req: &Received| {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let dest = body["dest"].as_str().unwrap_or_default().to_owned();
        let echo = req.echo();
        match &dest[dest.len().saturating_sub(4)..] {
            "0008" => (
                200,
                json!({"status": 8, "status_message": echo, "seq": body["seq"]}).to_string(),
            ),
            "0400" => (400, echo),
            "0500" => (500, echo),
            "0666" => (200, format!("<html>{echo}</html>")),
            _ => (
                200,
                json!({"status": 0, "seq": body["seq"], "message_token": 7_000_000_001u64,
                       "session_id": "s-1"})
                .to_string(),
            ),
        }
    })
}

#[tokio::test]
async fn no_secret_reaches_the_logs_on_any_path() {
    let logs = LogCapture::install("TRACE");
    // The check can fail: a secret logged on purpose is found.
    let canary = ApiKey::generate();
    tracing::info!(api_key = %canary.expose(), "deliberately leaked");
    let canary_hex = canary.expose().trim_start_matches("vbm_");
    assert_eq!(
        leaks(&logs.since(0), &[("canary", canary_hex)]).len(),
        1,
        "the capture sees what is logged"
    );
    let mark = logs.len();

    vbm_platform::metrics::set_enabled(false);
    let env = TestEnv::fresh();
    let sdk = env.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let store = || {
        Store::new(
            dynamodb.clone(),
            &env.table,
            Limits::default(),
            Retention::default(),
        )
    };
    let viber_token = random_secret("viber-api-token");
    let viber_secret = random_secret("viber-callback-secret");
    let url_secret = random_secret("viber-url-secret");
    let viber = Echo::start(viber_answers()).await;
    // The business endpoint fails every delivery, echoing what it got.
    let hook = Echo::start(Arc::new(|req: &Received| (500, req.echo()))).await;

    // Tenants: acme (its first key revoked by a rotation), rival (its endpoint unreachable),
    // locked (an allowlist).
    let admin = store();
    let tenant = |id: &str, service_id: u64, url: Option<String>, cidrs: Vec<&str>| {
        let admin = &admin;
        let id = BusinessId::parse(id).unwrap();
        let allow_cidrs: Vec<_> = cidrs.iter().map(|c| c.parse().unwrap()).collect();
        async move {
            let (_, key) = admin
                .businesses()
                .create_business(&NewBusiness {
                    id: id.clone(),
                    service_id,
                    callback_url: url,
                    allow_cidrs,
                })
                .await
                .unwrap();
            // Free-form transactional sends below: the tenants opted in to them.
            admin
                .businesses()
                .set_legacy_transactional(&id, true)
                .await
                .unwrap();
            (id, key)
        }
    };
    let (acme, revoked) = tenant("acme", 1001, Some(format!("{}/hooks", hook.url)), vec![]).await;
    let key = admin.businesses().rotate_api_key(&acme).await.unwrap();
    let (rival, rival_key) = tenant(
        "rival",
        1002,
        Some("http://127.0.0.1:9/hooks".into()),
        vec![],
    )
    .await;
    let (_, locked_key) = tenant("locked", 1003, None, vec!["10.0.0.0/8"]).await;
    let acme_secret = admin
        .businesses()
        .get_business(&acme)
        .await
        .unwrap()
        .unwrap()
        .callback_secret;
    let rival_secret = admin
        .businesses()
        .get_business(&rival)
        .await
        .unwrap()
        .unwrap()
        .callback_secret;
    let unknown = ApiKey::generate();

    let send_app = send::App::new(store(), Arc::new(SystemClock));
    let relay_app = relay::App::new(OutboundQueue::new(sqs.clone(), &env.outbound_queue_url));
    let mut stream = relay::reader::StreamReader::for_table(
        &env.dynamodb().await,
        env.streams().await,
        &env.table,
    )
    .await
    .unwrap();
    // Both callback secrets in Secrets Manager, read by the functions' own loading path (whose
    // SDK response, at TRACE, carries the secret's value).
    let secrets_manager = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret_arn = secrets_manager
        .create_secret()
        .name(format!("{}/viber-callback", env.table))
        .secret_string(json!({"url_secret": url_secret, "hmac_secret": viber_secret}).to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let auth = || async {
        inbound::AuthSource::from_secret(
            secrets_manager.clone(),
            &secret_arn,
            "",
            Duration::from_secs(300),
        )
        .await
        .unwrap()
    };
    let events = || EventsQueue::new(sqs.clone(), &env.events_queue_url);
    let inbound_app = inbound::App::new(store(), events(), Arc::new(SystemClock), auth().await);
    let status_app = status::App::new(store(), events(), Arc::new(SystemClock), auth().await);
    // The API token from Secrets Manager too, through dispatch's own loading path.
    let token_arn = secrets_manager
        .create_secret()
        .name(format!("{}/viber-api-token", env.table))
        .secret_string(&viber_token)
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let viber_client = dispatch::ViberSource::from_secret(
        secrets_manager.clone(),
        &token_arn,
        &format!("{}/vibersrvc/1", viber.url),
        Duration::from_secs(5),
        Duration::from_secs(300),
    )
    .await
    .unwrap();
    let dispatch_app = dispatch::App::new(
        store(),
        viber_client,
        events(),
        sqs.clone(),
        &env.outbound_queue_url,
        Arc::new(SystemClock),
    );
    let notify_app = notify::App::new(
        store(),
        notify::http_client(
            Duration::from_secs(2),
            session_rules::callback_address::CallbackAddresses::AlsoLoopback,
        )
        .unwrap(),
        sqs.clone(),
        &env.events_queue_url,
        Arc::new(SystemClock),
    );

    // Viber callbacks: a user writes to acme (signed), then forgeries.
    let user_message = json!({
        "service_id": 1001, "phone_number": USER.trim_start_matches('+'),
        "message_token": 6_000_000_001u64, "time": SystemClock.now().as_millis(),
        "message": {"text": "hi"}
    })
    .to_string();
    let signed = viber::sign(viber_secret.as_bytes(), user_message.as_bytes());
    // To `{app_path}/{url secret}` with its path parameter; `None`: to `app_path` alone.
    let post_to = |app_path: &str, secret: Option<&str>, body: &str, signature: Option<&str>| {
        let headers: Vec<(&str, &str)> = signature
            .map(|s| vec![("x-viber-signature", s)])
            .unwrap_or_default();
        match secret {
            Some(secret) => request(
                "POST",
                &format!("{app_path}/{secret}"),
                body,
                &headers,
                CALLER_IP,
            )
            .with_path_parameters(std::collections::HashMap::from([(
                "secret".to_owned(),
                secret.to_owned(),
            )])),
            None => request("POST", app_path, body, &headers, CALLER_IP),
        }
    };
    let post_callback = |app_path: &'static str, body: &str, signature: Option<&str>| {
        post_to(app_path, Some(&url_secret), body, signature)
    };
    // A wrong and a missing URL secret, correctly signed.
    let guessed_url_secret = random_secret("guessed-url-secret");
    for secret in [Some(guessed_url_secret.as_str()), None] {
        let signed = viber::sign(viber_secret.as_bytes(), user_message.as_bytes());
        let (status, body) = status_and_body(
            inbound_app
                .handle(post_to(
                    "/viber/inbound",
                    secret,
                    &user_message,
                    Some(&signed),
                ))
                .await,
        );
        assert_eq!(status, 401, "{body}");
    }
    let forged = viber::sign(b"guessed", user_message.as_bytes());
    for (body, signature, expected) in [
        (user_message.as_str(), Some(signed.as_str()), 200),
        (user_message.as_str(), None, 401),
        (user_message.as_str(), Some(forged.as_str()), 401),
        (
            &user_message.replace("hi", "hello") as &str,
            Some(signed.as_str()),
            401,
        ),
    ] {
        let (status, body) = status_and_body(
            inbound_app
                .handle(post_callback("/viber/inbound", body, signature))
                .await,
        );
        assert_eq!(status, expected, "{body}");
    }

    // The business API: sends that Viber will accept, refuse, fail and garble.
    let bearer = |key: &str| format!("Bearer {key}");
    let send = |key: String, body: Value| {
        let app = &send_app;
        async move {
            let auth = bearer(&key);
            status_and_body(
                app.handle(request(
                    "POST",
                    "/v1/messages",
                    &body.to_string(),
                    &[("authorization", &auth)],
                    CALLER_IP,
                ))
                .await,
            )
        }
    };
    let (status, sent) = send(
        key.expose().into(),
        json!({"to": USER, "type": "session", "text": "hello"}),
    )
    .await;
    assert_eq!(status, 202, "{sent}");
    let message_id = sent["message_id"].as_str().unwrap().to_owned();
    let mut message_ids = vec![message_id.clone()];
    for to in [
        "+447911000008",
        "+447911000400",
        "+447911000500",
        "+447911000666",
    ] {
        let (status, body) = send(
            key.expose().into(),
            json!({"to": to, "type": "transactional", "text": "Your code is 1234"}),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        message_ids.push(body["message_id"].as_str().unwrap().to_owned());
    }
    let (status, body) = send(
        rival_key.expose().into(),
        json!({"to": USER, "type": "transactional", "text": "Your code is 1234"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    // Refusals: unknown, revoked, malformed, another tenant's, outside the allowlist.
    for (caller, expected) in [
        (unknown.expose().to_owned(), 401),
        (revoked.expose().to_owned(), 401),
        (format!("{}0", key.expose()), 401),
        (key.expose().trim_start_matches("vbm_").to_owned(), 401),
        (locked_key.expose().to_owned(), 403),
    ] {
        let (status, body) = send(
            caller.clone(),
            json!({"to": USER, "type": "session", "text": "x"}),
        )
        .await;
        assert_eq!(status, expected, "{body}");
        let auth = bearer(&caller);
        let (status, _) = status_and_body(
            send_app
                .handle(request(
                    "GET",
                    &format!("/v1/messages/{message_id}"),
                    "",
                    &[("authorization", &auth)],
                    CALLER_IP,
                ))
                .await,
        );
        assert_eq!(status, expected);
    }
    let rival_auth = bearer(rival_key.expose());
    let (status, _) = status_and_body(
        send_app
            .handle(request(
                "GET",
                &format!("/v1/messages/{message_id}"),
                "",
                &[("authorization", &rival_auth)],
                CALLER_IP,
            ))
            .await,
    );
    assert_eq!(status, 404);

    // relay: the table's stream puts every accepted message on the outbound queue; dispatch:
    // everything queued goes to the Viber stand-in.
    stream.drain(&relay_app).await.unwrap();
    loop {
        let batch = receive(&sqs, &env.outbound_queue_url).await;
        if batch.records.is_empty() {
            break;
        }
        dispatch_app.handle_batch(batch).await;
    }
    assert_eq!(viber.received().len(), 6, "every send reached Viber once");
    assert!(
        viber.received().iter().all(|r| r
            .headers
            .iter()
            .any(|(n, v)| n == "x-viber-auth-token" && *v == viber_token)),
        "dispatch sends the token"
    );

    // status: Viber reports delivery of the accepted message, and forgeries.
    let delivered = json!({
        "message_token": 7_000_000_001u64, "message_time": SystemClock.now().as_millis(),
        "message_status": 0
    })
    .to_string();
    let signed = viber::sign(viber_secret.as_bytes(), delivered.as_bytes());
    let unknown_token = delivered.replace("7000000001", "7000000999");
    let unknown_signed = viber::sign(viber_secret.as_bytes(), unknown_token.as_bytes());
    for (body, signature, expected) in [
        (delivered.as_str(), Some(signed.as_str()), 200),
        (delivered.as_str(), None, 401),
        (unknown_token.as_str(), Some(signed.as_str()), 401),
        // A token not recorded yet: kept for dispatch to apply, answered 200.
        (unknown_token.as_str(), Some(unknown_signed.as_str()), 200),
    ] {
        let (status, body) = status_and_body(
            status_app
                .handle(post_callback("/viber/status", body, signature))
                .await,
        );
        assert_eq!(status, expected, "{body}");
    }

    // notify: acme's endpoint fails echoing what it got, rival's is unreachable.
    loop {
        let batch = receive(&sqs, &env.events_queue_url).await;
        if batch.records.is_empty() {
            break;
        }
        notify_app.handle_batch(batch).await;
    }
    assert!(
        !hook.received().is_empty(),
        "notify reached acme's endpoint"
    );
    assert!(
        hook.received()
            .iter()
            .all(|r| r.headers.iter().any(|(n, _)| n == "webhook-signature")),
        "events are signed"
    );

    let captured = logs.since(mark);
    // Every function logged here, on its failing paths too.
    for needle in [
        r#""outcome":"unauthorized""#,
        r#""outcome":"ip_not_allowed""#,
        r#""outcome":"accepted""#,
        r#""route":"POST /viber/inbound""#,
        "callback refused",
        "will retry",
        r#""name":"notify""#,
        r#""name":"dispatch""#,
    ] {
        assert!(captured.contains(needle), "no log line with {needle}");
    }
    let secrets = [
        ("acme's API key", key.expose()),
        (
            "acme's API key, hex part",
            key.expose().trim_start_matches("vbm_"),
        ),
        ("acme's revoked key", revoked.expose()),
        (
            "acme's revoked key, hex part",
            revoked.expose().trim_start_matches("vbm_"),
        ),
        ("rival's API key", rival_key.expose()),
        ("locked's API key", locked_key.expose()),
        ("an unknown key a caller sent", unknown.expose()),
        ("the Viber API token", viber_token.as_str()),
        ("the Viber callback signing secret", viber_secret.as_str()),
        ("the Viber callback URL secret", url_secret.as_str()),
        ("acme's signing secret", acme_secret.as_str()),
        ("rival's signing secret", rival_secret.as_str()),
    ];
    // Nor in anything a tenant can read: the events its endpoint received, its messages.
    let mut tenant_view: Vec<String> = hook.received().iter().map(Received::echo).collect();
    for id in message_ids {
        let auth = bearer(key.expose());
        let (_, message) = status_and_body(
            send_app
                .handle(request(
                    "GET",
                    &format!("/v1/messages/{id}"),
                    "",
                    &[("authorization", &auth)],
                    CALLER_IP,
                ))
                .await,
        );
        tenant_view.push(message.to_string());
    }
    let tenant_view = tenant_view.join("\n");
    assert!(
        tenant_view.contains(r#""status":"failed""#),
        "the failed sends are there: {tenant_view}"
    );
    let shown = leaks(&tenant_view, &secrets);
    assert!(
        shown.is_empty(),
        "secrets shown to a tenant:\n{}",
        shown
            .iter()
            .map(|(name, line)| format!("{name}: {}", line.chars().take(300).collect::<String>()))
            .collect::<Vec<_>>()
            .join("\n")
    );

    let found = leaks(&captured, &secrets);
    assert!(
        found.is_empty(),
        "secrets in the logs:\n{}",
        found
            .iter()
            .map(|(name, line)| describe(name, line))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "checked {} log lines ({} bytes) for {} secrets",
        captured.lines().count(),
        captured.len(),
        secrets.len()
    );
}

/// Which secret, at which level, from which crate, and the start of the line.
fn describe(name: &str, line: &str) -> String {
    let parsed: Value = serde_json::from_str(line).unwrap_or(Value::Null);
    let start: String = line.chars().take(300).collect();
    format!(
        "{name} at {} from {}: {start}",
        parsed["level"].as_str().unwrap_or("?"),
        parsed["target"].as_str().unwrap_or("?")
    )
}
