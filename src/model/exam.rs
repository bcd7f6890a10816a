//! The exams section: lab results and imaging or other exams.

use super::InvalidInput;
use super::{Date, Section, SectionContent, check_text, redacted_debug};

type Result<T> = std::result::Result<T, InvalidInput>;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Kind of exam.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExamKind {
    /// A laboratory result (one analyte).
    Lab,
    /// An imaging exam with its report text.
    Imaging,
    /// Any other exam (ECG, spirometry, ...).
    Other,
}

/// Interpretation flag of a lab value (HL7 v2 / FHIR ObservationInterpretation codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Interpretation {
    /// Normal.
    N,
    /// Low.
    L,
    /// High.
    H,
    /// Critically low.
    LL,
    /// Critically high.
    HH,
    /// Abnormal.
    A,
}

/// One exam or lab result.
#[derive(Clone, PartialEq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct Exam {
    /// Kind of exam.
    #[zeroize(skip)]
    pub kind: ExamKind,
    /// Code system of `code` (for lab results: `http://loinc.org`).
    #[serde(default)]
    pub code_system: Option<String>,
    /// Code (LOINC for lab results).
    #[serde(default)]
    pub code: Option<String>,
    /// Human label ("Hémoglobine", "Radiographie thoracique").
    pub label: String,
    /// Value, as written by the lab (kept as text: "13.2", "< 0.5", "positif").
    #[serde(default)]
    pub value: Option<String>,
    /// UCUM unit ("g/dL").
    #[serde(default)]
    pub unit: Option<String>,
    /// Reference range ("12.0-16.0").
    #[serde(default)]
    pub reference_range: Option<String>,
    /// Interpretation flag.
    #[serde(default)]
    #[zeroize(skip)]
    pub interpretation: Option<Interpretation>,
    /// Report text (imaging and other exams).
    #[serde(default)]
    pub text: Option<String>,
    /// Date of the exam.
    #[zeroize(skip)]
    pub date: Date,
    /// Who performed it (lab, radiologist).
    pub performer: String,
}
redacted_debug!(Exam);

impl SectionContent for Exam {
    const SECTION: Section = Section::Exams;
    fn validate(&self) -> Result<()> {
        check_text("label", &self.label, 500)?;
        check_text("performer", &self.performer, 200)?;
        if self.kind == ExamKind::Lab && (self.code.is_none() || self.value.is_none()) {
            return Err(InvalidInput::Rule("a lab exam needs `code` and `value`"));
        }
        if self.code.is_some() && self.code_system.is_none() {
            return Err(InvalidInput::Rule("field `code_system` is required with `code`"));
        }
        if let Some(t) = &self.text {
            check_text("text", t, 4 * 1024 * 1024)?;
        }
        super::check_optional(&[
            ("code_system", &self.code_system, 200),
            ("code", &self.code, 100),
            ("value", &self.value, 200),
            ("unit", &self.unit, 50),
            ("reference_range", &self.reference_range, 200),
        ])?;
        Ok(())
    }
}
