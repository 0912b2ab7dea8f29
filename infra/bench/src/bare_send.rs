//! The one call a send cannot do without, made directly with the SDK: a `TransactWriteItems` of
//! the same shape as the store's (a conditional `Update` of a conversation, a `Put` of a
//! message, `ALL_OLD` on failure). What the handler adds on top of it is its overhead. (The
//! bare message's sort key is `BARE#…`, not `MSG#…`, so the outbox passes it over: it names no
//! business `dispatch` could send for.)

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use crate::in_process::Error;

/// Where the bare sends write: a conversation of its own, beside the handler's.
pub struct BareSend {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    pk: String,
    phone: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn now_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

impl BareSend {
    /// Creates the conversation item the bare sends update (a contacted conversation without a
    /// session, as after a first transactional message).
    pub async fn prepare(
        dynamodb: aws_sdk_dynamodb::Client,
        table: &str,
        phone: &str,
    ) -> Result<Self, Error> {
        let bare = Self {
            dynamodb,
            table: table.to_owned(),
            pk: "BIZ#bare".into(),
            phone: phone.to_owned(),
        };
        bare.dynamodb
            .put_item()
            .table_name(&bare.table)
            .item("pk", s(&bare.pk))
            .item("sk", s(format!("CONV#{phone}")))
            .item("phone", s(phone))
            .item("opted_out", AttributeValue::Bool(false))
            .item("contacted", AttributeValue::Bool(true))
            .item("updated_at", n(now_millis()))
            .send()
            .await?;
        Ok(bare)
    }

    /// One send: the transaction.
    pub async fn send(&self, message_id: &str, payload: &str) -> Result<(), Error> {
        let now = now_millis();
        let values: HashMap<String, AttributeValue> = [
            (":e_oo", AttributeValue::Bool(false)),
            (":e_ct", AttributeValue::Bool(true)),
            (":r_false", AttributeValue::Bool(false)),
            (":a_phone", s(&self.phone)),
            (":a_gsi", s(format!("CONTACT#bare#{}", self.phone))),
            (":a_gsisk", s(format!("CONV#{}", self.phone))),
            (":a_oo", AttributeValue::Bool(false)),
            (":a_ct", AttributeValue::Bool(true)),
            (":a_now", n(now)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(&self.pk))
            .key("sk", s(format!("CONV#{}", self.phone)))
            .condition_expression(
                "(attribute_exists(pk) AND opted_out = :e_oo AND contacted = :e_ct AND \
                 attribute_not_exists(session_started_at)) AND (attribute_not_exists(pk) OR \
                 opted_out = :r_false)",
            )
            .update_expression(
                "SET phone = :a_phone, gsi1pk = :a_gsi, gsi1sk = :a_gsisk, opted_out = :a_oo, \
                 contacted = :a_ct, updated_at = :a_now REMOVE session_started_at, \
                 messages_sent, consecutive",
            )
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()?;
        let history = AttributeValue::L(vec![AttributeValue::M(HashMap::from([
            ("status".to_owned(), s("accepted")),
            ("at".to_owned(), n(now)),
        ]))]);
        let message = Put::builder()
            .table_name(&self.table)
            .item("pk", s(&self.pk))
            .item("sk", s(format!("BARE#{message_id}")))
            .item("gsi1pk", s(format!("CONTACT#bare#{}", self.phone)))
            .item("gsi1sk", s(format!("MSG#{message_id}")))
            .item("message_id", s(message_id))
            .item("business_id", s("bare"))
            .item("to", s(&self.phone))
            .item("kind", s("transactional"))
            .item("class", s("informative"))
            .item("payload", s(payload))
            .item("status", s("accepted"))
            .item("status_rank", n(0))
            .item("history", history)
            .item("created_at", n(now))
            .item("expires_at", n(now / 1000 + 30 * 24 * 3600))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()?;
        self.dynamodb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().put(message).build())
            .send()
            .await?;
        Ok(())
    }
}
