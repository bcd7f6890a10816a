//! Medical-record retention (CSP R1112-7) and erasure (RGPD art. 17).
//!
//! A file is kept 20 years after the last visit; if the patient was under 8 at the last visit,
//! at least until their 28th birthday; if the patient died less than 10 years after the last
//! visit, 10 years after the death. A litigation hold suspends every deadline. Inside the
//! window an erasure request is refused (RGPD art. 17(3)(c): legal obligation), citing the rule
//! and the date. After it, the file is purged by crypto-shredding: every ciphertext and wrapped
//! data key is deleted, the blind index and per-patient records too, and an audited tombstone
//! remains.

use crate::audit::{Action, Entity, Outcome};

use crate::error::{Denied, Error, Fault, IntegrityError, Object, Result};
use crate::model::{Date, InvalidInput, PatientId};
use crate::session::Session;
use crate::session::notes::NotePlace;
use crate::session::patient_header::HoldReason;
use crate::session::records::PatientHeader;
use crate::storage::{Batch, Space};
use serde::Serialize;

/// What retention decides for one file. `Debug` leaves a hold's reason out.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Retention {
    /// Must be kept until `until` (exclusive), by `rule`.
    Keep {
        /// First day the file may be purged.
        until: Date,
        /// The rule that sets the date.
        rule: &'static str,
    },
    /// Under litigation hold: kept whatever the dates.
    Hold {
        /// Why, for a reader of the reason (its author, the auditors when it was set); `None`
        /// for anyone else.
        reason: Option<String>,
    },
    /// Past retention: may be purged.
    Expired {
        /// Since when.
        since: Date,
        /// The rule that set the date.
        rule: &'static str,
    },
}

fn add_years(d: Date, years: i32) -> Date {
    let (y, m, day) = d.ymd();
    // 29 February becomes 28 February in a non-leap year.
    Date::new(y + years, m, day).or_else(|_| Date::new(y + years, m, day - 1)).unwrap_or(d)
}

fn age_at(birth: Date, at: Date) -> i32 {
    let (by, bm, bd) = birth.ymd();
    let (y, m, d) = at.ymd();
    y - by - i32::from((m, d) < (bm, bd))
}

/// The end of the retention period and the rule that sets it.
pub(super) fn retention_end(last_visit: Date, birth: Date, death: Option<Date>) -> (Date, &'static str) {
    let mut until = add_years(last_visit, 20);
    let mut rule = "CSP R1112-7: 20 years after the last visit";
    if age_at(birth, last_visit) < 8 {
        let b28 = add_years(birth, 28);
        if b28 > until {
            until = b28;
            rule = "CSP R1112-7: under 8 at the last visit, kept until the 28th birthday";
        }
    }
    if let Some(d) = death
        && d < add_years(last_visit, 10)
    {
        until = add_years(d, 10);
        rule = "CSP R1112-7: died within 10 years of the last visit, kept 10 years after the death";
    }
    (until, rule)
}

impl std::fmt::Debug for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Retention::Keep { until, rule } => {
                f.debug_struct("Keep").field("until", until).field("rule", rule).finish()
            }
            Retention::Hold { reason } => {
                f.debug_struct("Hold").field("reason", &reason.as_ref().map(|_| "<redacted>")).finish()
            }
            Retention::Expired { since, rule } => {
                f.debug_struct("Expired").field("since", since).field("rule", rule).finish()
            }
        }
    }
}

/// Retention status at `now`.
/// `hold`: whether the file is under hold, with the reason if the caller may read it.
pub(super) fn status(
    last_visit: Date,
    birth: Date,
    death: Option<Date>,
    hold: Option<Option<String>>,
    now: Date,
) -> Retention {
    if let Some(reason) = hold {
        return Retention::Hold { reason };
    }
    let (until, rule) = retention_end(last_visit, birth, death);
    if now < until { Retention::Keep { until, rule } } else { Retention::Expired { since: until, rule } }
}

impl Session {
    fn retention_of(&self, patient: PatientId) -> Result<(PatientHeader, Retention)> {
        let header = self
            .patient_header(patient)?
            .filter(|h| h.purged_at.is_none())
            .ok_or_else(|| Error::no_patient(patient))?;
        let identity = self.read_identity(patient)?;
        let current = identity.last().ok_or(IntegrityError::new(Object::Identity, Fault::Missing))?;
        let bad_date = || IntegrityError::new(Object::Timestamp, Fault::OutOfRange);
        let last = header.last_activity.date().ok_or_else(bad_date)?;
        let now = self.now().date().ok_or_else(bad_date)?;
        let hold = header.hold.as_ref().map(|h| match h {
            HoldReason::Clear(text) => Some(text.clone()),
            HoldReason::Sealed(note) => self.open_note(NotePlace::Hold { patient }, note),
        });
        let st = status(last, current.content.birth_date, current.content.date_of_death, hold, now);
        Ok((header, st))
    }

    /// The retention status of a patient's file (reads the identity: audited as a read).
    pub fn retention_status(&self, patient: PatientId) -> Result<Retention> {
        self.retention_of(patient).map(|(_, s)| s)
    }

    /// Sets or lifts a litigation hold (care-team managers). The reason is sealed to its author,
    /// the auditors and the recovery key; the audit event says a hold was set, not why. Audited.
    pub fn set_hold(&self, patient: PatientId, reason: Option<&str>) -> Result<()> {
        let ent = Entity { patient: Some(patient), ..Entity::default() };
        let ok = self.header().policy.may_manage_care_team(&self.user.roles);
        self.require(ok, Action::LegalHold, ent.clone(), Denied::ManageCareTeam)?;
        let mut h = self
            .patient_header(patient)?
            .filter(|h| h.purged_at.is_none())
            .ok_or_else(|| Error::no_patient(patient))?;
        if reason.is_some_and(|r| r.trim().is_empty()) {
            return Err(InvalidInput::Empty("reason").into());
        }
        h.hold = match reason {
            Some(r) => Some(HoldReason::Sealed(self.seal_note(NotePlace::Hold { patient }, r.trim())?)),
            None => None,
        };
        let mut batch = Batch::new();
        batch.put(Space::Patients, patient.0.to_vec(), h.encode()?);
        let detail = if reason.is_some() { "hold set; reason sealed" } else { "hold lifted" };
        self.commit(vec![self.draft(Action::LegalHold, Outcome::Success, ent).detail(detail)], batch)?;
        Ok(())
    }

    /// Erases a patient's file on request (RGPD art. 17): refused, citing the rule, while the
    /// file must be kept; otherwise purged by crypto-shredding with an audited tombstone.
    pub fn erase_patient(&self, patient: PatientId) -> Result<()> {
        let ent = Entity { patient: Some(patient), ..Entity::default() };
        let ok = self.header().policy.may_manage_care_team(&self.user.roles);
        self.require(ok, Action::Purge, ent.clone(), Denied::ManageCareTeam)?;
        let (header, st) = self.retention_of(patient)?;
        match st {
            // The refusal names the rule, not the date: the date derives from the birth or death
            // date, and refusals are written to the audit log.
            Retention::Keep { rule, .. } => {
                Err(self.refuse(Action::Purge, ent, Error::Denied(Denied::Retention { rule })))
            }
            Retention::Hold { .. } => Err(self.refuse(Action::Purge, ent, Error::Denied(Denied::LitigationHold))),
            Retention::Expired { .. } => self.purge(patient, header),
        }
    }

    fn purge(&self, patient: PatientId, mut header: PatientHeader) -> Result<()> {
        let mut batch = Batch::new();
        self.stage_erasure(patient, &mut batch)?;
        header.purged_at = Some(self.now());
        // The tombstone keeps no reason: a purge needs no hold.
        header.hold = None;
        batch.put(Space::Patients, patient.0.to_vec(), header.encode()?);
        let ent = Entity { patient: Some(patient), ..Entity::default() };
        self.commit(
            vec![self.draft(Action::Purge, Outcome::Success, ent).detail("file purged after its retention period")],
            batch,
        )?;
        Ok(())
    }

    /// Every file past its retention period (not under hold); purges them unless `dry_run`.
    /// Returns (patient, status) for every file examined.
    pub fn purge_expired(&self, dry_run: bool) -> Result<Vec<(PatientId, Retention)>> {
        self.purge_expired_with_progress(dry_run, &mut |_, _| {})
    }

    /// [`Session::purge_expired`], telling `progress` (files examined, files in the store).
    pub fn purge_expired_with_progress(
        &self,
        dry_run: bool,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Vec<(PatientId, Retention)>> {
        let mut out = Vec::new();
        let ids = self.patient_ids()?;
        let total = ids.len() as u64;
        for (n, patient) in ids.into_iter().enumerate() {
            progress(n as u64, total);
            let Some(h) = self.patient_header(patient)? else { continue };
            if h.purged_at.is_some() {
                continue;
            }
            let (header, st) = self.retention_of(patient)?;
            if matches!(st, Retention::Expired { .. }) && !dry_run {
                self.purge(patient, header)?;
            }
            out.push((patient, st));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn the_rules_of_r1112_7() {
        // Adult: 20 years after the last visit.
        assert_eq!(retention_end(d("2006-05-10"), d("1960-01-01"), None).0, d("2026-05-10"));
        // Under 8 at the last visit: until the 28th birthday when that is later.
        assert_eq!(retention_end(d("2006-05-10"), d("2003-02-01"), None).0, d("2031-02-01"));
        // 7 years old but the 28th birthday comes first: 20 years still apply.
        assert_eq!(retention_end(d("2006-05-10"), d("1999-06-01"), None).0, d("2027-06-01"));
        // Died within 10 years of the last visit: 10 years after the death (even if shorter).
        assert_eq!(retention_end(d("2006-05-10"), d("1940-01-01"), Some(d("2008-03-03"))).0, d("2018-03-03"));
        // Died later: 20 years after the last visit.
        assert_eq!(retention_end(d("2006-05-10"), d("1940-01-01"), Some(d("2020-03-03"))).0, d("2026-05-10"));
        // 29 February.
        assert_eq!(retention_end(d("2004-02-29"), d("1960-01-01"), None).0, d("2024-02-29"));
        assert_eq!(add_years(d("2004-02-29"), 1), d("2005-02-28"));
        assert!(matches!(
            status(d("2000-01-01"), d("1960-01-01"), None, Some(Some("procès".into())), d("2030-01-01")),
            Retention::Hold { .. }
        ));
    }
}
