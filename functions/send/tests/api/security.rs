//! The security matrix of the business API: every hostile request is refused with its
//! status and stable code, and leaves the whole table and every queue exactly as they were
//! (a full scan and the queue depths, before and after each one).

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use vbm_http::MAX_BODY_BYTES;
use vbm_store::{ApiKey, BusinessId, NewBusiness};
use vbm_testkit::Footprint;

use crate::common::*;

/// A request with raw bytes: a body that need not be UTF-8, headers that need not be ASCII, and
/// no source address at all when `source_ip` is `None` (a direct invoke).
fn raw(
    method: &str,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, &[u8])],
    source_ip: Option<&str>,
) -> lambda_http::Request {
    use lambda_http::RequestExt;
    use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
    use lambda_http::request::RequestContext;

    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http.method = method.parse().unwrap();
    context.http.path = Some(path.to_owned());
    context.http.source_ip = source_ip.map(str::to_owned);
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{path}"));
    for (name, value) in headers {
        builder = builder.header(
            *name,
            lambda_http::http::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    builder
        .body(lambda_http::Body::Binary(body))
        .unwrap()
        .with_request_context(RequestContext::ApiGatewayV2(context))
        .with_raw_http_path(path)
}

/// One refusal of the matrix: sends it, checks status and code, and that nothing changed.
struct Case<'a> {
    name: &'a str,
    request: lambda_http::Request,
    status: u16,
    code: &'a str,
}

impl Harness {
    async fn refused(&self, case: Case<'_>) -> Reply {
        let before: Footprint = self.env.footprint().await;
        let reply = call(&self.app, case.request).await;
        assert_eq!(
            (reply.status, reply.code()),
            (case.status, case.code),
            "{}: {}",
            case.name,
            reply.body
        );
        assert_eq!(reply.headers["content-type"], "application/json");
        assert!(reply.body["error"]["message"].is_string(), "{}", case.name);
        assert_eq!(
            self.env.footprint().await,
            before,
            "{}: a refused request changed the table or a queue",
            case.name
        );
        reply
    }

    async fn tenant(&self, id: &str, service_id: u64, cidrs: &[&str]) -> String {
        let (_, key) = self
            .store()
            .businesses()
            .create_business(&NewBusiness {
                id: BusinessId::parse(id).unwrap(),
                service_id,
                callback_url: None,
                allow_cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            })
            .await
            .unwrap();
        key.expose().to_owned()
    }
}

fn bearer(key: &str) -> Vec<u8> {
    format!("Bearer {key}").into_bytes()
}

/// Every route the router serves (`send::routes::ROUTES`, the list the OpenAPI test reads too),
/// with this business's message id and phone in it: a new route is in the matrix without anyone
/// adding it here. Authentication and the allowlist come before any body is read, so a POST
/// other than a send carries an empty object.
fn routes(message_id: &str) -> Vec<(&'static str, String, Vec<u8>)> {
    let all: Vec<_> = send::routes::ROUTES
        .iter()
        .map(|route| {
            let id = if route.path.starts_with("/v1/messages/") {
                message_id
            } else {
                // A campaign id that could exist: the refusal must come before any lookup.
                "01J0000000000000000000CAMP"
            };
            let path = route
                .path
                .replace("{phone}", "%2B447911123456")
                .replace("{id}", id);
            let body = match (route.method, route.path) {
                ("POST", "/v1/messages") => session_text(UK).to_string().into_bytes(),
                ("POST", _) => b"{}".to_vec(),
                _ => vec![],
            };
            (route.method, path, body)
        })
        .collect();
    assert!(all.len() >= 14, "the router's routes: {}", all.len());
    assert!(
        all.iter().all(|(_, path, _)| !path.contains('{')),
        "a path parameter this matrix does not fill: {all:?}"
    );
    all
}

/// A business with an open session and one accepted message on `UK`; its id.
async fn with_history(h: &Harness) -> String {
    h.open_session(UK).await;
    let sent = h.send(&session_text(UK), Some("order-1")).await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    // The footprint sees what is there: the message item, its record on the table's stream and,
    // once relayed, its job on the outbound queue.
    h.relay_stream().await;
    let footprint = h.env.footprint().await;
    let id = sent.message_id();
    assert!(
        footprint
            .items
            .iter()
            .any(|item| item.get("sk") == Some(&AttributeValue::S(format!("MSG#{id}")))),
        "{footprint:?}"
    );
    assert_eq!(footprint.queues[0], (h.env.outbound_queue_url.clone(), 1));
    id
}

#[tokio::test]
async fn keys_that_are_missing_wrong_malformed_or_revoked_are_401_on_every_route() {
    let h = Harness::new().await;
    let message_id = with_history(&h).await;
    let revoked = h.tenant("rotated", 2001, &[]).await;
    h.store()
        .businesses()
        .rotate_api_key(&BusinessId::parse("rotated").unwrap())
        .await
        .unwrap();
    let unknown = ApiKey::generate().expose().to_owned();
    let hex = h.key.trim_start_matches("vbm_").to_owned();
    let mut non_ascii = bearer(&h.key);
    non_ascii.push(0xff);
    let keys: Vec<(&str, Option<Vec<u8>>)> = vec![
        ("no key", None),
        ("empty", Some(b"".to_vec())),
        ("wrong key", Some(bearer(&unknown))),
        ("revoked key", Some(bearer(&revoked))),
        ("hex part only", Some(bearer(&hex))),
        ("one digit short", Some(bearer(&h.key[..h.key.len() - 1]))),
        (
            "upper-case prefix",
            Some(bearer(&h.key.replacen("vbm_", "VBM_", 1))),
        ),
        ("trailing junk", Some(bearer(&format!("{} x", h.key)))),
        ("non-ASCII byte", Some(non_ascii)),
        (
            "basic scheme",
            Some(format!("Basic {}", h.key).into_bytes()),
        ),
        ("no scheme", Some(h.key.clone().into_bytes())),
    ];
    for (what, auth) in &keys {
        for (method, path, body) in routes(&message_id) {
            let headers: Vec<(&str, &[u8])> = auth
                .iter()
                .map(|a| ("authorization", a.as_slice()))
                .collect();
            let name = format!("{what}: {method} {path}");
            let reply = h
                .refused(Case {
                    name: &name,
                    request: raw(method, &path, body, &headers, Some(CALLER_IP)),
                    status: 401,
                    code: "unauthorized",
                })
                .await;
            assert_eq!(reply.headers["www-authenticate"], "Bearer", "{name}");
        }
    }
    // A fresh container (no cached keys) refuses the revoked key too; the current one works.
    let cold = h.cold_app();
    let r = call(
        &cold,
        request(
            "GET",
            "/v1/templates",
            None,
            &[("authorization", &format!("Bearer {revoked}"))],
            CALLER_IP,
        ),
    )
    .await;
    r.expect_error(401, "unauthorized");
    assert_eq!(h.authed("GET", "/v1/templates", None).await.status, 200);
}

#[tokio::test]
async fn another_tenants_key_sees_nothing_of_this_tenant() {
    let h = Harness::new().await;
    let message_id = with_history(&h).await;
    let key_b = h.tenant("rival", 2002, &[]).await;
    let auth_b = bearer(&key_b);
    let as_b = |method: &str, path: &str| {
        raw(
            method,
            path,
            vec![],
            &[("authorization", auth_b.as_slice())],
            Some(CALLER_IP),
        )
    };

    // A's message through B's key: the very answer a message that never existed gets.
    let missing = "01JD0Z6Q9T3M8V4K2X7B5N1C0A";
    let theirs = h
        .refused(Case {
            name: "B reads A's message",
            request: as_b("GET", &format!("/v1/messages/{message_id}")),
            status: 404,
            code: "not_found",
        })
        .await;
    let never = h
        .refused(Case {
            name: "B reads a message nobody has",
            request: as_b("GET", &format!("/v1/messages/{missing}")),
            status: 404,
            code: "not_found",
        })
        .await;
    assert_eq!(theirs.body, never.body);

    // A's session through B's key: B's own (empty) view, as for a phone nobody wrote from.
    let before = h.env.footprint().await;
    let session_a = call(&h.app, as_b("GET", "/v1/sessions/%2B447911123456")).await;
    let session_nobody = call(&h.app, as_b("GET", "/v1/sessions/%2B447911000042")).await;
    assert_eq!((session_a.status, session_nobody.status), (200, 200));
    assert_eq!(session_a.body, session_nobody.body);
    assert_eq!(session_a.body["state"], "none");
    // B's erasure of A's user and B's template list touch and show nothing of A's.
    let erased = call(&h.app, as_b("DELETE", "/v1/contacts/%2B447911123456")).await;
    assert_eq!(erased.status, 204);
    let templates = call(&h.app, as_b("GET", "/v1/templates")).await;
    assert_eq!(templates.body, json!({"templates": []}));
    assert_eq!(h.env.footprint().await, before, "B changed A's data");
    assert_eq!(h.session(UK).await["messages_sent"], 1);

    // A's Idempotency-Key and body under B's key are B's own request, never A's answer.
    h.drain_queue().await;
    let replay = send_with(&h.app, &key_b, &session_text(UK), Some("order-1")).await;
    replay.expect_error(409, "no_session");
    let mine = h.send(&session_text(UK), Some("order-1")).await;
    assert_eq!((mine.status, mine.message_id()), (202, message_id));
}

#[tokio::test]
async fn source_addresses_outside_the_allowlist_are_403_on_every_route() {
    let h = Harness::new().await;
    let message_id = with_history(&h).await;
    let key = h
        .tenant("locked-down", 2003, &["10.0.0.0/8", "2001:db8::/32"])
        .await;
    let auth = bearer(&key);
    for ip in [
        Some("203.0.113.9"),
        Some("11.0.0.1"),
        Some("2001:db9::1"),
        None,
    ] {
        for (method, path, body) in routes(&message_id) {
            let name = format!("{ip:?}: {method} {path}");
            h.refused(Case {
                name: &name,
                request: raw(
                    method,
                    &path,
                    body,
                    &[("authorization", auth.as_slice())],
                    ip,
                ),
                status: 403,
                code: "ip_not_allowed",
            })
            .await;
        }
    }
    let inside = call(
        &h.app,
        raw(
            "GET",
            "/v1/templates",
            vec![],
            &[("authorization", auth.as_slice())],
            Some("10.1.2.3"),
        ),
    )
    .await;
    assert_eq!(inside.status, 200, "{}", inside.body);
}

/// Nested arrays (or objects) `depth` deep.
fn nested(open: &str, close: &str, depth: usize) -> String {
    format!("{}{}", open.repeat(depth), close.repeat(depth))
}

fn send_body(extra: &str) -> Vec<u8> {
    format!(r#"{{"to":"{UK}","type":"session","text":"hi"{extra}}}"#).into_bytes()
}

/// Extra request headers, as raw bytes.
type Headers<'a> = &'a [(&'a str, &'a [u8])];

/// A session send whose text is these raw bytes.
fn with_text(text: &[u8]) -> Vec<u8> {
    [
        format!(r#"{{"to":"{UK}","type":"session","text":""#).as_bytes(),
        text,
        br#""}"#,
    ]
    .concat()
}

#[tokio::test]
async fn hostile_bodies_are_refused_and_store_nothing() {
    let h = Harness::new().await;
    h.open_session(UK).await;
    let auth = bearer(&h.key);
    let post = |body: Vec<u8>, extra: &[(&str, &[u8])]| {
        let mut headers = vec![("authorization", auth.as_slice())];
        headers.extend_from_slice(extra);
        raw("POST", "/v1/messages", body, &headers, Some(CALLER_IP))
    };
    // A valid send padded with spaces to exactly `len` bytes.
    let padded = |len: usize| {
        let mut body = send_body("");
        body.resize(len, b' ');
        body
    };
    let over = padded(MAX_BODY_BYTES + 1);
    let cases: Vec<(&str, Vec<u8>, Headers, u16, &str)> = vec![
        // Size: one byte over, whatever Content-Length claims.
        (
            "one byte over 64 KiB",
            over.clone(),
            &[],
            413,
            "payload_too_large",
        ),
        (
            "over, Content-Length says 10",
            over.clone(),
            &[("content-length", b"10")],
            413,
            "payload_too_large",
        ),
        (
            "over, Content-Length says 0",
            over,
            &[("content-length", b"0")],
            413,
            "payload_too_large",
        ),
        (
            "1 MiB",
            vec![b'['; 1024 * 1024],
            &[],
            413,
            "payload_too_large",
        ),
        // Duplicate keys: another reader could take the first one.
        (
            "duplicate top-level key",
            send_body(r#","text":"pay me""#),
            &[],
            400,
            "invalid_json",
        ),
        (
            "duplicate key in a nested object",
            format!(
                r#"{{"to":"{UK}","type":"template","template":{{"id":"welcome","params":{{"name":"Ann","name":"Bob"}}}}}}"#
            )
            .into_bytes(),
            &[],
            400,
            "invalid_json",
        ),
        (
            "duplicate key spelt with an escape",
            send_body(r#","\u0074ext":"pay me""#),
            &[],
            400,
            "invalid_json",
        ),
        // Depth: refused by the parser's nesting limit, without exhausting the stack.
        (
            "30k nested arrays",
            nested("[", "]", 30_000).into_bytes(),
            &[],
            400,
            "invalid_json",
        ),
        (
            "10k nested objects",
            nested(r#"{"a":"#, "}", 10_000).into_bytes(),
            &[],
            400,
            "invalid_json",
        ),
        (
            "10k nested arrays in a field",
            send_body(&format!(r#","tracking_data":{}"#, nested("[", "]", 10_000))),
            &[],
            400,
            "invalid_json",
        ),
        (
            "unclosed 60k arrays",
            vec![b'['; 60_000],
            &[],
            400,
            "invalid_json",
        ),
        (
            "100 nested arrays in a field",
            send_body(&format!(r#","tracking_data":{}"#, nested("[", "]", 100))),
            &[],
            422,
            "validation_failed",
        ),
        // Encoding.
        (
            "invalid UTF-8 in a string",
            with_text(b"h\xff"),
            &[],
            400,
            "invalid_json",
        ),
        (
            "overlong UTF-8",
            with_text(b"\xc0\xaf"),
            &[],
            400,
            "invalid_json",
        ),
        (
            "lone surrogate escape",
            with_text(br"\ud800"),
            &[],
            400,
            "invalid_json",
        ),
        (
            "UTF-16 body",
            "{\"to\":1}"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect(),
            &[],
            400,
            "invalid_json",
        ),
        (
            "binary garbage",
            vec![0x00, 0x9f, 0x92, 0x96, 0xff],
            &[],
            400,
            "invalid_json",
        ),
        (
            "invalid UTF-8 Idempotency-Key",
            send_body(""),
            &[("idempotency-key", b"k\xff")],
            422,
            "validation_failed",
        ),
        // Numbers: beyond f64 the parser gives up (`invalid_json`, "number out of range");
        // anything it can read but the field cannot hold is the field's 422.
        (
            "ttl 1e400",
            send_body(r#","ttl_seconds":1e400"#),
            &[],
            400,
            "invalid_json",
        ),
        (
            "ttl 2^64",
            send_body(r#","ttl_seconds":18446744073709551616"#),
            &[],
            422,
            "validation_failed",
        ),
        (
            "ttl 2^32",
            send_body(r#","ttl_seconds":4294967296"#),
            &[],
            422,
            "validation_failed",
        ),
        (
            "ttl -2^63-1",
            send_body(r#","ttl_seconds":-9223372036854775809"#),
            &[],
            422,
            "validation_failed",
        ),
        (
            "ttl 1e300",
            send_body(r#","ttl_seconds":1e300"#),
            &[],
            422,
            "validation_failed",
        ),
        (
            "ttl 86400.5",
            send_body(r#","ttl_seconds":86400.5"#),
            &[],
            422,
            "validation_failed",
        ),
        (
            "a number of 20k digits",
            send_body(&format!(r#","ttl_seconds":{}"#, "9".repeat(20_000))),
            &[],
            400,
            "invalid_json",
        ),
        (
            "phone as 2^64",
            br#"{"to":18446744073709551616,"type":"session","text":"hi"}"#.to_vec(),
            &[],
            422,
            "validation_failed",
        ),
    ];
    for (name, body, headers, status, code) in cases {
        let reply = h
            .refused(Case {
                name,
                request: post(body, headers),
                status,
                code,
            })
            .await;
        if code == "validation_failed" && name.starts_with("ttl") {
            assert_eq!(reply.body["error"]["field"], "ttl_seconds", "{name}");
        }
    }
}

#[tokio::test]
async fn hostile_urls_and_paths_are_refused() {
    let h = Harness::new().await;
    h.open_session(UK).await;
    let auth = bearer(&h.key);
    let as_a = |method: &str, path: &str, body: Value| {
        let body = if body.is_null() {
            vec![]
        } else {
            body.to_string().into_bytes()
        };
        raw(
            method,
            path,
            body,
            &[("authorization", auth.as_slice())],
            Some(CALLER_IP),
        )
    };
    // URLs Viber would be handed: https only, no credentials, no CR/LF or spaces.
    for url in [
        "http://example.com/a",
        "https://example.com/\r\nX-Injected: 1",
        "https://example.com/a b",
        "https://user:pw@example.com/",
        "javascript:alert(1)",
        "https:///nohost",
    ] {
        for body in [
            json!({"to": UK, "type": "transactional", "text": "t", "url": url}),
            json!({"to": UK, "type": "promotional", "text": "t", "image_url": url}),
            json!({"to": UK, "type": "promotional", "text": "t",
                   "button": {"caption": "Go", "url": url}}),
        ] {
            let name = format!("{url:?} in {body}");
            h.refused(Case {
                name: &name,
                request: as_a("POST", "/v1/messages", body),
                status: 422,
                code: "validation_failed",
            })
            .await;
        }
    }
    // Ids and phones in paths: malformed, overlong, encoded traversal and NULs.
    for (path, status, code) in [
        ("/v1/messages/18446744073709551616", 404, "not_found"),
        ("/v1/messages/..%2F..%2Fv1%2Ftemplates", 404, "not_found"),
        ("/v1/messages/%00", 404, "not_found"),
        ("/v1/sessions/%2B447911123456%00", 422, "invalid_phone"),
        ("/v1/sessions/%FF", 422, "invalid_phone"),
        ("/v1/sessions/%2B4479111234567890123", 422, "invalid_phone"),
    ] {
        h.refused(Case {
            name: path,
            request: as_a("GET", path, Value::Null),
            status,
            code,
        })
        .await;
    }
    h.refused(Case {
        name: "erase with a NUL in the phone",
        request: as_a("DELETE", "/v1/contacts/%2B447911123456%00", Value::Null),
        status: 422,
        code: "invalid_phone",
    })
    .await;
}
