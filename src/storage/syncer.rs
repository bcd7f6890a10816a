//! The redb journal's sync thread: it `fdatasync`s the journal, then runs what must follow the
//! sync (the witness write), while writers go on applying batches to redb and writing the next
//! journal records. Up to two groups are in flight this way: one whose sync is running, and
//! the ones written meanwhile, which the next sync covers together.
//!
//! Rules (each has a test below):
//! - Jobs are taken in the order they were handed over; every job queued when a sync starts
//!   is covered by that one `fdatasync` (the writer hands a job over only after its record is
//!   written), and only the newest job's step runs after it: each step writes the newest mark,
//!   which covers the ones before it ([`super::AfterSync`]).
//! - A job is answered only after the sync that covers it succeeded and its step ran; the
//!   older jobs of the same sync get the step's outcome too.
//! - Once a sync fails, what reached the disk is unknown: that job and every later one fail
//!   without a sync (the backend poisons itself on the first failure; a sync that follows a
//!   failed one cannot vouch for the pages the failure dropped).

use super::journal::JournalFault;
use super::{AfterSync, StorageResult};
use crate::error::StorageError;
use parking_lot::Mutex;
use std::sync::{Arc, mpsc};

/// `(epoch, records)`: the journal's records up to `records` of `epoch` are durable.
pub(crate) type SyncedUpto = Arc<Mutex<(u64, u64)>>;

/// The outcome a job's writer receives: the sync's (`Err`), and inside it the step's.
type Outcome = Result<StorageResult<()>, JournalFault>;

/// The sync thread (dropped: the queue closes and the thread is joined).
pub(crate) struct Syncer {
    jobs: Option<mpsc::Sender<SyncJob>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Syncer {
    /// Closes the queue and waits for the thread to answer what is queued and end.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct SyncJob {
    /// The journal position this job's record ends at.
    upto: (u64, u64),
    then: AfterSync,
    done: mpsc::SyncSender<Outcome>,
}

/// A sync in flight.
pub(crate) struct SyncPending(mpsc::Receiver<Outcome>);

fn sync_error(what: &'static str) -> JournalFault {
    JournalFault::Sync(StorageError::Engine { engine: "redb journal", what, source: None })
}

impl Syncer {
    /// Starts the thread; `sync` makes every record written so far durable, and `synced` is
    /// where the thread records how far its last successful sync reached. `None` if the thread
    /// cannot be started (the writer then syncs in line).
    pub(crate) fn spawn(
        sync: impl FnMut() -> std::io::Result<()> + Send + 'static,
        synced: SyncedUpto,
    ) -> Option<Syncer> {
        let (jobs, rx) = mpsc::channel::<SyncJob>();
        let thread = std::thread::Builder::new()
            .name("medvault-journal-sync".into())
            .spawn(move || run(&rx, sync, &synced))
            .ok()?;
        Some(Syncer { jobs: Some(jobs), thread: Some(thread) })
    }

    /// Hands the thread a sync covering the records up to `upto`, followed by `then`; gives
    /// `then` back if the thread is gone. Called under the journal's lock, after the record is
    /// written, so that jobs arrive in journal order.
    pub(crate) fn begin(&self, upto: (u64, u64), then: AfterSync) -> Result<SyncPending, AfterSync> {
        let (done, wait) = mpsc::sync_channel(1);
        match &self.jobs {
            Some(jobs) => jobs.send(SyncJob { upto, then, done }).map(|()| SyncPending(wait)).map_err(|e| e.0.then),
            None => Err(then),
        }
    }
}

/// The thread's loop: one sync for everything queued, then the newest job's step.
fn run(rx: &mpsc::Receiver<SyncJob>, mut sync: impl FnMut() -> std::io::Result<()>, synced: &SyncedUpto) {
    let mut failed = false;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        jobs.extend(rx.try_iter());
        if failed {
            for job in jobs {
                let _ = job.done.send(Err(sync_error("an earlier sync of the journal failed")));
            }
            continue;
        }
        if let Err(e) = sync() {
            failed = true;
            let mut error = Some(JournalFault::Sync(StorageError::from_io(e)));
            for job in jobs {
                let fault = error.take().unwrap_or_else(|| sync_error("the sync of the journal failed"));
                let _ = job.done.send(Err(fault));
            }
            continue;
        }
        let Some(newest) = jobs.pop() else { continue };
        *synced.lock() = newest.upto;
        let stepped = (newest.then)();
        for job in jobs {
            let copy = match &stepped {
                Ok(()) => Ok(()),
                Err(_) => Err(StorageError::Engine {
                    engine: "witness",
                    what: "the witness write after this sync failed",
                    source: None,
                }),
            };
            let _ = job.done.send(Ok(copy));
        }
        let _ = newest.done.send(Ok(stepped));
    }
}

impl SyncPending {
    /// The sync's outcome (`Err`: the sync failed or its thread died) and, inside, the step's.
    pub(crate) fn wait(self) -> Outcome {
        self.0.recv().unwrap_or_else(|_| Err(sync_error("the journal's sync thread stopped")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A syncer whose syncs are counted and fail from the `fail_from`-th on.
    fn counted(fail_from: usize) -> (Syncer, Arc<AtomicUsize>, SyncedUpto) {
        let syncs = Arc::new(AtomicUsize::new(0));
        let synced: SyncedUpto = Arc::new(Mutex::new((0, 0)));
        let count = syncs.clone();
        let sync = move || {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            if n >= fail_from { Err(std::io::Error::other("device gone")) } else { Ok(()) }
        };
        (Syncer::spawn(sync, synced.clone()).unwrap(), syncs, synced)
    }

    /// A step that records that it ran, and fails if asked.
    fn step(ran: &Arc<AtomicBool>, fail: bool) -> AfterSync {
        let ran = ran.clone();
        Box::new(move || {
            ran.store(true, Ordering::SeqCst);
            if fail {
                Err(StorageError::Engine { engine: "test", what: "witness refused", source: None })
            } else {
                Ok(())
            }
        })
    }

    /// A first job whose step has started and blocks until released, so that the next jobs
    /// queue up behind it.
    fn blocked(syncer: &Syncer) -> (SyncPending, mpsc::SyncSender<()>) {
        let (release, gate) = mpsc::sync_channel::<()>(1);
        let (entered, inside) = mpsc::sync_channel::<()>(1);
        let closed = || StorageError::Engine { engine: "test", what: "gate closed", source: None };
        let first = syncer.begin(
            (1, 1),
            Box::new(move || {
                entered.send(()).map_err(|_| closed())?;
                gate.recv().map_err(|_| closed())
            }),
        );
        inside.recv().unwrap();
        (first.ok().unwrap(), release)
    }

    #[test]
    fn jobs_queued_during_a_sync_share_the_next_one_and_only_the_newest_step_runs() {
        let (syncer, syncs, synced) = counted(usize::MAX);
        let (first, release) = blocked(&syncer);
        let ran: Vec<Arc<AtomicBool>> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
        let pending: Vec<SyncPending> =
            (0..3).map(|i| syncer.begin((1, 2 + i as u64), step(&ran[i], false)).ok().unwrap()).collect();
        release.send(()).unwrap();
        assert!(matches!(first.wait(), Ok(Ok(()))));
        for p in pending {
            assert!(matches!(p.wait(), Ok(Ok(()))));
        }
        assert_eq!(syncs.load(Ordering::SeqCst), 2, "one sync for the first job, one for the three behind it");
        let stepped: Vec<bool> = ran.iter().map(|r| r.load(Ordering::SeqCst)).collect();
        assert_eq!(stepped, [false, false, true], "only the newest step ran");
        assert_eq!(*synced.lock(), (1, 4), "the sync reached the newest record");
    }

    #[test]
    fn a_failed_step_fails_every_job_of_its_sync_and_not_the_next_sync() {
        let (syncer, _, _) = counted(usize::MAX);
        let (first, release) = blocked(&syncer);
        let ran = Arc::new(AtomicBool::new(false));
        let older = syncer.begin((1, 2), step(&ran, false)).ok().unwrap();
        let newest = syncer.begin((1, 3), step(&ran, true)).ok().unwrap();
        release.send(()).unwrap();
        assert!(matches!(first.wait(), Ok(Ok(()))));
        assert!(matches!(older.wait(), Ok(Err(_))), "the older job shares the failed step");
        assert!(matches!(newest.wait(), Ok(Err(_))));
        let later = syncer.begin((1, 4), step(&ran, false)).ok().unwrap();
        assert!(matches!(later.wait(), Ok(Ok(()))), "a witness failure does not stop the journal's syncs");
    }

    #[test]
    fn a_failed_sync_fails_its_jobs_and_every_later_one_without_syncing_again() {
        let (syncer, syncs, synced) = counted(2);
        let (first, release) = blocked(&syncer);
        let ran = Arc::new(AtomicBool::new(false));
        let covered: Vec<SyncPending> =
            (0..2).map(|i| syncer.begin((1, 2 + i), step(&ran, false)).ok().unwrap()).collect();
        release.send(()).unwrap();
        assert!(matches!(first.wait(), Ok(Ok(()))));
        for p in covered {
            assert!(matches!(p.wait(), Err(JournalFault::Sync(_))), "both jobs of the failed sync fail");
        }
        let later = syncer.begin((1, 4), step(&ran, false)).ok().unwrap();
        assert!(matches!(later.wait(), Err(JournalFault::Sync(_))), "a later job fails too");
        assert_eq!(syncs.load(Ordering::SeqCst), 2, "no sync after the failed one");
        assert!(!ran.load(Ordering::SeqCst), "no step ran after a failed sync");
        assert_eq!(*synced.lock(), (1, 1), "only the first sync counts");
    }

    #[test]
    fn a_job_handed_over_after_the_thread_is_gone_gets_its_step_back() {
        let (mut syncer, _, _) = counted(usize::MAX);
        syncer.jobs = None;
        let ran = Arc::new(AtomicBool::new(false));
        assert!(syncer.begin((1, 1), step(&ran, false)).is_err());
    }
}
