//! A 1 GiB attachment through a real redb store folder: written and read as streams, then the
//! store backed up to a file and restored from it, with the process's heap measured at each
//! step (a counting allocator) and its peak resident set reported.
//! `MEDVAULT_ATTACHMENT_MIB` changes the size (default 1024).

mod common;

use common::{PASS, Practice, ctx};
use medvault::{Date, Engine, Section};
use sha2::{Digest, Sha256};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live heap bytes and their peak.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// A deterministic byte stream (xorshift), hashed as it is produced.
struct Source {
    left: u64,
    state: u64,
    hash: Sha256,
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for b in &mut buf[..n] {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = self.state as u8;
        }
        self.hash.update(&buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

/// Hashes what it is given.
struct Sink(Sha256, u64);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        self.1 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

const MIB: usize = 1024 * 1024;

#[test]
fn a_one_gib_attachment_round_trips_in_bounded_memory() {
    let mib: u64 = std::env::var("MEDVAULT_ATTACHMENT_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let size = mib * MIB as u64;
    let dir = tempfile::tempdir().unwrap();
    let practice = Practice::in_dir(&dir.path().join("store"), Engine::Redb);
    let p = practice.patient(7);
    let doc = practice.store.unlock("dr_martin", PASS, ctx()).unwrap();
    let entry = doc
        .append_report(p, medvault::synthetic::Synth::new(8).report("Dr Martin", Date::parse("2026-11-03").unwrap()))
        .unwrap();

    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut source = Source { left: size, state: 0x9E37_79B9_7F4A_7C15, hash: Sha256::new() };
    let started = std::time::Instant::now();
    let id = doc.attach(p, Section::Reports, entry, "irm-genou.dcm", "application/dicom", &mut source).unwrap();
    let write_s = started.elapsed().as_secs_f64();
    let write_peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let written = source.hash.finalize();

    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut sink = Sink(Sha256::new(), 0);
    let started = std::time::Instant::now();
    let info = doc.read_attachment(p, Section::Reports, entry, id, &mut sink).unwrap();
    let read_s = started.elapsed().as_secs_f64();
    let read_peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);

    assert_eq!(sink.1, size);
    assert_eq!(info.size, size);
    assert_eq!(sink.0.finalize(), written, "the content read back is the content written");
    let disk: u64 = walk(dir.path());
    println!(
        "attachment of {mib} MiB on redb: written in {write_s:.1} s ({:.0} MiB/s), read in {read_s:.1} s ({:.0} MiB/s); \
         heap above the start: peak {:.1} MiB writing, {:.1} MiB reading; process peak RSS {:.1} MiB; store on disk {:.0} MiB",
        mib as f64 / write_s,
        mib as f64 / read_s,
        write_peak as f64 / MIB as f64,
        read_peak as f64 / MIB as f64,
        vm_hwm_kib() as f64 / 1024.0,
        disk as f64 / MIB as f64,
    );
    assert!(write_peak < 64 * MIB, "writing used {write_peak} bytes of heap");
    assert!(read_peak < 64 * MIB, "reading used {read_peak} bytes of heap");

    // The store verifies, chunks included.
    let dpo = practice.store.unlock("dpo", PASS, ctx()).unwrap();
    let report = dpo.verify_audit(None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let chunks = size.div_ceil(medvault::attachment::CHUNK_SIZE as u64).max(1);
    assert_eq!(report.attachment_chunks_checked, chunks);

    // A backup to a file and a restore from it, each in bounded memory.
    let file = dir.path().join("cabinet.backup");
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    practice.session("admin").backup(&mut out).unwrap();
    out.flush().unwrap();
    drop(out);
    let backup_s = started.elapsed().as_secs_f64();
    let backup_peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let mut input = std::io::BufReader::new(std::fs::File::open(&file).unwrap());
    let key = practice.store.verification_key();
    let restored_dir = dir.path().join("restored");
    medvault::backup::restore(&mut [&mut input], &restored_dir, Engine::Redb, Some(&key), None).unwrap();
    let restore_s = started.elapsed().as_secs_f64();
    let restore_peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    println!(
        "backup of the store: {:.1} s, heap peak {:.1} MiB; restore (rebuilt and verified in the new folder): {:.1} s, \
         heap peak {:.1} MiB; process peak RSS {:.1} MiB",
        backup_s,
        backup_peak as f64 / MIB as f64,
        restore_s,
        restore_peak as f64 / MIB as f64,
        vm_hwm_kib() as f64 / 1024.0,
    );
    assert!(backup_peak < 64 * MIB, "the backup used {backup_peak} bytes of heap");
    assert!(restore_peak < 64 * MIB, "the restore used {restore_peak} bytes of heap");
    let restored = medvault::Store::open(&restored_dir).unwrap();
    let mut sink = Sink(Sha256::new(), 0);
    restored
        .unlock("dr_martin", PASS, ctx())
        .unwrap()
        .read_attachment(p, Section::Reports, entry, id, &mut sink)
        .unwrap();
    assert_eq!(sink.0.finalize(), written, "the restored attachment is the one written");
}

fn walk(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|d| {
            d.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    // Allocated blocks: redb's file is sparse beyond what it uses.
                    Ok(m) => std::os::unix::fs::MetadataExt::blocks(&m) * 512,
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
