//! [`Store`]: opening, creating, unlocking and recovering a store. Every path to patient data
//! goes through a [`Session`] obtained here.

use crate::audit::lockout::{LockState, WRONG_PASSPHRASE, lockout_end};
use crate::audit::{Action, Agent, AuditLog, EventDraft, Outcome, Purpose};
use crate::clock::{Clock, SystemClock};
use crate::codec;
use crate::crypto::recovery::{self, RecoveryShare};
use crate::crypto::sealbox::{self, BoxSecret};
use crate::crypto::{Binding, KdfParams, Key32, KeyKind, SigningSecret};
use crate::error::{Error, Existing, Fault, IntegrityError, Missing, Object, PolicyError, RecoveryError, Result};
use crate::keyring::{self, META_HEADER, Signed, StoreHeader};
use crate::model::{InvalidInput, SessionId, StoreId, Timestamp, UserId};
use crate::policy::Policy;
use crate::session::{AccessContext, Session};
use crate::state::Inner;
use crate::storage::witness::{self, WitnessFile, WitnessRead};
use crate::storage::{Backend, Batch, Committer, Durability, Engine, Space, engine};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Options for creating a store.
#[derive(Clone)]
pub struct StoreOptions {
    /// Role matrix (default: design notes §3).
    pub policy: Policy,
    /// Argon2id parameters for passphrases (default: 64 MiB, t=3, p=4).
    pub kdf: KdfParams,
    /// Recovery shares issued.
    pub recovery_shares: u8,
    /// Recovery shares needed.
    pub recovery_threshold: u8,
    /// A signed checkpoint is stored every this many events (and on close).
    pub checkpoint_interval: u64,
    /// Clock (tests inject one).
    pub clock: Arc<dyn Clock>,
    /// When audit events and writes are acknowledged.
    pub durability: Durability,
    /// Audit payloads older than this many days may be pruned by an auditor (`None`, the
    /// default: keep everything). Hospital traces: 6 months (CSP R6113-9-2); CNIL: 6-12 months.
    pub audit_retention_days: Option<u32>,
    /// Embedded engine of a store created in a folder (default: redb).
    pub engine: Engine,
    /// Folder where each closing checkpoint is also written, as an anchor kept outside the store
    /// (other media). Recorded in the store's descriptor; `verify` then checks the log extends
    /// the newest anchor there.
    pub anchor_dir: Option<PathBuf>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            policy: Policy::default(),
            kdf: KdfParams::RECOMMENDED,
            recovery_shares: 5,
            recovery_threshold: 3,
            checkpoint_interval: 256,
            clock: Arc::new(SystemClock),
            durability: Durability::Immediate,
            audit_retention_days: None,
            engine: Engine::default(),
            anchor_dir: None,
        }
    }
}

impl StoreOptions {
    /// Options with cheap key stretching, for tests and examples only.
    pub fn insecure_fast_for_tests() -> Self {
        StoreOptions { kdf: KdfParams::INSECURE_FAST, ..Self::default() }
    }
}

/// Everything a new store's input can be refused for; returns the administrator's role.
fn check_create_input(admin: &str, passphrase: &[u8], options: &StoreOptions) -> Result<String> {
    options.policy.validate()?;
    options.kdf.validate()?;
    keyring::validate_user_name(admin)?;
    if passphrase.len() < 8 {
        return Err(InvalidInput::Rule("passphrase must be at least 8 bytes").into());
    }
    options
        .policy
        .roles
        .iter()
        .find(|(_, r)| r.manage_users)
        .map(|(n, _)| n.clone())
        .ok_or(Error::Policy(PolicyError::Rule("no role has `manage_users`: nobody could manage the store")))
}

/// Compares the witness file in `dir` with the log.
fn witness_problem(
    dir: &Path,
    backend: &dyn Backend,
    header: &StoreHeader,
    audit: &AuditLog,
) -> Result<Option<IntegrityError>> {
    Ok(match witness::read(dir)? {
        // A store of the first release, or a witness removed by hand: the next commit writes a
        // new one (a local witness is no defence against its own deletion: SECURITY.md).
        WitnessRead::Missing => None,
        WitnessRead::Damaged => Some(IntegrityError::new(
            Object::Witness,
            Fault::Broken("both slots are damaged: cannot confirm that no acknowledged event was lost"),
        )),
        WitnessRead::Mark(m) => crate::audit::verify::witness_problem(backend, header.store, audit.size(), &m),
    })
}

/// An open store. Cheap to share between threads (`Clone` is a reference count).
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("id", &self.inner.header.store).finish_non_exhaustive()
    }
}

impl Store {
    /// Creates a store in `dir` (on `options.engine`, redb by default) with its first
    /// administrator. Returns the recovery shares, which exist nowhere else: hand each to its
    /// holder.
    pub fn create(
        dir: &Path,
        admin: &str,
        passphrase: &[u8],
        options: StoreOptions,
    ) -> Result<(Store, Vec<RecoveryShare>)> {
        if engine::detect(dir)?.is_some() {
            return Err(Error::store_exists(dir.to_path_buf()));
        }
        // Bad input changes nothing: it is refused before the folder is made.
        check_create_input(admin, passphrase, &options)?;
        let backend = engine::create(dir, options.engine)?;
        if let Some(a) = &options.anchor_dir {
            engine::set_anchor_dir(dir, Some(a))?;
        }
        let witness = WitnessFile::open(dir)?;
        let location = Some((dir.to_path_buf(), options.engine));
        Self::create_on(backend, location, Some(witness), admin, passphrase, options)
    }

    /// Creates a store on any backend.
    pub fn create_with_backend(
        backend: Arc<dyn Backend>,
        admin: &str,
        passphrase: &[u8],
        options: StoreOptions,
    ) -> Result<(Store, Vec<RecoveryShare>)> {
        Self::create_on(backend, None, None, admin, passphrase, options)
    }

    fn create_on(
        backend: Arc<dyn Backend>,
        location: Option<(PathBuf, Engine)>,
        witness: Option<WitnessFile>,
        admin: &str,
        passphrase: &[u8],
        options: StoreOptions,
    ) -> Result<(Store, Vec<RecoveryShare>)> {
        if backend.get(Space::Meta, META_HEADER)?.is_some() {
            return Err(Error::AlreadyExists(Existing::BackendStore));
        }
        let admin_role = check_create_input(admin, passphrase, &options)?;
        if !options.kdf.meets_recommendation() {
            tracing::warn!(
                m_kib = options.kdf.m_kib,
                t = options.kdf.t,
                "Argon2id parameters below the RFC 9106 recommendation"
            );
        }
        let now = options.clock.now();
        let store = StoreId::random();
        let directory = SigningSecret::random();
        let audit_key = SigningSecret::random();
        let recovery_secret = BoxSecret::random();
        let shares =
            recovery::split(&recovery_secret.to_key(), store, options.recovery_threshold, options.recovery_shares)?;
        let header = StoreHeader {
            format: crate::keyring::STORE_FORMAT,
            store,
            created_at: now,
            directory_public: directory.verifying_key(),
            audit_public: audit_key.verifying_key(),
            recovery_public: recovery_secret.public(),
            recovery_threshold: options.recovery_threshold,
            recovery_shares: options.recovery_shares,
            policy: options.policy.clone(),
            kdf: options.kdf,
            checkpoint_interval: options.checkpoint_interval,
            audit_retention_days: options.audit_retention_days,
        };
        drop(recovery_secret);
        let mut batch = Batch::new();
        batch.put(
            Space::Meta,
            META_HEADER.to_vec(),
            codec::encode(&Signed::sign("header", header.clone(), &directory)?)?,
        );
        let new_admin = keyring::new_user(&header, admin, vec![admin_role.clone()], passphrase, &directory, now)?;
        keyring::stage_user(&mut batch, &new_admin)?;
        let admin_identity = &new_admin.signed.body;
        keyring::stage_key_version(&mut batch, &header, KeyKind::Directory, 1, &directory.to_key(), &directory, now)?;
        keyring::stage_grant(&mut batch, store, admin_identity, KeyKind::Directory, 1, &directory.to_key())?;
        // The store audit key is sealed to the recovery key only (it signs what a recovery
        // appends); every user signs with a key of their own, the administrator first.
        keyring::stage_key_version(
            &mut batch,
            &header,
            KeyKind::AuditSigning,
            1,
            &audit_key.to_key(),
            &directory,
            now,
        )?;
        drop(audit_key);
        let admin_signer = keyring::signers::stage_new_signer(&mut batch, store, admin_identity, &directory, now)?;
        // Stores created from format 2 on record their writes from the first event.
        batch.put(Space::Meta, crate::audit::log::META_BASELINE.to_vec(), 0u64.to_be_bytes().to_vec());
        let committer = Committer::with_witness(backend.clone(), witness);
        let audit = AuditLog::load(backend.as_ref(), store, header.checkpoint_interval, options.clock.clone())?;
        let agent = Agent {
            user: Some(admin_identity.id),
            name: admin.to_string(),
            roles: vec![admin_role],
            session: None,
            workstation: "medvault-init".into(),
        };
        let draft = EventDraft::new(Action::StoreCreate, Outcome::Success, agent, Purpose::Operations);
        audit
            .append(&committer, vec![draft], batch, Some(Arc::new(admin_signer)), Durability::Immediate)?
            .durable(&audit, &committer)?;
        tracing::info!(store = %store, "store created");
        let s = Store::assemble(backend, header, committer, audit, options.clock, options.durability, location);
        Ok((s, shares))
    }

    /// Opens the store in `dir`, whatever its engine. Fails with an integrity error if the
    /// store no longer holds every audit event its witness saw acknowledged.
    pub fn open(dir: &Path) -> Result<Store> {
        let store = Self::open_for_verification(dir)?;
        if let Some(problem) = store.witness_problem() {
            return Err(problem.into());
        }
        Ok(store)
    }

    /// Opens the store in `dir` even if its witness disagrees with it, so that an auditor can
    /// run a full verification (which reports the disagreement). Nothing else should use it.
    pub fn open_for_verification(dir: &Path) -> Result<Store> {
        let (engine, backend) = engine::open(dir)?.ok_or_else(|| Error::NotFound(Missing::Store(dir.to_path_buf())))?;
        // The folder says a store is here: a missing header means the engine lost it.
        let header = keyring::load_header(backend.as_ref(), None).map_err(|e| match e {
            Error::NotFound(_) => IntegrityError::new(Object::StoreHeader, Fault::Missing).into(),
            e => e,
        })?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let audit = AuditLog::load(backend.as_ref(), header.store, header.checkpoint_interval, clock.clone())?;
        let problem = witness_problem(dir, backend.as_ref(), &header, &audit)?;
        // A witness that disagrees is evidence: it is never overwritten.
        let witness = if problem.is_none() { Some(WitnessFile::open(dir)?) } else { None };
        let committer = Committer::with_witness(backend.clone(), witness);
        let location = Some((dir.to_path_buf(), engine));
        let store = Store::assemble(backend, header, committer, audit, clock, Durability::Immediate, location);
        *store.inner.witness_problem.lock() = problem;
        Ok(store)
    }

    /// Opens a store on any backend.
    pub fn open_with_backend(backend: Arc<dyn Backend>, clock: Arc<dyn Clock>) -> Result<Store> {
        // Self-signed check only: the directory key is trusted at unlock, from the user's bundle.
        let header = keyring::load_header(backend.as_ref(), None)?;
        let committer = Committer::new(backend.clone());
        let audit = AuditLog::load(backend.as_ref(), header.store, header.checkpoint_interval, clock.clone())?;
        Ok(Store::assemble(backend, header, committer, audit, clock, Durability::Immediate, None))
    }

    fn assemble(
        backend: Arc<dyn Backend>,
        header: StoreHeader,
        committer: Committer,
        audit: AuditLog,
        clock: Arc<dyn Clock>,
        durability: Durability,
        location: Option<(PathBuf, Engine)>,
    ) -> Store {
        let lease = committer.lease().clone();
        Store {
            inner: Arc::new(Inner {
                backend,
                committer,
                header,
                audit,
                clock,
                durability,
                write_locks: crate::state::WriteLocks::new(lease),
                closing_signer: Mutex::new(None),
                location,
                witness_problem: Mutex::new(None),
            }),
        }
    }

    /// The disagreement between the witness file and the log found at open, if any (embedded
    /// stores only).
    pub fn witness_problem(&self) -> Option<IntegrityError> {
        self.inner.witness_problem.lock().clone()
    }

    /// The embedded engine of this store (`None`: a store on a backend given by the caller).
    pub fn engine(&self) -> Option<Engine> {
        self.inner.location.as_ref().map(|(_, e)| *e)
    }

    /// The store's id.
    pub fn id(&self) -> StoreId {
        self.inner.header.store
    }
    /// The role matrix.
    pub fn policy(&self) -> &Policy {
        &self.inner.header.policy
    }
    /// The key a third party checks extracts and inclusion proofs with: the directory public
    /// key, which certifies every user signing key. (Publish it.)
    pub fn verification_key(&self) -> [u8; 32] {
        self.inner.header.directory_public
    }
    /// The store audit public key. In stores of format 4 only recovery shares reach its secret;
    /// in older stores every user held it, and extracts signed with it are checked with it.
    pub fn audit_public_key(&self) -> [u8; 32] {
        self.inner.header.audit_public
    }
    /// Whether every user of this store was given the store audit key (stores created before
    /// format 4): heads signed with it name no one.
    pub fn audit_key_is_shared(&self) -> bool {
        self.inner.header.format < crate::keyring::STORE_FORMAT
    }
    /// Number of audit events.
    pub fn audit_size(&self) -> u64 {
        self.inner.audit.size()
    }

    /// Unlocks a user's session. Every attempt is audited; any failure is the one opaque
    /// [`Error::Authentication`] (the audit event tells the DPO which case it was).
    pub fn unlock(&self, user: &str, passphrase: &[u8], context: AccessContext) -> Result<Session> {
        let inner = &self.inner;
        let record = keyring::user_by_name(inner.backend.as_ref(), user)?;
        let settings = &inner.header.policy.settings;
        let fail = |uid: Option<UserId>, roles: Vec<String>, why: &str, lockout: Option<Timestamp>| -> Error {
            let agent = Agent {
                user: uid,
                name: user.to_string(),
                roles,
                session: None,
                workstation: context.workstation.clone(),
            };
            let mut drafts =
                vec![EventDraft::new(Action::Unlock, Outcome::Denied, agent.clone(), context.purpose).detail(why)];
            if let Some(until) = lockout {
                let ent = crate::audit::Entity { target_user: Some(user.to_string()), ..Default::default() };
                drafts.push(
                    EventDraft::new(Action::Lockout, Outcome::Success, agent, context.purpose)
                        .entity(ent)
                        .detail(format!("locked until {until}")),
                );
            }
            match inner
                .audit
                .append(&inner.committer, drafts, Batch::new(), None, Durability::Immediate)
                .and_then(|r| r.durable(&inner.audit, &inner.committer))
            {
                Ok(_) => Error::Authentication,
                Err(e) => e,
            }
        };
        let Some(record) = record else {
            // Same work as a real attempt, so timing does not reveal which names exist.
            let _ = inner.header.kdf.derive(passphrase, &[0u8; 16]);
            return Err(fail(None, vec![], "unknown user", None));
        };
        let ident = record.signed.body.clone();
        if ident.revoked || record.bundle.is_empty() {
            let _ = record.kdf.derive(passphrase, &record.salt);
            return Err(fail(Some(ident.id), ident.roles.clone(), "revoked user", None));
        }
        let now = inner.clock.now();
        let lock = LockState::load(inner.backend.as_ref(), user)?;
        if let Some(until) = lock.locked_until(settings, now) {
            // Refused without trying the passphrase: a lockout must stop guessing.
            return match fail(Some(ident.id), ident.roles.clone(), &format!("locked until {until}"), None) {
                Error::Authentication => Err(Error::Denied(crate::error::Denied::LockedOut(until))),
                e => Err(e),
            };
        }
        let bundle = match keyring::open_bundle(inner.header.store, &record, passphrase) {
            Ok(b) => b,
            Err(_) => {
                let lockout = lockout_end(lock.failures + 1, now, settings);
                return Err(fail(Some(ident.id), ident.roles.clone(), WRONG_PASSPHRASE, lockout));
            }
        };
        if bundle.directory_public != inner.header.directory_public {
            return Err(IntegrityError::new(Object::StoreHeader, Fault::ForeignKey).into());
        }
        let ident = record.signed.verify("user", &bundle.directory_public)?.clone();
        let secret = BoxSecret::from_key(&Key32::from_bytes(bundle.box_secret));
        let keys = keyring::open_session_keys(inner.backend.as_ref(), &inner.header, &ident, &secret)?;
        let session = Session::new(self.inner.clone(), ident, keys, secret, SessionId::random(), context);
        session.record_unlock()?;
        if let Some(signer) = session.keys().audit_signer() {
            if inner.backend.get(Space::Meta, crate::audit::log::META_BASELINE)?.is_none() {
                // A store of format 1: record what it holds, so that verify checks records
                // from here on.
                let draft = session.draft(Action::RecordBaseline, Outcome::Success, crate::audit::Entity::default());
                inner
                    .audit
                    .append_baseline(&inner.committer, draft, signer.clone())?
                    .durable(&inner.audit, &inner.committer)?;
            }
            *inner.closing_signer.lock() = Some(signer);
        }
        Ok(session)
    }

    /// Restores a user's access with `k` recovery shares: sets `new_passphrase`, and seals to
    /// the user every key version their roles entitle them to. Audited.
    pub fn recover(
        &self,
        shares: &[RecoveryShare],
        user: &str,
        new_passphrase: &[u8],
        context: AccessContext,
    ) -> Result<()> {
        let inner = &self.inner;
        let header = &inner.header;
        let secret_key = recovery::combine(shares, header.store)?;
        let secret = BoxSecret::from_key(&secret_key);
        if secret.public() != header.recovery_public {
            return Err(RecoveryError::WrongKey.into());
        }
        // Every key version, from the recovery wraps.
        let mut all = std::collections::BTreeMap::new();
        for (k, v) in inner.backend.scan_prefix(Space::RecoveryWraps, &[])? {
            if k.len() != 5 {
                return Err(IntegrityError::new(Object::RecoveryWrap, Fault::BadLength).into());
            }
            let kind = KeyKind::from_code(k[0]).ok_or(IntegrityError::new(Object::RecoveryWrap, Fault::UnknownKind))?;
            let version = u32::from_be_bytes([k[1], k[2], k[3], k[4]]);
            let key = sealbox::open_key(&secret, &Binding::RecoveryWrap { store: header.store, kind, version }, &v)?;
            all.insert((kind, version), key);
        }
        let directory = all
            .range((KeyKind::Directory, 0)..=(KeyKind::Directory, u32::MAX))
            .next_back()
            .map(|(_, k)| SigningSecret::from_key(k))
            .ok_or(IntegrityError::new(Object::RecoveryWrap, Fault::Missing))?;
        if directory.verifying_key() != header.directory_public {
            return Err(IntegrityError::new(
                Object::RecoveryWrap,
                Fault::Broken("the recovered directory key does not match the store header"),
            )
            .into());
        }
        keyring::load_header(inner.backend.as_ref(), Some(&header.directory_public))?;
        let record = keyring::user_by_name(inner.backend.as_ref(), user)?
            .ok_or_else(|| Error::NotFound(Missing::User(user.to_string())))?;
        let mut ident = record.signed.verify("user", &header.directory_public)?.clone();
        if new_passphrase.len() < 8 {
            return Err(InvalidInput::Rule("passphrase must be at least 8 bytes").into());
        }
        let box_secret = BoxSecret::random();
        ident.box_public = box_secret.public();
        ident.revoked = false;
        let (kdf, salt, bundle) = keyring::seal_bundle(header, ident.id, &box_secret, new_passphrase, header.kdf)?;
        let mut batch = Batch::new();
        // Old grants were sealed to the lost box key: replace them all.
        for (k, _) in inner.backend.scan_prefix(Space::Grants, &ident.id.0)? {
            batch.delete(Space::Grants, k);
        }
        for ((kind, version), key) in &all {
            if ident.entitled.contains(kind) {
                keyring::stage_grant(&mut batch, header.store, &ident, *kind, *version, key)?;
            }
        }
        let record = keyring::UserRecord {
            format: 1,
            signed: Signed::sign("user", ident.clone(), &directory)?,
            kdf,
            salt,
            bundle,
        };
        keyring::stage_user(&mut batch, &record)?;
        // The signing key sealed to the lost box key is retired; a new one is sealed to the new.
        let live = keyring::signers::live_signers_of(inner.backend.as_ref(), header, ident.id)?;
        inner.audit.retire_signers(&live);
        let now = inner.clock.now();
        keyring::signers::stage_retire_signers(inner.backend.as_ref(), &mut batch, header, ident.id, &directory, now)?;
        keyring::signers::stage_new_signer(&mut batch, header.store, &ident, &directory, now)?;
        let audit_key = all
            .range((KeyKind::AuditSigning, 0)..=(KeyKind::AuditSigning, u32::MAX))
            .next_back()
            .map(|(_, k)| Arc::new(SigningSecret::from_key(k)));
        let agent = Agent {
            user: None,
            name: "recovery-shares".into(),
            roles: vec![],
            session: None,
            workstation: context.workstation.clone(),
        };
        let draft = EventDraft::new(Action::Recover, Outcome::Success, agent, context.purpose)
            .entity(crate::audit::Entity { target_user: Some(ident.name.clone()), ..Default::default() })
            .detail(format!("{} shares", shares.len()));
        inner
            .audit
            .append(&inner.committer, vec![draft], batch, audit_key, Durability::Immediate)?
            .durable(&inner.audit, &inner.committer)?;
        tracing::info!(user = %ident.name, "access restored with recovery shares");
        Ok(())
    }

    /// Makes every acknowledged operation durable (needed only with [`Durability::Buffered`]).
    pub fn flush(&self) -> Result<()> {
        self.inner.committer.sync_all().map_err(Error::from)
    }

    /// Signs a closing checkpoint (if a session was ever unlocked), flushes, and writes the
    /// checkpoint to the anchor folder if one is configured (a failure there is logged, not
    /// fatal: the store itself is closed and durable).
    pub fn close(self) -> Result<()> {
        let mut closing = None;
        if let Some(signer) = self.inner.closing_signer.lock().take() {
            if self.inner.audit.is_retired(&signer.verifying_key()) {
                tracing::warn!("the last unlocked user was revoked or recovered since: no closing checkpoint");
            } else {
                closing = Some(self.inner.audit.checkpoint(&self.inner.committer, signer)?);
            }
        }
        self.flush()?;
        if let (Some(cp), Some(dir)) = (closing, self.anchor_dir()) {
            match crate::audit::anchor::export(&dir, &cp) {
                Ok(path) => tracing::info!(size = cp.head.size, path = %path.display(), "anchor written"),
                Err(e) => tracing::warn!(error = %e, "the anchor folder could not be written; anchor by hand"),
            }
        }
        Ok(())
    }

    /// The anchor folder named in the store's descriptor, if any (embedded stores only).
    pub fn anchor_dir(&self) -> Option<PathBuf> {
        self.inner.location.as_ref().and_then(|(dir, _)| engine::anchor_dir(dir))
    }

    /// The raw backend (test hooks only).
    #[cfg(feature = "testing")]
    pub(crate) fn raw_backend(&self) -> Arc<dyn Backend> {
        self.inner.backend.clone()
    }
}
