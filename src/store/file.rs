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
//! Failed-password counters are not in the file: they are held in memory as the memory store
//! holds them, so a restart forgets them (a throttle window is minutes; an fsync for every
//! failed password would cost more than it keeps).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use tokio::sync::oneshot;

use super::codec::{self, Slot};
use super::counters::{Counters, DEFAULT_MAX_COUNTERS};
use crate::domain::{
    AccessRecord, CounterKey, FailureWindow, NotBefore, RefreshRecord, Rotation, SessionId,
    StoreError, Subject, Taken, TokenKey, TokenStore,
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
        txn.commit().map_err(db_error)?;
        let db = Arc::new(db);
        let (jobs, queue) = mpsc::channel();
        let writer_alive = Arc::new(AtomicBool::new(true));
        let writer = Writer {
            db: db.clone(),
            alive: writer_alive.clone(),
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
        })
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
        let outcome = (|| {
            let txn = self.db.begin_write().map_err(db_error)?;
            let mut results = Vec::with_capacity(batch.len());
            for job in &batch {
                results.push(apply(&txn, &job.op, job.now)?);
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

fn apply(txn: &WriteTransaction, op: &Op, now: DateTime<Utc>) -> Result<Done, StoreError> {
    match op {
        Op::InsertRefresh {
            key,
            value,
            expires_at,
        } => {
            insert_refresh(txn, key, value, *expires_at)?;
            Ok(Done::Written)
        }
        Op::RotateRefresh { parent, child } => {
            let mut table = txn.open_table(REFRESH).map_err(db_error)?;
            let slot = match table.get(&parent.0).map_err(db_error)? {
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
            let successor = if revoked {
                None
            } else {
                child.successor.as_ref()
            };
            let used = codec::encode_used(record.session, record.expires_at, now, successor);
            table.insert(&parent.0, used.as_slice()).map_err(db_error)?;
            drop(table);
            if revoked {
                return Ok(Done::Taken(Taken::SessionRevoked {
                    session: record.session,
                }));
            }
            let value = codec::encode_live(&child.record(&record));
            insert_refresh(txn, &child.key, &value, child.expires_at)?;
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

fn insert_refresh(
    txn: &WriteTransaction,
    key: &TokenKey,
    value: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    txn.open_table(REFRESH)
        .map_err(db_error)?
        .insert(&key.0, value)
        .map_err(db_error)?;
    index(txn, expires_at, TAG_REFRESH, &key.0)
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
            TAG_REFRESH => retire(txn, REFRESH, key, now, |v| {
                codec::decode_slot(v).map(|slot| slot.expires_at())
            })?,
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

    fn kind(&self) -> &'static str {
        "file"
    }
}
