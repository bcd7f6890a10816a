//! Attachments of reports and exams: streamed in and out in chunks, with bounded memory.
//!
//! An attachment follows its entry: its data key is wrapped under the same patient key as the
//! entry's revisions (so erasure crypto-shreds it, and a rewrap never touches it), adding one
//! needs the right to write the section and reading one the right to read it, and both are
//! audited like the entry's own writes and reads. The stored form is in `crate::attachment`.
//!
//! Adding one is three steps: an audited operation records the attachment as begun (its
//! wrapped key and sealed description, state `Pending`); the chunks stream in, a few per engine
//! transaction; a last audited operation writes the final chunks and marks it complete with its
//! chunk count, size and chain digest. If anything fails in between, the chunks written so far
//! and the description are removed by an audited operation; if even that fails (or the process
//! stops), the attachment stays `Pending`: never readable, and counted by `verify`.

use super::access::Grant;
use super::patient_keys::PatientKeyId;
use super::{Opened, Session};
use crate::attachment::{
    AttachmentState, CHUNK_SIZE, CHUNKS_PER_BATCH, Chain, Description, MAX_ATTACHMENT_BYTES, StoredAttachment,
    open_chunk, seal_chunk, validate,
};
use crate::audit::{Action, Entity, Outcome};
use crate::codec;
use crate::crypto::aad::AttachmentPlace;
use crate::crypto::{Binding, Key32, KeyKind, aead};
use crate::error::{Error, Missing, Result};
use crate::layout::{attachment as attachment_key, attachment_chunk, record_entry, record_section};
use crate::model::{AttachmentId, EntryId, InvalidInput, PatientId, Section, Timestamp};
use crate::storage::{Batch, Order, Space};
use std::io::{Read, Write};

/// An attachment as its readers see it (never the content).
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AttachmentInfo {
    /// Its id.
    pub id: AttachmentId,
    /// The section of its entry.
    pub section: Section,
    /// Its entry.
    pub entry: EntryId,
    /// The file name given when it was added.
    pub name: String,
    /// Its media type (`application/pdf`, `image/jpeg`, …).
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was added.
    pub added_at: Timestamp,
    /// Who added it.
    pub added_by: String,
}

// A file name can carry a patient's name, a media type hint at its content: both stay out of
// `Debug`.
impl std::fmt::Debug for AttachmentInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentInfo")
            .field("id", &self.id)
            .field("section", &self.section)
            .field("entry", &self.entry)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

fn entity(patient: PatientId, section: Section, entry: EntryId) -> Entity {
    Entity { patient: Some(patient), section: Some(section), entry: Some(entry), ..Entity::default() }
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
fn fill(src: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What streaming an attachment in leaves: the last chunks, not yet committed, and the counts.
struct Streamed {
    rest: Batch,
    chunks: u32,
    size: u64,
    chain: [u8; 32],
}

/// An attachment's key and description, opened for one access.
struct OpenedAttachment {
    place: AttachmentPlace,
    key: Key32,
    chunks: u32,
    info: AttachmentInfo,
}

impl Session {
    fn attachment_place(
        &self,
        patient: PatientId,
        section: Section,
        entry: EntryId,
        id: AttachmentId,
    ) -> AttachmentPlace {
        AttachmentPlace { store: self.store_id(), patient, section, entry, attachment: id }
    }

    /// Adds an attachment to an entry of the reports or exams, streaming `content` in chunks
    /// (at most [`MAX_ATTACHMENT_BYTES`](crate::attachment::MAX_ATTACHMENT_BYTES)). Needs the
    /// right to write the section; audited when begun and when complete (or abandoned).
    pub fn attach(
        &self,
        patient: PatientId,
        section: Section,
        entry: EntryId,
        name: &str,
        media_type: &str,
        content: &mut dyn Read,
    ) -> Result<AttachmentId> {
        if section == Section::Identity {
            return Err(InvalidInput::Rule("attachments belong to reports and exams, not to the identity").into());
        }
        validate(name, media_type)?;
        let ent = entity(patient, section, entry);
        let grant = self.authorize(Action::Attach, patient, section, true)?;
        if !self.patient_exists(patient)? {
            return Err(self.refuse(Action::Attach, ent, Error::no_patient(patient)));
        }
        let prefix = record_entry(patient, section, entry);
        let end = crate::storage::prefix_end(&prefix);
        let first = self.inner.backend.range(Space::Records, &prefix, end.as_deref(), Order::Ascending, 1)?;
        if first.is_empty() {
            return Err(self.refuse(Action::Attach, ent, Error::no_entry(patient, entry)));
        }
        if !self.keys().holds(KeyKind::Section(section)) {
            return Err(self.refuse(Action::Attach, ent, Error::KeyPending(section)));
        }
        let id = AttachmentId::random();
        let place = self.attachment_place(patient, section, entry, id);
        let data_key = Key32::random();
        let description = Description {
            name: name.to_string(),
            media_type: media_type.to_string(),
            added_at: self.inner.clock.now(),
            added_by: self.user.name.clone(),
        }
        .seal(&data_key, place)?;
        let mut stored = {
            let guard = self.inner.write_locks.patient(patient)?;
            let mut batch = Batch::new();
            let (generation, patient_key) = self.patient_key_for_write(patient, section, &mut batch)?;
            let wrapped_key = aead::wrap_key(&patient_key, &Binding::AttachmentKey { place, generation }, &data_key);
            let stored = StoredAttachment {
                format: crate::attachment::ATTACHMENT_FORMAT,
                state: AttachmentState::Pending,
                generation,
                wrapped_key,
                description,
            };
            batch.put(Space::Attachments, attachment_key(&place), codec::encode(&stored)?);
            let draft = self.granted_draft_for(&grant, ent.clone()).append_detail(&format!("attachment {id} begun"));
            self.commit(vec![draft], batch)?;
            drop(guard);
            stored
        };
        let completed = self.stream_in(place, &data_key, content).and_then(|s| {
            stored.state = AttachmentState::Complete { chunks: s.chunks, size: s.size, chain: s.chain };
            let mut batch = s.rest;
            batch.put(Space::Attachments, attachment_key(&place), codec::encode(&stored)?);
            let done = format!("attachment {id} complete, {} bytes", s.size);
            self.commit(vec![self.granted_draft_for(&grant, ent.clone()).append_detail(&done)], batch)
        });
        match completed {
            Ok(_) => Ok(id),
            Err(e) => {
                // Best effort: remove what was written; if this fails too, it stays Pending.
                let _ = self.abandon(&grant, ent, place);
                Err(e)
            }
        }
    }

    /// Seals `content` chunk by chunk, committing all but the last few chunks; returns those
    /// (to be committed with the completing record) and the chunk count, size and chain digest.
    fn stream_in(&self, place: AttachmentPlace, key: &Key32, content: &mut dyn Read) -> Result<Streamed> {
        let mut chain = Chain::new();
        let mut batch = Batch::new();
        let mut pending_chunks = 0usize;
        let mut cur = zeroize::Zeroizing::new(vec![0u8; CHUNK_SIZE]);
        let mut next = zeroize::Zeroizing::new(vec![0u8; CHUNK_SIZE]);
        let mut cur_len = fill(content, &mut cur).map_err(Error::Output)?;
        let mut size = 0u64;
        let mut index = 0u32;
        loop {
            let next_len = if cur_len == CHUNK_SIZE { fill(content, &mut next).map_err(Error::Output)? } else { 0 };
            let last = next_len == 0;
            size += cur_len as u64;
            if size > MAX_ATTACHMENT_BYTES {
                return Err(InvalidInput::OutOfRange {
                    what: "attachment size (bytes)",
                    min: 0,
                    max: MAX_ATTACHMENT_BYTES,
                }
                .into());
            }
            let sealed = seal_chunk(key, place, index, last, &cur[..cur_len]);
            chain.push(&sealed);
            batch.put(Space::AttachmentChunks, attachment_chunk(&place, index), sealed);
            pending_chunks += 1;
            if last {
                return Ok(Streamed { rest: batch, chunks: index + 1, size, chain: chain.finish() });
            }
            if pending_chunks == CHUNKS_PER_BATCH {
                self.inner.committer.commit(&batch, false, None)?;
                batch = Batch::new();
                pending_chunks = 0;
            }
            std::mem::swap(&mut cur, &mut next);
            cur_len = next_len;
            index = index.checked_add(1).ok_or(InvalidInput::OutOfRange {
                what: "attachment size (bytes)",
                min: 0,
                max: MAX_ATTACHMENT_BYTES,
            })?;
        }
    }

    /// Removes an unfinished attachment's chunks and description (audited as failed).
    fn abandon(&self, grant: &Grant, ent: Entity, place: AttachmentPlace) -> Result<()> {
        let mut batch = Batch::new();
        stage_chunk_deletion(self.inner.backend.as_ref(), &attachment_key(&place), &mut batch)?;
        batch.delete(Space::Attachments, attachment_key(&place));
        let draft =
            self.granted_draft_for(grant, ent).append_detail(&format!("attachment {} abandoned", place.attachment));
        let draft = crate::audit::EventDraft { outcome: Outcome::Error, ..draft };
        self.commit(vec![draft], batch).map(|_| ())
    }

    /// Opens an attachment's key and description for a grant (nothing released).
    fn open_attachment(&self, grant: &Grant, place: AttachmentPlace) -> Result<Option<OpenedAttachment>> {
        match self.inner.backend.get(Space::Attachments, &attachment_key(&place))? {
            Some(bytes) => self.open_stored_attachment(grant, place, &bytes),
            None => Ok(None),
        }
    }

    /// Opens a stored attachment record read at `place` (`None`: not complete).
    fn open_stored_attachment(
        &self,
        grant: &Grant,
        place: AttachmentPlace,
        bytes: &[u8],
    ) -> Result<Option<OpenedAttachment>> {
        let stored = StoredAttachment::decode(bytes)?;
        let AttachmentState::Complete { chunks, size, .. } = stored.state else { return Ok(None) };
        let id = PatientKeyId { patient: place.patient, section: place.section, generation: stored.generation };
        debug_assert!(grant.covers(place.patient, place.section));
        let patient_key = self.patient_key(id)?.ok_or(Error::Decrypt)?;
        let key = aead::unwrap_key(
            &patient_key,
            &Binding::AttachmentKey { place, generation: stored.generation },
            &stored.wrapped_key,
        )?;
        let d = Description::open(&key, place, &stored.description)?;
        let info = AttachmentInfo {
            id: place.attachment,
            section: place.section,
            entry: place.entry,
            name: d.name,
            media_type: d.media_type,
            size,
            added_at: d.added_at,
            added_by: d.added_by,
        };
        Ok(Some(OpenedAttachment { place, key, chunks, info }))
    }

    /// Writes an attachment's content to `out`, chunk by chunk, after its read is durably
    /// audited. Each chunk is checked before it is written; on an error, what was written so
    /// far must be discarded (the CLI writes to a temporary file and keeps it only on success).
    pub fn read_attachment(
        &self,
        patient: PatientId,
        section: Section,
        entry: EntryId,
        id: AttachmentId,
        out: &mut dyn Write,
    ) -> Result<AttachmentInfo> {
        let ent = entity(patient, section, entry);
        let grant = self.authorize(Action::Read, patient, section, false)?;
        let place = self.attachment_place(patient, section, entry, id);
        let opened = match self.open_attachment(&grant, place) {
            Ok(Some(o)) => o,
            Ok(None) => return Err(self.refuse(Action::Read, ent, Error::NotFound(Missing::Attachment(id)))),
            Err(e) => return Err(self.refuse(Action::Read, ent, e)),
        };
        let draft = self.granted_draft_for(&grant, ent).append_detail(&format!("attachment {id}"));
        let a = self.release_as(&grant, draft, Opened::new(opened, &grant))?;
        for index in 0..a.chunks {
            let sealed = self.inner.backend.get(Space::AttachmentChunks, &attachment_chunk(&a.place, index))?.ok_or(
                crate::error::IntegrityError::new(crate::error::Object::AttachmentChunk, crate::error::Fault::Missing),
            )?;
            let plain = open_chunk(&a.key, a.place, index, a.chunks, a.info.size, &sealed)?;
            out.write_all(&plain).map_err(Error::Output)?;
        }
        out.flush().map_err(Error::Output)?;
        Ok(a.info)
    }

    /// Opens the descriptions of a section's complete attachments (nothing released).
    pub(crate) fn open_attachments(&self, grant: &Grant) -> Result<Opened<Vec<AttachmentInfo>>> {
        let (patient, section) = (grant.patient(), grant.section());
        let mut out = Vec::new();
        for (k, v) in self.inner.backend.scan_prefix(Space::Attachments, &record_section(patient, section))? {
            let Some((entry, id)) = k.get(17..33).zip(k.get(33..49)) else { continue };
            let (Ok(entry), Ok(id)) = (<[u8; 16]>::try_from(entry), <[u8; 16]>::try_from(id)) else { continue };
            let place = self.attachment_place(patient, section, EntryId(entry), AttachmentId(id));
            if let Some(a) = self.open_stored_attachment(grant, place, &v)? {
                out.push(a.info);
            }
        }
        Ok(Opened::new(out, grant))
    }

    /// The attachments of a section of a patient's file (descriptions only); audited as a read.
    pub fn attachments(&self, patient: PatientId, section: Section) -> Result<Vec<AttachmentInfo>> {
        let ent = Entity { patient: Some(patient), section: Some(section), ..Entity::default() };
        let grant = self.authorize(Action::Read, patient, section, false)?;
        if !self.patient_exists(patient)? {
            return Err(self.refuse(Action::Read, ent, Error::no_patient(patient)));
        }
        let opened = match self.open_attachments(&grant) {
            Ok(o) => o,
            Err(e) => return Err(self.refuse(Action::Read, ent, e)),
        };
        let draft = self.granted_draft_for(&grant, ent).append_detail("attachment list");
        self.release_as(&grant, draft, opened)
    }
}

/// Stages the deletion of every chunk under `prefix` (an attachment, or a whole patient),
/// reading the chunk keys a page at a time.
pub(crate) fn stage_chunk_deletion(
    backend: &dyn crate::storage::Backend,
    prefix: &[u8],
    batch: &mut Batch,
) -> Result<()> {
    crate::storage::scan_pages(backend, Space::AttachmentChunks, prefix, |page| -> Result<()> {
        for (k, _) in page {
            batch.delete(Space::AttachmentChunks, k.clone());
        }
        Ok(())
    })
}
