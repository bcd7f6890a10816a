//! Retention, erasure and the request register, with an injectable clock.

mod common;
use common::every_backend;

use common::Practice;
use medvault::backend::{MemoryBackend, Space};
use medvault::rights::Retention;
use medvault::rights::{RequestKind, deadline};
use medvault::synthetic::Synth;
use medvault::{Clock, Date, Denied, Error, ManualClock, StoreOptions, Timestamp};
use std::sync::Arc;

struct Case {
    name: &'static str,
    birth: &'static str,
    death: Option<&'static str>,
    hold: bool,
    /// Expected first day of purge (None: held).
    until: Option<&'static str>,
}

#[test]
fn retention_rules_adult_minor_deceased_and_hold() {
    let clock = Arc::new(ManualClock::new(Timestamp::parse("2006-05-10T10:00:00Z").unwrap()));
    let mem = Arc::new(MemoryBackend::new());
    let options = StoreOptions { clock: clock.clone(), ..StoreOptions::insecure_fast_for_tests() };
    let practice = Practice::on(mem.clone(), options);
    let doc = practice.session("dr_martin");
    let cases = [
        Case { name: "adult", birth: "1960-01-01", death: None, hold: false, until: Some("2026-05-10") },
        Case { name: "minor", birth: "2003-02-01", death: None, hold: false, until: Some("2031-02-01") },
        Case {
            name: "deceased",
            birth: "1940-01-01",
            death: Some("2008-03-03"),
            hold: false,
            until: Some("2018-03-03"),
        },
        Case { name: "hold", birth: "1960-01-01", death: None, hold: true, until: None },
    ];
    let mut ids = Vec::new();
    let mut identities = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let mut id = Synth::new(i as u64).identity();
        id.birth_date = Date::parse(c.birth).unwrap();
        // The synthetic NIR would not agree with the birth date set here.
        (id.ins_matricule, id.ins_oid, id.identity_status) = (None, None, medvault::IdentityStatus::PROV);
        let p = doc.create_patient(id.clone()).unwrap();
        if c.hold {
            doc.set_hold(p, Some("contentieux en cours")).unwrap();
        }
        ids.push(p);
        identities.push(id);
    }
    // A death is recorded once it happened (a date in the future is refused): a week after it,
    // which becomes the last visit.
    clock.set(Timestamp::parse("2008-03-10T10:00:00Z").unwrap());
    for ((c, p), mut id) in cases.iter().zip(&ids).zip(identities) {
        if let Some(d) = c.death {
            id.date_of_death = Some(Date::parse(d).unwrap());
            doc.update_identity(*p, id, "décès").unwrap();
        }
    }
    for (c, p) in cases.iter().zip(&ids) {
        match (doc.retention_status(*p).unwrap(), c.until) {
            (Retention::Keep { until, .. }, Some(u)) => assert_eq!(until, Date::parse(u).unwrap(), "{}", c.name),
            (Retention::Hold { .. }, None) => {}
            (s, _) => panic!("{}: {s:?}", c.name),
        }
    }
    // Erasure inside the window is refused, citing the rule. The date is not repeated (it may
    // derive from a birth or death date, and refusals are written to the audit log); the
    // retention status, an audited read, gives it.
    let err = doc.erase_patient(ids[0]).unwrap_err();
    assert!(matches!(err, Error::Denied(Denied::Retention { .. })), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("RGPD art. 17(3)(c)") && msg.contains("R1112-7"), "{msg}");
    assert!(!msg.contains("2026-05-10"), "{msg}");
    // 2019: only the deceased patient's file may go.
    clock.set(Timestamp::parse("2019-01-01").unwrap());
    let listed = doc.purge_expired(true).unwrap();
    let expired: Vec<_> =
        listed.iter().filter(|(_, s)| matches!(s, Retention::Expired { .. })).map(|(p, _)| *p).collect();
    assert_eq!(expired, vec![ids[2]]);
    // 2032: everything but the held file; the dry run deletes nothing.
    clock.set(Timestamp::parse("2032-01-01").unwrap());
    let before = mem.snapshot();
    let listed = doc.purge_expired(true).unwrap();
    assert_eq!(listed.iter().filter(|(_, s)| matches!(s, Retention::Expired { .. })).count(), 3);
    let records_before = before.keys().filter(|k| k[0] == Space::Records as u8).count();
    assert_eq!(mem.snapshot().keys().filter(|k| k[0] == Space::Records as u8).count(), records_before);
    // The real purge: ciphertexts and wrapped keys of the three files are gone, a tombstone stays.
    doc.purge_expired(false).unwrap();
    for p in &ids[..3] {
        let left = mem.snapshot().keys().filter(|k| k[0] == Space::Records as u8 && k[1..].starts_with(&p.0)).count();
        assert_eq!(left, 0, "ciphertexts left after the purge");
        assert!(matches!(doc.read_identity(*p), Err(Error::NotFound(_))));
    }
    assert_eq!(doc.read_identity(ids[3]).unwrap().len(), 1, "the held file is untouched");
    let dpo = practice.session("dpo");
    let purges =
        dpo.audit_query(&medvault::AuditQuery { action: Some(medvault::Action::Purge), ..Default::default() }).unwrap();
    assert_eq!(purges.iter().filter(|e| e.outcome == medvault::Outcome::Success).count(), 3);
    assert!(dpo.verify_audit(None).unwrap().is_ok());
    // Lifting the hold makes the last file purgeable.
    doc.set_hold(ids[3], None).unwrap();
    doc.erase_patient(ids[3]).unwrap();
}

#[test]
fn request_deadlines_follow_the_law() {
    let t = Timestamp::parse("2026-11-02T09:00:00Z").unwrap();
    let recent = Some(Date::parse("2024-01-01").unwrap());
    let old = Some(Date::parse("2015-01-01").unwrap());
    let (earliest, due, rule) = deadline(RequestKind::Copy, t, recent);
    assert_eq!(earliest, Some(Timestamp::parse("2026-11-04T09:00:00Z").unwrap()), "48-hour reflection");
    assert_eq!(due, Timestamp::parse("2026-11-10T09:00:00Z").unwrap(), "8 days");
    assert!(rule.contains("8 days"));
    let (_, due, rule) = deadline(RequestKind::Copy, t, old);
    assert_eq!(due, Timestamp::parse("2027-01-02T09:00:00Z").unwrap(), "2 months for information over 5 years old");
    assert!(rule.contains("2 months"));
    let (e, due, _) = deadline(RequestKind::Erasure, t, old);
    assert_eq!((e, due), (None, Timestamp::parse("2026-12-02T09:00:00Z").unwrap()));
    // Five years to the day is not "more than five years"; one day more is.
    let (_, due, _) = deadline(RequestKind::Copy, t, Some(Date::parse("2021-11-02").unwrap()));
    assert!(due < Timestamp::parse("2026-11-11").unwrap());
    let (_, due, _) = deadline(RequestKind::Copy, t, Some(Date::parse("2021-11-01").unwrap()));
    assert!(due > Timestamp::parse("2026-12-31").unwrap());
    // No information date known: the 8-day deadline, never a late one.
    let (_, due, _) = deadline(RequestKind::Copy, t, None);
    assert_eq!(due, Timestamp::parse("2026-11-10T09:00:00Z").unwrap());
}

every_backend! {
fn the_two_month_rule_uses_the_dates_of_the_information_not_of_the_store(kind) {
    // The file was opened in the store in 2019, but everything in it dates from 2026: 8 days.
    let clock = Arc::new(ManualClock::new(Timestamp::parse("2019-03-01T09:00:00Z").unwrap()));
    let options = StoreOptions { clock: clock.clone(), ..StoreOptions::insecure_fast_for_tests() };
    let practice = Practice::with(kind, options);
    let mut synth = Synth::new(5);
    let doc = practice.session("dr_martin");
    let recent_file = doc.create_patient(synth.identity()).unwrap();
    clock.set(Timestamp::parse("2026-11-02T09:00:00Z").unwrap());
    let doc = practice.session("dr_martin");
    doc.append_report(recent_file, synth.report("Dr Martin", Date::parse("2026-10-01").unwrap())).unwrap();
    // A file created today from an older practice's records: a 2014 report, so 2 months.
    let imported = doc.create_patient(synth.identity()).unwrap();
    doc.append_report(imported, synth.report("Dr Martin", Date::parse("2014-06-12").unwrap())).unwrap();
    let now = clock.now();
    let recent = doc.register_request(recent_file, RequestKind::Copy, now).unwrap();
    assert!(recent.rule.contains("8 days"), "{}", recent.rule);
    assert_eq!(recent.oldest_information, Some(Date::parse("2026-10-01").unwrap()));
    let old = doc.register_request(imported, RequestKind::Copy, now).unwrap();
    assert!(old.rule.contains("2 months"), "{}", old.rule);
    assert_eq!(old.oldest_information, Some(Date::parse("2014-06-12").unwrap()));
    // The DPO may read no clinical date: the 8-day deadline, never a late one.
    let by_dpo = practice.session("dpo").register_request(imported, RequestKind::Copy, now).unwrap();
    assert!(by_dpo.rule.contains("8 days") && by_dpo.oldest_information.is_none());
}
}

every_backend! {
fn a_copy_request_is_answered_by_an_export_the_register_remembers(kind) {
    use medvault::rights::{CopyFormat, NewRequest, Requester, Resolution};
    let clock = Arc::new(ManualClock::new(Timestamp::parse("2026-11-02T09:00:00Z").unwrap()));
    let options = StoreOptions { clock: clock.clone(), ..StoreOptions::insecure_fast_for_tests() };
    let practice = Practice::with(kind, options);
    let p = practice.patient(3);
    let dpo = practice.session("dpo");
    let mut new = NewRequest::new(RequestKind::Copy, clock.now());
    new.requester = Requester::LegalRepresentative;
    new.sections = vec![medvault::Section::Reports, medvault::Section::Exams];
    let req = dpo.register(p, &new).unwrap();
    assert_eq!((req.requester, req.sections.len()), (Requester::LegalRepresentative, 2));
    let rect = dpo.register_request(p, RequestKind::Rectification, clock.now()).unwrap();
    let doc = practice.session("dr_martin");
    // Not within the 48-hour reflection period.
    assert!(matches!(doc.answer_copy_request(&req.id, CopyFormat::Html), Err(medvault::Error::Invalid(_))));
    assert!(matches!(doc.answer_copy_request(&rect.id, CopyFormat::Html), Err(medvault::Error::Invalid(_))));
    clock.advance_millis(3 * 86_400_000);
    let (closed, page) = doc.answer_copy_request(&req.id, CopyFormat::Html).unwrap();
    let answer = closed.answer.clone().unwrap();
    let sealed = medvault::export::seal::verify_copy(&page, Some(&practice.store.verification_key())).unwrap();
    assert_eq!(answer.export.as_ref().unwrap().sha256, sealed.sha256, "the register names the copy handed over");
    assert_eq!((answer.by.as_str(), answer.resolution, answer.at), ("dr_martin", Resolution::Done, clock.now()));
    assert!(matches!(doc.answer_copy_request(&req.id, CopyFormat::Html), Err(medvault::Error::AlreadyExists(_))));
    dpo.close_request_as(&rect.id, Resolution::Refused).unwrap();
    // Closed requests stay in the register, with how they were answered.
    assert!(dpo.list_requests(false).unwrap().is_empty());
    let all = dpo.request_register().unwrap();
    assert_eq!(all.len(), 2);
    let kept = all.iter().find(|r| r.id == req.id).unwrap();
    assert_eq!(kept.answer.as_ref().unwrap().export.as_ref().unwrap().format, "html");
    let refused = all.iter().find(|r| r.id == rect.id).unwrap();
    assert_eq!(refused.answer.as_ref().unwrap().resolution, Resolution::Refused);
    // The export that answered is in the log, before the request's closing.
    let events = dpo
        .audit_query(&medvault::AuditQuery { patient: Some(p), ..Default::default() })
        .unwrap();
    let export = events.iter().rposition(|e| e.action == medvault::Action::Export).unwrap();
    let closing = events.iter().rposition(|e| e.action == medvault::Action::Request).unwrap();
    assert!(export < closing);
}
}

every_backend! {
fn the_register_lists_open_and_overdue_requests(kind) {
    let clock = Arc::new(ManualClock::new(Timestamp::parse("2026-11-02T09:00:00Z").unwrap()));
    let options = StoreOptions { clock: clock.clone(), ..StoreOptions::insecure_fast_for_tests() };
    let practice = Practice::with(kind, options);
    let p = practice.patient(1);
    let claire = practice.session("claire");
    let copy = claire.register_request(p, RequestKind::Copy, clock.now()).unwrap();
    let rect = claire.register_request(p, RequestKind::Rectification, clock.now()).unwrap();
    assert_eq!(claire.list_requests(false).unwrap().len(), 2);
    assert!(claire.list_requests(true).unwrap().is_empty());
    clock.advance_millis(9 * 86_400_000);
    let overdue = claire.list_requests(true).unwrap();
    assert_eq!(overdue.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![copy.id.clone()]);
    claire.close_request(&copy.id).unwrap();
    assert!(claire.list_requests(true).unwrap().is_empty());
    assert_eq!(claire.list_requests(false).unwrap()[0].id, rect.id);
    assert!(practice.session("ines").list_requests(false).is_err(), "nurses do not manage the register");
}
}
