//! Free text sealed to exactly its readers.
//!
//! Break-glass justifications and litigation-hold reasons are typed by people and carry clinical
//! or legal content ("patient inconscient, suspicion d'overdose"). Each note is sealed
//! (AES-256-GCM) under a fresh key, and that key is sealed (HPKE, docs/format.md §3.3) to each
//! reader's X25519 public key from the directory-signed user records: the author, every user
//! whose roles may read the audit log when the note is written (the DPO who reviews it), and the
//! recovery key (the material to read it after every passphrase is lost exists; no command opens
//! a note with the recovery key yet). Both are bound to the note's
//! place (which break-glass access, which patient's hold), so a note moved elsewhere does not
//! open. The audit log records that a note was written, never its text: it verifies without it.
//!
//! Invariant: no type here prints its content (`Debug` shows sizes only); a note that does not
//! open for this session reads as `None`, never as an error that could carry text.

use super::Session;
pub(crate) use crate::crypto::aad::NotePlace;
use crate::crypto::sealbox;
use crate::crypto::{Binding, Key32, aead};
use crate::error::Result;
use crate::model::StoreId;
use serde::{Deserialize, Serialize};

/// Recipient id of the recovery key in a note (no user has the all-zero id).
const RECOVERY: [u8; 16] = [0; 16];
/// Format of a sealed note.
const NOTE_FORMAT: u16 = 1;

/// One reader's copy of a note's key.
#[serde_with::serde_as]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NoteRecipient {
    /// A user id, or all zeros for the recovery key.
    pub user: [u8; 16],
    /// The note key sealed to that reader (`Binding::NoteKey`).
    #[serde_as(as = "serde_with::Bytes")]
    pub sealed_key: Vec<u8>,
}

/// A note as stored: ciphertext and its readers' sealed keys only.
#[serde_with::serde_as]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SealedNote {
    pub format: u16,
    pub recipients: Vec<NoteRecipient>,
    /// The text under the note key (`Binding::Note`).
    #[serde_as(as = "serde_with::Bytes")]
    pub text: Vec<u8>,
}

impl std::fmt::Debug for SealedNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedNote({} readers, {} bytes)", self.recipients.len(), self.text.len())
    }
}

fn seal_to(store: StoreId, place: NotePlace, readers: &[([u8; 16], [u8; 32])], text: &str) -> Result<SealedNote> {
    let key = Key32::random();
    let mut recipients = Vec::with_capacity(readers.len());
    for (user, public) in readers {
        let binding = Binding::NoteKey { store, place, recipient: *user };
        recipients.push(NoteRecipient { user: *user, sealed_key: sealbox::seal_key(public, &binding, &key)? });
    }
    let text = aead::seal(&key, &Binding::Note { store, place }, text.as_bytes());
    Ok(SealedNote { format: NOTE_FORMAT, recipients, text })
}

impl Session {
    /// Seals `text` at `place` to its author, every current user who may read the audit log,
    /// and the recovery key.
    pub(crate) fn seal_note(&self, place: NotePlace, text: &str) -> Result<SealedNote> {
        let header = &self.inner.header;
        let mut readers = vec![(self.user.id.0, self.user.box_public), (RECOVERY, header.recovery_public)];
        for record in crate::keyring::all_users(self.inner.backend.as_ref())? {
            // Only directory-signed, live accounts: a planted user record gets nothing.
            let Ok(user) = record.signed.verify("user", &header.directory_public) else { continue };
            if !user.revoked && header.policy.may_audit(&user.roles) && user.id != self.user.id {
                readers.push((user.id.0, user.box_public));
            }
        }
        seal_to(header.store, place, &readers, text)
    }

    /// The text of a note, if this session's user is one of its readers and it opens at `place`.
    pub(crate) fn open_note(&self, place: NotePlace, note: &SealedNote) -> Option<String> {
        let store = self.inner.header.store;
        let mine = note.recipients.iter().find(|r| r.user == self.user.id.0)?;
        let binding = Binding::NoteKey { store, place, recipient: mine.user };
        let key = sealbox::open_key(&self.box_secret, &binding, &mine.sealed_key).ok()?;
        if note.format != NOTE_FORMAT {
            return None;
        }
        let text = aead::open(&key, &Binding::Note { store, place }, &note.text).ok()?;
        String::from_utf8(text.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::sealbox::BoxSecret;
    use crate::model::PatientId;

    #[test]
    fn a_note_opens_for_its_readers_at_its_place_only() {
        let store = StoreId([1; 16]);
        let (alice, bob, eve) = (BoxSecret::random(), BoxSecret::random(), BoxSecret::random());
        let place = NotePlace::Hold { patient: PatientId([2; 16]) };
        let readers = [([1; 16], alice.public()), ([2; 16], bob.public())];
        let note = seal_to(store, place, &readers, "contentieux ZQXNOTE").unwrap();
        assert!(!format!("{note:?}").contains("ZQXNOTE"));
        let open = |secret: &BoxSecret, id: [u8; 16], place: NotePlace| {
            let r = note.recipients.iter().find(|r| r.user == id)?;
            let key =
                sealbox::open_key(secret, &Binding::NoteKey { store, place, recipient: id }, &r.sealed_key).ok()?;
            aead::open(&key, &Binding::Note { store, place }, &note.text).ok().map(|t| t.to_vec())
        };
        assert_eq!(open(&alice, [1; 16], place).unwrap(), b"contentieux ZQXNOTE");
        assert_eq!(open(&bob, [2; 16], place).unwrap(), b"contentieux ZQXNOTE");
        assert!(open(&eve, [1; 16], place).is_none(), "not a reader");
        // Moved to another patient's hold: refused.
        assert!(open(&alice, [1; 16], NotePlace::Hold { patient: PatientId([3; 16]) }).is_none());
        // A recipient's sealed key relabelled to another reader: refused.
        assert!(open(&bob, [1; 16], place).is_none());
    }
}
