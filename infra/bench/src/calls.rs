//! Counting AWS API calls as the SDK makes them: an interceptor added to the DynamoDB and SQS
//! client configurations, so the figures are measured, not read off the code. A `GetItem` is
//! named with what it reads: `DynamoDB.GetItem(CONV)`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::get_item::GetItemInput;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Calls by `Service.Operation` (`DynamoDB.TransactWriteItems`), and HTTP attempts (retries
/// included) in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub calls: BTreeMap<String, usize>,
    pub attempts: usize,
}

impl Tally {
    pub fn total(&self) -> usize {
        self.calls.values().sum()
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Tally) -> Tally {
        let calls = self
            .calls
            .iter()
            .filter_map(|(op, n)| {
                let diff = n - earlier.calls.get(op).copied().unwrap_or(0);
                (diff > 0).then(|| (op.clone(), diff))
            })
            .collect();
        Tally {
            calls,
            attempts: self.attempts - earlier.attempts,
        }
    }

    /// `DynamoDB.TransactWriteItems, SQS.SendMessage` (`×n` when more than one).
    pub fn describe(&self) -> String {
        if self.calls.is_empty() {
            return "none".into();
        }
        self.calls
            .iter()
            .map(|(op, n)| match n {
                1 => op.clone(),
                n => format!("{op} ×{n}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What a `GetItem` reads, by the start of its sort key (`CONV`, `MSG`, `KEY`, `PROFILE`, ...).
fn item_kind(input: &GetItemInput) -> Option<String> {
    let sk = input.key()?.get("sk")?.as_s().ok()?;
    Some(sk.split('#').next().unwrap_or(sk).to_owned())
}

/// The interceptor; clones share one tally. Add it to every client whose calls should count.
#[derive(Debug, Clone, Default)]
pub struct CallCounter(Arc<Mutex<Tally>>);

impl CallCounter {
    pub fn snapshot(&self) -> Tally {
        self.0.lock().map(|tally| tally.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut Tally)) {
        if let Ok(mut tally) = self.0.lock() {
            f(&mut tally);
        }
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "vbm-bench-call-counter"
    }

    // Once per operation call, whatever its retries (not `read_before_execution`: a client
    // interceptor runs that before the operation's configuration, which names it, is applied).
    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut op = cfg.load::<Metadata>().map_or_else(
            || "unknown".to_owned(),
            |m| format!("{}.{}", m.service(), m.name()),
        );
        if let Some(kind) = context
            .input()
            .downcast_ref::<GetItemInput>()
            .and_then(item_kind)
        {
            op.push_str(&format!("({kind})"));
        }
        self.update(|tally| *tally.calls.entry(op).or_default() += 1);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.update(|tally| tally.attempts += 1);
        Ok(())
    }
}

/// DynamoDB and SQS clients for `sdk`, both counted by `counter`.
pub fn counted_clients(
    sdk: &aws_config::SdkConfig,
    counter: &CallCounter,
) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(counter.clone())
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .interceptor(counter.clone())
            .build(),
    );
    (dynamodb, sqs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(calls: &[(&str, usize)], attempts: usize) -> Tally {
        Tally {
            calls: calls.iter().map(|(op, n)| (op.to_string(), *n)).collect(),
            attempts,
        }
    }

    #[test]
    fn differences_keep_only_what_happened() {
        let before = tally(&[("DynamoDB.GetItem", 3), ("SQS.SendMessage", 1)], 4);
        let after = tally(
            &[
                ("DynamoDB.GetItem", 3),
                ("DynamoDB.TransactWriteItems", 1),
                ("SQS.SendMessage", 3),
            ],
            7,
        );
        let diff = after.since(&before);
        assert_eq!(
            diff,
            tally(
                &[("DynamoDB.TransactWriteItems", 1), ("SQS.SendMessage", 2)],
                3
            )
        );
        assert_eq!(diff.total(), 3);
        assert_eq!(
            diff.describe(),
            "DynamoDB.TransactWriteItems, SQS.SendMessage ×2"
        );
        assert_eq!(Tally::default().describe(), "none");
    }
}
