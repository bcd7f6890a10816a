//! Users' own audit signing keys, so that every signed tree head names who signed it.
//!
//! Each user has an Ed25519 key of their own. Its certificate ([`SignerCert`]: store, user,
//! name, public key, validity) is signed by the directory key; its seed is sealed to the user's
//! X25519 key (`Binding::UserSigner`). Both live in one `Signers` row keyed by the public key
//! (docs/format.md §3.7). A session signs with its user's live key; verification accepts a
//! head only from a certified key whose validity covers the head's time, or from the store's
//! audit key (held by the recovery key alone in stores of format 4, by every user before).
//!
//! A key is made when the account is made, when recovery shares restore it (the old key is
//! retired), and, for accounts older than format 4, at an administrator's unlock. Revocation
//! retires the user's keys: `until` is set and the sealed seed deleted.
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use super::{Signed, StoreHeader, UserIdentity};
use crate::codec;
use crate::crypto::sealbox::{self, BoxSecret};
use crate::crypto::{Binding, SigningSecret};
use crate::error::{Fault, IntegrityError, Object, Result};
use crate::model::{StoreId, Timestamp, UserId};
use crate::storage::{Backend, Batch, Space};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the directory certifies about one user signing key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerCert {
    /// Format version (1).
    pub format: u16,
    /// Store.
    pub store: StoreId,
    /// The user the key belongs to.
    pub user: UserId,
    /// The user's login name when the key was certified.
    pub name: String,
    /// Ed25519 public key.
    pub public: [u8; 32],
    /// Heads signed before this time are refused.
    pub from: Timestamp,
    /// Retired at this time (revocation, recovery): heads signed after it are refused.
    pub until: Option<Timestamp>,
}

impl SignerCert {
    /// Whether the key may have signed at `time`.
    pub fn covers(&self, time: Timestamp) -> bool {
        self.from <= time && self.until.is_none_or(|u| time <= u)
    }
}

/// A `Signers` row.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SignerRecord {
    /// Format version (1).
    pub format: u16,
    /// The certificate, signed by the directory key (domain `signer`).
    pub cert: Signed<SignerCert>,
    /// `sealbox(user's X25519 key, Binding::UserSigner, seed)`; empty once retired.
    pub sealed: Vec<u8>,
}

/// Who a valid signature was made by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
#[non_exhaustive]
pub enum SignedBy {
    /// A user's own certified key.
    User {
        /// User id.
        user: UserId,
        /// Login name in the certificate.
        name: String,
    },
    /// The store's audit key: the recovery key in stores of format 4; in older stores, a key
    /// every user held, so such a signature names no one.
    StoreKey,
}

impl std::fmt::Display for SignedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignedBy::User { name, .. } => write!(f, "{name}"),
            SignedBy::StoreKey => f.write_str("the store audit key"),
        }
    }
}

/// Makes a new signing key for `user`: stages its certificate and its sealed seed, and returns
/// the key.
pub(crate) fn stage_new_signer(
    batch: &mut Batch,
    store: StoreId,
    user: &UserIdentity,
    directory: &SigningSecret,
    now: Timestamp,
) -> Result<SigningSecret> {
    let key = SigningSecret::random();
    let public = key.verifying_key();
    let cert = SignerCert { format: 1, store, user: user.id, name: user.name.clone(), public, from: now, until: None };
    let sealed =
        sealbox::seal_key(&user.box_public, &Binding::UserSigner { store, user: user.id, public }, &key.to_key())?;
    let record = SignerRecord { format: 1, cert: Signed::sign("signer", cert, directory)?, sealed };
    batch.put(Space::Signers, public.to_vec(), codec::encode(&record)?);
    Ok(key)
}

/// Every signer row, each with its certificate checked against the directory key. A row that
/// does not decode or verify is returned as an error in its place.
fn records(backend: &dyn Backend, header: &StoreHeader) -> Result<Vec<std::result::Result<SignerRecord, [u8; 32]>>> {
    let mut out = Vec::new();
    for (k, v) in backend.scan_prefix(Space::Signers, &[])? {
        let key: [u8; 32] = k.as_slice().try_into().unwrap_or([0; 32]);
        let checked = codec::decode::<SignerRecord>(&v, Object::SignerCert).ok().filter(|r| {
            r.format == 1
                && r.cert.verify("signer", &header.directory_public).is_ok()
                && r.cert.body.store == header.store
                && r.cert.body.public.as_slice() == k.as_slice()
        });
        out.push(checked.ok_or(key));
    }
    Ok(out)
}

/// The public keys of `user`'s live signing keys.
pub(crate) fn live_signers_of(backend: &dyn Backend, header: &StoreHeader, user: UserId) -> Result<Vec<[u8; 32]>> {
    Ok(records(backend, header)?
        .into_iter()
        .flatten()
        .filter(|r| r.cert.body.user == user && r.cert.body.until.is_none())
        .map(|r| r.cert.body.public)
        .collect())
}

/// Retires every live key of `user` at `now` (their sealed seeds are deleted).
pub(crate) fn stage_retire_signers(
    backend: &dyn Backend,
    batch: &mut Batch,
    header: &StoreHeader,
    user: UserId,
    directory: &SigningSecret,
    now: Timestamp,
) -> Result<Vec<[u8; 32]>> {
    let mut retired = Vec::new();
    for record in records(backend, header)?.into_iter().flatten() {
        let mut cert = record.cert.body.clone();
        if cert.user != user || cert.until.is_some() {
            continue;
        }
        cert.until = Some(now);
        retired.push(cert.public);
        let public = cert.public;
        let record = SignerRecord { format: 1, cert: Signed::sign("signer", cert, directory)?, sealed: Vec::new() };
        batch.put(Space::Signers, public.to_vec(), codec::encode(&record)?);
    }
    Ok(retired)
}

/// Live users that have no live signing key (accounts made before format 4).
pub(crate) fn users_without_signer(backend: &dyn Backend, header: &StoreHeader) -> Result<Vec<UserIdentity>> {
    let live: std::collections::BTreeSet<UserId> = records(backend, header)?
        .into_iter()
        .flatten()
        .filter(|r| r.cert.body.until.is_none())
        .map(|r| r.cert.body.user)
        .collect();
    let mut out = Vec::new();
    for record in super::all_users(backend)? {
        let Ok(user) = record.signed.verify("user", &header.directory_public) else { continue };
        if !user.revoked && !live.contains(&user.id) {
            out.push(user.clone());
        }
    }
    Ok(out)
}

/// The live signing key of `user`, opened with their X25519 secret (`None`: they have none yet).
pub(crate) fn open_own_signer(
    backend: &dyn Backend,
    header: &StoreHeader,
    user: &UserIdentity,
    secret: &BoxSecret,
) -> Result<Option<SigningSecret>> {
    for record in records(backend, header)?.into_iter().flatten() {
        let cert = &record.cert.body;
        if cert.user != user.id || cert.until.is_some() {
            continue;
        }
        let binding = Binding::UserSigner { store: header.store, user: user.id, public: cert.public };
        let key = SigningSecret::from_key(&sealbox::open_key(secret, &binding, &record.sealed)?);
        if key.verifying_key() != cert.public {
            return Err(IntegrityError::new(
                Object::SignerCert,
                Fault::Broken("the sealed key is not the certified one"),
            )
            .into());
        }
        return Ok(Some(key));
    }
    Ok(None)
}

/// The keys a signed head or mark may be signed with, and whom each names.
#[derive(Clone, Debug)]
pub struct TrustedSigners {
    store: StoreId,
    store_key: Option<[u8; 32]>,
    certs: BTreeMap<[u8; 32], SignerCert>,
}

impl TrustedSigners {
    /// Every certified key of a store, plus its audit key. Rows that fail their check are
    /// returned by public key (as stored) beside it.
    pub(crate) fn load(backend: &dyn Backend, header: &StoreHeader) -> Result<(TrustedSigners, Vec<[u8; 32]>)> {
        let mut certs = BTreeMap::new();
        let mut bad = Vec::new();
        for r in records(backend, header)? {
            match r {
                Ok(record) => {
                    certs.insert(record.cert.body.public, record.cert.body);
                }
                Err(key) => bad.push(key),
            }
        }
        Ok((TrustedSigners { store: header.store, store_key: Some(header.audit_public), certs }, bad))
    }

    /// For a verifier with no store: with `cert`, `key` is the store's directory key, which must
    /// have signed it; without, `key` is the store audit key itself (extracts of older stores).
    pub fn offline(store: StoreId, key: &[u8; 32], cert: Option<&Signed<SignerCert>>) -> Result<TrustedSigners> {
        let mut certs = BTreeMap::new();
        if let Some(c) = cert {
            let body = c.verify("signer", key)?;
            if body.store != store {
                return Err(IntegrityError::new(Object::SignerCert, Fault::ForeignStore).into());
            }
            certs.insert(body.public, body.clone());
        }
        let store_key = if cert.is_none() { Some(*key) } else { None };
        Ok(TrustedSigners { store, store_key, certs })
    }

    /// Who `public` is, if it may have signed at `time`.
    pub fn check(&self, public: &[u8; 32], time: Timestamp) -> Result<SignedBy> {
        if let Some(cert) = self.certs.get(public) {
            if !cert.covers(time) {
                return Err(IntegrityError::new(
                    Object::SignerCert,
                    Fault::Broken("signed outside the key's validity"),
                )
                .into());
            }
            return Ok(SignedBy::User { user: cert.user, name: cert.name.clone() });
        }
        if self.store_key.as_ref() == Some(public) {
            return Ok(SignedBy::StoreKey);
        }
        Err(IntegrityError::new(Object::SignerCert, Fault::ForeignKey).into())
    }

    /// The store these keys belong to.
    pub fn store(&self) -> StoreId {
        self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(from: i64, until: Option<i64>) -> SignerCert {
        SignerCert {
            format: 1,
            store: StoreId([1; 16]),
            user: UserId([2; 16]),
            name: "alice".into(),
            public: [3; 32],
            from: Timestamp(from),
            until: until.map(Timestamp),
        }
    }

    #[test]
    fn validity_is_inclusive_and_bounded() {
        assert!(cert(10, None).covers(Timestamp(10)));
        assert!(!cert(10, None).covers(Timestamp(9)));
        assert!(cert(10, Some(20)).covers(Timestamp(20)));
        assert!(!cert(10, Some(20)).covers(Timestamp(21)));
    }

    #[test]
    fn offline_trust_needs_the_directory_signature() {
        let directory = SigningSecret::random();
        let signed = Signed::sign("signer", cert(0, None), &directory).unwrap();
        let ok = TrustedSigners::offline(StoreId([1; 16]), &directory.verifying_key(), Some(&signed)).unwrap();
        assert_eq!(
            ok.check(&[3; 32], Timestamp(5)).unwrap(),
            SignedBy::User { user: UserId([2; 16]), name: "alice".into() }
        );
        let other = SigningSecret::random();
        assert!(TrustedSigners::offline(StoreId([1; 16]), &other.verifying_key(), Some(&signed)).is_err());
        assert!(TrustedSigners::offline(StoreId([9; 16]), &directory.verifying_key(), Some(&signed)).is_err());
        // An unknown key is refused, and so is the directory key itself.
        assert!(ok.check(&[4; 32], Timestamp(5)).is_err());
        assert!(ok.check(&directory.verifying_key(), Timestamp(5)).is_err());
        // Without a certificate the given key is the store audit key.
        let legacy = TrustedSigners::offline(StoreId([1; 16]), &[4; 32], None).unwrap();
        assert_eq!(legacy.check(&[4; 32], Timestamp(5)).unwrap(), SignedBy::StoreKey);
    }
}
