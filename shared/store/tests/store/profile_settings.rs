//! The settings stored as JSON on a business's profile (caps, SMS policy), changed by one
//! optimistic read-modify-write: concurrent changes all land, clearing the caps removes the
//! attribute, a refused change writes nothing, an unknown business is `None`.

use std::sync::Arc;

use session_rules::BillingCategory;
use session_rules::caps::{CapOutOfRange, CapPeriod, CapSubject};
use vbm_store::{BusinessId, NewBusiness, Store};

use crate::common;

async fn business(store: &Store, id: &str, service_id: u64) -> BusinessId {
    let id = BusinessId::parse(id).unwrap();
    store
        .businesses()
        .create_business(&NewBusiness {
            id: id.clone(),
            service_id,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    id
}

/// Eight writers each add their own sender id at once: each lost race reads again, so all
/// eight are in the stored policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sms_policy_changes_all_land() {
    let (env, store) = common::fresh().await;
    let id = business(&store, "settings-sms", 7301).await;
    let mut writers = Vec::new();
    for i in 0..8 {
        let store = Arc::new(common::store_on(&env).await);
        let id = id.clone();
        writers.push(tokio::spawn(async move {
            store
                .businesses()
                .update_sms_policy(&id, |policy| {
                    policy.senders.insert(format!("SENDER{i}"));
                })
                .await
                .unwrap()
                .unwrap()
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let policy = store.businesses().sms_policy(&id).await.unwrap().unwrap();
    assert_eq!(policy.senders.len(), 8, "{:?}", policy.senders);
}

/// Caps set, then all removed: the attribute goes (the caps read back empty); a change that
/// fails writes nothing; an unknown business is `None` for both settings.
#[tokio::test]
async fn caps_cleared_refused_and_unknown() {
    let (_env, store) = common::fresh().await;
    let id = business(&store, "settings-caps", 7302).await;
    let subject = CapSubject::Category(BillingCategory::Promotional);
    let set = store
        .businesses()
        .update_caps(&id, |caps| caps.set(subject, CapPeriod::Day, Some(5)))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(set.all().len(), 1);

    let refused = store
        .businesses()
        .update_caps(&id, |caps| {
            caps.set(subject, CapPeriod::Day, Some(u64::MAX))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(refused, Err(CapOutOfRange(u64::MAX)));
    let kept = store.businesses().caps(&id).await.unwrap().unwrap();
    assert_eq!(kept, set);

    let cleared = store
        .businesses()
        .update_caps(&id, |caps| caps.set(subject, CapPeriod::Day, None))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(cleared.is_empty());
    let item = store
        .client()
        .get_item()
        .table_name(store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("BIZ#settings-caps".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(!item.contains_key("caps"), "{item:?}");

    let unknown = BusinessId::parse("settings-nobody").unwrap();
    let caps = store
        .businesses()
        .update_caps(&unknown, |caps| caps.set(subject, CapPeriod::Day, Some(1)))
        .await
        .unwrap();
    assert!(caps.is_none());
    let policy = store
        .businesses()
        .update_sms_policy(&unknown, |policy| policy.max_per_day = 1)
        .await
        .unwrap();
    assert!(policy.is_none());
}
