//! Decrypted data that has not been released yet, and the one step that releases it.
//!
//! A [`Grant`](super::access::Grant) is made only by `Session::authorize`; opening a section
//! needs one, and the plaintext is held in an [`Opened`] that names the accesses it was opened
//! for. The only way out is [`Session::release`]: it appends one audit event per grant, waits
//! until they are durable (whatever the session's durability), checks that the plaintext
//! belongs to exactly these accesses, and only then hands it out.

use super::Session;
use super::access::Grant;
use crate::error::{Fault, IntegrityError, Object, Result};

/// Plaintext waiting for its audit events; its fields are private to this module.
pub struct Opened<T> {
    value: T,
    accesses: Vec<u64>,
}

impl<T> Opened<T> {
    /// Plaintext opened under `grant`.
    pub(crate) fn new(value: T, grant: &Grant) -> Self {
        Opened { value, accesses: vec![grant.access()] }
    }
    /// Joins plaintext opened under several grants (released together).
    pub(crate) fn and<U>(self, other: Opened<U>) -> Opened<(T, U)> {
        let mut accesses = self.accesses;
        accesses.extend(other.accesses);
        Opened { value: (self.value, other.value), accesses }
    }
}

impl Session {
    /// The release step: appends the audit event of every grant, waits until they are on disk
    /// (reads are never buffered), and hands out plaintext opened under exactly these grants.
    pub(crate) fn release<T>(&self, grants: &[Grant], opened: Opened<T>) -> Result<T> {
        let mut granted: Vec<u64> = grants.iter().map(Grant::access).collect();
        let mut wanted = opened.accesses.clone();
        granted.sort_unstable();
        wanted.sort_unstable();
        // Several pieces may be opened under one grant (a section and its attachments).
        wanted.dedup();
        if granted != wanted {
            // Unreachable through the API: plaintext opened for another access.
            return Err(IntegrityError::new(
                Object::Grant,
                Fault::Broken("plaintext offered for release under another access's grant"),
            )
            .into());
        }
        let drafts = grants.iter().map(|g| self.granted_draft(g)).collect();
        self.commit(drafts, crate::storage::Batch::new())?;
        Ok(opened.value)
    }
}

impl Session {
    /// [`Session::release`] of one grant with its own event (a read that names more than the
    /// section: an entry, an attachment).
    pub(crate) fn release_as<T>(&self, grant: &Grant, draft: crate::audit::EventDraft, opened: Opened<T>) -> Result<T> {
        if opened.accesses != [grant.access()] {
            return Err(IntegrityError::new(
                Object::Grant,
                Fault::Broken("plaintext offered for release under another access's grant"),
            )
            .into());
        }
        self.commit(vec![draft], crate::storage::Batch::new())?;
        Ok(opened.value)
    }
}

#[cfg(test)]
mod tests {
    use crate::audit::Action;
    use crate::model::{Identity, Section};
    use crate::storage::MemoryBackend;
    use crate::{AccessContext, Error, Store, StoreOptions};
    use std::sync::Arc;

    #[test]
    fn plaintext_opened_under_one_grant_is_never_released_under_another() {
        let backend = Arc::new(MemoryBackend::new());
        let (store, _) =
            Store::create_with_backend(backend, "admin", b"admin passphrase", StoreOptions::insecure_fast_for_tests())
                .unwrap();
        let ctx = AccessContext::treatment("unit");
        let admin = store.unlock("admin", b"admin passphrase", ctx.clone()).unwrap();
        admin.add_user("doc", &["physician".into()], b"doctor passphrase").unwrap();
        let doc = store.unlock("doc", b"doctor passphrase", ctx).unwrap();
        let identity = |seed| crate::synthetic::Synth::new(seed).identity();
        let (p1, p2) = (doc.create_patient(identity(1)).unwrap(), doc.create_patient(identity(2)).unwrap());
        let g1 = doc.authorize(Action::Read, p1, Section::Identity, false).unwrap();
        let g2 = doc.authorize(Action::Read, p2, Section::Identity, false).unwrap();
        let opened = doc.open_section::<Identity>(&g1).unwrap();
        let size = store.audit_size();
        // Patient 1's identity offered under patient 2's grant: refused, and nothing audited.
        assert!(matches!(doc.release(&[g2], opened), Err(Error::Integrity(_))));
        assert_eq!(store.audit_size(), size);
        // Under its own grant it is released, after its event.
        let opened = doc.open_section::<Identity>(&g1).unwrap();
        assert_eq!(doc.release(&[g1], opened).unwrap().len(), 1);
        assert_eq!(store.audit_size(), size + 1);
    }
}
