//! Reading attribute maps without panics: a missing or mistyped attribute is a
//! [`StoreError::Malformed`], never an `unwrap`.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::StoreError;

/// Every item a query finds, page after page (the SDK's paginator, which stops at the first
/// page without a `LastEvaluatedKey`, or with an empty one).
pub async fn query_all(query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
    let mut all = Vec::new();
    query_each(query, |item| {
        all.push(item);
        Ok(())
    })
    .await?;
    Ok(all)
}

/// [`query_all`] handing each item to `each` as its page arrives, keeping none: for queries
/// whose items add up to more than a function should hold (an uploaded list's chunks).
pub async fn query_each(
    query: QueryFluentBuilder,
    mut each: impl FnMut(Item) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut items = query.into_paginator().items().send();
    while let Some(item) = items.next().await {
        each(item.map_err(StoreError::sdk)?)?;
    }
    Ok(())
}

/// [`query_all`] for a scan (admin commands only: a scan reads the whole table).
pub async fn scan_all(scan: ScanFluentBuilder) -> Result<Vec<Item>, StoreError> {
    let pages = scan.into_paginator().items().send();
    pages
        .collect::<Result<_, _>>()
        .await
        .map_err(StoreError::sdk)
}

pub type Item = HashMap<String, AttributeValue>;

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn b(v: bool) -> AttributeValue {
    AttributeValue::Bool(v)
}

fn key_of(item: &Item) -> String {
    let part = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    format!("{}/{}", part("pk"), part("sk"))
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    opt_s(item, name)?.ok_or_else(|| StoreError::malformed(key_of(item), format!("{name} missing")))
}

pub fn opt_s<'a>(item: &'a Item, name: &str) -> Result<Option<&'a str>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        Some(_) => Err(StoreError::malformed(
            key_of(item),
            format!("{name} is not a string"),
        )),
    }
}

pub fn opt_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<Option<T>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| StoreError::malformed(key_of(item), format!("{name} is not a number"))),
        Some(_) => Err(StoreError::malformed(
            key_of(item),
            format!("{name} is not a number"),
        )),
    }
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    opt_n(item, name)?.ok_or_else(|| StoreError::malformed(key_of(item), format!("{name} missing")))
}

pub fn get_bool(item: &Item, name: &str) -> Result<bool, StoreError> {
    match item.get(name) {
        None => Ok(false),
        Some(AttributeValue::Bool(v)) => Ok(*v),
        Some(_) => Err(StoreError::malformed(
            key_of(item),
            format!("{name} is not a boolean"),
        )),
    }
}

pub fn opt_str_list(item: &Item, name: &str) -> Result<Vec<String>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(Vec::new()),
        Some(AttributeValue::L(values)) => values
            .iter()
            .map(|v| {
                v.as_s().cloned().map_err(|_| {
                    StoreError::malformed(key_of(item), format!("{name} holds a non-string"))
                })
            })
            .collect(),
        Some(AttributeValue::Ss(values)) => Ok(values.clone()),
        Some(_) => Err(StoreError::malformed(
            key_of(item),
            format!("{name} is not a list"),
        )),
    }
}

/// TTL deletion in DynamoDB lags (up to days) and the local emulator never deletes: an item past
/// its `expires_at` is treated as gone wherever it is read.
pub fn is_expired(item: &Item, now_secs: i64) -> bool {
    matches!(opt_n::<i64>(item, crate::keys::EXPIRES_AT), Ok(Some(at)) if at <= now_secs)
}
