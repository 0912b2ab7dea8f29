//! A conversation item as the table's stream carries it (`vbm_store`'s layout: `pk`
//! `BIZ#{business}`, `sk` `CONV#{e164}`).

use serde_dynamo::{AttributeValue, Item};
use session_rules::{Conversation, PhoneNumber, Session, Timestamp};
use vbm_store::BusinessId;

/// What one image says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Image {
    /// No conversation (no image, or one without the conversation's attributes yet).
    Absent,
    /// Under erasure (`erasing`): nothing about it is told any more.
    Erasing,
    /// The conversation, and when it was written (`updated_at`).
    Conversation(Conversation, Option<Timestamp>),
}

fn number<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

fn boolean(item: &Item, name: &str) -> Option<bool> {
    match item.get(name) {
        Some(AttributeValue::Bool(b)) => Some(*b),
        _ => None,
    }
}

fn string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

/// The business and the user a record's keys name, when they are a conversation's.
pub fn keys(keys: &Item) -> Option<(BusinessId, PhoneNumber)> {
    let business = string(keys, "pk")?.strip_prefix("BIZ#")?;
    let phone = string(keys, "sk")?.strip_prefix("CONV#")?;
    Some((
        BusinessId::parse(business).ok()?,
        PhoneNumber::parse(phone).ok()?,
    ))
}

/// Reads an image. A session whose counters do not parse is read as no session rather than
/// failing the record forever: the stream would stall behind it.
pub fn read(item: &Item) -> Image {
    if item.get("erasing").is_some() {
        return Image::Erasing;
    }
    let (Some(opted_out), Some(contacted)) =
        (boolean(item, "opted_out"), boolean(item, "contacted"))
    else {
        return Image::Absent;
    };
    let session = number::<i64>(item, "session_started_at").and_then(|started| {
        Some(Session {
            started_at: Timestamp::from_millis(started),
            messages_sent: number(item, "messages_sent")?,
            consecutive: number(item, "consecutive")?,
        })
    });
    Image::Conversation(
        Conversation {
            session,
            opted_out,
            contacted,
        },
        number::<i64>(item, "updated_at").map(Timestamp::from_millis),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<HashMap<_, _>>()
            .into()
    }

    #[test]
    fn images_read_as_the_store_writes_them() {
        let full = item(&[
            ("opted_out", AttributeValue::Bool(false)),
            ("contacted", AttributeValue::Bool(true)),
            (
                "session_started_at",
                AttributeValue::N("1800000000000".into()),
            ),
            ("messages_sent", AttributeValue::N("3".into())),
            ("consecutive", AttributeValue::N("2".into())),
            ("updated_at", AttributeValue::N("1800000000500".into())),
        ]);
        let Image::Conversation(c, at) = read(&full) else {
            panic!("a conversation");
        };
        assert_eq!(c.session.unwrap().messages_sent, 3);
        assert_eq!(at, Some(Timestamp::from_millis(1_800_000_000_500)));
        // The emulator's first INSERT of an update carries the keys only.
        assert_eq!(
            read(&item(&[("pk", AttributeValue::S("BIZ#a".into()))])),
            Image::Absent
        );
        let erasing = item(&[
            ("opted_out", AttributeValue::Bool(false)),
            ("contacted", AttributeValue::Bool(true)),
            ("erasing", AttributeValue::S("x".into())),
        ]);
        assert_eq!(read(&erasing), Image::Erasing);
    }

    #[test]
    fn keys_name_a_conversation_or_nothing() {
        let k = item(&[
            ("pk", AttributeValue::S("BIZ#acme".into())),
            ("sk", AttributeValue::S("CONV#+447911123456".into())),
        ]);
        let (b, p) = keys(&k).unwrap();
        assert_eq!((b.as_str(), p.as_e164()), ("acme", "+447911123456"));
        let m = item(&[
            ("pk", AttributeValue::S("BIZ#acme".into())),
            ("sk", AttributeValue::S("MSG#01JD".into())),
        ]);
        assert!(keys(&m).is_none());
    }
}
