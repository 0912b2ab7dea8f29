//! A template's text (as `vbmctl` registers it) and the parameters a business fills it with.
//!
//! Input: a JSON case `{"text": "...", "params": {...}, "lang": "ru", "category":
//! "promotional"}` (readable seeds), or, when the bytes are not such a case, the bytes as the
//! template text, filled with a value for each placeholder it declares.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use session_rules::{Language, Refusal, Template, TemplateCategory, TemplateId, TemplateParams};

/// Viber's limits, written out rather than imported: the checks must not trust the code they check.
const MAX_TEXT_CHARS: usize = 1000;
const MAX_PARAM_CHARS: usize = 125;

#[derive(Deserialize)]
struct Case {
    text: String,
    params: Option<BTreeMap<String, String>>,
    lang: Option<String>,
    category: Option<String>,
}

pub fn check(data: &[u8]) {
    let case = serde_json::from_slice::<Case>(data).unwrap_or_else(|_| Case {
        text: String::from_utf8_lossy(data).into_owned(),
        params: None,
        lang: None,
        category: None,
    });
    let language = case
        .lang
        .as_deref()
        .and_then(|l| Language::parse(l).ok())
        .unwrap_or_else(|| language("en"));
    let category = case
        .category
        .as_deref()
        .and_then(|c| TemplateCategory::parse(c).ok())
        .unwrap_or(TemplateCategory::Transactional);

    let parsed = Template::parse(id(), language, category, true, &case.text);
    if !case.text.contains("{{") {
        // Without placeholders only the length rules apply.
        let fits =
            !session_rules::is_blank(&case.text) && case.text.chars().count() <= MAX_TEXT_CHARS;
        assert_eq!(parsed.is_ok(), fits, "{:?}", case.text);
    }
    let template = match parsed {
        Ok(template) => template,
        Err(refusal) => {
            assert_eq!(refusal.code(), "validation_failed");
            return;
        }
    };
    check_placeholders(&template);

    let each_ann: BTreeMap<String, String> = template
        .placeholders()
        .iter()
        .map(|p| (p.clone(), "Ann".to_owned()))
        .collect();
    for params in [case.params.as_ref(), Some(&each_ann)]
        .into_iter()
        .flatten()
    {
        if let Ok(filled) = TemplateParams::fill(&template, params) {
            check_filled(&template, &filled);
        }
    }
    if let Some(first) = template.placeholders().first() {
        let mut missing = each_ann.clone();
        missing.remove(first);
        assert_params_refused(TemplateParams::fill(&template, &missing));
    }
    let mut extra = each_ann;
    extra.insert("not_in_any_template_0".into(), "Ann".into());
    if !template
        .placeholders()
        .iter()
        .any(|p| p == "not_in_any_template_0")
    {
        assert_params_refused(TemplateParams::fill(&template, &extra));
    }
}

fn check_placeholders(template: &Template) {
    let names = template.placeholders();
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(
        unique.len(),
        names.len(),
        "duplicate placeholders {names:?}"
    );
    for name in names {
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "placeholder {name:?}"
        );
        assert!(template.text().contains(name.as_str()));
    }
    if names.is_empty() {
        let nothing = BTreeMap::new();
        let filled = TemplateParams::fill(template, &nothing);
        assert_eq!(
            filled.map(|f| f.render(template)).as_deref(),
            Ok(template.text()),
            "a template without placeholders renders as its text"
        );
    }
}

/// What a successful filling promises: exactly the placeholders, each value within Viber's
/// rules, a rendered text within the message limit that shows every value.
fn check_filled(template: &Template, filled: &TemplateParams) {
    let keys: BTreeSet<&str> = filled.values().keys().map(String::as_str).collect();
    let names: BTreeSet<&str> = template.placeholders().iter().map(String::as_str).collect();
    assert_eq!(keys, names);
    assert_eq!(filled.template_id(), template.id());
    for value in filled.values().values() {
        assert!(!session_rules::is_blank(value));
        assert!(value.chars().count() <= MAX_PARAM_CHARS);
        assert!(!value.chars().any(char::is_control), "{value:?}");
        assert!(!value.contains("://"), "{value:?}");
    }
    let rendered = filled.render(template);
    assert!(rendered.chars().count() <= MAX_TEXT_CHARS);
    for value in filled.values().values() {
        assert!(
            rendered.contains(value.as_str()),
            "{value:?} not in {rendered:?}"
        );
    }
    check_substitution_commutes(template, filled, &rendered);
}

/// Filling each placeholder with itself gives a template (the text with placeholder spacing
/// normalised) that declares the same placeholders and renders the same for any filling.
fn check_substitution_commutes(template: &Template, filled: &TemplateParams, rendered: &str) {
    let itself: BTreeMap<String, String> = template
        .placeholders()
        .iter()
        .map(|p| (p.clone(), format!("{{{{{p}}}}}")))
        .collect();
    // Long names make values over the parameter limit; then there is nothing to compare.
    let Ok(identity) = TemplateParams::fill(template, &itself) else {
        return;
    };
    let normalised_text = identity.render(template);
    let normalised = match Template::parse(
        template.id().clone(),
        template.language().clone(),
        template.category(),
        true,
        &normalised_text,
    ) {
        Ok(t) => t,
        Err(refusal) => panic!("{normalised_text:?} no longer parses: {refusal}"),
    };
    assert_eq!(normalised.placeholders(), template.placeholders());
    match TemplateParams::fill(&normalised, filled.values()) {
        Ok(again) => assert_eq!(again.render(&normalised), rendered),
        Err(refusal) => panic!("the normalised template refused the same values: {refusal}"),
    }
}

fn assert_params_refused(result: Result<TemplateParams, Refusal>) {
    match result {
        Ok(filled) => panic!("an incomplete or excessive filling went through: {filled:?}"),
        Err(refusal) => assert_eq!(refusal.code(), "template_params_invalid"),
    }
}

fn id() -> TemplateId {
    TemplateId::parse("fuzz").unwrap_or_else(|e| unreachable!("a valid literal id: {e}"))
}

fn language(code: &str) -> Language {
    Language::parse(code).unwrap_or_else(|e| unreachable!("a valid literal language: {e}"))
}
