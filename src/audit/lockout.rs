//! Unlock rate limiting, derived from the audit log itself: no counter is stored anywhere else,
//! so a failed unlock changes nothing but the log, and the lockout history is tamper-evident.
//!
//! Counting walks the user's events newest first (through the user index) back to their last
//! successful unlock or the last lockout lift. Every `threshold` wrong passphrases in a row lock
//! the account for `base * 2^(k-1)` (k-th lockout), capped at `max`; attempts while locked are
//! refused without checking the passphrase and do not count.

use super::event::{Action, AuditEvent, Outcome};
use super::log::user_index_prefix;
use crate::error::Result;
use crate::model::Timestamp;
use crate::policy::AccessSettings;
use crate::storage::{Backend, Order, Space, prefix_end};

/// Detail text of an unlock refused for a wrong passphrase.
pub(crate) const WRONG_PASSPHRASE: &str = "wrong passphrase";

/// The lockout state of one user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LockState {
    /// Wrong passphrases since the last success or lift.
    pub failures: u32,
    /// Time of the newest of them.
    pub last_failure: Option<Timestamp>,
}

impl LockState {
    /// Reads the state of `user` from the log: through the authentication index (so the cost
    /// does not grow with the user's other activity), then, for a store whose index starts
    /// later than its log, through the user index below that point.
    pub(crate) fn load(backend: &dyn Backend, user: &str) -> Result<LockState> {
        let prefix = user_index_prefix(user);
        let mut state = LockState::default();
        if Self::walk(backend, Space::AuditAuthByUser, user, &prefix, prefix_end(&prefix), &mut state)? {
            return Ok(state);
        }
        let from = match backend.get(Space::Meta, crate::layout::meta::AUTH_INDEX_FROM)? {
            Some(v) => v.as_slice().try_into().map(u64::from_be_bytes).unwrap_or(u64::MAX),
            None => u64::MAX,
        };
        if from > 0 {
            let upper = [prefix.as_slice(), &from.to_be_bytes()].concat();
            let upper = if from == u64::MAX { prefix_end(&prefix) } else { Some(upper) };
            Self::walk(backend, Space::AuditByUser, user, &prefix, upper, &mut state)?;
        }
        Ok(state)
    }

    /// Walks one index newest first below `upper`, counting wrong passphrases; returns whether
    /// it reached the user's last success or lift (or a missing event).
    fn walk(
        backend: &dyn Backend,
        index: Space,
        user: &str,
        prefix: &[u8; 16],
        mut upper: Option<Vec<u8>>,
        state: &mut LockState,
    ) -> Result<bool> {
        loop {
            let page = backend.range(index, prefix, upper.as_deref(), Order::Descending, 256)?;
            let Some(last) = page.last() else { return Ok(false) };
            upper = Some(last.0.clone());
            for (k, _) in &page {
                let Some(bytes) = backend.get(Space::AuditEvents, &k[16..])? else { return Ok(true) };
                // A damaged event is `verify`'s to report; it must not lock the auditor out.
                let Ok(e) = AuditEvent::decode(&bytes) else {
                    tracing::warn!("an audit event does not decode; run verify");
                    continue;
                };
                let about_user = e.agent.name == user || e.entity.target_user.as_deref() == Some(user);
                if !about_user {
                    continue;
                }
                match (e.action, e.outcome) {
                    (Action::Unlock, Outcome::Success) | (Action::Recover, _) => return Ok(true),
                    (Action::LockoutLift, _) if e.entity.target_user.as_deref() == Some(user) => return Ok(true),
                    (Action::Unlock, Outcome::Denied) if e.detail.as_deref() == Some(WRONG_PASSPHRASE) => {
                        state.failures += 1;
                        state.last_failure.get_or_insert(e.recorded_at);
                    }
                    _ => {}
                }
            }
            if page.len() < 256 {
                return Ok(false);
            }
        }
    }

    /// When the current lockout ends, if the account is locked at `now`.
    pub(crate) fn locked_until(&self, settings: &AccessSettings, now: Timestamp) -> Option<Timestamp> {
        let until = lockout_end(self.failures, self.last_failure?, settings)?;
        (now < until).then_some(until)
    }
}

/// The end of the lockout that `failures` wrong passphrases (the last at `at`) start, if any.
pub(crate) fn lockout_end(failures: u32, at: Timestamp, settings: &AccessSettings) -> Option<Timestamp> {
    let t = settings.lockout_threshold.max(1);
    if failures == 0 || !failures.is_multiple_of(t) {
        return None;
    }
    let k = failures / t;
    let secs = settings.lockout_base_seconds.saturating_mul(1u64 << (k - 1).min(40)).min(settings.lockout_max_seconds);
    Some(at.plus_millis((secs as i64).saturating_mul(1000)))
}
