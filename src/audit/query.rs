//! Administrators' queries, newest first, served from the indexes written with each event.

use super::event::{Action, AuditEvent, Outcome};
use super::log::{patient_index_key, time_index_prefix, user_index_prefix};
use crate::error::Result;
use crate::model::{PatientId, Section, Timestamp};
use crate::storage::{Backend, Order, Space, prefix_end};

/// A filter over the audit log. Empty filter: every event.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Only events about this patient.
    pub patient: Option<PatientId>,
    /// Only events about this section.
    pub section: Option<Section>,
    /// Only events by, or about, this user name.
    pub user: Option<String>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
    /// Only this action.
    pub action: Option<Action>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
    /// Only events with a sequence number below this (pagination cursor).
    pub before_seq: Option<u64>,
    /// At most this many events (0: 100).
    pub limit: usize,
}

impl AuditQuery {
    fn matches(&self, e: &AuditEvent) -> bool {
        self.patient.is_none_or(|p| e.entity.patient == Some(p))
            && self.section.is_none_or(|s| e.entity.section == Some(s))
            && self.user.as_ref().is_none_or(|u| &e.agent.name == u || e.entity.target_user.as_ref() == Some(u))
            && self.since.is_none_or(|t| e.recorded_at >= t)
            && self.until.is_none_or(|t| e.recorded_at < t)
            && self.action.is_none_or(|a| e.action == a)
            && self.outcome.is_none_or(|o| e.outcome == o)
            && self.before_seq.is_none_or(|b| e.seq < b)
    }

    /// Every matching event, oldest first (`limit` and `before_seq` are ignored).
    pub fn run_all(&self, backend: &dyn Backend) -> Result<Vec<AuditEvent>> {
        let mut out = Vec::new();
        let mut page_query = AuditQuery { limit: 1000, before_seq: None, ..self.clone() };
        loop {
            let page = page_query.run(backend)?;
            let Some(last) = page.last() else { break };
            page_query.before_seq = Some(last.seq);
            out.extend(page);
        }
        out.reverse();
        Ok(out)
    }

    /// Runs the query: newest first, at most `limit` events.
    pub fn run(&self, backend: &dyn Backend) -> Result<Vec<AuditEvent>> {
        let limit = if self.limit == 0 { 100 } else { self.limit };
        let before = self.before_seq.unwrap_or(u64::MAX);
        // Pick the narrowest index; its key ends with the 8-byte sequence number.
        let (space, lo, hi): (Space, Vec<u8>, Option<Vec<u8>>) = if let Some(p) = self.patient {
            (Space::AuditByPatient, p.0.to_vec(), Some(patient_index_key(p, before)))
        } else if let Some(u) = &self.user {
            let pre = user_index_prefix(u);
            (Space::AuditByUser, pre.to_vec(), Some(crate::layout::audit_by_user(u, before)))
        } else if self.since.is_some() || self.until.is_some() {
            let lo = self.since.map(|t| time_index_prefix(t).to_vec()).unwrap_or_default();
            let hi = self.until.map(|t| time_index_prefix(t).to_vec());
            (Space::AuditByTime, lo, hi)
        } else {
            (Space::AuditEvents, Vec::new(), Some(before.to_be_bytes().to_vec()))
        };
        let hi = hi.or_else(|| prefix_end(&lo));
        let mut out = Vec::new();
        let mut upper = hi;
        loop {
            let page = backend.range(space, &lo, upper.as_deref(), Order::Descending, 512)?;
            let Some(last) = page.last() else { break };
            upper = Some(last.0.clone());
            if space == Space::AuditEvents {
                for (_, v) in &page {
                    let ev = AuditEvent::decode(v)?;
                    if self.matches(&ev) {
                        out.push(ev);
                        if out.len() >= limit {
                            return Ok(out);
                        }
                    }
                }
            } else {
                // The index names the events; they are read a slice at a time (one round trip
                // each on a server), no more than the limit still needs.
                let mut rest = &page[..];
                while !rest.is_empty() {
                    let (slice, after) = rest.split_at(rest.len().min((limit - out.len()).max(16)));
                    rest = after;
                    let seqs: Vec<&[u8]> = slice.iter().map(|(k, _)| &k[k.len().saturating_sub(8)..]).collect();
                    for bytes in backend.get_many(Space::AuditEvents, &seqs)?.into_iter().flatten() {
                        // (A missing payload was pruned.)
                        let ev = AuditEvent::decode(&bytes)?;
                        if self.matches(&ev) {
                            out.push(ev);
                            if out.len() >= limit {
                                return Ok(out);
                            }
                        }
                    }
                }
            }
            if page.len() < 512 {
                break;
            }
        }
        Ok(out)
    }
}
