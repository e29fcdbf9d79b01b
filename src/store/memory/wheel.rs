//! Expiry without a timer task or a stop-the-world sweep: every stored entry is filed under the
//! second it expires, and each insert takes a bounded number of due items off the oldest end
//! ([`Wheel::due`]) for the store to retire.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::lock;
use super::records::Key16;
use crate::domain::SessionId;

/// Which table an entry is in, and its key. The entry may have been replaced or extended since it
/// was filed, so the store retires it only if it is still expired.
#[derive(Clone, Copy)]
pub(super) enum Expiring {
    Token(Key16),
    Session(SessionId),
    Access(Key16),
    RevokedAccess(Key16),
}

const _: () = assert!(size_of::<Expiring>() == 17);

#[derive(Default)]
pub(super) struct Wheel {
    /// Items keyed by the whole second at or after which they expire.
    seconds: Mutex<BTreeMap<i64, Vec<Expiring>>>,
}

impl Wheel {
    pub(super) fn schedule(&self, item: Expiring, at: DateTime<Utc>) {
        lock(&self.seconds)
            .entry(crate::store::expiry_second(at))
            .or_default()
            .push(item);
    }

    /// Takes up to `budget` items that are due at `now`, oldest second first.
    pub(super) fn due(&self, now: DateTime<Utc>, budget: usize) -> Vec<Expiring> {
        let now_sec = now.timestamp();
        let mut due = Vec::with_capacity(budget);
        let mut seconds = lock(&self.seconds);
        while due.len() < budget {
            let Some(mut bucket) = seconds.first_entry() else {
                break;
            };
            if *bucket.key() > now_sec {
                break;
            }
            let items = bucket.get_mut();
            let take = (budget - due.len()).min(items.len());
            due.extend(items.drain(items.len() - take..));
            if items.is_empty() {
                bucket.remove();
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(n: u128) -> Expiring {
        Expiring::Session(SessionId(uuid::Uuid::from_u128(n)))
    }

    fn sessions(items: Vec<Expiring>) -> Vec<u128> {
        items
            .into_iter()
            .map(|item| match item {
                Expiring::Session(session) => session.0.as_u128(),
                _ => panic!("only sessions were scheduled"),
            })
            .collect()
    }

    fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, nanos).expect("valid")
    }

    #[test]
    fn due_items_leave_oldest_second_first_within_the_budget() {
        let wheel = Wheel::default();
        for n in 1..=3 {
            wheel.schedule(session(n), at(10, 0));
        }
        wheel.schedule(session(4), at(10, 500));
        wheel.schedule(session(5), at(20, 0));
        assert_eq!(sessions(wheel.due(at(10, 999_999_999), 8)), [1, 2, 3]);
        // The item expiring at 10.5 s is filed under second 11.
        assert_eq!(sessions(wheel.due(at(11, 0), 8)), [4]);
        assert!(wheel.due(at(19, 0), 8).is_empty());
        wheel.schedule(session(6), at(20, 0));
        wheel.schedule(session(7), at(21, 0));
        // A budget smaller than a second's items takes the latest filed; the rest stay due.
        assert_eq!(sessions(wheel.due(at(30, 0), 1)), [6]);
        assert_eq!(sessions(wheel.due(at(30, 0), 8)), [5, 7]);
        assert!(wheel.due(at(30, 0), 8).is_empty());
    }
}
