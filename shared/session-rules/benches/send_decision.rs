//! The cost of the pure part of a send: parsing and validating the request body, and the session
//! decision itself.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use session_rules::{Conversation, Limits, SendClass, SendRequest, SendRequestBody, Timestamp};

fn send_decision(c: &mut Criterion) {
    let limits = Limits::default();
    let now = Timestamp::from_millis(1_700_000_000_000);
    let open = Conversation::default().user_message(now, &limits);
    c.bench_function("decide_send (session, open session)", |b| {
        b.iter(|| black_box(&open).decide_send(black_box(SendClass::Session), now, &limits))
    });

    let body: SendRequestBody = serde_json::from_str(
        r#"{"to":"+447911123456","type":"promotional","text":"Spring sale: 20% off everything","image_url":"https://example.com/sale.png","button":{"caption":"Shop now","url":"https://example.com/shop"},"ttl_seconds":3600}"#,
    )
    .expect("valid body");
    c.bench_function("parse + validate a send request (JSON to SendRequest)", |b| {
        b.iter(|| {
            let raw = r#"{"to":"+447911123456","type":"promotional","text":"Spring sale: 20% off everything","image_url":"https://example.com/sale.png","button":{"caption":"Shop now","url":"https://example.com/shop"},"ttl_seconds":3600}"#;
            let body: SendRequestBody = serde_json::from_str(black_box(raw)).expect("valid");
            SendRequest::parse(&body, &limits)
        })
    });
    c.bench_function("validate a parsed body (SendRequest::parse)", |b| {
        b.iter(|| SendRequest::parse(black_box(&body), &limits))
    });
}

criterion_group!(benches, send_decision);
criterion_main!(benches);
