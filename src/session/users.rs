//! Account and key management (administrators) and passphrase change (everyone). The
//! auditors' operations are in `auditor`.

use super::Session;
use crate::audit::{Action, Entity, Outcome};
use crate::crypto::{Key32, KeyKind};
use crate::error::{Denied, Error, Existing, Missing, Result};
use crate::keyring::{self, Signed, UserIdentity};
use crate::model::{InvalidInput, Timestamp, UserId};
use crate::storage::{Batch, Space};
use serde::Serialize;

/// What `add_user` did.
#[derive(Clone, Debug)]
pub struct UserAdded {
    /// The new user's id.
    pub id: UserId,
    /// Keys created for this user (first holder of a section).
    pub created: Vec<KeyKind>,
    /// Keys that a current holder will seal to the user at their next unlock.
    pub pending: Vec<KeyKind>,
}

/// One account, as listed for administrators (no key material).
#[derive(Clone, Debug, Serialize)]
pub struct UserSummary {
    /// Login name.
    pub name: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Revoked?
    pub revoked: bool,
    /// Created at.
    pub created_at: Timestamp,
    /// Sections and keys not yet delivered.
    pub pending_keys: Vec<String>,
    /// Active users holding a pending key, any of whom delivers it at their next unlock
    /// (`medvault user deliver`).
    pub deliverable_by: Vec<String>,
    /// Name documents show (`medvault user profile`), if set.
    pub full_name: Option<String>,
    /// Profession documents show, if set.
    pub profession: Option<String>,
}

pub(super) fn target(name: &str) -> Entity {
    Entity { target_user: Some(name.to_string()), ..Entity::default() }
}

impl Session {
    pub(super) fn directory_signer(&self, action: Action, name: &str) -> Result<crate::crypto::SigningSecret> {
        self.require(self.policy_ref().may_manage(&self.user.roles), action, target(name), Denied::ManageUsers)?;
        self.keys()
            .signer(KeyKind::Directory)
            .ok_or_else(|| self.refuse(action, target(name), Error::Denied(Denied::ManageUsers)))
    }

    pub(super) fn policy_ref(&self) -> &crate::policy::Policy {
        &self.inner.header.policy
    }

    /// Seals to `user` what this session can give now, creating a first key version for kinds
    /// that have none. Returns (created, pending).
    fn provision(
        &self,
        batch: &mut Batch,
        user: &UserIdentity,
        directory: &crate::crypto::SigningSecret,
    ) -> Result<(Vec<KeyKind>, Vec<KeyKind>)> {
        let header = &self.inner.header;
        let backend = self.inner.backend.as_ref();
        let now = self.inner.clock.now();
        let (mut created, mut pending) = (Vec::new(), Vec::new());
        for kind in &user.entitled {
            let versions = keyring::live_key_versions(backend, header, *kind)?;
            if versions.is_empty() {
                // First holder of this key: create version 1, seal it to the user and to the
                // recovery key, and drop it (an administrator keeps no clinical key).
                let key = Key32::random();
                keyring::stage_key_version(batch, header, *kind, 1, &key, directory, now)?;
                keyring::stage_grant(batch, header.store, user, *kind, 1, &key)?;
                // An explicit state lets every write find the primary version in one read.
                let state =
                    keyring::KeyState { format: 1, store: header.store, kind: *kind, primary: 1, min_decryption: 1 };
                keyring::stage_key_state(batch, state, directory)?;
                created.push(*kind);
                continue;
            }
            let mut missing = false;
            let held = self.keys();
            for v in versions {
                match held.key(*kind, v.version) {
                    Some(key) => keyring::stage_grant(batch, header.store, user, *kind, v.version, key)?,
                    None => missing = true,
                }
            }
            if missing {
                pending.push(*kind);
            }
        }
        Ok((created, pending))
    }

    /// Creates a user with roles and an initial passphrase (to be changed by the user).
    pub fn add_user(&self, name: &str, roles: &[String], passphrase: &[u8]) -> Result<UserAdded> {
        let directory = self.directory_signer(Action::UserAdd, name)?;
        let backend = self.inner.backend.as_ref();
        if keyring::user_by_name(backend, name)?.is_some() {
            return Err(Error::AlreadyExists(Existing::User(name.to_string())));
        }
        let now = self.inner.clock.now();
        let new = keyring::new_user(&self.inner.header, name, roles.to_vec(), passphrase, &directory, now)?;
        let mut batch = Batch::new();
        keyring::stage_user(&mut batch, &new)?;
        let ident = new.signed.body.clone();
        keyring::signers::stage_new_signer(&mut batch, self.inner.header.store, &ident, &directory, now)?;
        let (created, pending) = self.provision(&mut batch, &ident, &directory)?;
        let mut drafts = vec![
            self.draft(Action::UserAdd, Outcome::Success, target(name)).detail(format!("roles: {}", roles.join(","))),
        ];
        for k in &created {
            drafts.push(
                self.draft(Action::KeyCreate, Outcome::Success, target(name))
                    .detail(format!("{k:?} v1").to_lowercase()),
            );
        }
        self.commit(drafts, batch)?;
        Ok(UserAdded { id: ident.id, created, pending })
    }

    fn load_ident(&self, name: &str) -> Result<(keyring::UserRecord, UserIdentity)> {
        let record = keyring::user_by_name(self.inner.backend.as_ref(), name)?
            .ok_or_else(|| Error::NotFound(Missing::User(name.to_string())))?;
        let ident = record.signed.verify("user", &self.inner.header.directory_public)?.clone();
        Ok((record, ident))
    }

    /// Revokes a user: they can no longer unlock, and every key sealed to them is deleted.
    /// (Rotate section keys afterwards so that new data is unreadable with anything they copied.)
    pub fn revoke_user(&self, name: &str) -> Result<()> {
        let directory = self.directory_signer(Action::UserRevoke, name)?;
        let (mut record, mut ident) = self.load_ident(name)?;
        if self.policy_ref().may_manage(&ident.roles) {
            let managers = keyring::all_users(self.inner.backend.as_ref())?
                .into_iter()
                .filter(|r| !r.signed.body.revoked && self.policy_ref().may_manage(&r.signed.body.roles))
                .count();
            if managers <= 1 {
                return Err(InvalidInput::Rule("cannot revoke the last administrator").into());
            }
        }
        ident.revoked = true;
        let mut batch = Batch::new();
        for (k, _) in self.inner.backend.scan_prefix(Space::Grants, &ident.id.0)? {
            batch.delete(Space::Grants, k);
        }
        let backend = self.inner.backend.as_ref();
        // Sessions of this user still open in this process sign nothing from now on, and
        // what they staged before is dated before the retirement.
        let live = keyring::signers::live_signers_of(backend, &self.inner.header, ident.id)?;
        self.inner.audit.retire_signers(&live);
        let now = self.inner.clock.now();
        keyring::signers::stage_retire_signers(backend, &mut batch, &self.inner.header, ident.id, &directory, now)?;
        record.signed = Signed::sign("user", ident, &directory)?;
        record.bundle = Vec::new();
        keyring::stage_user(&mut batch, &record)?;
        self.commit(vec![self.draft(Action::UserRevoke, Outcome::Success, target(name))], batch)?;
        Ok(())
    }

    /// Replaces a user's roles. Keys of roles removed are deleted; keys of roles added are
    /// sealed now when this session can, else at a holder's next unlock.
    pub fn set_roles(&self, name: &str, roles: &[String]) -> Result<UserAdded> {
        let directory = self.directory_signer(Action::RoleChange, name)?;
        let (mut record, mut ident) = self.load_ident(name)?;
        if ident.revoked {
            return Err(InvalidInput::Rule("a revoked user's roles cannot change").into());
        }
        if roles.is_empty() {
            return Err(InvalidInput::Rule("a user needs at least one role").into());
        }
        for r in roles {
            self.policy_ref().role(r)?;
        }
        ident.roles = roles.to_vec();
        ident.entitled = self.policy_ref().key_kinds(roles).into_iter().collect();
        let mut batch = Batch::new();
        for (k, _) in self.inner.backend.scan_prefix(Space::Grants, &ident.id.0)? {
            let kind = k.get(16).copied().and_then(KeyKind::from_code);
            if kind.is_none_or(|kd| !ident.entitled.contains(&kd)) {
                batch.delete(Space::Grants, k);
            }
        }
        let (created, pending) = self.provision(&mut batch, &ident, &directory)?;
        record.signed = Signed::sign("user", ident.clone(), &directory)?;
        keyring::stage_user(&mut batch, &record)?;
        self.commit(
            vec![
                self.draft(Action::RoleChange, Outcome::Success, target(name))
                    .detail(format!("roles: {}", roles.join(","))),
            ],
            batch,
        )?;
        Ok(UserAdded { id: ident.id, created, pending })
    }

    /// Changes this user's passphrase: only their bundle is re-sealed.
    pub fn change_passphrase(&self, old: &[u8], new: &[u8]) -> Result<()> {
        let (mut record, ident) = self.load_ident(&self.user.name.clone())?;
        let bundle = keyring::open_bundle(self.inner.header.store, &record, old)
            .map_err(|e| self.refuse(Action::PassphraseChange, target(&ident.name), e))?;
        if new.len() < 8 {
            return Err(InvalidInput::Rule("passphrase must be at least 8 bytes").into());
        }
        let secret = crate::crypto::sealbox::BoxSecret::from_key(&Key32::from_bytes(bundle.box_secret));
        let (kdf, salt, sealed) =
            keyring::seal_bundle(&self.inner.header, ident.id, &secret, new, self.inner.header.kdf)?;
        record.kdf = kdf;
        record.salt = salt;
        record.bundle = sealed;
        let mut batch = Batch::new();
        keyring::stage_user(&mut batch, &record)?;
        self.commit(vec![self.draft(Action::PassphraseChange, Outcome::Success, target(&ident.name))], batch)?;
        Ok(())
    }

    /// Lists accounts (administrators and auditors).
    pub fn list_users(&self) -> Result<Vec<UserSummary>> {
        let p = self.policy_ref();
        self.require(
            p.may_manage(&self.user.roles) || p.may_audit(&self.user.roles),
            Action::AuditQuery,
            Entity::default(),
            Denied::ManageUsers,
        )?;
        let backend = self.inner.backend.as_ref();
        let mut idents = Vec::new();
        for r in keyring::all_users(backend)? {
            idents.push(r.signed.verify("user", &self.inner.header.directory_public)?.clone());
        }
        let has = |id, kind, version| -> Result<bool> {
            Ok(backend.get(Space::Grants, &keyring::records::grant_key(id, kind, version))?.is_some())
        };
        let profiles = self.staff_profiles()?;
        let mut out = Vec::new();
        for ident in &idents {
            let profile = profiles.get(&ident.id);
            let (mut pending, mut by) = (Vec::new(), Vec::new());
            if !ident.revoked {
                for kind in &ident.entitled {
                    for v in keyring::live_key_versions(backend, &self.inner.header, *kind)? {
                        if has(ident.id, *kind, v.version)? {
                            continue;
                        }
                        pending.push(format!("{kind:?} v{}", v.version).to_lowercase());
                        for holder in idents.iter().filter(|h| !h.revoked && h.id != ident.id) {
                            if has(holder.id, *kind, v.version)? && !by.contains(&holder.name) {
                                by.push(holder.name.clone());
                            }
                        }
                    }
                }
            }
            out.push(UserSummary {
                name: ident.name.clone(),
                roles: ident.roles.clone(),
                revoked: ident.revoked,
                created_at: ident.created_at,
                pending_keys: pending,
                deliverable_by: by,
                full_name: profile.map(|p| p.full_name.clone()),
                profession: profile.map(|p| p.profession.clone()),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        self.commit(
            vec![self.draft(Action::AuditQuery, Outcome::Success, Entity::default()).detail("user list")],
            Batch::new(),
        )?;
        Ok(out)
    }
}

impl Session {
    /// Lifts a user's lockout (administrators). Audited; their failure count starts again.
    pub fn lift_lockout(&self, name: &str) -> Result<()> {
        let ent = target(name);
        self.require(
            self.policy_ref().may_manage(&self.user.roles),
            Action::LockoutLift,
            ent.clone(),
            Denied::ManageUsers,
        )?;
        self.load_ident(name)?;
        self.commit(vec![self.draft(Action::LockoutLift, Outcome::Success, ent)], Batch::new())?;
        Ok(())
    }
}
