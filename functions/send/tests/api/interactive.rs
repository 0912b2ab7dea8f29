//! Lists and carousels at the API: Viber's limits checked at the edge (422 `validation_failed`
//! naming the field, nothing stored), the session rules a list follows, and the billing category
//! each is stored with.

use serde_json::{Value, json};

use crate::common::*;

fn list(options: Value) -> Value {
    json!({"to": UK, "type": "list", "tracking_data": "survey-7",
           "list": {"title": "How was your delivery?", "options": options}})
}

fn card(title: &str) -> Value {
    json!({"title": title, "image_url": "https://cdn.example/c.png",
           "primary_button": {"caption": "Buy", "url": "https://shop.example/c"}})
}

fn carousel(cards: Value) -> Value {
    json!({"to": UK, "type": "carousel", "carousel": {"text": "New this week", "cards": cards}})
}

#[tokio::test]
async fn a_list_in_a_session_is_accepted_counted_and_billed_as_promotional() {
    let h = Harness::new().await;
    h.open_session(UK).await;
    let reply = h
        .send(&list(json!(["Great", "Late", "Damaged"])), None)
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(
        reply.body["billing"],
        json!({"category": "promotional", "billable": true})
    );
    // A session list counts toward the session's messages and the row of five.
    assert_eq!(reply.body["session"]["messages_sent"], 1);
    assert_eq!(reply.body["session"]["consecutive"], 1);
    let id = reply.message_id();
    let view = h.authed("GET", &format!("/v1/messages/{id}"), None).await;
    assert_eq!(view.status, 200, "{}", view.body);
    assert_eq!(view.body["type"], "list");
    assert_eq!(view.body["billing"]["category"], "promotional");
    assert_eq!(h.drain_queue().await, vec![id]);
}

#[tokio::test]
async fn a_list_needs_the_users_session_and_a_transactional_one_the_opt_in() {
    let h = Harness::new().await;
    let before = h.footprint(UK).await;
    h.send(&list(json!(["Yes", "No"])), None)
        .await
        .expect_error(409, "no_session");
    let mut transactional = list(json!(["Yes", "No"]));
    transactional["list"]["delivery"] = json!("transactional");
    h.send(&transactional, None)
        .await
        .expect_error(422, "template_required");
    h.assert_untouched(UK, &before).await;
    h.allow_legacy_transactional().await;
    // Another container: this one remembers the business as it was.
    let reply = send_with(&h.cold_app(), &h.key, &transactional, None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["billing"]["category"], "promotional");
}

#[tokio::test]
async fn lists_and_carousels_outside_vibers_limits_are_refused_and_store_nothing() {
    let h = Harness::new().await;
    h.open_session(UK).await;
    let before = h.footprint(UK).await;
    let eleven: Vec<String> = (1..=11).map(|i| format!("Option {i}")).collect();
    let mut long_title = list(json!(["Yes", "No"]));
    long_title["list"]["title"] = json!("я".repeat(86));
    let mut long_tracking = list(json!(["Yes", "No"]));
    long_tracking["tracking_data"] = json!("t".repeat(3969));
    let mut three_buttons = carousel(json!([card("Shoes"), card("Hats")]));
    three_buttons["carousel"]["cards"][1]["third_button"] =
        json!({"caption": "More", "url": "https://shop.example/m"});
    let mut long_primary = carousel(json!([card("Shoes"), card("Hats")]));
    long_primary["carousel"]["cards"][0]["primary_button"]["caption"] = json!("0123456789a");
    let mut long_secondary = carousel(json!([card("Shoes"), card("Hats")]));
    long_secondary["carousel"]["cards"][1]["secondary_button"] =
        json!({"caption": "0123456789abc", "url": "https://shop.example/d"});
    for (body, field) in [
        (list(json!(["Only one"])), Some("list.options")),
        (list(json!(eleven)), Some("list.options")),
        (
            list(json!(["Yes", "x".repeat(51)])),
            Some("list.options[1]"),
        ),
        (list(json!(["Yes", "Yes"])), Some("list.options[1]")),
        (long_title, Some("list.title")),
        (long_tracking, Some("tracking_data")),
        (carousel(json!([card("Shoes")])), Some("carousel.cards")),
        (
            carousel(json!(vec![card("Shoes"); 6])),
            Some("carousel.cards"),
        ),
        (
            carousel(json!([card("S"), card("Hats")])),
            Some("carousel.cards[0].title"),
        ),
        (
            long_primary,
            Some("carousel.cards[0].primary_button.caption"),
        ),
        (
            long_secondary,
            Some("carousel.cards[1].secondary_button.caption"),
        ),
        // An unknown field inside a card is refused on the wire.
        (three_buttons, None),
    ] {
        let reply = h.send(&body, None).await;
        reply.expect_error(422, "validation_failed");
        if let Some(field) = field {
            assert_eq!(reply.body["error"]["field"], field, "{}", reply.body);
        }
    }
    h.assert_untouched(UK, &before).await;
}

#[tokio::test]
async fn a_carousel_is_promotional_content() {
    let h = Harness::new().await;
    // Never the first message to a user.
    let body = carousel(json!([card("Shoes"), card("Hats")]));
    h.send(&body, None)
        .await
        .expect_error(409, "first_message_promotional");
    h.open_session(UK).await;
    let reply = h.send(&body, None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(
        reply.body["billing"],
        json!({"category": "promotional", "billable": true})
    );
    // Promotional content does not count toward the session's messages.
    assert_eq!(reply.body["session"]["messages_sent"], 0);
}

#[tokio::test]
async fn campaigns_send_neither_lists_nor_carousels() {
    use std::sync::Arc;
    let h = Harness::new().await;
    let app = crate::inputs::full_app(&h, Arc::new(vbm_platform::clock::OffsetClock::new())).await;
    let before = h.env.footprint().await;
    for message in [
        list(json!(["Yes", "No"])),
        carousel(json!([card("Shoes"), card("Hats")])),
    ] {
        let mut message = message;
        message.as_object_mut().unwrap().remove("to");
        let body = json!({"message": message, "recipients": [{"to": UK}]}).to_string();
        let r = crate::inputs::authed(&app, &h.key, "POST", "/v1/campaigns", Some(&body)).await;
        r.expect_error(422, "validation_failed");
        assert_eq!(r.body["error"]["field"], "message.type", "{}", r.body);
    }
    assert_eq!(h.env.footprint().await, before, "nothing stored");
}
