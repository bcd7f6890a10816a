//! The auditors' operations on the log: queries, verification, checkpoints and anchors,
//! inclusion proofs, retention pruning. Each requires the audit right and is itself audited.

use super::Session;
use crate::audit::{Action, AuditEvent, AuditQuery, Checkpoint, Entity, Outcome, VerifyReport};
use crate::error::{Denied, Result};
use crate::model::InvalidInput;
use crate::storage::Batch;

impl Session {
    /// Refuses (and audits the refusal) unless the user holds the audit right.
    pub(crate) fn require_auditor(&self, action: Action) -> Result<()> {
        self.require(self.policy_ref().may_audit(&self.user.roles), action, Entity::default(), Denied::Audit)
    }

    /// Queries the audit log (auditors). The query itself is audited.
    pub fn audit_query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        let ent = Entity {
            patient: query.patient,
            section: query.section,
            target_user: query.user.clone(),
            ..Entity::default()
        };
        self.require(self.policy_ref().may_audit(&self.user.roles), Action::AuditQuery, ent.clone(), Denied::Audit)?;
        let events = query.run(self.inner.backend.as_ref())?;
        self.commit(vec![self.draft(Action::AuditQuery, Outcome::Success, ent)], Batch::new())?;
        Ok(events)
    }

    /// Verifies the whole audit log, optionally against an anchored checkpoint. Audited (the
    /// verification event is appended after the check, so it does not hide a truncated tail).
    pub fn verify_audit(&self, anchor: Option<&Checkpoint>) -> Result<VerifyReport> {
        self.verify_audit_with_progress(anchor, &mut |_, _| {})
    }

    /// [`Session::verify_audit`], telling `progress` (events checked, events in the log) as it goes.
    pub fn verify_audit_with_progress(
        &self,
        anchor: Option<&Checkpoint>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<VerifyReport> {
        self.require_auditor(Action::AuditVerify)?;
        let total = self.log_size();
        let h = &self.inner.header;
        // Without an explicit anchor, the newest one in the configured anchor folder.
        let configured = match (anchor, &self.inner.location) {
            (None, Some((dir, _))) => match crate::storage::engine::anchor_dir(dir) {
                Some(a) => crate::audit::anchor::latest(&a, h.store)?,
                None => None,
            },
            _ => None,
        };
        let anchor = anchor.or(configured.as_ref());
        let mut report =
            crate::audit::verify::verify(self.inner.backend.as_ref(), h, anchor, &mut |done| progress(done, total))?;
        if let Some(p) = self.inner.witness_problem.lock().as_ref() {
            report.problems.insert(0, p.into());
        }
        let outcome = if report.is_ok() { Outcome::Success } else { Outcome::Error };
        let detail = match report.first_bad_seq() {
            None => format!("{} events verified", report.size),
            Some(s) => format!("first bad sequence number {s}"),
        };
        // A tampered log is not appended to (that would re-sign forged content).
        if report.is_ok() {
            self.commit(
                vec![self.draft(Action::AuditVerify, outcome, Entity::default()).detail(detail)],
                Batch::new(),
            )?;
        }
        Ok(report)
    }

    /// Signs a checkpoint of the current log, to be kept elsewhere as an anchor. Audited (the
    /// checkpoint covers its own export event).
    pub fn export_checkpoint(&self) -> Result<Checkpoint> {
        self.require_auditor(Action::CheckpointExport)?;
        let signer = self.live_signer()?;
        self.commit(vec![self.draft(Action::CheckpointExport, Outcome::Success, Entity::default())], Batch::new())?;
        self.inner.audit.checkpoint(&self.inner.committer, signer)
    }

    /// Sets (or removes) the folder where closing checkpoints are also written as anchors
    /// (auditors; embedded stores). Audited; with a folder, writes a fresh anchor there at once
    /// and returns its path.
    pub fn set_anchor_dir(&self, dir: Option<&std::path::Path>) -> Result<Option<std::path::PathBuf>> {
        self.require_auditor(Action::CheckpointExport)?;
        let Some((store_dir, _)) = &self.inner.location else {
            return Err(InvalidInput::Rule("anchor folders are for stores in a folder").into());
        };
        crate::storage::engine::set_anchor_dir(store_dir, dir)?;
        let what = if dir.is_some() { "anchor folder set" } else { "anchor folder removed" };
        self.commit(
            vec![self.draft(Action::CheckpointExport, Outcome::Success, Entity::default()).detail(what)],
            Batch::new(),
        )?;
        match dir {
            Some(d) => Ok(Some(crate::audit::anchor::export(d, &self.export_checkpoint()?)?)),
            None => Ok(None),
        }
    }

    /// Prunes the payloads of audit events older than the store's retention setting (auditors).
    /// Leaves and signed roots stay, so the log still verifies. Audited. Returns how many event
    /// payloads were pruned.
    pub fn prune_audit(&self) -> Result<u64> {
        self.require_auditor(Action::AuditPrune)?;
        let Some(days) = self.inner.header.audit_retention_days else {
            return Err(InvalidInput::Rule("this store keeps every audit event (no retention setting)").into());
        };
        let signer = self.live_signer()?;
        let now = self.inner.clock.now();
        let cutoff = now.plus_millis(-(days as i64) * 86_400_000);
        let (signers, _) =
            crate::keyring::signers::TrustedSigners::load(self.inner.backend.as_ref(), &self.inner.header)?;
        let (pruned, horizon) = crate::audit::retention::prune(
            self.inner.backend.as_ref(),
            &self.inner.committer,
            &signers,
            self.inner.header.store,
            &signer,
            cutoff,
            now,
        )?;
        self.commit(
            vec![
                self.draft(Action::AuditPrune, Outcome::Success, Entity::default())
                    .detail(format!("{pruned} payloads pruned; horizon {horizon}")),
            ],
            Batch::new(),
        )?;
        Ok(pruned)
    }

    /// An inclusion proof of event `seq` against a freshly signed checkpoint (auditors).
    /// Audited; the checkpoint covers the audit event of this very request.
    pub fn prove_event(&self, seq: u64) -> Result<crate::audit::EventProof> {
        let cp = self.export_checkpoint()?;
        crate::audit::EventProof::build(self.inner.backend.as_ref(), seq, cp)
    }
}
