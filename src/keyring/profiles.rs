//! Professionals' names and professions, as documents show them (the patient copy names who
//! read the file by name and profession, not by login).
//!
//! One directory-signed record per user, in Meta at `profile/` ‖ user id (docs/format.md §1, §4):
//! an administrator sets it; readers check the directory signature, so a name planted or edited
//! through raw storage access is refused, not shown. Names of professionals are not patient
//! data: they are stored in clear, like login names.
// Re-exported by the `testing` module only; private otherwise.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use super::Signed;
use crate::codec;
use crate::crypto::SigningSecret;
use crate::error::{Fault, IntegrityError, Object, Result};
use crate::model::{InvalidInput, StoreId, Timestamp, UserId};
use crate::storage::{Backend, Batch, Space};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Signature domain of profiles.
const DOMAIN: &str = "profile";
/// Meta key prefix.
const PREFIX: &[u8] = b"profile/";
/// Longest name or profession, in characters.
pub(crate) const MAX_LEN: usize = 100;

/// Who a user is, for documents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffProfile {
    /// Format version (1).
    pub format: u16,
    /// Store.
    pub store: StoreId,
    /// The user.
    pub user: UserId,
    /// Name as documents show it (`Dr Claire Martin`).
    pub full_name: String,
    /// Profession (`médecin généraliste`).
    pub profession: String,
    /// When it was set.
    pub updated_at: Timestamp,
}

fn key(user: UserId) -> Vec<u8> {
    [PREFIX, user.0.as_slice()].concat()
}

fn check_text(what: &'static str, s: &str) -> Result<()> {
    let n = s.chars().count();
    if n == 0 || n > MAX_LEN || s.chars().any(char::is_control) || s.trim() != s {
        return Err(InvalidInput::Rule(what).into());
    }
    Ok(())
}

/// Checks a profile's texts: 1-100 characters, no control character, no leading or trailing space.
pub(crate) fn validate(full_name: &str, profession: &str) -> Result<()> {
    check_text("a full name is 1-100 characters, without control characters or surrounding spaces", full_name)?;
    check_text("a profession is 1-100 characters, without control characters or surrounding spaces", profession)
}

/// Signs a profile and puts it into a batch.
pub(crate) fn stage(batch: &mut Batch, profile: StaffProfile, directory: &SigningSecret) -> Result<()> {
    validate(&profile.full_name, &profile.profession)?;
    let k = key(profile.user);
    batch.put(Space::Meta, k, codec::encode(&Signed::sign(DOMAIN, profile, directory)?)?);
    Ok(())
}

/// Every profile, each checked against the directory key and its place. A record that fails
/// is an integrity error naming the profile: never shown, never skipped in silence.
pub(crate) fn load(
    backend: &dyn Backend,
    store: StoreId,
    directory_public: &[u8; 32],
) -> Result<BTreeMap<UserId, StaffProfile>> {
    let mut out = BTreeMap::new();
    for (k, v) in backend.scan_prefix(Space::Meta, PREFIX)? {
        let signed: Signed<StaffProfile> = codec::decode(&v, Object::Profile)?;
        let body = signed.verify(DOMAIN, directory_public)?.clone();
        if body.store != store {
            return Err(IntegrityError::new(Object::Profile, Fault::ForeignStore).into());
        }
        if k != key(body.user) {
            return Err(IntegrityError::new(Object::Profile, Fault::OutOfPlace).into());
        }
        out.insert(body.user, body);
    }
    Ok(out)
}
