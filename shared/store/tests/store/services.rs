//! A business's Viber services against the emulator: each service id belongs to one business
//! whatever runs at once, a business keeps at most one service per kind, and a business stored
//! before services had kinds reads as one two-way service and can be given more.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use session_rules::{Service, ServiceKind, Services};
use vbm_store::{BusinessId, NewBusiness, Store, StoreError};
use vbm_testkit::TestEnv;

use crate::common;

fn new_business(id: &str, service_id: u64) -> NewBusiness {
    NewBusiness {
        id: BusinessId::parse(id).unwrap(),
        service_id,
        callback_url: None,
        allow_cidrs: vec![],
    }
}

fn service(id: u64, kind: ServiceKind) -> Service {
    Service { id, kind }
}

/// Several stores on one table: several containers (or operators) at once.
async fn stores(n: usize) -> (TestEnv, Vec<Arc<Store>>) {
    let env = TestEnv::fresh();
    let client = env.dynamodb().await;
    let stores = (0..n)
        .map(|_| Arc::new(common::store_with(client.clone(), env.table.clone())))
        .collect();
    (env, stores)
}

async fn owner(store: &Store, service_id: u64) -> Option<(BusinessId, ServiceKind)> {
    store.businesses().service_owner(service_id).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_businesses_never_share_a_service_id_however_concurrent() {
    const N: usize = 8;
    let (_env, stores) = stores(N).await;
    for i in 0..N {
        stores[0]
            .businesses()
            .create_business(&new_business(&format!("b{i}"), 100 + i as u64))
            .await
            .unwrap();
    }
    // Every business adds the same session service id at once: one wins.
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let store = stores[i].clone();
            tokio::spawn(async move {
                let id = BusinessId::parse(&format!("b{i}")).unwrap();
                store
                    .businesses()
                    .add_service(&id, service(5000, ServiceKind::Session))
                    .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(business) => winners.push((i, business)),
            Err(StoreError::Conflict(message)) => {
                assert!(message.contains("5000"), "{message}");
            }
            Err(other) => panic!("b{i}: {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one business gets the id");
    let (winner, business) = &winners[0];
    let winner_id = BusinessId::parse(&format!("b{winner}")).unwrap();
    assert_eq!(
        owner(&stores[0], 5000).await,
        Some((winner_id.clone(), ServiceKind::Session))
    );
    assert!(business.services.by_id(5000).is_some());
    for i in 0..N {
        let stored = stores[0]
            .businesses()
            .get_business(&BusinessId::parse(&format!("b{i}")).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.services.by_id(5000).is_some(), i == *winner, "b{i}");
    }

    // And creating businesses with one id at once: one is created, nothing of the others.
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let store = stores[i].clone();
            tokio::spawn(async move {
                let services = Services::new(vec![
                    service(7000 + i as u64, ServiceKind::OneWay),
                    service(6000, ServiceKind::Session),
                ])
                .unwrap();
                store
                    .businesses()
                    .create_business_with_services(&new_business(&format!("c{i}"), 0), &services)
                    .await
            })
        })
        .collect();
    let mut created = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(_) => created.push(i),
            Err(StoreError::Conflict(message)) => assert!(message.contains("6000"), "{message}"),
            Err(other) => panic!("c{i}: {other}"),
        }
    }
    assert_eq!(created.len(), 1);
    for i in 0..N {
        let id = BusinessId::parse(&format!("c{i}")).unwrap();
        let exists = stores[0]
            .businesses()
            .get_business(&id)
            .await
            .unwrap()
            .is_some();
        assert_eq!(exists, created == [i], "c{i}");
        // A refused creation leaves its other service id free too.
        assert_eq!(owner(&stores[0], 7000 + i as u64).await.is_some(), exists);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_changes_to_one_business_keep_one_service_per_kind() {
    let (_env, stores) = stores(6).await;
    let acme = BusinessId::parse("acme").unwrap();
    stores[0]
        .businesses()
        .create_business_with_services(
            &new_business("acme", 0),
            &Services::single(1, ServiceKind::OneWay),
        )
        .await
        .unwrap();
    // Three session ids and two two-way ids race; one of each kind may win.
    let wanted = [
        service(10, ServiceKind::Session),
        service(11, ServiceKind::Session),
        service(12, ServiceKind::Session),
        service(20, ServiceKind::TwoWay),
        service(21, ServiceKind::TwoWay),
    ];
    let tasks: Vec<_> = wanted
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let store = stores[i].clone();
            let (acme, s) = (acme.clone(), *s);
            tokio::spawn(async move { store.businesses().add_service(&acme, s).await })
        })
        .collect();
    let mut added = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => {}
            Err(StoreError::Conflict(message)) => {
                assert!(message.contains("already has"), "{message}")
            }
            Err(other) => panic!("{other}"),
        }
    }
    let stored = stores[0]
        .businesses()
        .get_business(&acme)
        .await
        .unwrap()
        .unwrap();
    for kind in ServiceKind::ALL {
        assert_eq!(
            stored.services.iter().filter(|s| s.kind == kind).count(),
            1,
            "{kind}: {stored:?}"
        );
    }
    // The uniqueness items agree with the profile: exactly its ids are taken.
    for s in wanted {
        let taken = owner(&stores[0], s.id).await;
        if stored.services.by_id(s.id).is_some() {
            added.push(s.id);
            assert_eq!(taken, Some((acme.clone(), s.kind)));
        } else {
            assert_eq!(taken, None, "{} left taken", s.id);
        }
    }
    assert_eq!(added.len(), 2);

    // Removing frees the id for another business; the last service stays.
    let session = stored.services.of_kind(ServiceKind::Session).unwrap().id;
    stores[0]
        .businesses()
        .remove_service(&acme, session)
        .await
        .unwrap();
    assert_eq!(owner(&stores[0], session).await, None);
    stores[0]
        .businesses()
        .create_business_with_services(
            &new_business("other", 0),
            &Services::single(session, ServiceKind::Session),
        )
        .await
        .unwrap();
    let two_way = stored.services.of_kind(ServiceKind::TwoWay).unwrap().id;
    stores[0]
        .businesses()
        .remove_service(&acme, two_way)
        .await
        .unwrap();
    match stores[0].businesses().remove_service(&acme, 1).await {
        Err(StoreError::Conflict(message)) => assert!(message.contains("last"), "{message}"),
        other => panic!("{other:?}"),
    }
    // Another business's id is not this one's to remove.
    assert!(matches!(
        stores[0].businesses().remove_service(&acme, session).await,
        Err(StoreError::Conflict(_))
    ));
}

/// A business written before services had kinds: its profile has `service_id` only and its
/// service id item no `kind`. It reads as one two-way service, and adding a session service
/// turns it into a list without losing the old id.
#[tokio::test]
async fn a_business_from_before_services_reads_as_one_two_way_service() {
    let env = TestEnv::fresh();
    let client = env.dynamodb().await;
    let store = common::store_with(client.clone(), env.table.clone());
    let legacy = BusinessId::parse("legacy").unwrap();
    store
        .businesses()
        .create_business(&new_business("legacy", 1000))
        .await
        .unwrap();
    // Back to the old shape.
    let key = |pk: &str, sk: &str| {
        [
            ("pk".to_string(), AttributeValue::S(pk.into())),
            ("sk".to_string(), AttributeValue::S(sk.into())),
        ]
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>()
    };
    client
        .update_item()
        .table_name(&env.table)
        .set_key(Some(key("BIZ#legacy", "PROFILE")))
        .update_expression("REMOVE services")
        .send()
        .await
        .unwrap();
    client
        .update_item()
        .table_name(&env.table)
        .set_key(Some(key("SERVICE#1000", "SERVICE")))
        .update_expression("REMOVE kind")
        .send()
        .await
        .unwrap();

    let business = store
        .businesses()
        .get_business(&legacy)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        business.services,
        Services::single(1000, ServiceKind::TwoWay)
    );
    assert_eq!(business.service_id(), 1000);
    assert_eq!(
        owner(&store, 1000).await,
        Some((legacy.clone(), ServiceKind::TwoWay))
    );

    let changed = store
        .businesses()
        .add_service(&legacy, service(1001, ServiceKind::Session))
        .await
        .unwrap();
    let expected = Services::new(vec![
        service(1000, ServiceKind::TwoWay),
        service(1001, ServiceKind::Session),
    ])
    .unwrap();
    assert_eq!(changed.services, expected);
    let reread = store
        .businesses()
        .get_business(&legacy)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reread.services, expected);
    assert_eq!(reread.service_id(), 1000);
    assert_eq!(
        owner(&store, 1001).await,
        Some((legacy, ServiceKind::Session))
    );
}
