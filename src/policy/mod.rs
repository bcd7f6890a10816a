//! Who may do what: the role matrix.
//!
//! The matrix decides which keys a user is *given*; the keys then decide what a session *can*
//! decrypt. A policy granting write without read is refused (a writer must hold the section key).
//! The policy is fixed at store creation and signed with the store header.

use crate::crypto::KeyKind;
use crate::error::{Error, Result};
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
}

/// The role matrix of a store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Rights of each role, by role name.
    pub roles: BTreeMap<String, RoleRights>,
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
        roles.insert("admin".into(), RoleRights { manage_users: true, ..RoleRights::default() });
        Policy { roles }
    }
}

impl Policy {
    /// Parses a JSON policy file and validates it.
    pub fn from_json(text: &str) -> Result<Policy> {
        let p: Policy = serde_json::from_str(text).map_err(|e| Error::Policy(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    /// Checks the rules: known role names, write implies read, an admin role exists.
    pub fn validate(&self) -> Result<()> {
        if !self.roles.values().any(|r| r.manage_users) {
            return Err(Error::Policy("no role has `manage_users`: nobody could manage the store".into()));
        }
        for (name, r) in &self.roles {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c == '-') {
                return Err(Error::Policy(format!("role name {name:?} must be lower-case letters, '-' or '_'")));
            }
            if let Some(s) = r.write.difference(&r.read).next() {
                return Err(Error::Policy(format!(
                    "role {name:?} may write {s} without reading it; a writer must hold the section key, so grant read too"
                )));
            }
        }
        Ok(())
    }

    /// Rights of a role, or an error naming it.
    pub fn role(&self, name: &str) -> Result<&RoleRights> {
        self.roles.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.roles.keys().map(String::as_str).collect();
            Error::Invalid(format!("unknown role {name:?} (known: {})", known.join(", ")))
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
    /// Whether any of `roles` may manage users.
    pub fn may_manage(&self, roles: &[String]) -> bool {
        roles.iter().filter_map(|r| self.roles.get(r)).any(|r| r.manage_users)
    }

    /// The keys a user with these roles is given: every readable section's key, the blind-index
    /// key with identity, the audit signing key for all, the directory key for managers.
    pub fn key_kinds(&self, roles: &[String]) -> BTreeSet<KeyKind> {
        let mut out = BTreeSet::new();
        out.insert(KeyKind::AuditSigning);
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
        assert_eq!(dpo.into_iter().collect::<Vec<_>>(), vec![KeyKind::AuditSigning]);
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
