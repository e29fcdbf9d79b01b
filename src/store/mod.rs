//! Refresh-token, session and not-before state behind one async trait, shaped for a network
//! store: every operation the engine needs is a single atomic call (insert with expiry, take,
//! revoke a session, read or set a not-before marker). Backends: [`memory`] now; an embedded
//! durable store and Redis implement the same trait later.

pub mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::engine::{ClientId, Scope, SessionId, UserId};

pub use memory::MemoryStore;

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

    /// Atomically takes a refresh token: of any number of concurrent callers, one gets `Live`.
    /// A taken token is remembered until it would have expired, so a replay is recognised.
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
