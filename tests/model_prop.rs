//! Property test: random sequences of operations, checked against an in-memory model.

mod common;

use common::Practice;
use medvault::synthetic::Synth;
use medvault::{Date, EntryId, Error, PatientId, Section};
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
enum Op {
    CreatePatient { user: usize, seed: u64 },
    AddReport { user: usize, patient: usize, seed: u64 },
    AddExam { user: usize, patient: usize, seed: u64 },
    ReviseReport { user: usize, patient: usize, entry: usize, seed: u64 },
    UpdateIdentity { user: usize, patient: usize, seed: u64 },
    Read { user: usize, patient: usize, section: usize },
}

const USERS: [&str; 5] = ["claire", "dr_martin", "ines", "labo", "dpo"];

fn op() -> impl Strategy<Value = Op> {
    let u = 0..USERS.len();
    prop_oneof![
        (u.clone(), any::<u64>()).prop_map(|(user, seed)| Op::CreatePatient { user, seed }),
        (u.clone(), 0..4usize, any::<u64>()).prop_map(|(user, patient, seed)| Op::AddReport { user, patient, seed }),
        (u.clone(), 0..4usize, any::<u64>()).prop_map(|(user, patient, seed)| Op::AddExam { user, patient, seed }),
        (u.clone(), 0..4usize, 0..3usize, any::<u64>())
            .prop_map(|(user, patient, entry, seed)| { Op::ReviseReport { user, patient, entry, seed } }),
        (u.clone(), 0..4usize, any::<u64>()).prop_map(|(user, patient, seed)| Op::UpdateIdentity {
            user,
            patient,
            seed
        }),
        (u, 0..4usize, 0..3usize).prop_map(|(user, patient, section)| Op::Read { user, patient, section }),
    ]
}

/// The model: per patient, per section, per entry, the list of revision fingerprints.
#[derive(Default)]
struct Model {
    patients: Vec<PatientId>,
    sections: BTreeMap<(usize, Section), BTreeMap<EntryId, Vec<String>>>,
    entry_order: BTreeMap<(usize, Section), Vec<EntryId>>,
}

fn may(user: &str, section: Section, write: bool) -> bool {
    let p = medvault::Policy::default();
    let roles = vec![
        match user {
            "claire" => "secretary",
            "dr_martin" => "physician",
            "ines" => "nurse",
            "labo" => "biologist",
            _ => "auditor",
        }
        .to_string(),
    ];
    if write { p.may_write(&roles, section) } else { p.may_read(&roles, section) }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn operations_agree_with_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let practice = Practice::new();
        let sessions: Vec<_> = USERS.iter().map(|u| practice.session(u)).collect();
        let mut model = Model::default();
        let d = Date::parse("2026-11-22").unwrap();
        for op in ops {
            match op {
                Op::CreatePatient { user, seed } => {
                    let id = Synth::new(seed).identity();
                    let r = sessions[user].create_patient(id.clone());
                    prop_assert_eq!(r.is_ok(), may(USERS[user], Section::Identity, true));
                                        if let Ok(p) = r {
                        for role in ["secretary", "physician", "nurse", "biologist"] {
                            sessions[user].care_team_add(p, &medvault::CareMember::Role(role.into())).unwrap();
                        }
                        let i = model.patients.len();
                        model.patients.push(p);
                        model.sections.entry((i, Section::Identity)).or_default().insert(EntryId::IDENTITY, vec![id.birth_name.clone()]);
                    }
                }
                Op::AddReport { user, patient, seed } | Op::AddExam { user, patient, seed } if patient >= model.patients.len() => { let _ = (user, seed); }
                Op::AddReport { user, patient, seed } => {
                    let rep = Synth::new(seed).report(&format!("Dr {seed}"), d);
                    let r = sessions[user].append_report(model.patients[patient], rep);
                    prop_assert_eq!(r.is_ok(), may(USERS[user], Section::Reports, true));
                    if let Ok(e) = r {
                        model.sections.entry((patient, Section::Reports)).or_default().insert(e, vec![format!("Dr {seed}")]);
                        model.entry_order.entry((patient, Section::Reports)).or_default().push(e);
                    }
                }
                Op::AddExam { user, patient, seed } => {
                    let ex = Synth::new(seed).lab_result(&format!("Labo {seed}"), d);
                    let r = sessions[user].append_exam(model.patients[patient], ex);
                    prop_assert_eq!(r.is_ok(), may(USERS[user], Section::Exams, true));
                    if let Ok(e) = r {
                        model.sections.entry((patient, Section::Exams)).or_default().insert(e, vec![format!("Labo {seed}")]);
                    }
                }
                Op::ReviseReport { user, patient, entry, seed } => {
                    let Some(&e) = model.entry_order.get(&(patient, Section::Reports)).and_then(|v| v.get(entry)) else { continue };
                    let rep = Synth::new(seed).report(&format!("Dr rev {seed}"), d);
                    let r = sessions[user].write(model.patients[patient], Some(e), rep, Some("correction"));
                    prop_assert_eq!(r.is_ok(), may(USERS[user], Section::Reports, true));
                    if let Ok((_, rev)) = r {
                        let revs = model.sections.get_mut(&(patient, Section::Reports)).unwrap().get_mut(&e).unwrap();
                        revs.push(format!("Dr rev {seed}"));
                        prop_assert_eq!(rev as usize, revs.len());
                    }
                }
                Op::UpdateIdentity { user, patient, seed } => {
                    if patient >= model.patients.len() { continue; }
                    let id = Synth::new(seed).identity();
                    let r = sessions[user].update_identity(model.patients[patient], id.clone(), "rectification");
                    prop_assert_eq!(r.is_ok(), may(USERS[user], Section::Identity, true));
                    if r.is_ok() {
                        model.sections.get_mut(&(patient, Section::Identity)).unwrap().get_mut(&EntryId::IDENTITY).unwrap().push(id.birth_name.clone());
                    }
                }
                Op::Read { user, patient, section } => {
                    if patient >= model.patients.len() { continue; }
                    let section = Section::ALL[section];
                    let p = model.patients[patient];
                    let s = &sessions[user];
                    let got: Result<BTreeMap<EntryId, Vec<String>>, Error> = match section {
                        Section::Identity => s.read_identity(p).map(|v| group(v.into_iter().map(|e| (e.entry_id, e.revision, e.content.birth_name.clone())))),
                        Section::Reports => s.read_reports(p).map(|v| group(v.into_iter().map(|e| (e.entry_id, e.revision, e.content.author.clone())))),
                        _ => s.read_exams(p).map(|v| group(v.into_iter().map(|e| (e.entry_id, e.revision, e.content.performer.clone())))),
                    };
                    match got {
                        Ok(map) => {
                            prop_assert!(may(USERS[user], section, false));
                            let want = model.sections.get(&(patient, section)).cloned().unwrap_or_default();
                            prop_assert_eq!(map, want);
                        }
                        Err(Error::Denied(_)) => prop_assert!(!may(USERS[user], section, false)),
                        Err(e) => prop_assert!(false, "unexpected error {}", e),
                    }
                }
            }
        }
        // Whatever happened, the audit log verifies.
        let report = practice.session("dpo").verify_audit(None).unwrap();
        prop_assert!(report.is_ok(), "{:?}", report.problems);
    }
}

fn group(it: impl Iterator<Item = (EntryId, u32, String)>) -> BTreeMap<EntryId, Vec<String>> {
    let mut out: BTreeMap<EntryId, Vec<String>> = BTreeMap::new();
    for (e, rev, v) in it {
        let revs = out.entry(e).or_default();
        assert_eq!(revs.len() + 1, rev as usize, "revisions come in order");
        revs.push(v);
    }
    out
}
