//! The in-process store: sharded maps (`dashmap`) for tokens, revoked sessions and not-before
//! markers. Expired entries leave through a per-second expiry wheel that every insert advances by a
//! bounded step, so there is no stop-the-world sweep and no timer task, and a cap on entries
//! keeps memory bounded under a flood of grants.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use dashmap::mapref::entry::Entry as MapEntry;

use super::{
    AccessRecord, NotBefore, RefreshRecord, StoreError, Subject, Taken, TokenKey, TokenStore,
};
use crate::engine::SessionId;

/// The default cap on stored tokens (live plus remembered-as-used).
pub const DEFAULT_MAX_ENTRIES: usize = 2_000_000;

/// How many expiry-wheel items one insert may retire; enough to keep up with any insert rate
/// (each insert adds at most two items) while bounding the work on one request.
const SWEEP_BUDGET: usize = 8;

enum Slot {
    Live(RefreshRecord),
    Used {
        session: SessionId,
        expires_at: DateTime<Utc>,
    },
}

impl Slot {
    fn expires_at(&self) -> DateTime<Utc> {
        match self {
            Slot::Live(record) => record.expires_at,
            Slot::Used { expires_at, .. } => *expires_at,
        }
    }
}

#[derive(Clone, Copy)]
enum Expiring {
    Token(TokenKey),
    Session(SessionId),
    Access(TokenKey),
    RevokedAccess(TokenKey),
}

/// See the module docs.
pub struct MemoryStore {
    tokens: DashMap<TokenKey, Slot>,
    revoked_sessions: DashMap<SessionId, DateTime<Utc>>,
    not_before: DashMap<Subject, NotBefore>,
    access: DashMap<TokenKey, AccessRecord>,
    revoked_access: DashMap<TokenKey, DateTime<Utc>>,
    /// Items keyed by the whole second at or after which they expire.
    wheel: Mutex<BTreeMap<i64, Vec<Expiring>>>,
    entries: AtomicUsize,
    max_entries: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ENTRIES)
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.entries.load(Ordering::Relaxed))
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    pub fn new(max_entries: usize) -> Self {
        Self {
            tokens: DashMap::new(),
            revoked_sessions: DashMap::new(),
            not_before: DashMap::new(),
            access: DashMap::new(),
            revoked_access: DashMap::new(),
            wheel: Mutex::new(BTreeMap::new()),
            entries: AtomicUsize::new(0),
            max_entries,
        }
    }

    /// Entries currently held: refresh tokens (live and remembered-as-used), opaque access
    /// tokens and access-token revocations.
    pub fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn schedule(&self, item: Expiring, at: DateTime<Utc>) {
        self.wheel()
            .entry(super::expiry_second(at))
            .or_default()
            .push(item);
    }

    fn wheel(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Vec<Expiring>>> {
        // A panic elsewhere while holding the lock cannot leave the wheel inconsistent: every
        // mutation is a single push or pop.
        self.wheel
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Retires up to `budget` expired items, oldest first.
    pub fn sweep(&self, now: DateTime<Utc>, budget: usize) {
        let now_sec = now.timestamp();
        let mut due = Vec::with_capacity(budget);
        {
            let mut wheel = self.wheel();
            while due.len() < budget {
                let Some(mut bucket) = wheel.first_entry() else {
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
        }
        // Map removals happen outside the wheel lock so inserts never wait on them.
        for item in due {
            self.retire(item, now);
        }
    }

    fn retire(&self, item: Expiring, now: DateTime<Utc>) {
        match item {
            Expiring::Token(key) => {
                if self
                    .tokens
                    .remove_if(&key, |_, slot| slot.expires_at() <= now)
                    .is_some()
                {
                    self.entries.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Expiring::Session(session) => {
                self.revoked_sessions
                    .remove_if(&session, |_, until| *until <= now);
            }
            Expiring::Access(key) => {
                if self
                    .access
                    .remove_if(&key, |_, record| record.claims.exp <= now.timestamp())
                    .is_some()
                {
                    self.entries.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Expiring::RevokedAccess(key) => {
                if self
                    .revoked_access
                    .remove_if(&key, |_, until| *until <= now)
                    .is_some()
                {
                    self.entries.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn session_revoked(&self, session: SessionId, now: DateTime<Utc>) -> bool {
        self.revoked_sessions
            .get(&session)
            .is_some_and(|until| *until > now)
    }

    /// Counts one more entry, or refuses when the cap is reached. Reserving before inserting
    /// keeps concurrent inserts from overshooting the cap together.
    fn reserve(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.sweep(now, SWEEP_BUDGET);
        if self.entries.fetch_add(1, Ordering::Relaxed) >= self.max_entries {
            self.entries.fetch_sub(1, Ordering::Relaxed);
            return Err(StoreError::Full(self.max_entries));
        }
        Ok(())
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn insert_refresh(
        &self,
        key: TokenKey,
        record: RefreshRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.reserve(now)?;
        let expires_at = record.expires_at;
        match self.tokens.entry(key) {
            MapEntry::Occupied(mut occupied) => {
                // 128 random bits do not collide; if they did, the newer token wins.
                occupied.insert(Slot::Live(record));
                self.entries.fetch_sub(1, Ordering::Relaxed);
            }
            MapEntry::Vacant(vacant) => {
                vacant.insert(Slot::Live(record));
            }
        }
        self.schedule(Expiring::Token(key), expires_at);
        Ok(())
    }

    async fn take_refresh(&self, key: &TokenKey, now: DateTime<Utc>) -> Result<Taken, StoreError> {
        // The shard's write lock makes the read-and-replace one atomic step.
        let Some(mut slot) = self.tokens.get_mut(key) else {
            return Ok(Taken::Unknown);
        };
        if slot.expires_at() <= now {
            return Ok(Taken::Unknown);
        }
        let taken = match &*slot {
            Slot::Used { session, .. } => Taken::AlreadyUsed { session: *session },
            Slot::Live(record) => {
                let used = Slot::Used {
                    session: record.session,
                    expires_at: record.expires_at,
                };
                match std::mem::replace(&mut *slot, used) {
                    // Checked while the token's shard is locked: see `Taken::SessionRevoked`.
                    Slot::Live(record) if self.session_revoked(record.session, now) => {
                        Taken::SessionRevoked {
                            session: record.session,
                        }
                    }
                    Slot::Live(record) => Taken::Live(record),
                    Slot::Used { session, .. } => Taken::AlreadyUsed { session },
                }
            }
        };
        Ok(taken)
    }

    async fn revoke_session(
        &self,
        session: SessionId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if until <= now {
            return Ok(());
        }
        let mut extended = true;
        self.revoked_sessions
            .entry(session)
            .and_modify(|current| {
                if *current >= until {
                    extended = false;
                } else {
                    *current = until;
                }
            })
            .or_insert(until);
        if extended {
            self.schedule(Expiring::Session(session), until);
        }
        Ok(())
    }

    async fn is_session_revoked(
        &self,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.session_revoked(session, now))
    }

    async fn set_not_before(&self, subject: &Subject, marker: NotBefore) -> Result<(), StoreError> {
        self.not_before
            .entry(subject.clone())
            .and_modify(|current| {
                if marker.at >= current.at {
                    *current = marker;
                }
            })
            .or_insert(marker);
        Ok(())
    }

    async fn not_before(&self, subject: &Subject) -> Result<Option<NotBefore>, StoreError> {
        Ok(self.not_before.get(subject).map(|marker| *marker))
    }

    async fn peek_refresh(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        Ok(match self.tokens.get(key).as_deref() {
            Some(Slot::Live(record)) if record.expires_at > now => Some(record.clone()),
            _ => None,
        })
    }

    async fn insert_access(
        &self,
        key: TokenKey,
        record: AccessRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.reserve(now)?;
        let exp = DateTime::from_timestamp(record.claims.exp, 0).unwrap_or(now);
        if self.access.insert(key, record).is_some() {
            self.entries.fetch_sub(1, Ordering::Relaxed);
        }
        self.schedule(Expiring::Access(key), exp);
        Ok(())
    }

    async fn get_access(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<Option<AccessRecord>, StoreError> {
        Ok(self
            .access
            .get(key)
            .filter(|record| record.claims.exp > now.timestamp())
            .map(|record| record.clone()))
    }

    async fn revoke_access(
        &self,
        key: TokenKey,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if until <= now || self.revoked_access.contains_key(&key) {
            return Ok(());
        }
        self.reserve(now)?;
        if self.revoked_access.insert(key, until).is_some() {
            self.entries.fetch_sub(1, Ordering::Relaxed);
        }
        self.schedule(Expiring::RevokedAccess(key), until);
        Ok(())
    }

    async fn is_access_revoked(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .revoked_access
            .get(key)
            .is_some_and(|until| *until > now))
    }

    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ClientId;
    use chrono::TimeDelta;

    fn record(expires_at: DateTime<Utc>) -> RefreshRecord {
        RefreshRecord {
            session: SessionId(uuid::Uuid::from_u128(7)),
            client: ClientId::new("c"),
            user: None,
            scope: None,
            session_started: expires_at - TimeDelta::hours(1),
            expires_at,
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn expired_tokens_leave_as_later_inserts_advance_the_wheel() {
        block_on(async {
            let store = MemoryStore::new(100);
            let t0 = DateTime::from_timestamp(1_600_000_000, 500).expect("valid");
            for i in 0..20u8 {
                let key = TokenKey([i; 32]);
                let rec = record(t0 + TimeDelta::seconds(10));
                store.insert_refresh(key, rec, t0).await.expect("insert");
            }
            assert_eq!(store.len(), 20);
            let later = t0 + TimeDelta::seconds(60);
            for i in 100..110u8 {
                let rec = record(later + TimeDelta::seconds(10));
                store
                    .insert_refresh(TokenKey([i; 32]), rec, later)
                    .await
                    .expect("insert");
            }
            assert_eq!(store.len(), 10, "the 20 expired tokens were retired");
        });
    }

    #[test]
    fn the_cap_refuses_inserts_instead_of_growing() {
        block_on(async {
            let store = MemoryStore::new(3);
            let t0 = DateTime::from_timestamp(1_600_000_000, 0).expect("valid");
            for i in 0..3u8 {
                let rec = record(t0 + TimeDelta::seconds(10));
                store
                    .insert_refresh(TokenKey([i; 32]), rec, t0)
                    .await
                    .expect("fits");
            }
            let rec = record(t0 + TimeDelta::seconds(10));
            let err = store.insert_refresh(TokenKey([9; 32]), rec, t0).await;
            assert_eq!(err, Err(StoreError::Full(3)));
        });
    }

    #[test]
    fn a_token_is_taken_once_then_recognised_as_reused() {
        block_on(async {
            let store = MemoryStore::default();
            let t0 = DateTime::from_timestamp(1_600_000_000, 0).expect("valid");
            let rec = record(t0 + TimeDelta::seconds(10));
            let key = TokenKey([1; 32]);
            store
                .insert_refresh(key, rec.clone(), t0)
                .await
                .expect("insert");
            assert_eq!(
                store.take_refresh(&key, t0).await,
                Ok(Taken::Live(rec.clone()))
            );
            assert_eq!(
                store.take_refresh(&key, t0).await,
                Ok(Taken::AlreadyUsed {
                    session: rec.session
                })
            );
            let after = t0 + TimeDelta::seconds(11);
            assert_eq!(store.take_refresh(&key, after).await, Ok(Taken::Unknown));
        });
    }
}
