//! `openapi.yaml` says exactly what the code does: the routes the router serves, every error
//! code and its status, every field of a send request, every field of each answer.

use std::collections::{BTreeMap, BTreeSet};

use send::routes::ROUTES;
use send::views::{
    FailoverView, FailureView, MessageView, SendAccepted, SessionView, StatusEntry, TemplateView,
};
use serde_json::{Value, json};
use session_rules::{
    Conversation, Language, Limits, MessageStatus, Refusal, SendRequest, SendRequestBody,
    StatusTrack, Template, TemplateCategory, TemplateId, Timestamp,
};
use vbm_http::ApiError;

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml");
    let text = std::fs::read_to_string(path).expect("openapi.yaml at the repository root");
    serde_norway::from_str(&text).expect("openapi.yaml is YAML")
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "schema {name} missing");
    s
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

fn property_names(schema: &Value) -> BTreeSet<String> {
    schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("no properties: {schema}"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn it_is_openapi_3_1() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    assert!(doc["security"][0]["bearerAuth"].is_array());
}

#[test]
fn paths_are_the_routes_the_router_serves() {
    let doc = document();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete", "head", "options"]
                .contains(&method.as_str())
            {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, served);
}

#[test]
fn error_codes_and_statuses_are_the_ones_the_api_produces() {
    let doc = document();
    let codes = schema(&doc, "ErrorCode");
    let documented = strings(&codes["enum"]);
    let produced: BTreeSet<String> = ApiError::ALL_CODES
        .iter()
        .map(|(c, _)| (*c).to_owned())
        .collect();
    assert_eq!(documented, produced);
    for code in Refusal::ALL_CODES {
        assert!(produced.contains(code), "refusal {code} has no HTTP status");
    }
    let statuses: BTreeMap<String, u64> = codes["x-error-statuses"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    let actual: BTreeMap<String, u64> = ApiError::ALL_CODES
        .iter()
        .map(|(c, s)| ((*c).to_owned(), u64::from(*s)))
        .collect();
    assert_eq!(statuses, actual);

    // Every status an error can have is documented on some operation (405 applies to any
    // path, so it is described once, in components).
    let mut answered = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for status in op["responses"].as_object().unwrap().keys() {
                answered.insert(status.parse::<u64>().unwrap());
            }
        }
    }
    for (code, status) in &actual {
        assert!(
            *status == 405 || answered.contains(status),
            "{code} ({status}) is on no operation"
        );
    }
    assert!(doc["components"]["responses"]["MethodNotAllowed"].is_object());
}

#[test]
fn every_answer_documents_the_request_id_and_the_gateways_own_answers() {
    let doc = document();
    let error = &schema(&doc, "Error")["properties"]["error"]["properties"];
    assert!(error["request_id"].is_object(), "Error.error.request_id");
    let responses = &doc["components"]["responses"];
    let resolve = |r: &serde_json::Value| -> serde_json::Value {
        match r["$ref"].as_str() {
            Some(path) => {
                let name = path.rsplit('/').next().unwrap();
                responses[name].clone()
            }
            None => r.clone(),
        }
    };
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let answers = op["responses"].as_object().unwrap();
            for (status, r) in answers {
                let r = resolve(r);
                if status == "429" {
                    // API Gateway's own throttling answer, and where the API itself limits a
                    // business (`rate_limited`, `too_many_uploads`) also its error envelope.
                    let schema = &r["content"]["application/json"]["schema"];
                    let gateway = json!({"$ref": "#/components/schemas/GatewayError"});
                    let either = json!({"oneOf": [
                        {"$ref": "#/components/schemas/Error"},
                        {"$ref": "#/components/schemas/GatewayError"}
                    ]});
                    assert!(
                        *schema == gateway
                            || (*schema == either
                                && r["headers"]["X-Request-Id"].is_object()
                                && r["headers"]["Retry-After"].is_object()),
                        "{method} {path} 429: {schema}"
                    );
                } else {
                    assert!(
                        r["headers"]["X-Request-Id"].is_object(),
                        "{method} {path} {status} has no X-Request-Id"
                    );
                }
            }
            assert!(answers.contains_key("429"), "{method} {path}: no 429");
        }
    }
    for name in ["MethodNotAllowed", "GatewayFailure"] {
        assert!(responses[name].is_object(), "{name}");
    }
    assert!(responses["MethodNotAllowed"]["headers"]["X-Request-Id"].is_object());
}

/// The fields a `deny_unknown_fields` struct accepts, from serde's own error message.
fn accepted_fields(json: &str) -> BTreeSet<String> {
    let err = serde_json::from_str::<SendRequestBody>(json)
        .unwrap_err()
        .to_string();
    let expected = err
        .split("expected ")
        .nth(1)
        .unwrap_or_else(|| panic!("no field list in {err:?}"));
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The schema a `$ref` names (or the schema itself when it is not a reference).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => schema(
            doc,
            r.strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("not a schema reference: {r}")),
        ),
        None => v,
    }
}

/// A union's members by message type: its `discriminator` on `type` names each member, the
/// `oneOf` lists exactly those, and each member's `type` is the constant it is named by.
fn members<'a>(doc: &'a Value, name: &str) -> BTreeMap<String, &'a Value> {
    let union = schema(doc, name);
    let discriminator = &union["discriminator"];
    assert_eq!(discriminator["propertyName"], "type", "{name}");
    let mapping = discriminator["mapping"]
        .as_object()
        .unwrap_or_else(|| panic!("{name}: no discriminator mapping"));
    let listed: BTreeSet<&str> = union["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["$ref"].as_str().expect("a member is a reference"))
        .collect();
    let mapped: BTreeSet<&str> = mapping.values().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(listed, mapped, "{name}: oneOf and mapping");
    mapping
        .iter()
        .map(|(kind, r)| {
            let member = schema(
                doc,
                r.as_str()
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                    .unwrap_or_else(|| panic!("{name}: {r} is not a schema reference")),
            );
            assert_eq!(
                member["properties"]["type"]["const"], *kind,
                "{name}: {kind}"
            );
            assert_eq!(member["additionalProperties"], false, "{name}: {kind}");
            (kind.clone(), member)
        })
        .collect()
}

#[test]
fn the_request_schema_has_every_field_of_the_wire_type() {
    let doc = document();
    let sends = members(&doc, "SendMessageRequest");
    assert_eq!(
        sends.keys().cloned().collect::<BTreeSet<_>>(),
        [
            "session",
            "transactional",
            "promotional",
            "template",
            "list",
            "carousel"
        ]
        .map(String::from)
        .into()
    );
    // `failover` (the SMS failover) and `wait_for_session` (waiting for the user's reply)
    // are taken out before the message is parsed.
    let mut fields = accepted_fields(r#"{"__probe": 1}"#);
    fields.insert("failover".into());
    fields.insert(send::routes::held::WAIT_FOR_SESSION.into());
    let documented: BTreeSet<String> = sends.values().flat_map(|m| property_names(m)).collect();
    assert_eq!(documented, fields);
    let base = r#""to": "+380501234567", "type": "session""#;
    for nested in ["file", "button", "template", "video", "list", "carousel"] {
        let probe = format!(r#"{{{base}, "{nested}": {{"__probe": 1}}}}"#);
        let mut schemas = sends
            .values()
            .filter_map(|m| m["properties"].get(nested))
            .map(|s| resolve(&doc, s));
        let schema = schemas.next().unwrap_or_else(|| panic!("no {nested}"));
        assert!(schemas.all(|s| s == schema), "{nested}: one schema");
        assert_eq!(schema["additionalProperties"], false, "{nested}");
        assert_eq!(property_names(schema), accepted_fields(&probe), "{nested}");
    }
    for (kind, member) in &sends {
        for field in ["to", "ttl_seconds", "tracking_data", "failover", "service"] {
            assert!(member["properties"][field].is_object(), "{kind}: {field}");
        }
        let required = strings(&member["required"]);
        assert!(
            required.contains("to") && required.contains("type"),
            "{kind}"
        );
    }
    let ttl = schema(&doc, "TtlSeconds");
    let limits = Limits::default();
    assert_eq!(ttl["minimum"], limits.min_ttl.as_secs());
    assert_eq!(ttl["maximum"], limits.max_ttl.as_secs());
}

/// Each message type's schema lists exactly the content fields its parser takes: any other is
/// refused as not belonging to the type, and none of its own is.
#[test]
fn each_message_type_has_the_fields_its_parser_takes() {
    let doc = document();
    let samples = serde_json::json!({
        "text": "Hi",
        "url": "https://example.com/order",
        "image_url": "https://example.com/a.png",
        "file": {"url": "https://example.com/a.pdf", "name": "a.pdf"},
        "button": {"caption": "Shop", "url": "https://example.com/shop"},
        "video": {"url": "https://example.com/a.mp4", "size_bytes": 1000, "duration_seconds": 10},
        "template": {"id": "welcome", "params": {"name": "Ann"}},
        "list": {"title": "Pick one", "options": ["Yes", "No"]},
        "carousel": {"text": "New in", "cards": [
            {"title": "Shoes", "image_url": "https://example.com/s.png",
             "primary_button": {"caption": "Buy", "url": "https://example.com/s"}},
            {"title": "Hats", "image_url": "https://example.com/h.png",
             "primary_button": {"caption": "Buy", "url": "https://example.com/h"}}]},
    });
    let limits = Limits::default();
    for (kind, member) in members(&doc, "SendMessageRequest") {
        let own = property_names(member);
        for (field, value) in samples.as_object().unwrap() {
            let body = serde_json::json!({"to": "+380501234567", "type": kind, field: value});
            let body: SendRequestBody = serde_json::from_value(body).unwrap();
            let refused_as_foreign = match SendRequest::parse(&body, &limits) {
                Err(Refusal::ValidationFailed { field: f, reason }) => {
                    f == *field && reason.starts_with("not allowed")
                }
                _ => false,
            };
            assert_eq!(
                !refused_as_foreign,
                own.contains(field),
                "{kind}: `{field}` (the schema and the parser disagree)"
            );
        }
    }
}

/// A schema lists exactly the members the view serializes, all of them required.
fn assert_matches(doc: &Value, name: &str, value: &impl serde::Serialize) {
    let json = serde_json::to_value(value).unwrap();
    let members: BTreeSet<String> = json.as_object().unwrap().keys().cloned().collect();
    let schema = schema(doc, name);
    assert_eq!(property_names(schema), members, "{name} properties");
    assert_eq!(strings(&schema["required"]), members, "{name} required");
}

#[test]
fn the_campaign_schema_matches_its_view() {
    // Campaigns.
    let doc = document();
    let c = vbm_store::Campaign {
        id: vbm_store::CampaignId::generate(),
        business: vbm_store::BusinessId::parse("acme").unwrap(),
        name: None,
        state: session_rules::campaign::CampaignState::Running,
        message: "{}".into(),
        recipients: 3,
        chunks: 1,
        chunks_done: 0,
        counts: BTreeMap::from([
            ("queued".to_owned(), 1),
            ("refused_recipient_opted_out".to_owned(), 1),
            ("billing_transactional_template".to_owned(), 1),
        ]),
        statuses: BTreeMap::from([
            ("seen".to_owned(), 1),
            ("failed_SRVC_NOT_VIBER_USER".to_owned(), 1),
        ]),
        created_at: Timestamp::from_millis(0),
        send_at: None,
        started_at: None,
        finished_at: None,
        window: None,
        upload: None,
    };
    let view = vbm_outbound::CampaignView::from(&c);
    assert_matches(&doc, "Campaign", &view);
    let states = strings(&schema(&doc, "Campaign")["properties"]["state"]["enum"]);
    let all = [
        session_rules::campaign::CampaignState::Preparing,
        session_rules::campaign::CampaignState::Rejected,
        session_rules::campaign::CampaignState::Scheduled,
        session_rules::campaign::CampaignState::Running,
        session_rules::campaign::CampaignState::Paused,
        session_rules::campaign::CampaignState::Completed,
        session_rules::campaign::CampaignState::Cancelled,
    ];
    assert_eq!(
        states,
        all.iter()
            .map(|s| s.as_str().to_owned())
            .collect::<BTreeSet<_>>()
    );
    // An uploaded list's slot.
    assert_matches(
        &doc,
        "UploadSlot",
        &send::views::UploadView {
            upload_id: "01JD0Z6Q9T3M8V4K2X7B5N1C0A".into(),
            url: "https://b.s3.us-east-1.amazonaws.com/uploads/acme/01JD0Z6Q9T3M8V4K2X7B5N1C0A"
                .into(),
            method: "PUT",
            headers: BTreeMap::new(),
            expires_at: Timestamp::from_millis(0),
            max_bytes: vbm_uploads::MAX_BYTES,
        },
    );
    let counts = serde_json::to_value(&view.counts).unwrap();
    assert_eq!(counts["pending"], 1);
    assert_eq!(counts["refused"]["recipient_opted_out"], 1);
    assert_eq!(counts["seen"], 1);
    assert_eq!(counts["delivered"], 0);
    assert_eq!(counts["failed"]["SRVC_NOT_VIBER_USER"], 1);
    assert_eq!(counts["billing"]["transactional_template"], 1);
    let members: BTreeSet<String> = counts.as_object().unwrap().keys().cloned().collect();
    let counts_schema = &schema(&doc, "Campaign")["properties"]["counts"];
    assert_eq!(property_names(counts_schema), members, "counts properties");
    assert_eq!(
        strings(&counts_schema["required"]),
        members,
        "counts required"
    );
}

#[test]
fn answer_schemas_match_the_views() {
    let doc = document();
    let t0 = Timestamp::from_millis(1_795_786_464_123);
    let session = SessionView::from(
        Conversation::default()
            .user_message(t0, &Limits::default())
            .snapshot(t0, &Limits::default()),
    );
    assert_matches(&doc, "Session", &session);
    let states = strings(&schema(&doc, "Session")["properties"]["state"]["enum"]);
    assert_eq!(
        states,
        ["none", "active", "locked", "expired"]
            .map(String::from)
            .into()
    );
    assert_matches(
        &doc,
        "SendAccepted",
        &SendAccepted {
            message_id: "01JD0Z6Q9T3M8V4K2X7B5N1C0A".into(),
            status: "accepted",
            session,
            billing: session_rules::Billing {
                category: session_rules::BillingCategory::Session,
                billable: true,
            },
            hold: Some(send::views::HoldView::waiting(t0, true)),
        },
    );
    assert_matches(&doc, "Hold", &send::views::HoldView::waiting(t0, true));
    assert_eq!(
        strings(&schema(&doc, "Hold")["properties"]["state"]["enum"]),
        ["held", "released", "fallback", "expired", "dropped"]
            .map(String::from)
            .into()
    );
    let billing = &schema(&doc, "Billing");
    assert_matches(
        &doc,
        "Billing",
        &session_rules::Billing {
            category: session_rules::BillingCategory::Otp,
            billable: true,
        },
    );
    assert_eq!(
        strings(&billing["properties"]["category"]["enum"]),
        session_rules::BillingCategory::ALL
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect::<BTreeSet<_>>()
    );
    let track = StatusTrack::accepted(t0);
    let message = MessageView {
        message_id: "01JD0Z6Q9T3M8V4K2X7B5N1C0A".into(),
        to: "+380501234567".into(),
        kind: "session".into(),
        status: track.current.as_str(),
        status_history: vec![
            StatusEntry {
                status: "accepted",
                viber_status: None,
                at: t0,
            },
            StatusEntry {
                status: "unknown",
                viber_status: Some(17),
                at: t0,
            },
        ],
        viber_message_token: None,
        failure: Some(FailureView {
            code: Some(8),
            reason: "SRVC_USER_BLOCKED".into(),
        }),
        created_at: t0,
        failover: Some(FailoverView {
            state: "sent",
            trigger: Some("expired"),
            sms_text: "Your code is 1234".into(),
            sender_id: Some("Acme".into()),
            sms_message_id: Some("862a8790".into()),
            reason: None,
        }),
        delivered_via: Some("sms"),
        billing: None,
        hold: None,
        service_id: Some(1000),
    };
    assert_matches(&doc, "Message", &message);
    assert_matches(&doc, "Failover", message.failover.as_ref().unwrap());
    let states = strings(&schema(&doc, "Failover")["properties"]["state"]["enum"]);
    let known: BTreeSet<String> = [
        session_rules::failover::FailoverState::Claimed,
        session_rules::failover::FailoverState::Sending,
        session_rules::failover::FailoverState::Sent,
        session_rules::failover::FailoverState::Delivered,
        session_rules::failover::FailoverState::Failed,
        session_rules::failover::FailoverState::Refused,
    ]
    .iter()
    .map(|s| s.as_str().to_owned())
    .chain(["pending".to_owned()])
    .collect();
    assert_eq!(states, known);
    assert_matches(&doc, "StatusEntry", &message.status_history[0]);
    assert_matches(&doc, "StatusEntry", &message.status_history[1]);
    assert_matches(&doc, "Failure", message.failure.as_ref().unwrap());
    let statuses = strings(&schema(&doc, "MessageStatus")["enum"]);
    // `held`: a message waiting for the user's reply, before it is a message at all.
    let known: BTreeSet<String> = MessageStatus::ALL
        .iter()
        .map(|s| s.as_str().to_owned())
        .chain([session_rules::HeldState::Held.as_str().to_owned()])
        .collect();
    assert_eq!(statuses, known);
    let template = Template::parse(
        TemplateId::parse("welcome").unwrap(),
        Language::parse("en").unwrap(),
        TemplateCategory::Transactional,
        true,
        "Hello {{name}}",
    )
    .unwrap();
    assert_matches(&doc, "Template", &TemplateView::from(&template));
    let created = session_rules::TemplateDraft::parse(&session_rules::RawTemplateDraft {
        name: "Order shipped".into(),
        lang: "en".into(),
        category: "otp".into(),
        text: "Your code is {{pin}}".into(),
        reach: Some("smartphones".into()),
    })
    .unwrap()
    .into_template(TemplateId::parse("01JD0Z6Q9T3M8V4K2X7B5N1C0A").unwrap(), t0);
    assert_matches(&doc, "Template", &TemplateView::from(&created));
    assert_eq!(
        strings(&schema(&doc, "TemplateState")["enum"]),
        session_rules::TemplateState::ALL
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect::<BTreeSet<_>>()
    );
    // The request's fields are the draft's, and a template.approved event's data its schema's.
    let request = schema(&doc, "CreateTemplateRequest");
    let err = serde_json::from_str::<session_rules::RawTemplateDraft>(r#"{"__probe": 1}"#)
        .unwrap_err()
        .to_string();
    let accepted: BTreeSet<String> = err
        .split("expected ")
        .nth(1)
        .unwrap()
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert_eq!(property_names(request), accepted);
    // The name's pattern accepts exactly the names the parser takes.
    let name =
        regex::Regex::new(request["properties"]["name"]["pattern"].as_str().unwrap()).unwrap();
    for candidate in [
        "Ann",
        " Ann ",
        "Заказ 42",
        "",
        "   ",
        "\u{200B}",
        "Ann\nB",
        "a\u{85}",
    ] {
        let parsed = session_rules::TemplateDraft::parse(&session_rules::RawTemplateDraft {
            name: candidate.into(),
            lang: "en".into(),
            category: "transactional".into(),
            text: "Hi {{name}}".into(),
            reach: None,
        });
        assert_eq!(name.is_match(candidate), parsed.is_ok(), "{candidate:?}");
    }
}

/// The document's string patterns accept exactly what the parsers accept, on the edge cases
/// of the parameters rule: empty, only whitespace or invisible characters, line breaks.
#[test]
fn string_patterns_agree_with_the_parsers() {
    use session_rules::{Caption, FileName, TemplateParams, Text};
    let doc = document();
    let pattern = |v: &Value| {
        regex::Regex::new(v["pattern"].as_str().expect("a pattern")).expect("a valid regex")
    };
    let template = Template::parse(
        TemplateId::parse("t").unwrap(),
        Language::parse("en").unwrap(),
        TemplateCategory::Transactional,
        true,
        "Hi {{name}}",
    )
    .unwrap();
    type Parses<'a> = Box<dyn Fn(&str) -> bool + 'a>;
    let fields: Vec<(&str, regex::Regex, Parses)> = vec![
        (
            "template.params",
            pattern(&schema(&doc, "SendTemplate")["properties"]["params"]["additionalProperties"]),
            Box::new(|v: &str| {
                let params = BTreeMap::from([("name".to_owned(), v.to_owned())]);
                TemplateParams::fill(&template, &params).is_ok()
            }),
        ),
        (
            "text",
            pattern(schema(&doc, "MessageText")),
            Box::new(|v: &str| Text::parse("text", v).is_ok()),
        ),
        (
            "button.caption",
            pattern(&schema(&doc, "SendButton")["properties"]["caption"]),
            Box::new(|v: &str| Caption::parse("caption", v).is_ok()),
        ),
        (
            "file.name",
            pattern(&schema(&doc, "SendFile")["properties"]["name"]),
            Box::new(|v: &str| FileName::parse("name", v).is_ok()),
        ),
        (
            "list.options[]",
            pattern(schema(&doc, "InteractiveLine")),
            Box::new(|v: &str| {
                let options = [v.to_owned(), "Other option".to_owned()];
                session_rules::List::parse("Pick", &options, session_rules::ListDelivery::Session)
                    .is_ok()
            }),
        ),
    ];
    let samples = [
        "",
        " ",
        "\t",
        "\u{200B}",
        "\u{2060}\u{FEFF}",
        "\u{00AD}",
        "\u{3164}",
        "\u{00A0}",
        "Ann",
        "a\u{200B}",
        "Ann\nSmith",
        "x\r\n",
        "tab\there",
        "Київ",
        "😀",
        "O'Brien",
    ];
    for (field, regex, parses) in &fields {
        for sample in samples {
            assert_eq!(
                regex.is_match(sample),
                parses(sample),
                "{field}: openapi.yaml and the parser disagree on {sample:?}"
            );
        }
    }
    // SMS failover.
    let sms = &schema(&doc, "FailoverRequest")["properties"]["sms"]["properties"];
    let failover_fields: Vec<(&str, regex::Regex, Parses)> = vec![
        (
            "failover.sms.text",
            pattern(&sms["text"]),
            Box::new(|v: &str| session_rules::failover::check_sms_text(v).is_ok()),
        ),
        (
            "failover.sms.sender_id",
            pattern(&sms["sender_id"]),
            Box::new(|v: &str| session_rules::failover::check_sender_id(v).is_ok()),
        ),
    ];
    let ids = [
        "Acme",
        "12345",
        "A2345678901",
        "A23456789012",
        "+447700900123",
        "+1234567",
        "Ac-me",
    ];
    for (field, regex, parses) in &failover_fields {
        for sample in samples.iter().chain(ids.iter()) {
            assert_eq!(
                regex.is_match(sample),
                parses(sample),
                "{field}: openapi.yaml and the parser disagree on {sample:?}"
            );
        }
    }
    assert_eq!(
        sms["text"]["maxLength"],
        session_rules::failover::MAX_SMS_TEXT
    );
    let params = &schema(&doc, "SendTemplate")["properties"]["params"]["additionalProperties"];
    assert_eq!(params["minLength"], 1);
    assert_eq!(params["maxLength"], 125);
}

#[test]
fn the_webhooks_are_the_event_types_the_code_emits() {
    let doc = document();
    let documented: BTreeSet<String> = doc["webhooks"]
        .as_object()
        .expect("a webhooks section")
        .keys()
        .cloned()
        .collect();
    let emitted: BTreeSet<String> = vbm_events::EventKind::ALL
        .iter()
        .map(|kind| {
            // The wire name, as serde writes it, is the name documented.
            let wire = serde_json::to_value(kind).unwrap();
            assert_eq!(wire, kind.as_str(), "{kind:?}");
            kind.as_str().to_owned()
        })
        .collect();
    assert_eq!(documented, emitted);
    assert_eq!(
        strings(&schema(&doc, "EventEnvelope")["properties"]["type"]["enum"]),
        emitted
    );
    for (name, hook) in doc["webhooks"].as_object().unwrap() {
        let post = &hook["post"];
        let headers: BTreeSet<String> = post["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no parameters"))
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        let signed: BTreeSet<String> = [
            vbm_events::signature::ID_HEADER,
            vbm_events::signature::TIMESTAMP_HEADER,
            vbm_events::signature::SIGNATURE_HEADER,
        ]
        .map(str::to_owned)
        .into();
        assert_eq!(headers, signed, "{name}");
        let body = &post["requestBody"]["content"]["application/json"]["schema"]["allOf"];
        assert_eq!(
            body[1]["properties"]["type"]["const"], *name,
            "{name}: the body's type"
        );
    }
}

/// Campaigns: a campaign's message is a send request without `to` (its `failover`
/// included), never a list or a carousel (conversation content), and a session message only
/// with `wait_for_session` (required there): the two schemas stay in step, type by type.
#[test]
fn the_campaign_message_is_the_send_request_without_to_or_session() {
    let doc = document();
    let mut sends = members(&doc, "SendMessageRequest");
    for conversational in ["list", "carousel"] {
        assert!(sends.remove(conversational).is_some(), "{conversational}");
    }
    let campaign = members(&doc, "CampaignMessage");
    assert_eq!(
        campaign.keys().collect::<Vec<_>>(),
        sends.keys().collect::<Vec<_>>()
    );
    for (kind, send) in &sends {
        let message = campaign[kind];
        let mut fields = property_names(send);
        fields.remove("to");
        assert_eq!(property_names(message), fields, "{kind}");
        for field in &fields {
            assert_eq!(
                message["properties"][field], send["properties"][field],
                "{kind}: {field}"
            );
        }
        let mut required = strings(&send["required"]);
        required.remove("to");
        if kind == "session" {
            required.insert("wait_for_session".to_owned());
        }
        assert_eq!(strings(&message["required"]), required, "{kind}");
        assert_eq!(message["not"], send["not"], "{kind}: the content rules");
    }
}

/// Business events: the delivery log's answer and its filters are the code's.
#[test]
fn the_event_log_schemas_match_the_views() {
    use send::routes::events::{AttemptView, EventList, EventView};
    let doc = document();
    let attempt = AttemptView {
        at: Timestamp::from_millis(1_795_786_464_123),
        status: Some(503),
        error: None,
        latency_ms: 12,
    };
    let view = EventView {
        event_id: "evt_0123456789abcdef0123456789abcdef".into(),
        kind: "message.status".into(),
        created_at: Timestamp::from_millis(1_795_786_464_000),
        state: "pending",
        attempt_count: 1,
        attempts: vec![],
        attempts_dropped: 0,
        last_attempt: Some(attempt),
        event: serde_json::json!({}),
    };
    assert_matches(&doc, "LoggedEvent", &view);
    assert_matches(&doc, "DeliveryAttempt", view.last_attempt.as_ref().unwrap());
    assert_matches(
        &doc,
        "EventList",
        &EventList {
            events: vec![],
            next_cursor: None,
        },
    );
    let states: BTreeSet<String> = vbm_store::DeliveryState::ALL
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    assert_eq!(
        strings(&schema(&doc, "LoggedEvent")["properties"]["state"]["enum"]),
        states
    );
    let kinds: BTreeSet<String> = vbm_events::EventKind::ALL
        .iter()
        .map(|k| k.as_str().to_owned())
        .collect();
    assert_eq!(
        strings(&schema(&doc, "LoggedEvent")["properties"]["type"]["enum"]),
        kinds
    );
    let params = doc["paths"]["/v1/events"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let type_param = params.iter().find(|p| p["name"] == "type").unwrap();
    assert_eq!(strings(&type_param["schema"]["enum"]), kinds);
    let state_param = params.iter().find(|p| p["name"] == "state").unwrap();
    assert_eq!(strings(&state_param["schema"]["enum"]), states);
}

#[test]
fn the_dry_run_schemas_match_their_answers() {
    use send::routes::dry_run::{CampaignDryRun, CampaignDryRunOutcomes, SendDryRun, refusal};
    let doc = document();
    let t0 = Timestamp::from_millis(1_795_786_464_123);
    let session = SessionView::from(
        Conversation::default()
            .user_message(t0, &Limits::default())
            .snapshot(t0, &Limits::default()),
    );
    let locked = ApiError::from(Refusal::SessionLocked);
    assert_matches(
        &doc,
        "SendDryRun",
        &SendDryRun {
            dry_run: true,
            result: "refused",
            refusal: Some(refusal(&locked)),
            message_id: None,
            viber_type: Some(306),
            billing: None,
            session_before: Some(session.clone()),
            session_after: Some(session.clone()),
            estimated_price: None,
            hold: None,
        },
    );
    // A `wait_for_session` send no session admits now: held, with its deadline.
    assert_matches(
        &doc,
        "SendDryRun",
        &SendDryRun {
            dry_run: true,
            result: "held",
            refusal: None,
            message_id: None,
            viber_type: Some(306),
            billing: Some(session_rules::Billing::of_send(
                session_rules::BillingCategory::Session,
                &Conversation::default(),
            )),
            session_before: Some(session.clone()),
            session_after: Some(session),
            estimated_price: None,
            hold: Some(send::views::HoldView::waiting(t0, false)),
        },
    );
    let results = strings(&schema(&doc, "SendDryRun")["properties"]["result"]["enum"]);
    assert_eq!(
        results,
        ["accepted", "held", "replayed", "refused"]
            .map(String::from)
            .into()
    );
    // The refusal is the error object with its status: its required members are there.
    let shown = refusal(&locked);
    for member in strings(&schema(&doc, "DryRunRefusal")["required"]) {
        assert!(
            shown.get(&member).is_some(),
            "{member} missing from {shown}"
        );
    }
    assert_eq!(shown["status"], 409);
    let outcomes = CampaignDryRunOutcomes::default();
    assert_matches(&doc, "CampaignDryRunOutcomes", &outcomes);
    assert_matches(
        &doc,
        "CampaignDryRun",
        &CampaignDryRun {
            dry_run: true,
            result: "accepted",
            refusal: None,
            recipients: Some(0),
            outcomes: Some(outcomes),
        },
    );
    // Both operations take the switch.
    for path in ["/v1/messages", "/v1/campaigns"] {
        let parameters = doc["paths"][path]["post"]["parameters"].as_array().unwrap();
        assert!(
            parameters.contains(&json!({"$ref": "#/components/parameters/DryRun"})),
            "{path}"
        );
        assert!(
            doc["paths"][path]["post"]["responses"]["200"].is_object(),
            "{path}"
        );
    }
    assert_eq!(
        doc["components"]["parameters"]["DryRun"]["name"],
        send::routes::dry_run::PARAM
    );
}

#[test]
fn the_usage_schemas_match_the_report() {
    use send::routes::usage::{Cost, PeriodUsage, UsageFigures, UsageReport};
    let doc = document();
    let country_usage = session_rules::usage::CountryUsage {
        billable: BTreeMap::from([(session_rules::BillingCategory::Session, 1)]),
        sms_parts: 2,
    };
    assert_matches(&doc, "CountryUsage", &country_usage);
    let figures = || UsageFigures {
        usage: session_rules::usage::Usage {
            accepted: BTreeMap::from([(session_rules::BillingCategory::Session, 2)]),
            billable: BTreeMap::from([(session_rules::BillingCategory::Session, 1)]),
            statuses: BTreeMap::from([("delivered".to_owned(), 1)]),
            sessions_opened: 1,
            sms_failovers: 0,
            sms_parts: 0,
            campaign_recipients: 0,
            by_country: BTreeMap::from([(
                session_rules::Country::parse("DE").unwrap(),
                country_usage.clone(),
            )]),
        },
        estimated_cost: Some(Cost {
            amount: "0.01".into(),
            amount_micros: 10_000,
            currency: "EUR".into(),
        }),
    };
    assert_matches(&doc, "UsageFigures", &figures());
    assert_matches(
        &doc,
        "Cost",
        &Cost {
            amount: "0.01".into(),
            amount_micros: 10_000,
            currency: "EUR".into(),
        },
    );
    let period = PeriodUsage {
        period: "2026-12-07".into(),
        figures: figures(),
    };
    assert_matches(&doc, "PeriodUsage", &period);
    assert_matches(
        &doc,
        "UsageReport",
        &UsageReport {
            from: "2026-12-07".into(),
            to: "2026-12-07".into(),
            granularity: session_rules::usage::Granularity::Day,
            periods: vec![period],
            total: figures(),
        },
    );
}
