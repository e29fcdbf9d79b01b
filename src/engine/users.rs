//! Where the users come from, behind one trait: the `[[user]]` items of the TOML (in memory)
//! or a database directory (`crate::directory`). A lookup answers at once when it can (the
//! TOML maps, a warm cache) and is a boxed future only when it must wait for a database, so the
//! TOML path costs what a map lookup costs: no allocation, no waiting.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;

use super::password::StoredHash;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::domain::{ClientId, Role, StampDigest, UserId, Username};

/// A value of a client or user attribute (`redirect_url`, `is_editor`, ...), shown by dialects
/// that have a field for it.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl AttrValue {
    /// The value as a claim's text, as .NET writes it (`bool.ToString()` is `True`/`False`).
    pub fn claim_text(&self) -> String {
        match self {
            AttrValue::Str(text) => text.clone(),
            AttrValue::Bool(true) => "True".to_owned(),
            AttrValue::Bool(false) => "False".to_owned(),
            AttrValue::Int(n) => n.to_string(),
            AttrValue::Float(x) => x.to_string(),
        }
    }
}

pub type Attributes = BTreeMap<String, AttrValue>;

/// A registered user.
#[derive(Debug)]
pub struct User {
    pub id: UserId,
    pub username: Username,
    /// A database directory's several roles are one, joined by commas (see `crate::directory`).
    pub role: Option<Role>,
    pub password: StoredHash,
    /// Clients this user may sign in through; empty means any.
    pub clients: Vec<ClientId>,
    pub attributes: Attributes,
    /// What the directory says about whether the user may sign in at all.
    pub standing: Standing,
    /// Set when the directory upgrades this user's hash after a sign-in (`upgrade_to`).
    pub upgrade: Option<UpgradeTicket>,
    /// The fingerprint of the security stamp, where the directory has one: kept with the
    /// session's refresh tokens, which a changed stamp ends (see `engine::refresh`).
    pub stamp: Option<StampDigest>,
}

impl User {
    pub fn may_use(&self, client: &ClientId) -> bool {
        self.clients.is_empty() || self.clients.contains(client)
    }
}

/// Why a user who proved their password may still not sign in, as the legacy server held it:
/// the answer is the route's authentication failure either way, the password checked first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// Locked out until then (ASP.NET Identity: `LockoutEnabled` and `LockoutEnd` ahead).
    pub locked_until: Option<DateTime<Utc>>,
    /// The directory requires a confirmed e-mail address, and this one is not.
    pub email_unconfirmed: bool,
}

/// Why [`Standing::refusal`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Barred {
    LockedOut,
    EmailUnconfirmed,
}

impl Barred {
    pub fn as_str(self) -> &'static str {
        match self {
            Barred::LockedOut => "locked out",
            Barred::EmailUnconfirmed => "e-mail address not confirmed",
        }
    }
}

impl Standing {
    /// What keeps the user from signing in at `now`, if anything.
    pub fn refusal(&self, now: DateTime<Utc>) -> Option<Barred> {
        if self.email_unconfirmed {
            Some(Barred::EmailUnconfirmed)
        } else if self.locked_until.is_some_and(|until| until > now) {
            Some(Barred::LockedOut)
        } else {
            None
        }
    }
}

/// What a lookup finds: the user, nobody, or no answer from the directory.
pub type Found = Result<Option<Arc<User>>, DirectoryUnavailable>;

/// A lookup's answer, now or later. Awaiting a ready one returns it without suspending.
pub enum Lookup<'a> {
    /// Answered without waiting (taken by the first poll).
    Ready(Option<Found>),
    /// Waiting for the directory.
    Pending(Pin<Box<dyn Future<Output = Found> + Send + 'a>>),
}

impl<'a> Lookup<'a> {
    pub fn ready(found: Found) -> Self {
        Lookup::Ready(Some(found))
    }

    pub fn pending(future: impl Future<Output = Found> + Send + 'a) -> Self {
        Lookup::Pending(Box::pin(future))
    }
}

impl Future for Lookup<'_> {
    type Output = Found;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Found> {
        match self.get_mut() {
            Lookup::Ready(found) => Poll::Ready(found.take().unwrap_or_else(|| {
                Err(DirectoryUnavailable::because(
                    "a lookup was polled after it answered",
                ))
            })),
            Lookup::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

/// The directory cannot answer now (unreachable, slow, refusing): a password grant answers the
/// route's `store_unavailable` row (503 with `Retry-After`). Never carries a secret: the
/// context names the database without its password.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the user directory is unavailable: {context}")]
pub struct DirectoryUnavailable {
    context: String,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl DirectoryUnavailable {
    pub fn new(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            context: context.into(),
            source: Some(Arc::new(source)),
        }
    }

    pub fn because(context: impl Into<String>) -> Self {
        Self {
            context: context.into(),
            source: None,
        }
    }
}

/// What a directory that upgrades hashes needs to record one: the stored hash the upgrade
/// replaces, by its SHA-256, so that a password changed in the legacy database later wins over
/// the upgrade made from the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpgradeTicket {
    pub replaces: [u8; 32],
}

/// Counters a test or `/healthz` can read: how often the directory was asked, and how often it
/// answered without the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectoryStats {
    /// Lookups answered from a fresh cache entry (the TOML directory counts nothing).
    pub hits: u64,
    /// Lookups sent to the database (health probes and upgrade writes not counted).
    pub queries: u64,
    /// Lookups by id answered from a stale cache entry while the database did not answer.
    pub stale: u64,
    /// Hashes upgraded and recorded.
    pub upgrades: u64,
}

/// A source of users. Clients are not here: they stay in the TOML (`Directory`).
#[async_trait]
pub trait UserDirectory: Send + Sync + 'static {
    /// The backend's name, for `/healthz` and logs (`toml`, `postgres`).
    fn kind(&self) -> &'static str;

    /// The user a sign-in names (a password grant's `username`, a Windows principal), matched
    /// as the directory's legacy server matched it.
    fn by_name<'a>(&'a self, name: &'a str) -> Lookup<'a>;

    /// The user a refresh family belongs to. A directory with a cache may answer from an entry
    /// past its freshness while the database does not answer, within a bound it documents.
    fn by_id<'a>(&'a self, id: &'a UserId) -> Lookup<'a>;

    /// What an unknown user's password is verified against, so that an unknown name costs
    /// what a known one does.
    fn decoy(&self) -> StoredHash;

    /// Whether the directory can answer now (`/healthz`, `/readyz`, `check --connect`).
    async fn health(&self) -> Result<(), DirectoryUnavailable>;

    /// Records `hash` (argon2id) as the user's, in place of the one `ticket` names. Only
    /// directories that hand out tickets are asked.
    async fn save_upgrade(
        &self,
        user: &UserId,
        ticket: UpgradeTicket,
        hash: String,
    ) -> Result<(), DirectoryUnavailable>;

    /// How many users it holds, when it knows without asking a database.
    fn user_count(&self) -> Option<usize>;

    fn stats(&self) -> DirectoryStats;
}
