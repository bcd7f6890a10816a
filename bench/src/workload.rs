//! The contenders' common face and the timed runs of W1-W4.

use crate::measure::{Counters, Pick};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

pub type Res<T> = Result<T, String>;

/// One way of keeping the same patient files.
pub trait Contender: Sync {
    /// Its name in the table.
    fn name(&self) -> String;
    /// A worker for one thread (its own session or connection). `relaxed`: the contender's
    /// cheaper durability setting, if it has one that still returns data after its audit record.
    fn worker(&self, id: usize, relaxed: bool) -> Res<Box<dyn Worker + Send + '_>>;
    /// Patients loaded.
    fn patients(&self) -> usize;
    /// Bytes on disk.
    fn disk_bytes(&self) -> u64;
    /// (engine transactions, durable syncs) so far, for a contender that counts them.
    fn commit_stats(&self) -> Option<(u64, u64)> {
        None
    }
}

/// One thread's handle.
pub trait Worker {
    /// An audited read: fetch patient `i`'s reports and record the access.
    fn read(&mut self, i: usize) -> Res<()>;
    /// Append a report to patient `i`.
    fn write(&mut self, i: usize, report: &str) -> Res<()>;
}

/// Which operation a workload repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
}

/// One workload: what, how many threads, which durability.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    pub label: &'static str,
    pub what: &'static str,
    pub op: Op,
    pub threads: usize,
    pub relaxed: bool,
}

pub const W1: Workload =
    Workload { label: "W1", what: "audited read, durable, 1 thread", op: Op::Read, threads: 1, relaxed: false };
pub const W2: Workload =
    Workload { label: "W2", what: "audited read, durable, 8 threads", op: Op::Read, threads: 8, relaxed: false };
pub const W3: Workload =
    Workload { label: "W3", what: "audited read, relaxed, 8 threads", op: Op::Read, threads: 8, relaxed: true };
pub const W4: Workload = Workload {
    label: "W4",
    what: "append a 4 KiB report, durable, 8 threads",
    op: Op::Write,
    threads: 8,
    relaxed: false,
};

/// What one timed run measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub ops_per_s: f64,
    /// CPU microseconds per operation (all threads of the process).
    pub cpu_us: f64,
    /// Bytes sent to storage per operation.
    pub bytes: f64,
    /// Operations per durable sync, for a contender that counts its syncs.
    pub ops_per_sync: Option<f64>,
}

/// Runs `w` against `c` for `seconds`, `runs` times; returns the run with the median rate.
pub fn measure(c: &dyn Contender, w: Workload, seconds: f64, runs: usize, report: &str) -> Res<Sample> {
    let mut samples = Vec::new();
    for run in 0..runs.max(1) {
        samples.push(once(c, w, seconds, report, run as u64)?);
    }
    samples.sort_by(|a, b| a.ops_per_s.total_cmp(&b.ops_per_s));
    Ok(samples[samples.len() / 2])
}

fn once(c: &dyn Contender, w: Workload, seconds: f64, report: &str, run: u64) -> Res<Sample> {
    let mut workers = Vec::new();
    for id in 0..w.threads {
        workers.push(c.worker(id, w.relaxed)?);
    }
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let failed: parking_lot::Mutex<Option<String>> = parking_lot::Mutex::new(None);
    let n = c.patients();
    let stats_before = c.commit_stats();
    let start = Counters::now();
    std::thread::scope(|s| {
        for (id, mut worker) in workers.into_iter().enumerate() {
            let (stop, done, failed) = (&stop, &done, &failed);
            s.spawn(move || {
                let mut pick = Pick::new(run * 1000 + id as u64 + 1);
                let mut mine = 0;
                while !stop.load(Ordering::Relaxed) {
                    let i = pick.below(n);
                    let r = match w.op {
                        Op::Read => worker.read(i),
                        Op::Write => worker.write(i, report),
                    };
                    if let Err(e) = r {
                        *failed.lock() = Some(e);
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                    mine += 1;
                }
                done.fetch_add(mine, Ordering::Relaxed);
            });
        }
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
    });
    let spent = start.since();
    if let Some(e) = failed.into_inner() {
        return Err(format!("{} {}: {e}", c.name(), w.label));
    }
    let ops = done.load(Ordering::Relaxed).max(1);
    let ops_per_sync = match (stats_before, c.commit_stats()) {
        (Some((_, s0)), Some((_, s1))) if s1 > s0 => Some(ops as f64 / (s1 - s0) as f64),
        _ => None,
    };
    Ok(Sample {
        ops_per_sync,
        ops_per_s: ops as f64 / spent.wall.as_secs_f64(),
        cpu_us: spent.cpu_seconds * 1e6 / ops as f64,
        bytes: spent.written as f64 / ops as f64,
    })
}
