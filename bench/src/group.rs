//! The raw floors' group commit: whoever finds no commit running takes everything queued,
//! commits it in one transaction with one sync, and wakes the others. The same scheme as
//! medvault's own committer, minus everything medvault does besides storing bytes.

use crate::workload::Res;
use parking_lot::{Condvar, Mutex, MutexGuard};

struct State<T> {
    pending: Vec<T>,
    submitted: u64,
    done: u64,
    leading: bool,
    broken: Option<String>,
}

/// A queue of items committed in groups by `commit`.
pub struct Group<T> {
    state: Mutex<State<T>>,
    wake: Condvar,
}

impl<T> Group<T> {
    pub fn new() -> Self {
        Group {
            state: Mutex::new(State { pending: Vec::new(), submitted: 0, done: 0, leading: false, broken: None }),
            wake: Condvar::new(),
        }
    }

    /// Queues `item` and returns once a commit holding it has completed.
    pub fn submit(&self, item: T, commit: impl FnOnce(Vec<T>) -> Res<()>) -> Res<()> {
        let mut s = self.state.lock();
        s.pending.push(item);
        s.submitted += 1;
        let mine = s.submitted;
        let mut commit = Some(commit);
        loop {
            if let Some(b) = &s.broken {
                return Err(b.clone());
            }
            if s.done >= mine {
                return Ok(());
            }
            if !s.leading {
                let Some(f) = commit.take() else { return Err("group commit lost a leader".into()) };
                s.leading = true;
                let items = std::mem::take(&mut s.pending);
                let upto = s.submitted;
                let r = MutexGuard::unlocked(&mut s, || f(items));
                s.leading = false;
                match r {
                    Ok(()) => s.done = upto,
                    Err(e) => s.broken = Some(e),
                }
                self.wake.notify_all();
            } else {
                self.wake.wait(&mut s);
            }
        }
    }
}
