//! The patient header: no personal data, and since format 2 no free text in clear.
//!
//! `Patients[patient]` = `codec(header)`. Format 1 (earlier releases) holds the litigation-hold
//! reason in clear and is still read; format 2 holds it sealed (`super::notes`, place
//! `Hold { patient }`), or in clear when it was set by an earlier release and not set again.

use super::notes::SealedNote;
use crate::codec;
use crate::error::{Fault, IntegrityError, Object, Result};
use crate::model::{PatientId, Timestamp, UserId};
use crate::storage::{Backend, Space};
use serde::{Deserialize, Serialize};

/// Why a file is under litigation hold, as stored.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) enum HoldReason {
    /// Set by an earlier release: in clear.
    Clear(String),
    /// Sealed to its author, the auditors and the recovery key.
    Sealed(SealedNote),
}

/// Patient header: no personal data.
pub(crate) struct PatientHeader {
    pub created_at: Timestamp,
    pub created_by: UserId,
    /// Last time anything was written to the file (the "last visit" of CSP R1112-7).
    pub last_activity: Timestamp,
    /// Litigation hold: why, while the file must not be purged.
    pub hold: Option<HoldReason>,
    /// Set once the file was purged after its retention period (a tombstone).
    pub purged_at: Option<Timestamp>,
}

#[derive(Serialize, Deserialize)]
struct V1 {
    format: u16,
    created_at: Timestamp,
    created_by: UserId,
    last_activity: Timestamp,
    hold: Option<String>,
    purged_at: Option<Timestamp>,
}

#[derive(Serialize, Deserialize)]
struct V2 {
    format: u16,
    created_at: Timestamp,
    created_by: UserId,
    last_activity: Timestamp,
    hold: Option<HoldReason>,
    purged_at: Option<Timestamp>,
}

impl PatientHeader {
    /// A new header.
    pub(crate) fn new(created_at: Timestamp, created_by: UserId) -> Self {
        PatientHeader { created_at, created_by, last_activity: created_at, hold: None, purged_at: None }
    }

    /// Decodes either format (the first two bytes, u16 LE, are the format).
    pub(crate) fn decode(bytes: &[u8]) -> Result<PatientHeader> {
        match bytes.get(..2) {
            Some([1, 0]) => {
                let v: V1 = codec::decode(bytes, Object::PatientHeader)?;
                Ok(PatientHeader {
                    created_at: v.created_at,
                    created_by: v.created_by,
                    last_activity: v.last_activity,
                    hold: v.hold.map(HoldReason::Clear),
                    purged_at: v.purged_at,
                })
            }
            Some([2, 0]) => {
                let v: V2 = codec::decode(bytes, Object::PatientHeader)?;
                Ok(PatientHeader {
                    created_at: v.created_at,
                    created_by: v.created_by,
                    last_activity: v.last_activity,
                    hold: v.hold,
                    purged_at: v.purged_at,
                })
            }
            other => {
                let format = other.map_or(0, |b| u32::from(b[0]) | (u32::from(b[1]) << 8));
                Err(IntegrityError::new(Object::PatientHeader, Fault::UnsupportedFormat(format)).into())
            }
        }
    }

    /// Encodes it in format 2.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        codec::encode(&V2 {
            format: 2,
            created_at: self.created_at,
            created_by: self.created_by,
            last_activity: self.last_activity,
            hold: self.hold.clone(),
            purged_at: self.purged_at,
        })
    }

    /// The header of a patient, if the patient exists.
    pub(crate) fn load(backend: &dyn Backend, patient: PatientId) -> Result<Option<PatientHeader>> {
        backend.get(Space::Patients, &patient.0)?.map(|v| PatientHeader::decode(&v)).transpose()
    }
}
