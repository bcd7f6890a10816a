//! A readable, printable, self-contained HTML page of a patient export, in French: no external
//! resource, no script; the access history as a table and an inline SVG timeline.
//! Each entry row carries `data-entry="<entry>-r<revision>"` and each access row
//! `data-seq="<seq>"`, so that the page can be checked against the JSON export.
//!
//! Rendered with `maud`: every interpolated value is HTML-escaped by the template engine;
//! nothing is written into the page unescaped except the fixed style sheet.

use super::PatientExport;
use crate::audit::{Outcome, Purpose};
use crate::model::{Entry, ExamKind, Identity, ReportKind};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use std::collections::BTreeMap;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #999;margin-top:2em}\
table{border-collapse:collapse;width:100%;font-size:.9em}td,th{border:1px solid #bbb;padding:.3em;text-align:left;vertical-align:top}\
th{background:#eee}.old{color:#777}.bg{background:#fde2e2}.denied{background:#fff3cd}pre{white-space:pre-wrap;font-family:inherit;margin:0}\
@media print{body{margin:0}h2{page-break-after:avoid}}";

/// The value, or a dash when absent.
fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("—")
}

fn report_kind(k: ReportKind) -> &'static str {
    match k {
        ReportKind::Consultation => "Compte rendu de consultation",
        ReportKind::Operative => "Compte rendu opératoire",
        ReportKind::HospitalStay => "Compte rendu d'hospitalisation",
        _ => "Courrier",
    }
}

/// `old` for a revision that a later one replaced.
fn revision_class(latest: bool) -> Option<&'static str> {
    (!latest).then_some("old")
}

fn identity_row(rev: &Entry<Identity>, latest: bool) -> Markup {
    let i = &rev.content;
    html! {
        tr data-entry=(format!("{}-r{}", rev.entry_id, rev.revision)) class=[revision_class(latest)] {
            td { (rev.revision) } td { (rev.recorded_at) } td { (i.birth_name) } td { (i.first_names.join(" ")) }
            td { (i.birth_date) } td { (format!("{:?}", i.identity_status)) } td { (opt(&i.ins_matricule)) }
            td { (opt(&i.address)) } td { (opt(&i.phone)) } td { (opt(&rev.reason)) }
        }
    }
}

/// An inline SVG bar chart: one bar per day, its height the number of accesses.
fn timeline(x: &PatientExport) -> Markup {
    let mut per_day: BTreeMap<String, usize> = BTreeMap::new();
    for e in &x.access_history {
        let day = e.recorded_at.date().map(|d| d.to_string()).unwrap_or_default();
        *per_day.entry(day).or_default() += 1;
    }
    let max = per_day.values().copied().max().unwrap_or(1).max(1);
    let (w, h, bar) = (640usize, 140usize, 24usize);
    let width = (per_day.len() * (bar + 6) + 40).max(w);
    html! {
        svg role="img" aria-label="Accès par jour" width=(width) height=(h + 40) viewBox=(format!("0 0 {width} {}", h + 40)) {
            @for (i, (day, n)) in per_day.iter().enumerate() {
                @let bh = n * h / max;
                @let xpos = 20 + i * (bar + 6);
                rect x=(xpos) y=(h - bh + 10) width=(bar) height=(bh) fill="#4a7bb7" { title { (day) " : " (n) " accès" } }
                text x=(xpos + bar / 2) y=(h - bh + 8) font-size="9" text-anchor="middle" { (n) }
                text x=(xpos + bar / 2) y=(h + 25) font-size="8" text-anchor="middle" { (day.get(5..).unwrap_or(day)) }
            }
        }
    }
}

/// The page.
pub fn page(x: &PatientExport) -> String {
    let name =
        x.current_identity().map(|i| format!("{} {}", i.first_names.join(" "), i.birth_name)).unwrap_or_default();
    let markup = html! {
        (DOCTYPE)
        html lang="fr" {
            head { meta charset="utf-8"; title { "Copie du dossier médical — " (name) } style { (PreEscaped(STYLE)) } }
            body {
                h1 { "Copie du dossier médical de " (name) }
                p {
                    "Dossier n° " (x.patient) " — copie établie le " (x.exported_at) " par " (x.exported_by)
                    " (RGPD art. 15, CSP L1111-7). Chaque correction est une nouvelle révision : l'historique complet figure ci-dessous."
                }
                h2 { "Identité" }
                table {
                    tr { th { "Révision" } th { "Enregistrée le" } th { "Nom de naissance" } th { "Prénoms" } th { "Date de naissance" }
                         th { "Statut" } th { "Matricule INS" } th { "Adresse" } th { "Téléphone" } th { "Motif de correction" } }
                    @for (n, rev) in x.identity.iter().enumerate() { (identity_row(rev, n + 1 == x.identity.len())) }
                }
                h2 { "Comptes rendus" }
                table {
                    tr { th { "Date" } th { "Type" } th { "Auteur" } th { "Titre" } th { "Texte" } th { "Révision" } th { "Motif de correction" } }
                    @for r in &x.reports {
                        @let latest = !x.reports.iter().any(|o| o.entry_id == r.entry_id && o.revision > r.revision);
                        tr data-entry=(format!("{}-r{}", r.entry_id, r.revision)) class=[revision_class(latest)] {
                            td { (r.content.date) } td { (report_kind(r.content.kind)) } td { (r.content.author) }
                            td { (r.content.title) } td { pre { (r.content.body) } } td { (r.revision) } td { (opt(&r.reason)) }
                        }
                    }
                }
                h2 { "Examens et résultats" }
                table {
                    tr { th { "Date" } th { "Examen" } th { "Code" } th { "Résultat" } th { "Unité" } th { "Valeurs de référence" }
                         th { "Interprétation" } th { "Réalisé par" } th { "Révision" } }
                    @for r in &x.exams {
                        @let c = &r.content;
                        @let latest = !x.exams.iter().any(|o| o.entry_id == r.entry_id && o.revision > r.revision);
                        @let code = match (&c.code_system, &c.code) {
                            (Some(s), Some(code)) if s.contains("loinc") => format!("LOINC {code}"),
                            (_, Some(code)) => code.clone(),
                            _ => "—".into(),
                        };
                        @let value = if c.kind == ExamKind::Lab { opt(&c.value) } else { opt(&c.text) };
                        tr data-entry=(format!("{}-r{}", r.entry_id, r.revision)) class=[revision_class(latest)] {
                            td { (c.date) } td { (c.label) } td { (code) } td { pre { (value) } } td { (opt(&c.unit)) }
                            td { (opt(&c.reference_range)) }
                            td { (c.interpretation.map(|i| format!("{i:?}")).unwrap_or_else(|| "—".into())) }
                            td { (c.performer) } td { (r.revision) }
                        }
                    }
                }
                @if !x.attachments.is_empty() {
                    h2 { "Pièces jointes" }
                    p { "Documents joints aux comptes rendus et examens (lettres, comptes rendus numérisés, imagerie). "
                        "Leur contenu n'est pas reproduit dans cette page : chaque pièce jointe est remise à part, "
                        "dans un fichier dont le nom commence par son identifiant." }
                    table {
                        tr { th { "Ajoutée le" } th { "Volet" } th { "Élément" } th { "Nom" } th { "Type" } th { "Taille (octets)" } th { "Ajoutée par" } }
                        @for a in &x.attachments {
                            tr data-attachment=(a.id) {
                                td { (a.added_at) } td { (a.section.name()) } td { (a.entry) } td { (a.name) }
                                td { (a.media_type) } td { (a.size) } td { (a.added_by) }
                            }
                        }
                    }
                }
                h2 { "Historique des accès (" (x.access_history.len()) " événements)" }
                p {
                    "Qui a consulté ou modifié ce dossier, quand et pourquoi. Les accès en urgence (« bris de glace ») sont "
                    "surlignés en rouge, les accès refusés en jaune."
                }
                (timeline(x))
                table {
                    tr { th { "N°" } th { "Date (UTC)" } th { "Utilisateur" } th { "Rôle" } th { "Action" } th { "Volet" }
                         th { "Résultat" } th { "Finalité" } th { "Poste" } th { "Motif" } }
                    @for e in &x.access_history {
                        @let class = if e.purpose == Purpose::Emergency { Some("bg") }
                            else if e.outcome != Outcome::Success { Some("denied") } else { None };
                        tr data-seq=(e.seq) class=[class] {
                            td { (e.seq) } td { (e.recorded_at) } td { (e.agent.name) } td { (e.agent.roles.join(", ")) }
                            td { (e.action.name()) } td { (e.entity.section.map(|s| s.name()).unwrap_or("—")) }
                            td { (e.outcome.name()) } td { (e.purpose.name()) } td { (e.agent.workstation) }
                            td { (e.detail.as_deref().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    let mut out = markup.into_string();
    out.push('\n');
    out
}
