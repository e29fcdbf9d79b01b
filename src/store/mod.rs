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
pub mod memory;
pub mod redis;

use chrono::{DateTime, Utc};

use crate::domain::{StoreError, TokenStore};

pub use self::redis::{RedisOptions, RedisStore};
pub use counters::DEFAULT_MAX_COUNTERS;
pub use file::{FileOptions, FileStore};
pub use memory::MemoryStore;

use std::sync::Arc;

/// Which store backs the engine, validated from `[store]`.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    Memory { max_entries: usize },
    File(FileOptions),
    Redis(RedisOptions),
}

impl StoreSettings {
    /// Opens the store. The file store opens its file now (and fails if another process has
    /// it); the Redis store connects on first use, so a gateway starts while Redis is down.
    pub fn open(&self) -> Result<Arc<dyn TokenStore>, StoreError> {
        Ok(match self {
            StoreSettings::Memory { max_entries } => Arc::new(MemoryStore::new(*max_entries)),
            StoreSettings::File(options) => Arc::new(FileStore::open(options)?),
            StoreSettings::Redis(options) => Arc::new(RedisStore::new(options)?),
        })
    }

    /// Where the store is, for messages: `memory`, the file's path, or the Redis URL without
    /// its password.
    pub fn describe(&self) -> String {
        match self {
            StoreSettings::Memory { max_entries } => format!("memory (max_entries {max_entries})"),
            StoreSettings::File(options) => format!("file {}", options.path.display()),
            StoreSettings::Redis(options) => format!(
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
