//! The DynamoDB adapter: everything vbm-serverless stores, in one table.
//!
//! Layout (`pk`, `sk`; `gsi1pk`/`gsi1sk` index every item about one contact, for erasure;
//! `expires_at` is the TTL attribute, epoch seconds):
//!
//! | item             | pk                    | sk                   |
//! |------------------|-----------------------|----------------------|
//! | business         | `BIZ#{business}`      | `PROFILE`            |
//! | service id → biz | `SERVICE#{service_id}`| `SERVICE` (+ `kind`) |
//! | API key → biz    | `KEY#{sha256(key)}`   | `KEY`                |
//! | template         | `BIZ#{business}`      | `TEMPLATE#{id}`      |
//! | conversation     | `BIZ#{business}`      | `CONV#{e164}`        |
//! | message          | `BIZ#{business}`      | `MSG#{message_id}`   |
//! | idempotency      | `BIZ#{business}`      | `IDEM#{key}`         |
//! | user message     | `BIZ#{business}`      | `INBOUND#{token}`    |
//! | Viber token → msg| `TOKEN#{token}`       | `TOKEN`              |
//! | quarantined cb   | `QUARANTINE`          | `Q#{id}`             |
//! | business event   | `BIZ#{business}`      | `EVENT#{event_id}`   |
//! | allowance        | `BIZ#{business}`      | `ALLOW#{what}#{window}` |
//! | cap counter      | `BIZ#{business}`      | `CAPUSE#{period}#{window}#{subject}` (`caps.rs`) |
//! | parked job       | `BIZ#{business}`      | `PARKED#{hold}#{work}` (`parked.rs`) |
//! | held message     | `BIZ#{business}`      | `HELD#{message_id}` (`held.rs`) |
//! | usage shard      | `BIZ#{business}`      | `USAGE#{yyyy-mm-dd}#{shard}` (`usage.rs`) |
//!
//! Campaign items (campaign, chunks, create keys, count shards) are described in `campaigns.rs`
//! and `campaign_counts.rs`; a template creation's key (`TIDEM#{key}`) in `templates.rs`. Every
//! key is built in [`keys`], but for the cap and SMS counters' (`caps.rs`, `sms.rs`).
//!
//! A message may carry an SMS failover (`failover`, `fo_*`: see `failover.rs`).
//!
//! A `TOKEN` item may also hold status callbacks that came before the token was recorded
//! (`pending_{status}`, see `pending_status.rs`); until `message_id` is there, the token is unknown.
//!
//! The face is grouped by what is stored: [`Store`] holds the client, the table, the limits and
//! the retention, and hands out a view per aggregate ([`Store::businesses`],
//! [`Store::templates`], [`Store::conversations`], [`Store::messages`], [`Store::campaigns`],
//! [`Store::events`], and the smaller [`Store::quarantine`], [`Store::pace`],
//! [`Store::parking`], [`Store::allowances`], [`Store::erasure`]): a borrow of the store,
//! free to make, whose methods read and write that aggregate's items
//! (`store.messages().record_send(&send)`).
//!
//! The rules live in `session-rules` (a campaign's states, controls and windows in
//! `session_rules::campaign`, a failover's request, spec and triggers in
//! `session_rules::failover`); this crate stores them and makes them atomic. A send is one
//! `TransactWriteItems` whose conversation condition is built from the same [`Limits`] and which
//! also pins the exact state the decision was made on, so the answer's session snapshot is exact
//! without a read after the write (see [`send`]).

// Fixed-window allowances: replay calls, upload slots.
pub mod allowance;
mod api_keys;
mod attrs;
mod business;
mod business_cache;
mod cancelled;
// Caps per billing category and on campaign recipients, counted in the admitting write.
pub mod caps;
// Campaigns: the campaign, chunk and create-key items, and the batched admission.
mod campaign_admit;
// a campaign's messages counted by status, in shards.
pub mod campaign_counts;
pub mod campaign_upload;
pub mod campaigns;
// Viber's pace: per-business GCRA lanes.
mod conversation;
mod creation_key;
mod erase;
// Erasure's reach into campaign chunks, campaign messages and the quarantine.
pub mod erase_campaigns;
mod error;
mod failover;
// Messages waiting for the user's reply.
mod held;
mod ids;
// the delivery log of business events.
pub mod event_log;
pub mod keys;
mod message;
// What dispatch records once Viber has answered: sent, failed or cancelled.
mod message_outcome;
// A message's status callbacks, and the Viber token that finds the message.
mod message_status;
pub mod pace;
// Work held back while its business is disabled or its campaign paused.
mod parked;
// Status callbacks that came before their token was recorded.
mod pending_status;
mod profile;
mod quarantine;
// At most one pending redelivery per logged event (replay).
pub mod redelivery;
pub mod send;
mod sms;
pub mod stream;
mod suppression;
mod template_cache;
mod templates;
mod ttl_cache;
// A business's usage counters per day, in shards, moved in the writes they count.
pub mod usage;
// A user's message: the conversation it opens or unlocks, and its de-duplication record.
mod user_message;

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use session_rules::Limits;

pub use allowance::{Allowance, Use};
pub use api_keys::{KeyInfo, KeyState, MAX_LIVE_KEYS, key_id, now_secs};
pub use business::{ApiKey, ApiKeyHash, Business, BusinessId, BusinessUpdate, NewBusiness};
pub use business_cache::BusinessCache;
pub use campaign_admit::{
    Admitted, Candidate, Chunk, ChunkRef, MAX_TRANSACT_ITEMS, Previewed, QUOTA_REFUSAL,
};
pub use campaign_upload::{CampaignUpload, Cursor, NewUpload, Settle, UploadFormat};
pub use campaigns::{Campaign, CampaignId, ControlOutcome, CreateOutcome, NewCampaign};
pub use caps::{CapCount, CapNotice};
pub use error::StoreError;
pub use event_log::{
    Attempt, AttemptRecord, DeliveryState, EventCursor, EventQuery, LoggedEvent, QueuedRecord,
};
pub use failover::{AttemptEnd, Claim};
pub use held::{HeldFallback, HeldMessage, HoldOutcome, HoldPreview, HoldRecord, NewHold, Settled};
pub use message::{Failure, HistoryEntry, MessageId, MessageRecord};
pub use message_outcome::{Marked, Sent};
pub use message_status::{MAX_HISTORY, StatusChange, TokenRef};
pub use parked::{Hold, Parked, ParkedQueue};
pub use pending_status::{Kept, PendingStatus};
pub use quarantine::{QuarantineReason, Quarantined, quarantine_id};
pub use send::{IdempotencyKey, NewSend, SendOutcome, SendPreview};
pub use sms::{SmsCounts, SmsUsage};
pub use template_cache::TemplateCache;
pub use templates::{TemplateCreated, new_template_id};
pub use ttl_cache::TtlCache;
pub use user_message::{InboundContent, InboundOutcome, InboundRecord};

/// How long things are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Messages and their status history.
    pub messages: Duration,
    /// Idempotency records: a retry after this is a new request.
    pub idempotency: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            messages: Duration::from_secs(30 * 24 * 3600),
            idempotency: Duration::from_secs(24 * 3600),
        }
    }
}

impl Retention {
    /// Messages kept for `messages` (a deployment's `RETENTION_DAYS`), the rest as default.
    pub fn keeping_messages(messages: Duration) -> Self {
        Self {
            messages,
            ..Self::default()
        }
    }
}

/// The table, with the limits its conditions are built from. Cheap to share: build one per
/// process and pass references around.
#[derive(Debug)]
pub struct Store {
    client: Client,
    table: String,
    limits: Limits,
    retention: Retention,
    conversations: conversation::Cache,
    suppression_keys: suppression::KeyCache,
}

/// Declares the store's views: each a borrow of the [`Store`] that groups the methods on one
/// aggregate (what they store), made by an accessor of the same name. A view derefs to the
/// store, so its methods share the table's plumbing (client, table, item helpers) unchanged.
macro_rules! views {
    ($($(#[$doc:meta])* $accessor:ident => $View:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $View<'a>(&'a Store);

            impl std::ops::Deref for $View<'_> {
                type Target = Store;

                fn deref(&self) -> &Store {
                    self.0
                }
            }
        )*

        impl Store {
            $(
                $(#[$doc])*
                pub fn $accessor(&self) -> $View<'_> {
                    $View(self)
                }
            )*
        }
    };
}

views! {
    /// Businesses: the profile, services, API keys and callback secret, prices, caps and
    /// their counters, the SMS policy and SMS counters, the failover default, usage.
    businesses => Businesses;
    /// Templates: a business's message templates and their creation keys.
    templates => Templates;
    /// Conversations: the session state, opt-out, user messages, the lock on Viber's 21.
    conversations => Conversations;
    /// Messages: sends and their idempotency records, statuses and pending statuses, Viber
    /// tokens, what dispatch records, SMS failover, held messages.
    messages => Messages;
    /// Campaigns: the campaign, its chunks and admission, uploads, counts by status.
    campaigns => Campaigns;
    /// Business events: the delivery log and redeliveries.
    events => Events;
    /// Callbacks that could not be handled, kept for an operator.
    quarantine => Quarantine;
    /// Viber's pace: per-business (and per-service) rates and their GCRA lanes.
    pace => Pace;
    /// Work parked while its business is disabled or its campaign paused.
    parking => Parking;
    /// Fixed-window allowances: replay calls, upload slots.
    allowances => Allowances;
    /// Erasure of everything stored about one contact.
    erasure => Erasure;
}

impl Store {
    pub fn new(
        client: Client,
        table: impl Into<String>,
        limits: Limits,
        retention: Retention,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            limits,
            retention,
            conversations: conversation::Cache::default(),
            suppression_keys: suppression::KeyCache::default(),
        }
    }

    /// The store as every function's wiring builds it, once per process: a DynamoDB client on
    /// the process's SDK configuration, the table, the session limits and how long messages
    /// are kept (each read from the function's settings).
    pub fn connect(
        sdk: &aws_types::SdkConfig,
        table: impl Into<String>,
        limits: Limits,
        messages_kept: Duration,
    ) -> Self {
        Self::new(
            Client::new(sdk),
            table,
            limits,
            Retention::keeping_messages(messages_kept),
        )
    }

    /// The init warm-up's step for the table (`vbm_platform::warm`): looks up an API key
    /// nobody has (a fresh random one), one `GetItem` that finds nothing through the same
    /// code a request's key takes, which opens the connection the first event reuses.
    pub async fn warm_up(&self) -> Result<(), String> {
        match self
            .businesses()
            .business_by_api_key(&ApiKey::generate())
            .await
        {
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err("a random API key matched a business".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// An `UpdateItem` of one of a business's items (`BIZ#{business}`, `sk`), for the caller's
    /// condition and expression.
    pub(crate) fn update_business_item(
        &self,
        business: &BusinessId,
        sk: impl Into<String>,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, attrs::s(keys::business(business)))
            .key(keys::SK, attrs::s(sk))
    }

    /// One item by key, strongly consistent. With `now`, an item past its `expires_at` counts as
    /// absent (TTL deletion lags, and the local emulator never deletes).
    pub(crate) async fn get_consistent(
        &self,
        pk: String,
        sk: String,
        now: Option<session_rules::Timestamp>,
    ) -> Result<Option<attrs::Item>, StoreError> {
        let item = self.read_item(pk, sk, true).await?;
        Ok(item.filter(|item| now.is_none_or(|now| !attrs::is_expired(item, now.as_secs()))))
    }

    /// One item by key, eventually consistent (half the read cost): for what changes rarely
    /// and is cached anyway (profiles, templates).
    pub(crate) async fn get_eventual(
        &self,
        pk: String,
        sk: String,
    ) -> Result<Option<attrs::Item>, StoreError> {
        self.read_item(pk, sk, false).await
    }

    async fn read_item(
        &self,
        pk: String,
        sk: String,
        consistent: bool,
    ) -> Result<Option<attrs::Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, attrs::s(pk))
            .key(keys::SK, attrs::s(sk))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(StoreError::sdk)?;
        Ok(out.item)
    }
}
