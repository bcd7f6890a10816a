//! The demo: a synthetic practice, a day in it, and the DPO's view.

use medvault::audit::verify::VerifyReport;
use medvault::synthetic::Synth;
use medvault::{
    AccessContext, AuditQuery, Date, Durability, Error, FindQuery, PatientId, Purpose, Section, Session, Store,
    StoreOptions,
};
use std::path::PathBuf;
use std::time::Instant;

const STAFF: &[(&str, &str, &str)] = &[
    ("claire", "secretary", "Claire Dubois, secrétaire médicale"),
    ("sophie", "secretary", "Sophie Garnier, secrétaire (accueil)"),
    ("dr_martin", "physician", "Dr Jean Martin, médecin généraliste"),
    ("dr_lefevre", "physician", "Dr Hélène Lefèvre, cardiologue"),
    ("ines", "nurse", "Inès Moreau, infirmière"),
    ("labo", "biologist", "Laboratoire Central, biologiste"),
    ("dpo", "auditor", "Marc Robin, délégué à la protection des données"),
];

fn pass(user: &str) -> String {
    format!("demo-{user}-passphrase")
}

fn unlock(store: &Store, user: &str, workstation: &str, purpose: Purpose) -> Result<Session, Error> {
    store.unlock(user, pass(user).as_bytes(), AccessContext { workstation: workstation.into(), purpose })
}

fn verdict<T>(r: &Result<T, Error>) -> String {
    match r {
        Ok(_) => "read".into(),
        Err(Error::Denied(_)) => "DENIED".into(),
        Err(e) => format!("error: {e}"),
    }
}

/// Runs the demo.
pub fn run(dir: Option<PathBuf>, patients: u32) -> Result<(), Error> {
    let started = Instant::now();
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir()
            .join(format!("medvault-demo-{}", medvault::model::StoreId::random().to_string().get(..8).unwrap_or("x"))),
    };
    let store_dir = dir.join("store");
    println!("medvault demo: a small practice, one day, and its audit trail");
    println!("store: {}\n", store_dir.display());

    // 1. The administrator creates the store and the accounts.
    let (store, shares) = Store::create(&store_dir, "admin", pass("admin").as_bytes(), StoreOptions::default())?;
    let share_file = dir.join("recovery-shares.txt");
    let text: Vec<String> = shares.iter().map(|s| s.to_text().to_string()).collect();
    std::fs::write(&share_file, text.join("\n") + "\n")
        .map_err(|e| Error::Invalid(format!("cannot write {}: {e}", share_file.display())))?;
    println!(
        "[admin] store created; {} recovery shares (any {} restore access) saved for the demo in {}",
        shares.len(),
        shares[0].threshold(),
        share_file.display()
    );
    let admin = unlock(&store, "admin", "poste-admin", Purpose::Operations)?;
    for (user, role, who) in STAFF {
        let added = admin.add_user(user, &[role.to_string()], pass(user).as_bytes())?;
        let pending = if added.pending.is_empty() {
            String::new()
        } else {
            format!(" ({} key(s) pending delivery)", added.pending.len())
        };
        println!("[admin] account {user:<11} role {role:<10} {who}{pending}");
    }
    println!("[admin] the administrator's session can decrypt: {:?} (no clinical key)", admin.readable_sections());
    drop(admin);

    // 2. Morning: reception registers the patients (bulk import, one flush at the end).
    let mut synth = Synth::new(20261122);
    let mut reception = unlock(&store, "claire", "accueil-poste-1", Purpose::Treatment)?;
    reception.set_durability(Durability::Buffered);
    let mut ids: Vec<(PatientId, medvault::Identity)> = Vec::new();
    for _ in 0..patients {
        let identity = synth.identity();
        let id = reception.create_patient(identity.clone())?;
        ids.push((id, identity));
    }
    store.flush()?;
    println!("\n[08:00 accueil] {} synthetic patients registered by claire", ids.len());

    // Physicians and the lab write, also as a batch.
    let today = Date::parse("2026-11-22")?;
    let mut doc = unlock(&store, "dr_martin", "cabinet-1", Purpose::Treatment)?;
    doc.set_durability(Durability::Buffered);
    let mut lab = unlock(&store, "labo", "labo-automate", Purpose::Treatment)?;
    lab.set_durability(Durability::Buffered);
    for (i, (p, _)) in ids.iter().enumerate() {
        if i % 2 == 0 {
            doc.append_report(*p, synth.report("Dr Jean Martin", today))?;
        }
        lab.append_exam(*p, synth.lab_result("Laboratoire Central", today))?;
    }
    store.flush()?;
    println!(
        "[09:00 cabinet] dr_martin typed {} reports; labo posted {} lab results",
        ids.len().div_ceil(2),
        ids.len()
    );
    drop((doc, lab, reception));

    // 3. A patient at the front desk: lookup by INS, then by name and birth date.
    let (patient, identity) = ids
        .iter()
        .find(|(_, i)| i.ins_matricule.is_some())
        .cloned()
        .ok_or_else(|| Error::Invalid("no QUAL patient generated".into()))?;
    let desk = unlock(&store, "sophie", "accueil-poste-2", Purpose::Treatment)?;
    let by_ins = desk.find_patient(&FindQuery::InsMatricule(identity.ins_matricule.clone().unwrap_or_default()))?;
    let by_name = desk.find_patient(&FindQuery::BirthNameAndDate(identity.birth_name.clone(), identity.birth_date))?;
    println!(
        "\n[10:15 accueil] sophie looks a patient up by INS: {} match; by birth name + birth date: {} match(es)",
        by_ins.len(),
        by_name.len()
    );
    println!("               patient id {patient} (names never appear in the audit log or on disk in clear)");

    // 4. Each role tries each section of that patient.
    println!("\n[10:30] who can read what for patient {}:", &patient.to_string()[..8]);
    println!("  {:<11} {:<10} {:<9} {:<9} {:<9}", "user", "role", "identity", "reports", "exams");
    for (user, role, _) in STAFF.iter().chain([("admin", "admin", "")].iter()) {
        let s = unlock(&store, user, "poste", Purpose::Treatment)?;
        let a = verdict(&s.read_identity(patient));
        let b = verdict(&s.read_reports(patient));
        let c = verdict(&s.read_exams(patient));
        println!("  {user:<11} {role:<10} {a:<9} {b:<9} {c:<9}");
    }

    // 5. The nurse reads the latest results; the secretary is refused them.
    let nurse = unlock(&store, "ines", "salle-soins", Purpose::Treatment)?;
    let exams = nurse.read_exams(patient)?;
    if let Some(e) = exams.last() {
        println!(
            "\n[14:00 soins] ines reads the exams: {} {} {} (ref {})",
            e.content.label,
            e.content.value.as_deref().unwrap_or("-"),
            e.content.unit.as_deref().unwrap_or(""),
            e.content.reference_range.as_deref().unwrap_or("-")
        );
    }
    let refused = unlock(&store, "claire", "accueil-poste-1", Purpose::Treatment)?.read_exams(patient);
    println!(
        "[15:00 accueil] claire tries to open the exams: {}",
        refused.err().map(|e| e.to_string()).unwrap_or_default()
    );

    // 6. Evening: an identity correction with a reason (history stays readable).
    let doc = unlock(&store, "dr_lefevre", "cabinet-2", Purpose::Emergency)?;
    let mut corrected = identity.clone();
    corrected.phone = Some("06 00 00 00 01".into());
    let rev = doc.update_identity(patient, corrected, "numéro de téléphone corrigé à la demande du patient")?;
    println!("[19:40 cabinet] dr_lefevre corrects the phone number: identity revision {rev}, the previous one is kept");

    // 7. The DPO's view.
    let dpo = unlock(&store, "dpo", "poste-dpo", Purpose::Operations)?;
    let trail = dpo.audit_query(&AuditQuery { patient: Some(patient), limit: 50, ..Default::default() })?;
    println!("\n[DPO] audit trail of patient {} ({} events, newest first):", &patient.to_string()[..8], trail.len());
    println!(
        "  {:>5}  {:<24} {:<11} {:<10} {:<15} {:<9} outcome",
        "seq", "time (UTC)", "user", "role", "action", "section"
    );
    for e in trail.iter().take(20) {
        println!(
            "  {:>5}  {:<24} {:<11} {:<10} {:<15} {:<9} {}",
            e.seq,
            e.recorded_at.to_string(),
            e.agent.name,
            e.agent.roles.join(","),
            e.action.name(),
            e.entity.section.map(Section::name).unwrap_or("-"),
            e.outcome.name()
        );
    }
    let denied =
        dpo.audit_query(&AuditQuery { outcome: Some(medvault::Outcome::Denied), limit: 1000, ..Default::default() })?;
    println!("[DPO] denied accesses today: {}", denied.len());
    let report: VerifyReport = dpo.verify_audit(None)?;
    println!(
        "[DPO] audit log verified: {} events, Merkle root {}…, {} signed checkpoints, {}",
        report.size,
        &report.root[..16],
        report.checkpoints_checked,
        if report.is_ok() {
            "no tampering found".to_string()
        } else {
            format!("FIRST BAD SEQ {:?}", report.first_bad_seq())
        }
    );
    drop((dpo, doc, nurse, desk));
    store.close()?;
    println!(
        "\ndone in {:.1} s. The store is left in {} for exploration.",
        started.elapsed().as_secs_f64(),
        store_dir.display()
    );
    println!(
        "Demo passphrases are `demo-<user>-passphrase` (e.g. demo-dpo-passphrase); never use such passphrases for real."
    );
    Ok(())
}
