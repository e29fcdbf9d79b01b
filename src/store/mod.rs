//! Refresh-token, session, not-before and failed-password-counter state behind one async trait,
//! shaped for a network store: every operation the engine needs is a single atomic call (insert
//! with expiry, rotate a refresh token: use it up and store its successor, revoke a session,
//! read or set a not-before marker, count failures). Backends: [`memory`] (one process,
//! nothing survives a restart), [`file`] (an embedded redb file: survives restarts and crashes)
//! and [`redis`] (shared by any number of gateways). `tests/api/store.rs` runs one conformance
//! suite against all three.

pub mod codec;
mod counters;
pub mod file;
pub mod instrumented;
pub mod memory;
pub mod redis;
pub mod resettable;

use chrono::{DateTime, Utc};

use crate::domain::{Fill, StoreError, StoreLimits, Subject, TokenStore, Usage};

pub use self::redis::{RedisOptions, RedisStore};
pub use counters::DEFAULT_MAX_COUNTERS;
pub use file::{FileOptions, FileStore};
pub use memory::MemoryStore;

use std::sync::Arc;

/// Which store backs the engine and the bounds it keeps, validated from `[store]`.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub backend: StoreBackend,
    /// Tombstone budget and per-subject session quotas, the same keys on every backend.
    pub limits: StoreLimits,
}

/// The backend `[store] kind` picks, with its own keys.
#[derive(Debug, Clone)]
pub enum StoreBackend {
    Memory { max_entries: usize },
    File(FileOptions),
    Redis(RedisOptions),
}

impl StoreSettings {
    /// Opens the store. The file store opens its file now (and fails if another process has
    /// it); the Redis store connects on first use, so a gateway starts while Redis is down.
    pub fn open(&self) -> Result<Arc<dyn TokenStore>, StoreError> {
        let limits = self.limits;
        Ok(match &self.backend {
            StoreBackend::Memory { max_entries } => {
                Arc::new(MemoryStore::new(*max_entries).with_limits(limits))
            }
            StoreBackend::File(options) => Arc::new(FileStore::open(options)?.with_limits(limits)),
            StoreBackend::Redis(options) => Arc::new(RedisStore::new(options)?.with_limits(limits)),
        })
    }

    /// Where the store is, for messages: `memory`, the file's path, or the Redis URL without
    /// its password.
    pub fn describe(&self) -> String {
        match &self.backend {
            StoreBackend::Memory { max_entries } => format!("memory (max_entries {max_entries})"),
            StoreBackend::File(options) => format!("file {}", options.path.display()),
            StoreBackend::Redis(options) => format!(
                "redis {} (key_prefix {:?}, timeout {} ms)",
                self::redis::redacted(options.url.expose()),
                options.key_prefix,
                options.timeout.as_millis()
            ),
        }
    }
}

/// The whole second at or after which something expiring at `at` is gone: an item expiring at
/// 10.3 s is retired with second 11 (the backends' expiry sweeps work in whole seconds).
pub(crate) fn expiry_second(at: DateTime<Utc>) -> i64 {
    let secs = at.timestamp();
    if at.timestamp_subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

/// At most `lines` log lines per `period` seconds of one kind; the lines left out are counted
/// for the next one written. (The store sits below `logging`, whose `LineThrottle` does this
/// per second, so it keeps this small one of its own.)
struct LineGate {
    lines: u32,
    period: u64,
    /// (window number, lines written in it, lines left out since the last one written)
    window: std::sync::Mutex<(u64, u32, u64)>,
}

impl LineGate {
    const fn new(lines: u32, period: u64) -> Self {
        Self {
            lines,
            period,
            window: std::sync::Mutex::new((0, 0, 0)),
        }
    }

    /// `Some(lines left out since the last one)` when a line may be written now.
    fn admit(&self) -> Option<u64> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            / self.period;
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if window.0 != now {
            *window = (now, 0, window.2);
        }
        if window.1 < self.lines {
            window.1 += 1;
            Some(std::mem::take(&mut window.2))
        } else {
            window.2 += 1;
            None
        }
    }
}

/// Quota evictions logged at most 5 a second (each names its subject).
static QUOTA_LINES: LineGate = LineGate::new(5, 1);
/// A full tombstone budget is a lasting state: one line a minute.
static TOMBSTONE_LINES: LineGate = LineGate::new(1, 60);
/// A nearly full store likewise.
static FILL_LINES: LineGate = LineGate::new(1, 60);

/// Logs (rate-limited) that a subject reached its session quota and lost its oldest sessions.
/// Client and user ids are not secrets; no token is named.
pub(crate) fn note_quota(store: &'static str, subject: &Subject, quota: usize, evicted: usize) {
    if let Some(suppressed) = QUOTA_LINES.admit() {
        let suppressed = (suppressed > 0).then_some(suppressed);
        tracing::warn!(
            store,
            client = subject.client.as_str(),
            user = subject.user.as_ref().map(|u| u.as_str()),
            quota,
            evicted,
            suppressed,
            "session quota reached; the subject's oldest refresh tokens were dropped"
        );
    }
}

/// Logs (once a minute) that a take kept no used marker because the tombstone budget is full.
pub(crate) fn note_tombstones_full(store: &'static str, max_tombstones: usize) {
    if let Some(suppressed) = TOMBSTONE_LINES.admit() {
        tracing::warn!(
            store,
            max_tombstones,
            takes_since_last_line = suppressed + 1,
            "tombstone budget full: used refresh tokens are forgotten, so replay detection is \
             degraded (a replay is refused as unknown but does not revoke its session)"
        );
    }
}

/// Logs (once a minute) a store at or above 90% of its entry cap, naming who last reached a
/// quota: the one holder a store can name without a scan.
/// The caller has checked the cheap condition; `usage` is read only when a line is due.
pub(crate) fn note_fill(store: &'static str, usage: impl FnOnce() -> Usage) {
    if FILL_LINES.admit().is_some() {
        let usage = usage();
        let fill = usage.fill();
        if fill == Fill::Ok {
            return;
        }
        let (client, user, quota) = match &usage.top_subject {
            Some((subject, quota)) => (
                Some(subject.client.as_str()),
                subject.user.as_ref().map(|u| u.as_str()),
                Some(*quota),
            ),
            None => (None, None, None),
        };
        tracing::warn!(
            store,
            fill = fill.as_str(),
            entries = usage.entries,
            max_entries = usage.max_entries,
            tombstones = usage.tombstones,
            top_client = client,
            top_user = user,
            top_quota = quota,
            "store nearly full: new sessions are refused at the cap once quotas cannot make room"
        );
    }
}
