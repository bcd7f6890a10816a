//! Professionals' names and professions (set by administrators, shown in the patient copy and
//! in `user list`).

use super::Session;
use super::users::target;
use crate::audit::{Action, Outcome};
use crate::error::{Error, Missing, Result};
use crate::keyring;
use crate::keyring::profiles::{self, StaffProfile};
use crate::model::UserId;
use crate::storage::Batch;
use serde::Serialize;
use std::collections::BTreeMap;

/// How documents name a user: their profile when one is set, else their login and roles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StaffMember {
    /// Login name (as audit events record it).
    pub login: String,
    /// Name set by an administrator.
    pub full_name: Option<String>,
    /// Profession set by an administrator.
    pub profession: Option<String>,
    /// Current roles.
    pub roles: Vec<String>,
}

impl Session {
    /// Sets the name and profession that documents show for a user (administrators). Audited;
    /// the record is signed with the directory key.
    pub fn set_profile(&self, name: &str, full_name: &str, profession: &str) -> Result<()> {
        let directory = self.directory_signer(Action::ProfileSet, name)?;
        profiles::validate(full_name, profession)?;
        let record = keyring::user_by_name(self.inner.backend.as_ref(), name)?
            .ok_or_else(|| Error::NotFound(Missing::User(name.to_string())))?;
        let ident = record.signed.verify("user", &self.inner.header.directory_public)?;
        let profile = StaffProfile {
            format: 1,
            store: self.inner.header.store,
            user: ident.id,
            full_name: full_name.to_string(),
            profession: profession.to_string(),
            updated_at: self.inner.clock.now(),
        };
        let mut batch = Batch::new();
        profiles::stage(&mut batch, profile, &directory)?;
        self.commit(vec![self.draft(Action::ProfileSet, Outcome::Success, target(name))], batch)?;
        Ok(())
    }

    /// Every account as documents name it, by login (records checked against the directory key).
    pub(crate) fn staff_directory(&self) -> Result<BTreeMap<String, StaffMember>> {
        let profiles = self.staff_profiles()?;
        let mut out = BTreeMap::new();
        for record in keyring::all_users(self.inner.backend.as_ref())? {
            let ident = record.signed.verify("user", &self.inner.header.directory_public)?;
            let profile = profiles.get(&ident.id);
            out.insert(
                ident.name.clone(),
                StaffMember {
                    login: ident.name.clone(),
                    full_name: profile.map(|p| p.full_name.clone()),
                    profession: profile.map(|p| p.profession.clone()),
                    roles: ident.roles.clone(),
                },
            );
        }
        Ok(out)
    }

    /// Every professional's profile, checked against the directory key, by user.
    pub(crate) fn staff_profiles(&self) -> Result<BTreeMap<UserId, StaffProfile>> {
        profiles::load(self.inner.backend.as_ref(), self.inner.header.store, &self.inner.header.directory_public)
    }
}
