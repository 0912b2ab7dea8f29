//! A campaign of session messages that wait for each user's reply, through the fan-out: a
//! recipient in a session gets it at once, the others are held (with the campaign's fallback
//! template prepared for each), and the campaign completes only once nobody is held.

use session_rules::campaign::{CampaignRecipient, CampaignState};
use session_rules::{HeldState, PhoneNumber};
use vbm_platform::clock::Clock;
use vbm_queue::CampaignJob;
use vbm_store::{BusinessId, CampaignId, InboundContent, NewCampaign};

use crate::fanout::{World, chunk_job, drain, world};

fn number(i: usize) -> PhoneNumber {
    PhoneNumber::parse(&format!("+4479111{i:05}")).unwrap()
}

async fn create(w: &World, business: &BusinessId, count: usize, until: &str) -> CampaignId {
    let id = CampaignId::generate();
    let recipients: Vec<CampaignRecipient> = (0..count)
        .map(|i| CampaignRecipient {
            to: number(i).as_e164().to_owned(),
            params: Default::default(),
        })
        .collect();
    let message = format!(
        r#"{{"type":"session","text":"Your parcel is at the door","wait_for_session":{{"until":"{until}","fallback":{{"template":{{"id":"parcel"}}}}}}}}"#
    );
    w.store
        .campaigns()
        .create_campaign(&NewCampaign {
            business,
            id: id.clone(),
            name: None,
            message: &message,
            recipients: &recipients,
            send_at: None,
            window: None,
            idempotency: None,
            now: w.clock.now(),
        })
        .await
        .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recipients_without_a_session_are_held_and_the_campaign_completes_when_none_is() {
    let w = world().await;
    let business = BusinessId::parse("acme").unwrap();
    let now = w.clock.now();
    let until = now.plus(std::time::Duration::from_secs(3600));
    let id = create(&w, &business, 3, &vbm_platform::time::rfc3339(until)).await;
    // Number 0 is in a session: it gets the message at its turn.
    w.store
        .conversations()
        .record_inbound(
            &business,
            &number(0),
            "t0",
            &InboundContent::default(),
            now,
            now,
        )
        .await
        .unwrap();

    let start = CampaignJob::Start {
        business: business.as_str().into(),
        campaign: id.as_str().into(),
    };
    w.app.handle_job(&start).await.unwrap();
    let jobs = drain(&w.env).await;
    assert_eq!(jobs.len(), 1);
    let done = w.app.handle_job(&jobs[0]).await.unwrap();
    assert_eq!((done.admitted.queued, done.admitted.held), (1, 2));
    assert!(done.admitted.finished);
    assert!(!done.completed, "two recipients are still held");
    let c = w
        .store
        .campaigns()
        .get_campaign(&business, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CampaignState::Running);
    assert_eq!((c.counts.get("held"), c.still_held()), (Some(&2), 2));
    // Each held message carries its campaign and the fallback prepared for its recipient.
    let held = w
        .store
        .messages()
        .get_held(&business, &id.message_id(1), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.campaign.as_ref(), Some(&id));
    assert_eq!(held.until, until);
    let fallback = held.fallback.expect("the campaign's fallback template");
    assert!(fallback.payload.contains("parcel"), "{}", fallback.payload);

    // Number 1 writes back: released. Number 2's deadline: its fallback goes.
    w.store
        .conversations()
        .record_inbound(
            &business,
            &number(1),
            "t1",
            &InboundContent::default(),
            now,
            now,
        )
        .await
        .unwrap();
    w.store
        .messages()
        .release_held(&business, &number(1), now)
        .await
        .unwrap();
    let settled = w
        .store
        .messages()
        .settle_held(&business, &id.message_id(2), until)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(settled.state, HeldState::Fallback);

    // Nobody held any more: the chunk's job, delivered again, completes it, once.
    let again = w
        .app
        .handle_job(&chunk_job(&business, &id, 0))
        .await
        .unwrap();
    assert!(again.completed);
    let c = w
        .store
        .campaigns()
        .get_campaign(&business, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.state, CampaignState::Completed);
    let held: Vec<(String, u64)> = c.held_counts().into_iter().collect();
    assert_eq!(
        held,
        [
            ("held".to_owned(), 2),
            ("held_fallback".to_owned(), 1),
            ("held_released".to_owned(), 1)
        ]
    );
    assert_eq!(c.settled(), 3);
}
