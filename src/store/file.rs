//! The embedded durable store: one redb file on local disk. Every write is durable (fsynced)
//! before its call returns, so a grant answered 200 survives a `kill -9` or a power cut. Writes
//! go through one writer thread that commits whatever queued while the previous commit was
//! syncing as one transaction (group commit): under load, one fsync serves many grants, and
//! each operation still runs alone and in order inside it, so a rotation stays atomic. Reads use
//! redb's snapshot isolation directly on the caller's thread: they never wait for the writer.
//!
//! Expiry: reads compare a record's expiry with the caller's `now` (lazy expiry), and an
//! expiry index keyed by the second each record expires lets every write batch retire a
//! bounded number of records that are due, oldest first. Nothing ever scans the whole file.
//!
//! A rotation (the parent turned into a used marker with its sealed successor, and the new
//! token) is one operation, so it commits in one transaction: after a crash the file holds the
//! whole rotation or none of it, and a commit that fails leaves the parent live.
//!
//! Capacity: a subject index (subject, expiry, token) lists each subject's live refresh tokens
//! oldest first, with a count per subject, so an insert over the subject's quota drops the
//! oldest in the same transaction; a take moves the token from the live count to the
//! tombstone count (or, with the tombstone budget full, removes it), and `usage` reads both
//! counts from a small meta table. A file written before these tables existed starts them
//! empty: its older tokens are not on the index and leave by expiry as before.
//!
//! Failed-password counters are not in the file: they are held in memory as the memory store
//! holds them, so a restart forgets them (a throttle window is minutes; an fsync for every
//! failed password would cost more than it keeps).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use tokio::sync::oneshot;

use super::codec::{self, Slot};
use super::counters::{Counters, DEFAULT_MAX_COUNTERS};
use crate::domain::{
    AccessRecord, CounterKey, FailureWindow, NotBefore, RefreshRecord, Rotation, SealedToken,
    SessionId, StoreError, StoreLimits, Subject, Taken, TokenKey, TokenStore, Usage,
};

/// Refresh tokens: key hash -> live record or used marker ([`codec`]).
const REFRESH: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("refresh");
/// Revoked sessions: session id -> revoked until (an instant).
const SESSIONS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("revoked_sessions");
/// Not-before markers: subject -> marker.
const NOT_BEFORE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("not_before");
/// Opaque access tokens: key hash -> expiry instant, then the claims as JSON.
const ACCESS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("access");
/// Revoked access tokens: key hash -> revoked until.
const REVOKED_ACCESS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("revoked_access");
/// The expiry index: (second the item is due, which table, its key) -> nothing. Big-endian
/// with the sign bit flipped, so byte order is time order.
const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("expiry");
/// The subject index: (subject as [`codec::subject_key`], expiry as 12 order-preserving bytes,
/// token key) -> nothing, for every live refresh token. Subject keys are prefix-free (length
/// first, then a tag saying whether a user follows), so one subject's tokens are one range,
/// oldest expiry first.
const SUBJECT_TOKENS: TableDefinition<&[u8], ()> = TableDefinition::new("subject_tokens");
/// Live refresh tokens per subject, as counted into [`SUBJECT_TOKENS`].
const SUBJECT_LIVE: TableDefinition<&[u8], u64> = TableDefinition::new("subject_live");
/// Counts `usage` reads: [`META_LIVE`], [`META_TOMBSTONES`].
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const META_LIVE: &str = "live_refresh";
const META_TOMBSTONES: &str = "tombstones";

const TAG_REFRESH: u8 = 1;
const TAG_SESSION: u8 = 2;
const TAG_ACCESS: u8 = 3;
const TAG_REVOKED_ACCESS: u8 = 4;

/// Expired items one write operation may retire; each write adds at most one, so the sweep
/// keeps up with any write rate while bounding the work of one batch.
const SWEEP_PER_OP: usize = 8;
/// Operations committed together at most; bounds one transaction's size and latency.
const MAX_BATCH: usize = 1024;

/// `[store] kind = "file"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOptions {
    pub path: PathBuf,
}

/// One write, queued for the writer thread.
enum Op {
    InsertRefresh {
        key: TokenKey,
        value: Vec<u8>,
        expires_at: DateTime<Utc>,
    },
    /// See [`TokenStore::rotate_refresh`].
    RotateRefresh {
        parent: TokenKey,
        child: Rotation,
    },
    RevokeSession {
        session: SessionId,
        until: DateTime<Utc>,
    },
    SetNotBefore {
        subject: Vec<u8>,
        marker: NotBefore,
    },
    InsertAccess {
        key: TokenKey,
        value: Vec<u8>,
        expires_at: DateTime<Utc>,
    },
    RevokeAccess {
        key: TokenKey,
        until: DateTime<Utc>,
    },
}

enum Done {
    Written,
    Taken(Taken),
}

struct Job {
    op: Op,
    now: DateTime<Utc>,
    reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// See the module docs.
pub struct FileStore {
    db: Arc<Database>,
    /// `None` only while dropping: closing the queue stops the writer.
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<std::thread::JoinHandle<()>>,
    writer_alive: Arc<AtomicBool>,
    path: PathBuf,
    counters: Counters,
    /// Shared with the writer, which applies them.
    limits: Arc<RwLock<StoreLimits>>,
    /// The subject that last reached its quota, and the quota (set by the writer).
    quota_hit: Arc<Mutex<Option<(Subject, usize)>>>,
}

impl Drop for FileStore {
    fn drop(&mut self) {
        // Let the writer finish the batch in hand and release the file, so a store opened
        // next on the same path (a restart, a test) finds it free.
        self.jobs = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn unavailable(what: &str, error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::unavailable(what, error)
}

fn db_error(error: impl Into<redb::Error>) -> StoreError {
    unavailable("file store", error.into())
}

/// The expiry-index key of an item due at `at`.
fn expiry_key(at: DateTime<Utc>, tag: u8, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + key.len());
    out.extend_from_slice(&bucket_bytes(super::expiry_second(at)));
    out.push(tag);
    out.extend_from_slice(key);
    out
}

fn bucket_bytes(second: i64) -> [u8; 8] {
    // Flipping the sign bit makes the big-endian bytes of an i64 sort in numeric order.
    ((second as u64) ^ (1 << 63)).to_be_bytes()
}

impl FileStore {
    /// Opens (creating if needed) the database file and starts its writer thread. Fails if
    /// another process has the file open.
    pub fn open(options: &FileOptions) -> Result<Self, StoreError> {
        let path = options.path.clone();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| unavailable(&format!("cannot create {}", dir.display()), e))?;
        }
        let db = Database::create(&path)
            .map_err(|e| unavailable(&format!("cannot open {}", path.display()), e))?;
        // Every table exists from the start, so readers never meet a missing one.
        let txn = db.begin_write().map_err(db_error)?;
        txn.open_table(REFRESH).map_err(db_error)?;
        txn.open_table(SESSIONS).map_err(db_error)?;
        txn.open_table(NOT_BEFORE).map_err(db_error)?;
        txn.open_table(ACCESS).map_err(db_error)?;
        txn.open_table(REVOKED_ACCESS).map_err(db_error)?;
        txn.open_table(EXPIRY).map_err(db_error)?;
        txn.open_table(SUBJECT_TOKENS).map_err(db_error)?;
        txn.open_table(SUBJECT_LIVE).map_err(db_error)?;
        txn.open_table(META).map_err(db_error)?;
        txn.commit().map_err(db_error)?;
        let db = Arc::new(db);
        let (jobs, queue) = mpsc::channel();
        let writer_alive = Arc::new(AtomicBool::new(true));
        let limits = Arc::new(RwLock::new(StoreLimits::default()));
        let quota_hit = Arc::new(Mutex::new(None));
        let writer = Writer {
            db: db.clone(),
            alive: writer_alive.clone(),
            limits: limits.clone(),
            quota_hit: quota_hit.clone(),
        };
        let writer = std::thread::Builder::new()
            .name("tokengate-store-writer".into())
            .spawn(move || writer.run(queue))
            .map_err(|e| unavailable("cannot start the store writer", e))?;
        Ok(Self {
            db,
            jobs: Some(jobs),
            writer: Some(writer),
            writer_alive,
            path,
            counters: Counters::new(DEFAULT_MAX_COUNTERS),
            limits,
            quota_hit,
        })
    }

    /// Sets the tombstone budget and the session quotas (default [`StoreLimits::default`]);
    /// writes queued from now on apply them.
    pub fn with_limits(self, limits: StoreLimits) -> Self {
        *self.limits.write().unwrap_or_else(PoisonError::into_inner) = limits;
        self
    }

    /// Keeps at most `max` failed-password counters (default [`DEFAULT_MAX_COUNTERS`]).
    pub fn with_max_counters(mut self, max: usize) -> Self {
        self.counters = Counters::new(max);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write(&self, op: Op, now: DateTime<Utc>) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .as_ref()
            .ok_or_else(|| StoreError::unavailable_because("the file store is closing"))?
            .send(Job { op, now, reply })
            .map_err(|_| StoreError::unavailable_because("the file store's writer has stopped"))?;
        answer
            .await
            .map_err(|_| StoreError::unavailable_because("the file store's writer has stopped"))?
    }

    /// Reads one value from a table in a fresh snapshot. The read is a lookup in pages redb
    /// caches in memory, microseconds, so it runs on the caller's thread.
    fn read<K, T>(
        &self,
        table: TableDefinition<K, &[u8]>,
        key: K::SelfType<'_>,
        decode: impl FnOnce(&[u8]) -> Result<T, codec::DecodeError>,
    ) -> Result<Option<T>, StoreError>
    where
        K: redb::Key + 'static,
    {
        let txn = self.db.begin_read().map_err(db_error)?;
        let table = txn.open_table(table).map_err(db_error)?;
        let Some(value) = table.get(key).map_err(db_error)? else {
            return Ok(None);
        };
        match decode(value.value()) {
            Ok(decoded) => Ok(Some(decoded)),
            Err(e) => {
                // A damaged record means "not there": the token it stood for is refused.
                tracing::warn!(error = %e, "file store: ignoring a record that does not decode");
                Ok(None)
            }
        }
    }
}

struct Writer {
    db: Arc<Database>,
    alive: Arc<AtomicBool>,
    limits: Arc<RwLock<StoreLimits>>,
    quota_hit: Arc<Mutex<Option<(Subject, usize)>>>,
}

/// What one batch's operations need besides the transaction.
struct Context<'a> {
    limits: StoreLimits,
    quota_hit: &'a Mutex<Option<(Subject, usize)>>,
}

impl Writer {
    fn run(self, queue: mpsc::Receiver<Job>) {
        // Each turn takes everything that queued during the previous commit: that is the group.
        while let Ok(first) = queue.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
        self.alive.store(false, Ordering::Relaxed);
    }

    fn commit(&self, batch: Vec<Job>) {
        let now = batch.iter().map(|job| job.now).max();
        let context = Context {
            limits: *self.limits.read().unwrap_or_else(PoisonError::into_inner),
            quota_hit: &self.quota_hit,
        };
        let outcome = (|| {
            let txn = self.db.begin_write().map_err(db_error)?;
            let mut results = Vec::with_capacity(batch.len());
            for job in &batch {
                results.push(apply(&txn, &job.op, job.now, &context)?);
            }
            if let Some(now) = now {
                sweep(&txn, now, SWEEP_PER_OP * batch.len())?;
            }
            // Durability::Immediate (redb's default): commit returns after fsync.
            txn.commit().map_err(db_error)?;
            Ok::<_, StoreError>(results)
        })();
        match outcome {
            Ok(results) => {
                for (job, result) in batch.into_iter().zip(results) {
                    // A caller that stopped waiting (its request was dropped) is no error.
                    let _ = job.reply.send(Ok(result));
                }
            }
            Err(error) => {
                tracing::error!(error = %error, ops = batch.len(), "file store: commit failed");
                for job in batch {
                    let _ = job.reply.send(Err(error.clone()));
                }
            }
        }
    }
}

fn apply(
    txn: &WriteTransaction,
    op: &Op,
    now: DateTime<Utc>,
    context: &Context<'_>,
) -> Result<Done, StoreError> {
    match op {
        Op::InsertRefresh {
            key,
            value,
            expires_at,
        } => {
            insert_refresh(txn, key, value, *expires_at, context, Admission::NewSession)?;
            Ok(Done::Written)
        }
        Op::RotateRefresh { parent, child } => {
            let slot = match txn
                .open_table(REFRESH)
                .map_err(db_error)?
                .get(&parent.0)
                .map_err(db_error)?
            {
                None => None,
                Some(value) => codec::decode_slot(value.value()).ok(),
            };
            let record = match slot {
                None => return Ok(Done::Taken(Taken::Unknown)),
                Some(slot) if slot.expires_at() <= now => return Ok(Done::Taken(Taken::Unknown)),
                Some(Slot::Used {
                    session,
                    used_at,
                    successor,
                    ..
                }) => {
                    return Ok(Done::Taken(Taken::AlreadyUsed {
                        session,
                        used_at,
                        successor,
                    }));
                }
                Some(Slot::Live(record)) => record,
            };
            // In the same transaction as the rest: see `Taken::SessionRevoked`.
            let revoked = match txn
                .open_table(SESSIONS)
                .map_err(db_error)?
                .get(record.session.0.as_bytes())
                .map_err(db_error)?
            {
                Some(until) => codec::decode_instant(until.value()).is_ok_and(|u| u > now),
                None => false,
            };
            if revoked {
                use_up(txn, parent, &record, now, None, context)?;
                return Ok(Done::Taken(Taken::SessionRevoked {
                    session: record.session,
                }));
            }
            // The parent first: its live slot and quota place pass to the child.
            use_up(txn, parent, &record, now, child.successor.as_ref(), context)?;
            let value = codec::encode_live(&child.record(&record));
            insert_refresh(
                txn,
                &child.key,
                &value,
                child.expires_at,
                context,
                Admission::Rotation,
            )?;
            Ok(Done::Taken(Taken::Live(record)))
        }
        Op::RevokeSession { session, until } => {
            let mut table = txn.open_table(SESSIONS).map_err(db_error)?;
            let id = session.0.as_bytes();
            let current = match table.get(id).map_err(db_error)? {
                Some(value) => codec::decode_instant(value.value()).ok(),
                None => None,
            };
            if current.is_none_or(|current| current < *until) {
                table
                    .insert(id, codec::instant(*until).as_slice())
                    .map_err(db_error)?;
                drop(table);
                index(txn, *until, TAG_SESSION, id)?;
            }
            Ok(Done::Written)
        }
        Op::SetNotBefore { subject, marker } => {
            let mut table = txn.open_table(NOT_BEFORE).map_err(db_error)?;
            let current = match table.get(subject.as_slice()).map_err(db_error)? {
                Some(value) => codec::decode_not_before(value.value()).ok(),
                None => None,
            };
            // A marker only moves forward in time.
            if current.is_none_or(|current| marker.at >= current.at) {
                table
                    .insert(
                        subject.as_slice(),
                        codec::encode_not_before(marker).as_slice(),
                    )
                    .map_err(db_error)?;
            }
            Ok(Done::Written)
        }
        Op::InsertAccess {
            key,
            value,
            expires_at,
        } => {
            txn.open_table(ACCESS)
                .map_err(db_error)?
                .insert(&key.0, value.as_slice())
                .map_err(db_error)?;
            index(txn, *expires_at, TAG_ACCESS, &key.0)?;
            Ok(Done::Written)
        }
        Op::RevokeAccess { key, until } => {
            let mut table = txn.open_table(REVOKED_ACCESS).map_err(db_error)?;
            let current = match table.get(&key.0).map_err(db_error)? {
                Some(value) => codec::decode_instant(value.value()).ok(),
                None => None,
            };
            if current.is_none_or(|current| current <= now) {
                table
                    .insert(&key.0, codec::instant(*until).as_slice())
                    .map_err(db_error)?;
                drop(table);
                index(txn, *until, TAG_REVOKED_ACCESS, &key.0)?;
            }
            Ok(Done::Written)
        }
    }
}

/// How an insert is admitted: a new session against its subject's quota, or a rotation's
/// child, which takes its parent's place and costs no quota.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Admission {
    NewSession,
    Rotation,
}

/// Turns a live token into a used marker (remembering `now` and `successor`) counted against
/// the tombstone budget, or, with that budget full, removes it (replay detection degraded for
/// it); either way it leaves the live count and its subject's index.
fn use_up(
    txn: &WriteTransaction,
    key: &TokenKey,
    record: &RefreshRecord,
    now: DateTime<Utc>,
    successor: Option<&SealedToken>,
    context: &Context<'_>,
) -> Result<(), StoreError> {
    let keep = count(txn, META_TOMBSTONES)? < context.limits.max_tombstones as u64;
    let mut table = txn.open_table(REFRESH).map_err(db_error)?;
    if keep {
        let used = codec::encode_used(record.session, record.expires_at, now, successor);
        table.insert(&key.0, used.as_slice()).map_err(db_error)?;
        drop(table);
        add(txn, META_TOMBSTONES, 1)?;
    } else {
        table.remove(&key.0).map_err(db_error)?;
        drop(table);
        super::note_tombstones_full("file", context.limits.max_tombstones);
    }
    unindex_live(txn, key, record)
}

/// Stores a live token; a new session first drops its subject's oldest while the subject is at
/// its quota (so an insert never fails for a quota). The record is decoded from `value` for its
/// subject.
fn insert_refresh(
    txn: &WriteTransaction,
    key: &TokenKey,
    value: &[u8],
    expires_at: DateTime<Utc>,
    context: &Context<'_>,
    admission: Admission,
) -> Result<(), StoreError> {
    let record = match codec::decode_slot(value) {
        Ok(Slot::Live(record)) => record,
        _ => {
            return Err(StoreError::unavailable_because(
                "file store: not a live record",
            ));
        }
    };
    let subject = Subject {
        client: record.client.clone(),
        user: record.user.clone(),
    };
    let subject_key = codec::subject_key(&subject);
    let quota = context.limits.quota(record.user.is_some()).max(1) as u64;
    let mut evicted = 0;
    while admission == Admission::NewSession
        && subject_live(txn, &subject_key)? >= quota
        && evict_oldest(txn, &subject_key)?
    {
        evicted += 1;
    }
    if evicted > 0 {
        super::note_quota("file", &subject, quota as usize, evicted);
        *context
            .quota_hit
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((subject, quota as usize));
    }
    let replaced = txn
        .open_table(REFRESH)
        .map_err(db_error)?
        .insert(&key.0, value)
        .map_err(db_error)?
        .map(|old| codec::decode_slot(old.value()).ok());
    // 128 random bits do not collide; if they did, the newer token wins and the older one's
    // counts follow it out.
    if let Some(old) = replaced {
        match old {
            Some(Slot::Live(old)) => unindex_live(txn, key, &old)?,
            Some(Slot::Used { .. }) => add(txn, META_TOMBSTONES, -1)?,
            None => {}
        }
    }
    txn.open_table(SUBJECT_TOKENS)
        .map_err(db_error)?
        .insert(
            subject_index_key(&subject_key, expires_at, key).as_slice(),
            (),
        )
        .map_err(db_error)?;
    set_subject_live(txn, &subject_key, subject_live(txn, &subject_key)? + 1)?;
    add(txn, META_LIVE, 1)?;
    index(txn, expires_at, TAG_REFRESH, &key.0)
}

/// The subject-index key of a live token.
fn subject_index_key(subject_key: &[u8], expires_at: DateTime<Utc>, key: &TokenKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(subject_key.len() + 12 + 32);
    out.extend_from_slice(subject_key);
    out.extend_from_slice(&bucket_bytes(expires_at.timestamp()));
    out.extend_from_slice(&expires_at.timestamp_subsec_nanos().to_be_bytes());
    out.extend_from_slice(&key.0);
    out
}

/// A live token is no longer live (taken, expired, evicted): off its subject's index and the
/// counts. Counts move only when the index held the token, so a token stored before the index
/// existed leaves them as they are.
fn unindex_live(
    txn: &WriteTransaction,
    key: &TokenKey,
    record: &RefreshRecord,
) -> Result<(), StoreError> {
    let subject_key = codec::subject_key(&Subject {
        client: record.client.clone(),
        user: record.user.clone(),
    });
    let removed = txn
        .open_table(SUBJECT_TOKENS)
        .map_err(db_error)?
        .remove(subject_index_key(&subject_key, record.expires_at, key).as_slice())
        .map_err(db_error)?
        .is_some();
    if removed {
        let live = subject_live(txn, &subject_key)?;
        set_subject_live(txn, &subject_key, live.saturating_sub(1))?;
        add(txn, META_LIVE, -1)?;
    }
    Ok(())
}

/// Removes the subject's oldest live token; `false` when its index holds none.
fn evict_oldest(txn: &WriteTransaction, subject_key: &[u8]) -> Result<bool, StoreError> {
    let mut upper = subject_key.to_vec();
    upper.extend_from_slice(&[0xff; 45]);
    let oldest = txn
        .open_table(SUBJECT_TOKENS)
        .map_err(db_error)?
        .range::<&[u8]>(subject_key..upper.as_slice())
        .map_err(db_error)?
        .next()
        .transpose()
        .map_err(db_error)?
        .map(|(entry, _)| entry.value().to_vec());
    let Some(entry) = oldest else {
        // The count says more than the index holds: set it to what is there.
        set_subject_live(txn, subject_key, 0)?;
        return Ok(false);
    };
    let Some(key) = entry
        .get(entry.len().saturating_sub(32)..)
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .map(TokenKey)
    else {
        return Ok(false);
    };
    let mut table = txn.open_table(REFRESH).map_err(db_error)?;
    let slot = table
        .get(&key.0)
        .map_err(db_error)?
        .and_then(|v| codec::decode_slot(v.value()).ok());
    match slot {
        Some(Slot::Live(record)) => {
            table.remove(&key.0).map_err(db_error)?;
            drop(table);
            unindex_live(txn, &key, &record)?;
        }
        // Not live: the index entry alone was stale.
        _ => {
            drop(table);
            txn.open_table(SUBJECT_TOKENS)
                .map_err(db_error)?
                .remove(entry.as_slice())
                .map_err(db_error)?;
            let live = subject_live(txn, subject_key)?;
            set_subject_live(txn, subject_key, live.saturating_sub(1))?;
        }
    }
    Ok(true)
}

fn subject_live(txn: &WriteTransaction, subject_key: &[u8]) -> Result<u64, StoreError> {
    Ok(txn
        .open_table(SUBJECT_LIVE)
        .map_err(db_error)?
        .get(subject_key)
        .map_err(db_error)?
        .map_or(0, |v| v.value()))
}

fn set_subject_live(
    txn: &WriteTransaction,
    subject_key: &[u8],
    live: u64,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(SUBJECT_LIVE).map_err(db_error)?;
    if live == 0 {
        table.remove(subject_key).map_err(db_error)?;
    } else {
        table.insert(subject_key, live).map_err(db_error)?;
    }
    Ok(())
}

fn count(txn: &WriteTransaction, name: &str) -> Result<u64, StoreError> {
    Ok(txn
        .open_table(META)
        .map_err(db_error)?
        .get(name)
        .map_err(db_error)?
        .map_or(0, |v| v.value()))
}

/// Adds `delta` to a count of [`META`], never below zero.
fn add(txn: &WriteTransaction, name: &str, delta: i64) -> Result<(), StoreError> {
    let current = count(txn, name)?;
    let next = current.saturating_add_signed(delta);
    txn.open_table(META)
        .map_err(db_error)?
        .insert(name, next)
        .map_err(db_error)?;
    Ok(())
}

fn index(txn: &WriteTransaction, at: DateTime<Utc>, tag: u8, key: &[u8]) -> Result<(), StoreError> {
    txn.open_table(EXPIRY)
        .map_err(db_error)?
        .insert(expiry_key(at, tag, key).as_slice(), ())
        .map_err(db_error)?;
    Ok(())
}

/// Retires up to `budget` items of the expiry index that are due at `now`, oldest first. An
/// item whose record was since replaced by a longer-lived one (a revocation extended) leaves
/// the index but not its table: the newer entry has its own index item.
fn sweep(txn: &WriteTransaction, now: DateTime<Utc>, budget: usize) -> Result<(), StoreError> {
    let mut expiry = txn.open_table(EXPIRY).map_err(db_error)?;
    let upper = bucket_bytes(now.timestamp().saturating_add(1));
    let due: Vec<Vec<u8>> = expiry
        .range::<&[u8]>(..upper.as_slice())
        .map_err(db_error)?
        .take(budget)
        .map(|entry| entry.map(|(key, _)| key.value().to_vec()))
        .collect::<Result<_, _>>()
        .map_err(db_error)?;
    for item in &due {
        expiry.remove(item.as_slice()).map_err(db_error)?;
    }
    drop(expiry);
    for item in due {
        let (tag, key) = (item[8], &item[9..]);
        match tag {
            TAG_REFRESH => retire_refresh(txn, key, now)?,
            TAG_ACCESS => retire(txn, ACCESS, key, now, codec::decode_instant)?,
            TAG_REVOKED_ACCESS => retire(txn, REVOKED_ACCESS, key, now, codec::decode_instant)?,
            TAG_SESSION => {
                let Ok(id) = <&[u8; 16]>::try_from(key) else {
                    continue;
                };
                let mut table = txn.open_table(SESSIONS).map_err(db_error)?;
                let expired = match table.get(id).map_err(db_error)? {
                    Some(value) => codec::decode_instant(value.value()).is_ok_and(|u| u <= now),
                    None => false,
                };
                if expired {
                    table.remove(id).map_err(db_error)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Retires a refresh token or marker that is due, taking it off the counts it is on.
fn retire_refresh(
    txn: &WriteTransaction,
    key: &[u8],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let Ok(key) = <[u8; 32]>::try_from(key).map(TokenKey) else {
        return Ok(());
    };
    let mut table = txn.open_table(REFRESH).map_err(db_error)?;
    let slot = table
        .get(&key.0)
        .map_err(db_error)?
        .map(|value| codec::decode_slot(value.value()));
    match slot {
        Some(Ok(slot)) if slot.expires_at() <= now => {
            table.remove(&key.0).map_err(db_error)?;
            drop(table);
            match slot {
                Slot::Live(record) => unindex_live(txn, &key, &record)?,
                Slot::Used { .. } => add(txn, META_TOMBSTONES, -1)?,
            }
        }
        // Undecodable records go too: nothing can use them.
        Some(Err(_)) => {
            table.remove(&key.0).map_err(db_error)?;
        }
        _ => {}
    }
    Ok(())
}

fn retire(
    txn: &WriteTransaction,
    table: TableDefinition<&[u8; 32], &[u8]>,
    key: &[u8],
    now: DateTime<Utc>,
    expiry_of: impl Fn(&[u8]) -> Result<DateTime<Utc>, codec::DecodeError>,
) -> Result<(), StoreError> {
    let Ok(key) = <&[u8; 32]>::try_from(key) else {
        return Ok(());
    };
    let mut table = txn.open_table(table).map_err(db_error)?;
    let expired = match table.get(key).map_err(db_error)? {
        // Undecodable records go too: nothing can use them.
        Some(value) => expiry_of(value.value()).map_or(true, |at| at <= now),
        None => false,
    };
    if expired {
        table.remove(key).map_err(db_error)?;
    }
    Ok(())
}

fn access_value(record: &AccessRecord, expires_at: DateTime<Utc>) -> Result<Vec<u8>, StoreError> {
    let mut value = codec::instant(expires_at).to_vec();
    value.extend(codec::encode_access(record));
    Ok(value)
}

#[async_trait]
impl TokenStore for FileStore {
    async fn insert_refresh(
        &self,
        key: TokenKey,
        record: RefreshRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let op = Op::InsertRefresh {
            key,
            value: codec::encode_live(&record),
            expires_at: record.expires_at,
        };
        self.write(op, now).await.map(|_| ())
    }

    async fn rotate_refresh(
        &self,
        parent: &TokenKey,
        child: Rotation,
        now: DateTime<Utc>,
    ) -> Result<Taken, StoreError> {
        let op = Op::RotateRefresh {
            parent: *parent,
            child,
        };
        match self.write(op, now).await? {
            Done::Taken(taken) => Ok(taken),
            Done::Written => Ok(Taken::Unknown),
        }
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
        self.write(Op::RevokeSession { session, until }, now)
            .await
            .map(|_| ())
    }

    async fn is_session_revoked(
        &self,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let until = self.read(SESSIONS, session.0.as_bytes(), codec::decode_instant)?;
        Ok(until.is_some_and(|until| until > now))
    }

    async fn set_not_before(&self, subject: &Subject, marker: NotBefore) -> Result<(), StoreError> {
        let op = Op::SetNotBefore {
            subject: codec::subject_key(subject),
            marker,
        };
        self.write(op, marker.at).await.map(|_| ())
    }

    async fn not_before(&self, subject: &Subject) -> Result<Option<NotBefore>, StoreError> {
        let key = codec::subject_key(subject);
        self.read(NOT_BEFORE, key.as_slice(), codec::decode_not_before)
    }

    async fn peek_refresh(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        Ok(match self.read(REFRESH, &key.0, codec::decode_slot)? {
            Some(Slot::Live(record)) if record.expires_at > now => Some(record),
            _ => None,
        })
    }

    async fn insert_access(
        &self,
        key: TokenKey,
        record: AccessRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let expires_at = DateTime::from_timestamp(record.claims.exp, 0).unwrap_or(now);
        let op = Op::InsertAccess {
            key,
            value: access_value(&record, expires_at)?,
            expires_at,
        };
        self.write(op, now).await.map(|_| ())
    }

    async fn get_access(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<Option<AccessRecord>, StoreError> {
        let record = self.read(ACCESS, &key.0, |value| {
            codec::decode_access(value.get(codec::INSTANT_LEN..).unwrap_or_default())
        })?;
        Ok(record.filter(|record| record.claims.exp > now.timestamp()))
    }

    async fn revoke_access(
        &self,
        key: TokenKey,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if until <= now {
            return Ok(());
        }
        self.write(Op::RevokeAccess { key, until }, now)
            .await
            .map(|_| ())
    }

    async fn is_access_revoked(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let until = self.read(REVOKED_ACCESS, &key.0, codec::decode_instant)?;
        Ok(until.is_some_and(|until| until > now))
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
        if !self.writer_alive.load(Ordering::Relaxed) {
            return Err(StoreError::unavailable_because(
                "the file store's writer has stopped",
            ));
        }
        let txn = self.db.begin_read().map_err(db_error)?;
        txn.open_table(REFRESH).map_err(db_error)?;
        Ok(())
    }

    async fn usage(&self) -> Result<Usage, StoreError> {
        let txn = self.db.begin_read().map_err(db_error)?;
        let meta = txn.open_table(META).map_err(db_error)?;
        let read = |name: &str| -> Result<u64, StoreError> {
            Ok(meta.get(name).map_err(db_error)?.map_or(0, |v| v.value()))
        };
        let limits = *self.limits.read().unwrap_or_else(PoisonError::into_inner);
        Ok(Usage {
            entries: Some(read(META_LIVE)?),
            // The file has no cap of its own: the disk is its bound.
            max_entries: None,
            tombstones: Some(read(META_TOMBSTONES)?),
            max_tombstones: Some(limits.max_tombstones as u64),
            top_subject: self
                .quota_hit
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .map(|(subject, quota)| (subject, quota as u64)),
        })
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}
