//! Requests as API Gateway (HTTP API) hands them to the functions, for calling `App::handle` in
//! process.

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};

/// The documentation range: no allowlist in the benches, any address does.
const SOURCE_IP: &str = "203.0.113.10";

/// A request with `headers` and an optional body; `None` if a header is not valid HTTP.
pub fn api_request(
    method: &str,
    path: &str,
    body: Option<String>,
    headers: &[(&str, &str)],
) -> Option<Request> {
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.method = method.parse().ok()?;
    context.http.path = Some(path.to_owned());
    context.http.source_ip = Some(SOURCE_IP.to_owned());
    context.stage = Some("$default".into());
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    Some(
        builder
            .body(body.map_or(Body::Empty, Body::from))
            .ok()?
            .with_request_context(RequestContext::ApiGatewayV2(context))
            .with_raw_http_path(path),
    )
}

/// `POST /v1/messages` as `api_key`'s business.
pub fn send_request(api_key: &str, body: &serde_json::Value) -> Option<Request> {
    let auth = format!("Bearer {api_key}");
    api_request(
        "POST",
        "/v1/messages",
        Some(body.to_string()),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
    )
}

/// `POST /v1/messages?dry_run=true` as `api_key`'s business, with an optional
/// `Idempotency-Key`.
pub fn dry_run_request(
    api_key: &str,
    body: &serde_json::Value,
    key: Option<&str>,
) -> Option<Request> {
    let auth = format!("Bearer {api_key}");
    let mut headers = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    let query: std::collections::HashMap<String, String> =
        [("dry_run".to_owned(), "true".to_owned())].into();
    Some(
        api_request("POST", "/v1/messages", Some(body.to_string()), &headers)?
            .with_query_string_parameters(query),
    )
}

/// A Viber callback to `path`, signed with `secret` as Viber signs it.
pub fn signed_callback(path: &str, secret: &str, body: &serde_json::Value) -> Option<Request> {
    let raw = body.to_string();
    let signature = viber::sign(secret.as_bytes(), raw.as_bytes());
    api_request(
        "POST",
        path,
        Some(raw),
        &[
            ("content-type", "application/json"),
            (viber::auth::SIGNATURE_HEADER, &signature),
        ],
    )
}
