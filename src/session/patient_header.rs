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

/// Both formats as encoded: format 1 holds the hold reason as a `String`, format 2 as a
/// `HoldReason`.
#[derive(Serialize, Deserialize)]
struct Encoded<H> {
    format: u16,
    created_at: Timestamp,
    created_by: UserId,
    last_activity: Timestamp,
    hold: Option<H>,
    purged_at: Option<Timestamp>,
}

impl<H> Encoded<H> {
    fn into_header(self, hold: impl FnOnce(H) -> HoldReason) -> PatientHeader {
        PatientHeader {
            created_at: self.created_at,
            created_by: self.created_by,
            last_activity: self.last_activity,
            hold: self.hold.map(hold),
            purged_at: self.purged_at,
        }
    }
}

impl PatientHeader {
    /// A new header.
    pub(crate) fn new(created_at: Timestamp, created_by: UserId) -> Self {
        PatientHeader { created_at, created_by, last_activity: created_at, hold: None, purged_at: None }
    }

    /// Decodes either format (told apart by their first two bytes, the format).
    pub(crate) fn decode(bytes: &[u8]) -> Result<PatientHeader> {
        match codec::leading_format(bytes) {
            1 => Ok(codec::decode::<Encoded<String>>(bytes, Object::PatientHeader)?.into_header(HoldReason::Clear)),
            2 => Ok(codec::decode::<Encoded<HoldReason>>(bytes, Object::PatientHeader)?.into_header(|h| h)),
            other => Err(IntegrityError::new(Object::PatientHeader, Fault::UnsupportedFormat(other.into())).into()),
        }
    }

    /// Encodes it in format 2.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        codec::encode(&Encoded {
            format: 2,
            created_at: self.created_at,
            created_by: self.created_by,
            last_activity: self.last_activity,
            hold: self.hold.as_ref(),
            purged_at: self.purged_at,
        })
    }

    /// The header of a patient, if the patient exists.
    pub(crate) fn load(backend: &dyn Backend, patient: PatientId) -> Result<Option<PatientHeader>> {
        backend.get(Space::Patients, &patient.0)?.map(|v| PatientHeader::decode(&v)).transpose()
    }
}
