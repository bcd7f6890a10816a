//! Access control in depth: every (role, care team, opposition, break-glass, section) cell, with
//! the exact audit event of each; break-glass rules and expiry; reviews.

mod common;
use common::every_backend;

use common::{PASS, Practice, ctx};
use medvault::CareMember;
use medvault::audit::AuditEvent;
use medvault::backend::{Backend, MemoryBackend, Order, Space};
use medvault::synthetic::Synth;
use medvault::{Clock, Date, Denied, Error, ManualClock, Outcome, Purpose, Section, StoreOptions, Timestamp};
use std::sync::Arc;

const ROLES: [(&str, &str); 6] = [
    ("claire", "secretary"),
    ("dr_martin", "physician"),
    ("ines", "nurse"),
    ("labo", "biologist"),
    ("dpo", "auditor"),
    ("admin", "admin"),
];

fn last_event(mem: &MemoryBackend) -> AuditEvent {
    let (_, v) = mem.range(Space::AuditEvents, &[], None, Order::Descending, 1).unwrap().remove(0);
    medvault::AuditEvent::decode(&v).unwrap()
}

/// The rule, written out independently of the library: role first (no key, no access), then
/// opposition (all sections), then care team (clinical sections); break-glass lifts the last two.
fn expected(role: &str, section: Section, care: bool, opposed: bool, bg: bool) -> Result<bool, Denied> {
    let reads: &[Section] = match role {
        "secretary" => &[Section::Identity, Section::Reports],
        "physician" | "nurse" => &[Section::Identity, Section::Reports, Section::Exams],
        "biologist" => &[Section::Identity, Section::Exams],
        _ => &[],
    };
    if !reads.contains(&section) {
        return Err(Denied::SectionRead(section));
    }
    let blocked = if opposed {
        Some(Denied::Opposition)
    } else if section != Section::Identity && !care {
        Some(Denied::NotInCareTeam)
    } else {
        None
    };
    match blocked {
        None => Ok(false),
        Some(_) if bg => Ok(true),
        Some(d) => Err(d),
    }
}

#[test]
fn every_cell_of_the_access_table_allows_or_denies_with_its_exact_event() {
    let mem = Arc::new(MemoryBackend::new());
    let practice = Practice::on(mem.clone(), StoreOptions::insecure_fast_for_tests());
    practice.session("admin").add_user("dr_creator", &["physician".into()], PASS).unwrap();
    drop(practice.session("dr_martin")); // delivers the creator's keys
    let creator = practice.session("dr_creator");
    let sessions: Vec<_> = ROLES.iter().map(|(u, _)| practice.session(u)).collect();
    let mut synth = Synth::new(4);
    let d = Date::parse("2026-11-22").unwrap();
    let mut cells = 0;
    for (i, (user, role)) in ROLES.iter().enumerate() {
        for care in [false, true] {
            for opposed in [false, true] {
                for bg in [false, true] {
                    let p = creator.create_patient(synth.identity()).unwrap();
                    creator.append_report(p, synth.report("Dr C", d)).unwrap();
                    creator.append_exam(p, synth.lab_result("Labo", d)).unwrap();
                    if care {
                        creator.care_team_add(p, &CareMember::User(user.to_string())).unwrap();
                    }
                    if opposed {
                        creator.record_opposition(p, user).unwrap();
                    }
                    let s = &sessions[i];
                    let mut bg_open = false;
                    if bg {
                        match s.break_glass(p, "Patient inconscient aux urgences, antécédents inconnus", None) {
                            Ok(_) => bg_open = true,
                            Err(Error::Denied(_)) => {
                                assert!(matches!(*role, "auditor" | "admin"), "{role} refused break-glass")
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    for section in Section::ALL {
                        let got = match section {
                            Section::Identity => s.read_identity(p).map(|v| v.len()),
                            Section::Reports => s.read_reports(p).map(|v| v.len()),
                            _ => s.read_exams(p).map(|v| v.len()),
                        };
                        let ev = last_event(&mem);
                        let want = expected(role, section, care, opposed, bg_open);
                        let cell = format!("{role} care={care} opposed={opposed} bg={bg} {section}");
                        assert_eq!(ev.entity.patient, Some(p), "{cell}");
                        assert_eq!(ev.entity.section, Some(section), "{cell}");
                        assert_eq!(ev.action, medvault::Action::Read, "{cell}");
                        match (got, want) {
                            (Ok(n), Ok(emergency)) => {
                                assert_eq!(n, 1, "{cell}");
                                assert_eq!(ev.outcome, Outcome::Success, "{cell}");
                                if emergency {
                                    assert_eq!(ev.purpose, Purpose::Emergency, "{cell}");
                                    assert!(ev.detail.as_deref().unwrap_or("").starts_with("break-glass #"), "{cell}");
                                } else {
                                    assert_eq!(ev.purpose, Purpose::Treatment, "{cell}");
                                    assert_eq!(ev.detail, None, "{cell}");
                                }
                            }
                            (Err(Error::Denied(d)), Err(w)) => {
                                assert_eq!(d, w, "{cell}");
                                assert_eq!(ev.outcome, Outcome::Denied, "{cell}");
                                assert_eq!(
                                    ev.detail.as_deref(),
                                    Some(format!("access denied: {w}").as_str()),
                                    "{cell}"
                                );
                            }
                            (g, w) => panic!("{cell}: got {g:?}, expected {w:?}"),
                        }
                        cells += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cells, 6 * 2 * 2 * 2 * 3);
}

every_backend! {
fn a_patients_creator_is_in_the_care_team_and_writes_need_it_too(kind) {
    let practice = Practice::of(kind);
    let doc = practice.session("dr_martin");
    let mut s = Synth::new(1);
    let p = doc.create_patient(s.identity()).unwrap();
    let d = Date::parse("2026-11-22").unwrap();
    doc.append_report(p, s.report("Dr", d)).unwrap();
    let nurse = practice.session("ines");
    assert!(matches!(nurse.read_reports(p), Err(Error::Denied(Denied::NotInCareTeam))));
    let labo = practice.session("labo");
    assert!(matches!(labo.append_exam(p, s.lab_result("L", d)), Err(Error::Denied(Denied::NotInCareTeam))));
    doc.care_team_add(p, &CareMember::Role("biologist".into())).unwrap();
    labo.append_exam(p, s.lab_result("L", d)).unwrap();
    assert_eq!(doc.care_team(p).unwrap().len(), 2);
    doc.care_team_remove(p, &CareMember::Role("biologist".into())).unwrap();
    assert!(labo.read_exams(p).is_err());
    // Only care-team managers manage care teams.
    assert!(matches!(
        nurse.care_team_add(p, &CareMember::User("ines".into())),
        Err(Error::Denied(Denied::ManageCareTeam))
    ));
    // Identity stays readable for reception whatever the care team.
    assert_eq!(practice.session("claire").read_identity(p).unwrap().len(), 1);
}
}

every_backend! {
fn break_glass_needs_a_real_justification_and_expires(kind) {
    let clock = Arc::new(ManualClock::new(Timestamp::parse("2026-11-22T20:00:00Z").unwrap()));
    let options = StoreOptions { clock: clock.clone(), ..StoreOptions::insecure_fast_for_tests() };
    let practice = Practice::with(kind, options);
    let doc = practice.session("dr_martin");
    let mut s = Synth::new(2);
    let p = doc.create_patient(s.identity()).unwrap();
    let nurse = practice.store.unlock("ines", PASS, ctx()).unwrap();
    for bad in ["", "   ", "urgence", "         urgence          "] {
        let e = nurse.break_glass(p, bad, None).unwrap_err();
        assert!(matches!(e, Error::Invalid(medvault::InvalidInput::OutOfRange { min: 20, .. })), "{bad:?}: {e}");
    }
    let too_long = "x".repeat(2001);
    assert!(matches!(nurse.break_glass(p, &too_long, None), Err(Error::Invalid(_))), "an unbounded justification");
    let e = nurse.break_glass(p, "Malaise en salle d'attente, dossier nécessaire", Some(13)).unwrap_err();
    assert!(matches!(e, Error::Invalid(medvault::InvalidInput::OutOfRange { min: 1, max: 12, .. })), "{e}");
    assert!(nurse.read_reports(p).is_err());
    let id = nurse.break_glass(p, "Malaise en salle d'attente, dossier nécessaire", None).unwrap();
    assert_eq!(nurse.read_reports(p).unwrap().len(), 0);
    clock.advance_millis(4 * 3_600_000 - 1);
    assert!(nurse.read_reports(p).is_ok(), "still valid one millisecond before 4 hours");
    clock.advance_millis(1);
    assert!(matches!(nurse.read_reports(p), Err(Error::Denied(Denied::NotInCareTeam))), "expired at 4 hours");
    // Review by the DPO.
    let dpo = practice.session("dpo");
    let pending = dpo.break_glass_list(true).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].seq, id);
    assert_eq!(pending[0].expires_at, Timestamp(pending[0].opened_at.0 + 4 * 3_600_000));
    dpo.break_glass_review(id).unwrap();
    assert!(dpo.break_glass_list(true).unwrap().is_empty());
    assert_eq!(dpo.break_glass_list(false).unwrap()[0].reviewed_by.as_deref(), Some("dpo"));
    assert!(dpo.break_glass_review(id).is_err(), "reviewed twice");
    assert!(nurse.break_glass_review(id).is_err(), "only auditors review");
    let _ = clock.now();
}
}

every_backend! {
fn break_glass_never_grants_a_section_the_role_does_not_allow(kind) {
    let practice = Practice::of(kind);
    let p = practice.patient(9);
    let claire = practice.session("claire");
    claire.break_glass(p, "Appel du SAMU, besoin urgent du dossier complet", None).unwrap();
    assert!(matches!(claire.read_exams(p), Err(Error::Denied(Denied::SectionRead(Section::Exams)))));
    assert!(medvault::testing::decrypt_bypassing_checks(&claire, p, Section::Exams).is_err());
}
}
