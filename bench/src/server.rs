//! The PostgreSQL column: W1, W2, W4 and W6 on one server, medvault (its PostgreSQL backend)
//! beside plain PostgreSQL with an audit table, loaded with the same patients.

use crate::measure::{quantile, thousands};
use crate::mv::{self, Place};
use crate::pg::{self, PlainPg, Schema};
use crate::workload::{self, Contender, Res, W1, W2, W4};
use crate::{Args, ms, plaintext};
use medvault::{Engine, KdfParams, StoreLocation};

/// The server the column runs on: `--postgres`, else `MEDVAULT_TEST_POSTGRES`, else the local
/// server of the CI machines.
pub fn server_url(a: &Args) -> String {
    a.postgres
        .clone()
        .or_else(|| std::env::var("MEDVAULT_TEST_POSTGRES").ok())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".to_string())
}

/// Runs the column, or says why it is skipped (no server reachable, not asked for, not CI).
pub fn column(a: &Args, kdf: KdfParams, body: &str) -> Res<()> {
    if a.no_postgres {
        return Ok(());
    }
    let base = server_url(a);
    let version = match pg::version(&base) {
        Ok(v) => v,
        Err(err) if a.postgres.is_none() && std::env::var("CI").as_deref() != Ok("true") => {
            println!("## PostgreSQL\n\nskipped: no server reachable ({err}); pass --postgres URL\n");
            return Ok(());
        }
        Err(err) => return Err(err),
    };
    let plain_bytes = plaintext(a.patients, a.report_bytes);

    eprintln!("loading medvault (postgresql)...");
    let place = Place::Server(Schema::new(&base, "medvault"));
    let (m, m_load) = mv::Medvault::load_at(place, Engine::Redb, kdf, a.patients, Some(body), 8)?;
    let m_disk = m.disk_bytes();
    let mut m_samples = Vec::new();
    for w in [W1, W2, W4] {
        eprintln!("{} {}...", w.label, m.name());
        m_samples.push(workload::measure(&m, w, a.seconds, a.runs, body)?);
    }
    drop(m);

    eprintln!("loading PostgreSQL + audit table...");
    let ident = |i: usize| {
        let id = mv::identity(i);
        (id.ins_matricule.clone().unwrap_or_default(), serde_json::to_string(&id).unwrap_or_default())
    };
    let t = std::time::Instant::now();
    let plain = PlainPg::load(&base, a.patients, &ident, body)?;
    let p_load = t.elapsed();
    let p_disk = plain.disk_bytes();
    let mut p_samples = Vec::new();
    for w in [W1, W2, W4] {
        eprintln!("{} {}...", w.label, plain.name());
        p_samples.push(workload::measure(&plain, w, a.seconds, a.runs, body)?);
    }

    let events = a.pg_events.unwrap_or(a.w6_events);
    let patients = (events / 100).max(10) as usize;
    eprintln!("filling a log of {events} events on the server (W6), medvault...");
    let schema = Schema::new(&base, "history");
    let h = crate::history::History::build(&StoreLocation::Server(schema.store_url()), kdf, events, patients)?;
    let (mut m_w6, m_found) = h.patient_history(200)?;
    let m_fill = h.fill.as_ref().map_or(std::time::Duration::ZERO, |f| f.wall);
    drop(h);
    drop(schema);
    eprintln!("... and PostgreSQL + audit table");
    let p_fill = plain.fill_history(events, patients)?;
    let (mut p_w6, p_found) = plain.patient_history(200, patients)?;
    drop(plain);

    println!("## PostgreSQL {version} (server backend), {} patients\n", thousands(a.patients as u64));
    println!(
        "Both contenders on the same server, one after the other: medvault through its public API on a `postgres://` store, and plain PostgreSQL with an audit table written in the same transaction as each access (synchronous_commit on). Median of {} runs of {} s.\n",
        a.runs, a.seconds
    );
    println!(
        "| measure | medvault (postgresql) | PostgreSQL + audit table | medvault / PostgreSQL |\n|---|---|---|---|"
    );
    for ((w, m), p) in [W1, W2, W4].iter().zip(&m_samples).zip(&p_samples) {
        println!(
            "| {} {} | {:.0} ops/s ({:.0} us client CPU/op) | {:.0} ops/s ({:.0} us) | {:.2} |",
            w.label,
            w.what,
            m.ops_per_s,
            m.cpu_us,
            p.ops_per_s,
            p.cpu_us,
            m.ops_per_s / p.ops_per_s.max(f64::MIN_POSITIVE)
        );
    }
    let (m50, m99, p50, p99) =
        (quantile(&mut m_w6, 0.5), quantile(&mut m_w6, 0.99), quantile(&mut p_w6, 0.5), quantile(&mut p_w6, 0.99));
    println!(
        "| W6 one patient's history in a log of {} events ({:.0} / {:.0} events each), audited, p50 / p99 | {} / {} | {} / {} | p99 {:.2} |",
        thousands(events),
        m_found as f64 / 200.0,
        p_found as f64 / 200.0,
        ms(m50),
        ms(m99),
        ms(p50),
        ms(p99),
        p99.as_secs_f64() / m99.as_secs_f64().max(f64::MIN_POSITIVE)
    );
    println!(
        "| load of the patients | {:.1} s (8 sessions) | {:.1} s (COPY-like batches) | |",
        m_load.wall.as_secs_f64(),
        p_load.as_secs_f64()
    );
    println!(
        "| W6 log fill | {:.1} s (through the log's own append) | {:.1} s (one INSERT ... SELECT) | |",
        m_fill.as_secs_f64(),
        p_fill.as_secs_f64()
    );
    println!(
        "| server bytes (tables, indexes, TOAST) / plaintext | {:.2}x | {:.2}x | |\n",
        m_disk as f64 / plain_bytes.max(1) as f64,
        p_disk as f64 / plain_bytes.max(1) as f64
    );
    println!(
        "(The W6 ratio is PostgreSQL's p99 over medvault's: above 1, medvault is faster. Client CPU is the benchmark process's; the server's CPU and writes are not counted.)\n"
    );
    Ok(())
}
