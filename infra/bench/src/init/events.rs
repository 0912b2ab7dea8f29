//! The first events the functions get, as Lambda delivers them: an API Gateway HTTP API (v2)
//! request, Viber callbacks to the URL with the secret (or signed), and SQS batches built from messages
//! received off the real (emulated) queues.

use aws_lambda_events::sqs::SqsEvent;
use serde_json::{Value, json};

/// The address API Gateway reports as the caller's.
pub const SOURCE_IP: &str = "203.0.113.7";

/// An HTTP API (payload format 2.0) event for `method path` with these headers and body.
pub fn http_api(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Value {
    let mut header_map = serde_json::Map::new();
    for (name, value) in headers {
        header_map.insert(name.to_ascii_lowercase(), json!(value));
    }
    header_map.insert("host".into(), json!("api.example.com"));
    header_map.insert("x-forwarded-for".into(), json!(SOURCE_IP));
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": SOURCE_IP,
                "userAgent": "bench-init",
            },
            "requestId": "bench-request",
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "21/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_262_400_000u64,
        },
        "body": body,
        "isBase64Encoded": false,
    })
}

/// `POST /v1/messages` of a template message, authenticated with `api_key`.
pub fn send_template(api_key: &str, to: &str, template: &str) -> Value {
    let body = json!({
        "to": to,
        "type": "template",
        "template": {"id": template, "params": {"name": "Ann"}},
    })
    .to_string();
    http_api(
        "POST",
        "/v1/messages",
        &[
            ("Authorization", &format!("Bearer {api_key}")),
            ("Content-Type", "application/json"),
        ],
        &body,
    )
}

/// A user message from `from` (E.164) as Viber posts it to `/viber/inbound`.
pub fn viber_user_message(service_id: u64, from: &str, token: u64, now_ms: i64) -> String {
    json!({
        "service_id": service_id,
        "phone_number": from.trim_start_matches('+'),
        "message_token": token,
        "time": now_ms,
        "message": {"text": "Hi!"},
    })
    .to_string()
}

/// A `delivered` status for the message Viber gave `token`, as posted to `/viber/status`.
pub fn viber_delivered(token: u64, now_ms: i64) -> String {
    json!({
        "message_token": token,
        "message_time": now_ms,
        "message_status": 0,
    })
    .to_string()
}

/// A Viber callback to `path`, signed with `secret` (`X-Viber-Signature`).
pub fn viber_callback(path: &str, secret: &str, body: &str) -> Value {
    let signature = viber::sign(secret.as_bytes(), body.as_bytes());
    http_api(
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("X-Viber-Signature", &signature),
        ],
        body,
    )
}

/// A Viber callback as Viber posts it by default: unsigned, to `{route}/{secret}` (route
/// `POST {route}/{secret}`, the secret as its path parameter).
pub fn viber_url_callback(route: &str, secret: &str, body: &str) -> Value {
    let mut event = http_api(
        "POST",
        &format!("{route}/{secret}"),
        &[("Content-Type", "application/json")],
        body,
    );
    let route_key = format!("POST {route}/{{secret}}");
    event["routeKey"] = json!(route_key);
    event["requestContext"]["routeKey"] = json!(route_key);
    event["pathParameters"] = json!({"secret": secret});
    event
}

/// An SQS batch of these messages from the queue `queue_arn`, as the event source mapping
/// delivers it.
pub fn sqs_batch(queue_arn: &str, messages: &[aws_sdk_sqs::types::Message]) -> Value {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = vbm_testkit::sqs::record_of(m);
            record.md5_of_body = m.md5_of_body().map(str::to_owned);
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(queue_arn.to_owned());
            record.aws_region = Some("us-east-1".into());
            record
        })
        .collect();
    serde_json::to_value(event).unwrap_or(Value::Null)
}

/// Whether an API Gateway answer (the function's response payload) has this status code.
pub fn http_status(answer: &str) -> Option<u64> {
    serde_json::from_str::<Value>(answer).ok()?["statusCode"].as_u64()
}

/// Whether an SQS handler's answer reports no failed records.
pub fn batch_succeeded(answer: &str) -> bool {
    serde_json::from_str::<Value>(answer)
        .ok()
        .and_then(|v| v.get("batchItemFailures")?.as_array().map(Vec::is_empty))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;
    use lambda_http::request::LambdaRequest;

    /// What `lambda_http` (the real functions' runtime) makes of an event.
    fn as_lambda_http(event: &Value) -> lambda_http::Request {
        let parsed: LambdaRequest = serde_json::from_value(event.clone()).unwrap();
        lambda_http::Request::from(parsed)
    }

    #[test]
    fn a_send_is_an_http_api_request_lambda_http_reads() {
        let request = as_lambda_http(&send_template("vbm_abc", "+447911123456", "welcome"));
        assert_eq!(request.method(), "POST");
        assert_eq!(request.raw_http_path(), "/v1/messages");
        assert_eq!(request.headers()["authorization"], "Bearer vbm_abc");
        let body: Value = serde_json::from_slice(request.body().as_ref()).unwrap();
        assert_eq!(body["to"], "+447911123456");
        assert_eq!(body["template"]["id"], "welcome");
        match request.request_context() {
            lambda_http::request::RequestContext::ApiGatewayV2(context) => {
                assert_eq!(context.http.source_ip.as_deref(), Some(SOURCE_IP));
            }
            other => panic!("not an HTTP API request: {other:?}"),
        }
    }

    #[test]
    fn a_callback_carries_the_hmac_of_its_exact_body() {
        let body = r#"{"message_token":42,"message_time":1795262400000,"message_status":0}"#;
        let request = as_lambda_http(&viber_callback("/viber/status", "s3cret", body));
        assert_eq!(request.raw_http_path(), "/viber/status");
        assert_eq!(request.body().as_ref(), body.as_bytes());
        // Computed independently: printf '%s' "$body" | openssl dgst -sha256 -hmac s3cret
        assert_eq!(
            request.headers()["x-viber-signature"],
            "7b12463ee248749452b50716661de41615e8856e2c7bb3c441bd9ff6034c9e06"
        );
    }

    #[test]
    fn a_url_callback_carries_the_secret_as_its_path_parameter() {
        use lambda_http::RequestExt;
        let body = r#"{"message_token":42,"message_time":1795262400000,"message_status":0}"#;
        let request = as_lambda_http(&viber_url_callback(
            "/viber/status",
            "s3cret-s3cret-s3cret",
            body,
        ));
        assert_eq!(
            request.raw_http_path(),
            "/viber/status/s3cret-s3cret-s3cret"
        );
        assert_eq!(
            request.path_parameters().first("secret"),
            Some("s3cret-s3cret-s3cret")
        );
        assert!(request.headers().get("x-viber-signature").is_none());
        assert_eq!(request.body().as_ref(), body.as_bytes());
    }

    #[test]
    fn callbacks_say_what_viber_says() {
        let status: Value = serde_json::from_str(&viber_delivered(42, 1_795_262_400_000)).unwrap();
        assert_eq!(
            status,
            json!({"message_token": 42, "message_time": 1_795_262_400_000u64, "message_status": 0})
        );
        let user: Value =
            serde_json::from_str(&viber_user_message(7, "+447911123456", 9, 1_000)).unwrap();
        assert_eq!(user["service_id"], 7);
        assert_eq!(user["phone_number"], "447911123456");
        assert_eq!(user["message_token"], 9);
        assert_eq!(user["time"], 1_000);
        assert_eq!(user["message"]["text"], "Hi!");
    }

    #[test]
    fn an_sqs_batch_keeps_each_message_and_names_its_queue() {
        let message = aws_sdk_sqs::types::Message::builder()
            .message_id("m-1")
            .receipt_handle("rh-1")
            .body(r#"{"job":1}"#)
            .attributes(
                aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                "1",
            )
            .build();
        let event = sqs_batch("arn:aws:sqs:us-east-1:123456789012:q", &[message]);
        let parsed: SqsEvent = serde_json::from_value(event).unwrap();
        assert_eq!(parsed.records.len(), 1);
        let record = &parsed.records[0];
        assert_eq!(record.message_id.as_deref(), Some("m-1"));
        assert_eq!(record.receipt_handle.as_deref(), Some("rh-1"));
        assert_eq!(record.body.as_deref(), Some(r#"{"job":1}"#));
        assert_eq!(record.attributes["ApproximateReceiveCount"], "1");
        assert_eq!(
            record.event_source_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:123456789012:q")
        );
    }

    #[test]
    fn answers_are_read_as_success_only_when_they_say_so() {
        assert_eq!(http_status(r#"{"statusCode":202,"body":"{}"}"#), Some(202));
        assert_eq!(http_status("not json"), None);
        assert!(batch_succeeded(r#"{"batchItemFailures":[]}"#));
        assert!(!batch_succeeded(
            r#"{"batchItemFailures":[{"itemIdentifier":"m-1"}]}"#
        ));
        assert!(!batch_succeeded("{}"));
    }
}
