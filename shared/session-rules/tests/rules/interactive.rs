//! Viber's list and carousel limits, over the whole input space (docs/viber.md, "Lists and
//! carousels").

use proptest::prelude::*;
use session_rules::{
    Carousel, List, ListDelivery, MAX_CARD_TITLE_CHARS, MAX_CAROUSEL_CARDS, MAX_LIST_OPTION_CHARS,
    MAX_LIST_OPTIONS, MAX_LIST_TITLE_CHARS, MAX_PRIMARY_LABEL_CHARS, MAX_SECONDARY_LABEL_CHARS,
    MIN_CAROUSEL_CARDS, MIN_LIST_OPTIONS, RawCardRef,
};

/// A visible word of letters (no links, no blanks, no control characters).
fn word(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![Just('a'), Just('я'), Just('ü'), Just('😀')],
        1..=max,
    )
    .prop_map(|c| c.into_iter().collect())
}

proptest! {
    #[test]
    fn a_list_is_accepted_exactly_within_vibers_limits(
        title in word(MAX_LIST_TITLE_CHARS + 5),
        options in proptest::collection::vec(word(MAX_LIST_OPTION_CHARS + 5), 0..=MAX_LIST_OPTIONS + 2),
    ) {
        let mut distinct = options.clone();
        distinct.sort();
        distinct.dedup();
        let fits = title.chars().count() <= MAX_LIST_TITLE_CHARS
            && (MIN_LIST_OPTIONS..=MAX_LIST_OPTIONS).contains(&options.len())
            && options.iter().all(|o| o.chars().count() <= MAX_LIST_OPTION_CHARS)
            && distinct.len() == options.len();
        let parsed = List::parse(&title, &options, ListDelivery::Session);
        prop_assert_eq!(parsed.is_ok(), fits, "{:?}", parsed);
        if let Ok(list) = parsed {
            for (i, option) in options.iter().enumerate() {
                prop_assert_eq!(list.chosen(option), Some(i));
            }
        } else {
            prop_assert_eq!(parsed.unwrap_err().code(), "validation_failed");
        }
    }

    #[test]
    fn a_carousel_is_accepted_exactly_within_vibers_limits(
        titles in proptest::collection::vec(word(MAX_CARD_TITLE_CHARS + 3), 0..=MAX_CAROUSEL_CARDS + 2),
        primary in word(MAX_PRIMARY_LABEL_CHARS + 2),
        secondary in proptest::option::of(word(MAX_SECONDARY_LABEL_CHARS + 2)),
    ) {
        let cards: Vec<RawCardRef<'_>> = titles
            .iter()
            .map(|t| RawCardRef { title: t, image_url: "https://cdn.example/i.png",
                                  primary: (&primary, "https://shop.example/1"),
                                  secondary: secondary.as_deref()
                                      .map(|s| (s, "https://shop.example/2")) })
            .collect();
        let fits = (MIN_CAROUSEL_CARDS..=MAX_CAROUSEL_CARDS).contains(&titles.len())
            && titles.iter().all(|t| (2..=MAX_CARD_TITLE_CHARS).contains(&t.chars().count()))
            && primary.chars().count() <= MAX_PRIMARY_LABEL_CHARS
            && secondary.as_ref().is_none_or(|s| s.chars().count() <= MAX_SECONDARY_LABEL_CHARS);
        let parsed = Carousel::parse("New in", &cards);
        prop_assert_eq!(parsed.is_ok(), fits, "{:?}", parsed);
    }
}
