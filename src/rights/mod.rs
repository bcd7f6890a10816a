//! Patients' rights: the medical-record retention rules and erasure (crypto-shredding), and the
//! register of requests with their legal deadlines.

pub mod requests;
pub mod retention;
