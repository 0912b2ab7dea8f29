//! Viber's pace per service id: each service books its own lanes at its own rate (or the
//! business's), from several containers at once; the business's first service keeps the lanes
//! it had before services had kinds.

use std::sync::Arc;
use std::time::Duration;

use vbm_store::pace::{Lane, LaneOwner, PaceRates, Reservation};
use vbm_store::{BusinessId, Store};
use vbm_testkit::TestEnv;

use crate::common::{self, NOW};

async fn book(
    stores: &[Arc<Store>],
    business: &BusinessId,
    owner: LaneOwner,
    rate: u32,
    count: usize,
) -> Vec<tokio::task::JoinHandle<Reservation>> {
    (0..count)
        .map(|i| {
            let (store, business) = (stores[i % stores.len()].clone(), business.clone());
            tokio::spawn(async move {
                store
                    .pace()
                    .reserve_on(
                        &business,
                        owner,
                        Lane::Viber,
                        1,
                        rate,
                        NOW,
                        Duration::from_secs(60),
                    )
                    .await
                    .unwrap()
            })
        })
        .collect()
}

async fn slots(tasks: Vec<tokio::task::JoinHandle<Reservation>>) -> Vec<i64> {
    let mut slots = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Reservation::At(at) => slots.push(at.as_millis()),
            other => panic!("{other:?}"),
        }
    }
    slots.sort();
    slots
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_service_books_its_own_lane_at_its_own_rate() {
    let env = TestEnv::fresh();
    let client = env.dynamodb().await;
    let business = BusinessId::parse("acme").unwrap();
    let stores: Vec<Arc<Store>> = (0..4)
        .map(|_| Arc::new(common::store_with(client.clone(), env.table.clone())))
        .collect();
    // Before services: the business's rate, on its one lane.
    assert_eq!(
        stores[0].pace().pace_rates(&business).await.unwrap(),
        PaceRates::default()
    );
    stores[0].pace().set_pace_rate(&business, 25).await.unwrap();
    stores[0]
        .pace()
        .set_service_pace_rate(&business, 32, Some(10))
        .await
        .unwrap();
    let rates = stores[1].pace().pace_rates(&business).await.unwrap();
    assert_eq!((rates.business, rates.of(31), rates.of(32)), (25, 25, 10));

    // Both services at once, from four containers: neither takes the other's slots.
    let primary = book(&stores, &business, LaneOwner::of(31, 31), rates.of(31), 20).await;
    let session = book(&stores, &business, LaneOwner::of(32, 31), rates.of(32), 20).await;
    let primary = slots(primary).await;
    let session = slots(session).await;
    assert_eq!(primary[0], NOW.as_millis());
    assert_eq!(session[0], NOW.as_millis());
    assert!(primary.windows(2).all(|w| w[1] - w[0] >= 40), "{primary:?}");
    assert!(
        session.windows(2).all(|w| w[1] - w[0] >= 100),
        "{session:?}"
    );
    assert_eq!(primary[19] - primary[0], 19 * 40);
    assert_eq!(session[19] - session[0], 19 * 100);

    // The first service's lane is the business's own (what `reserve` books, as before).
    let next = stores[0]
        .pace()
        .reserve(&business, Lane::Viber, 1, 25, NOW, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        next,
        Reservation::At(NOW.plus(Duration::from_millis(20 * 40)))
    );

    // Taken away: the service sends at the business's rate again.
    stores[2]
        .pace()
        .set_service_pace_rate(&business, 32, None)
        .await
        .unwrap();
    let rates = stores[3].pace().pace_rates(&business).await.unwrap();
    assert_eq!(rates.of(32), 25);
    assert!(rates.services.is_empty(), "{rates:?}");
}
