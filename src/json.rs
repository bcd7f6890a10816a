//! The JSON shapes of docs/json.md, shared by the command line and the C ABI: input parsed with
//! errors that name the field and the rule but never repeat the value met there (it may be a
//! patient's data typed into the wrong field), and one revision's output view.

use crate::model::{Entry, InvalidInput};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Parses `text` as the JSON of `what` (`identity`, `report`, ...), rejecting unknown fields
/// with their name. The error's message holds no value from `text`.
pub fn parse<T: DeserializeOwned>(text: &str, what: &'static str) -> Result<T, InvalidInput> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = describe(&e.into_inner());
        let detail = if path == "." || path.is_empty() { inner } else { format!("field `{path}`: {inner}") };
        InvalidInput::Json { what, detail }
    })
}

/// What went wrong in a JSON input, without the value met there: serde's own messages quote it
/// (`invalid type: string "…"`, ``unknown variant `…` ``). Field names and what was expected
/// come from the schema and are kept.
fn describe(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("line {} column {}", e.line(), e.column());
    let message = e.to_string();
    let message = message.strip_suffix(&format!(" at {at}")).unwrap_or(&message);
    let expected = message.split_once(", expected ").map(|(_, x)| format!(" (expected {x})")).unwrap_or_default();
    match e.classify() {
        Category::Io => "cannot be read".to_string(),
        Category::Syntax => format!("is not valid JSON ({at})"),
        Category::Eof => format!("ends too early (EOF at {at})"),
        Category::Data if message.starts_with("invalid type") => format!("has the wrong type{expected} ({at})"),
        Category::Data if message.starts_with("invalid value") => format!("has an invalid value{expected} ({at})"),
        Category::Data if message.starts_with("invalid length") => format!("has the wrong length{expected} ({at})"),
        Category::Data if message.starts_with("unknown variant") => {
            format!("is not one of the allowed values{expected} ({at})")
        }
        // `unknown field`, `missing field`, `duplicate field` name a field; medvault's own
        // types name the field and the rule (InvalidInput), never the value.
        Category::Data => format!("{message} ({at})"),
    }
}

/// One revision as `read --json` prints it: the section's fields plus ids and timestamps.
#[derive(Serialize)]
pub struct EntryView<'a, T: Serialize> {
    entry_id: String,
    revision: u32,
    recorded_at: String,
    recorded_by: &'a str,
    reason: Option<&'a str>,
    #[serde(flatten)]
    content: &'a T,
}

/// The views of `entries`, in their order.
pub fn views<T: Serialize>(entries: &[Entry<T>]) -> Vec<EntryView<'_, T>> {
    entries
        .iter()
        .map(|e| EntryView {
            entry_id: e.entry_id.to_string(),
            revision: e.revision,
            recorded_at: e.recorded_at.to_string(),
            recorded_by: &e.recorded_by,
            reason: e.reason.as_deref(),
            content: &e.content,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Report;

    #[test]
    fn errors_name_the_field_never_the_value() {
        let secret = "Dupont-Secret";
        let cases = [
            format!(r#"{{"kind": "{secret}", "author": "a", "date": "2026-01-01", "title": "t", "body": "b"}}"#),
            format!(r#"{{"kind": "letter", "author": 12, "date": "2026-01-01", "title": "{secret}", "body": "b"}}"#),
            format!(r#"{{"{secret}": 1}}"#),
            format!(r#"{{"kind": "letter", "body": "{secret}"#),
            format!(r#"{{"kind": "letter", "author": "a", "date": "{secret}", "title": "t", "body": "b"}}"#),
        ];
        for text in &cases {
            let e = parse::<Report>(text, "report").map(|_| ()).expect_err(text);
            let shown = e.to_string();
            assert!(shown.starts_with("invalid report JSON"), "{shown}");
            // An unknown field's name is the input's own, so it is shown: the schema does not
            // know it. Every other message leaves the value out.
            if !text.starts_with(&format!(r#"{{"{secret}""#)) {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
        let e = parse::<Report>(&cases[1], "report").map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("field `author`") && e.contains("wrong type"), "{e}");
    }
}
