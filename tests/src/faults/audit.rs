//! After the burst: wait until nothing moves any more, then account for every send, every
//! delivery to Viber, every counter and every business event, from the outside (the API, the
//! sandbox, the sink) and from the table and the dead-letter queues.
//!
//! The expectations are built from what the business and the users did (the traffic log) and
//! from literal rules of the design, never from the code under test: a status event is expected
//! for every forward move in a message's history (`accepted < sent < {failed, expired} <
//! delivered < seen`), a user message event for every user message `inbound` took, an opt-out
//! event for every send Viber refused with 8.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use reqwest::StatusCode;
use serde_json::Value;

use super::Figures;
use super::traffic::{Kind, Log};
use crate::Stack;

/// Polls in a row with nothing queued, in flight or pending before the run counts as settled.
const QUIET_POLLS: u32 = 3;

/// The status order as README.md states it, written out here rather than taken from the code.
pub fn rank(status: &str) -> Option<u8> {
    match status {
        "accepted" => Some(0),
        "sent" => Some(1),
        "failed" | "expired" => Some(2),
        "delivered" => Some(3),
        "seen" => Some(4),
        _ => None,
    }
}

/// Waits until the queues are empty (nothing visible, in flight or delayed), the sandbox has no
/// callback pending and the emulator is up, `QUIET_POLLS` times in a row, or `within` passes
/// (then the audit shows what did not settle).
pub async fn settle(stack: &Stack, within: Duration) {
    let start = Instant::now();
    let sqs = stack.env.sqs().await;
    let queues = [&stack.env.outbound_queue_url, &stack.env.events_queue_url];
    let mut quiet = 0;
    while quiet < QUIET_POLLS {
        if start.elapsed() > within {
            eprintln!("faults: not settled after {within:?}; auditing as it stands");
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut busy = 0;
        for url in queues {
            busy += queue_depth(&sqs, url).await;
        }
        let stats = stack.get("/_sandbox/viber/stats").await.body;
        busy += stats["callbacks_pending"].as_u64().unwrap_or(1);
        if stack.get("/_dev/emulator").await.body["down"] != false {
            busy += 1;
        }
        quiet = if busy == 0 { quiet + 1 } else { 0 };
    }
}

async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let Ok(out) = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
    else {
        return 1;
    };
    out.attributes()
        .map(|a| a.values().filter_map(|v| v.parse::<u64>().ok()).sum())
        .unwrap_or(1)
}

/// A message whose session slot stays used: a session message not failed, or failed with 21
/// (Viber's "wait for the user"), the only refusal that keeps the slot.
fn holds_a_slot(message: &Value) -> bool {
    message["type"] == "session" && keeps_its_slot(message)
}

/// A send Viber refused gives its session slot back, except on 21.
fn keeps_its_slot(message: &Value) -> bool {
    message["status"] != "failed" || message["failure"]["code"] == 21
}

/// Messages visible, and in flight or delayed, on a queue (`u64::MAX` each if unknown).
async fn queue_split(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    let Ok(out) = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
    else {
        return (u64::MAX, u64::MAX);
    };
    let get = |name: QueueAttributeName| {
        out.attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    (
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .saturating_add(get(QueueAttributeName::ApproximateNumberOfMessagesDelayed)),
    )
}

/// Every `fx{round}y{user}z{n}q` marker in `text`, in order.
pub fn markers(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while let Some(at) = text[i..].find("fx").map(|p| p + i) {
        let mut j = at + 2;
        let mut ok = true;
        for sep in [b'y', b'z', b'q'] {
            let digits = bytes[j..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 || bytes.get(j + digits) != Some(&sep) {
                ok = false;
                break;
            }
            j += digits + 1;
        }
        if ok {
            found.push(text[at..j].to_owned());
            i = j;
        } else {
            i = at + 2;
        }
    }
    found
}

/// Receives (and deletes) everything in a dead-letter queue; the bodies as JSON.
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let mut bodies = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let Ok(out) = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .send()
            .await
        else {
            empty += 1;
            continue;
        };
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            empty += 1;
        }
        for m in messages {
            if let Some(body) = m.body.as_deref() {
                bodies.push(serde_json::from_str(body).unwrap_or(Value::Null));
            }
            if let Some(handle) = m.receipt_handle.as_deref() {
                let _ = sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .send()
                    .await;
            }
        }
    }
    bodies
}

/// The ids of every message record of the demo business in the table.
async fn message_records(stack: &Stack) -> HashSet<String> {
    let db = stack.env.dynamodb().await;
    let mut ids = HashSet::new();
    let mut start = None;
    loop {
        let out = db
            .scan()
            .table_name(&stack.env.table)
            .filter_expression("pk = :pk AND begins_with(sk, :msg)")
            .expression_attribute_values(":pk", AttributeValue::S("BIZ#demo".into()))
            .expression_attribute_values(":msg", AttributeValue::S("MSG#".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("the emulator answers a scan");
        for item in out.items() {
            if let Some(AttributeValue::S(sk)) = item.get("sk") {
                ids.insert(sk.trim_start_matches("MSG#").to_owned());
            }
        }
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return ids,
        }
    }
}

/// The tokens whose `TOKEN` item still holds a status `status` kept before the token was
/// recorded: once everything has settled, each is a callback nothing applied.
async fn tokens_with_kept_statuses(stack: &Stack) -> Vec<String> {
    let db = stack.env.dynamodb().await;
    let mut tokens = Vec::new();
    let mut start = None;
    loop {
        let out = db
            .scan()
            .table_name(&stack.env.table)
            .filter_expression(
                "begins_with(pk, :token) AND (attribute_exists(pending_delivered) \
                 OR attribute_exists(pending_seen) OR attribute_exists(pending_expired))",
            )
            .expression_attribute_values(":token", AttributeValue::S("TOKEN#".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("the emulator answers a scan");
        for item in out.items() {
            if let Some(AttributeValue::S(pk)) = item.get("pk") {
                tokens.push(pk.trim_start_matches("TOKEN#").to_owned());
            }
        }
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return tokens,
        }
    }
}

/// What identifies an event, whatever its id: its type and what it is about.
fn event_key(event: &Value) -> String {
    let data = &event["data"];
    let text = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    match event["type"].as_str().unwrap_or("?") {
        "message.status" => format!(
            "message.status {} {}",
            text(&data["message_id"]),
            text(&data["status"])
        ),
        "message.inbound" => format!("message.inbound {}", text(&data["message_token"])),
        "contact.opted_out" => format!("contact.opted_out {}", text(&data["message_id"])),
        other => format!("{other} {data}"),
    }
}

pub async fn audit(stack: &Stack, log: &Log) -> Figures {
    let mut f = Figures {
        sends_tried: log.sends.len() as u64,
        outages: u64::from(log.outages),
        ..Figures::default()
    };

    // The business's view of its sends.
    let mut accepted = HashMap::new();
    for send in &log.sends {
        f.http_requests += u64::from(send.attempts);
        f.unavailable_answers += u64::from(send.unavailable);
        match (send.status, &send.message_id) {
            (StatusCode::ACCEPTED, Some(id)) => {
                accepted.insert(id.clone(), send);
            }
            (StatusCode::SERVICE_UNAVAILABLE, _) => f.ended_unavailable += 1,
            (status, _) => {
                *f.refused
                    .entry(format!("{} {}", status.as_u16(), send.code))
                    .or_default() += 1;
            }
        }
    }
    f.accepted = accepted.len() as u64;

    let sqs = stack.env.sqs().await;
    let dead_jobs = drain(&sqs, &stack.env.outbound_dlq_url).await;
    let dead_ids: HashSet<String> = dead_jobs
        .iter()
        .filter_map(|job| job["message_id"].as_str().map(str::to_owned))
        .collect();
    let dead_events = drain(&sqs, &stack.env.events_dlq_url).await;

    // Where each accepted message ended, and which events that implies.
    let mut expected_events: HashSet<String> = HashSet::new();
    let mut messages: HashMap<String, Value> = HashMap::new();
    for (id, send) in &accepted {
        let m = stack.message(id).await;
        let status = m["status"].as_str().unwrap_or("?").to_owned();
        *f.statuses.entry(status.clone()).or_default() += 1;
        if status == "failed" {
            let reason = m["failure"]["reason"].as_str().unwrap_or("?");
            *f.failed_by_reason.entry(reason.to_owned()).or_default() += 1;
            if m["failure"]["code"] == 8 {
                expected_events.insert(format!("contact.opted_out {id}"));
            }
        }
        if dead_ids.contains(id) {
            f.dead_lettered += 1;
        } else if status == "accepted" {
            f.lost += 1;
            f.details.push(format!("lost: {id} ({})", send.marker));
        }
        let mut highest = 0;
        for entry in m["status_history"].as_array().into_iter().flatten() {
            let s = entry["status"].as_str().unwrap_or("?");
            if let Some(r) = rank(s)
                && r > highest
            {
                highest = r;
                expected_events.insert(format!("message.status {id} {s}"));
            }
        }
        messages.insert(id.clone(), m);
    }
    for id in &dead_ids {
        if !accepted.contains_key(id) {
            f.details
                .push(format!("dead-lettered but never accepted: {id}"));
            f.orphans += 1;
        }
    }

    // What reached the users, by marker.
    let mut deliveries: HashMap<String, u64> = HashMap::new();
    for request in stack
        .get("/_sandbox/viber/delivered")
        .await
        .body
        .as_array()
        .into_iter()
        .flatten()
    {
        for marker in markers(&request.to_string()) {
            *deliveries.entry(marker).or_default() += 1;
        }
    }
    for send in &log.sends {
        let n = deliveries.get(&send.marker).copied().unwrap_or(0);
        let is_accepted = send
            .message_id
            .as_ref()
            .is_some_and(|id| accepted.contains_key(id));
        let dead = send
            .message_id
            .as_ref()
            .is_some_and(|id| dead_ids.contains(id));
        let unrecorded = send
            .message_id
            .as_ref()
            .and_then(|id| messages.get(id))
            .is_some_and(|m| m["status"] == "accepted");
        if dead && unrecorded && n > 0 {
            // Viber took it but no delivery of the job recorded that: its callbacks stay kept
            // until the dead-lettered job is redriven (Viber then answers "already sent").
            f.delivered_dead_lettered += 1;
        }
        if !is_accepted && n > 0 {
            f.unaccepted_deliveries += n;
            f.details
                .push(format!("delivered without a 202: {}", send.marker));
        }
        if is_accepted && n > 1 {
            f.duplicates += n - 1;
            f.details
                .push(format!("delivered {n} times: {}", send.marker));
        }
        let status = send
            .message_id
            .as_ref()
            .and_then(|id| messages.get(id))
            .and_then(|m| m["status"].as_str());
        if matches!(status, Some("sent" | "delivered" | "seen" | "expired")) && n == 0 {
            f.lost += 1;
            f.details.push(format!(
                "recorded {status:?} but Viber never got it: {}",
                send.marker
            ));
        }
    }

    // Nothing a refused or unavailable send wrote stays behind. An orphan session message holds
    // its session slot like an accepted one: the recount below adds it, so that one write left
    // behind is one violation (the orphan), not two.
    let mut orphan_slots: HashMap<String, u64> = HashMap::new();
    for id in message_records(stack).await {
        if !accepted.contains_key(&id) {
            f.orphans += 1;
            let m = stack.message(&id).await;
            f.details.push(format!(
                "message record without a 202: {id} ({} to {}, {})",
                m["type"].as_str().unwrap_or("?"),
                m["to"].as_str().unwrap_or("?"),
                m["status"].as_str().unwrap_or("?")
            ));
            if holds_a_slot(&m) {
                *orphan_slots
                    .entry(m["to"].as_str().unwrap_or("?").to_owned())
                    .or_default() += 1;
            }
        }
    }

    // Conversation counters, recounted from the accepted messages.
    for phone in &log.phones {
        let counted = accepted
            .iter()
            .filter(|(_, s)| s.phone == *phone && s.kind == Kind::Session)
            .filter(|(id, _)| messages.get(*id).is_none_or(keeps_its_slot))
            .count() as u64;
        let orphaned = orphan_slots.get(phone).copied().unwrap_or(0);
        let session = stack.session(phone).await;
        f.counters_checked += 1;
        let matches = |expected: u64| {
            let mut same = session["messages_sent"].as_u64() == Some(expected);
            if !log.chatty.contains(phone) {
                same &= session["consecutive"].as_u64() == Some(expected);
            }
            same
        };
        if matches(counted) {
            continue;
        }
        if orphaned > 0 && matches(counted + orphaned) {
            f.details.push(format!(
                "counter {phone}: {counted} accepted + {orphaned} orphaned session messages, \
                 as the session says (the orphans above)"
            ));
            continue;
        }
        f.counters_off += 1;
        f.details.push(format!(
            "counter {phone}: {counted} accepted (+{orphaned} orphaned) session messages, \
             session says {session}"
        ));
    }

    // User messages and their events.
    f.user_messages = log.user_messages.len() as u64;
    for message in &log.user_messages {
        match (&message.token, message.inbound_status) {
            (Some(token), 200) => {
                expected_events.insert(format!("message.inbound {token}"));
            }
            _ => {
                f.user_messages_refused += 1;
                f.details.push(format!("user message refused: {message:?}"));
            }
        }
    }

    // Business events: each expected one delivered (de-duplicated by id) or dead-lettered.
    let mut delivered: HashSet<String> = HashSet::new();
    let mut ids: BTreeMap<String, u64> = BTreeMap::new();
    for received in stack.events().await {
        if received["signature_valid"] != true {
            f.bad_signatures += 1;
        }
        let event = &received["event"];
        *ids.entry(event["event_id"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
        delivered.insert(event_key(event));
    }
    f.events_redelivered = ids.values().map(|n| n - 1).sum();
    let dead: HashSet<String> = dead_events.iter().map(event_key).collect();
    f.events_expected = expected_events.len() as u64;
    for key in &expected_events {
        if delivered.contains(key) {
            f.events_delivered += 1;
        } else if dead.contains(key) {
            f.events_dead_lettered += 1;
        } else {
            f.events_lost += 1;
            f.details.push(format!("event lost: {key}"));
        }
    }
    if f.events_lost > 0 {
        // An event still on the queue is late, not gone: a back-off that outlasted the settling
        // (then the run "did not settle"). Say how many are there.
        let (visible, in_flight) = queue_split(&sqs, &stack.env.events_queue_url).await;
        f.details.push(format!(
            "events queue at audit: {visible} visible, {in_flight} in flight or backed off"
        ));
    }
    for key in delivered.union(&dead) {
        // Session lifecycle events follow from the sessions, not from one send or
        // callback of the log: tests/tests/e2e/session_events.rs tells them.
        if key.starts_with("session.") {
            continue;
        }
        if !expected_events.contains(key) {
            f.events_unexplained += 1;
            f.details.push(format!("event nothing explains: {key}"));
        }
    }

    // The faults as they happened.
    let stats = stack.get("/_sandbox/viber/stats").await.body;
    if let Some(answers) = stats["answers"].as_object() {
        for (k, v) in answers {
            f.viber_answers.insert(k.clone(), v.as_u64().unwrap_or(0));
        }
    }
    f.callbacks_abandoned = stats["callbacks_abandoned"].as_u64().unwrap_or(0);
    let kept = tokens_with_kept_statuses(stack).await;
    f.statuses_left_kept = kept.len() as u64;
    // One token per job Viber took and we never recorded; anything beyond is unexplained.
    if f.statuses_left_kept > f.delivered_dead_lettered {
        f.details.push(format!(
            "statuses kept for {} tokens, {} explained by dead-lettered jobs Viber took: {kept:?}",
            f.statuses_left_kept, f.delivered_dead_lettered
        ));
    }
    f.emulator_connections_dropped = stack.get("/_dev/emulator").await.body["connections_dropped"]
        .as_u64()
        .unwrap_or(0);
    f
}
