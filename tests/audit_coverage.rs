//! Every operation of the public API produces exactly the expected audit events.

mod common;

use common::{PASS, Practice, ctx};
use medvault::audit::AuditEvent;
use medvault::backend::{Backend, MemoryBackend, Space};
use medvault::synthetic::Synth;
use medvault::{Action, Date, FindQuery, Outcome, Section, StoreOptions};
use std::sync::Arc;

type Seen = Vec<(Action, Outcome, Option<Section>, Option<String>)>;

struct Recorder {
    mem: Arc<MemoryBackend>,
    next: u64,
}

impl Recorder {
    /// Events appended since the last call.
    fn take(&mut self) -> Seen {
        let rows = self
            .mem
            .range(Space::AuditEvents, &self.next.to_be_bytes(), None, medvault::backend::Order::Ascending, usize::MAX)
            .unwrap();
        self.next += rows.len() as u64;
        rows.iter()
            .map(|(_, v)| {
                let e = AuditEvent::decode(v).unwrap();
                (e.action, e.outcome, e.entity.section, e.entity.target_user.clone())
            })
            .collect()
    }
}

fn ev(a: Action, o: Outcome) -> (Action, Outcome, Option<Section>, Option<String>) {
    (a, o, None, None)
}
fn sec(a: Action, o: Outcome, s: Section) -> (Action, Outcome, Option<Section>, Option<String>) {
    (a, o, Some(s), None)
}
fn user(a: Action, o: Outcome, u: &str) -> (Action, Outcome, Option<Section>, Option<String>) {
    (a, o, None, Some(u.to_string()))
}

#[test]
fn each_api_operation_produces_exactly_its_events() {
    use Action::*;
    use Outcome::*;
    let mem = Arc::new(MemoryBackend::new());
    let options = StoreOptions { audit_retention_days: Some(365), ..StoreOptions::insecure_fast_for_tests() };
    let practice = Practice::on(mem.clone(), options);
    let mut r = Recorder { mem: mem.clone(), next: 0 };
    let all = r.take();
    assert_eq!(all[0], ev(StoreCreate, Success), "store creation is the first event");

    let store = &practice.store;
    // Unlock: success, then each failure.
    let doc = store.unlock("dr_martin", PASS, ctx()).unwrap();
    assert_eq!(r.take(), vec![ev(Unlock, Success)]);
    let _ = store.unlock("dr_martin", b"wrong passphrase", ctx());
    let _ = store.unlock("nobody", PASS, ctx());
    assert_eq!(r.take(), vec![ev(Unlock, Denied), ev(Unlock, Denied)]);

    // Patient data.
    let mut s = Synth::new(1);
    let d = Date::parse("2026-11-22").unwrap();
    let p = doc.create_patient(s.identity()).unwrap();
    assert_eq!(r.take(), vec![sec(PatientCreate, Success, Section::Identity)]);
    let e = doc.append_report(p, s.report("Dr", d)).unwrap();
    doc.append_exam(p, s.lab_result("Labo", d)).unwrap();
    doc.write(p, Some(e), s.report("Dr", d), Some("typo")).unwrap();
    doc.update_identity(p, s.identity(), "rectification").unwrap();
    assert_eq!(
        r.take(),
        vec![
            sec(Write, Success, Section::Reports),
            sec(Write, Success, Section::Exams),
            sec(Write, Success, Section::Reports),
            sec(Write, Success, Section::Identity)
        ]
    );
    doc.read_identity(p).unwrap();
    doc.read_reports(p).unwrap();
    doc.read_exams(p).unwrap();
    assert_eq!(
        r.take(),
        vec![
            sec(Read, Success, Section::Identity),
            sec(Read, Success, Section::Reports),
            sec(Read, Success, Section::Exams)
        ]
    );
    let found = doc.find_patient(&FindQuery::BirthNameAndDate("nobody".into(), d)).unwrap();
    assert!(found.is_empty());
    assert_eq!(r.take(), vec![sec(Search, Success, Section::Identity)], "a search with no result is one event");

    // Denials.
    let claire = store.unlock("claire", PASS, ctx()).unwrap();
    r.take();
    assert!(claire.read_exams(p).is_err());
    assert!(claire.append_exam(p, s.lab_result("Labo", d)).is_err());
    assert!(claire.add_user("x", &["nurse".into()], PASS).is_err());
    assert!(claire.audit_query(&Default::default()).is_err());
    assert!(claire.verify_audit(None).is_err());
    assert_eq!(
        r.take(),
        vec![
            sec(Read, Denied, Section::Exams),
            sec(Write, Denied, Section::Exams),
            user(UserAdd, Denied, "x"),
            ev(AuditQuery, Denied),
            ev(AuditVerify, Denied)
        ]
    );

    // Accounts.
    let admin = store.unlock("admin", PASS, ctx()).unwrap();
    r.take();
    admin.add_user("nadia", &["nurse".into()], PASS).unwrap();
    assert_eq!(r.take(), vec![user(UserAdd, Success, "nadia")]);
    admin.set_roles("nadia", &["secretary".into()]).unwrap();
    assert_eq!(r.take(), vec![user(RoleChange, Success, "nadia")]);
    admin.revoke_user("nadia").unwrap();
    assert_eq!(r.take(), vec![user(UserRevoke, Success, "nadia")]);
    doc.change_passphrase(PASS, b"another passphrase").unwrap();
    assert_eq!(r.take(), vec![user(PassphraseChange, Success, "dr_martin")]);
    admin.list_users().unwrap();
    assert_eq!(r.take(), vec![ev(AuditQuery, Success)]);
    store.recover(&practice.shares[..3], "dr_martin", b"recovered passphrase", ctx()).unwrap();
    assert_eq!(r.take(), vec![user(Recover, Success, "dr_martin")]);

    // The auditors' own work.
    let dpo = store.unlock("dpo", PASS, ctx()).unwrap();
    r.take();
    dpo.audit_query(&medvault::AuditQuery { patient: Some(p), ..Default::default() }).unwrap();
    dpo.verify_audit(None).unwrap();
    dpo.export_checkpoint().unwrap();
    dpo.prove_event(3).unwrap();
    dpo.prune_audit().unwrap();
    assert_eq!(
        r.take(),
        vec![
            ev(AuditQuery, Success),
            ev(AuditVerify, Success),
            ev(CheckpointExport, Success),
            ev(CheckpointExport, Success),
            ev(AuditPrune, Success)
        ]
    );
}

#[test]
fn a_search_records_one_event_per_patient_returned_and_never_the_query() {
    let mem = Arc::new(MemoryBackend::new());
    let practice = Practice::on(mem.clone(), StoreOptions::insecure_fast_for_tests());
    let doc = practice.session("dr_martin");
    let mut id = Synth::new(3).identity();
    id.birth_name = "Homonyme".into();
    let a = doc.create_patient(id.clone()).unwrap();
    let b = doc.create_patient(id.clone()).unwrap();
    let mut r = Recorder { mem: mem.clone(), next: practice.store.audit_size() };
    let found = doc.find_patient(&FindQuery::BirthNameAndDate("HOMONYME".into(), id.birth_date)).unwrap();
    assert_eq!(found.len(), 2);
    let seen = r.take();
    assert_eq!(seen.len(), 2);
    let rows = mem.scan_prefix(Space::AuditEvents, &[]).unwrap();
    let last: Vec<AuditEvent> = rows[rows.len() - 2..].iter().map(|(_, v)| AuditEvent::decode(v).unwrap()).collect();
    let mut patients: Vec<_> = last.iter().map(|e| e.entity.patient.unwrap()).collect();
    patients.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(patients, want);
    assert!(
        last.iter().all(|e| e.entity.query.is_none() && e.detail.as_deref() == Some("by birth name and birth date"))
    );
    for (_, v) in &rows {
        assert!(!v.windows(8).any(|w| w == b"HOMONYME" || w == b"Homonyme"), "a search term reached the log");
    }
}

#[test]
fn access_key_and_compliance_operations_produce_exactly_their_events() {
    use Action::*;
    use Outcome::*;
    use medvault::CareMember;
    use medvault::rights::RequestKind;
    let mem = Arc::new(MemoryBackend::new());
    let practice = Practice::on(mem.clone(), StoreOptions::insecure_fast_for_tests());
    let p = practice.patient(1);
    let doc = practice.session("dr_martin");
    let admin = practice.session("admin");
    let dpo = practice.session("dpo");
    let mut r = Recorder { mem: mem.clone(), next: practice.store.audit_size() };
    let pe = |a, o| (a, o, None, None);
    let pu = |a, o, u: &str| (a, o, None, Some(u.to_string()));

    doc.care_team_add(p, &CareMember::Role("nurse".into())).unwrap();
    doc.care_team_remove(p, &CareMember::Role("nurse".into())).unwrap();
    doc.record_opposition(p, "ines").unwrap();
    doc.withdraw_opposition(p, "ines").unwrap();
    assert_eq!(
        r.take(),
        vec![
            pu(CareTeamAdd, Success, "role:nurse"),
            pu(CareTeamRemove, Success, "role:nurse"),
            pu(Opposition, Success, "ines"),
            pu(OppositionWithdraw, Success, "ines")
        ]
    );
    let bg = doc.break_glass(p, "Contrôle de l'enregistrement des accès d'urgence", None).unwrap();
    dpo.break_glass_review(bg).unwrap();
    assert_eq!(r.take(), vec![pe(BreakGlass, Success), pu(BreakGlassReview, Success, "dr_martin")]);
    admin.lift_lockout("ines").unwrap();
    assert_eq!(r.take(), vec![pu(LockoutLift, Success, "ines")]);

    let v = admin.add_key_version(Section::Reports).unwrap();
    admin.promote_key_version(Section::Reports, v).unwrap();
    assert_eq!(r.take(), vec![sec(KeyCreate, Success, Section::Reports), sec(KeyPolicy, Success, Section::Reports)]);
    let doc = practice.session("dr_martin"); // holds the new version
    assert_eq!(r.take(), vec![ev(Unlock, Success)]);
    doc.rewrap_section(Section::Reports, usize::MAX, |_, _| {}).unwrap();
    admin.retire_key_versions(Section::Reports, v).unwrap();
    assert_eq!(r.take(), vec![sec(KeyRewrap, Success, Section::Reports), sec(KeyPolicy, Success, Section::Reports)]);

    doc.export_patient(p).unwrap();
    assert_eq!(
        r.take(),
        vec![
            sec(Export, Success, Section::Identity),
            sec(Export, Success, Section::Reports),
            sec(Export, Success, Section::Exams)
        ]
    );
    dpo.audit_extract(&Default::default()).unwrap();
    assert_eq!(r.take(), vec![pe(Export, Success)]);
    dpo.audit_report(medvault::Timestamp(0), medvault::Timestamp::now().plus_millis(1000)).unwrap();
    assert_eq!(
        r.take(),
        vec![pe(AuditQuery, Success), pe(AuditQuery, Success)],
        "the break-glass listing and the report"
    );

    let claire = practice.session("claire");
    r.take();
    claire.set_hold(p, Some("contentieux")).unwrap();
    claire.set_hold(p, None).unwrap();
    assert_eq!(r.take(), vec![pe(LegalHold, Success), pe(LegalHold, Success)]);
    claire.retention_status(p).unwrap();
    assert_eq!(
        r.take(),
        vec![sec(Read, Success, Section::Identity)],
        "retention reads the identity (birth and death dates)"
    );
    assert!(claire.erase_patient(p).is_err());
    assert_eq!(r.take(), vec![sec(Read, Success, Section::Identity), pe(Purge, Denied)]);
    let req = claire.register_request(p, RequestKind::Copy, medvault::Timestamp::now()).unwrap();
    claire.list_requests(false).unwrap();
    claire.close_request(&req.id).unwrap();
    // A copy request's deadline depends on the dates of the information: the secretary reads the
    // reports she may read (audited) to find the oldest one.
    assert_eq!(
        r.take(),
        vec![sec(Read, Success, Section::Reports), pe(Request, Success), pe(AuditQuery, Success), pe(Request, Success)]
    );
}
