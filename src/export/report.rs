//! The DPO's periodic report: accesses per day and per user (inline SVG charts), denials,
//! break-glass accesses with their review status, and unusual patterns worth a look: a user
//! reading many distinct patients within an hour, accesses at night, repeated denials.
//! Self-contained HTML, no script, no external resource.

use super::html::esc;
use crate::audit::{Action, AuditEvent, AuditQuery, Outcome};
use crate::error::{Denied, Result};
use crate::model::Timestamp;
use crate::session::{BreakGlassRecord, Session};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Distinct patients read by one user within one hour that count as unusual.
pub const MANY_PATIENTS_PER_HOUR: usize = 30;
/// Denials of one user in one day that count as repeated.
pub const REPEATED_DENIALS_PER_DAY: usize = 3;

/// A pattern worth the DPO's attention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Who.
    pub user: String,
    /// What.
    pub what: String,
}

fn is_access(e: &AuditEvent) -> bool {
    matches!(e.action, Action::Read | Action::Write | Action::Search | Action::Export | Action::PatientCreate)
}

/// Night in metropolitan France, approximated in UTC (21:00-05:00 UTC is 22:00-06:00 CET).
fn at_night(t: Timestamp) -> bool {
    let hour = t.0.rem_euclid(86_400_000) / 3_600_000;
    !(5..21).contains(&hour)
}

/// Unusual patterns in a list of events (oldest first).
pub fn findings(events: &[AuditEvent]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut reads: BTreeMap<&str, Vec<(i64, crate::model::PatientId)>> = BTreeMap::new();
    let mut night: BTreeMap<&str, usize> = BTreeMap::new();
    let mut denials: BTreeMap<(&str, String), usize> = BTreeMap::new();
    for e in events {
        if e.action == Action::Read
            && e.outcome == Outcome::Success
            && let Some(p) = e.entity.patient
        {
            reads.entry(&e.agent.name).or_default().push((e.recorded_at.0, p));
        }
        if is_access(e) && at_night(e.recorded_at) {
            *night.entry(&e.agent.name).or_default() += 1;
        }
        if e.outcome == Outcome::Denied {
            let day = e.recorded_at.date().map(|d| d.to_string()).unwrap_or_default();
            *denials.entry((&e.agent.name, day)).or_default() += 1;
        }
    }
    for (user, rs) in &reads {
        // Sliding one-hour window over the user's reads.
        let mut start = 0;
        let mut worst = 0;
        for end in 0..rs.len() {
            while rs[end].0 - rs[start].0 > 3_600_000 {
                start += 1;
            }
            let distinct: BTreeSet<_> = rs[start..=end].iter().map(|(_, p)| p).collect();
            worst = worst.max(distinct.len());
        }
        if worst >= MANY_PATIENTS_PER_HOUR {
            out.push(Finding {
                user: user.to_string(),
                what: format!("read {worst} distinct patients within one hour"),
            });
        }
    }
    for (user, n) in night {
        out.push(Finding { user: user.to_string(), what: format!("{n} access(es) at night (22:00-06:00)") });
    }
    for ((user, day), n) in denials {
        if n >= REPEATED_DENIALS_PER_DAY {
            out.push(Finding { user: user.to_string(), what: format!("{n} refused accesses on {day}") });
        }
    }
    out
}

fn bars(title: &str, data: &[(String, usize)]) -> String {
    let max = data.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    let row = 18usize;
    let h = data.len() * row + 10;
    let mut svg = format!(
        "<svg role=\"img\" aria-label=\"{}\" width=\"700\" height=\"{h}\" viewBox=\"0 0 700 {h}\">",
        esc(title)
    );
    for (i, (label, n)) in data.iter().enumerate() {
        let w = n * 480 / max;
        let y = i * row + 5;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{}\" font-size=\"11\">{}</text><rect x=\"150\" y=\"{y}\" width=\"{w}\" height=\"{}\" fill=\"#4a7bb7\"></rect><text x=\"{}\" y=\"{}\" font-size=\"11\">{n}</text>",
            y + 12,
            esc(label),
            row - 4,
            155 + w,
            y + 12
        );
    }
    svg.push_str("</svg>");
    svg
}

impl Session {
    /// The DPO report for `[since, until)` as an HTML page (auditors). Audited as a query.
    pub fn audit_report(&self, since: Timestamp, until: Timestamp) -> Result<String> {
        self.require(
            self.header().policy.may_audit(&self.user.roles),
            Action::AuditQuery,
            Default::default(),
            Denied::Audit,
        )?;
        let q = AuditQuery { since: Some(since), until: Some(until), ..AuditQuery::default() };
        let events = self.audit_events(&q)?;
        let bg: Vec<BreakGlassRecord> =
            self.break_glass_list(false)?.into_iter().filter(|b| b.opened_at >= since && b.opened_at < until).collect();
        let mut per_day: BTreeMap<String, usize> = BTreeMap::new();
        let mut per_user: BTreeMap<String, usize> = BTreeMap::new();
        for e in events.iter().filter(|e| is_access(e)) {
            *per_day.entry(e.recorded_at.date().map(|d| d.to_string()).unwrap_or_default()).or_default() += 1;
            *per_user.entry(e.agent.name.clone()).or_default() += 1;
        }
        let denied: Vec<&AuditEvent> = events.iter().filter(|e| e.outcome == Outcome::Denied).collect();
        let found = findings(&events);
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Rapport du DPO</title><style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:.9em}}td,th{{border:1px solid #bbb;padding:.3em}}th{{background:#eee}}</style></head><body>\
             <h1>Rapport d'audit des accès</h1><p>Du {} au {} — {} événements, dont {} accès aux dossiers.</p>",
            esc(&since.to_string()),
            esc(&until.to_string()),
            events.len(),
            per_user.values().sum::<usize>()
        );
        let days: Vec<(String, usize)> = per_day.into_iter().collect();
        let users: Vec<(String, usize)> = per_user.into_iter().collect();
        let _ = write!(
            out,
            "<h2>Accès par jour</h2>{}<h2>Accès par utilisateur</h2>{}",
            bars("Accès par jour", &days),
            bars("Accès par utilisateur", &users)
        );
        let _ = write!(out, "<h2>Points d'attention ({})</h2><ul>", found.len());
        for f in &found {
            let _ = write!(out, "<li data-finding><b>{}</b> : {}</li>", esc(&f.user), esc(&f.what));
        }
        let _ = write!(
            out,
            "</ul><h2>Accès en urgence (bris de glace) : {}</h2><table><tr><th>N°</th><th>Ouvert le</th><th>Utilisateur</th><th>Patient</th><th>Justification</th><th>Revue</th></tr>",
            bg.len()
        );
        for b in &bg {
            let _ = write!(
                out,
                "<tr data-break-glass=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                b.seq,
                b.seq,
                esc(&b.opened_at.to_string()),
                esc(&b.user),
                b.patient,
                esc(&b.justification),
                b.reviewed_by.as_deref().map(|r| format!("revu par {}", esc(r))).unwrap_or_else(|| "À REVOIR".into())
            );
        }
        let _ = write!(
            out,
            "</table><h2>Accès refusés : {}</h2><table><tr><th>N°</th><th>Date</th><th>Utilisateur</th><th>Action</th><th>Patient</th><th>Motif</th></tr>",
            denied.len()
        );
        for e in &denied {
            let _ = write!(
                out,
                "<tr data-denied=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e.seq,
                e.seq,
                esc(&e.recorded_at.to_string()),
                esc(&e.agent.name),
                e.action.name(),
                e.entity.patient.map(|p| p.to_string()).unwrap_or_default(),
                esc(e.detail.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</table></body></html>\n");
        let detail = format!("DPO report {since} to {until}");
        self.commit(
            vec![self.draft(Action::AuditQuery, Outcome::Success, Default::default()).detail(detail)],
            crate::storage::Batch::new(),
        )?;
        Ok(out)
    }
}
