//! The engine's two sources of nondeterminism, time and randomness, behind traits so tests run
//! with a fixed clock and seeded ids and compare tokens byte for byte.

use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use rand::{RngCore, SeedableRng, rngs::StdRng};
use uuid::Uuid;

/// Tells the current instant.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move: for tests and golden files.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = at;
    }

    pub fn advance(&self, by: TimeDelta) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Random bytes for token ids, refresh tokens and session ids (RFC 6749 §10.10: at least
/// 128 bits each).
pub trait IdSource: Send + Sync {
    fn fill(&self, bytes: &mut [u8]);

    /// A random (version 4) UUID.
    fn uuid(&self) -> Uuid {
        let mut bytes = [0u8; 16];
        self.fill(&mut bytes);
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

/// The operating system's cryptographic random source.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsIds;

impl IdSource for OsIds {
    fn fill(&self, bytes: &mut [u8]) {
        rand::rng().fill_bytes(bytes);
    }
}

/// A deterministic source for tests: the same seed gives the same ids in the same order.
#[derive(Debug)]
pub struct SeededIds(Mutex<StdRng>);

impl SeededIds {
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(StdRng::seed_from_u64(seed)))
    }
}

impl IdSource for SeededIds {
    fn fill(&self, bytes: &mut [u8]) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .fill_bytes(bytes);
    }
}

/// The test kit's clock: the system time moved by an offset, or frozen at an instant, as the
/// control API says. Only a gateway with `[control]` reads time through it.
#[derive(Debug, Default)]
pub struct ControlledClock(Mutex<Setting>);

/// Where a [`ControlledClock`] stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Setting {
    /// Added to the system time while running.
    pub offset: TimeDelta,
    /// The instant the clock stands at, when frozen.
    pub frozen_at: Option<DateTime<Utc>>,
}

impl ControlledClock {
    /// Running with the system time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Frozen at `at`.
    pub fn frozen(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(Setting {
            offset: TimeDelta::zero(),
            frozen_at: Some(at),
        }))
    }

    fn with<T>(&self, change: impl FnOnce(&mut Setting, DateTime<Utc>) -> T) -> T {
        let mut setting = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut setting, Utc::now())
    }

    pub fn setting(&self) -> Setting {
        self.with(|setting, _| *setting)
    }

    /// Moves the clock to `at`; it stays frozen or running as it was.
    pub fn set(&self, at: DateTime<Utc>) {
        self.with(|setting, system| match &mut setting.frozen_at {
            Some(frozen) => *frozen = at,
            None => setting.offset = at - system,
        });
    }

    /// Stops the clock where it is now (or keeps it stopped).
    pub fn freeze(&self) {
        self.with(|setting, system| {
            setting.frozen_at.get_or_insert(system + setting.offset);
        });
    }

    /// Lets a stopped clock run on from where it stands.
    pub fn unfreeze(&self) {
        self.with(|setting, system| {
            if let Some(at) = setting.frozen_at.take() {
                setting.offset = at - system;
            }
        });
    }

    pub fn advance(&self, by: TimeDelta) {
        self.with(|setting, _| match &mut setting.frozen_at {
            Some(frozen) => *frozen += by,
            None => setting.offset += by,
        });
    }

    /// Back to the system time, running.
    pub fn reset(&self) {
        self.with(|setting, _| *setting = Setting::default());
    }
}

impl Clock for ControlledClock {
    fn now(&self) -> DateTime<Utc> {
        self.with(|setting, system| setting.frozen_at.unwrap_or(system + setting.offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_controlled_clock_freezes_moves_and_runs_on_from_where_it_stands() {
        let at = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let clock = ControlledClock::frozen(at);
        assert_eq!(clock.now(), at);
        clock.advance(TimeDelta::minutes(15));
        assert_eq!(clock.now(), at + TimeDelta::minutes(15));
        clock.unfreeze();
        let running = clock.now();
        assert!(running >= at + TimeDelta::minutes(15));
        assert!(running < at + TimeDelta::minutes(16));
        clock.set(at);
        assert!(clock.now() - at < TimeDelta::seconds(1));
        clock.freeze();
        let stopped = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(clock.now(), stopped);
        clock.reset();
        assert!((clock.now() - Utc::now()).abs() < TimeDelta::seconds(1));
    }
}
