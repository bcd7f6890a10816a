//! Patients' rights: the medical-record retention rules and erasure (crypto-shredding), and the
//! register of requests with their legal deadlines.

mod requests;
mod retention;

pub use requests::{
    Answer, AnswerExport, CopyFormat, NewRequest, PatientRequest, RequestKind, Requester, Resolution, deadline,
};
pub use retention::Retention;
