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

    /// Takes back bytes drawn for an answer that was never given (a redemption the store
    /// refused), which must be the latest the caller drew, in the order drawn. A random source
    /// just forgets them; a deterministic one hands them out again, so that what a test's later
    /// requests get does not depend on whether an earlier redemption failed.
    fn give_back(&self, _bytes: &[u8]) {}

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
/// Bytes given back are handed out again first; as every id is a whole number of 4-byte words
/// (16 or 32 bytes), the stream is then exactly the one without the draw that was given back.
#[derive(Debug)]
pub struct SeededIds(Mutex<Seeded>);

#[derive(Debug)]
struct Seeded {
    rng: StdRng,
    given_back: std::collections::VecDeque<u8>,
}

impl SeededIds {
    pub fn new(seed: u64) -> Self {
        Self(Mutex::new(Seeded {
            rng: StdRng::seed_from_u64(seed),
            given_back: std::collections::VecDeque::new(),
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Seeded> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl IdSource for SeededIds {
    fn fill(&self, bytes: &mut [u8]) {
        let mut state = self.state();
        let reused = bytes.len().min(state.given_back.len());
        for (byte, back) in bytes.iter_mut().zip(state.given_back.drain(..reused)) {
            *byte = back;
        }
        state.rng.fill_bytes(&mut bytes[reused..]);
    }

    fn give_back(&self, bytes: &[u8]) {
        let mut state = self.state();
        for &byte in bytes.iter().rev() {
            state.given_back.push_front(byte);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_given_back_come_out_again_as_if_never_drawn() {
        let (plain, giving) = (SeededIds::new(7), SeededIds::new(7));
        let mut expected = [[0u8; 16]; 3];
        for id in &mut expected {
            plain.fill(id);
        }
        let mut first = [0u8; 16];
        giving.fill(&mut first);
        // A redemption draws 16 + 32 bytes, then gives them back.
        let mut drawn = [0u8; 48];
        giving.fill(&mut drawn);
        giving.give_back(&drawn);
        let mut rest = [[0u8; 16]; 2];
        for id in &mut rest {
            giving.fill(id);
        }
        assert_eq!([first, rest[0], rest[1]], expected);
    }
}
