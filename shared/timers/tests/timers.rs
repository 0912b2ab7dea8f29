//! Timers against the emulator: set, idempotent by name, due ones sent at once, cancelled ones
//! never fire, and the local firing delivers each due body once, to the right queue.

use session_rules::Timestamp;
use vbm_testkit::{TestEnv, drain};
use vbm_timers::dev::Firing;
use vbm_timers::{Set, Target, Timer, Timers};

const HOUR: i64 = 3_600_000;

async fn setup() -> (TestEnv, Timers, Firing, aws_sdk_sqs::Client) {
    let env = TestEnv::fresh();
    let sqs = env.sqs().await;
    let scheduler = env.scheduler().await;
    let timers = Timers::new(
        scheduler.clone(),
        sqs.clone(),
        &env.timers_group,
        "arn:aws:iam::123456789012:role/timers",
    );
    let firing = Firing::new(scheduler, sqs.clone(), &env.timers_group);
    (env, timers, firing, sqs)
}

async fn bodies(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<(String, Option<String>)> {
    drain(sqs, url)
        .await
        .into_iter()
        .map(|d| (d.body, d.group))
        .collect()
}

#[tokio::test]
async fn a_timer_fires_once_at_its_time_and_not_before() {
    let (env, timers, mut firing, sqs) = setup().await;
    let target = Target::queue(&env.events_queue_url, "us-east-1").unwrap();
    let now = Timestamp::from_millis(1_800_000_000_000);
    let at = Timestamp::from_millis(now.as_millis() + HOUR);
    let timer = Timer {
        name: "t-1",
        at,
        target: &target,
        body: r#"{"n":1}"#,
    };
    assert_eq!(timers.set(&timer, now).await.unwrap(), Set::Scheduled);
    // The same name again is the same timer, whatever the rest says.
    let again = Timer {
        body: r#"{"n":2}"#,
        ..timer.clone()
    };
    assert_eq!(timers.set(&again, now).await.unwrap(), Set::AlreadySet);

    assert_eq!(firing.fire_due(now).await.unwrap(), 0);
    assert_eq!(
        firing
            .fire_due(Timestamp::from_millis(at.as_millis() - 1000))
            .await
            .unwrap(),
        0
    );
    assert!(bodies(&sqs, &env.events_queue_url).await.is_empty());

    assert_eq!(firing.fire_due(at).await.unwrap(), 1);
    assert_eq!(
        bodies(&sqs, &env.events_queue_url).await,
        vec![(r#"{"n":1}"#.to_owned(), None)]
    );
    // Fired schedules are gone (ActionAfterCompletion: DELETE): nothing fires twice.
    assert_eq!(
        firing
            .fire_due(Timestamp::from_millis(at.as_millis() + HOUR))
            .await
            .unwrap(),
        0
    );
    let left = env
        .scheduler()
        .await
        .list_schedules()
        .group_name(&env.timers_group)
        .send()
        .await
        .unwrap();
    assert!(left.schedules().is_empty());
}

#[tokio::test]
async fn a_due_timer_is_sent_at_once_and_a_cancelled_one_never() {
    let (env, timers, mut firing, sqs) = setup().await;
    let target = Target::queue(&env.events_queue_url, "us-east-1").unwrap();
    let now = Timestamp::from_millis(1_800_000_000_000);
    let due = Timer {
        name: "due",
        at: now,
        target: &target,
        body: "now",
    };
    assert_eq!(timers.set(&due, now).await.unwrap(), Set::SentNow);
    assert_eq!(
        bodies(&sqs, &env.events_queue_url).await,
        vec![("now".to_owned(), None)]
    );

    let later = Timestamp::from_millis(now.as_millis() + HOUR);
    let cancelled = Timer {
        name: "cancelled",
        at: later,
        target: &target,
        body: "never",
    };
    assert_eq!(timers.set(&cancelled, now).await.unwrap(), Set::Scheduled);
    timers.cancel("cancelled").await.unwrap();
    timers.cancel("cancelled").await.unwrap(); // absent is fine
    assert_eq!(firing.fire_due(later).await.unwrap(), 0);
    assert!(bodies(&sqs, &env.events_queue_url).await.is_empty());
}

#[tokio::test]
async fn fifo_targets_keep_their_group_and_bad_names_are_refused() {
    let (env, timers, mut firing, sqs) = setup().await;
    let target = Target::queue(&env.outbound_queue_url, "us-east-1")
        .unwrap()
        .with_group("conv-1");
    let now = Timestamp::from_millis(1_800_000_000_000);
    let at = Timestamp::from_millis(now.as_millis() + 1000);
    let timer = Timer {
        name: "fifo",
        at,
        target: &target,
        body: "job",
    };
    assert_eq!(timers.set(&timer, now).await.unwrap(), Set::Scheduled);
    assert_eq!(firing.fire_due(at).await.unwrap(), 1);
    assert_eq!(
        bodies(&sqs, &env.outbound_queue_url).await,
        vec![("job".to_owned(), Some("conv-1".to_owned()))]
    );

    let bad = Timer {
        name: "a/b",
        ..timer
    };
    let err = timers.set(&bad, now).await.unwrap_err();
    assert!(!err.retryable(), "{err}");
}
