//! Viber callbacks as API Gateway hands them to `inbound` and `status` (one pipeline,
//! `vbm_callbacks::CallbackApp`): the requests, the answer read back, and the security matrix
//! both routes are held to. Plain values only (no store, no route types), so any suite can use
//! it; the caller signs (`viber::sign`) and calls its own app.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};

use crate::TestEnv;

/// Where Viber's callbacks come from in the tests (inside the allowlists they use).
pub const VIBER_IP: &str = "203.0.113.10";

/// `POST {path}` from `source_ip`, with `X-Viber-Signature: signature` when there is one. A
/// UTF-8 body is sent as text (as API Gateway does), any other as binary.
pub fn request(
    path: &str,
    body: impl Into<Vec<u8>>,
    signature: Option<&str>,
    source_ip: &str,
) -> Request {
    let body = body.into();
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.method = Method::POST;
    context.http.path = Some(path.to_owned());
    context.http.source_ip = Some(source_ip.to_owned());
    let mut builder = lambda_http::http::Request::builder()
        .method("POST")
        .uri(format!("https://api.example.com{path}"))
        .header("content-type", "application/json");
    if let Some(signature) = signature {
        builder = builder.header("X-Viber-Signature", signature);
    }
    let body = match String::from_utf8(body) {
        Ok(text) => Body::from(text),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    builder
        .body(body)
        .unwrap()
        .with_request_context(RequestContext::ApiGatewayV2(context))
        .with_raw_http_path(path)
}

/// `POST {route}/{secret}` as the public emulators post it (unsigned, the secret in the URL;
/// `None`: `POST {route}`), from [`VIBER_IP`].
pub fn with_url_secret(route: &str, body: impl Into<Vec<u8>>, secret: Option<&str>) -> Request {
    match secret {
        Some(secret) => request(&format!("{route}/{secret}"), body, None, VIBER_IP)
            .with_path_parameters(HashMap::from([("secret".to_owned(), secret.to_owned())])),
        None => request(route, body, None, VIBER_IP),
    }
}

/// `request` with these raw headers added (or replaced), and its body as raw bytes.
pub fn with_raw(mut request: Request, body: Vec<u8>, headers: &[(&str, &[u8])]) -> Request {
    *request.body_mut() = Body::Binary(body);
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    request
}

/// A callback's answer: status, JSON body and headers.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    pub fn of(response: Response<Body>) -> Self {
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: serde_json::from_slice(response.body().as_ref()).unwrap(),
        }
    }
}

/// The hostile bodies both routes are held to, built from one valid callback body.
pub struct Hostile<'a> {
    pub body: &'a str,
}

/// The rows of both routes' matrices that carry a valid signature (`signed` signs a raw body
/// and adds raw headers): bodies over `limit`, nesting, and numbers no field can hold. `time`
/// names the route's time field; `token_2_64` is how the route answers a 2^64 token (kept as
/// its digits, a token like any other: accepted).
pub fn signed_rows(
    hostile: &Hostile<'_>,
    limit: usize,
    time: &str,
    token_2_64: &'static str,
    signed: impl Fn(Vec<u8>, &[(&str, &[u8])]) -> Request,
) -> Vec<Case> {
    let over = hostile.over(limit);
    vec![
        (
            "one byte over 64 KiB",
            signed(over.clone(), &[]),
            413,
            "payload_too_large",
        ),
        (
            "over, Content-Length says 10",
            signed(over, &[("content-length", b"10")]),
            413,
            "payload_too_large",
        ),
        (
            "30k nested arrays",
            signed(Hostile::nested(30_000).into_bytes(), &[]),
            400,
            "invalid_json",
        ),
        (
            "service_id 2^64",
            signed(hostile.with("service_id", "18446744073709551616"), &[]),
            422,
            "validation_failed",
        ),
        (
            "token 2^64",
            signed(hostile.with("message_token", "18446744073709551616"), &[]),
            200,
            token_2_64,
        ),
        (
            "token of 2000 digits (too long for a key)",
            signed(
                hostile.with("message_token", &format!(r#""{}""#, "7".repeat(2000))),
                &[],
            ),
            422,
            "validation_failed",
        ),
        (
            "time 2^63",
            signed(hostile.with(time, "9223372036854775808"), &[]),
            422,
            "validation_failed",
        ),
    ]
}

impl Hostile<'_> {
    /// The valid body with `field` set to this raw JSON.
    pub fn with(&self, field: &str, raw_json: &str) -> Vec<u8> {
        let mut value: Value = serde_json::from_str(self.body).unwrap();
        value[field] = json!("PLACEHOLDER");
        value
            .to_string()
            .replace(r#""PLACEHOLDER""#, raw_json)
            .into_bytes()
    }

    /// `depth` nested empty arrays.
    pub fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    /// The valid body padded to one byte over the body limit.
    pub fn over(&self, limit: usize) -> Vec<u8> {
        let mut over = self.body.as_bytes().to_vec();
        over.resize(limit + 1, b' ');
        over
    }
}

/// One row of a security matrix: its name, the request, and the status and code it must get
/// (a 400 or 422 for a body that cannot be used, except a key given twice, is kept in the
/// quarantine and answered 200; a 200 row is accepted).
pub type Case = (&'static str, Request, u16, &'static str);

/// Runs a security matrix against one app (`call` answers a request), from a fresh footprint
/// for each case: a refused callback leaves the table and every queue exactly as they were; an
/// authenticated one that cannot be used is kept whole in the quarantine (the parser's code in
/// its detail), answered 200, nothing else stored or queued; `accepted` checks a 200 row.
pub async fn check_matrix(
    env: &TestEnv,
    cases: Vec<Case>,
    call: impl AsyncFn(Request) -> Reply,
    mut accepted: impl AsyncFnMut(&str, &Reply),
) {
    for (name, request, status, code) in cases {
        let sent = request.body().as_ref().to_vec();
        let before = env.footprint().await;
        let reply = call(request).await;
        if status == 200 {
            assert_eq!(reply.body["status"], 0, "{name}: {}", reply.body);
            accepted(name, &reply).await;
            continue;
        }
        // A key twice is refused outright, `400 invalid_json` with nothing stored
        // (a reader taking the first key would see another callback than we act on).
        if (status == 400 || status == 422) && !name.contains("twice") {
            assert_eq!(reply.status, 200, "{name}: {}", reply.body);
            let after = env.footprint().await;
            assert_eq!(after.queues, before.queues, "{name}");
            let added: Vec<_> = after
                .items
                .iter()
                .filter(|i| !before.items.contains(i))
                .collect();
            assert_eq!(added.len(), 1, "{name}: {added:?}");
            assert_eq!(after.items.len(), before.items.len() + 1, "{name}");
            let kept = added[0];
            assert_eq!(kept["pk"], AttributeValue::S("QUARANTINE".into()), "{name}");
            assert_eq!(
                kept["body"],
                AttributeValue::B(sent.into()),
                "{name}: kept whole"
            );
            assert_eq!(kept["reason"], AttributeValue::S("unparseable".into()));
            assert!(
                kept["detail"].as_s().unwrap().starts_with(code),
                "{name}: {:?}",
                kept["detail"]
            );
            continue;
        }
        assert_eq!(
            (reply.status, reply.body["error"]["code"].as_str()),
            (status, Some(code)),
            "{name}: {}",
            reply.body
        );
        assert_eq!(
            env.footprint().await,
            before,
            "{name}: a refused callback changed the table or a queue"
        );
    }
}
