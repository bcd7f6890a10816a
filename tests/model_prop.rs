//! Property test: random sequences of operations by every role (writes, corrections, reads,
//! care-team changes, oppositions, break-glass), checked against an independent model.
//!
//! The model does not ask the code under test anything: it holds its own copy of the default
//! role matrix (design notes §3) and its own access rule (care team for clinical sections,
//! opposition for every section, break-glass lifting both, never the role matrix). Cases: 256 by
//! default, `PROPTEST_CASES` to change.

mod common;

use common::Practice;
use medvault::synthetic::Synth;
use medvault::{CareMember, Date, EntryId, Error, PatientId, Section};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// The users of the fixture that act, with their single role.
const USERS: [(&str, &str); 5] =
    [("claire", "secretary"), ("dr_martin", "physician"), ("ines", "nurse"), ("labo", "biologist"), ("dpo", "auditor")];
const ROLES: [&str; 4] = ["secretary", "physician", "nurse", "biologist"];
const MAX_PATIENTS: usize = 4;

/// The default role matrix, written out independently of `Policy`.
fn role_may(role: &str, section: Section, write: bool) -> bool {
    use Section::*;
    let (read, wrote): (&[Section], &[Section]) = match role {
        "secretary" => (&[Identity, Reports], &[Identity, Reports]),
        "physician" => (&[Identity, Reports, Exams], &[Identity, Reports, Exams]),
        "nurse" => (&[Identity, Reports, Exams], &[]),
        "biologist" => (&[Identity, Exams], &[Exams]),
        _ => (&[], &[]),
    };
    if write { wrote.contains(&section) } else { read.contains(&section) }
}

fn manages_care_team(role: &str) -> bool {
    matches!(role, "secretary" | "physician")
}

#[derive(Clone, Debug)]
enum Member {
    User(usize),
    Role(usize),
}

#[derive(Clone, Debug)]
enum Op {
    /// `team`: a bit per role of `ROLES` the creator adds to the new care team.
    CreatePatient {
        user: usize,
        seed: u64,
        team: u8,
    },
    AddReport {
        user: usize,
        patient: usize,
        seed: u64,
    },
    AddExam {
        user: usize,
        patient: usize,
        seed: u64,
    },
    ReviseReport {
        user: usize,
        patient: usize,
        entry: usize,
        seed: u64,
    },
    UpdateIdentity {
        user: usize,
        patient: usize,
        seed: u64,
    },
    Read {
        user: usize,
        patient: usize,
        section: usize,
    },
    CareTeamAdd {
        by: usize,
        patient: usize,
        member: Member,
    },
    CareTeamRemove {
        by: usize,
        patient: usize,
        member: Member,
    },
    Oppose {
        by: usize,
        patient: usize,
        user: usize,
    },
    Withdraw {
        by: usize,
        patient: usize,
        user: usize,
    },
    BreakGlass {
        user: usize,
        patient: usize,
    },
}

fn member() -> impl Strategy<Value = Member> {
    prop_oneof![(0..USERS.len()).prop_map(Member::User), (0..ROLES.len()).prop_map(Member::Role)]
}

fn op() -> impl Strategy<Value = Op> {
    let u = || 0..USERS.len();
    let p = || 0..MAX_PATIENTS;
    prop_oneof![
        2 => (u(), any::<u64>(), 0..16u8).prop_map(|(user, seed, team)| Op::CreatePatient { user, seed, team }),
        3 => (u(), p(), any::<u64>()).prop_map(|(user, patient, seed)| Op::AddReport { user, patient, seed }),
        3 => (u(), p(), any::<u64>()).prop_map(|(user, patient, seed)| Op::AddExam { user, patient, seed }),
        2 => (u(), p(), 0..3usize, any::<u64>())
            .prop_map(|(user, patient, entry, seed)| Op::ReviseReport { user, patient, entry, seed }),
        1 => (u(), p(), any::<u64>()).prop_map(|(user, patient, seed)| Op::UpdateIdentity { user, patient, seed }),
        6 => (u(), p(), 0..3usize).prop_map(|(user, patient, section)| Op::Read { user, patient, section }),
        3 => (u(), p(), member()).prop_map(|(by, patient, member)| Op::CareTeamAdd { by, patient, member }),
        2 => (u(), p(), member()).prop_map(|(by, patient, member)| Op::CareTeamRemove { by, patient, member }),
        1 => (u(), p(), u()).prop_map(|(by, patient, user)| Op::Oppose { by, patient, user }),
        1 => (u(), p(), u()).prop_map(|(by, patient, user)| Op::Withdraw { by, patient, user }),
        1 => (u(), p()).prop_map(|(user, patient)| Op::BreakGlass { user, patient }),
    ]
}

/// What the model knows of one patient.
#[derive(Default)]
struct PatientModel {
    id: Option<PatientId>,
    /// Per section, per entry, the fingerprint of each revision.
    sections: BTreeMap<Section, BTreeMap<EntryId, Vec<String>>>,
    report_order: Vec<EntryId>,
    team_users: BTreeSet<usize>,
    team_roles: BTreeSet<&'static str>,
    opposed: BTreeSet<usize>,
    break_glass: BTreeSet<usize>,
}

impl PatientModel {
    /// The access rule, by the model.
    fn allows(&self, user: usize, section: Section, write: bool) -> bool {
        let role = USERS[user].1;
        if !role_may(role, section, write) {
            return false;
        }
        let in_team = self.team_users.contains(&user) || self.team_roles.contains(role);
        let blocked = self.opposed.contains(&user) || (section != Section::Identity && !in_team);
        !blocked || self.break_glass.contains(&user)
    }
    fn has_member(&self, m: &Member) -> bool {
        match m {
            Member::User(u) => self.team_users.contains(u),
            Member::Role(r) => self.team_roles.contains(ROLES[*r]),
        }
    }
}

fn care_member(m: &Member) -> CareMember {
    match m {
        Member::User(u) => CareMember::User(USERS[*u].0.into()),
        Member::Role(r) => CareMember::Role(ROLES[*r].into()),
    }
}

/// The outcome the model expects of a refused or failed call.
fn expect_refusal<T: std::fmt::Debug>(
    r: Result<T, Error>,
    allowed: bool,
    what: &str,
) -> Result<Option<T>, TestCaseError> {
    match r {
        Ok(v) if allowed => Ok(Some(v)),
        Ok(v) => Err(TestCaseError::fail(format!("{what}: allowed by the code, refused by the model ({v:?})"))),
        Err(Error::Denied(_)) if !allowed => Ok(None),
        Err(e) => Err(TestCaseError::fail(format!("{what}: allowed = {allowed} by the model, got error {e}"))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]
    #[test]
    fn operations_agree_with_the_model(ops in proptest::collection::vec(op(), 1..48)) {
        let practice = Practice::new();
        let sessions: Vec<_> = USERS.iter().map(|(u, _)| practice.session(u)).collect();
        let mut patients: Vec<PatientModel> = Vec::new();
        let d = Date::parse("2026-11-22").unwrap();
        for op in ops {
            match op {
                Op::CreatePatient { user, seed, team } => {
                    if patients.len() == MAX_PATIENTS { continue; }
                    let id = Synth::new(seed).identity();
                    let allowed = role_may(USERS[user].1, Section::Identity, true);
                    if let Some(p) = expect_refusal(sessions[user].create_patient(id.clone()), allowed, "create")? {
                        let mut m = PatientModel { id: Some(p), ..PatientModel::default() };
                        m.team_users.insert(user); // the creator joins the care team
                        for role in ROLES.iter().enumerate().filter(|(b, _)| team & (1 << b) != 0).map(|(_, r)| r) {
                            sessions[user].care_team_add(p, &CareMember::Role((*role).into())).unwrap();
                            m.team_roles.insert(role);
                        }
                        m.sections.entry(Section::Identity).or_default().insert(EntryId::IDENTITY, vec![id.birth_name.clone()]);
                        patients.push(m);
                    }
                }
                Op::AddReport { user, patient, seed } => {
                    let Some(m) = patients.get_mut(patient) else { continue };
                    let author = format!("Dr {seed}");
                    let r = sessions[user].append_report(m.id.unwrap(), Synth::new(seed).report(&author, d));
                    if let Some(e) = expect_refusal(r, m.allows(user, Section::Reports, true), "add report")? {
                        m.sections.entry(Section::Reports).or_default().insert(e, vec![author]);
                        m.report_order.push(e);
                    }
                }
                Op::AddExam { user, patient, seed } => {
                    let Some(m) = patients.get_mut(patient) else { continue };
                    let performer = format!("Labo {seed}");
                    let r = sessions[user].append_exam(m.id.unwrap(), Synth::new(seed).lab_result(&performer, d));
                    if let Some(e) = expect_refusal(r, m.allows(user, Section::Exams, true), "add exam")? {
                        m.sections.entry(Section::Exams).or_default().insert(e, vec![performer]);
                    }
                }
                Op::ReviseReport { user, patient, entry, seed } => {
                    let Some(m) = patients.get_mut(patient) else { continue };
                    let Some(&e) = m.report_order.get(entry) else { continue };
                    let author = format!("Dr rev {seed}");
                    let r = sessions[user].write(m.id.unwrap(), Some(e), Synth::new(seed).report(&author, d), Some("correction"));
                    if let Some((_, rev)) = expect_refusal(r, m.allows(user, Section::Reports, true), "revise")? {
                        let revs = m.sections.entry(Section::Reports).or_default().entry(e).or_default();
                        revs.push(author);
                        prop_assert_eq!(rev as usize, revs.len());
                    }
                }
                Op::UpdateIdentity { user, patient, seed } => {
                    let Some(m) = patients.get_mut(patient) else { continue };
                    let id = Synth::new(seed).identity();
                    let r = sessions[user].update_identity(m.id.unwrap(), id.clone(), "rectification");
                    if expect_refusal(r, m.allows(user, Section::Identity, true), "update identity")?.is_some() {
                        m.sections.entry(Section::Identity).or_default().entry(EntryId::IDENTITY).or_default().push(id.birth_name.clone());
                    }
                }
                Op::Read { user, patient, section } => {
                    let Some(m) = patients.get(patient) else { continue };
                    let section = [Section::Identity, Section::Reports, Section::Exams][section];
                    let (p, s) = (m.id.unwrap(), &sessions[user]);
                    let got = match section {
                        Section::Identity => s.read_identity(p).map(|v| group(v.into_iter().map(|e| (e.entry_id, e.revision, e.content.birth_name.clone())))),
                        Section::Reports => s.read_reports(p).map(|v| group(v.into_iter().map(|e| (e.entry_id, e.revision, e.content.author.clone())))),
                        _ => s.read_exams(p).map(|v| group(v.into_iter().map(|e| (e.entry_id, e.revision, e.content.performer.clone())))),
                    };
                    if let Some(map) = expect_refusal(got, m.allows(user, section, false), "read")? {
                        prop_assert_eq!(map, m.sections.get(&section).cloned().unwrap_or_default());
                    }
                }
                Op::CareTeamAdd { by, patient, member } => {
                    let Some(m) = patients.get_mut(patient) else { continue };
                    let r = sessions[by].care_team_add(m.id.unwrap(), &care_member(&member));
                    if expect_refusal(r, manages_care_team(USERS[by].1), "care-team add")?.is_some() {
                        match member {
                            Member::User(u) => { m.team_users.insert(u); }
                            Member::Role(r) => { m.team_roles.insert(ROLES[r]); }
                        }
                    }
                }
                Op::CareTeamRemove { by, patient, member } => {
                    let Some(m) = patients.get_mut(patient) else { continue };
                    let r = sessions[by].care_team_remove(m.id.unwrap(), &care_member(&member));
                    if manages_care_team(USERS[by].1) && !m.has_member(&member) {
                        prop_assert!(matches!(r, Err(Error::NotFound(_))), "removing an absent member: {:?}", r);
                        continue;
                    }
                    if expect_refusal(r, manages_care_team(USERS[by].1), "care-team remove")?.is_some() {
                        match member {
                            Member::User(u) => { m.team_users.remove(&u); }
                            Member::Role(r) => { m.team_roles.remove(ROLES[r]); }
                        }
                    }
                }
                Op::Oppose { by, patient, user } => {
                    let Some(m) = patients.get_mut(patient) else { continue };
                    let r = sessions[by].record_opposition(m.id.unwrap(), USERS[user].0);
                    if expect_refusal(r, manages_care_team(USERS[by].1), "oppose")?.is_some() {
                        m.opposed.insert(user);
                    }
                }
                Op::Withdraw { by, patient, user } => {
                    let Some(m) = patients.get_mut(patient) else { continue };
                    let r = sessions[by].withdraw_opposition(m.id.unwrap(), USERS[user].0);
                    if manages_care_team(USERS[by].1) && !m.opposed.contains(&user) {
                        prop_assert!(matches!(r, Err(Error::NotFound(_))), "withdrawing an absent opposition: {:?}", r);
                        continue;
                    }
                    if expect_refusal(r, manages_care_team(USERS[by].1), "withdraw")?.is_some() {
                        m.opposed.remove(&user);
                    }
                }
                Op::BreakGlass { user, patient } => {
                    let Some(m) = patients.get_mut(patient) else { continue };
                    let reads_any = [Section::Identity, Section::Reports, Section::Exams].into_iter().any(|s| role_may(USERS[user].1, s, false));
                    let r = sessions[user].break_glass(m.id.unwrap(), "Malaise en salle d'attente, dossier nécessaire", None);
                    if expect_refusal(r, reads_any, "break-glass")?.is_some() {
                        m.break_glass.insert(user);
                    }
                }
            }
        }
        // Whatever happened, the audit log verifies, stored records included.
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
