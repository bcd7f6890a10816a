//! The domain: patients, their three sections, and the entries of each section.
//!
//! Invariant: no type here prints its content. `Debug` of every section type is redacted, so a
//! stray `{:?}` in a log or an error cannot leak a patient's data. Section content is zeroized
//! when dropped.

mod exam;
mod identity;
mod ids;
mod invalid;
mod report;

pub use exam::{Exam, ExamKind, Interpretation};
pub use identity::{Identity, IdentityStatus, Sex, normalize_name, validate_ins_matricule};
pub(crate) use ids::random_bytes;
pub use ids::{AttachmentId, Date, EntryId, PatientId, SessionId, StoreId, Timestamp, UserId};
pub use invalid::InvalidInput;
pub use report::{Report, ReportKind};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::fmt;

/// The three sections (volets) of a medical file. Each has its own keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display, strum::FromRepr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[repr(u8)]
#[non_exhaustive]
pub enum Section {
    /// Administrative identity (INS).
    Identity = 1,
    /// Typed reports (comptes rendus) and letters.
    Reports = 2,
    /// Lab results and imaging or other exams.
    Exams = 3,
}

impl Section {
    /// All sections, in storage order.
    pub const ALL: [Section; 3] = [Section::Identity, Section::Reports, Section::Exams];

    /// The byte used for this section in storage keys and associated data.
    pub fn code(self) -> u8 {
        self as u8
    }
    /// The section of a storage byte.
    pub fn from_code(b: u8) -> Option<Section> {
        Section::from_repr(b)
    }
    /// Lower-case name (`identity`, `reports`, `exams`).
    pub fn name(self) -> &'static str {
        self.into()
    }
    /// Parses a lower-case name.
    pub fn parse(s: &str) -> Result<Section, InvalidInput> {
        s.parse().map_err(|_| InvalidInput::unknown("section", &["identity", "reports", "exams"]))
    }
}

/// Content that lives in one section: the link between a Rust type and its section.
pub trait SectionContent: Serialize + DeserializeOwned + Clone + fmt::Debug {
    /// The section this content belongs to.
    const SECTION: Section;
    /// Checks the content's own rules (required fields, formats).
    fn validate(&self) -> Result<(), InvalidInput>;
    /// The identity, when this content is one (its writes refresh the blind index).
    fn as_identity(&self) -> Option<&Identity> {
        None
    }
}

/// One revision of one entry, as handed back to an authorized reader.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry<T> {
    /// The entry (all revisions of one report share it).
    pub entry_id: EntryId,
    /// 1 for the original, then 2, 3, ... for each correction.
    pub revision: u32,
    /// When this revision was written (UTC).
    pub recorded_at: Timestamp,
    /// User name of the writer.
    pub recorded_by: String,
    /// Why this revision replaced the previous one (`None` for revision 1).
    pub reason: Option<String>,
    /// The content itself.
    pub content: T,
}

impl<T> fmt::Debug for Entry<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("entry_id", &self.entry_id)
            .field("revision", &self.revision)
            .field("recorded_at", &self.recorded_at)
            .finish_non_exhaustive()
    }
}

/// Writes `Type { <redacted> }` so that a section's content never reaches a log by `{:?}`.
macro_rules! redacted_debug {
    ($t:ty) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($t), " { <redacted> }"))
            }
        }
    };
}
pub(crate) use redacted_debug;

/// Rejects over-long optional text fields, given as (field, value, limit): an absent one is
/// fine, a present one may not be blank.
pub(crate) fn check_optional(fields: &[(&'static str, &Option<String>, usize)]) -> Result<(), InvalidInput> {
    for (field, value, max) in fields {
        if let Some(v) = value {
            check_text(field, v, *max)?;
        }
    }
    Ok(())
}

/// Rejects empty or over-long text fields.
pub(crate) fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), InvalidInput> {
    if value.trim().is_empty() {
        return Err(InvalidInput::Empty(field));
    }
    if value.len() > max {
        return Err(InvalidInput::TooLong { field, max });
    }
    Ok(())
}
