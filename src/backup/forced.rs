//! Restoring a backup older than an anchored checkpoint, on an administrator's decision.
//!
//! [`super::restore`] refuses such a backup: the anchor proves the log once held more. When
//! the newer state is lost for good (a disk lost after the anchor was taken, a ransomware
//! attack), an administrator may still restore it with [`restore_forced`]: the backup is checked
//! as for any restore, the store is written, and the administrator's unlock then appends a
//! `restore-forced` event naming both logs' sizes and roots, with the reason sealed like a
//! break-glass justification. The anchors the restored log does not extend are moved aside
//! (`superseded-<events>/` in the store's anchor folder), not deleted. If the administrator's
//! unlock or the event fails, the new folder is removed again.

use super::{BackupReport, Scratch, verify_loaded};
use crate::audit::{anchor, verify};
use crate::error::Result;
use crate::keyring;
use crate::model::InvalidInput;
use crate::storage::Engine;
use std::io::Read;
use std::path::Path;

/// Who forces a restore, and why.
pub struct ForcedRestore<'a> {
    /// An administrator of the backed-up store.
    pub admin: &'a str,
    /// Their passphrase (as of the backup).
    pub passphrase: &'a [u8],
    /// Why the newer state is given up (sealed to the administrator, the auditors and the
    /// recovery key; never written in clear).
    pub reason: &'a str,
}

impl std::fmt::Debug for ForcedRestore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForcedRestore").field("admin", &self.admin).finish_non_exhaustive()
    }
}

/// [`super::restore`], except that a backup older than the newest anchor in `anchor_dir` is
/// restored, and the override audited (see the module documentation). A backup that extends
/// the anchor is restored as usual, with nothing to record (`forced_over` stays `None`).
pub fn restore_forced(
    chain: &mut [&mut dyn Read],
    dir: &Path,
    engine_kind: Engine,
    key: Option<&[u8; 32]>,
    anchor_dir: &Path,
    forced: ForcedRestore<'_>,
) -> Result<BackupReport> {
    crate::model::check_text("reason", forced.reason, crate::session::break_glass::MAX_JUSTIFICATION)?;
    if forced.reason.chars().count() < 10 {
        return Err(InvalidInput::Rule("a forced restore needs a reason of at least 10 characters").into());
    }
    let made = !dir.exists();
    let scratch = Scratch::create(dir, engine_kind)?;
    let (mut report, root) = verify_loaded(chain, key, None, scratch.backend())?;
    let header = keyring::load_header(scratch.backend(), key)?;
    let (signers, _) = keyring::signers::TrustedSigners::load(scratch.backend(), &header)?;
    // The anchors the restored log does not extend, by size (one anchor file per size).
    let superseded: Vec<u64> = anchor::list(anchor_dir, report.store)?
        .iter()
        .filter(|a| !verify::extends(scratch.backend(), &signers, a, report.events, &root).unwrap_or(false))
        .map(|a| a.head.size)
        .collect();
    let anchored = anchor::latest(anchor_dir, report.store)?.filter(|a| superseded.contains(&a.head.size));
    scratch.keep(&report, &root)?;
    let Some(anchored) = anchored else { return Ok(report) };
    let recorded = (|| -> Result<()> {
        let store = crate::Store::open(dir)?;
        let s = store.unlock(forced.admin, forced.passphrase, crate::AccessContext::operations("restore"))?;
        s.record_forced_restore((report.events, hex::encode(root)), &anchored, forced.reason)?;
        drop(s);
        store.close()
    })();
    if let Err(e) = recorded {
        // Nothing stays of a restore whose override could not be recorded.
        super::remove_written(dir, made);
        return Err(e);
    }
    anchor::set_aside(anchor_dir, report.store, &report.events.to_string(), |cp| !superseded.contains(&cp.head.size))?;
    tracing::warn!(restored = report.events, anchored = anchored.head.size, "backup restored over a newer anchor");
    report.forced_over = Some(anchored.head.size);
    Ok(report)
}
