//! W9: what an unlock costs beyond its Argon2id, whatever the user's history.
//!
//! Only the first unlock after a history has that history behind it (the next one has none),
//! so a history sample is one user's first unlock, and several samples need several users.
//! Every unlock is timed right after one run of Argon2id alone with the store's parameters,
//! so that both series see the same state of a shared, noisy machine.

use crate::mv::PASS;
use crate::workload::Res;
use medvault::{AccessContext, KdfParams, Store};
use std::time::{Duration, Instant};

/// Argon2id with the store's parameters, alone: what an unlock cannot go below.
pub struct Argon2Alone(argon2::Argon2<'static>);

impl Argon2Alone {
    pub fn new(kdf: KdfParams) -> Res<Self> {
        let params = argon2::Params::new(kdf.m_kib, kdf.t, kdf.p, Some(32)).map_err(|e| e.to_string())?;
        let argon = Argon2Alone(argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params));
        // The first run pays for faulting in its memory (three times the others on this machine).
        argon.time()?;
        Ok(argon)
    }

    pub fn time(&self) -> Res<Duration> {
        let mut out = [0u8; 32];
        let t = Instant::now();
        self.0.hash_password_into(PASS, b"medvault-bench-salt", &mut out).map_err(|e| e.to_string())?;
        Ok(t.elapsed())
    }
}

/// The time of one unlock of `user` (for treatment; the session is closed after, untimed).
pub fn timed(store: &Store, user: &str) -> Res<Duration> {
    let t = Instant::now();
    let session = store.unlock(user, PASS, AccessContext::treatment("bench")).map_err(|e| format!("medvault: {e}"))?;
    let d = t.elapsed();
    drop(session);
    Ok(d)
}

/// Unlocks timed alternately with Argon2id alone.
#[derive(Default)]
pub struct Series {
    pub unlocks: Vec<Duration>,
    pub argon: Vec<Duration>,
}

impl Series {
    /// One Argon2id alone, then `unlock` (which returns the time of the unlock only).
    pub fn sample(&mut self, argon: &Argon2Alone, unlock: impl FnOnce() -> Res<Duration>) -> Res<()> {
        self.argon.push(argon.time()?);
        self.unlocks.push(unlock()?);
        Ok(())
    }

    /// The unlocks' p50 and max against Argon2id alone's p50, and the number of pairs.
    pub fn describe(&self) -> String {
        let (u, a) = (median(&self.unlocks), median(&self.argon));
        let max = self.unlocks.iter().copied().max().unwrap_or_default();
        let vs = (u.as_secs_f64() / a.as_secs_f64().max(1e-9) - 1.0) * 100.0;
        match self.unlocks.len() {
            1 => format!("{} ({vs:+.1}% vs Argon2id alone {}, 1 pair)", crate::ms(u), crate::ms(a)),
            n => format!(
                "p50 {} (max {}), {vs:+.1}% vs Argon2id alone p50 {}, {n} pairs",
                crate::ms(u),
                crate::ms(max),
                crate::ms(a)
            ),
        }
    }
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    crate::measure::quantile(&mut v, 0.5)
}
