//! Group commit: concurrent operations share one engine transaction and one sync, a failed
//! group loses nothing that was acknowledged and leaves no gap, and unlocking costs the same
//! whatever the user did since their last unlock.

use medvault::backend::{Backend, Batch, MemoryBackend, Order, Pair, Space, StorageError};
use medvault::synthetic::Synth;
use medvault::{AccessContext, Action, AuditQuery, Error, Outcome, PatientId, Store, StoreOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A memory backend whose syncs take a while (as a disk's do), which counts them and the
/// event reads, and which can fail chosen durable commits.
struct SlowDisk {
    inner: MemoryBackend,
    durable_commits: AtomicU64,
    plain_commits: AtomicU64,
    event_reads: AtomicU64,
    fail_commit: AtomicU64,
}

impl SlowDisk {
    fn new() -> Arc<SlowDisk> {
        Arc::new(SlowDisk {
            inner: MemoryBackend::new(),
            durable_commits: AtomicU64::new(0),
            plain_commits: AtomicU64::new(0),
            event_reads: AtomicU64::new(0),
            fail_commit: AtomicU64::new(u64::MAX),
        })
    }
}

impl Backend for SlowDisk {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if space == Space::AuditEvents {
            self.event_reads.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.get(space, key)
    }
    fn range(
        &self,
        space: Space,
        lo: &[u8],
        hi: Option<&[u8]>,
        order: Order,
        limit: usize,
    ) -> Result<Vec<Pair>, StorageError> {
        self.inner.range(space, lo, hi, order, limit)
    }
    fn apply(&self, batch: &Batch) -> Result<(), StorageError> {
        self.plain_commits.fetch_add(1, Ordering::Relaxed);
        self.inner.apply(batch)
    }
    fn flush(&self) -> Result<(), StorageError> {
        std::thread::sleep(Duration::from_millis(2));
        self.inner.flush()
    }
    fn apply_durable(&self, batch: &Batch) -> Result<(), StorageError> {
        let n = self.durable_commits.fetch_add(1, Ordering::Relaxed) + 1;
        std::thread::sleep(Duration::from_millis(2));
        if n == self.fail_commit.load(Ordering::Relaxed) {
            return Err(StorageError::DiskFull(std::io::Error::from(std::io::ErrorKind::StorageFull)));
        }
        self.inner.apply(batch)
    }
}

const PASS: &[u8] = b"group commit test passphrase";

fn practice(disk: &Arc<SlowDisk>, patients: usize) -> (Store, Vec<PatientId>) {
    let (store, _) =
        Store::create_with_backend(disk.clone(), "admin", PASS, StoreOptions::insecure_fast_for_tests()).unwrap();
    let admin = store.unlock("admin", PASS, AccessContext::operations("t")).unwrap();
    admin.add_user("dr_a", &["physician".to_string()], PASS).unwrap();
    admin.add_user("dpo", &["auditor".to_string()], PASS).unwrap();
    let doc = store.unlock("dr_a", PASS, AccessContext::treatment("t")).unwrap();
    let mut synth = Synth::new(3);
    let ids = (0..patients).map(|_| doc.create_patient(synth.identity()).unwrap()).collect();
    (store, ids)
}

/// Runs `per_thread` identity reads in each of 8 threads; returns (succeeded, failed).
fn read_from_8_threads(store: &Store, ids: &[PatientId], per_thread: usize) -> (u64, u64) {
    let ok = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..8 {
            let (ok, failed) = (&ok, &failed);
            let session = store.unlock("dr_a", PASS, AccessContext::treatment(format!("poste-{t}"))).unwrap();
            s.spawn(move || {
                for i in 0..per_thread {
                    match session.read_identity(ids[(t * per_thread + i) % ids.len()]) {
                        Ok(v) => {
                            assert!(!v.is_empty());
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(Error::AuditUnavailable(_)) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
            });
        }
    });
    (ok.into_inner(), failed.into_inner())
}

fn successful_reads(store: &Store) -> u64 {
    let dpo = store.unlock("dpo", PASS, AccessContext::operations("t")).unwrap();
    let q = AuditQuery {
        action: Some(Action::Read),
        outcome: Some(Outcome::Success),
        limit: 100_000,
        ..Default::default()
    };
    dpo.audit_query(&q).unwrap().len() as u64
}

#[test]
fn concurrent_durable_reads_share_one_transaction_and_one_sync_per_group() {
    let disk = SlowDisk::new();
    let (store, ids) = practice(&disk, 20);
    let before = disk.durable_commits.load(Ordering::Relaxed);
    let plain_before = disk.plain_commits.load(Ordering::Relaxed);
    let (ok, failed) = read_from_8_threads(&store, &ids, 40);
    let commits = disk.durable_commits.load(Ordering::Relaxed) - before;
    println!(
        "320 durable reads from 8 threads: {commits} durable transactions ({:.1} reads each)",
        ok as f64 / commits as f64
    );
    assert_eq!((ok, failed), (320, 0));
    // Each read is durable before it returns, yet groups share transactions (8 unlocks
    // included: at most 328 transactions without grouping).
    assert!(commits < 160, "{commits} durable transactions for 328 operations: no grouping");
    assert_eq!(disk.plain_commits.load(Ordering::Relaxed), plain_before, "a read was committed without a sync");
    assert_eq!(successful_reads(&store), 320);
    let dpo = store.unlock("dpo", PASS, AccessContext::operations("t")).unwrap();
    assert!(dpo.verify_audit(None).unwrap().problems.is_empty());
}

#[test]
fn a_failed_group_acknowledges_none_of_its_operations_and_leaves_no_gap() {
    let disk = SlowDisk::new();
    let (store, ids) = practice(&disk, 20);
    let now = disk.durable_commits.load(Ordering::Relaxed);
    // The 9 first unlocks take 9 commits; fail a group in the middle of the reads.
    disk.fail_commit.store(now + 9 + 12, Ordering::Relaxed);
    let (ok, failed) = read_from_8_threads(&store, &ids, 30);
    println!("240 reads, one group failed: {ok} acknowledged, {failed} refused");
    assert!(failed >= 1, "no read saw the failed group");
    assert_eq!(ok + failed, 240);
    // Every acknowledged read is in the log, no refused one is, and the log has no gap.
    assert_eq!(successful_reads(&store), ok);
    let dpo = store.unlock("dpo", PASS, AccessContext::operations("t")).unwrap();
    let report = dpo.verify_audit(None).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // And the store goes on taking operations.
    let doc = store.unlock("dr_a", PASS, AccessContext::treatment("t")).unwrap();
    assert!(!doc.read_identity(ids[0]).unwrap().is_empty());
}

#[test]
fn unlocking_does_not_walk_the_users_history() {
    let disk = SlowDisk::new();
    let (store, ids) = practice(&disk, 5);
    let doc = store.unlock("dr_a", PASS, AccessContext::treatment("t")).unwrap();
    for i in 0..600 {
        doc.read_identity(ids[i % ids.len()]).unwrap();
    }
    drop(doc);
    let before = disk.event_reads.load(Ordering::Relaxed);
    let _again = store.unlock("dr_a", PASS, AccessContext::treatment("t")).unwrap();
    let reads = disk.event_reads.load(Ordering::Relaxed) - before;
    assert!(reads <= 4, "unlock read {reads} audit events after 600 reads since the last unlock");

    // Wrong passphrases are still counted through the index, across other activity.
    for _ in 0..4 {
        assert!(matches!(
            store.unlock("dr_a", b"wrong passphrase!", AccessContext::treatment("t")),
            Err(Error::Authentication)
        ));
    }
    assert!(matches!(
        store.unlock("dr_a", b"wrong passphrase!", AccessContext::treatment("t")),
        Err(Error::Authentication)
    ));
    assert!(matches!(
        store.unlock("dr_a", PASS, AccessContext::treatment("t")),
        Err(Error::Denied(medvault::Denied::LockedOut(_)))
    ));
}

#[test]
fn a_long_buffered_import_is_made_durable_every_129_transactions() {
    let disk = SlowDisk::new();
    let (store, _) = practice(&disk, 1);
    let mut doc = store.unlock("dr_a", PASS, AccessContext::treatment("t")).unwrap();
    doc.set_durability(medvault::Durability::Buffered);
    let before = disk.durable_commits.load(Ordering::Relaxed);
    let plain_before = disk.plain_commits.load(Ordering::Relaxed);
    let mut synth = Synth::new(9);
    for _ in 0..300 {
        doc.create_patient(synth.identity()).unwrap();
    }
    let durable = disk.durable_commits.load(Ordering::Relaxed) - before;
    let plain = disk.plain_commits.load(Ordering::Relaxed) - plain_before;
    assert_eq!(durable + plain, 300);
    assert_eq!(durable, 2, "{durable} durable commits in 300 buffered creations");
}
