//! Viber's interactive types (API v11): a list the user answers with one tap, and a carousel of
//! cards. Only content that Viber's limits allow can exist.
//!
//! Limits and their sources (docs/viber.md, "Lists and carousels"): the public partner client
//! `andrey0001/n8n-nodes-viber-bm` (`types.ts` `LIMITS`, `GenericFunctions.ts`
//! `buildListOptions` / `buildCarouselItems`): a list has a title of at most 85 characters and
//! 2 to 10 options of at most 50 characters each; a carousel has 2 to 5 cards, each with a
//! title of 2 to 38 characters, an image, a primary button (label at most 10 characters) and an
//! optional secondary one (label at most 12). CM.com's "List messages" page: "Links are not
//! supported", and the user's answer is "the corresponding item text", sent as a reply.
//! Stricter than the sources, where they are silent: options must differ (the answer is the
//! option's text, so two equal options could not be told apart). Links in a list are "not
//! supported" (CM.com) but not refused: no source says Viber refuses them, and the API document
//! states every rule as a JSON Schema pattern, which cannot say "no link" (docs/viber.md).

use crate::content::is_blank;
use crate::{HttpsUrl, Refusal, Text};

/// Longest list title (the list's `#txt`), in characters.
pub const MAX_LIST_TITLE_CHARS: usize = 85;
/// Longest list option, in characters.
pub const MAX_LIST_OPTION_CHARS: usize = 50;
/// Fewest and most options a list has.
pub const MIN_LIST_OPTIONS: usize = 2;
pub const MAX_LIST_OPTIONS: usize = 10;
/// Fewest and most cards a carousel has.
pub const MIN_CAROUSEL_CARDS: usize = 2;
pub const MAX_CAROUSEL_CARDS: usize = 5;
/// Shortest and longest card title, in characters.
pub const MIN_CARD_TITLE_CHARS: usize = 2;
pub const MAX_CARD_TITLE_CHARS: usize = 38;
/// Longest label of a card's first (primary) button.
pub const MAX_PRIMARY_LABEL_CHARS: usize = 10;
/// Longest label of a card's second (secondary) button.
pub const MAX_SECONDARY_LABEL_CHARS: usize = 12;

/// Where a list goes: inside the session the user opened (Viber type 802), or as a
/// transactional list outside one (801: a legacy free-form transactional type since
/// 2026-07-01, so only for a business opted in to those). No public source has a promotional
/// list type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListDelivery {
    #[default]
    Session,
    Transactional,
}

impl ListDelivery {
    pub fn parse(input: &str) -> Option<Self> {
        match input {
            "session" => Some(Self::Session),
            "transactional" => Some(Self::Transactional),
            _ => None,
        }
    }
}

/// A question with 2 to 10 answers; the user taps one and Viber sends its text back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    title: String,
    options: Vec<String>,
    delivery: ListDelivery,
}

impl List {
    /// `title` and `options` as the business sent them; refusals name the field
    /// (`list.title`, `list.options`, `list.options[2]`).
    pub fn parse(title: &str, options: &[String], delivery: ListDelivery) -> Result<Self, Refusal> {
        plain_line("list.title", title, 1, MAX_LIST_TITLE_CHARS)?;
        if !(MIN_LIST_OPTIONS..=MAX_LIST_OPTIONS).contains(&options.len()) {
            return Err(Refusal::invalid(
                "list.options",
                format!(
                    "{MIN_LIST_OPTIONS} to {MAX_LIST_OPTIONS} options (got {})",
                    options.len()
                ),
            ));
        }
        for (i, option) in options.iter().enumerate() {
            plain_line(
                &format!("list.options[{i}]"),
                option,
                1,
                MAX_LIST_OPTION_CHARS,
            )?;
            if options[..i].contains(option) {
                return Err(Refusal::invalid(
                    format!("list.options[{i}]"),
                    "options must differ: the user's answer is the option's text",
                ));
            }
        }
        Ok(Self {
            title: title.to_owned(),
            options: options.to_vec(),
            delivery,
        })
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn options(&self) -> &[String] {
        &self.options
    }

    pub fn delivery(&self) -> ListDelivery {
        self.delivery
    }

    /// The option a user's answer names: Viber sends the tapped option's text (CM.com); an
    /// answer that is none of them is the user typing, not a choice.
    pub fn chosen(&self, answer: &str) -> Option<usize> {
        self.options.iter().position(|o| o == answer)
    }
}

/// A button on a card: a label and the HTTPS link it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardButton {
    pub label: String,
    pub url: HttpsUrl,
}

/// One card of a carousel: a title, an image, a primary button and maybe a secondary one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub title: String,
    pub image: HttpsUrl,
    pub primary: CardButton,
    pub secondary: Option<CardButton>,
}

/// A card as the business sends it, before any check: buttons as `(caption, url)`.
#[derive(Debug, Clone, Copy)]
pub struct RawCardRef<'a> {
    pub title: &'a str,
    pub image_url: &'a str,
    pub primary: (&'a str, &'a str),
    pub secondary: Option<(&'a str, &'a str)>,
}

/// Text above 2 to 5 cards (Viber type 901).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carousel {
    pub text: Text,
    pub cards: Vec<Card>,
}

impl Carousel {
    pub fn parse(text: &str, cards: &[RawCardRef<'_>]) -> Result<Self, Refusal> {
        let text = Text::parse("carousel.text", text)?;
        if !(MIN_CAROUSEL_CARDS..=MAX_CAROUSEL_CARDS).contains(&cards.len()) {
            return Err(Refusal::invalid(
                "carousel.cards",
                format!(
                    "{MIN_CAROUSEL_CARDS} to {MAX_CAROUSEL_CARDS} cards (got {})",
                    cards.len()
                ),
            ));
        }
        let cards = cards
            .iter()
            .enumerate()
            .map(|(i, card)| parse_card(i, card))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { text, cards })
    }
}

fn parse_card(i: usize, raw: &RawCardRef<'_>) -> Result<Card, Refusal> {
    let field = |name: &str| format!("carousel.cards[{i}].{name}");
    plain_line(
        &field("title"),
        raw.title,
        MIN_CARD_TITLE_CHARS,
        MAX_CARD_TITLE_CHARS,
    )?;
    let image = HttpsUrl::parse(&field("image_url"), raw.image_url)?;
    let button = |name: &str, (caption, url): (&str, &str), max: usize| {
        let name = field(name);
        plain_line(&format!("{name}.caption"), caption, 1, max)?;
        Ok::<_, Refusal>(CardButton {
            label: caption.to_owned(),
            url: HttpsUrl::parse(&format!("{name}.url"), url)?,
        })
    };
    let primary = button("primary_button", raw.primary, MAX_PRIMARY_LABEL_CHARS)?;
    let secondary = raw
        .secondary
        .map(|b| button("secondary_button", b, MAX_SECONDARY_LABEL_CHARS))
        .transpose()?;
    Ok(Card {
        title: raw.title.to_owned(),
        image,
        primary,
        secondary,
    })
}

/// One visible line of `min..=max` characters, without control characters (openapi.yaml's
/// `InteractiveLine`).
fn plain_line(field: &str, input: &str, min: usize, max: usize) -> Result<(), Refusal> {
    let chars = input.chars().count();
    if is_blank(input) {
        return Err(Refusal::invalid(field, "must not be empty"));
    }
    if !(min..=max).contains(&chars) {
        return Err(Refusal::invalid(
            field,
            format!("{min} to {max} characters (got {chars})"),
        ));
    }
    if input.chars().any(char::is_control) {
        return Err(Refusal::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("Option {i}")).collect()
    }

    fn field(r: Refusal) -> String {
        match r {
            Refusal::ValidationFailed { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_list_has_2_to_10_options() {
        for n in [2, 10] {
            let list = List::parse("Pick one", &options(n), ListDelivery::Session).unwrap();
            assert_eq!(list.options().len(), n);
        }
        for n in [0, 1, 11] {
            let err = List::parse("Pick one", &options(n), ListDelivery::Session).unwrap_err();
            assert_eq!(field(err), "list.options", "{n}");
        }
    }

    #[test]
    fn list_title_is_85_characters_and_options_50() {
        let ok = "я".repeat(85);
        assert!(List::parse(&ok, &options(2), ListDelivery::Session).is_ok());
        let long = "я".repeat(86);
        let err = List::parse(&long, &options(2), ListDelivery::Session).unwrap_err();
        assert_eq!(err.code(), "validation_failed");
        assert!(err.to_string().contains("85"), "{err}");
        let mut opts = options(2);
        opts[1] = "ы".repeat(50);
        assert!(List::parse("Pick", &opts, ListDelivery::Session).is_ok());
        opts[1] = "ы".repeat(51);
        let err = List::parse("Pick", &opts, ListDelivery::Session).unwrap_err();
        assert_eq!(field(err), "list.options[1]");
    }

    #[test]
    fn list_options_differ_and_are_visible_single_lines() {
        let same = vec!["Yes".to_string(), "Yes".to_string()];
        assert_eq!(
            field(List::parse("Pick", &same, ListDelivery::Session).unwrap_err()),
            "list.options[1]"
        );
        for bad in ["\u{200B}", " ", "a\nb", "tab\there"] {
            let opts = vec!["Yes".to_string(), bad.to_string()];
            assert_eq!(
                field(List::parse("Pick", &opts, ListDelivery::Session).unwrap_err()),
                "list.options[1]",
                "{bad:?}"
            );
        }
        assert_eq!(
            field(List::parse("", &options(2), ListDelivery::Session).unwrap_err()),
            "list.title"
        );
    }

    #[test]
    fn the_answer_names_an_option_by_its_text() {
        let list = List::parse("Pick", &options(3), ListDelivery::Session).unwrap();
        assert_eq!(list.chosen("Option 2"), Some(1));
        assert_eq!(list.chosen("option 2"), None);
        assert_eq!(list.chosen("something else"), None);
    }

    const BUY: (&str, &str) = ("Buy", "https://shop.example/1");
    const DETAILS: (&str, &str) = ("Details", "https://shop.example/1/d");

    fn card<'a>(title: &'a str, secondary: Option<(&'a str, &'a str)>) -> RawCardRef<'a> {
        RawCardRef {
            title,
            image_url: "https://cdn.example/a.png",
            primary: BUY,
            secondary,
        }
    }

    #[test]
    fn a_carousel_has_2_to_5_cards_of_one_or_two_buttons() {
        for n in [2, 5] {
            let cards = vec![card("Shoes", None); n];
            assert_eq!(Carousel::parse("New in", &cards).unwrap().cards.len(), n);
        }
        for n in [0, 1, 6] {
            let cards = vec![card("Shoes", None); n];
            assert_eq!(
                field(Carousel::parse("New in", &cards).unwrap_err()),
                "carousel.cards"
            );
        }
        let parsed = Carousel::parse(
            "New in",
            &[card("Shoes", Some(DETAILS)), card("Hats", None)],
        )
        .unwrap();
        assert_eq!(
            parsed.cards[0].secondary.as_ref().map(|b| b.label.as_str()),
            Some("Details")
        );
        assert_eq!(parsed.cards[1].secondary, None);
    }

    #[test]
    fn card_titles_are_2_to_38_and_labels_10_then_12() {
        for (title, ok) in [
            ("A", false),
            ("AB", true),
            (&*"t".repeat(38), true),
            (&*"t".repeat(39), false),
        ] {
            assert_eq!(
                Carousel::parse("x", &[card(title, None), card("Hats", None)]).is_ok(),
                ok,
                "{title}"
            );
        }
        let labels = |primary: &'static str, secondary: &'static str| {
            let mut first = card("Shoes", Some((secondary, "https://shop.example/2")));
            first.primary = (primary, "https://shop.example/1");
            Carousel::parse("x", &[first, card("Hats", None)]).map_err(field)
        };
        assert!(labels("0123456789", "0123456789ab").is_ok());
        assert_eq!(
            labels("0123456789a", "x").unwrap_err(),
            "carousel.cards[0].primary_button.caption"
        );
        assert_eq!(
            labels("x", "0123456789abc").unwrap_err(),
            "carousel.cards[0].secondary_button.caption"
        );
        let mut http = card("Shoes", None);
        http.primary = ("Buy", "http://shop.example/1");
        assert_eq!(
            field(Carousel::parse("x", &[http, card("Hats", None)]).unwrap_err()),
            "carousel.cards[0].primary_button.url"
        );
        let mut bad_image = card("Shoes", None);
        bad_image.image_url = "ftp://cdn.example/a.png";
        assert_eq!(
            field(Carousel::parse("x", &[bad_image, card("Hats", None)]).unwrap_err()),
            "carousel.cards[0].image_url"
        );
        assert_eq!(
            field(Carousel::parse(" ", &[card("Shoes", None), card("Hats", None)]).unwrap_err()),
            "carousel.text"
        );
    }
}
