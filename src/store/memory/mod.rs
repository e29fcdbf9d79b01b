//! The in-process store: sharded maps (`dashmap`) for tokens, revoked sessions, not-before
//! markers and opaque access tokens. Expired entries leave through a per-second expiry wheel that
//! every insert advances by a bounded step, so there is no stop-the-world sweep and no timer
//! task, and a cap on entries keeps memory bounded under a flood of grants. Failed-password
//! counters are held in one table beside them, under a cap of their own
//! ([`MemoryStore::with_max_counters`]) so that they never take a token's place.
//!
//! # Refresh tokens: layout and byte budget
//!
//! Refresh tokens are nearly all of the state on a busy gateway (one per sign-in and refresh,
//! each kept for the refresh TTL), so they are held compactly: the budget is 180 resident bytes
//! per live token of the whole process (ten million in 1.8 GiB), and the memory goes back to the
//! OS once they expire.
//!
//! - The `tokens` table maps a 16-byte [`Key16`] (half of the token's SHA-256) to a 48-byte
//!   [`Packed`] record held inline: session id 16, session start and expiry as i64 nanoseconds
//!   8 + 8, three u32 ids (client, user, scope) 12, the used and has-a-successor flags
//!   being the client id's top two bits, and the security stamp's 4-byte fingerprint. A bucket
//!   is 64 bytes plus hashbrown's control byte, and there is no per-token heap allocation.
//! - Client and user ids are interned in [`Names`], which the configured directory bounds.
//!   Scopes are whatever clients ask for, so [`Scopes`] counts the live tokens holding each
//!   distinct string and drops it with the last one; tokens with the same scope share one copy.
//! - Each token has one 17-byte [`Expiring`] item in the wheel (in a `Vec` per second, which
//!   grows by doubling: about 17.5 bytes at a steady 1 000 grants/s, up to twice that).
//! - A used token keeps its record's size: the time it was taken replaces its session start,
//!   which only a live token needs. The sealed successor a rotation stores (at most 64 bytes
//!   and the map's overhead, only on routes with a reuse grace) lives in a side map,
//!   `successors`, under the same key; the record's flag says there is one, so retiring a
//!   marker without one costs nothing more, and the entry leaves with its marker.
//!
//! - Each subject (interned client and user ids) has one [`Holdings`] entry in `subjects`, for
//!   its session quota: a 40-byte bucket holding its live count and its keys oldest first, one
//!   key inline and a boxed `VecDeque` of 16-byte keys only from the second (stale keys, of tokens
//!   since used or expired, are dropped at the front or by a compaction once they outnumber the
//!   live ones). A one-session subject costs its bucket, 47 to 94 bytes at hashbrown's load; a
//!   subject with many sessions about 16 to 32 bytes a token (64 just before a compaction).
//!   Measured (`cargo test --test api -- --ignored memory_bytes_per_token`, RSS growth for a
//!   million tokens): one client's app tokens 149 bytes a token before the index, 165 with it;
//!   one session per user (interned user ids included) 261 before, 347 with it.
//!
//! # Capacity
//!
//! `max_entries` caps live entries (unused refresh tokens, opaque access tokens, access
//! revocations); used markers count against `limits.max_tombstones` instead, so a rotation
//! frees its parent's live slot in the same step, and at the tombstone budget a rotation
//! removes its parent rather than keeping a marker. A new session of a subject at its quota
//! first drops the subject's oldest live token, under the subject's lock; a rotation's child
//! costs no quota and is admitted at the cap, as its parent leaves the live count. Lock order:
//! a `subjects` shard, then a `tokens` shard, never the other way round (a rotation or a
//! retirement updates a subject only after releasing the token's shard).
//!
//! # Rotations
//!
//! A rotation (parent used, successor kept, child stored) touches two keys that may sit in
//! different shards, and holding two shard locks at once could deadlock against another
//! rotation the other way round. So rotations of one parent take turns on a striped mutex
//! (`rotations`, by the parent's key) and change the tables in this order: read the parent,
//! store the child, mark the parent used. Between the two steps the child is stored but
//! nobody knows its token, and the only thing that uses a token up is a rotation, which waits
//! for its turn: no caller can see a half-done rotation. A child the store refuses (full)
//! leaves the parent live.
//!
//! hashbrown doubles a table when it is 7/8 full, so a table is between 7/16 and 7/8 full and a
//! bucket costs between 74 and 149 bytes per live token; with the wheel at a steady grant rate
//! that is 92 to 166 bytes. `cargo bench --bench load -- memory` (a million grants, RSS of the
//! process, at 48% full) measured 146 on 2026-11-22; on 2026-12-03, on another machine, 162
//! before the stamp's 4 bytes and 176 after: 8 for the stamp at that fill, and about 6 for the
//! histogram samples of `/metrics` that wait up to a second for their upkeep
//! (`http::metrics`).
//! Records are inline rather than boxed although a box would make the worst case smaller
//! (25 bytes a bucket plus a 64-byte malloc chunk): boxes freed by the sweep are reused by the
//! tokens issued meanwhile, which end up scattered over every page the old tokens used, so those
//! pages cannot go back to the OS (measured: after expiry, boxed records kept twice the RSS of
//! inline ones); a table is one allocation and leaves whole when it is shrunk.
//!
//! Memory goes back once a table is mostly empty: every [`COMPACT_CHECK_EVERY`] retirements the
//! store looks at its tables, shrinks any that is below a quarter of its capacity and then asks
//! the allocator to return free pages (`malloc_trim` with glibc). Like retirement, this happens
//! as inserts advance the wheel. Large blocks (big tables) leave at once when a growth or a
//! shrink replaces them if glibc maps them on their own, which is a setting of the whole process:
//! the store does not make it, the program does, before it builds the store
//! ([`sys::map_large_allocations`](crate::sys::map_large_allocations), called by `tokengate
//! serve` and by the benches). Without it the store works the same, but a second fill after an
//! expiry costs more resident memory per token.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dashmap::DashMap;

use super::counters::{Counters, DEFAULT_MAX_COUNTERS};
use crate::domain::{
    AccessRecord, ClientId, CounterKey, FailureWindow, NotBefore, RefreshRecord, Rotation, Scope,
    SealedToken, SessionId, StampDigest, StoreError, StoreLimits, Subject, Taken, TokenKey,
    TokenStore, Usage, UserId,
};

mod intern;
mod records;
mod wheel;

use intern::{Names, Scopes};
use records::{Key16, KeyPrefix, NO_SCOPE, NO_USER, Packed, from_nanos, to_nanos};
use wheel::{Expiring, Wheel};

/// The default cap on live entries: refresh tokens not yet used, opaque access tokens and
/// access revocations. Used-token markers have a budget of their own
/// ([`StoreLimits::max_tombstones`]).
pub const DEFAULT_MAX_ENTRIES: usize = 2_000_000;

/// Stale keys a subject's queue may hold beyond twice its live tokens before it is compacted.
const HOLDINGS_SLACK: usize = 8;

/// A [`Subject`] as this store keys it: its interned client and user ids ([`NO_USER`] for app
/// tokens), 8 bytes instead of two strings.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct SubjectIds {
    client: u32,
    user: u32,
}

impl SubjectIds {
    fn of(packed: &Packed) -> Self {
        Self {
            client: packed.client(),
            user: packed.user,
        }
    }
}

/// One subject's live refresh tokens, for its quota: how many, and their keys oldest first.
/// A take or an expiry only lowers the count and leaves the key (so it costs no search); a
/// stale key is dropped when it reaches the front, or when the queue holds more than twice
/// the live tokens (plus [`HOLDINGS_SLACK`]), so it stays within 2 keys per live token.
#[derive(Default)]
struct Holdings {
    live: u32,
    keys: Keys,
}

/// A subject's keys, oldest first. Most subjects hold one session, so one key is held inline
/// and a queue (boxed, so that the variant stays small, with its heap block) exists only from
/// the second: a one-session subject costs its map bucket alone, 8 + 32 bytes.
#[derive(Default)]
enum Keys {
    #[default]
    Empty,
    One(Key16),
    // Boxed on purpose: the extra allocation is paid only by subjects with two sessions or
    // more, and it keeps every subject's bucket 8 bytes smaller (measured: 17 bytes a token
    // for one-session users).
    #[allow(clippy::box_collection)]
    Many(Box<VecDeque<Key16>>),
}

const _: () = assert!(size_of::<Holdings>() <= 32);

impl Keys {
    fn push_back(&mut self, key: Key16) {
        match self {
            Keys::Empty => *self = Keys::One(key),
            Keys::One(first) => *self = Keys::Many(Box::new(VecDeque::from([*first, key]))),
            Keys::Many(queue) => queue.push_back(key),
        }
    }

    fn pop_front(&mut self) -> Option<Key16> {
        match self {
            Keys::Empty => None,
            Keys::One(key) => {
                let key = *key;
                *self = Keys::Empty;
                Some(key)
            }
            Keys::Many(queue) => {
                let key = queue.pop_front();
                if queue.is_empty() {
                    *self = Keys::Empty;
                }
                key
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Keys::Empty => 0,
            Keys::One(_) => 1,
            Keys::Many(queue) => queue.len(),
        }
    }

    /// Keeps the keys `keep` says, and gives back the room the others took.
    fn retain(&mut self, mut keep: impl FnMut(&Key16) -> bool) {
        match self {
            Keys::Empty => {}
            Keys::One(key) => {
                if !keep(key) {
                    *self = Keys::Empty;
                }
            }
            Keys::Many(queue) => {
                queue.retain(|key| keep(key));
                match queue.len() {
                    0 => *self = Keys::Empty,
                    1 => *self = Keys::One(queue[0]),
                    len if queue.capacity() > 4 * len.max(HOLDINGS_SLACK) => queue.shrink_to_fit(),
                    _ => {}
                }
            }
        }
    }
}

/// How many expiry-wheel items one insert may retire; enough to keep up with any insert rate
/// (each insert adds at most two items) while bounding the work on one request.
const SWEEP_BUDGET: usize = 8;

/// Retirements between two looks at whether a table has become sparse. A look read-locks every
/// shard of each table, so it is kept off the per-request path; a shrink costs time in
/// proportion to the table, and the table must have lost most of its entries since the last one
/// (it holds at least half its capacity after a shrink and is shrunk only below a quarter), so
/// the cost per retirement stays constant.
const COMPACT_CHECK_EVERY: usize = 4096;

/// Mutexes that rotations of one parent take turns on (see the module docs): enough that two
/// gateways' worth of concurrent requests rarely share one.
const ROTATION_STRIPES: usize = 64;

/// Tables with fewer slots than this are left as they are: too small to matter.
const COMPACT_MIN_CAPACITY: usize = 4096;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock cannot leave these tables inconsistent: each
    // mutation is a single push, pop or insert.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// See the module docs.
pub struct MemoryStore {
    tokens: DashMap<Key16, Packed, KeyPrefix>,
    /// The sealed successors of used tokens whose record has [`Packed::has_successor`]. Locked
    /// only while a `tokens` shard is held or with none held, never the other way round.
    successors: DashMap<Key16, SealedToken, KeyPrefix>,
    counters: Counters,
    names: Names,
    scopes: Scopes,
    revoked_sessions: DashMap<SessionId, DateTime<Utc>>,
    not_before: DashMap<Subject, NotBefore>,
    // Keyed by hashes of server-generated values too, but these maps are rare and hold
    // little, so they keep the default keyed hasher rather than lean on that argument.
    access: DashMap<Key16, AccessRecord>,
    revoked_access: DashMap<Key16, DateTime<Utc>>,
    /// Live refresh tokens per subject; see [`Holdings`]. Lock order: a `subjects` shard may be
    /// held while a `tokens` shard is locked, never the other way round.
    subjects: DashMap<SubjectIds, Holdings>,
    /// The subject that last reached its quota, and the quota: named by the fill warning.
    quota_hit: Mutex<Option<(SubjectIds, usize)>>,
    wheel: Wheel,
    /// Live entries: unused refresh tokens, opaque access tokens, access revocations.
    entries: AtomicUsize,
    max_entries: usize,
    /// Used-token markers held, against `limits.max_tombstones`.
    tombstones: AtomicUsize,
    limits: StoreLimits,
    /// Retirements so far, for [`COMPACT_CHECK_EVERY`].
    retired: AtomicUsize,
    /// Set while one thread compacts, so that others do not queue behind it to do it again.
    compacting: AtomicBool,
    /// Rotations of parents in one stripe run one at a time; taken before any shard lock.
    rotations: [Mutex<()>; ROTATION_STRIPES],
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
            .field("tombstones", &self.tombstones.load(Ordering::Relaxed))
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    pub fn new(max_entries: usize) -> Self {
        Self {
            tokens: DashMap::with_hasher(KeyPrefix),
            successors: DashMap::with_hasher(KeyPrefix),
            counters: Counters::new(DEFAULT_MAX_COUNTERS),
            names: Names::default(),
            scopes: Scopes::default(),
            revoked_sessions: DashMap::new(),
            not_before: DashMap::new(),
            access: DashMap::new(),
            revoked_access: DashMap::new(),
            subjects: DashMap::new(),
            quota_hit: Mutex::new(None),
            wheel: Wheel::default(),
            entries: AtomicUsize::new(0),
            max_entries,
            tombstones: AtomicUsize::new(0),
            limits: StoreLimits::default(),
            retired: AtomicUsize::new(0),
            compacting: AtomicBool::new(false),
            rotations: std::array::from_fn(|_| Mutex::new(())),
        }
    }

    /// Keeps at most `max` failed-password counters (default [`DEFAULT_MAX_COUNTERS`]).
    pub fn with_max_counters(mut self, max: usize) -> Self {
        self.counters = Counters::new(max);
        self
    }

    /// Sets the tombstone budget and the session quotas (default [`StoreLimits::default`]).
    pub fn with_limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Entries currently held: refresh tokens (live and remembered-as-used), opaque access
    /// tokens and access-token revocations. Counters are not entries.
    pub fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed) + self.tombstones.load(Ordering::Relaxed)
    }

    /// Live entries, against the cap: refresh tokens not yet used, opaque access tokens and
    /// access revocations.
    pub fn live_entries(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    /// Used-token markers held, against the tombstone budget.
    pub fn tombstones(&self) -> usize {
        self.tombstones.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Retires up to `budget` expired items, oldest first.
    pub fn sweep(&self, now: DateTime<Utc>, budget: usize) {
        let due = self.wheel.due(now, budget);
        // Map removals happen outside the wheel lock so inserts never wait on them.
        let retired = due
            .into_iter()
            .filter(|item| self.retire(*item, now))
            .count();
        self.after_retiring(retired);
    }

    /// Removes an item if it is still expired; whether an entry left.
    fn retire(&self, item: Expiring, now: DateTime<Utc>) -> bool {
        let removed = match item {
            Expiring::Token(key) => {
                let now = to_nanos(now);
                return match self.tokens.remove_if(&key, |_, slot| slot.is_expired(now)) {
                    Some((_, gone)) => {
                        // After the removal, not under the shard lock.
                        self.forget(key, &gone);
                        self.uncount(&gone);
                        true
                    }
                    None => false,
                };
            }
            Expiring::Session(session) => {
                self.revoked_sessions
                    .remove_if(&session, |_, until| *until <= now);
                // Sessions are not counted as entries.
                return false;
            }
            Expiring::Access(key) => self
                .access
                .remove_if(&key, |_, record| record.claims.exp <= now.timestamp())
                .is_some(),
            Expiring::RevokedAccess(key) => self
                .revoked_access
                .remove_if(&key, |_, until| *until <= now)
                .is_some(),
        };
        if removed {
            self.entries.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Shrinks tables the sweep has left mostly empty and hands the freed pages back to the OS;
    /// looks only once every [`COMPACT_CHECK_EVERY`] retirements.
    fn after_retiring(&self, retired: usize) {
        if retired == 0 {
            return;
        }
        let before = self.retired.fetch_add(retired, Ordering::Relaxed);
        if before / COMPACT_CHECK_EVERY == (before + retired) / COMPACT_CHECK_EVERY {
            return;
        }
        if self.compacting.swap(true, Ordering::Acquire) {
            return;
        }
        // Each shrink write-locks one shard at a time while it rehashes that shard; no other
        // lock is held.
        let mut shrunk = shrink_if_sparse(&self.tokens);
        shrunk |= shrink_if_sparse(&self.successors);
        shrunk |= shrink_if_sparse(&self.access);
        shrunk |= shrink_if_sparse(&self.revoked_access);
        shrunk |= shrink_if_sparse(&self.revoked_sessions);
        shrunk |= shrink_if_sparse(&self.subjects);
        if shrunk {
            self.scopes.compact();
            crate::sys::release_free_memory();
        }
        self.compacting.store(false, Ordering::Release);
    }

    /// Lets go of what a record that left the table held besides itself.
    fn forget(&self, key: Key16, gone: &Packed) {
        if let Some(scope) = gone.scope() {
            self.scopes.release(scope);
        }
        if gone.has_successor() {
            self.successors.remove(&key);
        }
    }

    /// Takes a token that left the table off the count it was on: a marker off the
    /// tombstones, a live token off the entries and its subject's holdings.
    fn uncount(&self, gone: &Packed) {
        if gone.is_used() {
            self.tombstones.fetch_sub(1, Ordering::Relaxed);
        } else {
            self.entries.fetch_sub(1, Ordering::Relaxed);
            self.release_live(SubjectIds::of(gone));
        }
    }

    /// One live token of the subject is no longer live (taken, expired); called with no
    /// `tokens` shard held (see the lock order on `subjects`).
    fn release_live(&self, ids: SubjectIds) {
        let empty = match self.subjects.get_mut(&ids) {
            Some(mut holdings) => {
                holdings.live = holdings.live.saturating_sub(1);
                holdings.live == 0
            }
            None => false,
        };
        if empty {
            // Its queue holds only stale keys now; an insert racing this keeps the entry.
            self.subjects
                .remove_if(&ids, |_, holdings| holdings.live == 0);
        }
    }

    /// Drops the subject's oldest live token to make room for a new one (the quota), under the
    /// subject's lock. Stale keys met on the way leave the queue. `false` when no live token
    /// was left to drop.
    fn evict_oldest(&self, holdings: &mut Holdings) -> bool {
        while let Some(oldest) = holdings.keys.pop_front() {
            // Only a token that is still live goes: a used one is a marker the take already
            // counted off, a missing one was retired or evicted.
            if let Some((_, gone)) = self.tokens.remove_if(&oldest, |_, slot| !slot.is_used()) {
                self.forget(oldest, &gone);
                self.entries.fetch_sub(1, Ordering::Relaxed);
                holdings.live = holdings.live.saturating_sub(1);
                return true;
            }
        }
        false
    }

    /// Drops stale keys once they outnumber the live ones (see [`Holdings`]).
    fn compact_holdings(&self, holdings: &mut Holdings) {
        if holdings.keys.len() <= 2 * holdings.live as usize + HOLDINGS_SLACK {
            return;
        }
        holdings
            .keys
            .retain(|key| self.tokens.get(key).is_some_and(|slot| !slot.is_used()));
    }

    fn subject_of(&self, ids: SubjectIds) -> Result<Subject, StoreError> {
        Ok(Subject {
            client: ClientId::new(self.names.name(ids.client)?),
            user: match ids.user {
                NO_USER => None,
                id => Some(UserId::new(self.names.name(id)?)),
            },
        })
    }

    /// The store's usage, named subject included.
    fn usage_now(&self) -> Usage {
        let top = *lock(&self.quota_hit);
        Usage {
            entries: Some(self.entries.load(Ordering::Relaxed) as u64),
            max_entries: Some(self.max_entries as u64),
            tombstones: Some(self.tombstones.load(Ordering::Relaxed) as u64),
            max_tombstones: Some(self.limits.max_tombstones as u64),
            top_subject: top.and_then(|(ids, quota)| {
                self.subject_of(ids)
                    .ok()
                    .map(|subject| (subject, quota as u64))
            }),
        }
    }

    /// Reserves a tombstone for a take; `false` when the budget is full (the take then keeps
    /// no marker).
    fn reserve_tombstone(&self) -> bool {
        if self.tombstones.fetch_add(1, Ordering::Relaxed) >= self.limits.max_tombstones {
            self.tombstones.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
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
        self.reserve_slot()
    }

    /// [`MemoryStore::reserve`] without the sweep, for callers holding a `subjects` shard
    /// (retiring takes that lock).
    fn reserve_slot(&self) -> Result<(), StoreError> {
        let held = self.entries.fetch_add(1, Ordering::Relaxed);
        if held >= self.max_entries {
            self.entries.fetch_sub(1, Ordering::Relaxed);
            super::note_fill("memory", || self.usage_now());
            return Err(StoreError::Full(self.max_entries));
        }
        // Past 90%: a cheap comparison first, the warning (names resolved) at most once a
        // minute.
        if (held + 1) * 10 >= self.max_entries * 9 {
            super::note_fill("memory", || self.usage_now());
        }
        Ok(())
    }

    fn pack(&self, record: &RefreshRecord) -> Result<Packed, StoreError> {
        let client = self.names.intern(record.client.as_str())?;
        let user = match &record.user {
            Some(user) => self.names.intern(user.as_str())?,
            None => NO_USER,
        };
        // Last, so that a failure above leaves no reference behind.
        let scope = match &record.scope {
            Some(scope) => self.scopes.acquire(scope.as_str())?,
            None => NO_SCOPE,
        };
        Ok(Packed {
            session: *record.session.0.as_bytes(),
            session_started: to_nanos(record.session_started),
            expires_at: to_nanos(record.expires_at),
            client,
            user,
            scope,
            stamp: record.stamp.map_or(0, StampDigest::bits),
        })
    }

    fn unpack(
        &self,
        packed: &Packed,
        scope: Option<Arc<str>>,
    ) -> Result<RefreshRecord, StoreError> {
        Ok(RefreshRecord {
            session: packed.session(),
            client: ClientId::new(self.names.name(packed.client())?),
            user: match packed.user() {
                Some(id) => Some(UserId::new(self.names.name(id)?)),
                None => None,
            },
            scope: scope.map(Scope::new),
            session_started: from_nanos(packed.session_started),
            expires_at: from_nanos(packed.expires_at),
            stamp: StampDigest::from_bits(packed.stamp),
        })
    }
}

/// How an insert is admitted: a new session against its subject's quota and the entry cap,
/// or a rotation's child, which takes the place of its parent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Admission {
    NewSession,
    Rotation,
}

impl MemoryStore {
    /// Stores a live token. A new session of a subject at its quota first drops the subject's
    /// oldest live token, so a full store still takes a sign-in of a subject whose oldest
    /// session can go; only others are refused as full. A rotation's child costs no quota and
    /// is admitted at the cap: its parent leaves the live count in the same rotation.
    fn insert_token(
        &self,
        key: Key16,
        record: &RefreshRecord,
        now: DateTime<Utc>,
        admission: Admission,
    ) -> Result<(), StoreError> {
        // The sweep first, with no lock held: retiring takes `subjects` shards.
        self.sweep(now, SWEEP_BUDGET);
        let packed = self.pack(record)?;
        let ids = SubjectIds::of(&packed);
        // At least one: a quota of 0 would drop the token being stored.
        let quota = self.limits.quota(record.user.is_some()).max(1);
        let mut evicted = 0;
        let stored = {
            // The subject's lock makes the quota check, the eviction and the insert one step
            // for this subject: two sign-ins at once cannot both squeeze under the quota.
            let mut holdings = self.subjects.entry(ids).or_default();
            let stored = match admission {
                Admission::NewSession => {
                    while holdings.live as usize >= quota && self.evict_oldest(&mut holdings) {
                        evicted += 1;
                    }
                    self.reserve_slot()
                }
                Admission::Rotation => {
                    self.entries.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
            };
            if stored.is_ok() {
                // 128 random bits do not collide; if they did, the newer token wins (and the
                // older one's subject keeps counting it until its key is met again).
                if let Some(replaced) = self.tokens.insert(key, packed) {
                    self.forget(key, &replaced);
                    if replaced.is_used() {
                        self.tombstones.fetch_sub(1, Ordering::Relaxed);
                    } else {
                        self.entries.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                holdings.keys.push_back(key);
                holdings.live += 1;
                self.compact_holdings(&mut holdings);
            }
            stored
        };
        if evicted > 0 {
            *lock(&self.quota_hit) = Some((ids, quota));
            if let Ok(subject) = self.subject_of(ids) {
                super::note_quota("memory", &subject, quota, evicted);
            }
        }
        if let Err(error) = stored {
            // Nothing of the token stays: its scope reference goes, and an entry for a subject
            // that holds nothing leaves.
            self.forget(key, &packed);
            self.subjects
                .remove_if(&ids, |_, holdings| holdings.live == 0);
            return Err(error);
        }
        self.wheel.schedule(Expiring::Token(key), record.expires_at);
        Ok(())
    }

    /// Uses up the live token `key`, in its rotation's turn: it becomes a used marker (with
    /// `successor`) counted against the tombstone budget, or, with that budget full, leaves
    /// the table (replay detection degraded for it). Either way its live slot and its place in
    /// its subject's quota are freed at once. `false` if it was no longer live.
    fn use_up(&self, key: Key16, at: i64, successor: Option<SealedToken>) -> bool {
        let used = if self.reserve_tombstone() {
            let used = match self.tokens.get_mut(&key) {
                Some(mut slot) if !slot.is_used() => {
                    let live = *slot;
                    if let Some(scope) = slot.mark_used(at) {
                        self.scopes.release(scope);
                    }
                    if let Some(successor) = successor {
                        self.successors.insert(key, successor);
                        slot.mark_successor();
                    }
                    Some(live)
                }
                _ => None,
            };
            if used.is_none() {
                self.tombstones.fetch_sub(1, Ordering::Relaxed);
            }
            used
        } else {
            let gone = self.tokens.remove_if(&key, |_, slot| !slot.is_used());
            gone.map(|(_, gone)| {
                self.forget(key, &gone);
                super::note_tombstones_full("memory", self.limits.max_tombstones);
                gone
            })
        };
        match used {
            Some(live) => {
                // With the token's shard released (see the lock order on `subjects`).
                self.entries.fetch_sub(1, Ordering::Relaxed);
                self.release_live(SubjectIds::of(&live));
                true
            }
            None => false,
        }
    }

    /// See the module docs' "Rotations" and [`TokenStore::rotate_refresh`].
    fn rotate(
        &self,
        parent: Key16,
        child: Rotation,
        now: DateTime<Utc>,
    ) -> Result<Taken, StoreError> {
        let _turn = lock(&self.rotations[parent.stripe(ROTATION_STRIPES)]);
        let at = to_nanos(now);
        let record = {
            // The name and scope locks taken under a shard lock never wait on a token shard.
            let Some(slot) = self.tokens.get(&parent) else {
                return Ok(Taken::Unknown);
            };
            if slot.is_expired(at) {
                return Ok(Taken::Unknown);
            }
            if slot.is_used() {
                let successor = if slot.has_successor() {
                    self.successors.get(&parent).map(|sealed| sealed.clone())
                } else {
                    None
                };
                return Ok(Taken::AlreadyUsed {
                    session: slot.session(),
                    used_at: from_nanos(slot.used_at()),
                    successor,
                });
            }
            let session = slot.session();
            // Checked in our turn, which alone can use the parent up: see
            // `Taken::SessionRevoked`.
            if self.session_revoked(session, now) {
                drop(slot);
                self.use_up(parent, at, None);
                return Ok(Taken::SessionRevoked { session });
            }
            let scope = slot.scope().map(|id| self.scopes.get(id)).transpose()?;
            self.unpack(&slot, scope)?
        };
        // The parent's shard is unlocked: the child may live in the same one. Refused, nothing
        // has changed yet.
        self.insert_token(
            Key16::of(&child.key),
            &child.record(&record),
            now,
            Admission::Rotation,
        )?;
        // Still live: only a rotation uses a token up, and this is the parent's turn. Gone only
        // if a sweep retired it as expired or a sign-in of its subject evicted it meanwhile;
        // the child stands either way.
        self.use_up(parent, at, child.successor);
        Ok(Taken::Live(record))
    }
}

fn shrink_if_sparse<K, V, S>(map: &DashMap<K, V, S>) -> bool
where
    K: Eq + Hash,
    S: BuildHasher + Clone,
{
    let capacity = map.capacity();
    if capacity < COMPACT_MIN_CAPACITY || map.len() >= capacity / 4 {
        return false;
    }
    map.shrink_to_fit();
    true
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn insert_refresh(
        &self,
        key: TokenKey,
        record: RefreshRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.insert_token(Key16::of(&key), &record, now, Admission::NewSession)
    }

    async fn rotate_refresh(
        &self,
        parent: &TokenKey,
        child: Rotation,
        now: DateTime<Utc>,
    ) -> Result<Taken, StoreError> {
        self.rotate(Key16::of(parent), child, now)
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
            self.wheel.schedule(Expiring::Session(session), until);
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
        let now = to_nanos(now);
        let Some(slot) = self.tokens.get(&Key16::of(key)) else {
            return Ok(None);
        };
        if slot.is_used() || slot.is_expired(now) {
            return Ok(None);
        }
        // Resolved under the shard lock: once it is released a rotation may let go of the scope id.
        let scope = slot.scope().map(|id| self.scopes.get(id)).transpose()?;
        Ok(Some(self.unpack(&slot, scope)?))
    }

    async fn insert_access(
        &self,
        key: TokenKey,
        record: AccessRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.reserve(now)?;
        let exp = DateTime::from_timestamp(record.claims.exp, 0).unwrap_or(now);
        let key = Key16::of(&key);
        if self.access.insert(key, record).is_some() {
            self.entries.fetch_sub(1, Ordering::Relaxed);
        }
        self.wheel.schedule(Expiring::Access(key), exp);
        Ok(())
    }

    async fn get_access(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<Option<AccessRecord>, StoreError> {
        Ok(self
            .access
            .get(&Key16::of(key))
            .filter(|record| record.claims.exp > now.timestamp())
            .map(|record| record.clone()))
    }

    async fn revoke_access(
        &self,
        key: TokenKey,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let key = Key16::of(&key);
        if until <= now || self.revoked_access.contains_key(&key) {
            return Ok(());
        }
        self.reserve(now)?;
        if self.revoked_access.insert(key, until).is_some() {
            self.entries.fetch_sub(1, Ordering::Relaxed);
        }
        self.wheel.schedule(Expiring::RevokedAccess(key), until);
        Ok(())
    }

    async fn is_access_revoked(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .revoked_access
            .get(&Key16::of(key))
            .is_some_and(|until| *until > now))
    }

    async fn failures(
        &self,
        keys: &[CounterKey],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<FailureWindow>>, StoreError> {
        Ok(self.counters.failures(keys, now))
    }

    async fn count_failures(
        &self,
        keys: &[CounterKey],
        window: chrono::TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<Vec<FailureWindow>, StoreError> {
        Ok(self.counters.count(keys, window, now))
    }

    async fn clear_failures(&self, key: &CounterKey) -> Result<(), StoreError> {
        self.counters.clear(key);
        Ok(())
    }

    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn usage(&self) -> Result<Usage, StoreError> {
        Ok(self.usage_now())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClientId;
    use chrono::TimeDelta;

    fn record(expires_at: DateTime<Utc>) -> RefreshRecord {
        RefreshRecord {
            session: SessionId(uuid::Uuid::from_u128(7)),
            client: ClientId::new("c"),
            user: None,
            scope: None,
            session_started: expires_at - TimeDelta::hours(1),
            expires_at,
            stamp: None,
        }
    }

    fn full_record(expires_at: DateTime<Utc>) -> RefreshRecord {
        RefreshRecord {
            session: SessionId(uuid::Uuid::from_u128(
                0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
            )),
            client: ClientId::new("client-a"),
            user: Some(UserId::new("user-1")),
            scope: Some(Scope::new("read write")),
            session_started: expires_at - TimeDelta::nanoseconds(3_600_000_000_123),
            expires_at,
            stamp: Some(StampDigest::of("e3b0c442-stamp")),
        }
    }

    fn key(i: u32) -> TokenKey {
        use sha2::Digest;
        TokenKey(sha2::Sha256::digest(i.to_le_bytes()).into())
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

    fn rotation(key: TokenKey, expires_at: DateTime<Utc>) -> Rotation {
        Rotation {
            key,
            expires_at,
            successor: None,
        }
    }

    #[test]
    fn a_token_is_rotated_once_then_recognised_as_reused() {
        block_on(async {
            let store = MemoryStore::default();
            let t0 = DateTime::from_timestamp(1_600_000_000, 0).expect("valid");
            let rec = record(t0 + TimeDelta::seconds(10));
            let key = TokenKey([1; 32]);
            store
                .insert_refresh(key, rec.clone(), t0)
                .await
                .expect("insert");
            let child = rotation(TokenKey([2; 32]), t0 + TimeDelta::seconds(20));
            assert_eq!(
                store.rotate_refresh(&key, child.clone(), t0).await,
                Ok(Taken::Live(rec.clone()))
            );
            let later = t0 + TimeDelta::nanoseconds(1_500_000_001);
            let again = rotation(TokenKey([3; 32]), t0 + TimeDelta::seconds(20));
            assert_eq!(
                store.rotate_refresh(&key, again.clone(), later).await,
                Ok(Taken::AlreadyUsed {
                    session: rec.session,
                    used_at: t0,
                    successor: None,
                })
            );
            assert_eq!(store.len(), 2, "the refused rotation stored no child");
            let after = t0 + TimeDelta::seconds(11);
            assert_eq!(
                store.rotate_refresh(&key, again, after).await,
                Ok(Taken::Unknown)
            );
        });
    }

    #[test]
    fn a_successor_leaves_with_its_used_marker() {
        block_on(async {
            let store = MemoryStore::default();
            let t0 = DateTime::from_timestamp(1_600_000_000, 0).expect("valid");
            let rec = record(t0 + TimeDelta::seconds(10));
            store
                .insert_refresh(key(1), rec.clone(), t0)
                .await
                .expect("insert");
            let child = Rotation {
                successor: Some(SealedToken(vec![9; 43])),
                ..rotation(key(2), t0 + TimeDelta::seconds(100))
            };
            assert_eq!(
                store.rotate_refresh(&key(1), child, t0).await,
                Ok(Taken::Live(rec))
            );
            assert_eq!(store.successors.len(), 1);
            let later = t0 + TimeDelta::seconds(60);
            for i in 10..12 {
                let rec = record(later + TimeDelta::seconds(10));
                store
                    .insert_refresh(key(i), rec, later)
                    .await
                    .expect("insert");
            }
            assert_eq!(store.len(), 3, "the parent was retired");
            assert_eq!(store.successors.len(), 0, "and its successor with it");
        });
    }

    #[test]
    fn a_rotation_at_the_cap_takes_its_parents_slot() {
        block_on(async {
            let store = MemoryStore::new(1);
            let t0 = DateTime::from_timestamp(1_600_000_000, 0).expect("valid");
            let rec = full_record(t0 + TimeDelta::seconds(10));
            store
                .insert_refresh(key(1), rec.clone(), t0)
                .await
                .expect("insert");
            let child = rotation(key(2), t0 + TimeDelta::seconds(20));
            assert_eq!(
                store.rotate_refresh(&key(1), child, t0).await,
                Ok(Taken::Live(rec.clone()))
            );
            assert_eq!(store.peek_refresh(&key(1), t0).await, Ok(None));
            assert!(
                store
                    .peek_refresh(&key(2), t0)
                    .await
                    .expect("peek")
                    .is_some()
            );
            assert_eq!((store.live_entries(), store.tombstones()), (1, 1));
            assert_eq!(store.scopes.len(), 1, "the child holds the scope");
            // A new session is what the cap refuses.
            let other = RefreshRecord {
                user: Some(UserId::new("user-2")),
                ..rec
            };
            assert_eq!(
                store.insert_refresh(key(3), other, t0).await,
                Err(StoreError::Full(1))
            );
        });
    }

    #[test]
    fn a_subjects_keys_stay_inline_until_the_second_and_keep_their_order() {
        let k = |i: u32| Key16::of(&key(i));
        let mut keys = Keys::default();
        keys.push_back(k(1));
        assert!(matches!(keys, Keys::One(_)), "one key allocates nothing");
        keys.push_back(k(2));
        keys.push_back(k(3));
        assert_eq!(keys.len(), 3);
        keys.retain(|key| *key != k(2));
        assert_eq!(keys.pop_front().map(|key| key == k(1)), Some(true));
        keys.retain(|_| true);
        assert!(
            matches!(keys, Keys::One(_)),
            "back inline once one key is left"
        );
        assert_eq!(keys.pop_front().map(|key| key == k(3)), Some(true));
        assert_eq!(keys.pop_front().map(|_| ()), None);
        assert_eq!(keys.len(), 0);
    }

    #[test]
    fn a_record_survives_the_packed_form_whole() {
        let store = MemoryStore::default();
        let expires = DateTime::from_timestamp(1_600_000_100, 999_999_999).expect("valid");
        for rec in [full_record(expires), record(expires)] {
            let packed = store.pack(&rec).expect("packs");
            assert!(!packed.is_used());
            let scope = packed.scope().map(|id| store.scopes.get(id).unwrap());
            assert_eq!(store.unpack(&packed, scope).unwrap(), rec);
        }
        let none = store.pack(&record(expires)).expect("packs");
        assert_eq!((none.user(), none.scope()), (None, None));
    }

    #[test]
    fn a_used_token_keeps_its_session_and_expiry_and_lets_go_of_its_scope() {
        let store = MemoryStore::default();
        let expires = DateTime::from_timestamp(1_600_000_100, 5).expect("valid");
        let rec = full_record(expires);
        let mut packed = store.pack(&rec).expect("packs");
        let client = packed.client();
        assert_eq!(store.scopes.len(), 1);
        let used_at = to_nanos(expires) - 60_000_000_007;
        let scope = packed.mark_used(used_at).expect("had a scope");
        store.scopes.release(scope);
        assert!(packed.is_used());
        assert!(!packed.has_successor());
        assert_eq!(packed.session(), rec.session);
        assert_eq!(packed.used_at(), used_at);
        packed.mark_successor();
        assert!(packed.has_successor() && packed.is_used());
        assert_eq!(packed.client(), client, "the flags are not part of the id");
        assert_eq!(packed.scope(), None);
        assert!(!packed.is_expired(to_nanos(expires) - 1));
        assert!(packed.is_expired(to_nanos(expires)));
        assert_eq!(store.scopes.len(), 0);
    }

    #[test]
    fn rotating_and_peeking_give_back_the_scope_and_user_as_inserted() {
        block_on(async {
            let store = MemoryStore::default();
            let t0 = DateTime::from_timestamp(1_600_000_000, 250).expect("valid");
            let rec = full_record(t0 + TimeDelta::nanoseconds(10_000_000_001));
            store
                .insert_refresh(key(1), rec.clone(), t0)
                .await
                .expect("insert");
            store
                .insert_refresh(key(2), rec.clone(), t0)
                .await
                .expect("insert");
            assert_eq!(store.scopes.len(), 1, "one copy for both tokens");
            assert_eq!(store.peek_refresh(&key(1), t0).await, Ok(Some(rec.clone())));
            let child = rotation(key(3), rec.expires_at);
            assert_eq!(
                store.rotate_refresh(&key(1), child, t0).await,
                Ok(Taken::Live(rec.clone()))
            );
            assert_eq!(store.peek_refresh(&key(1), t0).await, Ok(None));
            assert_eq!(store.peek_refresh(&key(3), t0).await, Ok(Some(rec.clone())));
            assert_eq!(store.scopes.len(), 1, "the other tokens still hold it");
            let child = rotation(key(4), rec.expires_at);
            assert_eq!(
                store.rotate_refresh(&key(2), child, t0).await,
                Ok(Taken::Live(rec.clone()))
            );
            assert_eq!(store.scopes.len(), 1, "held by the two children");
        });
    }

    #[test]
    fn the_table_shrinks_once_its_tokens_have_expired() {
        block_on(async {
            // One subject's 40 000 tokens: the quota is not what this measures.
            let store = MemoryStore::default().with_limits(StoreLimits {
                max_sessions_per_user: 1_000_000,
                max_sessions_per_client: 1_000_000,
                ..StoreLimits::default()
            });
            let t0 = DateTime::from_timestamp(1_600_000_000, 0).expect("valid");
            for i in 0..40_000 {
                let rec = full_record(t0 + TimeDelta::seconds(10));
                store.insert_refresh(key(i), rec, t0).await.expect("insert");
            }
            let full = store.tokens.capacity();
            assert!(full >= 40_000);
            let later = t0 + TimeDelta::seconds(60);
            // Enough inserts to retire the 40 000 at 8 each.
            for i in 100_000..106_000 {
                let rec = record(later + TimeDelta::seconds(10));
                store
                    .insert_refresh(key(i), rec, later)
                    .await
                    .expect("insert");
            }
            assert_eq!(store.len(), 6_000);
            let shrunk = store.tokens.capacity();
            assert!(
                shrunk * 4 <= full,
                "capacity {full} after the fill, {shrunk} after expiry"
            );
            assert_eq!(store.scopes.len(), 0, "expired tokens let go of the scope");
        });
    }
}
