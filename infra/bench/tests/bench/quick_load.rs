//! A short `bench-load`: the local stack in this process, 8 clients over 10 conversations, the
//! conversational mix; every answer must be what the independent rules model says.

use vbm_bench::workload::{self, Kind, Mix, Plan, Target};
use vbm_testkit::TestEnv;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_mixed_load_breaks_no_rule() {
    vbm_platform::metrics::set_enabled(false);
    let env = TestEnv::fresh();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    let running = vbm_dev::start(
        vbm_dev::Settings {
            port,
            table: env.table.clone(),
            outbound_queue_url: env.outbound_queue_url.clone(),
            events_queue_url: env.events_queue_url.clone(),
            failover_queue_url: env.failover_queue_url.clone(),
            timers_group: env.timers_group.clone(),
            campaign_queue_url: env.campaign_queue_url.clone(),
            session_timers_queue_url: env.session_timers_queue_url.clone(),
            uploads_bucket: env.uploads_bucket.clone(),
        },
        listener,
    )
    .await
    .expect("the stack starts");
    let target = Target::new(&running.base_url, &running.api_key).expect("a client");
    let tally = workload::run(
        target,
        Plan {
            clients: 8,
            conversations: 10,
            requests: 160,
            rate: None,
            until: None,
            mix: Mix::conversational(),
            first_number: 0,
            seed: 7,
        },
    )
    .await;

    assert_eq!(tally.requests, 160);
    assert_eq!(tally.failures(), 0, "{:#?}", tally.examples);
    // The model was put to work: session sends went through and the rules refused some.
    let codes = &tally.codes;
    assert!(codes.get("202").copied().unwrap_or(0) > 40, "{codes:?}");
    let refused: u64 = codes
        .iter()
        .filter(|(code, _)| code.starts_with("409 "))
        .map(|(_, n)| n)
        .sum();
    assert!(refused > 0, "{codes:?}");
    assert!(tally.latency.contains_key(&Kind::UserMessage), "{codes:?}");
}
