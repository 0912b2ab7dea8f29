//! What API Gateway (HTTP API, payload 2.0) does in front of a function: the local request is
//! turned into the same event JSON Lambda would receive and parsed by `lambda_http` itself, so a
//! handler sees exactly what it sees in AWS (raw path, headers, `requestContext.http.sourceIp`,
//! the route's path parameters such as `/viber/inbound/{secret}`).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use base64::Engine;
use hyper::body::Bytes;
use lambda_http::{Body, Request, Response};
use serde_json::json;

/// The local request as a `lambda_http::Request`; `path_parameters` as the matched route
/// names them.
pub fn to_lambda(
    method: &hyper::Method,
    uri: &hyper::Uri,
    headers: &hyper::HeaderMap,
    body: &Bytes,
    peer: SocketAddr,
    path_parameters: &[(&str, &str)],
) -> Result<Request, String> {
    let path_parameters: BTreeMap<&str, &str> = path_parameters.iter().copied().collect();
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        joined
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": uri.path(),
        "rawQueryString": uri.query().unwrap_or_default(),
        "headers": joined,
        "pathParameters": path_parameters,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "stage": "$default",
            "requestId": ulid::Ulid::new().to_string(),
            "timeEpoch": 0,
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": joined.get("user-agent").cloned().unwrap_or_default(),
            }
        },
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true,
    });
    lambda_http::request::from_str(&event.to_string()).map_err(|e| e.to_string())
}

/// A function's answer as a local HTTP response.
pub fn from_lambda(response: Response<Body>) -> hyper::Response<http_body_util::Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bin) => Bytes::from(bin),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, http_body_util::Full::new(bytes))
}
