//! The role matrix, walked in full, and proof that it is enforced by keys.

mod common;
use common::every_backend;

use common::{Practice, USERS};
use medvault::model::SectionContent;
use medvault::synthetic::Synth;
use medvault::{Date, Denied, Error, PatientId, Section, Session};

fn try_read(s: &Session, p: PatientId, section: Section) -> Result<usize, Error> {
    match section {
        Section::Identity => s.read_identity(p).map(|v| v.len()),
        Section::Reports => s.read_reports(p).map(|v| v.len()),
        Section::Exams => s.read_exams(p).map(|v| v.len()),
        _ => unreachable!(),
    }
}

fn try_write(s: &Session, p: PatientId, section: Section, synth: &mut Synth) -> Result<(), Error> {
    let d = Date::parse("2026-11-03").unwrap();
    match section {
        Section::Identity => s.update_identity(p, synth.identity(), "correction").map(|_| ()),
        Section::Reports => s.append_report(p, synth.report("Dr X", d)).map(|_| ()),
        Section::Exams => s.append_exam(p, synth.lab_result("Labo", d)).map(|_| ()),
        _ => unreachable!(),
    }
}

every_backend! {
fn every_role_section_and_operation_matches_the_default_matrix(kind) {
    let practice = Practice::of(kind);
    let p = practice.patient(1);
    let policy = practice.store.policy().clone();
    let mut synth = Synth::new(99);
    let mut cells = 0;
    for (user, role) in USERS {
        let s = practice.session(user);
        let roles = vec![role.to_string()];
        for section in Section::ALL {
            let may_read = policy.may_read(&roles, section);
            match try_read(&s, p, section) {
                Ok(n) => assert!(may_read && n >= 1, "{role} read {section}"),
                Err(Error::Denied(Denied::SectionRead(sec))) => {
                    assert!(!may_read && sec == section, "{role} read {section}")
                }
                Err(e) => panic!("{role} read {section}: {e}"),
            }
            let may_write = policy.may_write(&roles, section);
            match try_write(&s, p, section, &mut synth) {
                Ok(()) => assert!(may_write, "{role} wrote {section}"),
                Err(Error::Denied(Denied::SectionWrite(sec))) => {
                    assert!(!may_write && sec == section, "{role} write {section}")
                }
                Err(e) => panic!("{role} write {section}: {e}"),
            }
            cells += 2;
        }
    }
    assert_eq!(cells, 6 * 3 * 2);
    // The expected matrix, spelled out (design notes §3).
    let expect = |role: &str| -> (Vec<Section>, Vec<Section>) {
        use Section::*;
        match role {
            "secretary" => (vec![Identity, Reports], vec![Identity, Reports]),
            "physician" => (vec![Identity, Reports, Exams], vec![Identity, Reports, Exams]),
            "nurse" => (vec![Identity, Reports, Exams], vec![]),
            "biologist" => (vec![Identity, Exams], vec![Exams]),
            _ => (vec![], vec![]),
        }
    };
    for (_, role) in USERS {
        let roles = vec![role.to_string()];
        let (r, w) = expect(role);
        for section in Section::ALL {
            assert_eq!(policy.may_read(&roles, section), r.contains(&section), "{role} read {section}");
            assert_eq!(policy.may_write(&roles, section), w.contains(&section), "{role} write {section}");
        }
    }
}
}

every_backend! {
fn sessions_hold_only_the_keys_of_their_roles(kind) {
    let practice = Practice::of(kind);
    for (user, role) in USERS {
        let s = practice.session(user);
        let roles = vec![role.to_string()];
        let expected: Vec<Section> =
            Section::ALL.into_iter().filter(|sec| practice.store.policy().may_read(&roles, *sec)).collect();
        assert_eq!(s.readable_sections(), expected, "{user}");
    }
    assert!(practice.session("admin").readable_sections().is_empty());
    assert!(practice.session("dpo").readable_sections().is_empty());
}
}

every_backend! {
fn enforcement_is_cryptographic_even_with_every_check_bypassed(kind) {
    let practice = Practice::of(kind);
    let p = practice.patient(2);
    for user in ["claire", "admin", "dpo"] {
        let s = practice.session(user);
        let r = medvault::testing::decrypt_bypassing_checks(&s, p, Section::Exams);
        assert!(matches!(r, Err(Error::Decrypt)), "{user} decrypted exams");
    }
    for user in ["admin", "dpo"] {
        let s = practice.session(user);
        for section in Section::ALL {
            assert!(medvault::testing::decrypt_bypassing_checks(&s, p, section).is_err(), "{user} decrypted {section}");
        }
    }
    // The same bypass does open what the role holds: the probe can succeed.
    let nurse = practice.session("ines");
    assert_eq!(medvault::testing::decrypt_bypassing_checks(&nurse, p, Section::Exams).unwrap(), 1);
    let secretary = practice.session("claire");
    assert_eq!(medvault::testing::decrypt_bypassing_checks(&secretary, p, Section::Reports).unwrap(), 1);
}
}

every_backend! {
fn content_rules_are_checked_before_anything_is_written(kind) {
    let practice = Practice::of(kind);
    let doc = practice.session("dr_martin");
    let mut bad = common::identity(3);
    bad.birth_name = "  ".into();
    let err = doc.create_patient(bad).unwrap_err();
    assert!(err.to_string().contains("birth_name"), "{err}");
    let mut bad = common::identity(4);
    bad.ins_matricule = Some("123456789012345".into());
    bad.ins_oid = Some("1.2.250.1.213.1.4.8".into());
    assert!(bad.validate().is_err());
    assert!(!doc.create_patient(bad).unwrap_err().to_string().contains("123456789012345"));
}
}
