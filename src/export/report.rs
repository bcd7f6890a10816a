//! The DPO's periodic report: accesses per day and per user (inline SVG charts), denials,
//! break-glass accesses with their review status, and unusual patterns worth a look: a user
//! reading or exporting many distinct patients within an hour, bulk exports, accesses at night,
//! repeated denials.
//! Self-contained HTML, no script, no external resource.

use crate::audit::{Action, AuditEvent, AuditQuery, Outcome};
use crate::error::{Denied, Result};
use crate::model::Timestamp;
use crate::session::{BreakGlassRecord, Session};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use std::collections::{BTreeMap, BTreeSet};

/// Distinct patients read by one user within one hour that count as unusual.
pub const MANY_PATIENTS_PER_HOUR: usize = 30;
/// Distinct patients whose whole file one user exported in the report's period that count as
/// unusual (a patient copy is a request a practice answers a few times a month).
pub const MANY_EXPORTS: usize = 10;
/// Denials of one user in one day that count as repeated.
pub const REPEATED_DENIALS_PER_DAY: usize = 3;

/// A pattern worth the DPO's attention.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
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
    let mut exported: BTreeMap<&str, BTreeSet<crate::model::PatientId>> = BTreeMap::new();
    for e in events {
        if matches!(e.action, Action::Read | Action::Export)
            && e.outcome == Outcome::Success
            && let Some(p) = e.entity.patient
        {
            reads.entry(&e.agent.name).or_default().push((e.recorded_at.0, p));
        }
        if e.action == Action::Export && e.outcome == Outcome::Success {
            match e.entity.patient {
                Some(p) => {
                    exported.entry(&e.agent.name).or_default().insert(p);
                }
                None if e.detail.as_deref() == Some(super::bulk::BULK_EXPORT) => out.push(Finding {
                    user: e.agent.name.clone(),
                    what: format!("exported every patient's file at once (bulk export) at {}", e.recorded_at),
                }),
                None => {}
            }
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
                what: format!("read or exported {worst} distinct patients within one hour"),
            });
        }
    }
    for (user, patients) in exported {
        if patients.len() >= MANY_EXPORTS {
            out.push(Finding {
                user: user.to_string(),
                what: format!("exported the files of {} distinct patients in the period", patients.len()),
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

fn bars(title: &str, data: &[(String, usize)]) -> Markup {
    let max = data.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    let row = 18usize;
    let h = data.len() * row + 10;
    html! {
        svg role="img" aria-label=(title) width="700" height=(h) viewBox=(format!("0 0 700 {h}")) {
            @for (i, (label, n)) in data.iter().enumerate() {
                @let w = n * 480 / max;
                @let y = i * row + 5;
                text x="0" y=(y + 12) font-size="11" { (label) }
                rect x="150" y=(y) width=(w) height=(row - 4) fill="#4a7bb7" {}
                text x=(155 + w) y=(y + 12) font-size="11" { (n) }
            }
        }
    }
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:.9em}\
td,th{border:1px solid #bbb;padding:.3em}th{background:#eee}";

/// What the report shows, gathered before rendering.
struct ReportData<'a> {
    since: Timestamp,
    until: Timestamp,
    events: &'a [AuditEvent],
    days: Vec<(String, usize)>,
    users: Vec<(String, usize)>,
    found: Vec<Finding>,
    break_glass: Vec<BreakGlassRecord>,
}

/// The page (every value escaped by the template engine).
fn render(d: &ReportData<'_>) -> String {
    let accesses: usize = d.users.iter().map(|(_, n)| n).sum();
    let denied: Vec<&AuditEvent> = d.events.iter().filter(|e| e.outcome == Outcome::Denied).collect();
    let markup = html! {
        (DOCTYPE)
        html lang="fr" {
            head { meta charset="utf-8"; title { "Rapport du DPO" } style { (PreEscaped(STYLE)) } }
            body {
                h1 { "Rapport d'audit des accès" }
                p { "Du " (d.since) " au " (d.until) " — " (d.events.len()) " événements, dont " (accesses) " accès aux dossiers." }
                h2 { "Accès par jour" } (bars("Accès par jour", &d.days))
                h2 { "Accès par utilisateur" } (bars("Accès par utilisateur", &d.users))
                h2 { "Points d'attention (" (d.found.len()) ")" }
                ul { @for f in &d.found { li data-finding { b { (f.user) } " : " (f.what) } } }
                h2 { "Accès en urgence (bris de glace) : " (d.break_glass.len()) }
                table {
                    tr { th { "N°" } th { "Ouvert le" } th { "Utilisateur" } th { "Patient" } th { "Justification" } th { "Revue" } }
                    @for b in &d.break_glass {
                        tr data-break-glass=(b.seq) {
                            td { (b.seq) } td { (b.opened_at) } td { (b.user) } td { (b.patient) } td { (b.justification.as_deref().unwrap_or("(scellée pour d'autres lecteurs)")) }
                            td { @match &b.reviewed_by { Some(r) => { "revu par " (r) }, None => { "À REVOIR" } } }
                        }
                    }
                }
                h2 { "Accès refusés : " (denied.len()) }
                table {
                    tr { th { "N°" } th { "Date" } th { "Utilisateur" } th { "Action" } th { "Patient" } th { "Motif" } }
                    @for e in &denied {
                        tr data-denied=(e.seq) {
                            td { (e.seq) } td { (e.recorded_at) } td { (e.agent.name) } td { (e.action.name()) }
                            td { (e.entity.patient.map(|p| p.to_string()).unwrap_or_default()) }
                            td { (e.detail.as_deref().unwrap_or("")) }
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

/// The figures of the DPO report (what its page shows), for machine use.
#[derive(Clone, serde::Serialize)]
#[non_exhaustive]
pub struct ReportSummary {
    /// Start of the period.
    pub since: Timestamp,
    /// End of the period (excluded).
    pub until: Timestamp,
    /// Events in the period.
    pub events: usize,
    /// Accesses to files (reads, writes, searches, exports, creations) in the period.
    pub accesses: usize,
    /// Accesses per day (`YYYY-MM-DD`, count).
    pub accesses_per_day: Vec<(String, usize)>,
    /// Accesses per user (name, count).
    pub accesses_per_user: Vec<(String, usize)>,
    /// Patterns worth a look.
    pub findings: Vec<Finding>,
    /// Emergency accesses opened in the period, with their review status.
    pub break_glass: Vec<BreakGlassRecord>,
    /// Denied accesses in the period.
    pub denied: Vec<AuditEvent>,
}

impl Session {
    /// The DPO report for `[since, until)` as an HTML page (auditors). Audited as a query.
    pub fn audit_report(&self, since: Timestamp, until: Timestamp) -> Result<String> {
        let (data, events) = self.report_data(since, until)?;
        let page = render(&ReportData { events: &events, ..data });
        self.record_report(since, until)?;
        Ok(page)
    }

    /// The same report's figures (auditors). Audited as a query.
    pub fn audit_report_summary(&self, since: Timestamp, until: Timestamp) -> Result<ReportSummary> {
        let (data, events) = self.report_data(since, until)?;
        let summary = ReportSummary {
            since,
            until,
            events: events.len(),
            accesses: data.users.iter().map(|(_, n)| n).sum(),
            accesses_per_day: data.days,
            accesses_per_user: data.users,
            findings: data.found,
            break_glass: data.break_glass,
            denied: events.iter().filter(|e| e.outcome == Outcome::Denied).cloned().collect(),
        };
        self.record_report(since, until)?;
        Ok(summary)
    }

    /// What a report shows (its events aside, returned beside it), after the auditor check.
    fn report_data(&self, since: Timestamp, until: Timestamp) -> Result<(ReportData<'static>, Vec<AuditEvent>)> {
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
        let data = ReportData {
            since,
            until,
            events: &[],
            days: per_day.into_iter().collect(),
            users: per_user.into_iter().collect(),
            found: findings(&events),
            break_glass: bg,
        };
        Ok((data, events))
    }

    /// The report's own audit event.
    fn record_report(&self, since: Timestamp, until: Timestamp) -> Result<()> {
        let detail = format!("DPO report {since} to {until}");
        self.commit(
            vec![self.draft(Action::AuditQuery, Outcome::Success, Default::default()).detail(detail)],
            crate::storage::Batch::new(),
        )?;
        Ok(())
    }
}
