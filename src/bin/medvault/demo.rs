//! The demo: a synthetic practice, a day in it, and the DPO's view.

use medvault::CareMember;
use medvault::synthetic::Synth;
use medvault::{
    AccessContext, AuditQuery, Date, Denied, Durability, Error, FindQuery, PatientId, Purpose, Section, Session, Store,
    StoreOptions,
};
use std::path::PathBuf;
use std::time::Instant;

const STAFF: &[(&str, &str, &str)] = &[
    ("claire", "secretary", "Claire Dubois, secrétaire médicale"),
    ("sophie", "secretary", "Sophie Garnier, secrétaire (accueil)"),
    ("dr_martin", "physician", "Dr Jean Martin, médecin généraliste"),
    ("dr_lefevre", "physician", "Dr Hélène Lefèvre, médecin de garde"),
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
        Err(Error::Denied(Denied::SectionRead(_))) => "no key".into(),
        Err(Error::Denied(Denied::NotInCareTeam)) => "not in team".into(),
        Err(Error::Denied(Denied::Opposition)) => "opposed".into(),
        Err(e) => format!("error: {e}"),
    }
}

/// Runs the demo.
pub fn run(dir: Option<PathBuf>, patients: u32) -> Result<(), Error> {
    let started = Instant::now();
    let dir = match dir {
        Some(d) => d,
        None => {
            std::env::temp_dir().join(format!("medvault-demo-{}", &medvault::model::StoreId::random().to_string()[..8]))
        }
    };
    let store_dir = dir.join("store");
    println!("medvault demo: a small practice, one day, and its audit trail");
    println!("store: {}\n", store_dir.display());

    // 1. The administrator creates the store and the accounts.
    let (store, shares) = Store::create(&store_dir, "admin", pass("admin").as_bytes(), StoreOptions::default())?;
    let share_file = dir.join("recovery-shares.txt");
    let text: Vec<String> = shares.iter().map(|s| s.to_text().to_string()).collect();
    std::fs::write(&share_file, text.join("\n") + "\n").map_err(Error::Output)?;
    println!(
        "[admin] store created; {} recovery shares (any {} restore access), saved for this demo only in {}",
        shares.len(),
        shares[0].threshold(),
        share_file.display()
    );
    let admin = unlock(&store, "admin", "poste-admin", Purpose::Operations)?;
    for (user, role, who) in STAFF {
        admin.add_user(user, &[role.to_string()], pass(user).as_bytes())?;
        if let Some((name, profession)) = who.split_once(", ") {
            admin.set_profile(user, name, profession)?;
        }
        println!("[admin] account {user:<11} role {role:<10} {who}");
    }
    println!(
        "[admin] keys the administrator's own session can decrypt: {:?} (none: no clinical key)",
        admin.readable_sections()
    );
    drop(admin);

    // 2. Morning: reception registers the patients; the GP, the lab and the nurses care for them.
    let mut synth = Synth::new(20261122);
    let mut reception = unlock(&store, "claire", "accueil-poste-1", Purpose::Treatment)?;
    reception.set_durability(Durability::Buffered); // bulk import: one flush at the end
    let mut ids: Vec<(PatientId, medvault::Identity)> = Vec::new();
    for _ in 0..patients {
        let identity = synth.identity();
        let id = reception.create_patient(identity.clone())?;
        for m in
            [CareMember::User("dr_martin".into()), CareMember::User("labo".into()), CareMember::Role("nurse".into())]
        {
            reception.care_team_add(id, &m)?;
        }
        ids.push((id, identity));
    }
    store.flush()?;
    println!(
        "\n[08:00 accueil] claire registers {} synthetic patients; care team: dr_martin, the lab, the nurses",
        ids.len()
    );

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
    println!("[09:00 cabinet] dr_martin types {} reports; the lab posts {} results", ids.len().div_ceil(2), ids.len());
    drop((doc, lab, reception));

    // 3. A patient at the front desk.
    let (patient, identity) = ids
        .iter()
        .find(|(_, i)| i.ins_matricule.is_some())
        .cloned()
        .ok_or(Error::Invalid(medvault::InvalidInput::Rule("no patient with an INS was generated")))?;
    let short = patient.to_string()[..8].to_string();
    let desk = unlock(&store, "sophie", "accueil-poste-2", Purpose::Treatment)?;
    let by_ins = desk.find_patient(&FindQuery::InsMatricule(identity.ins_matricule.clone().unwrap_or_default()))?;
    let by_name = desk.find_patient(&FindQuery::BirthNameAndDate(identity.birth_name.clone(), identity.birth_date))?;
    println!(
        "\n[10:15 accueil] sophie finds a patient by INS ({} match) and by birth name + birth date ({} match(es)): {short}…",
        by_ins.len(),
        by_name.len()
    );

    // The GP scans the referral letter the patient brought; the lab posts its signed PDF.
    let gp = unlock(&store, "dr_martin", "cabinet-1", Purpose::Treatment)?;
    let letter = gp.append_report(patient, synth.report("Dr Jean Martin", today))?;
    let scan = synthetic_pdf("Courrier d'adressage (synthétique)", 3_000);
    let id = gp.attach(
        patient,
        Section::Reports,
        letter,
        "courrier-adressage.pdf",
        "application/pdf",
        &mut scan.as_slice(),
    )?;
    let lab = unlock(&store, "labo", "labo-automate", Purpose::Treatment)?;
    let result = lab.append_exam(patient, synth.lab_result("Laboratoire Central", today))?;
    let pdf = synthetic_pdf("Compte rendu de biologie (synthétique)", 400);
    lab.attach(patient, Section::Exams, result, "resultats-biologie.pdf", "application/pdf", &mut pdf.as_slice())?;
    println!(
        "[10:20 cabinet] dr_martin attaches a scanned letter ({} bytes, {} encrypted chunks, id {}…); the lab attaches its PDF",
        scan.len(),
        scan.len().div_ceil(medvault::attachment::CHUNK_SIZE),
        &id.to_string()[..8]
    );
    drop((gp, lab));

    // 4. Each role tries each section of that patient.
    println!("\n[10:30] who can read what in the file of patient {short}…");
    println!("  {:<11} {:<10} {:<12} {:<12} {:<12}", "user", "role", "identity", "reports", "exams");
    for (user, role, _) in STAFF.iter().chain([("admin", "admin", "")].iter()) {
        let s = unlock(&store, user, "poste", Purpose::Treatment)?;
        let a = verdict(&s.read_identity(patient));
        let b = verdict(&s.read_reports(patient));
        let c = verdict(&s.read_exams(patient));
        println!("  {user:<11} {role:<10} {a:<12} {b:<12} {c:<12}");
    }
    println!("  (no key: the role holds no key for the section; not in team: CSP L1110-4 care team)");

    // 5. Afternoon: the nurse reads the results; reception is refused them.
    let nurse = unlock(&store, "ines", "salle-soins", Purpose::Treatment)?;
    if let Some(e) = nurse.read_exams(patient)?.last() {
        let c = &e.content;
        println!(
            "\n[14:00 soins] ines reads the latest result: {} {} {} (reference {})",
            c.label,
            c.value.as_deref().unwrap_or("-"),
            c.unit.as_deref().unwrap_or(""),
            c.reference_range.as_deref().unwrap_or("-")
        );
    }
    let refused = unlock(&store, "claire", "accueil-poste-1", Purpose::Treatment)?.read_exams(patient);
    println!(
        "[15:00 accueil] claire tries to open the exams: {}",
        refused.err().map(|e| e.to_string()).unwrap_or_default()
    );

    // 6. Evening: the physician on call is outside the care team and breaks the glass.
    let oncall = unlock(&store, "dr_lefevre", "garde-domicile", Purpose::Treatment)?;
    let before = verdict(&oncall.read_exams(patient));
    let bg = oncall.break_glass(
        patient,
        "Appel du patient à 21h30 pour douleur thoracique, besoin des derniers résultats",
        None,
    )?;
    let exams = oncall.read_exams(patient)?.len();
    println!(
        "\n[21:30 garde] dr_lefevre, on call, tries the exams: {before}; opens emergency access #{bg} (4 h) and reads {exams} result(s)"
    );

    // 7. The DPO's view.
    let dpo = unlock(&store, "dpo", "poste-dpo", Purpose::Operations)?;
    let trail = dpo.audit_query(&AuditQuery { patient: Some(patient), limit: 40, ..Default::default() })?;
    println!("\n[DPO] access history of patient {short}… (newest first, {} events):", trail.len());
    println!(
        "  {:>5}  {:<24} {:<11} {:<10} {:<15} {:<9} {:<8} purpose",
        "seq", "time (UTC)", "user", "role", "action", "section", "outcome"
    );
    for e in trail.iter().take(24) {
        println!(
            "  {:>5}  {:<24} {:<11} {:<10} {:<15} {:<9} {:<8} {}",
            e.seq,
            e.recorded_at.to_string(),
            e.agent.name,
            e.agent.roles.join(","),
            e.action.name(),
            e.entity.section.map(Section::name).unwrap_or("-"),
            e.outcome.name(),
            e.purpose.name()
        );
    }
    let pending = dpo.break_glass_list(true)?;
    println!("[DPO] break-glass accesses to review: {}", pending.len());
    for b in &pending {
        println!(
            "      #{} {} by {}: \"{}\"",
            b.seq,
            b.opened_at,
            b.user,
            b.justification.as_deref().unwrap_or("(sealed)")
        );
    }
    let denied =
        dpo.audit_query(&AuditQuery { outcome: Some(medvault::Outcome::Denied), limit: 1000, ..Default::default() })?;
    println!("[DPO] refused accesses today: {}", denied.len());
    let report = dpo.verify_audit(None)?;
    println!(
        "[DPO] audit log verified: {} events, Merkle root {}…, {} signed heads (signed by {}), {}",
        report.size,
        &report.root[..16],
        report.checkpoints_checked,
        report.signed_by.iter().map(|h| h.signer.to_string()).collect::<Vec<_>>().join(", "),
        if report.is_ok() {
            "no tampering found".to_string()
        } else {
            format!("FIRST BAD SEQ {:?}", report.first_bad_seq())
        }
    );
    // 8. The patient asked three days ago for a copy of the file with its access history (RGPD
    // art. 15): the DPO registers the request, the physician answers it with a sealed copy.
    let mut asked = medvault::rights::NewRequest::new(
        medvault::rights::RequestKind::Copy,
        medvault::Timestamp(medvault::Timestamp::now().0 - 3 * 86_400_000),
    );
    asked.requester = medvault::rights::Requester::Patient;
    let request = dpo.register(patient, &asked)?;
    println!(
        "\n[patient request] the DPO registers the patient's request {}: due {} ({})",
        request.id, request.deadline, request.rule
    );
    let gp = unlock(&store, "dr_martin", "cabinet-1", Purpose::PatientRequest)?;
    let (answered, page) = gp.answer_copy_request(&request.id, medvault::rights::CopyFormat::Html)?;
    let copy = gp.export_patient(patient)?;
    let html_path = dir.join("copie-dossier-patient.html");
    let fhir_path = dir.join("copie-dossier-patient.fhir.json");
    let write = |p: &std::path::Path, text: String| std::fs::write(p, text).map_err(Error::Output);
    let sealed = medvault::export::seal::verify_copy(&page, Some(&store.verification_key()))?;
    write(&html_path, page)?;
    write(&fhir_path, serde_json::to_string_pretty(&medvault::export::fhir::bundle(&copy)).map_err(Error::Json)?)?;
    println!(
        "[patient request] dr_martin answers it and the register closes it with the copy's SHA-256 ({}); the copy lists {} access events and {} attachments: {} and {}",
        answered.answer.as_ref().and_then(|a| a.export.as_ref()).map_or("", |x| &x.sha256[..16]),
        copy.access_history.len(),
        copy.attachments.len(),
        html_path.display(),
        fhir_path.display()
    );
    println!(
        "[patient request] the HTML copy is sealed by {} and checks without the store (SHA-256 {})",
        sealed.signed_by.as_ref().map_or_else(|| "an unnamed key".to_string(), |b| b.to_string()),
        sealed.sha256
    );
    // 9. A verifiable extract for the regulator, checked without the store.
    let extract =
        dpo.audit_extract(&medvault::export::extract::ExtractFilter { patient: Some(patient), ..Default::default() })?;
    let extract_path = dir.join("extrait-audit.ndjson");
    write(&extract_path, extract.clone())?;
    let checked = medvault::export::extract::verify_extract(&extract, Some(&store.verification_key()))?;
    println!(
        "[DPO] audit extract for the regulator: {} events, each proven against a checkpoint signed by {}; verified without the store: {}",
        checked.events,
        checked.signed_by.as_ref().map_or_else(|| "an unnamed key".to_string(), |b| b.to_string()),
        extract_path.display()
    );
    drop((dpo, oncall, nurse, desk, gp));
    let public_key = store.verification_key();
    store.close()?;
    println!(
        "\ndone in {:.1} s; the store stays in {} for you to explore.",
        started.elapsed().as_secs_f64(),
        store_dir.display()
    );
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "medvault".into());
    println!("Try next (demo passphrases are demo-<user>-passphrase; never use such passphrases for real):");
    println!("  export MEDVAULT_STORE={}", store_dir.display());
    println!("  MEDVAULT_USER=dpo MEDVAULT_PASSPHRASE=demo-dpo-passphrase {exe} audit log --patient {patient}");
    println!("  MEDVAULT_USER=dpo MEDVAULT_PASSPHRASE=demo-dpo-passphrase {exe} audit break-glass --pending");
    println!("  MEDVAULT_USER=dpo MEDVAULT_PASSPHRASE=demo-dpo-passphrase {exe} audit verify");
    println!("  MEDVAULT_USER=dpo MEDVAULT_PASSPHRASE=demo-dpo-passphrase {exe} requests list --all");
    println!("  MEDVAULT_USER=ines MEDVAULT_PASSPHRASE=demo-ines-passphrase {exe} read {patient} --section exams");
    println!(
        "  MEDVAULT_USER=claire MEDVAULT_PASSPHRASE=demo-claire-passphrase {exe} read {patient} --section exams   # refused: exit 3"
    );
    println!("  MEDVAULT_USER=admin MEDVAULT_PASSPHRASE=demo-admin-passphrase {exe} user list");
    println!("  {exe} verify-extract {} --key {}", dir.join("extrait-audit.ndjson").display(), hex::encode(public_key));
    println!(
        "  {exe} verify-copy {} --key {}",
        dir.join("copie-dossier-patient.html").display(),
        hex::encode(public_key)
    );
    Ok(())
}

/// A small synthetic PDF (one page of text repeated `lines` times): stands in for a scan.
fn synthetic_pdf(title: &str, lines: usize) -> Vec<u8> {
    let mut text = String::from("BT /F1 10 Tf 40 800 Td 12 TL\n");
    for i in 0..lines {
        text.push_str(&format!("({title} - ligne {i}) '\n"));
    }
    text.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>".to_string(),
        format!("<< /Length {} >>\nstream\n{text}endstream", text.len()),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (n, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", n + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}
