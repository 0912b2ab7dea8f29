//! The HTTP face of every function behind API Gateway (the business API and the Viber
//! callbacks): the error object, JSON bodies in and out, the caller's source IP, request ids.
//!
//! Handlers turn every domain answer into a [`Response`] themselves (an [`ApiError`] renders
//! with [`ApiError::into_response`]); nothing here panics on what a caller sends.

mod body;
mod duplicates;
mod error;
/// `Idempotency-Key`: when two requests are the same (their canonical JSON).
pub mod idempotency;

use std::future::Future;
use std::net::IpAddr;
use std::time::Instant;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tracing::Instrument;

pub use body::{MAX_BODY_BYTES, from_value, read_json, read_json_value, reject_duplicate_keys};
pub use duplicates::duplicate_key;
pub use error::ApiError;

/// `application/json`, the only content type the APIs answer with.
pub const JSON: &str = "application/json";

/// A JSON answer.
pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_else(|e| {
        // Our own view types always serialize; if one ever did not, say so rather than panic.
        tracing::error!(error = %e, "response did not serialize");
        br#"{"error":{"code":"unavailable","message":"internal error"}}"#.to_vec()
    });
    let mut response = Response::new(Body::Binary(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// An answer with no body (`204 No Content`).
pub fn empty_response(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

/// The caller's address as API Gateway (HTTP API, payload 2.0) or a Function URL saw it
/// (`requestContext.http.sourceIp`). `None` when there is no such context (a direct invoke) or
/// it does not parse: callers then fail closed wherever an allowlist applies.
pub fn source_ip(request: &Request) -> Option<IpAddr> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .http
            .source_ip
            .as_deref()
            .and_then(|ip| ip.trim().parse().ok()),
        #[allow(unreachable_patterns)] // other event sources, when their features are on
        _ => None,
    }
}

/// The header the business API answers with the request's id ([`request_id`]).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id a business quotes in a support ticket: Lambda's request id (every log line of the
/// invocation carries it as `requestId`), or API Gateway's when there is no Lambda context
/// (the local stack).
pub fn request_id(request: &Request) -> Option<&str> {
    let lambda = request
        .lambda_context_ref()
        .map(|context| context.request_id.as_str());
    let gateway = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.as_deref(),
        #[allow(unreachable_patterns)] // other event sources, when their features are on
        _ => None,
    };
    lambda.into_iter().chain(gateway).find(|id| !id.is_empty())
}

/// `response` with [`REQUEST_ID_HEADER`] (an id that is not a valid header value is left out).
pub fn with_request_id(mut response: Response<Body>, id: Option<&str>) -> Response<Body> {
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(id).ok()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// The request's path as the caller wrote it, without an API Gateway stage prefix: the same
/// binary routes alike behind an HTTP API (any stage) and a Function URL.
pub fn request_path(request: &Request) -> &str {
    match request.raw_http_path() {
        "" => request.uri().path(),
        raw => raw,
    }
}

/// Decodes `%XX` escapes in one path segment (`%2B380501234567` → `+380501234567`). `None` when
/// an escape is malformed or the result is not UTF-8. `+` stays `+` (it means space only in
/// query strings).
pub fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A header's value, when present once-or-more and valid visible ASCII.
pub fn header_str<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `Retry-After` seconds given with `503 unavailable`.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// Turns an [`ApiError`] or a success into the response; handlers return this.
pub type Answer = Result<Response<Body>, ApiError>;

/// Renders an [`Answer`].
pub fn respond(answer: Answer) -> Response<Body> {
    answer.unwrap_or_else(ApiError::into_response)
}

/// What a handler reports about its success, for the request's log line (`outcome`): put it in
/// the response's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome(pub &'static str);

/// Renders an [`Answer`] and records on the current span what became of the request: `outcome`
/// (the handler's [`Outcome`], `ok` when it gave none, or the error code) and `status`.
pub fn respond_recorded(answer: Answer) -> Response<Body> {
    let span = tracing::Span::current();
    let response = match answer {
        Ok(response) => {
            let outcome = response.extensions().get::<Outcome>().map_or("ok", |o| o.0);
            span.record("outcome", outcome);
            response
        }
        Err(error) => {
            span.record("outcome", error.code);
            error.into_response()
        }
    };
    span.record("status", response.status().as_u16());
    response
}

/// Every HTTP function's `handle` around its own routing: runs `answer` inside `span` (the
/// function's fields, filled by its route), renders it with [`respond_recorded`] and ends with
/// one `answered` line carrying the elapsed time, so each request logs exactly one.
pub async fn answer_in(
    span: tracing::Span,
    answer: impl Future<Output = Answer>,
) -> Response<Body> {
    let started = Instant::now();
    // On the heap: a router's future is large, and moved by value through here it overflowed
    // a test thread's 2 MiB stack in debug builds.
    let answer = Box::pin(answer);
    async move {
        let response = respond_recorded(answer.await);
        tracing::info!(
            elapsed_us = started.elapsed().as_micros() as u64,
            "answered"
        );
        response
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;

    use super::*;

    fn request_from(ip: Option<&str>) -> Request {
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.http.source_ip = ip.map(str::to_owned);
        lambda_http::http::Request::builder()
            .uri("https://api.example.com/prod/v1/templates")
            .body(Body::Empty)
            .unwrap()
            .with_request_context(RequestContext::ApiGatewayV2(context))
            .with_raw_http_path("/v1/templates")
    }

    #[test]
    fn source_ip_comes_from_the_v2_context() {
        assert_eq!(
            source_ip(&request_from(Some("203.0.113.7"))),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(
            source_ip(&request_from(Some("2001:db8::1"))),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(source_ip(&request_from(Some("garbage"))), None);
        assert_eq!(source_ip(&request_from(None)), None);
        let bare = lambda_http::http::Request::builder()
            .uri("/v1/templates")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(source_ip(&bare), None);
        assert_eq!(request_path(&bare), "/v1/templates");
    }

    #[test]
    fn the_request_id_is_lambdas_then_the_gateways() {
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.request_id = Some("gw-1".into());
        let bare = lambda_http::http::Request::builder()
            .uri("/v1/templates")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(request_id(&bare), None);
        let gateway = bare.with_request_context(RequestContext::ApiGatewayV2(context));
        assert_eq!(request_id(&gateway), Some("gw-1"));
        let mut lambda = lambda_http::Context::default();
        lambda.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into();
        let both = gateway.with_lambda_context(lambda);
        assert_eq!(
            request_id(&both),
            Some("8476a536-e9f4-11e8-9739-2dfe598c3fcd")
        );
        let answered = with_request_id(empty_response(StatusCode::NO_CONTENT), Some("a-1"));
        assert_eq!(answered.headers()[REQUEST_ID_HEADER], "a-1");
        let refused = with_request_id(empty_response(StatusCode::NO_CONTENT), Some("a\nb"));
        assert!(refused.headers().get(REQUEST_ID_HEADER).is_none());
    }

    #[test]
    fn the_raw_path_has_no_stage() {
        assert_eq!(request_path(&request_from(None)), "/v1/templates");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%2B380501234567").unwrap(), "+380501234567");
        assert_eq!(percent_decode("%2b380501234567").unwrap(), "+380501234567");
        assert_eq!(percent_decode("+380501234567").unwrap(), "+380501234567");
        assert_eq!(percent_decode("%D0%BA").unwrap(), "к");
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%FF"), None);
    }

    #[test]
    fn json_responses_say_so() {
        let r = json_response(StatusCode::ACCEPTED, &serde_json::json!({"a": 1}));
        assert_eq!(r.status(), 202);
        assert_eq!(r.headers()[header::CONTENT_TYPE], JSON);
        assert_eq!(r.body().as_ref(), br#"{"a":1}"#);
    }
}
