//! [`Session`]: one unlocked user, the keys their roles grant, and every operation on data.
//!
//! Data flows one way: policy check (`authorize` makes a `Grant`) -> storage fetch -> decrypt
//! into [`Opened`] bound to that grant -> `Session::release`, which appends the grant's event
//! durably and only then hands the plaintext out. Only a durable audit append makes an
//! `AuditReceipt`, so no path hands out plaintext before its event is on disk.

pub(crate) mod access;
pub(crate) mod attachments;
mod auditor;
pub(crate) mod break_glass;
mod internal;
pub(crate) mod notes;
pub(crate) mod opened;
pub(crate) mod patient_header;
pub(crate) mod patient_keys;
pub(crate) mod profiles;
pub(crate) mod records;
pub(crate) mod rotation;
pub(crate) mod users;

pub(crate) use break_glass::BreakGlassRecord;
pub(crate) use opened::Opened;

use crate::audit::{Action, Agent, AuditReceipt, Entity, EventDraft, Outcome, Purpose};
use crate::crypto::KeyKind;
use crate::error::{Denied, Error, Result};
use crate::keyring::{self, HeldKeys, UserIdentity};
use crate::model::{SessionId, UserId};
use crate::state::Inner;
use crate::storage::{Batch, Durability};
use std::sync::Arc;

/// Who is acting from where, and why: recorded in every audit event of the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessContext {
    /// Workstation or application id, given by the integrator ("accueil-poste-2", "agenda-v3").
    pub workstation: String,
    /// Purpose of use.
    pub purpose: Purpose,
}

impl AccessContext {
    /// A context for care of patients.
    pub fn treatment(workstation: impl Into<String>) -> Self {
        AccessContext { workstation: workstation.into(), purpose: Purpose::Treatment }
    }
    /// A context for administering the store.
    pub fn operations(workstation: impl Into<String>) -> Self {
        AccessContext { workstation: workstation.into(), purpose: Purpose::Operations }
    }
}

/// An unlocked user. Holds only the keys the user's roles grant; dropping it zeroizes them.
pub struct Session {
    /// The store's state: reached only by the session module (exports and rights go through
    /// `internal`).
    pub(in crate::session) inner: Arc<Inner>,
    pub(crate) user: UserIdentity,
    /// A snapshot of the keys held, replaced whole by `refresh_keys` (never mutated in place).
    keys: parking_lot::RwLock<Arc<HeldKeys>>,
    box_secret: crate::crypto::sealbox::BoxSecret,
    id: SessionId,
    context: AccessContext,
    durability: Durability,
    /// Keys this session sealed to other users when it unlocked: (user name, key names).
    delivered: parking_lot::Mutex<Vec<(String, Vec<String>)>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user.name)
            .field("roles", &self.user.roles)
            .field("session", &self.id)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(
        inner: Arc<Inner>,
        user: UserIdentity,
        keys: HeldKeys,
        box_secret: crate::crypto::sealbox::BoxSecret,
        id: SessionId,
        context: AccessContext,
    ) -> Self {
        let durability = inner.durability;
        Session {
            inner,
            user,
            keys: parking_lot::RwLock::new(Arc::new(keys)),
            box_secret,
            id,
            context,
            durability,
            delivered: parking_lot::Mutex::new(Vec::new()),
        }
    }

    /// The keys this session delivered when it unlocked: the users it sealed keys to, and the
    /// names of those keys (`section(exams)`, `blindindex`, ...). A user added after a key's
    /// holders last unlocked waits for the next unlock of one of them.
    pub fn delivered_at_unlock(&self) -> Vec<(String, Vec<String>)> {
        self.delivered.lock().clone()
    }

    /// The keys this session holds now.
    pub(crate) fn keys(&self) -> Arc<HeldKeys> {
        self.keys.read().clone()
    }

    /// Re-reads the keys sealed to this user: versions added by a rotation, keys delivered since
    /// unlock. Called by itself when a needed version is missing.
    pub fn refresh_keys(&self) -> Result<()> {
        let fresh =
            keyring::open_session_keys(self.inner.backend.as_ref(), &self.inner.header, &self.user, &self.box_secret)?;
        *self.keys.write() = Arc::new(fresh);
        Ok(())
    }

    /// One version of a key, refreshing the key set once if this session does not hold it yet.
    pub(crate) fn key_version(&self, kind: KeyKind, version: u32) -> Result<crate::crypto::Key32> {
        if let Some(k) = self.keys().key(kind, version) {
            return Ok(k.clone());
        }
        self.refresh_keys()?;
        self.keys().key(kind, version).cloned().ok_or(match kind {
            KeyKind::Section(s) => Error::KeyPending(s),
            _ => Error::KeyPending(crate::model::Section::Identity),
        })
    }

    /// Sets when this session's *writes* are acknowledged. [`Durability::Buffered`] is for bulk
    /// jobs (imports): call [`crate::Store::flush`] at the end; a crash may lose the last writes
    /// acknowledged before it, never leave a gap in the log. Reads, searches, exports and
    /// refusals are always on disk before they return, in every mode.
    pub fn set_durability(&mut self, durability: Durability) {
        self.durability = durability;
    }

    /// The user's name.
    pub fn user_name(&self) -> &str {
        &self.user.name
    }
    /// The user's id.
    pub fn user_id(&self) -> UserId {
        self.user.id
    }
    /// The user's roles.
    pub fn roles(&self) -> &[String] {
        &self.user.roles
    }
    /// This session's id (in every audit event it causes).
    pub fn id(&self) -> SessionId {
        self.id
    }
    /// The sections whose key this session holds (what it can decrypt).
    pub fn readable_sections(&self) -> Vec<crate::model::Section> {
        self.keys().sections()
    }

    /// The raw backend (test hooks only).
    #[cfg(feature = "testing")]
    pub(crate) fn raw_backend(&self) -> Arc<dyn crate::storage::Backend> {
        self.inner.backend.clone()
    }

    pub(crate) fn agent(&self) -> Agent {
        Agent {
            user: Some(self.user.id),
            name: self.user.name.clone(),
            roles: self.user.roles.clone(),
            session: Some(self.id),
            workstation: self.context.workstation.clone(),
        }
    }

    pub(crate) fn draft(&self, action: Action, outcome: Outcome, entity: Entity) -> EventDraft {
        EventDraft::new(action, outcome, self.agent(), self.context.purpose).entity(entity)
    }

    /// Appends events (and the operation's writes) and waits for durability. An operation that
    /// writes nothing but its events (a read, a search, a query, a refusal) is always durable
    /// before this returns; only writes follow the session's [`Durability`].
    pub(crate) fn commit(&self, drafts: Vec<EventDraft>, batch: Batch) -> Result<AuditReceipt> {
        self.append(drafts, batch)?.durable(&self.inner.audit, &self.inner.committer)
    }

    /// Appends events and writes without waiting for durability (for callers that must release
    /// a lock first, so that flushes are shared); finish with `PendingReceipt::durable`.
    pub(crate) fn append(&self, drafts: Vec<EventDraft>, batch: Batch) -> Result<crate::audit::PendingReceipt> {
        let signer = self.keys().audit_signer();
        let durability = if batch.is_empty() { Durability::Immediate } else { self.durability };
        self.inner.audit.append(&self.inner.committer, drafts, batch, signer, durability)
    }

    /// The key this session signs with, unless its user was revoked or recovered since unlock.
    pub(crate) fn live_signer(&self) -> Result<Arc<crate::crypto::SigningSecret>> {
        let signer = self.keys().audit_signer().ok_or(Error::Denied(Denied::Audit))?;
        if self.inner.audit.is_retired(&signer.verifying_key()) {
            return Err(Error::Denied(Denied::SessionRetired));
        }
        Ok(signer)
    }

    /// Records a refused or failed access, then returns `err` (or the audit failure).
    pub(crate) fn refuse(&self, action: Action, entity: Entity, err: Error) -> Error {
        let outcome = if err.is_denied() { Outcome::Denied } else { Outcome::Error };
        let draft = self.draft(action, outcome, entity).detail(err.to_string());
        match self.commit(vec![draft], Batch::new()) {
            Ok(_) => err,
            Err(audit_err) => audit_err,
        }
    }

    pub(crate) fn require(&self, ok: bool, action: Action, entity: Entity, denied: Denied) -> Result<()> {
        if ok { Ok(()) } else { Err(self.refuse(action, entity, Error::Denied(denied))) }
    }

    /// Audits the unlock and delivers pending keys this session holds to entitled users.
    /// An administrator's unlock also gives a signing key of their own to every live account
    /// that has none (accounts of stores older than format 4).
    pub(crate) fn record_unlock(&self) -> Result<()> {
        let (mut batch, delivered) =
            keyring::deliver_pending(self.inner.backend.as_ref(), &self.inner.header, &self.keys())?;
        let mut drafts = vec![self.draft(Action::Unlock, Outcome::Success, Entity::default())];
        let mut enrolled_self = false;
        if let Some(directory) = self.keys().signer(KeyKind::Directory) {
            let now = self.inner.clock.now();
            let (backend, header) = (self.inner.backend.as_ref(), &self.inner.header);
            for user in keyring::signers::users_without_signer(backend, header)? {
                keyring::signers::stage_new_signer(&mut batch, header.store, &user, &directory, now)?;
                enrolled_self |= user.id == self.user.id;
                drafts.push(
                    self.draft(
                        Action::KeyCreate,
                        Outcome::Success,
                        Entity { target_user: Some(user.name.clone()), ..Entity::default() },
                    )
                    .detail("signing key"),
                );
            }
        }
        let mut handed = Vec::new();
        for (name, kinds) in delivered {
            let what: Vec<String> = kinds.iter().map(|k| format!("{k:?}").to_lowercase()).collect();
            handed.push((name.clone(), what.clone()));
            drafts.push(
                self.draft(
                    Action::KeyDelivery,
                    Outcome::Success,
                    Entity { target_user: Some(name), ..Entity::default() },
                )
                .detail(what.join(",")),
            );
        }
        self.commit(drafts, batch)?;
        *self.delivered.lock() = handed;
        if enrolled_self {
            self.refresh_keys()?;
        }
        Ok(())
    }
}
