//! One line of an uploaded list, checked exactly as an inline recipient is
//! (`vbm_outbound::campaign::check_recipient`): a JSONL line is the inline entry's JSON; a CSV
//! line's cells become `to` and `params` by the header's columns.

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use session_rules::campaign::CampaignRecipient;
use vbm_store::UploadFormat;

/// A CSV header: a `to` column and one column per template parameter, each named once.
pub(crate) fn header(line: &str) -> Result<Vec<String>, String> {
    let bad = |message: String| message;
    let columns: Vec<String> = crate::csv::fields(line)
        .map_err(|e| bad(format!("line 1: {e}")))?
        .into_iter()
        .map(|c| c.trim().to_owned())
        .collect();
    if columns.iter().filter(|c| *c == "to").count() != 1 {
        return Err(bad("line 1 must name exactly one `to` column".into()));
    }
    let mut names = HashSet::new();
    for c in &columns {
        if c.is_empty() || !names.insert(c.as_str()) {
            return Err(bad(format!("line 1: column {c:?} is empty or named twice")));
        }
    }
    Ok(columns)
}

/// What a line is checked against.
pub(crate) struct Check<'a> {
    pub message: &'a Map<String, Value>,
    pub template: Option<&'a session_rules::Template>,
    pub base: std::collections::BTreeMap<String, String>,
    pub limits: &'a session_rules::Limits,
    pub format: UploadFormat,
}

impl Check<'_> {
    /// One line as an inline entry: its JSON object, or its CSV cells as `to` and `params`
    /// (an empty cell leaves the parameter to the campaign's message).
    pub fn line(
        &self,
        text: &str,
        columns: Option<&[String]>,
        seen: &mut HashSet<String>,
    ) -> Result<CampaignRecipient, (&'static str, String)> {
        if text.trim().is_empty() {
            return Err(("malformed_line", "an empty line".into()));
        }
        let entry = match (self.format, columns) {
            (UploadFormat::Jsonl, _) => {
                let entry = serde_json::from_str::<Value>(text)
                    .map_err(|e| ("malformed_line", format!("not a JSON object: {e}")))?;
                // As in a request body: serde_json keeps the last of two equal keys, another
                // reader of the list the first (the `to` we would message is not the one shown).
                if let Some(path) = vbm_http::duplicate_key(text.as_bytes()) {
                    return Err((
                        "malformed_line",
                        format!(
                            "the key `{path}` appears twice in one object; every key must be unique"
                        ),
                    ));
                }
                entry
            }
            (UploadFormat::Csv, Some(columns)) => {
                let cells = crate::csv::fields(text).map_err(|e| ("malformed_line", e.into()))?;
                if cells.len() != columns.len() {
                    return Err((
                        "malformed_line",
                        format!("{} cells; the header has {}", cells.len(), columns.len()),
                    ));
                }
                let mut to = Value::Null;
                let mut params = Map::new();
                for (name, cell) in columns.iter().zip(cells) {
                    if name == "to" {
                        to = Value::String(cell);
                    } else if !cell.is_empty() {
                        params.insert(name.clone(), Value::String(cell));
                    }
                }
                json!({"to": to, "params": params})
            }
            (UploadFormat::Csv, None) => return Err(("invalid_header", "no header row".into())),
        };
        vbm_outbound::campaign::check_recipient(
            &entry,
            self.message,
            self.template,
            &self.base,
            self.limits,
            seen,
        )
    }
}
