//! [`InvalidInput`]: input that breaks a documented rule. Defined with the model (which depends
//! on nothing else of the crate) and wrapped by `Error::Invalid`.
//!
//! Invariant: it never repeats the value it refused (a date, a name, an INS, a mistyped role or
//! section: any of them may be a patient's data pasted in the wrong place); it names the field
//! and the rule.

/// Input that does not satisfy the documented rules; nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// A required text field is empty.
    #[error("field `{0}` must not be empty")]
    Empty(&'static str),
    /// A text field is too long.
    #[error("field `{field}` is longer than {max} bytes")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its limit in bytes.
        max: usize,
    },
    /// A field's value does not have the expected form (the value is not repeated).
    #[error("{field} must be {expected}")]
    Malformed {
        /// The field (or what was being parsed).
        field: &'static str,
        /// The expected form.
        expected: &'static str,
    },
    /// A name that is not one of the known ones (the name given is not repeated).
    #[error("unknown {what} (known: {known})")]
    Unknown {
        /// What kind of name.
        what: &'static str,
        /// The known names.
        known: String,
    },
    /// A documented rule, in full.
    #[error("{0}")]
    Rule(&'static str),
    /// A number out of its allowed range (the number given is not repeated).
    #[error("{what} must be between {min} and {max}")]
    OutOfRange {
        /// What number.
        what: &'static str,
        /// Lowest allowed.
        min: u64,
        /// Highest allowed.
        max: u64,
    },
    /// A JSON input that does not parse into its shape (docs/json.md): the field and what was
    /// expected, never the value met there.
    #[error("invalid {what} JSON: {detail}")]
    Json {
        /// Which input (`identity`, `report`, ...).
        what: &'static str,
        /// Where and why, without the value.
        detail: String,
    },
    /// An import file that cannot be read as FHIR: the file, the line and why (never a value).
    #[error("import: {0}")]
    Import(String),
}

impl InvalidInput {
    /// An unknown name among a fixed list.
    pub(crate) fn unknown(what: &'static str, known: &[&str]) -> InvalidInput {
        InvalidInput::Unknown { what, known: known.join(", ") }
    }
}
