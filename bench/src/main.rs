//! medvault against what a practice would build instead, in one run, on the same data and
//! the same durability: SQLCipher with an audit table, and the bare engines as a floor.
//! Prints markdown tables (BENCHMARKS.md holds a full run and how to read it).
//!
//! `cargo run --release -p medvault-bench -- --help`

mod group;
mod history;
mod measure;
mod mv;
mod pg;
mod raw;
mod server;
mod sqlcipher;
mod unlock;
mod workload;

use clap::Parser;
use measure::{disk_bytes, peak_rss, quantile, thousands};
use medvault::{Engine, KdfParams};
use std::path::PathBuf;
use std::time::Duration;
use workload::{Contender, Res, Sample, W1, W2, W3, W4};

#[derive(Parser)]
#[command(about = "medvault side by side with SQLCipher and the raw engines")]
pub struct Args {
    /// Patients of W1-W4 and W8/W10 (one 4 KiB report each).
    #[arg(long, default_value_t = 50_000)]
    pub patients: usize,
    /// Seconds per timed run.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Runs per workload and contender (the median is kept).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Patients of W5 (find by INS) and of the peak-RSS reading.
    #[arg(long, default_value_t = 1_000_000)]
    pub w5_patients: usize,
    /// Events in the log of W6/W7.
    #[arg(long, default_value_t = 10_000_000)]
    pub w6_events: u64,
    /// Report size in bytes.
    #[arg(long, default_value_t = 4096)]
    pub report_bytes: usize,
    /// Also run medvault on sled.
    #[arg(long)]
    pub with_sled: bool,
    /// Tiny sizes for CI (no figure means anything at this size).
    #[arg(long)]
    pub tiny: bool,
    /// The PostgreSQL server of the server column (default: `MEDVAULT_TEST_POSTGRES`, else
    /// postgres://postgres@127.0.0.1:5432/test). Without one reachable the column is skipped,
    /// unless this is given or `CI=true`.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Leave out the PostgreSQL column.
    #[arg(long)]
    pub no_postgres: bool,
    /// Run the PostgreSQL column alone.
    #[arg(long, conflicts_with = "no_postgres")]
    pub postgres_only: bool,
    /// Events in the server column's W6 log (default: as W6).
    #[arg(long)]
    pub pg_events: Option<u64>,
    /// Only medvault's W1-W4 (and W8) at `--patients`, nothing else: for profiling one path
    /// (`perf record -p`, `strace -c -p`) without the other contenders in the way.
    #[arg(long, conflicts_with = "postgres_only")]
    pub medvault_only: bool,
    /// Only W6 and W7 on the log of `--w6-events` events: for profiling and side-by-side
    /// comparisons of the history path. With `--dir`, a log an earlier run left there is
    /// reopened instead of filled again (its patients are read back from its newest events).
    #[arg(long, conflicts_with_all = ["postgres_only", "medvault_only"])]
    pub history_only: bool,
    /// Where to build the stores (default: a temporary folder, removed at the end).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn body(len: usize) -> String {
    let phrase = "Patient revu en consultation. Examen clinique sans particularité. Poursuite du traitement. ";
    phrase.chars().cycle().take(len).collect()
}

/// Plaintext of patient `i`: their identity (as JSON) and `reports` report bodies.
pub fn plaintext(patients: usize, report: usize) -> u64 {
    (0..patients).map(|i| serde_json::to_string(&mv::identity(i)).map_or(0, |s| s.len()) as u64 + report as u64).sum()
}

fn main() {
    let mut a = Args::parse();
    if a.tiny {
        (a.patients, a.seconds, a.runs, a.w5_patients, a.w6_events) = (200, 0.3, 1, 500, 5_000);
        a.pg_events = a.pg_events.map(|n| n.min(5_000));
    }
    mv::prepare_identities(a.patients.max(a.w5_patients));
    if let Err(e) = run(&a) {
        eprintln!("benchmark failed: {e}");
        std::process::exit(1);
    }
}

fn run(a: &Args) -> Res<()> {
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = a.dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let kdf = KdfParams::RECOMMENDED;
    let body = body(a.report_bytes);
    println!("# medvault benchmark\n");
    if a.postgres_only {
        return server::column(a, kdf, &body);
    }
    if a.medvault_only {
        return medvault_alone(a, &root, kdf, &body);
    }
    if a.history_only {
        let dir = root.join("w6-medvault");
        measure::reset_peak_rss();
        let h = if dir.exists() {
            eprintln!("reopening the log in {}...", dir.display());
            history::History::reopen(&dir)?
        } else {
            eprintln!("filling a log of {} events (W6, W7)...", a.w6_events);
            history::History::build(
                &medvault::StoreLocation::Folder(dir),
                kdf,
                a.w6_events,
                (a.w6_events / 100).max(10) as usize,
            )?
        };
        return print_history(&h, kdf);
    }
    println!(
        "patients {} (one {} B report each), {} s x {} runs (median), W5 {} patients, W6/W7 {} events; kdf Argon2id m={} KiB t={} p={}\n",
        thousands(a.patients as u64),
        a.report_bytes,
        a.seconds,
        a.runs,
        thousands(a.w5_patients as u64),
        thousands(a.w6_events),
        kdf.m_kib,
        kdf.t,
        kdf.p
    );

    // Large population first, so that the peak RSS is medvault's at that size.
    eprintln!("loading {} patients (W5, W9, RSS)...", a.w5_patients);
    let (big, big_load) = mv::Medvault::load(&root.join("w5-medvault"), Engine::Redb, kdf, a.w5_patients, None)?;
    let mut w5 = big.find_by_ins(1000.min(a.w5_patients * 2))?;
    let rss = peak_rss();
    // W9: the load was one session of `USER`, so its first unlock now has the whole load
    // behind it; the unlocks after that have none.
    let argon = unlock::Argon2Alone::new(kdf)?;
    let mut w9_history = unlock::Series::default();
    w9_history.sample(&argon, || unlock::timed(&big.store, mv::USER))?;
    let mut w9_none = unlock::Series::default();
    for _ in 0..9 {
        w9_none.sample(&argon, || unlock::timed(&big.store, mv::USER))?;
    }
    let big_disk = disk_bytes(&root.join("w5-medvault"));
    let big = big.reopen()?;
    let big_rest = disk_bytes(&root.join("w5-medvault"));
    let big_plain = plaintext(a.w5_patients, 0);
    let big_breakdown = big.breakdown()?;
    drop(big);
    eprintln!("SQLCipher with the same {} patients...", a.w5_patients);
    let ident = |i: usize| {
        let id = mv::identity(i);
        (id.ins_matricule.clone().unwrap_or_default(), serde_json::to_string(&id).unwrap_or_default())
    };
    let sc_big = sqlcipher::SqlCipher::load(&root.join("w5-sqlcipher"), a.w5_patients, &ident, "", false)?;
    let mut w5_sql = sc_big.find_by_ins(&|i| mv::identity(i).ins_matricule.clone().unwrap_or_default(), 1000)?;
    drop(sc_big);

    println!("## Population of {} patients (identity only)\n", thousands(a.w5_patients as u64));
    println!("| measure | medvault (redb) | SQLCipher FULL | target |\n|---|---|---|---|");
    println!(
        "| W5 find by INS, audited, p50 / p99 | {} / {} | {} / {} | p99 <= 1 ms |",
        ms(quantile(&mut w5, 0.5)),
        ms(quantile(&mut w5, 0.99)),
        ms(quantile(&mut w5_sql, 0.5)),
        ms(quantile(&mut w5_sql, 0.99)),
    );
    println!(
        "| load (create_patient, buffered, one flush) | {:.0} patients/s | | |",
        a.w5_patients as f64 / big_load.wall.as_secs_f64()
    );
    println!(
        "| disk / plaintext, open, after the load | {:.2}x | | <= 1.5x |",
        big_disk as f64 / big_plain.max(1) as f64
    );
    println!(
        "| disk / plaintext, closed and reopened | {:.2}x | | <= 1.5x |",
        big_rest as f64 / big_plain.max(1) as f64
    );
    println!("| peak RSS of the process | {} MiB | | <= 512 MiB |", rss / (1024 * 1024));
    println!(
        "| W9 first unlock of the user after their {} events of the load | {} | | within 10% |",
        thousands(a.w5_patients as u64),
        w9_history.describe()
    );
    println!("| W9 unlock of the same user again (no history) | {} | | within 10% |\n", w9_none.describe());
    print_breakdown(&big_breakdown, big_plain);

    eprintln!("filling a log of {} events (W6, W7)...", a.w6_events);
    // The log's peaks are its own, not those of the populations before it.
    measure::reset_peak_rss();
    let h = history::History::build(
        &medvault::StoreLocation::Folder(root.join("w6-medvault")),
        kdf,
        a.w6_events,
        (a.w6_events / 100).max(10) as usize,
    )?;
    print_history(&h, kdf)?;
    drop(h);

    core(a, &root, kdf, &body)?;
    server::column(a, kdf, &body)
}

/// W6 and W7 on a log (and how it was filled, and W9 on its users, if this run filled it).
fn print_history(h: &history::History, kdf: KdfParams) -> Res<()> {
    // Peak resident size per phase, where the kernel lets the peak be reset (the caller reset
    // it before filling or reopening the log).
    let fill_rss = peak_rss();
    let resets = measure::reset_peak_rss();
    let (mut w6, found) = h.patient_history(200)?;
    let w6_rss = peak_rss();
    measure::reset_peak_rss();
    let (checked, took) = h.verify()?;
    let w7_rss = peak_rss();
    let w9 = match h.fill {
        Some(_) => Some(h.first_unlocks(&unlock::Argon2Alone::new(kdf)?)?),
        None => None,
    };
    println!("## Log of {} events\n", thousands(h.events));
    println!("| measure | medvault (redb) | target |\n|---|---|---|");
    if let Some(fill) = &h.fill {
        println!(
            "| fill through the log's own append (5,000 events a group) | {:.0} events/s, {:.0} B written/event | |",
            h.events as f64 / fill.wall.as_secs_f64(),
            fill.written as f64 / h.events.max(1) as f64
        );
    }
    println!(
        "| W6 one patient's history ({:.0} events on average), p50 / p99 | {} / {} | p99 <= 5 ms |",
        found as f64 / 200.0,
        ms(quantile(&mut w6, 0.5)),
        ms(quantile(&mut w6, 0.99))
    );
    println!(
        "| W7 full verification | {:.0} events/s ({checked} in {}) | >= 300,000/s |",
        checked as f64 / took.as_secs_f64(),
        ms(took)
    );
    if let Some(w9) = w9 {
        println!(
            "| W9 first unlock of {} users, each with {} of their own events in this log since their last unlock | {} | within 10% |",
            w9.unlocks.len(),
            thousands(h.events / history::AGENTS),
            w9.describe()
        );
    }
    let mib = |b: u64| b / (1024 * 1024);
    if resets {
        println!(
            "| peak RSS during the fill (or the reopening) / during W6 / during W7 | {} / {} / {} MiB | |\n",
            mib(fill_rss),
            mib(w6_rss),
            mib(w7_rss)
        );
    } else {
        println!("| peak RSS of the process so far | {} MiB | |\n", mib(peak_rss().max(fill_rss)));
    }
    Ok(())
}

/// medvault's W1-W4 alone, one line per workload (`--medvault-only`).
fn medvault_alone(a: &Args, root: &std::path::Path, kdf: KdfParams, body: &str) -> Res<()> {
    eprintln!("loading medvault (redb), pid {}...", std::process::id());
    let (m, spent) = mv::Medvault::load(&root.join("alone-medvault"), Engine::Redb, kdf, a.patients, Some(body))?;
    println!(
        "load {:.1} s, disk / plaintext {:.2}x\n",
        spent.wall.as_secs_f64(),
        m.disk_bytes() as f64 / plaintext(a.patients, a.report_bytes) as f64
    );
    println!("| workload | ops/s | CPU us/op | KB written/op | ops per durable sync |\n|---|---|---|---|---|");
    for w in [W1, W2, W3, W4] {
        eprintln!("{} starts", w.label);
        let s = workload::measure(&m, w, a.seconds, a.runs, body)?;
        println!(
            "| {} {} | {:.0} | {:.0} | {:.1} | {} |",
            w.label,
            w.what,
            s.ops_per_s,
            s.cpu_us,
            s.bytes / 1000.0,
            per_sync(&s)
        );
    }
    Ok(())
}

/// Operations per durable sync, or "-" for a contender that does not count them.
fn per_sync(s: &Sample) -> String {
    s.ops_per_sync.map_or_else(|| "-".to_string(), |n| format!("{n:.1}"))
}

/// Where medvault's bytes go: logical key + value bytes by keyspace.
fn print_breakdown(breakdown: &[(medvault::backend::Space, u64, u64, u64)], plain: u64) {
    let logical: u64 = breakdown.iter().map(|(_, _, k, v)| k + v).sum();
    println!(
        "Where medvault's bytes go after the load (logical key + value bytes by keyspace, before the engine lays them out in pages):\n"
    );
    println!("| keyspace | rows | key bytes | value bytes | / plaintext |\n|---|---|---|---|---|");
    for (space, rows, k, v) in breakdown {
        println!(
            "| {space:?} | {} | {} | {} | {:.3}x |",
            thousands(*rows),
            thousands(*k),
            thousands(*v),
            (k + v) as f64 / plain.max(1) as f64
        );
    }
    println!("| all | | | {} | {:.2}x |\n", thousands(logical), logical as f64 / plain.max(1) as f64);
}

/// One contender's W1-W4 and disk bytes, measured while it is the only store open.
struct Measured {
    name: String,
    load: measure::Spent,
    disk: u64,
    rest: u64,
    samples: Vec<Sample>,
}

/// `disk` is taken right after loading, store open: what the plaintext of the load takes;
/// `rest` after closing and opening it again, before W1.
fn measured(c: &dyn Contender, load: measure::Spent, (disk, rest): (u64, u64), a: &Args, body: &str) -> Res<Measured> {
    let mut samples = Vec::new();
    for w in [W1, W2, W3, W4] {
        eprintln!("{} {}...", w.label, c.name());
        samples.push(workload::measure(c, w, a.seconds, a.runs, body)?);
    }
    Ok(Measured { name: c.name(), load, disk, rest, samples })
}

/// W1-W4, W8, W10 on the same patients in every contender. Contenders are loaded, measured and
/// closed one after the other: an engine's background threads (sled flushes and compacts its log
/// for seconds after a load) would otherwise run, and be counted, during another's runs.
fn core(a: &Args, root: &std::path::Path, kdf: KdfParams, body: &str) -> Res<()> {
    let plain = plaintext(a.patients, a.report_bytes);
    let mut engines = vec![Engine::Redb];
    if a.with_sled {
        engines.push(Engine::Sled);
    }
    let mut all = Vec::new();
    let mut w8 = Vec::new();
    let mut breakdown = Vec::new();
    for engine in engines {
        eprintln!("loading medvault ({engine})...");
        let (m, spent) =
            mv::Medvault::load(&root.join(format!("core-medvault-{engine}")), engine, kdf, a.patients, Some(body))?;
        let disk = m.disk_bytes();
        let m = m.reopen()?;
        let rest = m.disk_bytes();
        if engine == Engine::Redb {
            breakdown = m.breakdown()?;
        }
        all.push(measured(&m, spent, (disk, rest), a, body)?);
        if engine == Engine::Redb {
            w8 = m.export(200, body, 5)?;
        }
    }
    eprintln!("loading SQLCipher...");
    let ident = |i: usize| {
        let id = mv::identity(i);
        (id.ins_matricule.clone().unwrap_or_default(), serde_json::to_string(&id).unwrap_or_default())
    };
    let start = measure::Counters::now();
    let sc = sqlcipher::SqlCipher::load(&root.join("core-sqlcipher"), a.patients, &ident, body, true)?;
    let spent = start.since();
    // Every connection is closed after the load (its WAL checkpointed and truncated): at rest.
    let disk = sc.disk_bytes();
    all.push(measured(&sc, spent, (disk, disk), a, body)?);
    drop(sc);
    for engine in [raw::RawEngine::Redb, raw::RawEngine::Sled] {
        eprintln!("loading raw {engine:?}...");
        let start = measure::Counters::now();
        let r = raw::Raw::load(engine, &root.join(format!("core-raw-{engine:?}")), a.patients, body)?;
        let spent = start.since();
        let disk = r.disk_bytes();
        let r = r.reopen()?;
        let rest = r.disk_bytes();
        all.push(measured(&r, spent, (disk, rest), a, body)?);
    }

    println!("## {} patients, one {} B report each\n", thousands(a.patients as u64), a.report_bytes);
    println!("### Loading and size on disk (W10)\n");
    println!(
        "| contender | load | written / plaintext | disk / plaintext, open, after the load | disk / plaintext, closed and reopened |\n|---|---|---|---|---|"
    );
    for m in &all {
        println!(
            "| {} | {:.1} s | {:.2}x | {:.2}x | {:.2}x |",
            m.name,
            m.load.wall.as_secs_f64(),
            m.load.written as f64 / plain as f64,
            m.disk as f64 / plain as f64,
            m.rest as f64 / plain as f64
        );
    }
    println!();
    print_breakdown(&breakdown, plain);

    let results: Vec<(workload::Workload, Vec<Sample>)> = [W1, W2, W3, W4]
        .into_iter()
        .enumerate()
        .map(|(i, w)| (w, all.iter().map(|m| m.samples[i]).collect()))
        .collect();
    let names: Vec<String> = all.iter().map(|m| m.name.clone()).collect();
    let sql = names.iter().position(|n| n.starts_with("SQLCipher")).unwrap_or(0);
    let floor = names.iter().position(|n| n.starts_with("raw redb")).unwrap_or(0);
    println!("### Operations per second (median of {} runs of {} s)\n", a.runs, a.seconds);
    println!(
        "| workload | {} | medvault / SQLCipher | medvault / raw redb |\n|---|{}---|---|",
        names.join(" | "),
        "---|".repeat(names.len())
    );
    for (w, row) in &results {
        let cells: Vec<String> = row.iter().map(|s| format!("{:.0}", s.ops_per_s)).collect();
        println!(
            "| {} {} | {} | {:.2} | {:.2} |",
            w.label,
            w.what,
            cells.join(" | "),
            row[0].ops_per_s / row[sql].ops_per_s,
            row[0].ops_per_s / row[floor].ops_per_s
        );
    }
    println!(
        "\n(SQLCipher runs W3 with synchronous=NORMAL, the raw engines without a sync; medvault's reads stay durable: no data leaves before its audit event is on disk.)\n"
    );
    println!("### Cost per operation (CPU microseconds, all threads / bytes sent to storage)\n");
    println!("| workload | {} |\n|---|{}", names.join(" | "), "---|".repeat(names.len()));
    for (w, row) in &results {
        let cells: Vec<String> =
            row.iter().map(|s| format!("{:.0} us / {:.1} KB", s.cpu_us, s.bytes / 1000.0)).collect();
        println!("| {} | {} |", w.label, cells.join(" | "));
    }
    let groups: Vec<String> = results.iter().map(|(w, row)| format!("{} {}", w.label, per_sync(&row[0]))).collect();
    println!("\nOperations sharing one durable sync (one group commit) in medvault: {}.\n", groups.join(", "));

    // W8 on medvault's store (redb), measured after its W1-W4.
    println!("### W8 export of a patient with 200 reports\n\np50 {} (target <= 50 ms)\n", ms(quantile(&mut w8, 0.5)));
    Ok(())
}
