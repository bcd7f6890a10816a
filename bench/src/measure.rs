//! What a run costs the process: wall time, CPU time, bytes sent to storage, peak memory.
//! Read from `/proc/self` so the figures are the kernel's, not the benchmark's own estimates.

use std::path::Path;
use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/self/stat` (`getconf CLK_TCK`; 100 on Linux/x86_64).
const TICKS_PER_SECOND: f64 = 100.0;

/// A reading of the process's counters.
#[derive(Clone, Copy, Debug)]
pub struct Counters {
    at: Instant,
    cpu_ticks: u64,
    write_bytes: u64,
}

impl Counters {
    /// Reads them now.
    pub fn now() -> Counters {
        Counters { at: Instant::now(), cpu_ticks: cpu_ticks(), write_bytes: io_field("write_bytes") }
    }

    /// What happened since `self`.
    pub fn since(&self) -> Spent {
        let now = Counters::now();
        Spent {
            wall: now.at - self.at,
            cpu_seconds: now.cpu_ticks.saturating_sub(self.cpu_ticks) as f64 / TICKS_PER_SECOND,
            written: now.write_bytes.saturating_sub(self.write_bytes),
        }
    }
}

/// Wall time, CPU time (all threads, user + system) and bytes the process sent to storage.
#[derive(Clone, Copy, Debug)]
pub struct Spent {
    pub wall: Duration,
    pub cpu_seconds: f64,
    pub written: u64,
}

/// utime + stime of the whole process, in ticks.
fn cpu_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0 };
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the line are utime and stime: 11 and 12 after "state" (field 3).
    let get = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

/// A field of `/proc/self/io` (bytes).
fn io_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim_start_matches(':').trim().parse().ok()))
        })
        .unwrap_or(0)
}

/// Peak resident set size of the process so far (`VmHWM`), in bytes.
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmHWM:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .map_or(0, |kib| kib * 1024)
}

/// Starts a new peak: the next [`peak_rss`] is the peak from now on (Linux: writing 5 to
/// `/proc/self/clear_refs` resets `VmHWM` to the current resident size). Returns whether it did.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Total size of the files under `dir` (allocated blocks are what the disk holds; sparse
/// preallocation would flatter the apparent size, so both are taken and the larger kept).
pub fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    for e in entries.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            total += disk_bytes(&e.path());
        } else {
            total += m.len().max(m.blocks() * 512);
        }
    }
    total
}

/// The value at quantile `q` (0..=1) of `samples` (sorted in place).
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    let i = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[i.min(samples.len() - 1)]
}

/// A small, fast, seeded generator for picking patients (not for anything secret).
pub struct Pick(u64);

impl Pick {
    pub fn new(seed: u64) -> Pick {
        Pick(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn below(&mut self, n: usize) -> usize {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

/// A human figure: 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
