//! A readable, printable, self-contained HTML page of a patient export, in French throughout:
//! times in Paris legal time, professionals by name and profession, codes in words, and every
//! state that colour shows (emergency access, refusal, replaced version) also written as a word,
//! so that a black-and-white print keeps it. No external resource, no script; the access
//! history as a table and an inline SVG timeline.
//!
//! Each entry row carries `data-entry="<entry>-r<revision>"` and each access row
//! `data-seq="<seq>"`, so that the page can be checked against the JSON export. The page ends
//! with the placeholder [`SEAL_PLACEHOLDER`], which [`super::seal`] replaces with the signed
//! seal that authenticates the copy.
//!
//! Rendered with `maud`: every interpolated value is HTML-escaped by the template engine;
//! nothing is written into the page unescaped except the fixed style sheet.

use super::{PatientExport, fr, revision_groups};
use crate::audit::{Action, AuditEvent, Outcome, Purpose};
use crate::model::{Entry, ExamKind, Identity};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use std::collections::BTreeMap;

/// Where the seal goes (an HTML comment: the unsealed page shows nothing there).
pub const SEAL_PLACEHOLDER: &str = "<!--medvault-seal-->";

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222;line-height:1.35}h1{font-size:1.5em}\
h2{font-size:1.2em;border-bottom:1px solid #999;margin-top:2em}h3{font-size:1em;margin:1.2em 0 .3em}\
table{border-collapse:collapse;width:100%;font-size:.9em}td,th{border:1px solid #bbb;padding:.3em;text-align:left;vertical-align:top}\
th{background:#eee}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}dd{margin:0}\
.old{color:#555}.bg{background:#fde2e2}.denied{background:#fff3cd}.mark{font-weight:bold;white-space:nowrap}\
pre{white-space:pre-wrap;font-family:inherit;margin:0}.legend{border:1px solid #999;padding:.5em 1em}\
.seal{border:2px solid #333;padding:.5em 1em;margin-top:2em;word-break:break-all}\
@media print{body{margin:0;font-size:10pt}h2,h3{break-after:avoid}tr{break-inside:avoid}thead{display:table-header-group}\
.bg,.denied{print-color-adjust:exact;-webkit-print-color-adjust:exact}}";

/// Written marks: what colour shows on screen, in words that survive printing.
pub const MARK_EMERGENCY: &str = "⚠ URGENCE";
/// An access refused or failed.
pub const MARK_REFUSED: &str = "✖ REFUSÉ";
/// A version a later revision replaced.
pub const MARK_REPLACED: &str = "VERSION REMPLACÉE";

/// The value, or a dash when absent.
fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("—")
}

/// `Dr Claire Martin (médecin généraliste)`, else `dr_martin (médecin)`.
pub fn person(x: &PatientExport, login: &str, roles: &[String]) -> String {
    match x.staff.get(login) {
        Some(m) => match (&m.full_name, &m.profession) {
            (Some(n), Some(p)) => format!("{n} ({p})"),
            (Some(n), None) => format!("{n} ({})", fr::roles(&m.roles)),
            _ => format!("{login} ({})", fr::roles(if roles.is_empty() { &m.roles } else { roles })),
        },
        None if roles.is_empty() => login.to_string(),
        None => format!("{login} ({})", fr::roles(roles)),
    }
}

/// Revision label: `révision 1 — VERSION REMPLACÉE le … par la révision 2` or `révision 2 (en vigueur)`.
fn revision_label<T>(revs: &[&Entry<T>], rev: &Entry<T>) -> String {
    match revs.iter().filter(|o| o.revision > rev.revision).min_by_key(|o| o.revision) {
        Some(next) => format!(
            "révision {} — {MARK_REPLACED} le {} par la révision {}",
            rev.revision,
            fr::date_time(next.recorded_at),
            next.revision
        ),
        None => format!("révision {} (en vigueur)", rev.revision),
    }
}

fn identity_block(x: &PatientExport) -> Markup {
    let Some(current) = x.identity.last() else {
        return html! { p { "Aucune identité enregistrée." } };
    };
    let i = &current.content;
    let ins = i.ins_matricule.as_ref().map(|m| match i.ins_oid.as_deref() {
        Some("1.2.250.1.213.1.4.9") => format!("{m} (NIA, numéro identifiant attente)"),
        _ => format!("{m} (NIR, numéro de sécurité sociale)"),
    });
    html! {
        dl {
            dt { "Nom de naissance" } dd { (i.birth_name) }
            dt { "Nom utilisé" } dd { (opt(&i.used_name)) }
            dt { "Prénoms" } dd { (i.first_names.join(" ")) }
            dt { "Sexe" } dd { (fr::sex(i.sex)) }
            dt { "Date de naissance" } dd { (fr::date(i.birth_date)) }
            dt { "Lieu de naissance" } dd { (fr::birth_place(&i.birth_place_insee)) }
            dt { "Identité" } dd { (fr::identity_status(i.identity_status)) }
            dt { "Matricule INS" } dd { (opt(&ins)) }
            dt { "Adresse" } dd { (opt(&i.address)) }
            dt { "Téléphone" } dd { (opt(&i.phone)) }
            dt { "Courriel" } dd { (opt(&i.email)) }
            dt { "Assurance" } dd { (opt(&i.insurance)) }
            dt { "Personne à prévenir" } dd { (opt(&i.emergency_contact)) }
            @if let Some(d) = i.date_of_death { dt { "Date de décès" } dd { (fr::date(d)) } }
        }
    }
}

fn identity_history(x: &PatientExport) -> Markup {
    let revs: Vec<&Entry<Identity>> = x.identity.iter().collect();
    html! {
        h3 { "Historique de l'identité (" (revs.len()) " révision(s))" }
        table {
            thead { tr { th { "Révision" } th { "Enregistrée le" } th { "Par" } th { "Nom de naissance" } th { "Prénoms" }
                 th { "Date de naissance" } th { "Sexe" } th { "Statut" } th { "Motif de correction" } } }
            @for rev in &revs {
                @let replaced = revs.iter().any(|o| o.revision > rev.revision);
                tr data-entry=(format!("{}-r{}", rev.entry_id, rev.revision)) class=[replaced.then_some("old")] {
                    td { (revision_label(&revs, rev)) } td { (fr::date_time(rev.recorded_at)) }
                    td { (person(x, &rev.recorded_by, &[])) } td { (rev.content.birth_name) }
                    td { (rev.content.first_names.join(" ")) } td { (fr::date(rev.content.birth_date)) }
                    td { (fr::sex(rev.content.sex)) } td { (fr::identity_status(rev.content.identity_status)) }
                    td { (opt(&rev.reason)) }
                }
            }
        }
    }
}

fn reports(x: &PatientExport) -> Markup {
    html! {
        table {
            thead { tr { th { "Date" } th { "Type" } th { "Auteur" } th { "Titre" } th { "Texte" } th { "Version" } th { "Motif de correction" } } }
            @for group in revision_groups(&x.reports) {
                @for r in &group {
                    @let replaced = group.iter().any(|o| o.revision > r.revision);
                    tr data-entry=(format!("{}-r{}", r.entry_id, r.revision)) class=[replaced.then_some("old")] {
                        td { (fr::date(r.content.date)) } td { (fr::report_kind(r.content.kind)) } td { (r.content.author) }
                        td { (r.content.title) } td { pre { (r.content.body) } }
                        td { (revision_label(&group, r)) br; "saisie le " (fr::date_time(r.recorded_at)) " par " (person(x, &r.recorded_by, &[])) }
                        td { (opt(&r.reason)) }
                    }
                }
            }
        }
    }
}

fn exams(x: &PatientExport) -> Markup {
    html! {
        table {
            thead { tr { th { "Date" } th { "Examen" } th { "Code" } th { "Résultat" } th { "Valeurs de référence" }
                 th { "Interprétation" } th { "Réalisé par" } th { "Version" } th { "Motif de correction" } } }
            @for group in revision_groups(&x.exams) {
                @for r in &group {
                    @let c = &r.content;
                    @let replaced = group.iter().any(|o| o.revision > r.revision);
                    @let code = match (&c.code_system, &c.code) {
                        (Some(s), Some(code)) if s.contains("loinc") => format!("code LOINC {code}"),
                        (_, Some(code)) => format!("code {code}"),
                        _ => "—".into(),
                    };
                    @let value = if c.kind == ExamKind::Lab {
                        match (&c.value, &c.unit) { (Some(v), Some(u)) => format!("{v} {u}"), (Some(v), None) => v.clone(), _ => "—".into() }
                    } else { opt(&c.text).to_string() };
                    tr data-entry=(format!("{}-r{}", r.entry_id, r.revision)) class=[replaced.then_some("old")] {
                        td { (fr::date(c.date)) } td { (c.label) br; small { (fr::exam_kind(c.kind)) } } td { (code) }
                        td { pre { (value) } } td { (opt(&c.reference_range)) }
                        td { (c.interpretation.map(fr::interpretation).unwrap_or("—")) }
                        td { (c.performer) }
                        td { (revision_label(&group, r)) br; "saisie le " (fr::date_time(r.recorded_at)) " par " (person(x, &r.recorded_by, &[])) }
                        td { (opt(&r.reason)) }
                    }
                }
            }
        }
    }
}

/// An inline SVG bar chart: one bar per (Paris) day, its height the number of accesses.
fn timeline(x: &PatientExport) -> Markup {
    let mut per_day: BTreeMap<String, usize> = BTreeMap::new();
    for e in &x.access_history {
        *per_day.entry(fr::iso_day(e.recorded_at)).or_default() += 1;
    }
    let max = per_day.values().copied().max().unwrap_or(1).max(1);
    let (w, h, bar) = (640usize, 140usize, 24usize);
    let width = (per_day.len() * (bar + 6) + 40).max(w);
    html! {
        svg role="img" aria-label="Nombre d'accès par jour" width=(width) height=(h + 40) viewBox=(format!("0 0 {width} {}", h + 40)) {
            @for (i, (day, n)) in per_day.iter().enumerate() {
                @let bh = n * h / max;
                @let xpos = 20 + i * (bar + 6);
                @let label = format!("{}/{}", day.get(8..10).unwrap_or(day), day.get(5..7).unwrap_or(""));
                rect x=(xpos) y=(h - bh + 10) width=(bar) height=(bh) fill="#4a7bb7" { title { (label) " : " (n) " accès" } }
                text x=(xpos + bar / 2) y=(h - bh + 8) font-size="9" text-anchor="middle" { (n) }
                text x=(xpos + bar / 2) y=(h + 25) font-size="8" text-anchor="middle" { (label) }
            }
        }
    }
}

/// Why an access was made or refused, in words (audit details are technical and in English:
/// they are not shown to the patient).
fn explanation(e: &AuditEvent) -> &'static str {
    match (e.outcome, e.action, e.purpose) {
        (Outcome::Denied, _, _) => {
            "accès refusé : la personne n'avait pas le droit d'accéder à cette partie du dossier"
        }
        (Outcome::Error, _, _) => "l'accès n'a pas abouti (erreur technique) ; aucune donnée n'a été communiquée",
        (_, Action::BreakGlass, _) => {
            "accès en urgence hors de l'équipe de soins, justifié par écrit et soumis à la revue du délégué à la protection des données"
        }
        (_, Action::BreakGlassReview, _) => "revue par le délégué à la protection des données d'un accès en urgence",
        (_, _, Purpose::Emergency) => "accès pendant une situation d'urgence",
        (_, Action::Export, Purpose::PatientRequest) => "copie du dossier demandée par le patient",
        (_, Action::Search, _) => "le dossier est apparu dans une recherche à l'accueil",
        _ => "",
    }
}

fn mark(e: &AuditEvent) -> (Option<&'static str>, &'static str) {
    if e.outcome != Outcome::Success {
        (Some("denied"), MARK_REFUSED)
    } else if e.purpose == Purpose::Emergency || e.action == Action::BreakGlass {
        (Some("bg"), MARK_EMERGENCY)
    } else {
        (None, "")
    }
}

fn history(x: &PatientExport) -> Markup {
    html! {
        table {
            thead { tr { th { "N°" } th { "Date et heure" } th { "Qui" } th { "Action" } th { "Partie du dossier" }
                 th { "Résultat" } th { "Finalité" } th { "Poste" } th { "Explication" } } }
            @for e in &x.access_history {
                @let (class, marker) = mark(e);
                tr data-seq=(e.seq) class=[class] {
                    td { (e.seq) } td { (fr::date_time(e.recorded_at)) } td { (person(x, &e.agent.name, &e.agent.roles)) }
                    td { (fr::action(e.action)) } td { (e.entity.section.map(fr::section).unwrap_or("dossier entier")) }
                    td { @if !marker.is_empty() { span.mark { (marker) } br; } (fr::outcome(e.outcome)) }
                    td { (fr::purpose(e.purpose)) } td { (e.agent.workstation) } td { (explanation(e)) }
                }
            }
        }
    }
}

/// The page (unsealed: it ends with [`SEAL_PLACEHOLDER`]).
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
                    "Dossier n° " (x.patient) ". Copie établie le " (fr::date_time(x.exported_at)) " par "
                    (person(x, &x.exported_by, &[])) ", à la demande du patient (droit d'accès : RGPD article 15, "
                    "code de la santé publique article L1111-7)."
                }
                div.legend {
                    p { b { "Comment lire ce document." } " Toutes les heures sont celles de Paris (heure légale, été comme hiver). "
                        "Une correction ne remplace jamais rien en silence : chaque version corrigée reste lisible, marquée « "
                        (MARK_REPLACED) " », avec la date et le motif de la correction. Dans l'historique des accès, les accès "
                        "en urgence sont marqués « " (MARK_EMERGENCY) " » et les accès refusés « " (MARK_REFUSED) " »." }
                }
                h2 { "Identité" }
                (identity_block(x))
                (identity_history(x))
                h2 { "Comptes rendus" }
                (reports(x))
                h2 { "Examens et résultats" }
                (exams(x))
                @if !x.attachments.is_empty() {
                    h2 { "Pièces jointes" }
                    p { "Documents joints aux comptes rendus et examens (lettres, comptes rendus numérisés, imagerie). "
                        "Leur contenu n'est pas reproduit dans cette page : chaque pièce jointe est remise à part, "
                        "dans un fichier dont le nom commence par son identifiant." }
                    table {
                        thead { tr { th { "Ajoutée le" } th { "Partie du dossier" } th { "Élément" } th { "Nom" } th { "Type" } th { "Taille" } th { "Ajoutée par" } } }
                        @for a in &x.attachments {
                            tr data-attachment=(a.id) {
                                td { (fr::date_time(a.added_at)) } td { (fr::section(a.section)) } td { (a.entry) } td { (a.name) }
                                td { (a.media_type) } td { (a.size) " octets" } td { (person(x, &a.added_by, &[])) }
                            }
                        }
                    }
                }
                h2 { "Historique des accès (" (x.access_history.len()) " événements)" }
                p { "Qui a consulté ou modifié ce dossier, quand et pourquoi, y compris les tentatives refusées." }
                (timeline(x))
                (history(x))
                (PreEscaped(SEAL_PLACEHOLDER))
            }
        }
    };
    let mut out = markup.into_string();
    out.push('\n');
    out
}
