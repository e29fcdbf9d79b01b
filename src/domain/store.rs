//! What the engine keeps between requests, as data and one async trait: refresh-token records,
//! not-before markers, opaque access tokens and revocation marks. The trait is shaped for a
//! network store (every operation one atomic call); `crate::store` holds the backends that
//! implement it, so the engine depends on this contract and never on a backend.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::claims::Claims;
use super::ids::{ClientId, Scope, SessionId, UserId};

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
    /// The session (refresh family) the token continues.
    pub session: SessionId,
    /// The client it was issued to; only that client may redeem it.
    pub client: ClientId,
    /// The user, for user tokens.
    pub user: Option<UserId>,
    /// The scope granted at sign-in.
    pub scope: Option<Scope>,
    /// When the session began (the password or client-credentials grant): not-before markers
    /// are compared against this, not against the latest refresh.
    pub session_started: DateTime<Utc>,
    /// When the refresh token expires.
    pub expires_at: DateTime<Utc>,
    /// The user's security stamp at sign-in, where the directory has one: a refresh after the
    /// legacy application changed it (a password change, "sign out everywhere") is refused.
    pub stamp: Option<StampDigest>,
}

/// A fingerprint of a user's security stamp (ASP.NET Identity's `SecurityStamp`): the first 32
/// bits of its SHA-256. That is enough to notice that the value changed, since nobody picks the
/// new stamp to collide with the old (the legacy application draws it at random), and it fits
/// the memory store's record in 4 bytes. The stamp itself is never kept: ASP.NET also keys its
/// one-time codes with it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StampDigest(std::num::NonZeroU32);

impl StampDigest {
    /// The fingerprint of `stamp` (0, which marks "none" in packed records, becomes 1).
    pub fn of(stamp: &str) -> Self {
        use sha2::Digest;
        let hash = sha2::Sha256::digest(stamp.as_bytes());
        let bits = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]);
        Self(std::num::NonZeroU32::new(bits).unwrap_or(std::num::NonZeroU32::MIN))
    }

    /// A fingerprint as stored; 0 is none.
    pub fn from_bits(bits: u32) -> Option<Self> {
        std::num::NonZeroU32::new(bits).map(Self)
    }

    /// The fingerprint as stored: never 0.
    pub fn bits(self) -> u32 {
        self.0.get()
    }
}

impl std::fmt::Debug for StampDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StampDigest({:08x})", self.0)
    }
}

/// What a rotation found its parent to be (see [`TokenStore::rotate_refresh`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// The token was live: it is now used, and its successor is stored, in the same step.
    Live(RefreshRecord),
    /// The token was redeemed before: a replay, or a retry within the route's reuse grace. The
    /// session it belonged to is named so the caller can revoke it.
    AlreadyUsed {
        /// The session the token belonged to.
        session: SessionId,
        /// When it was redeemed (the `now` of the rotation that found it live).
        used_at: DateTime<Utc>,
        /// The token its rotation issued, sealed. Written in the same step as the marker, so
        /// there is no rotation "in flight": `None` only when the rotation kept none (a route
        /// without reuse grace) or the marker predates successors.
        successor: Option<SealedToken>,
    },
    /// The token was live but its session is revoked: it is now used, no successor was
    /// stored, and it must be refused. The revocation is checked in the same atomic step, so a
    /// replay of the same token racing this rotation (which revokes the session) cannot make
    /// the winner fail too: of two gateways redeeming one token at once, exactly one succeeds.
    SessionRevoked {
        /// The revoked session.
        session: SessionId,
    },
    /// Never issued, expired, or forgotten.
    Unknown,
}

/// The new refresh token of a rotation: stored with its parent's record (session, client,
/// user, scope, session start) and an expiry of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The new token's store key.
    pub key: TokenKey,
    /// When the new token expires.
    pub expires_at: DateTime<Utc>,
    /// The new token sealed for its parent's used marker (the retry grace); `None` on a route
    /// that keeps no successor.
    pub successor: Option<SealedToken>,
}

impl Rotation {
    /// The record the new token is stored with: its parent's, with its own expiry.
    pub fn record(&self, parent: &RefreshRecord) -> RefreshRecord {
        RefreshRecord {
            expires_at: self.expires_at,
            ..parent.clone()
        }
    }
}

/// A rotation's new refresh token, kept on its used parent for the retry grace window, sealed
/// with a pad derived from the parent token: only a holder of the parent can open it, so a dump
/// of the store still holds nothing a client could redeem. The engine seals and opens it; the
/// store keeps the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedToken(pub Vec<u8>);

impl std::fmt::Debug for SealedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealedToken({} bytes)", self.0.len())
    }
}

/// The key of a failed-password counter: a hash of what is counted (a user name, an address),
/// so a counter costs the same few bytes whatever a client sends.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CounterKey(pub [u8; 32]);

impl std::fmt::Debug for CounterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CounterKey({}..)", hex::encode(&self.0[..4]))
    }
}

/// A failed-password counter's current fixed window: started by its first failure, it ends
/// `window` later (the length given when it started), and the count starts again after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureWindow {
    /// Failures counted in this window.
    pub failures: u32,
    /// When the window ends.
    pub ends_at: DateTime<Utc>,
}

impl FailureWindow {
    /// The window a first failure at `now` starts.
    pub fn first(window: chrono::TimeDelta, now: DateTime<Utc>) -> Self {
        Self {
            failures: 1,
            ends_at: now
                .checked_add_signed(window)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }
}

/// An opaque (reference) access token's record: everything introspection reports about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord {
    /// The claims, as a JWT would carry them.
    pub claims: Claims,
}

/// A not-before marker: tokens of the subject issued before `at` are superseded, except those
/// of `session`, the login that set the marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotBefore {
    /// The instant of the login that set the marker.
    pub at: DateTime<Utc>,
    /// The session of that login, whose tokens stay valid.
    pub session: SessionId,
}

/// Whose tokens a not-before marker applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    /// The user; `None` for app tokens.
    pub user: Option<UserId>,
    /// The client.
    pub client: ClientId,
}

/// The bounds that keep one caller from taking the store, the same on every backend: how many
/// used-token markers (tombstones) it keeps for replay detection, and how many live refresh
/// tokens (sessions) one [`Subject`] may hold. `[store]` sets them; see docs/tokens.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Used-token markers kept at most. Past it a take still succeeds but keeps no marker, so
    /// a later replay of that token is refused as unknown instead of revoking its session.
    pub max_tombstones: usize,
    /// Live refresh tokens one (client, user) pair holds at most; a new one evicts the oldest.
    pub max_sessions_per_user: usize,
    /// Live refresh tokens of one client's app tokens (no user) at most; the same eviction.
    pub max_sessions_per_client: usize,
}

impl StoreLimits {
    /// Default [`StoreLimits::max_tombstones`]: as many as the memory store's default entries,
    /// since a marker costs it the same table slot as a live token (see `store::memory`).
    pub const DEFAULT_MAX_TOMBSTONES: usize = 2_000_000;
    /// Default [`StoreLimits::max_sessions_per_user`]: far above the devices and browsers one
    /// person signs in from, far below what would crowd anyone else out.
    pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 100;
    /// Default [`StoreLimits::max_sessions_per_client`]: app tokens of one client are usually
    /// one per instance of a service; 10 000 leaves room for a fleet.
    pub const DEFAULT_MAX_SESSIONS_PER_CLIENT: usize = 10_000;

    /// The quota of a subject's live refresh tokens.
    pub fn quota(&self, subject_has_user: bool) -> usize {
        if subject_has_user {
            self.max_sessions_per_user
        } else {
            self.max_sessions_per_client
        }
    }
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_tombstones: Self::DEFAULT_MAX_TOMBSTONES,
            max_sessions_per_user: Self::DEFAULT_MAX_SESSIONS_PER_USER,
            max_sessions_per_client: Self::DEFAULT_MAX_SESSIONS_PER_CLIENT,
        }
    }
}

/// How full a store is, for `/healthz`, `/readyz` and the fill warning. A backend reports what
/// it can count without a scan; `None` is "not known here", never a guess.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Live entries held: refresh tokens, and the opaque access tokens and access revocations
    /// that share their cap.
    pub entries: Option<u64>,
    /// The cap on [`Usage::entries`]; `None` when the backend has none of its own.
    pub max_entries: Option<u64>,
    /// Used-token markers held.
    pub tombstones: Option<u64>,
    /// The cap on [`Usage::tombstones`].
    pub max_tombstones: Option<u64>,
    /// The subject that last reached its session quota, with the quota it reached: the one
    /// name a store can give cheaply of who is filling it.
    pub top_subject: Option<(Subject, u64)>,
}

/// How close [`Usage`] is to a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Below [`Fill::NEARLY_FULL_PERCENT`] of every known cap.
    Ok,
    /// At or above [`Fill::NEARLY_FULL_PERCENT`] of the entry cap.
    NearlyFull,
    /// At the entry cap: new sessions are refused (503) once quotas cannot make room.
    Full,
}

impl Fill {
    /// The share of the entry cap at which a store counts as nearly full.
    pub const NEARLY_FULL_PERCENT: u64 = 90;

    /// The name `/healthz` and the logs give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Fill::Ok => "ok",
            Fill::NearlyFull => "nearly_full",
            Fill::Full => "full",
        }
    }

    fn of(held: u64, max: u64) -> Self {
        if held >= max {
            Fill::Full
        } else if held.saturating_mul(100) >= max.saturating_mul(Self::NEARLY_FULL_PERCENT) {
            Fill::NearlyFull
        } else {
            Fill::Ok
        }
    }
}

impl Usage {
    /// How full the live entries are; `Ok` when the backend knows no cap. Tombstones do not
    /// count: a full tombstone budget degrades replay detection but refuses nobody.
    pub fn fill(&self) -> Fill {
        match (self.entries, self.max_entries) {
            (Some(held), Some(max)) => Fill::of(held, max),
            _ => Fill::Ok,
        }
    }

    /// How full the tombstone budget is.
    pub fn tombstone_fill(&self) -> Fill {
        match (self.tombstones, self.max_tombstones) {
            (Some(held), Some(max)) => Fill::of(held, max),
            _ => Fill::Ok,
        }
    }
}

/// A store operation that could not be carried out.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the store holds its maximum of {0} entries")]
    /// Every slot is taken (the configured maximum).
    Full(usize),
    /// The backend cannot answer now; `context` says which and where (never a credential),
    /// `source` is the backend's own error when there is one.
    #[error("the store is unavailable: {context}")]
    Unavailable {
        /// Which backend and what it was doing.
        context: String,
        /// The backend's error, when there is one.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
}

/// Equal when they say the same; the sources beneath are not compared (tests compare outcomes).
impl PartialEq for StoreError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (StoreError::Full(a), StoreError::Full(b)) => a == b,
            (
                StoreError::Unavailable { context: a, .. },
                StoreError::Unavailable { context: b, .. },
            ) => a == b,
            _ => false,
        }
    }
}

impl StoreError {
    /// Unavailable because of a backend error (a connection, a transaction, a timeout).
    pub fn unavailable(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Unavailable {
            context: context.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// Unavailable for a reason of the store's own, with no error beneath it.
    pub fn unavailable_because(context: impl Into<String>) -> Self {
        StoreError::Unavailable {
            context: context.into(),
            source: None,
        }
    }
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

    /// Redeems a refresh token in one atomic step, whatever happens around it (another
    /// gateway's redemption, a caller that stops waiting, a crash): if `parent` is live and
    /// its session not revoked, the parent becomes a used marker (remembering `now` and
    /// `child.successor`) and the child is stored with the parent's record and its own expiry;
    /// the answer is `Live` with the parent's record. Of any number of concurrent callers, one
    /// gets `Live`. If the child cannot be stored (`Full`, any failure), nothing changes: the
    /// parent stays live. Otherwise the answer says what the parent is (`AlreadyUsed` with the
    /// successor its rotation stored, `SessionRevoked`, which also uses it up, or `Unknown`),
    /// and no child is stored. A used marker is remembered until the parent would have
    /// expired, so a replay is recognised.
    async fn rotate_refresh(
        &self,
        parent: &TokenKey,
        child: Rotation,
        now: DateTime<Utc>,
    ) -> Result<Taken, StoreError>;

    /// Revokes every refresh token of a session, present and future, until `until`.
    async fn revoke_session(
        &self,
        session: SessionId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Whether a session is revoked now.
    async fn is_session_revoked(
        &self,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Sets the subject's marker; a marker only moves forward in time.
    async fn set_not_before(&self, subject: &Subject, marker: NotBefore) -> Result<(), StoreError>;

    /// The subject's marker, if set.
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

    /// An opaque access token's record, while it lives.
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

    /// Whether an access token (by key) is revoked now.
    async fn is_access_revoked(
        &self,
        key: &TokenKey,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The current windows of failed-password counters, in the order of `keys`: `None` for a
    /// counter with no failure in a live window. Counters are shared by every gateway on the
    /// store.
    async fn failures(
        &self,
        keys: &[CounterKey],
        now: DateTime<Utc>,
    ) -> Result<Vec<Option<FailureWindow>>, StoreError>;

    /// Counts one failure on each counter in one step, starting a window of `window` where
    /// none is live, and answers each counter's window after the count, in the order of
    /// `keys`. A store at its bound of counters may leave a new counter uncounted (its
    /// answer then has 0 failures): the other counter of the attempt still limits it.
    async fn count_failures(
        &self,
        keys: &[CounterKey],
        window: chrono::TimeDelta,
        now: DateTime<Utc>,
    ) -> Result<Vec<FailureWindow>, StoreError>;

    /// Forgets a counter (a successful sign-in clears the user's).
    async fn clear_failures(&self, key: &CounterKey) -> Result<(), StoreError>;

    /// Whether the store can serve requests now (for `/healthz`).
    async fn health(&self) -> Result<(), StoreError>;

    /// How full the store is (for `/healthz`, `/readyz` and the fill warning): only what the
    /// backend counts as it goes, never a scan.
    async fn usage(&self) -> Result<Usage, StoreError>;

    /// A short name for logs and `/healthz`.
    fn kind(&self) -> &'static str;
}
