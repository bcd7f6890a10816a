//! Patients' rights: the medical-record retention rules and erasure (crypto-shredding), and the
//! register of requests with their legal deadlines.

mod requests;
mod retention;

pub use requests::{PatientRequest, RequestKind, deadline};
pub use retention::Retention;
