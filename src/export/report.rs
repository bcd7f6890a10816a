//! The DPO's periodic report: accesses per day and per user (inline SVG charts), denials,
//! break-glass accesses with their review status, and unusual patterns worth a look: a user
//! reading or exporting many distinct patients within an hour, bulk exports, accesses at night,
//! repeated denials.
//! Self-contained HTML, no script, no external resource.

use super::fr;
use crate::audit::{Action, AuditEvent, AuditQuery, Outcome, Purpose};
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

/// Accesses of one user on one day that count as an unusual volume when they are also at least
/// [`VOLUME_FACTOR`] times that user's median day in the period.
pub const MANY_ACCESSES_PER_DAY: usize = 100;
/// How far above a user's usual day a day must be to count as unusual.
pub const VOLUME_FACTOR: usize = 3;

/// A pattern worth the DPO's attention.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// Who (login).
    pub user: String,
    /// Which rule flagged it: `bulk-export`, `many-exports`, `many-patients-per-hour`,
    /// `unusual-volume`, `night`, `repeated-denials`, `outside-care-team`,
    /// `break-glass-unreviewed`.
    pub kind: &'static str,
    /// What, in French.
    pub what: String,
}

fn is_access(e: &AuditEvent) -> bool {
    matches!(e.action, Action::Read | Action::Write | Action::Search | Action::Export | Action::PatientCreate)
}

fn finding(user: &str, kind: &'static str, what: String) -> Finding {
    Finding { user: user.to_string(), kind, what }
}

/// The largest number of distinct patients within any one-hour window of `rs` (time order).
fn worst_hour(rs: &[(i64, crate::model::PatientId)]) -> usize {
    let mut start = 0;
    let mut worst = 0;
    for end in 0..rs.len() {
        while rs[end].0 - rs[start].0 > 3_600_000 {
            start += 1;
        }
        let distinct: BTreeSet<_> = rs[start..=end].iter().map(|(_, p)| p).collect();
        worst = worst.max(distinct.len());
    }
    worst
}

/// Unusual patterns in a list of events (oldest first) and the period's break-glass accesses.
/// Days and nights are those of Paris (daylight saving included).
pub fn findings(events: &[AuditEvent], break_glass: &[BreakGlassRecord]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut reads: BTreeMap<&str, Vec<(i64, crate::model::PatientId)>> = BTreeMap::new();
    let mut night: BTreeMap<&str, usize> = BTreeMap::new();
    let mut denials: BTreeMap<(&str, String), usize> = BTreeMap::new();
    let mut exported: BTreeMap<&str, BTreeSet<crate::model::PatientId>> = BTreeMap::new();
    let mut per_day: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut outside: BTreeMap<&str, (usize, BTreeSet<crate::model::PatientId>)> = BTreeMap::new();
    for e in events {
        let user = e.agent.name.as_str();
        let ok = e.outcome == Outcome::Success;
        if matches!(e.action, Action::Read | Action::Export)
            && ok
            && let Some(p) = e.entity.patient
        {
            reads.entry(user).or_default().push((e.recorded_at.0, p));
        }
        if e.action == Action::Export && ok {
            match e.entity.patient {
                Some(p) => {
                    exported.entry(user).or_default().insert(p);
                }
                None if e.detail.as_deref() == Some(super::bulk::BULK_EXPORT) => out.push(finding(
                    user,
                    "bulk-export",
                    format!("export en masse de tous les dossiers le {}", fr::date_time(e.recorded_at)),
                )),
                None => {}
            }
        }
        if is_access(e) {
            if fr::at_night(e.recorded_at) {
                *night.entry(user).or_default() += 1;
            }
            *per_day.entry(user).or_default().entry(fr::iso_day(e.recorded_at)).or_default() += 1;
            // Clinical sections need care-team membership; the policy lets anyone else in only
            // under break-glass, which marks the access as an emergency.
            if ok
                && e.purpose == Purpose::Emergency
                && let Some(p) = e.entity.patient
            {
                let o = outside.entry(user).or_default();
                o.0 += 1;
                o.1.insert(p);
            }
        }
        if e.outcome == Outcome::Denied {
            *denials.entry((user, fr::day(e.recorded_at))).or_default() += 1;
        }
    }
    for (user, rs) in &reads {
        let worst = worst_hour(rs);
        if worst >= MANY_PATIENTS_PER_HOUR {
            out.push(finding(
                user,
                "many-patients-per-hour",
                format!("{worst} dossiers différents consultés ou exportés en moins d'une heure"),
            ));
        }
    }
    for (user, patients) in exported {
        if patients.len() >= MANY_EXPORTS {
            out.push(finding(
                user,
                "many-exports",
                format!("dossiers complets de {} patients différents exportés sur la période", patients.len()),
            ));
        }
    }
    for (user, days) in &per_day {
        let mut counts: Vec<usize> = days.values().copied().collect();
        counts.sort_unstable();
        let median = counts.get(counts.len() / 2).copied().unwrap_or(0);
        for (day, n) in days {
            if *n >= MANY_ACCESSES_PER_DAY && (counts.len() < 3 || *n >= VOLUME_FACTOR * median.max(1)) {
                let day = day.split('-').rev().collect::<Vec<_>>().join("/");
                out.push(finding(
                    user,
                    "unusual-volume",
                    format!("volume inhabituel : {n} accès le {day} (jour médian de la période : {median})"),
                ));
            }
        }
    }
    for (user, n) in night {
        out.push(finding(user, "night", format!("{n} accès de nuit (22 h - 6 h, heure de Paris)")));
    }
    for ((user, day), n) in denials {
        if n >= REPEATED_DENIALS_PER_DAY {
            out.push(finding(user, "repeated-denials", format!("{n} accès refusés le {day}")));
        }
    }
    for (user, (n, patients)) in outside {
        out.push(finding(
            user,
            "outside-care-team",
            format!("{n} accès hors équipe de soins (bris de glace), à {} dossier(s) de patient", patients.len()),
        ));
    }
    for b in break_glass.iter().filter(|b| b.reviewed_by.is_none()) {
        out.push(finding(
            &b.user,
            "break-glass-unreviewed",
            format!("accès en urgence n° {} du {} non encore revu", b.seq, fr::date_time(b.opened_at)),
        ));
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

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:.9em}\
td,th{border:1px solid #bbb;padding:.3em;text-align:left;vertical-align:top}th{background:#eee}.todo{font-weight:bold}\
@media print{body{margin:0;font-size:10pt}h2{break-after:avoid}tr,li{break-inside:avoid}thead{display:table-header-group}}";

/// What the report shows, gathered before rendering.
struct ReportData<'a> {
    since: Timestamp,
    until: Timestamp,
    events: &'a [AuditEvent],
    days: Vec<(String, usize)>,
    users: Vec<(String, usize)>,
    found: Vec<Finding>,
    break_glass: Vec<BreakGlassRecord>,
    staff: BTreeMap<String, crate::StaffMember>,
}

/// `dr_martin — Dr Jean Martin, médecin généraliste` (the login first: the DPO searches by it).
fn who(d: &ReportData<'_>, login: &str) -> String {
    match d.staff.get(login) {
        Some(crate::StaffMember { full_name: Some(n), profession: Some(p), .. }) => format!("{login} — {n}, {p}"),
        Some(m) => format!("{login} — {}", fr::roles(&m.roles)),
        None => login.to_string(),
    }
}

/// The page (every value escaped by the template engine).
fn render(d: &ReportData<'_>) -> String {
    let accesses: usize = d.users.iter().map(|(_, n)| n).sum();
    let denied: Vec<&AuditEvent> = d.events.iter().filter(|e| e.outcome == Outcome::Denied).collect();
    let days: Vec<(String, usize)> =
        d.days.iter().map(|(day, n)| (day.split('-').rev().collect::<Vec<_>>().join("/"), *n)).collect();
    let markup = html! {
        (DOCTYPE)
        html lang="fr" {
            head { meta charset="utf-8"; title { "Rapport du délégué à la protection des données" } style { (PreEscaped(STYLE)) } }
            body {
                h1 { "Rapport d'audit des accès aux dossiers" }
                p { "Du " (fr::date_time(d.since)) " au " (fr::date_time(d.until)) " (heure de Paris) : " (d.events.len())
                    " événements, dont " (accesses) " accès aux dossiers." }
                h2 { "Points d'attention (" (d.found.len()) ")" }
                @if d.found.is_empty() { p { "Aucun." } }
                ul { @for f in &d.found { li data-finding=(f.kind) { b { (who(d, &f.user)) } " : " (f.what) } } }
                h2 { "Accès par jour" } (bars("Accès par jour", &days))
                h2 { "Accès par utilisateur" } (bars("Accès par utilisateur", &d.users))
                h2 { "Accès en urgence (bris de glace) : " (d.break_glass.len()) }
                table {
                    thead { tr { th { "N°" } th { "Ouvert le" } th { "Utilisateur" } th { "Patient" } th { "Justification" } th { "Revue" } } }
                    @for b in &d.break_glass {
                        tr data-break-glass=(b.seq) {
                            td { (b.seq) } td { (fr::date_time(b.opened_at)) } td { (who(d, &b.user)) } td { (b.patient) }
                            td { (b.justification.as_deref().unwrap_or("(scellée pour d'autres lecteurs)")) }
                            td { @match (&b.reviewed_by, b.reviewed_at) {
                                (Some(r), Some(t)) => { "revu par " (r) " le " (fr::date_time(t)) },
                                (Some(r), None) => { "revu par " (r) },
                                _ => { span.todo { "À REVOIR" } },
                            } }
                        }
                    }
                }
                h2 { "Accès refusés : " (denied.len()) }
                table {
                    thead { tr { th { "N°" } th { "Date" } th { "Utilisateur" } th { "Action" } th { "Partie du dossier" } th { "Patient" } } }
                    @for e in &denied {
                        tr data-denied=(e.seq) {
                            td { (e.seq) } td { (fr::date_time(e.recorded_at)) } td { (who(d, &e.agent.name)) } td { (fr::action(e.action)) }
                            td { (e.entity.section.map(fr::section).unwrap_or("—")) }
                            td { (e.entity.patient.map(|p| p.to_string()).unwrap_or_default()) }
                        }
                    }
                }
                p { small { "Règles : nuit = 22 h - 6 h à Paris ; " (MANY_PATIENTS_PER_HOUR) " dossiers ou plus en une heure ; "
                    (MANY_EXPORTS) " exports de dossiers complets ou plus ; " (REPEATED_DENIALS_PER_DAY) " refus ou plus dans une journée ; "
                    "volume inhabituel = " (MANY_ACCESSES_PER_DAY) " accès ou plus dans une journée et au moins " (VOLUME_FACTOR)
                    " fois le jour médian de l'utilisateur ; hors équipe de soins = accès permis par un bris de glace." } }
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
            *per_day.entry(fr::iso_day(e.recorded_at)).or_default() += 1;
            *per_user.entry(e.agent.name.clone()).or_default() += 1;
        }
        let data = ReportData {
            since,
            until,
            events: &[],
            days: per_day.into_iter().collect(),
            users: per_user.into_iter().collect(),
            found: findings(&events, &bg),
            break_glass: bg,
            staff: self.staff_directory()?,
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
