//! Templates a business creates: counted toward Viber's 2,000 in the same transaction that
//! stores them (concurrent creations never pass the cap), moved by moderation only from where
//! they stand, deleted once (giving their place back), and the templates operators registered
//! before states existed read and move as before; a creation under an `Idempotency-Key`
//! makes one template however often and however concurrently it is retried.

use std::sync::Arc;

use session_rules::{
    Language, Moderated, Moderation, RawTemplateDraft, Template, TemplateCategory, TemplateDraft,
    TemplateId, TemplateState,
};
use vbm_store::{BusinessId, IdempotencyKey, NewBusiness, Store, TemplateCreated, new_template_id};

use crate::common::{NOW, fresh};

async fn business(store: &Store, id: &str) -> BusinessId {
    let id = BusinessId::parse(id).unwrap();
    store
        .businesses()
        .create_business(&NewBusiness {
            id: id.clone(),
            service_id: 7000 + id.as_str().len() as u64,
            callback_url: None,
            allow_cidrs: vec![],
        })
        .await
        .unwrap();
    id
}

fn draft(text: &str) -> Template {
    TemplateDraft::parse(&RawTemplateDraft {
        name: "Order shipped".into(),
        lang: "en".into(),
        category: "transactional".into(),
        text: text.into(),
        reach: None,
    })
    .unwrap()
    .into_template(new_template_id(), NOW)
}

#[tokio::test]
async fn concurrent_creations_never_pass_the_cap() {
    let (_env, store) = fresh().await;
    let store = Arc::new(store);
    let acme = business(&store, "acme").await;
    const CAP: u32 = 5;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = store.clone();
            let acme = acme.clone();
            tokio::spawn(async move {
                let template = draft(&format!("Order {{{{order}}}} number {i}"));
                // A conflicting transaction is the table's "try again": what the API answers
                // with a retryable 503, retried here as a business would.
                for _ in 0..20 {
                    match store
                        .templates()
                        .create_template(&acme, &template, CAP, None, NOW)
                        .await
                    {
                        Ok(outcome) => return (template, outcome),
                        Err(e) => assert!(!e.to_string().contains("exists"), "{e}"),
                    }
                }
                panic!("the table kept refusing")
            })
        })
        .collect();
    let mut created = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            (t, TemplateCreated::Created) => created.push(t),
            (_, TemplateCreated::LimitReached(cap)) => {
                assert_eq!(cap, CAP);
                refused += 1;
            }
            (_, other) => panic!("no key, yet {other:?}"),
        }
    }
    assert_eq!(created.len(), CAP as usize);
    assert_eq!(refused, 24 - CAP as usize);
    assert_eq!(store.templates().template_count(&acme).await.unwrap(), CAP);
    let stored = store.templates().list_templates(&acme).await.unwrap();
    assert_eq!(
        stored.len(),
        CAP as usize,
        "the refused ones stored nothing"
    );
    for t in &stored {
        assert_eq!(t.state(), TemplateState::PendingReview);
        assert_eq!(t.name(), Some("Order shipped"));
        assert_eq!(t.created_at(), Some(NOW));
    }

    // A rejected template still counts; deleting one gives its place back, once.
    let first = store
        .templates()
        .get_template_consistent(&acme, created[0].id())
        .await
        .unwrap()
        .unwrap();
    let Ok(Moderated::Changed(rejected)) = first.moderate(&Moderation::reject("promo").unwrap())
    else {
        panic!("rejects")
    };
    assert!(
        store
            .templates()
            .set_template_state(&acme, &first, &rejected, NOW)
            .await
            .unwrap()
    );
    // The same move again: the template no longer stands where it was read.
    assert!(
        !store
            .templates()
            .set_template_state(&acme, &first, &rejected, NOW)
            .await
            .unwrap()
    );
    let extra = draft("One more {{x}}");
    assert_eq!(
        store
            .templates()
            .create_template(&acme, &extra, CAP, None, NOW)
            .await
            .unwrap(),
        TemplateCreated::LimitReached(CAP)
    );
    let deletes: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            let acme = acme.clone();
            let rejected = rejected.clone();
            tokio::spawn(async move {
                store
                    .templates()
                    .delete_template(&acme, &rejected, NOW)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut deleted = 0;
    for d in deletes {
        deleted += usize::from(d.await.unwrap());
    }
    assert_eq!(deleted, 1, "deleted once");
    assert_eq!(
        store.templates().template_count(&acme).await.unwrap(),
        CAP - 1
    );
    let gone = store
        .templates()
        .get_template_consistent(&acme, rejected.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gone.state(), TemplateState::Deleted);
    assert_eq!(gone.rejection_reason(), Some("promo"));
    assert_eq!(
        store
            .templates()
            .create_template(&acme, &extra, CAP, None, NOW)
            .await
            .unwrap(),
        TemplateCreated::Created
    );

    // Another business has its own count.
    let globex = business(&store, "globex").await;
    assert_eq!(
        store
            .templates()
            .create_template(&globex, &draft("Hi {{a}}"), CAP, None, NOW)
            .await
            .unwrap(),
        TemplateCreated::Created
    );
    assert_eq!(store.templates().template_count(&globex).await.unwrap(), 1);
    assert!(
        store
            .templates()
            .get_template_consistent(&globex, extra.id())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn concurrent_retries_with_one_key_create_one_template() {
    let (_env, store) = fresh().await;
    let store = Arc::new(store);
    let acme = business(&store, "acme").await;
    let key = IdempotencyKey::parse("tpl-order-shipped").unwrap();
    // Each retry is a new request: a new template id, the same key and body.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let acme = acme.clone();
            let key = key.clone();
            tokio::spawn(async move {
                let template = draft("Order {{order}} shipped");
                for _ in 0..20 {
                    match store
                        .templates()
                        .create_template(&acme, &template, 2_000, Some((&key, "hash-a")), NOW)
                        .await
                    {
                        Ok(TemplateCreated::Created) => return template,
                        Ok(TemplateCreated::Replayed(earlier)) => return earlier,
                        Ok(other) => panic!("{other:?}"),
                        // A conflicting transaction: the API's retryable 503, retried. A
                        // retry that lost the race to the key's record is never an error: it
                        // reads the winner's record.
                        Err(e) => assert!(
                            !e.to_string().contains("exists")
                                && !e.to_string().contains("ConditionalCheckFailed"),
                            "{e}"
                        ),
                    }
                }
                panic!("the table kept refusing")
            })
        })
        .collect();
    let mut answered = Vec::new();
    for task in tasks {
        answered.push(task.await.unwrap());
    }
    let stored = store.templates().list_templates(&acme).await.unwrap();
    assert_eq!(stored.len(), 1, "one template: {stored:?}");
    assert_eq!(
        store.templates().template_count(&acme).await.unwrap(),
        1,
        "counted once"
    );
    for t in &answered {
        assert_eq!(t, &stored[0], "every retry answers the one template");
    }

    // The same key with another body: nothing written.
    let other = draft("Order {{order}} delivered");
    assert_eq!(
        store
            .templates()
            .create_template(&acme, &other, 2_000, Some((&key, "hash-b")), NOW)
            .await
            .unwrap(),
        TemplateCreated::KeyReused
    );
    assert_eq!(
        store.templates().list_templates(&acme).await.unwrap().len(),
        1
    );
    assert_eq!(store.templates().template_count(&acme).await.unwrap(), 1);

    // The key is the business's own: another business's same key and body create afresh.
    let globex = business(&store, "globex").await;
    assert_eq!(
        store
            .templates()
            .create_template(&globex, &other, 2_000, Some((&key, "hash-b")), NOW)
            .await
            .unwrap(),
        TemplateCreated::Created
    );
    assert_eq!(store.templates().template_count(&globex).await.unwrap(), 1);
}

#[tokio::test]
async fn approval_records_viber_s_id_and_operator_templates_keep_working() {
    let (_env, store) = fresh().await;
    let acme = business(&store, "acme").await;
    let mine = draft("Hi {{name}}");
    store
        .templates()
        .create_template(&acme, &mine, 2_000, None, NOW)
        .await
        .unwrap();
    let viber = TemplateId::parse("9d2f6a3c-1b2e-4c5d-8e9f-0a1b2c3d4e5f").unwrap();
    let Ok(Moderated::Changed(approved)) = mine.moderate(&Moderation::Approve {
        viber_id: Some(viber.clone()),
    }) else {
        panic!("approves")
    };
    assert!(
        store
            .templates()
            .set_template_state(&acme, &mine, &approved, NOW)
            .await
            .unwrap()
    );
    let read = store
        .templates()
        .get_template(&acme, mine.id())
        .await
        .unwrap()
        .unwrap();
    assert!(read.is_approved());
    assert_eq!(read.viber_template_id(), &viber);

    // An operator's template as `vbmctl template put` wrote it before states existed: only
    // `approved = false`. It reads as pending review, and moderation moves it.
    let legacy = TemplateId::parse("welcome").unwrap();
    store
        .client()
        .put_item()
        .table_name(store.table())
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("BIZ#acme".into()),
        )
        .item(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("TEMPLATE#welcome".into()),
        )
        .item(
            "template_id",
            aws_sdk_dynamodb::types::AttributeValue::S("welcome".into()),
        )
        .item(
            "lang",
            aws_sdk_dynamodb::types::AttributeValue::S("en".into()),
        )
        .item(
            "category",
            aws_sdk_dynamodb::types::AttributeValue::S("transactional".into()),
        )
        .item(
            "approved",
            aws_sdk_dynamodb::types::AttributeValue::Bool(false),
        )
        .item(
            "text",
            aws_sdk_dynamodb::types::AttributeValue::S("Welcome, {{name}}".into()),
        )
        .send()
        .await
        .unwrap();
    let old = store
        .templates()
        .get_template(&acme, &legacy)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.state(), TemplateState::PendingReview);
    assert_eq!(old.language(), &Language::parse("en").unwrap());
    assert_eq!(old.category(), TemplateCategory::Transactional);
    let Ok(Moderated::Changed(ok)) = old.moderate(&Moderation::Approve { viber_id: None }) else {
        panic!("approves")
    };
    assert!(
        store
            .templates()
            .set_template_state(&acme, &old, &ok, NOW)
            .await
            .unwrap()
    );
    let now_approved = store
        .templates()
        .get_template(&acme, &legacy)
        .await
        .unwrap()
        .unwrap();
    assert!(now_approved.is_approved());
    assert_eq!(
        now_approved.viber_template_id(),
        &legacy,
        "registered under Viber's id"
    );
    // Deleting an operator's template counts nothing down (it was never counted).
    assert!(
        store
            .templates()
            .delete_template(&acme, &now_approved, NOW)
            .await
            .unwrap()
    );
    assert_eq!(store.templates().template_count(&acme).await.unwrap(), 1);
}
