//! Who may do what: the role matrix.
//!
//! The matrix decides which keys a user is *given*; the keys then decide what a session *can*
//! decrypt. A policy granting write without read is refused (a writer must hold the section key).
//! The policy is fixed at store creation and signed with the store header.

use crate::crypto::KeyKind;
use crate::error::{Error, PolicyError, Result};
use crate::model::InvalidInput;
use crate::model::Section;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What one role grants.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRights {
    /// Sections the role may read.
    #[serde(default)]
    pub read: BTreeSet<Section>,
    /// Sections the role may write (must be a subset of `read`).
    #[serde(default)]
    pub write: BTreeSet<Section>,
    /// May query, verify and export the audit log.
    #[serde(default)]
    pub audit: bool,
    /// May manage users, roles and keys.
    #[serde(default)]
    pub manage_users: bool,
    /// May add and remove care-team members and record a patient's opposition.
    #[serde(default)]
    pub manage_care_team: bool,
}

/// Store-wide access settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessSettings {
    /// Minimum length of a break-glass justification (characters, blanks excluded at the ends).
    pub break_glass_min_justification: usize,
    /// Default duration of a break-glass access, hours.
    pub break_glass_default_hours: u32,
    /// Longest break-glass access, hours.
    pub break_glass_max_hours: u32,
    /// Failed unlocks (wrong passphrase) in a row before a lockout.
    pub lockout_threshold: u32,
    /// First lockout, seconds; each further lockout doubles it.
    pub lockout_base_seconds: u64,
    /// Longest lockout, seconds.
    pub lockout_max_seconds: u64,
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessSettings {
            break_glass_min_justification: 20,
            break_glass_default_hours: 4,
            break_glass_max_hours: 12,
            lockout_threshold: 5,
            lockout_base_seconds: 60,
            lockout_max_seconds: 24 * 3600,
        }
    }
}

/// Everything an access decision depends on, besides the role matrix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccessFacts {
    /// The user (or one of their roles) is in the patient's care team.
    pub in_care_team: bool,
    /// The patient objects to this user.
    pub opposed: bool,
    /// The user holds an unexpired break-glass access to this patient.
    pub break_glass: bool,
}

/// The outcome of an access decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; `emergency` when only break-glass allows it (audited as such, flagged).
    Allow {
        /// Allowed only through break-glass.
        emergency: bool,
    },
    /// Refused.
    Deny(crate::error::Denied),
}

/// The role matrix of a store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Rights of each role, by role name.
    pub roles: BTreeMap<String, RoleRights>,
    /// Break-glass and lockout settings.
    #[serde(default)]
    pub settings: AccessSettings,
}

impl Default for Policy {
    /// The default matrix (design notes §3): reception sees administrative data, not biology;
    /// the DPO sees the audit log and no clinical data; the administrator manages accounts only.
    fn default() -> Self {
        use Section::*;
        let rights = |r: &[Section], w: &[Section]| RoleRights {
            read: r.iter().copied().collect(),
            write: w.iter().copied().collect(),
            ..RoleRights::default()
        };
        let mut roles = BTreeMap::new();
        roles.insert("secretary".into(), rights(&[Identity, Reports], &[Identity, Reports]));
        roles.insert("physician".into(), rights(&[Identity, Reports, Exams], &[Identity, Reports, Exams]));
        roles.insert("nurse".into(), rights(&[Identity, Reports, Exams], &[]));
        roles.insert("biologist".into(), rights(&[Identity, Exams], &[Exams]));
        roles.insert("auditor".into(), RoleRights { audit: true, ..RoleRights::default() });
        roles
            .insert("admin".into(), RoleRights { manage_users: true, manage_care_team: true, ..RoleRights::default() });
        for r in ["secretary", "physician"] {
            if let Some(rights) = roles.get_mut(r) {
                rights.manage_care_team = true;
            }
        }
        Policy { roles, settings: AccessSettings::default() }
    }
}

impl Policy {
    /// Parses a JSON policy file and validates it.
    pub fn from_json(text: &str) -> Result<Policy> {
        let p: Policy = serde_json::from_str(text).map_err(PolicyError::Json)?;
        p.validate()?;
        Ok(p)
    }

    /// Checks the rules: known role names, write implies read, an admin role exists.
    pub fn validate(&self) -> Result<()> {
        let s = &self.settings;
        if s.break_glass_default_hours == 0 || s.break_glass_default_hours > s.break_glass_max_hours {
            return Err(PolicyError::Rule("break-glass default duration must be between 1 hour and the maximum").into());
        }
        if s.lockout_threshold == 0 || s.lockout_base_seconds == 0 || s.lockout_max_seconds < s.lockout_base_seconds {
            return Err(PolicyError::Rule("lockout settings must be positive, with max >= base").into());
        }
        if !self.roles.values().any(|r| r.manage_users) {
            return Err(PolicyError::Rule("no role has `manage_users`: nobody could manage the store").into());
        }
        for (name, r) in &self.roles {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c == '-') {
                return Err(PolicyError::RoleName(name.clone()).into());
            }
            if let Some(section) = r.write.difference(&r.read).next() {
                return Err(PolicyError::WriteWithoutRead { role: name.clone(), section: *section }.into());
            }
        }
        Ok(())
    }

    /// Rights of a role, or an error naming it.
    pub fn role(&self, name: &str) -> Result<&RoleRights> {
        self.roles.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.roles.keys().map(String::as_str).collect();
            Error::Invalid(InvalidInput::unknown("role", &known))
        })
    }

    /// Whether any of `roles` may read `section`.
    pub fn may_read(&self, roles: &[String], section: Section) -> bool {
        roles.iter().filter_map(|r| self.roles.get(r)).any(|r| r.read.contains(&section))
    }
    /// Whether any of `roles` may write `section`.
    pub fn may_write(&self, roles: &[String], section: Section) -> bool {
        roles.iter().filter_map(|r| self.roles.get(r)).any(|r| r.write.contains(&section))
    }
    /// Whether any of `roles` may audit.
    pub fn may_audit(&self, roles: &[String]) -> bool {
        roles.iter().filter_map(|r| self.roles.get(r)).any(|r| r.audit)
    }
    /// Whether any of `roles` may manage care teams and oppositions.
    pub fn may_manage_care_team(&self, roles: &[String]) -> bool {
        roles.iter().filter_map(|r| self.roles.get(r)).any(|r| r.manage_care_team)
    }

    /// Decides an access to `section`: the role matrix first (no key, no access), then, for
    /// every section, the patient's opposition, and for clinical sections the care team (CSP
    /// L1110-4). Break-glass overrides opposition and care team, never the role matrix.
    pub fn decide(&self, roles: &[String], section: Section, write: bool, facts: AccessFacts) -> Decision {
        use crate::error::Denied;
        let role_ok = if write { self.may_write(roles, section) } else { self.may_read(roles, section) };
        if !role_ok {
            return Decision::Deny(if write { Denied::SectionWrite(section) } else { Denied::SectionRead(section) });
        }
        let clinical = section != Section::Identity;
        let blocked = if facts.opposed {
            Some(Denied::Opposition)
        } else if clinical && !facts.in_care_team {
            Some(Denied::NotInCareTeam)
        } else {
            None
        };
        match blocked {
            None => Decision::Allow { emergency: false },
            Some(_) if facts.break_glass => Decision::Allow { emergency: true },
            Some(d) => Decision::Deny(d),
        }
    }

    /// Whether any of `roles` may manage users.
    pub fn may_manage(&self, roles: &[String]) -> bool {
        roles.iter().filter_map(|r| self.roles.get(r)).any(|r| r.manage_users)
    }

    /// The keys a user with these roles is given: every readable section's key, the blind-index
    /// key with identity, the directory key for managers. (No one is given the store audit key
    /// any more: each user signs with a key of their own, `keyring::signers`.)
    pub fn key_kinds(&self, roles: &[String]) -> BTreeSet<KeyKind> {
        let mut out = BTreeSet::new();
        for s in Section::ALL {
            if self.may_read(roles, s) {
                out.insert(KeyKind::Section(s));
            }
        }
        if self.may_read(roles, Section::Identity) {
            out.insert(KeyKind::BlindIndex);
        }
        if self.may_manage(roles) {
            out.insert(KeyKind::Directory);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matrix_is_valid_and_separates_duties() {
        let p = Policy::default();
        p.validate().unwrap();
        let sec = vec!["secretary".to_string()];
        assert!(p.may_read(&sec, Section::Reports));
        assert!(!p.may_read(&sec, Section::Exams));
        let dpo = p.key_kinds(&["auditor".to_string()]);
        assert!(dpo.is_empty(), "a DPO holds no key of any kind: {dpo:?}");
        let admin = p.key_kinds(&["admin".to_string()]);
        assert!(!admin.iter().any(|k| matches!(k, KeyKind::Section(_))));
    }

    #[test]
    fn write_without_read_is_refused_with_a_clear_error() {
        let text = r#"{"roles": {"admin": {"manage_users": true},
                        "lab": {"read": ["identity"], "write": ["exams"]}}}"#;
        let err = Policy::from_json(text).unwrap_err().to_string();
        assert!(err.contains("\"lab\" may write exams without reading it"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = r#"{"roles": {"admin": {"manage_users": true, "superuser": true}}}"#;
        assert!(Policy::from_json(text).unwrap_err().to_string().contains("superuser"));
    }
}
