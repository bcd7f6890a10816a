//! Users and their keys: accounts, sealed key grants, key versions, recovery.
//!
//! Invariants:
//! - A user's key set is exactly what their (directory-signed) entitlements allow and what has
//!   been sealed to them; a session never holds a key its roles do not grant.
//! - Every key a session accepts has a directory-signed fingerprint: keys planted through raw
//!   storage access are refused.
//! - Every key version is sealed to the recovery public key when it is created, so k recovery
//!   shares can always restore access.
//! - An administrator's session holds no section key; it creates a section key version only
//!   when granting a section that has none yet, seals it and drops it at once.

pub(crate) mod profiles;
pub(crate) mod records;
pub(crate) mod signers;

pub(crate) use records::{Bundle, KeyState, KeyVersion, Signed, StoreHeader, UserIdentity, UserRecord};

use crate::codec;
use crate::crypto::sealbox::{self, BoxSecret};
use crate::crypto::{Binding, KdfParams, Key32, KeyKind, SigningSecret, aead};
use crate::error::{Error, Fault, IntegrityError, Missing, Object, Result};
use crate::model::{InvalidInput, Section, StoreId, Timestamp, UserId, random_bytes};
use crate::storage::{Backend, Batch, Space};
use records::{fingerprint, grant_key, key_state_key, key_version_key};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) const META_HEADER: &[u8] = crate::layout::meta::HEADER;

/// Header format of stores created now: 4, where every user signs tree heads with a key of
/// their own and the store audit key is sealed to the recovery key only (docs/format.md §9).
pub(crate) const STORE_FORMAT: u16 = 4;
/// Header format of stores with the patient-key layer whose users all hold the store audit key.
pub(crate) const STORE_FORMAT_PATIENT_KEYS: u16 = 3;
/// Header format of stores created by formats 1 and 2 (revisions wrapped under section keys;
/// still opened, and moved under patient keys by the rewrap).
pub(crate) const STORE_FORMAT_FIRST: u16 = 1;

/// The keys one session holds. No `Debug`; every key zeroizes on drop.
pub(crate) struct HeldKeys {
    pub(crate) keys: BTreeMap<(KeyKind, u32), Key32>,
    /// The key this session signs tree heads with: the user's own certified key, else (accounts
    /// of stores older than format 4 not yet given one) the store audit key.
    signer: Option<Arc<SigningSecret>>,
}

impl HeldKeys {
    /// Holds `keys`; the signer is the store audit key if one of them.
    pub(crate) fn new(keys: BTreeMap<(KeyKind, u32), Key32>) -> Self {
        let mut held = HeldKeys { keys, signer: None };
        held.signer = held.signer(KeyKind::AuditSigning).map(Arc::new);
        held
    }
    /// The key tree heads are signed with, ready to sign.
    pub(crate) fn audit_signer(&self) -> Option<Arc<SigningSecret>> {
        self.signer.clone()
    }
    /// A key of a given version.
    pub(crate) fn key(&self, kind: KeyKind, version: u32) -> Option<&Key32> {
        self.keys.get(&(kind, version))
    }
    /// The newest version held of a kind.
    pub(crate) fn newest(&self, kind: KeyKind) -> Option<(u32, &Key32)> {
        self.keys.range((kind, 0)..=(kind, u32::MAX)).next_back().map(|((_, v), k)| (*v, k))
    }
    /// Whether some version of `kind` is held.
    pub(crate) fn holds(&self, kind: KeyKind) -> bool {
        self.newest(kind).is_some()
    }
    /// The sections this session can decrypt.
    pub(crate) fn sections(&self) -> Vec<Section> {
        Section::ALL.into_iter().filter(|s| self.holds(KeyKind::Section(*s))).collect()
    }
    /// A signing key (audit or directory), rebuilt from its newest version.
    pub(crate) fn signer(&self, kind: KeyKind) -> Option<SigningSecret> {
        self.newest(kind).map(|(_, k)| SigningSecret::from_key(k))
    }
}

/// Reads and checks the store header against a trusted directory key.
pub(crate) fn load_header(backend: &dyn Backend, directory_public: Option<&[u8; 32]>) -> Result<StoreHeader> {
    let bytes = backend.get(Space::Meta, META_HEADER)?.ok_or(Error::NotFound(Missing::StoreHeader))?;
    let signed: Signed<StoreHeader> = codec::decode(&bytes, crate::error::Object::StoreHeader)?;
    let trusted = directory_public.copied().unwrap_or(signed.body.directory_public);
    signed.verify("header", &trusted)?;
    if !matches!(signed.body.format, STORE_FORMAT_FIRST | STORE_FORMAT_PATIENT_KEYS | STORE_FORMAT) {
        return Err(
            IntegrityError::new(Object::StoreHeader, Fault::UnsupportedFormat(signed.body.format.into())).into()
        );
    }
    Ok(signed.body)
}

/// Looks a user up by name.
pub(crate) fn user_by_name(backend: &dyn Backend, name: &str) -> Result<Option<UserRecord>> {
    let Some(id) = backend.get(Space::UserNames, name.as_bytes())? else {
        return Ok(None);
    };
    let id: [u8; 16] = id.try_into().map_err(|_| IntegrityError::new(Object::UserIndex, Fault::BadLength))?;
    user_by_id(backend, UserId(id))
}

/// Looks a user up by id.
pub(crate) fn user_by_id(backend: &dyn Backend, id: UserId) -> Result<Option<UserRecord>> {
    match backend.get(Space::Users, &id.0)? {
        Some(bytes) => Ok(Some(codec::decode(&bytes, crate::error::Object::UserRecord)?)),
        None => Ok(None),
    }
}

/// Every user record.
pub(crate) fn all_users(backend: &dyn Backend) -> Result<Vec<UserRecord>> {
    backend
        .scan_prefix(Space::Users, &[])?
        .into_iter()
        .map(|(_, v)| codec::decode(&v, crate::error::Object::UserRecord))
        .collect()
}

/// Checks a user name: 1-64 characters, letters, digits, '.', '-', '_'.
pub(crate) fn validate_user_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c)) {
        return Err(InvalidInput::Rule("user name must be 1-64 characters: letters, digits, '.', '-', '_'").into());
    }
    Ok(())
}

/// Creates an account record (signed, with its sealed bundle); the caller stores it.
pub(crate) fn new_user(
    header: &StoreHeader,
    name: &str,
    roles: Vec<String>,
    passphrase: &[u8],
    directory: &SigningSecret,
    now: Timestamp,
) -> Result<UserRecord> {
    validate_user_name(name)?;
    if passphrase.len() < 8 {
        return Err(InvalidInput::Rule("passphrase must be at least 8 bytes").into());
    }
    if roles.is_empty() {
        return Err(InvalidInput::Rule("a user needs at least one role").into());
    }
    for r in &roles {
        header.policy.role(r)?;
    }
    let id = UserId::random();
    let box_secret = BoxSecret::random();
    let identity = UserIdentity {
        store: header.store,
        id,
        name: name.to_string(),
        entitled: header.policy.key_kinds(&roles).into_iter().collect(),
        roles,
        box_public: box_secret.public(),
        revoked: false,
        created_at: now,
    };
    let (kdf, salt, bundle) = seal_bundle(header, id, &box_secret, passphrase, header.kdf)?;
    // The box secret lives on only inside the sealed bundle: keys are sealed to its public half.
    Ok(UserRecord { format: 1, signed: Signed::sign("user", identity, directory)?, kdf, salt, bundle })
}

/// Seals a user's bundle under a fresh passphrase key.
pub(crate) fn seal_bundle(
    header: &StoreHeader,
    user: UserId,
    box_secret: &BoxSecret,
    passphrase: &[u8],
    kdf: KdfParams,
) -> Result<(KdfParams, [u8; 16], Vec<u8>)> {
    let salt: [u8; 16] = random_bytes();
    let kek = kdf.derive(passphrase, &salt)?;
    let bundle = Bundle { box_secret: *box_secret.to_key().expose(), directory_public: header.directory_public };
    let plain = zeroize::Zeroizing::new(codec::encode(&bundle)?);
    let sealed = aead::seal(&kek, &Binding::UserBundle { store: header.store, user }, &plain);
    Ok((kdf, salt, sealed))
}

/// Opens a user's bundle with their passphrase. Any failure is [`Error::Authentication`].
pub(crate) fn open_bundle(store: StoreId, record: &UserRecord, passphrase: &[u8]) -> Result<Bundle> {
    let kek = record.kdf.derive(passphrase, &record.salt).map_err(|_| Error::Authentication)?;
    let user = record.signed.body.id;
    let plain =
        aead::open(&kek, &Binding::UserBundle { store, user }, &record.bundle).map_err(|_| Error::Authentication)?;
    codec::decode(&plain, crate::error::Object::UserRecord).map_err(|_| Error::Authentication)
}

/// Puts a user record (and its name index) into a batch.
pub(crate) fn stage_user(batch: &mut Batch, record: &UserRecord) -> Result<()> {
    let id = record.signed.body.id;
    batch.put(Space::Users, id.0.to_vec(), codec::encode(record)?);
    batch.put(Space::UserNames, record.signed.body.name.as_bytes().to_vec(), id.0.to_vec());
    Ok(())
}

/// The primary and oldest accepted versions of a kind (checked); `None` when no version exists.
pub(crate) fn key_state(backend: &dyn Backend, header: &StoreHeader, kind: KeyKind) -> Result<Option<KeyState>> {
    if let Some(state) = explicit_key_state(backend, header, kind)? {
        return Ok(Some(state));
    }
    Ok(implicit_key_state(header, kind, &key_versions(backend, header, kind)?))
}

/// With no stored state, the newest *signed* version is primary and every version is live.
fn implicit_key_state(header: &StoreHeader, kind: KeyKind, versions: &[KeyVersion]) -> Option<KeyState> {
    let newest = versions.iter().map(|v| v.version).max()?;
    Some(KeyState { format: 1, store: header.store, kind, primary: newest, min_decryption: 1 })
}

/// The stored (directory-signed) state of a kind, if any.
fn explicit_key_state(backend: &dyn Backend, header: &StoreHeader, kind: KeyKind) -> Result<Option<KeyState>> {
    if let Some(bytes) = backend.get(Space::Meta, &key_state_key(kind))? {
        let s: Signed<KeyState> = codec::decode(&bytes, crate::error::Object::KeyState)?;
        let body = s.verify("key-state", &header.directory_public)?.clone();
        if body.store != header.store || body.kind != kind {
            return Err(IntegrityError::new(Object::KeyState, Fault::OutOfPlace).into());
        }
        return Ok(Some(body));
    }
    Ok(None)
}

/// The live (not retired) signed versions of a kind, reading its versions and state once.
fn live_versions_of(backend: &dyn Backend, header: &StoreHeader, kind: KeyKind) -> Result<Vec<KeyVersion>> {
    let versions = key_versions(backend, header, kind)?;
    let state = match explicit_key_state(backend, header, kind)? {
        Some(s) => Some(s),
        None => implicit_key_state(header, kind, &versions),
    };
    let min = state.map_or(1, |s| s.min_decryption);
    Ok(versions.into_iter().filter(|v| v.version >= min).collect())
}

/// Stores a signed key state.
pub(crate) fn stage_key_state(batch: &mut Batch, state: KeyState, directory: &SigningSecret) -> Result<()> {
    let kind = state.kind;
    batch.put(Space::Meta, key_state_key(kind), codec::encode(&Signed::sign("key-state", state, directory)?)?);
    Ok(())
}

/// Every signed key version of a kind, checked, oldest first.
pub(crate) fn key_versions(backend: &dyn Backend, header: &StoreHeader, kind: KeyKind) -> Result<Vec<KeyVersion>> {
    backend
        .scan_prefix(Space::KeyVersions, &[kind.code()])?
        .into_iter()
        .map(|(_, v)| {
            let s: Signed<KeyVersion> = codec::decode(&v, crate::error::Object::KeyVersion)?;
            let body = s.verify("key-version", &header.directory_public)?.clone();
            if body.store != header.store || body.kind != kind {
                return Err(IntegrityError::new(Object::KeyVersion, Fault::OutOfPlace).into());
            }
            Ok(body)
        })
        .collect()
}

/// The versions of a kind still in use (not retired), oldest first.
pub(crate) fn live_key_versions(backend: &dyn Backend, header: &StoreHeader, kind: KeyKind) -> Result<Vec<KeyVersion>> {
    live_versions_of(backend, header, kind)
}

/// Creates a key version: signed record + recovery wrap. Returns the key.
pub(crate) fn stage_key_version(
    batch: &mut Batch,
    header: &StoreHeader,
    kind: KeyKind,
    version: u32,
    key: &Key32,
    directory: &SigningSecret,
    now: Timestamp,
) -> Result<()> {
    let record = KeyVersion {
        format: 1,
        store: header.store,
        kind,
        version,
        fingerprint: fingerprint(header.store, kind, version, key),
        created_at: now,
    };
    batch.put(
        Space::KeyVersions,
        key_version_key(kind, version),
        codec::encode(&Signed::sign("key-version", record, directory)?)?,
    );
    let wrap =
        sealbox::seal_key(&header.recovery_public, &Binding::RecoveryWrap { store: header.store, kind, version }, key)?;
    batch.put(Space::RecoveryWraps, key_version_key(kind, version), wrap);
    Ok(())
}

/// Seals a key to a user.
pub(crate) fn stage_grant(
    batch: &mut Batch,
    store: StoreId,
    user: &UserIdentity,
    kind: KeyKind,
    version: u32,
    key: &Key32,
) -> Result<()> {
    let sealed = sealbox::seal_key(&user.box_public, &Binding::Grant { store, user: user.id, kind, version }, key)?;
    batch.put(Space::Grants, grant_key(user.id, kind, version), sealed);
    Ok(())
}

/// Opens every key sealed to a user, keeping only entitled kinds with a signed fingerprint.
pub(crate) fn open_grants(
    backend: &dyn Backend,
    header: &StoreHeader,
    user: &UserIdentity,
    secret: &BoxSecret,
) -> Result<HeldKeys> {
    let mut keys = BTreeMap::new();
    let mut versions: BTreeMap<KeyKind, Vec<KeyVersion>> = BTreeMap::new();
    for (k, v) in backend.scan_prefix(Space::Grants, &user.id.0)? {
        if k.len() != 16 + 5 {
            return Err(IntegrityError::new(Object::KeyGrant, Fault::BadLength).into());
        }
        let kind = KeyKind::from_code(k[16]).ok_or(IntegrityError::new(Object::KeyGrant, Fault::UnknownKind))?;
        let version = u32::from_be_bytes([k[17], k[18], k[19], k[20]]);
        if !user.entitled.contains(&kind) {
            continue; // left over from a removed role: never used
        }
        if let std::collections::btree_map::Entry::Vacant(slot) = versions.entry(kind) {
            slot.insert(live_versions_of(backend, header, kind)?);
        }
        let live = &versions[&kind];
        if live.iter().all(|kv| kv.version != version) && live.iter().any(|kv| kv.version > version) {
            continue; // retired version: no data uses it any more
        }
        let key = sealbox::open_key(secret, &Binding::Grant { store: header.store, user: user.id, kind, version }, &v)?;
        let known = live.iter().find(|kv| kv.version == version);
        match known {
            Some(kv) if kv.fingerprint == fingerprint(header.store, kind, version, &key) => {
                keys.insert((kind, version), key);
            }
            _ => {
                return Err(IntegrityError::new(
                    Object::KeyGrant,
                    Fault::Broken("a key sealed to this user has no signed fingerprint (planted?)"),
                )
                .into());
            }
        }
    }
    Ok(HeldKeys::new(keys))
}

/// Everything a session of `user` holds: the keys sealed to them and their own signing key.
pub(crate) fn open_session_keys(
    backend: &dyn Backend,
    header: &StoreHeader,
    user: &UserIdentity,
    secret: &BoxSecret,
) -> Result<HeldKeys> {
    let mut held = open_grants(backend, header, user, secret)?;
    if let Some(own) = signers::open_own_signer(backend, header, user, secret)? {
        held.signer = Some(Arc::new(own));
    }
    Ok(held)
}

/// Keys sealed to one user: (user name, kinds delivered).
pub(crate) type Delivery = (String, Vec<KeyKind>);

/// Seals every key this session holds to users entitled to it who lack it. Returns the batch
/// and, per recipient, the kinds delivered.
pub(crate) fn deliver_pending(
    backend: &dyn Backend,
    header: &StoreHeader,
    held: &HeldKeys,
) -> Result<(Batch, Vec<Delivery>)> {
    let mut batch = Batch::new();
    let mut delivered = Vec::new();
    let mut min_version: BTreeMap<KeyKind, u32> = BTreeMap::new();
    for (kind, _) in held.keys.keys() {
        if let std::collections::btree_map::Entry::Vacant(slot) = min_version.entry(*kind) {
            slot.insert(key_state(backend, header, *kind)?.map_or(1, |s| s.min_decryption));
        }
    }
    for record in all_users(backend)? {
        let Ok(user) = record.signed.verify("user", &header.directory_public) else {
            tracing::warn!("skipping a user record with a bad directory signature");
            continue;
        };
        if user.revoked {
            continue;
        }
        let mut kinds = Vec::new();
        for ((kind, version), key) in &held.keys {
            if !user.entitled.contains(kind) {
                continue;
            }
            if min_version.get(kind).is_some_and(|min| version < min) {
                continue;
            }
            if backend.get(Space::Grants, &grant_key(user.id, *kind, *version))?.is_none() {
                stage_grant(&mut batch, header.store, user, *kind, *version, key)?;
                if !kinds.contains(kind) {
                    kinds.push(*kind);
                }
            }
        }
        if !kinds.is_empty() {
            delivered.push((user.name.clone(), kinds));
        }
    }
    Ok((batch, delivered))
}
