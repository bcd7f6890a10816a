//! Privacy promises kept to the letter: what the audit log records of a search, and what error
//! messages repeat of their input.

mod common;
use common::every_backend;

use common::Practice;
use medvault::backend::Space;
use medvault::synthetic::Synth;
use medvault::{Action, AuditEvent, Date, FindQuery, Section};

every_backend! {
fn a_search_leaves_nothing_in_the_log_that_ties_it_to_a_patient(kind) {
    let practice = Practice::of(kind);
    let claire = practice.session("claire");
    let identity = (0..).map(|seed| Synth::new(seed).identity()).find(|i| i.ins_matricule.is_some()).unwrap();
    let ins = identity.ins_matricule.clone().unwrap();
    let by_name = FindQuery::BirthNameAndDate(identity.birth_name.clone(), identity.birth_date);
    // Searches for a patient who is not in the store yet (reception looking before creating).
    assert!(claire.find_patient(&FindQuery::InsMatricule(ins.clone())).unwrap().is_empty());
    assert!(claire.find_patient(&by_name).unwrap().is_empty());
    let p = claire.create_patient(identity).unwrap();
    assert_eq!(claire.find_patient(&FindQuery::InsMatricule(ins)).unwrap(), vec![p]);
    assert_eq!(claire.find_patient(&by_name).unwrap(), vec![p]);
    // The blind tokens now stored for the patient (kind ‖ token ‖ patient).
    let tokens: Vec<Vec<u8>> =
        practice.backend.scan_prefix(Space::Blind, &[]).unwrap().into_iter().map(|(k, _)| k[1..33].to_vec()).collect();
    assert_eq!(tokens.len(), 2, "INS and name + birth date");
    let events = practice.backend.scan_prefix(Space::AuditEvents, &[]).unwrap();
    let searches: Vec<AuditEvent> =
        events.iter().map(|(_, v)| AuditEvent::decode(v).unwrap()).filter(|e| e.action == Action::Search).collect();
    assert_eq!(searches.len(), 4);
    assert_eq!(searches.iter().filter(|e| e.entity.patient.is_none()).count(), 2, "two searches found nobody");
    // (The patient's creation event lists the index rows it wrote, as every write does, so that
    // `verify` checks them: that ties the token to the patient exactly as the index on disk does.)
    for (_, bytes) in &events {
        if AuditEvent::decode(bytes).unwrap().action != Action::Search {
            continue;
        }
        for t in &tokens {
            assert!(!bytes.windows(t.len()).any(|w| w == t.as_slice()), "a search event holds a blind token");
        }
    }
    assert!(searches.iter().all(|e| e.entity.query.is_none()));
}
}

every_backend! {
fn errors_name_the_field_and_the_rule_never_the_value(kind) {
    let marker = "SECRET-7f3a";
    let messages = [
        Section::parse(marker).unwrap_err().to_string(),
        Action::parse(marker).unwrap_err().to_string(),
        medvault::Outcome::parse(marker).unwrap_err().to_string(),
        medvault::rights::RequestKind::parse(marker).unwrap_err().to_string(),
        Date::parse(&format!("1980-02-30{marker}")).unwrap_err().to_string(),
        medvault::Timestamp::parse(marker).unwrap_err().to_string(),
        medvault::PatientId::parse(marker).unwrap_err().to_string(),
    ];
    let practice = Practice::of(kind);
    let admin = practice.session("admin");
    let role = admin.set_roles("claire", &[marker.to_string()]).unwrap_err().to_string();
    let p = practice.patient(1);
    let oncall = practice.session("dr_martin");
    let hours =
        oncall.break_glass(p, "Appel du centre 15, patient inconscient", Some(987_654)).unwrap_err().to_string();
    for m in messages.iter().chain([&role, &hours]) {
        assert!(!m.contains(marker) && !m.contains("987654"), "the value is repeated: {m}");
        assert!(!m.is_empty());
    }
    assert!(role.contains("unknown role"), "{role}");
    assert!(hours.contains("break-glass duration"), "{hours}");
}
}

/// A fake NIR (valid key) for the given sex digit, year and month digits.
fn nir(sex: u8, year: i32, month: u32) -> String {
    let body = format!("{sex}{:02}{month:02}75056123", year.rem_euclid(100));
    let n: u64 = body.parse().unwrap();
    format!("{body}{:02}", 97 - n % 97)
}

every_backend! {
fn ins_rules_status_sex_birth_date_future_and_duplicates(kind) {
    use medvault::{Error, IdentityStatus, Sex};
    let practice = Practice::of(kind);
    let claire = practice.session("claire");
    let base = || {
        let mut id = Synth::new(5).identity();
        id.sex = Sex::F;
        id.birth_date = Date::parse("1984-05-17").unwrap();
        id.identity_status = IdentityStatus::QUAL;
        id.ins_matricule = Some(nir(2, 1984, 5));
        id.ins_oid = Some("1.2.250.1.213.1.4.8".into());
        id
    };
    let refused = |id: medvault::Identity, rule: &str| {
        let before = practice.store.audit_size();
        match claire.create_patient(id) {
            Err(Error::Invalid(e)) => assert!(e.to_string().contains(rule), "{e} (wanted {rule})"),
            other => panic!("{rule}: {other:?}"),
        }
        assert!(practice.store.audit_size() <= before + 1, "nothing but the refusal recorded");
    };
    let with = |change: &dyn Fn(&mut medvault::Identity)| {
        let mut id = base();
        change(&mut id);
        id
    };
    // A matricule only with the statuses that may carry one.
    refused(with(&|id| id.identity_status = IdentityStatus::PROV), "RECUP or QUAL");
    refused(with(&|id| id.identity_status = IdentityStatus::VALI), "RECUP or QUAL");
    // Sex, birth year and birth month agree with the NIR.
    refused(with(&|id| id.sex = Sex::M), "field `sex`");
    refused(with(&|id| id.birth_date = Date::parse("1985-05-17").unwrap()), "its year");
    refused(with(&|id| id.birth_date = Date::parse("1984-06-17").unwrap()), "its month");
    // No birth date in the future.
    refused(
        with(&|id| {
            id.birth_date = Date::parse("2999-05-01").unwrap();
            id.ins_matricule = Some(nir(2, 2999, 5));
        }),
        "field `birth_date` is in the future",
    );
    // The first patient with this INS is accepted; a second one is refused.
    let first = claire.create_patient(base()).unwrap();
    refused(base(), "another patient already carries this INS");
    // Correcting the first patient's own identity with the same INS is fine; giving it to
    // another patient is not.
    claire.update_identity(first, base(), "adresse").unwrap();
    let other = claire.create_patient(Synth::new(8).identity()).unwrap();
    let stolen = claire.update_identity(other, base(), "copie");
    assert!(matches!(stolen, Err(Error::Invalid(_))), "{stolen:?}");
    // A month of 20-42 stands for an unknown month; an undetermined sex fits either digit.
    claire
        .create_patient(with(&|id| {
            id.ins_matricule = Some(nir(2, 1984, 31));
            id.sex = Sex::U;
        }))
        .unwrap();
}
}

/// Identity vigilance under concurrency: eight receptions creating a patient with the same INS
/// at the same moment end with exactly one file carrying it.
#[test]
fn concurrent_creations_with_one_ins_make_one_patient() {
    let dir = tempfile::tempdir().unwrap();
    let practice = Practice::in_dir(&dir.path().join("s"), medvault::Engine::Redb);
    let identity = (0..).map(|seed| Synth::new(seed).identity()).find(|i| i.ins_matricule.is_some()).unwrap();
    let sessions: Vec<_> = (0..8).map(|_| practice.session("claire")).collect();
    let barrier = std::sync::Barrier::new(8);
    let created: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = sessions
            .iter()
            .map(|session| {
                let (identity, barrier) = (identity.clone(), &barrier);
                s.spawn(move || {
                    barrier.wait();
                    session.create_patient(identity).is_ok()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(created.iter().filter(|ok| **ok).count(), 1, "{created:?}");
    let found = sessions[0].find_patient(&FindQuery::InsMatricule(identity.ins_matricule.clone().unwrap())).unwrap();
    assert_eq!(found.len(), 1);
}
