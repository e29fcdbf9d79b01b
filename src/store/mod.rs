//! Refresh-token, session and not-before state behind one async trait, shaped for a network
//! store: every operation the engine needs is a single atomic call (insert with expiry, take,
//! revoke a session, read or set a not-before marker). Backends: [`memory`] (one process,
//! nothing survives a restart), [`file`] (an embedded redb file: survives restarts and crashes)
//! and [`redis`] (shared by any number of gateways). `tests/api/store.rs` runs one conformance
//! suite against all three.

pub mod codec;
pub mod file;
pub mod memory;
pub mod redis;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::engine::{ClientId, Scope, SessionId, UserId};

pub use self::redis::{RedisOptions, RedisStore};
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

/// The store's key for a refresh token: the SHA-256 of the token, so a dump of the store
/// holds nothing a client could redeem.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenKey(pub [u8; 32]);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKey({}..)", hex::encode(&self.0[..4]))
    }
}

/// What a live refresh token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    pub session: SessionId,
    pub client: ClientId,
    pub user: Option<UserId>,
    pub scope: Option<Scope>,
    /// When the session began (the password or client-credentials grant): not-before markers
    /// are compared against this, not against the latest refresh.
    pub session_started: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The result of an atomic take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// The token was live; it is now used and cannot be taken again.
    Live(RefreshRecord),
    /// The token was taken before: a replay. The session it belonged to is named so the
    /// caller can revoke it.
    AlreadyUsed { session: SessionId },
    /// The token was live but its session is revoked: it is now used, and must be refused.
    /// The revocation is checked in the same atomic step as the take, so a replay of the same
    /// token racing this take (which revokes the session) cannot make the winner fail too:
    /// of two gateways redeeming one token at once, exactly one succeeds.
    SessionRevoked { session: SessionId },
    /// Never issued, expired, or forgotten.
    Unknown,
}

/// An opaque (reference) access token's record: everything introspection reports about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord {
    pub claims: crate::engine::Claims,
}

/// A not-before marker: tokens of the subject issued before `at` are superseded, except those
/// of `session`, the login that set the marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotBefore {
    pub at: DateTime<Utc>,
    pub session: SessionId,
}

/// Whose tokens a not-before marker applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    pub user: Option<UserId>,
    pub client: ClientId,
}

/// A store operation that could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("the store holds its maximum of {0} entries")]
    Full(usize),
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

/// The state the engine keeps between requests.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Stores a new refresh token until its record's `expires_at`.
    async fn insert_refresh(
        &self,
        key: TokenKey,
        record: RefreshRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Atomically takes a refresh token: of any number of concurrent callers, one gets `Live`
    /// (or `SessionRevoked`, when its session was revoked before the take). A taken token is
    /// remembered until it would have expired, so a replay is recognised.
    async fn take_refresh(&self, key: &TokenKey, now: DateTime<Utc>) -> Result<Taken, StoreError>;

    /// Revokes every refresh token of a session, present and future, until `until`.
    async fn revoke_session(
        &self,
        session: SessionId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    async fn is_session_revoked(
        &self,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Sets the subject's marker; a marker only moves forward in time.
    async fn set_not_before(&self, subject: &Subject, marker: NotBefore) -> Result<(), StoreError>;

    async fn not_before(&self, subject: &Subject) -> Result<Option<NotBefore>, StoreError>;

    /// Reads a refresh token without taking it (introspection, revocation).
    async fn peek_refresh(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<Option<RefreshRecord>, StoreError>;

    /// Stores an opaque access token until its claims' `exp`.
    async fn insert_access(
        &self,
        key: TokenKey,
        record: AccessRecord,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    async fn get_access(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<Option<AccessRecord>, StoreError>;

    /// Marks an access token (opaque, or a JWT by its `jti`) revoked until `until`.
    async fn revoke_access(
        &self,
        key: TokenKey,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    async fn is_access_revoked(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Whether the store can serve requests now (for `/healthz`).
    async fn health(&self) -> Result<(), StoreError>;

    /// A short name for logs and `/healthz`.
    fn kind(&self) -> &'static str;
}
