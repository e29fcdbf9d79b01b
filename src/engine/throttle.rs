//! Brute-force throttling of password grants (RFC 6819 §4.4.3.6, §5.1.4.2.3): failed attempts
//! are counted per user name and per client address in fixed windows; past the limit, further
//! attempts are refused without checking the password, in the dialect's own error shape and
//! without saying which of user or address tripped it. Memory is bounded: at most `max_tracked`
//! keys per kind, expired windows pruned when that bound is reached.

use std::hash::Hash;
use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};
use dashmap::DashMap;

/// Throttling limits; a limit of 0 turns that kind of counting off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    pub failures_per_user: u32,
    pub failures_per_address: u32,
    pub window: TimeDelta,
    pub max_tracked: usize,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            failures_per_user: 10,
            failures_per_address: 100,
            window: TimeDelta::minutes(5),
            max_tracked: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: DateTime<Utc>,
    failures: u32,
}

struct Counter<K: Eq + Hash> {
    limit: u32,
    windows: DashMap<K, Window>,
}

impl<K: Eq + Hash + Clone> Counter<K> {
    fn new(limit: u32) -> Self {
        Self {
            limit,
            windows: DashMap::new(),
        }
    }

    /// Seconds until `key` may try again, if it is over its limit now.
    fn blocked(&self, key: &K, now: DateTime<Utc>, window: TimeDelta) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let entry = self.windows.get(key)?;
        let ends = entry.started + window;
        (entry.failures >= self.limit && ends > now)
            .then(|| (ends - now).num_seconds().max(1) as u64)
    }

    fn fail(&self, key: &K, now: DateTime<Utc>, settings: &ThrottleSettings) {
        if self.limit == 0 {
            return;
        }
        if self.windows.len() >= settings.max_tracked && !self.windows.contains_key(key) {
            self.windows
                .retain(|_, w| w.started + settings.window > now);
            if self.windows.len() >= settings.max_tracked {
                // Still full of live windows: a spray of distinct keys. The other counter (per
                // address or per user) still limits it; growing without bound would not.
                return;
            }
        }
        let mut entry = self.windows.entry(key.clone()).or_insert(Window {
            started: now,
            failures: 0,
        });
        if entry.started + settings.window <= now {
            *entry = Window {
                started: now,
                failures: 0,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
    }

    fn forget(&self, key: &K) {
        self.windows.remove(key);
    }
}

/// See the module docs.
pub struct Throttle {
    settings: ThrottleSettings,
    users: Counter<String>,
    addresses: Counter<IpAddr>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Throttle {
    pub fn new(settings: ThrottleSettings) -> Self {
        Self {
            users: Counter::new(settings.failures_per_user),
            addresses: Counter::new(settings.failures_per_address),
            settings,
        }
    }

    fn user_key(username: &str) -> String {
        username.to_lowercase()
    }

    /// `Some(seconds)` when this attempt must be refused.
    pub fn check(&self, username: &str, peer: IpAddr, now: DateTime<Utc>) -> Option<u64> {
        let window = self.settings.window;
        let user = self.users.blocked(&Self::user_key(username), now, window);
        let address = self.addresses.blocked(&peer, now, window);
        user.max(address)
    }

    pub fn failed(&self, username: &str, peer: IpAddr, now: DateTime<Utc>) {
        self.users
            .fail(&Self::user_key(username), now, &self.settings);
        self.addresses.fail(&peer, now, &self.settings);
    }

    /// A successful sign-in clears the user's count (not the address's: one success must not
    /// reset an address that is guessing at many users).
    pub fn succeeded(&self, username: &str) {
        self.users.forget(&Self::user_key(username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_600_000_000 + secs, 0).expect("valid")
    }

    #[test]
    fn a_user_is_blocked_after_the_limit_until_the_window_ends() {
        let throttle = Throttle::new(ThrottleSettings {
            failures_per_user: 3,
            failures_per_address: 0,
            window: TimeDelta::seconds(60),
            max_tracked: 10,
        });
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        for i in 0..3 {
            assert_eq!(throttle.check("Alice", ip, at(i)), None);
            throttle.failed("alice", ip, at(i));
        }
        assert_eq!(throttle.check("ALICE", ip, at(10)), Some(50));
        assert_eq!(throttle.check("bob", ip, at(10)), None);
        assert_eq!(throttle.check("alice", ip, at(60)), None);
    }

    #[test]
    fn an_address_spraying_user_names_is_blocked_and_memory_stays_bounded() {
        let throttle = Throttle::new(ThrottleSettings {
            failures_per_user: 5,
            failures_per_address: 20,
            window: TimeDelta::seconds(60),
            max_tracked: 8,
        });
        let ip: IpAddr = "192.0.2.2".parse().expect("ip");
        for i in 0..1000 {
            throttle.failed(&format!("user{i}"), ip, at(1));
        }
        assert!(throttle.users.windows.len() <= 8);
        assert!(throttle.check("anyone", ip, at(2)).is_some());
    }
}
