//! A readable, printable, self-contained HTML page of a patient export, in French: no external
//! resource, no script; the access history as a table and an inline SVG timeline.
//! Each entry row carries `data-entry="<entry>-r<revision>"` and each access row
//! `data-seq="<seq>"`, so that the page can be checked against the JSON export.

use super::PatientExport;
use crate::model::{Entry, ExamKind, Identity, ReportKind};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #999;margin-top:2em}\
table{border-collapse:collapse;width:100%;font-size:.9em}td,th{border:1px solid #bbb;padding:.3em;text-align:left;vertical-align:top}\
th{background:#eee}.old{color:#777}.bg{background:#fde2e2}.denied{background:#fff3cd}pre{white-space:pre-wrap;font-family:inherit;margin:0}\
@media print{body{margin:0}h2{page-break-after:avoid}}";

fn opt(v: &Option<String>) -> String {
    v.as_deref().map(esc).unwrap_or_else(|| "—".into())
}

fn identity_rows(out: &mut String, rev: &Entry<Identity>, latest: bool) {
    let i = &rev.content;
    let class = if latest { "" } else { " class=\"old\"" };
    let _ = write!(
        out,
        "<tr data-entry=\"{}-r{}\"{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        rev.entry_id,
        rev.revision,
        rev.revision,
        esc(&rev.recorded_at.to_string()),
        esc(&i.birth_name),
        esc(&i.first_names.join(" ")),
        i.birth_date,
        i.identity_status,
        opt(&i.ins_matricule),
        opt(&i.address),
        opt(&i.phone),
        opt(&rev.reason)
    );
}

fn report_kind(k: ReportKind) -> &'static str {
    match k {
        ReportKind::Consultation => "Compte rendu de consultation",
        ReportKind::Operative => "Compte rendu opératoire",
        ReportKind::HospitalStay => "Compte rendu d'hospitalisation",
        _ => "Courrier",
    }
}

/// An inline SVG bar chart: one bar per day, its height the number of accesses.
fn timeline(x: &PatientExport) -> String {
    let mut per_day: BTreeMap<String, usize> = BTreeMap::new();
    for e in &x.access_history {
        let day = e.recorded_at.date().map(|d| d.to_string()).unwrap_or_default();
        *per_day.entry(day).or_default() += 1;
    }
    let max = per_day.values().copied().max().unwrap_or(1).max(1);
    let (w, h, bar) = (640usize, 140usize, 24usize);
    let width = (per_day.len() * (bar + 6) + 40).max(w);
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"Accès par jour\" width=\"{width}\" height=\"{}\" viewBox=\"0 0 {width} {}\">",
        h + 40,
        h + 40
    );
    for (i, (day, n)) in per_day.iter().enumerate() {
        let bh = n * h / max;
        let xpos = 20 + i * (bar + 6);
        let _ = write!(
            svg,
            "<rect x=\"{xpos}\" y=\"{}\" width=\"{bar}\" height=\"{bh}\" fill=\"#4a7bb7\"><title>{} : {n} accès</title></rect><text x=\"{}\" y=\"{}\" font-size=\"9\" text-anchor=\"middle\">{n}</text><text x=\"{}\" y=\"{}\" font-size=\"8\" text-anchor=\"middle\">{}</text>",
            h - bh + 10,
            esc(day),
            xpos + bar / 2,
            h - bh + 8,
            xpos + bar / 2,
            h + 25,
            esc(day.get(5..).unwrap_or(day))
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The page.
pub fn page(x: &PatientExport) -> String {
    let mut out = String::new();
    let name =
        x.current_identity().map(|i| format!("{} {}", i.first_names.join(" "), i.birth_name)).unwrap_or_default();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Copie du dossier médical — {}</title><style>{STYLE}</style></head><body>",
        esc(&name)
    );
    let _ = write!(
        out,
        "<h1>Copie du dossier médical de {}</h1><p>Dossier n° {} — copie établie le {} par {} (RGPD art. 15, CSP L1111-7). \
         Chaque correction est une nouvelle révision : l'historique complet figure ci-dessous.</p>",
        esc(&name),
        x.patient,
        esc(&x.exported_at.to_string()),
        esc(&x.exported_by)
    );
    out.push_str("<h2>Identité</h2><table><tr><th>Révision</th><th>Enregistrée le</th><th>Nom de naissance</th><th>Prénoms</th><th>Date de naissance</th><th>Statut</th><th>Matricule INS</th><th>Adresse</th><th>Téléphone</th><th>Motif de correction</th></tr>");
    for (n, rev) in x.identity.iter().enumerate() {
        identity_rows(&mut out, rev, n + 1 == x.identity.len());
    }
    out.push_str("</table><h2>Comptes rendus</h2><table><tr><th>Date</th><th>Type</th><th>Auteur</th><th>Titre</th><th>Texte</th><th>Révision</th><th>Motif de correction</th></tr>");
    for r in &x.reports {
        let c = &r.content;
        let latest = !x.reports.iter().any(|o| o.entry_id == r.entry_id && o.revision > r.revision);
        let _ = write!(
            out,
            "<tr data-entry=\"{}-r{}\"{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td><td>{}</td><td>{}</td></tr>",
            r.entry_id,
            r.revision,
            if latest { "" } else { " class=\"old\"" },
            c.date,
            report_kind(c.kind),
            esc(&c.author),
            esc(&c.title),
            esc(&c.body),
            r.revision,
            opt(&r.reason)
        );
    }
    out.push_str("</table><h2>Examens et résultats</h2><table><tr><th>Date</th><th>Examen</th><th>Code</th><th>Résultat</th><th>Unité</th><th>Valeurs de référence</th><th>Interprétation</th><th>Réalisé par</th><th>Révision</th></tr>");
    for r in &x.exams {
        let c = &r.content;
        let latest = !x.exams.iter().any(|o| o.entry_id == r.entry_id && o.revision > r.revision);
        let code = match (&c.code_system, &c.code) {
            (Some(s), Some(code)) if s.contains("loinc") => format!("LOINC {}", esc(code)),
            (_, Some(code)) => esc(code),
            _ => "—".into(),
        };
        let value = if c.kind == ExamKind::Lab { opt(&c.value) } else { opt(&c.text) };
        let _ = write!(
            out,
            "<tr data-entry=\"{}-r{}\"{}><td>{}</td><td>{}</td><td>{code}</td><td><pre>{value}</pre></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.entry_id,
            r.revision,
            if latest { "" } else { " class=\"old\"" },
            c.date,
            esc(&c.label),
            opt(&c.unit),
            opt(&c.reference_range),
            c.interpretation.map(|i| format!("{i:?}")).unwrap_or_else(|| "—".into()),
            esc(&c.performer),
            r.revision
        );
    }
    let _ = write!(
        out,
        "</table><h2>Historique des accès ({} événements)</h2><p>Qui a consulté ou modifié ce dossier, quand et pourquoi. \
         Les accès en urgence (« bris de glace ») sont surlignés en rouge, les accès refusés en jaune.</p>{}",
        x.access_history.len(),
        timeline(x)
    );
    out.push_str("<table><tr><th>N°</th><th>Date (UTC)</th><th>Utilisateur</th><th>Rôle</th><th>Action</th><th>Volet</th><th>Résultat</th><th>Finalité</th><th>Poste</th><th>Motif</th></tr>");
    for e in &x.access_history {
        let class = if e.purpose == crate::audit::Purpose::Emergency {
            " class=\"bg\""
        } else if e.outcome != crate::audit::Outcome::Success {
            " class=\"denied\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr data-seq=\"{}\"{class}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.seq,
            e.seq,
            esc(&e.recorded_at.to_string()),
            esc(&e.agent.name),
            esc(&e.agent.roles.join(", ")),
            e.action.name(),
            e.entity.section.map(|s| s.name()).unwrap_or("—"),
            e.outcome.name(),
            e.purpose.name(),
            esc(&e.agent.workstation),
            e.detail.as_deref().map(esc).unwrap_or_default()
        );
    }
    out.push_str("</table></body></html>\n");
    out
}
