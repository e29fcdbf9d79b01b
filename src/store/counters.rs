//! Failed-password counters held in the process, for the backends that share them with no other
//! gateway: the memory store, and the file store, which keeps them out of its file (a restart
//! forgets them; a throttle window is minutes, not worth an fsync per failed password). Windows
//! are fixed and follow the caller's clock. Ended windows are pruned as time passes (at most one
//! scan per `PRUNE_EVERY` of the callers' clock), so a burst of failures gives its memory back
//! within a window; and the table is bounded: at its cap, ended windows are pruned at once, and
//! a new counter that still finds no room stays uncounted instead.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::{CounterKey, FailureWindow};

/// The default cap on counters.
pub const DEFAULT_MAX_COUNTERS: usize = 100_000;

/// How often, at most, a count scans the table for ended windows: a scan of the full table
/// (100 000 counters) takes about a millisecond, once a second is noise.
const PRUNE_EVERY: TimeDelta = TimeDelta::seconds(1);

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every change under the lock is one insert, update or retain: none is seen half done.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// See the module docs.
pub(crate) struct Counters {
    // One lock for the table: an attempt's counters change together, as the contract asks, and
    // the cap is exact. Counters are touched once or twice per password grant, whose hash costs
    // far more than the wait.
    state: Mutex<State>,
    max: usize,
}

struct State {
    windows: HashMap<CounterKey, FailureWindow>,
    /// No window ends before this, so a prune before it would find nothing: a spray of new
    /// keys at the cap does not rescan the table on every attempt.
    earliest_end: DateTime<Utc>,
    /// The next instant a count prunes ended windows without being at the cap.
    next_prune: DateTime<Utc>,
}

impl Counters {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            state: Mutex::new(State {
                windows: HashMap::new(),
                earliest_end: DateTime::<Utc>::MAX_UTC,
                next_prune: DateTime::<Utc>::MIN_UTC,
            }),
            max,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.state).windows.len()
    }

    pub(crate) fn failures(
        &self,
        keys: &[CounterKey],
        now: DateTime<Utc>,
    ) -> Vec<Option<FailureWindow>> {
        let state = lock(&self.state);
        // An ended window stays until a prune, but reads as none: the next caller's clock
        // may be earlier.
        keys.iter()
            .map(|key| state.windows.get(key).filter(|w| w.ends_at > now).copied())
            .collect()
    }

    pub(crate) fn count(
        &self,
        keys: &[CounterKey],
        window: TimeDelta,
        now: DateTime<Utc>,
    ) -> Vec<FailureWindow> {
        let fresh = FailureWindow::first(window, now);
        let ends_at = fresh.ends_at;
        let mut state = lock(&self.state);
        if now >= state.next_prune {
            state.prune(now);
            state.next_prune = now + PRUNE_EVERY;
        }
        keys.iter()
            .map(|key| {
                if let Some(current) = state.windows.get_mut(key) {
                    if current.ends_at > now {
                        current.failures = current.failures.saturating_add(1);
                    } else {
                        // Ends later than the old window did, so `earliest_end` still holds.
                        *current = fresh;
                    }
                    return *current;
                }
                if state.windows.len() >= self.max && !state.prune(now) {
                    return FailureWindow {
                        failures: 0,
                        ends_at,
                    };
                }
                state.windows.insert(*key, fresh);
                state.earliest_end = state.earliest_end.min(ends_at);
                fresh
            })
            .collect()
    }

    pub(crate) fn clear(&self, key: &CounterKey) {
        lock(&self.state).windows.remove(key);
    }
}

impl State {
    /// Drops the windows that ended by `now`; whether that made room.
    fn prune(&mut self, now: DateTime<Utc>) -> bool {
        if now < self.earliest_end {
            return false;
        }
        let before = self.windows.len();
        self.windows.retain(|_, w| w.ends_at > now);
        self.earliest_end = self
            .windows
            .values()
            .map(|w| w.ends_at)
            .min()
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.windows.len() < before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> CounterKey {
        CounterKey([n; 32])
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_600_000_000 + secs, 0).expect("valid")
    }

    #[test]
    fn at_the_cap_ended_windows_make_room_and_live_ones_do_not() {
        let counters = Counters::new(2);
        let window = TimeDelta::seconds(10);
        counters.count(&[key(1)], window, at(0));
        counters.count(&[key(2)], window, at(5));
        // Full of live windows: a new key is answered uncounted, the known ones still count.
        let answer = counters.count(&[key(3), key(1)], window, at(6));
        assert_eq!(answer[0].failures, 0);
        assert_eq!(answer[1].failures, 2);
        assert_eq!(counters.failures(&[key(3)], at(6)), [None]);
        // Key 1's window has ended by 10: its slot goes to key 3.
        let answer = counters.count(&[key(3)], window, at(10));
        assert_eq!(answer[0].failures, 1);
        assert_eq!(counters.len(), 2);
        assert_eq!(counters.failures(&[key(1)], at(10)), [None]);
        // Key 2's window (ends at 15) was kept; key 4 must wait for it.
        assert_eq!(counters.count(&[key(4)], window, at(14))[0].failures, 0);
        assert_eq!(counters.count(&[key(4)], window, at(15))[0].failures, 1);
    }

    #[test]
    fn a_shorter_window_lowers_the_earliest_end() {
        let counters = Counters::new(2);
        counters.count(&[key(1)], TimeDelta::seconds(100), at(0));
        counters.count(&[key(2)], TimeDelta::seconds(1), at(0));
        assert_eq!(
            counters.count(&[key(3)], TimeDelta::seconds(100), at(1))[0].failures,
            1,
            "key 2's window ended at 1"
        );
    }

    #[test]
    fn ended_windows_go_as_time_passes_below_the_cap_too() {
        let counters = Counters::new(1_000);
        let window = TimeDelta::seconds(10);
        let keys: Vec<CounterKey> = (0..100).map(key).collect();
        counters.count(&keys, window, at(0));
        assert_eq!(counters.len(), 100);
        // Any count after the windows ended prunes them, far below the cap.
        counters.count(&[key(200)], window, at(11));
        assert_eq!(counters.len(), 1);
    }
}
