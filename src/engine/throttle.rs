//! Brute-force throttling of password grants (RFC 6819 §4.4.3.6, §5.1.4.2.3), in three
//! counters of failed attempts per fixed window:
//! - per (user name, address): past a tight limit, that address may not try that user again
//!   until the window ends (refused without checking the password);
//! - per address: past a looser limit, an address guessing at many users is refused likewise;
//! - per user name, from every address: past its limit, each further attempt waits `user_delay`
//!   before its password is checked, and is not refused. A lockout per user name is what
//!   RFC 6819 §5.1.4.2.3 warns "can be abused to lock down legitimate service users": anyone
//!   anywhere could impose it. The delay (a tar pit, §4.4.3.6) slows a guesser spread over many
//!   addresses while the user still signs in from their own.
//!
//! Refusals are in the dialect's own error shape and do not say which counter tripped. The
//! counters live in the token store, so every gateway on one store (Redis) counts together; a
//! counter is keyed by a hash, so a long user name costs no more than a short one, and the store
//! bounds how many it keeps.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::{CounterKey, FailureWindow, StoreError, TokenStore};

/// Throttling limits; a limit of 0 turns that counter off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    pub failures_per_user_address: u32,
    pub failures_per_address: u32,
    pub failures_per_user: u32,
    pub window: TimeDelta,
    /// How long an attempt on a user name over its limit waits before its password is checked.
    pub user_delay: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            failures_per_user_address: 5,
            failures_per_address: 100,
            failures_per_user: 10,
            window: TimeDelta::minutes(5),
            user_delay: Duration::from_secs(1),
        }
    }
}

/// What a counter past its limit does to an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Over {
    Refuse,
    Delay,
}

/// One counter of an attempt, with the window the check read.
#[derive(Debug)]
struct Counter {
    key: CounterKey,
    limit: u32,
    over: Over,
    window: Option<FailureWindow>,
    /// The counters a success clears: the user name's and the pair's (never the address's:
    /// one success must not reset an address that is guessing at many users).
    cleared_by_success: bool,
}

/// What a check found: the counters of this attempt and their windows, so the attempt's
/// outcome is counted without hashing again.
#[derive(Debug)]
pub struct Counted {
    counters: Vec<Counter>,
    now: DateTime<Utc>,
    user_delay: Duration,
}

/// What to do with an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    /// Check the password after waiting this long.
    Delay(Duration),
    /// Refuse without checking; retry after this many seconds.
    Refuse {
        retry_after_secs: u64,
    },
}

impl Counted {
    fn tripped(&self, over: Over) -> impl Iterator<Item = &FailureWindow> {
        self.counters
            .iter()
            .filter(move |c| c.over == over)
            .filter_map(|c| {
                c.window
                    .as_ref()
                    .filter(|w| w.failures >= c.limit && w.ends_at > self.now)
            })
    }

    pub fn verdict(&self) -> Verdict {
        let refuse = self
            .tripped(Over::Refuse)
            .map(|w| (w.ends_at - self.now).num_seconds().max(1) as u64)
            .max();
        match refuse {
            Some(retry_after_secs) => Verdict::Refuse { retry_after_secs },
            None if self.tripped(Over::Delay).next().is_some() => Verdict::Delay(self.user_delay),
            None => Verdict::Proceed,
        }
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct Throttle {
    settings: ThrottleSettings,
}

fn counter_key(parts: &[&str]) -> CounterKey {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for part in parts {
        // Length-prefixed, so no two different part lists hash alike.
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    CounterKey(hash.finalize().into())
}

impl Throttle {
    pub fn new(settings: ThrottleSettings) -> Self {
        Self { settings }
    }

    /// Reads this attempt's counters (one store call).
    pub async fn check(
        &self,
        store: &dyn TokenStore,
        username: &str,
        peer: IpAddr,
        now: DateTime<Utc>,
    ) -> Result<Counted, StoreError> {
        let user = username.to_lowercase();
        let address = peer.to_string();
        let s = &self.settings;
        let candidates = [
            (
                s.failures_per_user_address,
                Over::Refuse,
                true,
                counter_key(&["pair", &user, &address]),
            ),
            (
                s.failures_per_address,
                Over::Refuse,
                false,
                counter_key(&["address", &address]),
            ),
            (
                s.failures_per_user,
                Over::Delay,
                true,
                counter_key(&["user", &user]),
            ),
        ];
        let mut counters: Vec<Counter> = candidates
            .into_iter()
            .filter(|(limit, ..)| *limit > 0)
            .map(|(limit, over, cleared_by_success, key)| Counter {
                key,
                limit,
                over,
                window: None,
                cleared_by_success,
            })
            .collect();
        if !counters.is_empty() {
            let keys: Vec<CounterKey> = counters.iter().map(|c| c.key).collect();
            let windows = store.failures(&keys, now).await?;
            for (counter, window) in counters.iter_mut().zip(windows) {
                counter.window = window;
            }
        }
        Ok(Counted {
            counters,
            now,
            user_delay: s.user_delay,
        })
    }

    /// Counts a failed attempt on every counter (one store call).
    pub async fn failed(
        &self,
        store: &dyn TokenStore,
        counted: &Counted,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if counted.counters.is_empty() {
            return Ok(());
        }
        let keys: Vec<CounterKey> = counted.counters.iter().map(|c| c.key).collect();
        store
            .count_failures(&keys, self.settings.window, now)
            .await
            .map(drop)
    }

    /// A successful sign-in clears the counters of the user name and of the (user, address)
    /// pair. Nothing to clear costs no store call.
    pub async fn succeeded(
        &self,
        store: &dyn TokenStore,
        counted: &Counted,
    ) -> Result<(), StoreError> {
        for counter in &counted.counters {
            if counter.cleared_by_success && counter.window.is_some() {
                store.clear_failures(&counter.key).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_600_000_000 + secs, 0).expect("valid")
    }

    fn counted(windows: [(u32, Over, Option<u32>); 3], now: i64) -> Counted {
        Counted {
            counters: windows
                .into_iter()
                .map(|(limit, over, failures)| Counter {
                    key: counter_key(&["k", &limit.to_string()]),
                    limit,
                    over,
                    window: failures.map(|failures| FailureWindow {
                        failures,
                        ends_at: at(60),
                    }),
                    cleared_by_success: false,
                })
                .collect(),
            now: at(now),
            user_delay: Duration::from_millis(250),
        }
    }

    #[test]
    fn refusals_win_over_delays_and_name_the_window_end() {
        let pair = (5, Over::Refuse, Some(5));
        let address = (100, Over::Refuse, Some(7));
        let user = (10, Over::Delay, Some(30));
        assert_eq!(
            counted([pair, address, user], 20).verdict(),
            Verdict::Refuse {
                retry_after_secs: 40
            }
        );
        let pair_below = (5, Over::Refuse, Some(4));
        assert_eq!(
            counted([pair_below, address, user], 20).verdict(),
            Verdict::Delay(Duration::from_millis(250))
        );
        let user_below = (10, Over::Delay, Some(9));
        assert_eq!(
            counted([pair_below, address, user_below], 20).verdict(),
            Verdict::Proceed
        );
        // An ended window trips nothing.
        assert_eq!(
            counted([pair, address, user], 60).verdict(),
            Verdict::Proceed
        );
    }

    #[test]
    fn counter_keys_do_not_run_parts_together() {
        assert_ne!(
            counter_key(&["pair", "ab", "c"]),
            counter_key(&["pair", "a", "bc"])
        );
        assert_ne!(counter_key(&["user", "x"]), counter_key(&["address", "x"]));
    }
}
