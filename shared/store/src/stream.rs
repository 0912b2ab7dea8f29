//! The table's items as its stream carries them (DynamoDB Streams images, as `aws_lambda_events`
//! delivers them): what `relay` and `lifecycle` read of a record, decoded here, beside the
//! formats that write the items, so a reader never spells a key prefix or an attribute name.
//!
//! An image is converted to the SDK's attribute map and read with the store's own readers.
//! A record this module cannot read is told apart from one it need not read, never an error:
//! a stream stalls behind a record its consumer fails.

use aws_sdk_dynamodb::types::AttributeValue;
use session_rules::{Conversation, HeldState, PhoneNumber, Session, Timestamp};

use crate::attrs::{self, Item};
use crate::campaigns::STATE;
use crate::conversation::{
    CONSECUTIVE, CONTACTED, ERASING, MESSAGES_SENT, OPTED_OUT, SESSION_STARTED_AT, UPDATED_AT,
};
use crate::{BusinessId, CampaignId, Hold, MessageId, keys};

/// A stream image as the store reads items.
fn item(image: &serde_dynamo::Item) -> Item {
    image
        .iter()
        .map(|(name, value)| (name.clone(), AttributeValue::from(value.clone())))
        .collect()
}

fn key<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    attrs::opt_s(item, name).ok().flatten()
}

/// What a conversation item's image says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationImage {
    /// No conversation (no image, or one without the conversation's attributes yet: the
    /// emulator's first `INSERT` of an update carries the keys only).
    Absent,
    /// Under erasure: nothing about it is told any more.
    Erasing,
    /// The conversation, and when it was written (`updated_at`).
    Conversation(Conversation, Option<Timestamp>),
}

/// The business and the user a record's keys name, when they are a conversation's.
pub fn conversation_keys(keys: &serde_dynamo::Item) -> Option<(BusinessId, PhoneNumber)> {
    let keys = item(keys);
    let business = key(&keys, keys::PK)?.strip_prefix(keys::BUSINESS_PREFIX)?;
    let phone = key(&keys, keys::SK)?.strip_prefix(keys::CONVERSATION_PREFIX)?;
    Some((
        BusinessId::parse(business).ok()?,
        PhoneNumber::parse(phone).ok()?,
    ))
}

/// Reads a conversation image. A session whose counters do not parse is read as no session.
pub fn conversation(image: &serde_dynamo::Item) -> ConversationImage {
    let image = item(image);
    if image.contains_key(ERASING) {
        return ConversationImage::Erasing;
    }
    let flag = |name| match image.get(name) {
        Some(AttributeValue::Bool(value)) => Some(*value),
        _ => None,
    };
    let (Some(opted_out), Some(contacted)) = (flag(OPTED_OUT), flag(CONTACTED)) else {
        return ConversationImage::Absent;
    };
    let number = |name| attrs::opt_n::<i64>(&image, name).ok().flatten();
    let session = number(SESSION_STARTED_AT).and_then(|started| {
        Some(Session {
            started_at: Timestamp::from_millis(started),
            messages_sent: attrs::get_n(&image, MESSAGES_SENT).ok()?,
            consecutive: attrs::get_n(&image, CONSECUTIVE).ok()?,
        })
    });
    ConversationImage::Conversation(
        Conversation {
            session,
            opted_out,
            contacted,
        },
        number(UPDATED_AT).map(Timestamp::from_millis),
    )
}

/// A held message's image (`wait_for_session`, `held.rs`), as far as its events need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldImage {
    pub business: BusinessId,
    pub id: MessageId,
    pub to: String,
    pub state: HeldState,
    pub until: Timestamp,
    pub fallback: bool,
    pub settled_at: Option<Timestamp>,
    pub reason: Option<String>,
    /// The campaign whose chunk held it, if one did.
    pub campaign: Option<crate::CampaignId>,
}

/// Reads a held message's image (`None`: not one, or missing what it needs).
pub fn held(keys: &serde_dynamo::Item, image: &serde_dynamo::Item) -> Option<HeldImage> {
    let keys = item(keys);
    let business = key(&keys, keys::PK)?.strip_prefix(keys::BUSINESS_PREFIX)?;
    let id = key(&keys, keys::SK)?.strip_prefix(keys::HELD_PREFIX)?;
    let image = item(image);
    let number = |name| attrs::opt_n::<i64>(&image, name).ok().flatten();
    Some(HeldImage {
        business: BusinessId::parse(business).ok()?,
        id: MessageId::parse(id)?,
        to: key(&image, "to")?.to_owned(),
        state: HeldState::parse(key(&image, "held_state")?)?,
        until: Timestamp::from_millis(number("until")?),
        fallback: image.contains_key("fallback_payload"),
        settled_at: number("settled_at").map(Timestamp::from_millis),
        reason: key(&image, "reason").map(str::to_owned),
        campaign: key(&image, crate::held::CAMPAIGN_ID).and_then(crate::CampaignId::parse),
    })
}

/// Whether a conversation image names held messages.
pub fn holds(image: &serde_dynamo::Item) -> bool {
    matches!(
        item(image).get(crate::held::HELD),
        Some(AttributeValue::Ss(ids)) if !ids.is_empty()
    )
}

/// What the `INSERT` of an item says to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// A message accepted: what its outbound job names.
    Message {
        business: String,
        message: String,
        to: String,
    },
    /// A message item without what a job needs (`why`).
    MalformedMessage(&'static str),
    /// Not a message.
    Other,
}

/// Reads an inserted item's keys and new image.
pub fn inserted(keys: &serde_dynamo::Item, new_image: &serde_dynamo::Item) -> Inserted {
    let keys = item(keys);
    if !key(&keys, keys::SK).is_some_and(|sk| sk.starts_with(keys::MESSAGE_PREFIX)) {
        return Inserted::Other;
    }
    let image = item(new_image);
    let field = |name| {
        key(&image, name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let Some(business) = field(crate::message::BUSINESS_ID) else {
        return Inserted::MalformedMessage("no business_id in the new image");
    };
    let Some(message) = field(crate::message::MESSAGE_ID) else {
        return Inserted::MalformedMessage("no message_id in the new image");
    };
    let Some(to) = field(crate::message::TO) else {
        return Inserted::MalformedMessage("no recipient in the new image");
    };
    Inserted::Message {
        business,
        message,
        to,
    }
}

/// The hold a modification lifts: a business profile that lost `disabled`, or a campaign that
/// left `paused`.
pub fn lifted_hold(
    keys: &serde_dynamo::Item,
    old_image: &serde_dynamo::Item,
    new_image: &serde_dynamo::Item,
) -> Option<(BusinessId, Hold)> {
    let keys = item(keys);
    let business = key(&keys, keys::PK)?.strip_prefix(keys::BUSINESS_PREFIX)?;
    let business = BusinessId::parse(business).ok()?;
    let sk = key(&keys, keys::SK)?;
    let (old, new) = (item(old_image), item(new_image));
    let hold = if sk == keys::PROFILE {
        let disabled =
            |image: &Item| attrs::get_bool(image, crate::business::DISABLED).unwrap_or(false);
        (disabled(&old) && !disabled(&new)).then_some(Hold::Business)?
    } else {
        let campaign = CampaignId::parse(sk.strip_prefix(keys::CAMPAIGN_PREFIX)?)?;
        let paused = |image: &Item| key(image, STATE) == Some("paused");
        (paused(&old) && !paused(&new)).then_some(Hold::Campaign(campaign))?
    };
    Some((business, hold))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde_dynamo::AttributeValue as V;

    use super::*;

    fn image(pairs: &[(&str, V)]) -> serde_dynamo::Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<HashMap<_, _>>()
            .into()
    }

    fn s(v: &str) -> V {
        V::S(v.to_owned())
    }

    /// The image of an item as the store writes it (`conversation::new_item`), read back.
    #[test]
    fn a_conversation_image_reads_as_the_store_wrote_it() {
        let business = BusinessId::parse("acme").unwrap();
        let to = PhoneNumber::parse("+447911123456").unwrap();
        let written = Conversation {
            session: Some(Session {
                started_at: Timestamp::from_millis(1_800_000_000_000),
                messages_sent: 3,
                consecutive: 2,
            }),
            opted_out: false,
            contacted: true,
        };
        let now = Timestamp::from_millis(1_800_000_000_500);
        let stored = crate::conversation::new_item(&business, &to, &written, now);
        let streamed: serde_dynamo::Item = stored
            .into_iter()
            .map(|(k, v)| (k, V::from(v)))
            .collect::<HashMap<_, _>>()
            .into();
        assert_eq!(
            conversation(&streamed),
            ConversationImage::Conversation(written, Some(now))
        );
        assert_eq!(conversation_keys(&streamed), Some((business, to)));
    }

    #[test]
    fn a_keys_only_image_is_absent_and_an_erasing_one_is_erasing() {
        assert_eq!(
            conversation(&image(&[("pk", s("BIZ#a"))])),
            ConversationImage::Absent
        );
        let erasing = image(&[
            ("opted_out", V::Bool(false)),
            ("contacted", V::Bool(true)),
            ("erasing", s("x")),
        ]);
        assert_eq!(conversation(&erasing), ConversationImage::Erasing);
    }

    #[test]
    fn a_session_whose_counters_do_not_parse_is_no_session() {
        let bad = image(&[
            ("opted_out", V::Bool(false)),
            ("contacted", V::Bool(true)),
            ("session_started_at", V::N("1800000000000".into())),
            ("messages_sent", s("three")),
        ]);
        let ConversationImage::Conversation(c, _) = conversation(&bad) else {
            panic!("a conversation");
        };
        assert_eq!(c.session, None);
    }

    #[test]
    fn keys_name_a_conversation_or_nothing() {
        let message = image(&[("pk", s("BIZ#acme")), ("sk", s("MSG#01JD"))]);
        assert_eq!(conversation_keys(&message), None);
    }

    #[test]
    fn an_inserted_message_names_its_job_and_anything_else_is_other() {
        let keys = image(&[("pk", s("BIZ#acme")), ("sk", s("MSG#01JD"))]);
        let full = image(&[
            ("business_id", s("acme")),
            ("message_id", s("01JD")),
            ("to", s("+447911123456")),
        ]);
        assert_eq!(
            inserted(&keys, &full),
            Inserted::Message {
                business: "acme".into(),
                message: "01JD".into(),
                to: "+447911123456".into()
            }
        );
        let no_to = image(&[("business_id", s("acme")), ("message_id", s("01JD"))]);
        assert_eq!(
            inserted(&keys, &no_to),
            Inserted::MalformedMessage("no recipient in the new image")
        );
        let conv = image(&[("pk", s("BIZ#acme")), ("sk", s("CONV#+447911123456"))]);
        assert_eq!(inserted(&conv, &full), Inserted::Other);
    }

    #[test]
    fn a_hold_is_lifted_when_disabled_or_paused_goes() {
        let profile = image(&[("pk", s("BIZ#acme")), ("sk", s("PROFILE"))]);
        let on = image(&[("disabled", V::Bool(true))]);
        let off = image(&[("disabled", V::Bool(false))]);
        let acme = BusinessId::parse("acme").unwrap();
        assert_eq!(
            lifted_hold(&profile, &on, &off),
            Some((acme.clone(), Hold::Business))
        );
        assert_eq!(lifted_hold(&profile, &off, &on), None);
        let id = "01JD0Z6Q9T3M8V4K2X7B5N1C0A";
        let campaign = image(&[
            ("pk", s("BIZ#acme")),
            ("sk", s(&format!("{}{id}", keys::CAMPAIGN_PREFIX))),
        ]);
        let paused = image(&[("campaign_state", s("paused"))]);
        let running = image(&[("campaign_state", s("running"))]);
        assert_eq!(
            lifted_hold(&campaign, &paused, &running),
            Some((acme, Hold::Campaign(CampaignId::parse(id).unwrap())))
        );
        assert_eq!(lifted_hold(&campaign, &running, &paused), None);
    }
}
