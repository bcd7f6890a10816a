//! Administrators' queries: by patient and section, user, time, action and outcome, newest first,
//! with pagination that neither skips nor repeats.

mod common;

use common::every_backend;
use common::{PASS, Practice, ctx};
use medvault::{Action, AuditQuery, Clock, ManualClock, Outcome, Section, StoreOptions, Timestamp};
use std::sync::Arc;

every_backend! {
fn queries_filter_and_paginate_newest_first(kind) {
    let clock = Arc::new(ManualClock::new(Timestamp::parse("2026-11-22T08:00:00Z").unwrap()));
    let options = StoreOptions { clock: clock.clone(), ..StoreOptions::insecure_fast_for_tests() };
    let practice = Practice::with(kind, options);
    let p = practice.patient(1);
    let q = practice.patient(2);
    let nurse = practice.session("ines");
    for _ in 0..5 {
        clock.advance_millis(60_000);
        nurse.read_exams(p).unwrap();
        nurse.read_reports(q).unwrap();
    }
    clock.advance_millis(3_600_000);
    let noon = clock.now();
    let claire = practice.store.unlock("claire", PASS, ctx()).unwrap();
    assert!(claire.read_exams(p).is_err());
    let dpo = practice.session("dpo");

    let exams_p =
        dpo.audit_query(&AuditQuery { patient: Some(p), section: Some(Section::Exams), ..Default::default() }).unwrap();
    assert_eq!(exams_p.iter().filter(|e| e.action == Action::Read).count(), 6);
    assert!(exams_p.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    assert!(exams_p.iter().all(|e| e.entity.patient == Some(p) && e.entity.section == Some(Section::Exams)));

    let by_user = dpo
        .audit_query(&AuditQuery { user: Some("ines".into()), action: Some(Action::Read), ..Default::default() })
        .unwrap();
    assert_eq!(by_user.len(), 10);
    let denied = dpo
        .audit_query(&AuditQuery { outcome: Some(Outcome::Denied), action: Some(Action::Read), ..Default::default() })
        .unwrap();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].agent.name, "claire");
    let after_noon = dpo.audit_query(&AuditQuery { since: Some(noon), ..Default::default() }).unwrap();
    assert!(after_noon.iter().all(|e| e.recorded_at >= noon));
    assert!(after_noon.iter().any(|e| e.agent.name == "claire"));
    let before_noon =
        dpo.audit_query(&AuditQuery { until: Some(noon), user: Some("claire".into()), ..Default::default() }).unwrap();
    assert!(before_noon.iter().all(|e| e.recorded_at < noon));

    // Pagination: pages of 3 cover exactly the unpaginated result.
    // (The DPO's own queries are audited too, as events about "ines": page below a fixed point.)
    let horizon = practice.store.audit_size();
    let full = dpo
        .audit_query(&AuditQuery {
            user: Some("ines".into()),
            limit: 1000,
            before_seq: Some(horizon),
            ..Default::default()
        })
        .unwrap();
    let mut paged = Vec::new();
    let mut cursor = Some(horizon);
    loop {
        let page = dpo
            .audit_query(&AuditQuery { user: Some("ines".into()), limit: 3, before_seq: cursor, ..Default::default() })
            .unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some(last.seq);
        paged.extend(page);
    }
    assert_eq!(paged, full);
}
}
