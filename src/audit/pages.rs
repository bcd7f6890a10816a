//! `verify`'s reading of the log: pages of events in key order, each with the stored leaves of
//! its sequence numbers, read by other threads than the one that checks them.
//!
//! While the log is whole, page `i` is the key range of the `PAGE` sequence numbers from
//! `horizon + i * PAGE`, so several threads read several pages at once, each a range of its own:
//! on a log larger than the page cache, where the pages of one range lie apart in the file,
//! their reads then wait on the device together. At the first range that does not hold exactly
//! `PAGE` keys (the end of the log, a gap, keys that are not sequence numbers), reading goes on
//! from that range's start one page after the other: the pages handed to the checker are those
//! one reader would have read from the start (tested below), so the checker sees every key.

use super::log::node_key;
use crate::error::Result;
use crate::storage::{Backend, Order, Pair, Space};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Events read in one page, with the stored leaves of the same sequence numbers.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(super) struct EventPage {
    pub events: Vec<Pair>,
    pub leaves: HashMap<u64, [u8; 32]>,
}

/// Events per page (small in unit tests, so that they cross many pages).
const PAGE: usize = if cfg!(test) { 8 } else { 4096 };

/// Threads reading whole pages at once, each one page in eight.
const READERS: u64 = 8;

/// Reads the log from `horizon` a page at a time and sends each page in order, until the end,
/// an error, or the receiver hangs up.
pub(super) fn read_pages(backend: &dyn Backend, horizon: u64, tx: &SyncSender<Result<EventPage>>) {
    let Some(resume) = read_whole_pages(backend, horizon, tx) else { return };
    let mut lo: Vec<u8> = resume.to_be_bytes().to_vec();
    loop {
        let page = match read_page(backend, &lo, None, PAGE) {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let next = match page.events.last() {
            Some((k, _)) if page.events.len() == PAGE => {
                let mut next = k.clone();
                next.push(0);
                Some(next)
            }
            _ => None,
        };
        if tx.send(Ok(page)).is_err() {
            return;
        }
        match next {
            Some(n) => lo = n,
            None => return,
        }
    }
}

/// The pages of a whole log, read by [`READERS`] threads and sent in order. Returns the
/// sequence number of the first page that was not whole (reading goes on from there one page
/// after the other), or `None` once an error was sent or the receiver hung up.
fn read_whole_pages(backend: &dyn Backend, horizon: u64, tx: &SyncSender<Result<EventPage>>) -> Option<u64> {
    std::thread::scope(|scope| {
        let mut readers: Vec<Receiver<Result<Option<EventPage>>>> = Vec::new();
        for first in 0..READERS {
            let (ptx, prx) = sync_channel(1);
            let spawned = std::thread::Builder::new()
                .name("medvault-verify".into())
                .spawn_scoped(scope, move || read_every(backend, horizon, first, &ptx));
            if spawned.is_err() {
                // Those started stop when their receivers are dropped.
                return Some(horizon);
            }
            readers.push(prx);
        }
        for (i, reader) in (0u64..).zip(readers.iter().cycle()) {
            match reader.recv() {
                Ok(Ok(Some(page))) => {
                    if tx.send(Ok(page)).is_err() {
                        return None;
                    }
                }
                Ok(Ok(None)) | Err(_) => return Some(page_start(horizon, i).unwrap_or(u64::MAX)),
                Ok(Err(e)) => {
                    let _ = tx.send(Err(e));
                    return None;
                }
            }
        }
        // `(0..).zip(cycle)` ends only when `i` would pass `u64::MAX` pages.
        Some(u64::MAX)
    })
}

/// The first sequence number of page `i`, if it has one.
fn page_start(horizon: u64, i: u64) -> Option<u64> {
    i.checked_mul(PAGE as u64)?.checked_add(horizon)
}

/// One reader's pages: `first`, `first + READERS`, ... while they are whole; the first that is
/// not is reported as `None` (its reading is left to [`read_pages`]).
fn read_every(backend: &dyn Backend, horizon: u64, first: u64, tx: &SyncSender<Result<Option<EventPage>>>) {
    let mut i = first;
    loop {
        let Some((lo, hi)) = page_start(horizon, i).zip(page_start(horizon, i + 1)) else {
            let _ = tx.send(Ok(None));
            return;
        };
        // Exactly `PAGE` keys from `lo` to `hi` (one more is asked for, to know): the page one
        // reader going from `lo` would read, and the next of its pages starts at `hi` too.
        let page = read_page(backend, &lo.to_be_bytes(), Some(&hi.to_be_bytes()), PAGE + 1)
            .map(|page| (page.events.len() == PAGE).then_some(page));
        let go_on = matches!(page, Ok(Some(_)));
        if tx.send(page).is_err() || !go_on {
            return;
        }
        i += READERS;
    }
}

/// At most `limit` events from `lo` (to `hi`), and the stored leaves of the sequence numbers
/// its first key starts (the walker checks that the keys are those numbers, and stops at the
/// first that is not).
fn read_page(backend: &dyn Backend, lo: &[u8], hi: Option<&[u8]>, limit: usize) -> Result<EventPage> {
    let events = backend.range(Space::AuditEvents, lo, hi, Order::Ascending, limit)?;
    // The stored leaves of this page's events, read in one ordered range (not one lookup per
    // event: at millions of events those random reads were most of verify's time).
    let first = events.first().and_then(|(k, _)| <[u8; 8]>::try_from(k.as_slice()).ok()).map(u64::from_be_bytes);
    let mut leaves = HashMap::with_capacity(events.len());
    if let Some(first) = first {
        let end = first.saturating_add(events.len() as u64);
        for (k, v) in backend.range(
            Space::AuditNodes,
            &node_key(0, first),
            Some(&node_key(0, end)),
            Order::Ascending,
            events.len(),
        )? {
            if let (Some(index), Ok(leaf)) =
                (k.get(1..9).and_then(|i| <[u8; 8]>::try_from(i).ok()), <[u8; 32]>::try_from(v))
                && k.len() == 9
                && k.first() == Some(&0)
            {
                leaves.insert(u64::from_be_bytes(index), leaf);
            }
        }
    }
    Ok(EventPage { events, leaves })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Batch, MemoryBackend};

    /// The pages one thread reads one after the other from `horizon` (the reading before
    /// several threads did it).
    fn one_after_the_other(backend: &dyn Backend, horizon: u64) -> Vec<EventPage> {
        let mut pages = Vec::new();
        let mut lo = horizon.to_be_bytes().to_vec();
        loop {
            let page = read_page(backend, &lo, None, PAGE).unwrap();
            let next = page.events.last().filter(|_| page.events.len() == PAGE).map(|(k, _)| [&k[..], &[0]].concat());
            pages.push(page);
            match next {
                Some(n) => lo = n,
                None => return pages,
            }
        }
    }

    fn read_all(backend: &dyn Backend, horizon: u64) -> Vec<EventPage> {
        let (tx, rx) = sync_channel(1);
        std::thread::scope(|scope| {
            scope.spawn(move || read_pages(backend, horizon, &tx));
            let mut pages = Vec::new();
            // The sender moved into the reading thread: it is dropped when read_pages returns.
            while let Ok(page) = rx.recv_timeout(std::time::Duration::from_secs(10)) {
                pages.push(page.unwrap());
                if pages.len() > 10_000 {
                    panic!("pages without end");
                }
            }
            pages
        })
    }

    /// A log of `n` events from 0 with their leaves, then `edit` applied to it.
    fn log(n: u64, edit: impl FnOnce(&mut Batch)) -> MemoryBackend {
        let b = MemoryBackend::new();
        let mut batch = Batch::new();
        for seq in 0..n {
            batch.put(Space::AuditEvents, seq.to_be_bytes().to_vec(), vec![seq as u8; 3 + (seq % 5) as usize]);
            batch.put(Space::AuditNodes, node_key(0, seq), vec![seq as u8; 32]);
        }
        edit(&mut batch);
        b.apply(&batch).unwrap();
        b
    }

    /// Whole logs, logs ending anywhere in a page, gaps (in a page, over a page's end, a whole
    /// page), keys that are not sequence numbers, a pruning horizon: the pages sent are those
    /// one thread reading one page after the other sends.
    #[test]
    fn the_pages_are_those_of_one_reader_whatever_the_log() {
        let p = PAGE as u64;
        let del = |seqs: Vec<u64>| {
            move |b: &mut Batch| {
                for s in seqs {
                    b.delete(Space::AuditEvents, s.to_be_bytes().to_vec());
                }
            }
        };
        let cases: Vec<(&str, MemoryBackend, u64)> = vec![
            ("empty", log(0, |_| {}), 0),
            ("one event", log(1, |_| {}), 0),
            ("one page", log(p, |_| {}), 0),
            ("whole pages, more than the readers", log(p * (READERS * 2 + 1), |_| {}), 0),
            ("ends inside a page", log(p * 7 + 3, |_| {}), 0),
            ("gap inside a page", log(p * 9, del(vec![p * 2 + 3])), 0),
            ("gap over a page's end", log(p * 9, del(vec![p * 3 - 1, p * 3, p * 3 + 1])), 0),
            ("a whole page missing", log(p * 9, del((p * 5..p * 6).collect())), 0),
            ("the last event missing", log(p * 6, del(vec![p * 6 - 1])), 0),
            (
                "a key that is not a sequence number",
                log(p * 8, |b| b.put(Space::AuditEvents, [&(p * 4 + 2).to_be_bytes()[..], &[0]].concat(), vec![1])),
                0,
            ),
            (
                "an event moved under another key of its page",
                log(p * 8, |b| {
                    b.delete(Space::AuditEvents, (p * 3 + 5).to_be_bytes().to_vec());
                    b.put(Space::AuditEvents, [&(p * 3 + 1).to_be_bytes()[..], &[7]].concat(), vec![1]);
                }),
                0,
            ),
            ("a short key", log(p * 8, |b| b.put(Space::AuditEvents, vec![0, 0, 0], vec![1])), 0),
            ("a leaf missing", log(p * 6, |b| b.delete(Space::AuditNodes, node_key(0, p + 1))), 0),
            ("from a pruning horizon", log(p * 10 + 5, del((0..p * 2 + 3).collect())), p * 2 + 3),
            ("a horizon past the end", log(p, |_| {}), p * 3),
        ];
        for (what, backend, horizon) in cases {
            let want = one_after_the_other(&backend, horizon);
            assert_eq!(read_all(&backend, horizon), want, "{what}");
        }
    }

    /// A receiver that hangs up stops every reader (the scope returns).
    #[test]
    fn readers_stop_when_the_checker_stops() {
        let backend = log(PAGE as u64 * 40, |_| {});
        let (tx, rx) = sync_channel(1);
        std::thread::scope(|scope| {
            let reading = scope.spawn(|| read_pages(&backend, 0, &tx));
            assert!(rx.recv().unwrap().is_ok());
            drop(rx);
            reading.join().unwrap();
        });
    }
}
