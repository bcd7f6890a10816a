//! The reports section: comptes rendus and letters.

use super::InvalidInput;
use super::{Date, Section, SectionContent, check_text, redacted_debug};

type Result<T> = std::result::Result<T, InvalidInput>;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Kind of report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReportKind {
    /// Consultation report.
    Consultation,
    /// Operative report.
    Operative,
    /// Hospital-stay report (compte rendu d'hospitalisation).
    HospitalStay,
    /// Letter to a colleague.
    Letter,
}

/// One report (compte rendu).
#[derive(Clone, PartialEq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Kind of report.
    #[zeroize(skip)]
    pub kind: ReportKind,
    /// Author (the physician who signs it).
    pub author: String,
    /// Date of the act or letter.
    #[zeroize(skip)]
    pub date: Date,
    /// Title.
    pub title: String,
    /// Body text.
    pub body: String,
}
redacted_debug!(Report);

impl SectionContent for Report {
    const SECTION: Section = Section::Reports;
    fn validate(&self) -> Result<()> {
        check_text("author", &self.author, 200)?;
        check_text("title", &self.title, 500)?;
        check_text("body", &self.body, 4 * 1024 * 1024)
    }
}
