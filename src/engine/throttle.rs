//! Brute-force throttling of password grants (RFC 6819 §4.4.3.6, §5.1.4.2.3): failed attempts
//! are counted per user name and per client address in fixed windows; past the limit, further
//! attempts are refused without checking the password, in the dialect's own error shape and
//! without saying which of user or address tripped it. The counters live in the token store, so
//! every gateway on one store (Redis) counts together; a counter is keyed by a hash, so a long
//! user name costs no more than a short one, and the store bounds how many it keeps.

use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::{CounterKey, FailureWindow, StoreError, TokenStore};

/// Throttling limits; a limit of 0 turns that kind of counting off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    pub failures_per_user: u32,
    pub failures_per_address: u32,
    pub window: TimeDelta,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            failures_per_user: 10,
            failures_per_address: 100,
            window: TimeDelta::minutes(5),
        }
    }
}

/// What a check found: the counters of this attempt (user, address) and their windows, so
/// the attempt's outcome is counted without hashing again.
#[derive(Debug)]
pub struct Counted {
    /// `(key, limit, window)` per counter in use.
    counters: Vec<(CounterKey, u32, Option<FailureWindow>)>,
    /// Which of `counters` is the user's.
    user: Option<usize>,
    now: DateTime<Utc>,
}

impl Counted {
    /// `Some(seconds)` when this attempt must be refused.
    pub fn retry_after(&self) -> Option<u64> {
        self.counters
            .iter()
            .filter_map(|(_, limit, window)| {
                let window = window.as_ref()?;
                (window.failures >= *limit && window.ends_at > self.now)
                    .then(|| (window.ends_at - self.now).num_seconds().max(1) as u64)
            })
            .max()
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct Throttle {
    settings: ThrottleSettings,
}

fn counter_key(kind: &str, value: &str) -> CounterKey {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(kind.as_bytes());
    hash.update([0]);
    hash.update(value.as_bytes());
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
        let mut counters = Vec::with_capacity(2);
        let mut user = None;
        if self.settings.failures_per_user > 0 {
            user = Some(counters.len());
            let key = counter_key("user", &username.to_lowercase());
            counters.push((key, self.settings.failures_per_user, None));
        }
        if self.settings.failures_per_address > 0 {
            let key = counter_key("address", &peer.to_string());
            counters.push((key, self.settings.failures_per_address, None));
        }
        if !counters.is_empty() {
            let keys: Vec<CounterKey> = counters.iter().map(|c| c.0).collect();
            let windows = store.failures(&keys, now).await?;
            for (counter, window) in counters.iter_mut().zip(windows) {
                counter.2 = window;
            }
        }
        Ok(Counted {
            counters,
            user,
            now,
        })
    }

    /// Counts a failed attempt on both counters (one store call).
    pub async fn failed(
        &self,
        store: &dyn TokenStore,
        counted: &Counted,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if counted.counters.is_empty() {
            return Ok(());
        }
        let keys: Vec<CounterKey> = counted.counters.iter().map(|c| c.0).collect();
        store
            .count_failures(&keys, self.settings.window, now)
            .await
            .map(drop)
    }

    /// A successful sign-in clears the user's count (not the address's: one success must not
    /// reset an address that is guessing at many users). Nothing to clear costs no store call.
    pub async fn succeeded(
        &self,
        store: &dyn TokenStore,
        counted: &Counted,
    ) -> Result<(), StoreError> {
        match counted.user.and_then(|i| counted.counters.get(i)) {
            Some((key, _, Some(_))) => store.clear_failures(key).await,
            _ => Ok(()),
        }
    }
}
