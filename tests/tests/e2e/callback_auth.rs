//! Viber's callbacks through the local stack's HTTP, authenticated as configured: by default
//! the sandbox posts as the public emulators do (unsigned, to `/viber/{inbound,status}/{secret}`,
//! the secret read by the functions from the emulator's Secrets Manager); with
//! `sign_callbacks` it also signs, and the functions require the signature.
//! Run with `infra/scripts/with-moto.sh cargo test -p vbm-e2e --test callback_auth`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use vbm_e2e::{Stack, eventually};

const USER: &str = "+447911123456";

/// A raw callback to `path`, optionally signed; the answer's status and error code.
async fn post_callback(
    stack: &Stack,
    path: &str,
    body: &Value,
    signature: Option<String>,
) -> (StatusCode, String) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", stack.base))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(signature) = signature {
        request = request.header("X-Viber-Signature", signature);
    }
    let response = request.send().await.expect("the stack answers");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn user_message(token: u64, text: &str) -> Value {
    json!({
        "service_id": 1000,
        "phone_number": USER.trim_start_matches('+'),
        "message_token": token,
        "time": 1_700_000_000_000u64,
        "message": {"text": text},
    })
}

#[tokio::test]
async fn unsigned_callbacks_to_the_url_with_the_secret_open_sessions_and_move_statuses() {
    let stack = Stack::start().await;
    let before = stack.env.footprint().await;
    let forged = user_message(9001, "forged");
    for path in [
        "/viber/inbound".to_owned(),
        "/viber/inbound/not-the-dev-secret-000".to_owned(),
        format!("/viber/inbound/{}x", vbm_dev::DEV_VIBER_SECRET),
    ] {
        assert_eq!(
            post_callback(&stack, &path, &forged, None).await,
            (StatusCode::UNAUTHORIZED, "unauthorized".to_owned()),
            "{path}"
        );
    }
    let status = json!({"message_token": 1, "message_time": 1, "message_status": 0});
    assert_eq!(
        post_callback(&stack, "/viber/status/wrong-secret-0000000", &status, None).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".to_owned())
    );
    assert_eq!(
        stack.env.footprint().await,
        before,
        "refused callbacks store nothing"
    );

    // The sandbox's user message (unsigned, URL secret) opens a session...
    stack.user_writes(USER, "Hi!").await;
    assert_eq!(stack.session(USER).await["state"], "active");
    // ...and its status callbacks for a send move the message to seen.
    let sent = stack
        .session_text(USER, "How can we help?")
        .await
        .body
        .clone();
    let id = sent["message_id"].as_str().expect("accepted").to_owned();
    eventually("seen", Duration::from_secs(20), || async {
        (stack.message(&id).await["status"] == "seen").then_some(())
    })
    .await;

    // A direct unsigned post with the secret is what Viber does: accepted.
    let path = format!("/viber/inbound/{}", vbm_dev::DEV_VIBER_SECRET);
    let (code, _) = post_callback(&stack, &path, &user_message(9002, "direct"), None).await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn with_signing_on_the_signature_is_required_too() {
    let stack = Stack::start_with(vbm_dev::Options {
        sign_callbacks: true,
        ..vbm_dev::Options::default()
    })
    .await;
    let path = format!("/viber/inbound/{}", vbm_dev::DEV_VIBER_SECRET);
    let body = user_message(9101, "hello");
    let before = stack.env.footprint().await;
    assert_eq!(
        post_callback(&stack, &path, &body, None).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".to_owned())
    );
    let wrong = viber_sign(b"another-secret", &body);
    assert_eq!(
        post_callback(&stack, &path, &body, Some(wrong)).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".to_owned())
    );
    // Signed but without the URL secret: both are configured, both are required.
    let good = viber_sign(vbm_dev::DEV_VIBER_SECRET.as_bytes(), &body);
    assert_eq!(
        post_callback(&stack, "/viber/inbound", &body, Some(good.clone())).await,
        (StatusCode::UNAUTHORIZED, "unauthorized".to_owned())
    );
    assert_eq!(stack.env.footprint().await, before);

    assert_eq!(
        post_callback(&stack, &path, &body, Some(good)).await.0,
        StatusCode::OK
    );
    // The sandbox signs its own.
    stack.user_writes("+447911123457", "Hi!").await;
    assert_eq!(stack.session("+447911123457").await["state"], "active");
}

/// `X-Viber-Signature` computed here, not by the code under test: hex HMAC-SHA256.
fn viber_sign(key: &[u8], body: &Value) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(body.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
