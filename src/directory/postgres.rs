//! The users of an ASP.NET Identity database in PostgreSQL (`[directory] kind = "postgres"`).
//!
//! A lookup is one query: the user's row with its roles (through `AspNetUserRoles` and
//! `AspNetRoles`) and claims (`AspNetUserClaims`) aggregated into arrays, and, with
//! `upgrade_to`, the upgraded hash from tokengate's own table. In front of it a bounded cache
//! ([`moka`]): a fresh entry (younger than `cache_ttl`) answers without the database, so a
//! password grant costs at most one query and a changed password, lockout, role or security
//! stamp takes effect within the TTL (the stamp is kept only as a fingerprint, which a session's
//! refresh tokens carry: `engine::refresh` ends a session whose user's stamp changed). Unknown names are cached too: a stream of made-up names costs one
//! query per name and TTL, and the cache's admission policy keeps them from pushing out
//! users who sign in often.
//!
//! Failure is bounded: every query (a connection from the pool included) is cut at
//! `query_timeout` and answered [`DirectoryUnavailable`], which the dialects answer 503 with
//! `Retry-After`. After a failure, for [`RETRY_AFTER_FAILURE`], lookups that need the database
//! fail at once instead of each waiting out the timeout; the first one after it tries again, so
//! the directory recovers by itself. Lookups by id (a refresh grant's user) are cached for
//! `cache_stale_for` and answered from a stale entry while the database does not answer: a
//! family whose user was looked up within that bound keeps refreshing through an outage.
//!
//! Connections are driven by a runtime of the directory's own, on one thread: actix runs a
//! single-threaded runtime per worker, and a connection's task spawned on one worker would
//! stall whenever that worker is busy and die with it. Every query is spawned there and
//! awaited from whichever worker asked.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::Row;
use tokio_postgres::types::Type;

use super::OpenError;
use super::schema::{Ident, Name, SchemaMap, Table, normalize_key};
use crate::domain::{Role, Secret, StampDigest, UserId, Username};
use crate::engine::{
    AttrValue, Attributes, DirectoryStats, DirectoryUnavailable, Found, HashInput, HashKind,
    InputSetting, Lookup, Standing, StoredHash, UpgradeTicket, User, UserDirectory,
};

/// Connections the pool holds at most, by default.
pub const DEFAULT_POOL_SIZE: usize = 4;
/// How long opening a connection may take, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one lookup may take (waiting for a connection included), by default.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a looked-up user (or an unknown name) is served from the cache, by default.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(5);
/// Users the cache holds at most (per kind of key: names and ids), by default.
pub const DEFAULT_CACHE_ENTRIES: u64 = 10_000;
/// How long a lookup by id may answer from a stale entry while the database is down.
pub const DEFAULT_CACHE_STALE_FOR: Duration = Duration::from_secs(3600);
/// tokengate's own table of upgraded hashes, by default.
pub const DEFAULT_UPGRADES_TABLE: &str = "tokengate_password_upgrades";
/// After a failed query, how long lookups that need the database fail at once.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// What a sign-in's name is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupBy {
    /// The user name (`NormalizedUserName`, or `upper("UserName")` without one).
    #[default]
    Username,
    /// The e-mail address (`NormalizedEmail`, or `upper("Email")` without one). Two users with
    /// one address are nobody: the sign-in fails, as ASP.NET Core's `FindByEmailAsync`
    /// (`SingleOrDefault`) threw.
    Email,
}

/// Queries of the operator's own in place of the schema mapping's. See docs/directory.md for
/// the parameters each takes and the columns each must return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomQueries {
    /// `$1` the name as sent, `$2` its [`normalize_key`] (both `text`).
    pub by_name: String,
    /// `$1` the user's id as text.
    pub by_id: String,
}

/// The cache in front of the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// How long an entry answers without asking the database; zero: every lookup asks.
    pub ttl: Duration,
    /// Entries held at most, names and ids each.
    pub max_entries: u64,
    /// How long an entry by id may answer while the database does not.
    pub stale_for: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            ttl: DEFAULT_CACHE_TTL,
            max_entries: DEFAULT_CACHE_ENTRIES,
            stale_for: DEFAULT_CACHE_STALE_FOR,
        }
    }
}

/// `upgrade_to = "argon2id"`: where the upgraded hashes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeTarget {
    /// tokengate's own table (in the mapping's table schema).
    pub table: Ident,
}

/// `[directory] kind = "postgres"`, validated.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A `postgres://` URL or `key=value` connection string; a secret (it may hold a password).
    pub url: Secret,
    pub pool_size: usize,
    pub connect_timeout: Duration,
    pub query_timeout: Duration,
    pub schema: SchemaMap,
    pub lookup: LookupBy,
    pub require_confirmed_email: bool,
    pub queries: Option<CustomQueries>,
    /// What the stored hashes were computed over (`[directory] hash_input`).
    pub hash_input: Option<HashInput>,
    pub cache: CacheSettings,
    pub upgrade: Option<UpgradeTarget>,
}

/// Reads a connection string; the error never repeats it (it may hold a password).
pub fn parse_url(url: &Secret) -> Result<tokio_postgres::Config, String> {
    url.expose().parse::<tokio_postgres::Config>().map_err(|_| {
        "not a PostgreSQL connection string; expected \
         postgres://user[:password]@host[:port]/database or host=... dbname=..."
            .to_owned()
    })
}

/// Where a connection string points, without its password: `postgres://user@host:port/db`.
fn target(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = config
                .get_ports()
                .get(i)
                .or(config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    format!(
        "postgres://{}{}/{}",
        config
            .get_user()
            .map(|user| format!("{user}@"))
            .unwrap_or_default(),
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

impl PostgresOptions {
    /// For `check` and logs: where, which schema, the timeouts; never the password.
    pub fn describe(&self) -> String {
        let target =
            parse_url(&self.url).map_or_else(|_| "(unreadable URL)".to_owned(), |c| target(&c));
        format!(
            "postgres {target} (schema {}{}, lookup by {}, pool {}, query timeout {} ms, cache {} s)",
            self.schema.preset(),
            self.queries.as_ref().map_or("", |_| " with custom queries"),
            match self.lookup {
                LookupBy::Username => "user name",
                LookupBy::Email => "e-mail",
            },
            self.pool_size,
            self.query_timeout.as_millis(),
            self.cache.ttl.as_secs_f64(),
        )
    }
}

/// The column names a lookup's query returns (the built-in queries alias theirs to these; a
/// custom query must use them). The first three are required.
pub mod columns {
    pub const ID: &str = "id";
    pub const USER_NAME: &str = "user_name";
    pub const PASSWORD_HASH: &str = "password_hash";
    pub const EMAIL_CONFIRMED: &str = "email_confirmed";
    pub const LOCKOUT_ENABLED: &str = "lockout_enabled";
    pub const LOCKOUT_END: &str = "lockout_end";
    pub const ROLES: &str = "roles";
    pub const CLAIM_TYPES: &str = "claim_types";
    pub const CLAIM_VALUES: &str = "claim_values";
    pub const UPGRADED_HASH: &str = "upgraded_hash";
    pub const UPGRADED_FROM: &str = "upgraded_from";
    pub const SECURITY_STAMP: &str = "security_stamp";

    pub const REQUIRED: [&str; 3] = [ID, USER_NAME, PASSWORD_HASH];
    pub const ALL: [&str; 12] = [
        ID,
        USER_NAME,
        PASSWORD_HASH,
        EMAIL_CONFIRMED,
        LOCKOUT_ENABLED,
        LOCKOUT_END,
        ROLES,
        CLAIM_TYPES,
        CLAIM_VALUES,
        UPGRADED_HASH,
        UPGRADED_FROM,
        SECURITY_STAMP,
    ];
}

/// The SQL a directory runs.
#[derive(Debug, Clone)]
struct Sql {
    by_name: String,
    by_id: String,
    /// The operator's queries: their parameters are typed `text` here, not inferred.
    custom: bool,
    upsert: Option<String>,
}

/// A name every preset gives and no override removes.
fn name(map: &SchemaMap, name: Name) -> String {
    map.get(name)
        .map_or_else(|| format!("\"<{} unset>\"", name.path()), Ident::quoted)
}

/// How a lookup by name compares the column [`lookup_key`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    /// With the input's normalized form (`normalize_key`): ASP.NET Core Identity's columns.
    Normalized,
    /// Upper case with upper case: Identity 2 had no normalized columns (and SQL Server's
    /// collation was case-insensitive).
    Upper,
}

/// The column a lookup by name compares, and how.
fn lookup_key(options: &PostgresOptions) -> (Name, Compare) {
    let map = &options.schema;
    match options.lookup {
        LookupBy::Username if map.get(Name::NormalizedUserName).is_some() => {
            (Name::NormalizedUserName, Compare::Normalized)
        }
        LookupBy::Username => (Name::UserName, Compare::Upper),
        LookupBy::Email if map.get(Name::NormalizedEmail).is_some() => {
            (Name::NormalizedEmail, Compare::Normalized)
        }
        LookupBy::Email => (Name::Email, Compare::Upper),
    }
}

/// A warning when no index of the users table serves the lookup by name, so that every sign-in
/// the cache does not answer scans the whole table: a straight migration from SQL Server keeps
/// Identity 2's index on `UserName`, which served its case-insensitive collation and does not
/// serve `upper("UserName")` in PostgreSQL. The DDL to make one is in the line.
async fn lookup_index(
    client: &tokio_postgres::Client,
    options: &PostgresOptions,
) -> Result<Option<String>, String> {
    let map = &options.schema;
    let (key, compare) = lookup_key(options);
    let (Some(table), Some(column)) = (map.get(Name::Users), map.get(key)) else {
        return Ok(None);
    };
    let schema = map.table_schema().map(|s| s.as_str().to_owned());
    let rows = client
        .query(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = coalesce($1::text, current_schema()::text) \
             AND tablename = $2::text",
            &[&schema, &table.as_str()],
        )
        .await
        .map_err(|e| db_message(&e))?;
    // pg_indexes quotes a name only where it must: both spellings are looked for.
    let spellings = [column.quoted(), column.as_str().to_owned()];
    let served = rows
        .iter()
        .filter_map(|row| row.try_get::<_, String>(0).ok())
        .any(|def| {
            spellings.iter().any(|name| match compare {
                Compare::Upper => {
                    def.contains(&format!("upper(({name})"))
                        || def.contains(&format!("upper({name})"))
                }
                Compare::Normalized => {
                    def.contains(&format!("({name})")) || def.contains(&format!("({name},"))
                }
            })
        });
    if served {
        return Ok(None);
    }
    let expression = match compare {
        Compare::Upper => format!("upper({})", column.quoted()),
        Compare::Normalized => column.quoted(),
    };
    Ok(Some(format!(
        "directory: warning: no index serves the lookup by {expression}: every sign-in the cache \
         does not answer scans {table}; create one: CREATE INDEX ON {} ({expression})",
        map.qualified(Table::Users)
    )))
}

/// The names the built-in queries read, each of which must be in the database.
pub(super) fn needed(options: &PostgresOptions) -> Vec<Name> {
    let map = &options.schema;
    let mut names = vec![
        Name::Users,
        Name::UserId,
        Name::UserName,
        Name::PasswordHash,
        Name::EmailConfirmed,
        Name::LockoutEnabled,
        Name::LockoutEnd,
    ];
    names.push(lookup_key(options).0);
    if map.get(Name::SecurityStamp).is_some() {
        names.push(Name::SecurityStamp);
    }
    names.extend([
        Name::Roles,
        Name::RoleId,
        Name::RoleName,
        Name::UserRoles,
        Name::UserRoleUserId,
        Name::UserRoleRoleId,
        Name::UserClaims,
        Name::ClaimId,
        Name::ClaimUserId,
        Name::ClaimType,
        Name::ClaimValue,
    ]);
    names.dedup();
    names
}

fn upgrades_table(options: &PostgresOptions, target: &UpgradeTarget) -> String {
    match options.schema.table_schema() {
        Some(schema) => format!("{schema}.{}", target.table),
        None => target.table.to_string(),
    }
}

/// The upgrades table, as `check --connect --create` makes it (docs/directory.md).
pub fn upgrades_ddl(options: &PostgresOptions, target: &UpgradeTarget) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (user_id text PRIMARY KEY, password_hash text NOT NULL, \
         replaces bytea NOT NULL, upgraded_at timestamptz NOT NULL DEFAULT now())",
        upgrades_table(options, target)
    )
}

impl Sql {
    fn build(options: &PostgresOptions) -> Self {
        let upsert = options.upgrade.as_ref().map(|target| {
            format!(
                "INSERT INTO {} (user_id, password_hash, replaces, upgraded_at) \
                 VALUES ($1, $2, $3, now()) ON CONFLICT (user_id) DO UPDATE SET \
                 password_hash = EXCLUDED.password_hash, replaces = EXCLUDED.replaces, \
                 upgraded_at = EXCLUDED.upgraded_at",
                upgrades_table(options, target)
            )
        });
        if let Some(custom) = &options.queries {
            return Self {
                by_name: custom.by_name.clone(),
                by_id: custom.by_id.clone(),
                custom: true,
                upsert,
            };
        }
        let map = &options.schema;
        let n = |key| name(map, key);
        let (users, roles, user_roles, claims) = (
            map.qualified(Table::Users),
            map.qualified(Table::Roles),
            map.qualified(Table::UserRoles),
            map.qualified(Table::UserClaims),
        );
        let (id, claim_user) = (n(Name::UserId), n(Name::ClaimUserId));
        let claims_of = |column: Name| {
            format!(
                "ARRAY(SELECT c.{}::text FROM {claims} c WHERE c.{claim_user} = u.{id} \
                 ORDER BY c.{}) AS {}",
                n(column),
                n(Name::ClaimId),
                match column {
                    Name::ClaimType => columns::CLAIM_TYPES,
                    _ => columns::CLAIM_VALUES,
                }
            )
        };
        let mut select = format!(
            "SELECT u.{id} AS {}, u.{}::text AS {}, u.{}::text AS {}, u.{} AS {}, u.{} AS {}, \
             u.{} AS {}, ARRAY(SELECT r.{}::text FROM {user_roles} ur JOIN {roles} r ON r.{} = \
             ur.{} WHERE ur.{} = u.{id} AND r.{} IS NOT NULL ORDER BY r.{}) AS {}, {}, {}",
            columns::ID,
            n(Name::UserName),
            columns::USER_NAME,
            n(Name::PasswordHash),
            columns::PASSWORD_HASH,
            n(Name::EmailConfirmed),
            columns::EMAIL_CONFIRMED,
            n(Name::LockoutEnabled),
            columns::LOCKOUT_ENABLED,
            n(Name::LockoutEnd),
            columns::LOCKOUT_END,
            n(Name::RoleName),
            n(Name::RoleId),
            n(Name::UserRoleRoleId),
            n(Name::UserRoleUserId),
            n(Name::RoleName),
            n(Name::RoleName),
            columns::ROLES,
            claims_of(Name::ClaimType),
            claims_of(Name::ClaimValue),
        );
        // Read only for its fingerprint (`User::stamp`); a mapping without the column reads none.
        select.push_str(&match map.get(Name::SecurityStamp) {
            Some(stamp) => format!(
                ", u.{}::text AS {}",
                stamp.quoted(),
                columns::SECURITY_STAMP
            ),
            None => format!(", NULL::text AS {}", columns::SECURITY_STAMP),
        });
        let mut from = format!(" FROM {users} u");
        if let Some(target) = &options.upgrade {
            select.push_str(&format!(
                ", g.password_hash AS {}, g.replaces AS {}",
                columns::UPGRADED_HASH,
                columns::UPGRADED_FROM
            ));
            from.push_str(&format!(
                " LEFT JOIN {} g ON g.user_id = u.{id}::text",
                upgrades_table(options, target)
            ));
        }
        let filter = match lookup_key(options) {
            (key, Compare::Upper) => format!("upper(u.{}) = upper($1)", n(key)),
            (key, Compare::Normalized) => format!("u.{} = $2", n(key)),
        };
        Self {
            by_name: format!("{select}{from} WHERE {filter} LIMIT 2"),
            by_id: format!("{select}{from} WHERE u.{id} = $1 LIMIT 2"),
            custom: false,
            upsert,
        }
    }
}

/// A cached answer: the user or nobody, and when the database said so.
#[derive(Clone)]
struct Entry {
    user: Option<Arc<User>>,
    fetched: Instant,
}

impl Entry {
    fn fresh(&self, ttl: Duration) -> bool {
        self.fetched.elapsed() < ttl
    }
}

/// The directory's own runtime thread; stopped when dropped.
struct IoThread {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl IoThread {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("tokengate-directory".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(Self {
            handle,
            stop: Some(stop),
        })
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// See the module docs.
pub struct PgDirectory {
    inner: Arc<Inner>,
    io: IoThread,
}

struct Inner {
    pool: Pool,
    sql: Sql,
    target: String,
    query_timeout: Duration,
    cache: CacheSettings,
    hash_input: InputSetting,
    require_confirmed_email: bool,
    upgrades: bool,
    names: moka::sync::Cache<String, Entry>,
    ids: moka::sync::Cache<UserId, Entry>,
    /// What an unknown name is verified against: of the most expensive hash read so far (see
    /// [`initial_decoy`]).
    decoy: std::sync::RwLock<StoredHash>,
    /// Until when lookups that need the database fail at once (after a failure).
    down_until: std::sync::Mutex<Option<Instant>>,
    hits: AtomicU64,
    queries: AtomicU64,
    stale: AtomicU64,
    upgraded: AtomicU64,
}

impl std::fmt::Debug for PgDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgDirectory")
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

/// The decoy before any hash was read: of the kind and parameters the preset's servers wrote
/// by default (Identity 2: v2, PBKDF2-HMAC-SHA1 with 1000 iterations; ASP.NET Core 2 to 6: v3,
/// HMAC-SHA256 with 10 000). Every hash read that costs more replaces it ([`Inner::learn`]),
/// so an unknown name costs what the most expensive user seen costs, as with the TOML.
fn initial_decoy(preset: super::Preset) -> StoredHash {
    // Published vectors (fixtures/hashes/identity-mono.json, "my password"); only their kind
    // and parameters matter, the decoy is over random values.
    let sample = match preset {
        super::Preset::Identity2 => {
            "AGG0+gxwTDYDXoNN79dRQT54fdAT/i2YaO1q+bCYEKU3RuX9RcV7+HVt5CFrEHsffA=="
        }
        super::Preset::IdentityCore => {
            "AQAAAAEAACcQAAAAEEuDadNhS43CcoT+bEs9k3FbuDtV0ZCctNanqdcBvDP8kOJK9NmOtQYwR7u8GrnhpQ=="
        }
    };
    StoredHash::parse(sample, InputSetting::default())
        .map_or_else(|_| StoredHash::default_decoy(), |hash| hash.decoy())
}

impl PgDirectory {
    /// Prepares the pool and its thread; nothing connects until the first lookup.
    pub fn new(options: &PostgresOptions) -> Result<Self, OpenError> {
        let mut config = parse_url(&options.url).map_err(OpenError::Config)?;
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("tokengate");
        }
        let target = target(&config);
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                // A closed connection is found and replaced; a live one is used as it is.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.query_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.query_timeout))
            .build()
            .map_err(|e| OpenError::Config(format!("postgres at {target}: {e}")))?;
        let io = IoThread::start().map_err(OpenError::Thread)?;
        let cache = options.cache;
        let inner = Inner {
            pool,
            sql: Sql::build(options),
            target,
            query_timeout: options.query_timeout,
            cache,
            hash_input: InputSetting {
                user: None,
                directory: options.hash_input,
            },
            require_confirmed_email: options.require_confirmed_email,
            upgrades: options.upgrade.is_some(),
            names: moka::sync::Cache::builder()
                .max_capacity(cache.max_entries)
                .time_to_live(cache.ttl.max(Duration::from_millis(1)))
                .build(),
            ids: moka::sync::Cache::builder()
                .max_capacity(cache.max_entries)
                .time_to_live(cache.stale_for.max(cache.ttl).max(Duration::from_millis(1)))
                .build(),
            decoy: std::sync::RwLock::new(initial_decoy(options.schema.preset())),
            down_until: std::sync::Mutex::new(None),
            hits: AtomicU64::new(0),
            queries: AtomicU64::new(0),
            stale: AtomicU64::new(0),
            upgraded: AtomicU64::new(0),
        };
        Ok(Self {
            inner: Arc::new(inner),
            io,
        })
    }

    /// Runs `work` on the directory's runtime and waits for it from wherever this is called.
    async fn on_io<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = Result<T, DirectoryUnavailable>> + Send + 'static,
    ) -> Result<T, DirectoryUnavailable> {
        match self.io.handle.spawn(work).await {
            Ok(result) => result,
            Err(e) => Err(DirectoryUnavailable::new(
                format!("postgres at {}: the lookup task failed", self.inner.target),
                e,
            )),
        }
    }
}

/// Which lookup a query serves.
#[derive(Debug, Clone, Copy)]
enum Key {
    Name,
    Id,
}

/// One statement the directory runs.
enum Op<'a> {
    Lookup(Key, &'a str),
    /// `SELECT 1`: is the database there?
    Probe,
    Upsert {
        id: &'a str,
        hash: &'a str,
        replaces: &'a [u8],
    },
}

/// A user id as the by-id statement's parameter type wants it.
enum IdParam {
    Text(String),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Uuid(uuid::Uuid),
}

impl IdParam {
    /// `None` when the id cannot be of that type (no such user).
    fn new(ty: &Type, id: &str) -> Option<Self> {
        Some(if *ty == Type::INT2 {
            IdParam::Int2(id.parse().ok()?)
        } else if *ty == Type::INT4 {
            IdParam::Int4(id.parse().ok()?)
        } else if *ty == Type::INT8 {
            IdParam::Int8(id.parse().ok()?)
        } else if *ty == Type::UUID {
            IdParam::Uuid(id.parse().ok()?)
        } else {
            IdParam::Text(id.to_owned())
        })
    }

    fn as_sql(&self) -> &(dyn tokio_postgres::types::ToSql + Sync) {
        match self {
            IdParam::Text(v) => v,
            IdParam::Int2(v) => v,
            IdParam::Int4(v) => v,
            IdParam::Int8(v) => v,
            IdParam::Uuid(v) => v,
        }
    }
}

impl Inner {
    fn unavailable(
        &self,
        what: &str,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> DirectoryUnavailable {
        DirectoryUnavailable::new(format!("postgres at {}: {what}", self.target), error)
    }

    /// Fails at once while the database is known to be down, except for one caller per
    /// [`RETRY_AFTER_FAILURE`], who tries again.
    fn admit(&self) -> Result<(), DirectoryUnavailable> {
        let mut down = self
            .down_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *down {
            Some(until) if Instant::now() < until => Err(DirectoryUnavailable::because(format!(
                "postgres at {}: did not answer the last query; next attempt within {} ms",
                self.target,
                RETRY_AFTER_FAILURE.as_millis()
            ))),
            Some(_) => {
                *down = Some(Instant::now() + RETRY_AFTER_FAILURE);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn answered(&self, ok: bool) {
        let mut down = self
            .down_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *down = (!ok).then(|| Instant::now() + RETRY_AFTER_FAILURE);
    }

    /// [`Inner::run_untimed`], its latency and failures on `/metrics`:
    /// `tokengate_directory_operation_seconds{backend,operation}` and
    /// `tokengate_directory_errors_total{backend,operation}`.
    async fn run(&self, op: Op<'_>) -> Result<Vec<Row>, DirectoryUnavailable> {
        let operation = match op {
            Op::Lookup(Key::Name, _) => "lookup_by_name",
            Op::Lookup(Key::Id, _) => "lookup_by_id",
            Op::Probe => "probe",
            Op::Upsert { .. } => "save_upgrade",
        };
        let started = Instant::now();
        let result = self.run_untimed(op).await;
        metrics::histogram!(
            "tokengate_directory_operation_seconds",
            "backend" => "postgres",
            "operation" => operation
        )
        .record(started.elapsed().as_secs_f64());
        if result.is_err() {
            metrics::counter!(
                "tokengate_directory_errors_total",
                "backend" => "postgres",
                "operation" => operation
            )
            .increment(1);
        }
        result
    }

    /// One statement within the query timeout, a connection from the pool included. A
    /// connection that timed out is dropped, not returned: its answer may still come.
    async fn run_untimed(&self, op: Op<'_>) -> Result<Vec<Row>, DirectoryUnavailable> {
        if let Op::Lookup(..) = op {
            self.queries.fetch_add(1, Ordering::Relaxed);
        }
        let deadline = tokio::time::Instant::now() + self.query_timeout;
        let timed_out = || {
            DirectoryUnavailable::because(format!(
                "postgres at {}: no answer within {} ms",
                self.target,
                self.query_timeout.as_millis()
            ))
        };
        let client = match tokio::time::timeout_at(deadline, self.pool.get()).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                self.answered(false);
                return Err(self.unavailable("no connection", e));
            }
            Err(_) => {
                self.answered(false);
                return Err(timed_out());
            }
        };
        let result = tokio::time::timeout_at(deadline, self.execute(&client, op)).await;
        match result {
            Ok(Ok(value)) => {
                self.answered(true);
                Ok(value)
            }
            Ok(Err(e)) => {
                self.answered(false);
                Err(self.unavailable("query failed", e))
            }
            Err(_) => {
                drop(Object::take(client));
                self.answered(false);
                Err(timed_out())
            }
        }
    }

    async fn execute(
        &self,
        client: &Object,
        op: Op<'_>,
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let sql = &self.sql;
        match op {
            Op::Lookup(Key::Name, value) => {
                let statement = client
                    .prepare_typed_cached(&sql.by_name, &[Type::TEXT, Type::TEXT])
                    .await?;
                let normalized = normalize_key(value);
                client.query(&statement, &[&value, &normalized]).await
            }
            Op::Lookup(Key::Id, value) => {
                // The built-in statement's parameter takes the id column's own type, so an
                // integer or uuid key is compared through its index.
                let statement = if sql.custom {
                    client
                        .prepare_typed_cached(&sql.by_id, &[Type::TEXT])
                        .await?
                } else {
                    client.prepare_cached(&sql.by_id).await?
                };
                let param = statement
                    .params()
                    .first()
                    .and_then(|ty| IdParam::new(ty, value));
                match param {
                    Some(param) => client.query(&statement, &[param.as_sql()]).await,
                    None => Ok(Vec::new()),
                }
            }
            Op::Probe => client.simple_query("SELECT 1").await.map(|_| Vec::new()),
            Op::Upsert { id, hash, replaces } => {
                let Some(upsert) = &sql.upsert else {
                    return Ok(Vec::new());
                };
                let statement = client
                    .prepare_typed_cached(upsert, &[Type::TEXT, Type::TEXT, Type::BYTEA])
                    .await?;
                client.execute(&statement, &[&id, &hash, &replaces]).await?;
                Ok(Vec::new())
            }
        }
    }

    /// Looks a user up in the database and caches the answer (under the name as sent, and the
    /// user's id).
    async fn fetch(&self, key: Key, value: &str) -> Found {
        let rows = self.run(Op::Lookup(key, value)).await?;
        let user = match rows.as_slice() {
            [] => None,
            [row] => Some(Arc::new(self.user(row, value)?)),
            _ => {
                tracing::warn!(
                    directory = %self.target,
                    "two users match one sign-in name; neither is signed in"
                );
                None
            }
        };
        let entry = Entry {
            user: user.clone(),
            fetched: Instant::now(),
        };
        match key {
            Key::Name if !self.cache.ttl.is_zero() => {
                self.names.insert(value.to_owned(), entry.clone());
            }
            Key::Name => {}
            Key::Id => self.ids.insert(UserId::new(value), entry.clone()),
        }
        if let (Key::Name, Some(user)) = (key, &user) {
            self.ids.insert(user.id.clone(), entry);
        }
        Ok(user)
    }

    /// A row as a user. The hash is parsed leniently: one that does not parse verifies
    /// nothing, at the decoy's cost.
    fn user(&self, row: &Row, looked_up: &str) -> Result<User, DirectoryUnavailable> {
        let bad = |what: String| {
            DirectoryUnavailable::because(format!("postgres at {}: {what}", self.target))
        };
        let id = read_id(row).map_err(bad)?;
        let username: Option<String> = get(row, columns::USER_NAME).map_err(bad)?;
        let legacy: Option<String> = get(row, columns::PASSWORD_HASH).map_err(bad)?;
        let confirmed: Option<bool> = get(row, columns::EMAIL_CONFIRMED).map_err(bad)?;
        let lockout_enabled: Option<bool> = get(row, columns::LOCKOUT_ENABLED).map_err(bad)?;
        let lockout_end = read_instant(row, columns::LOCKOUT_END).map_err(bad)?;
        let roles: Option<Vec<Option<String>>> = get(row, columns::ROLES).map_err(bad)?;
        let claim_types: Option<Vec<Option<String>>> =
            get(row, columns::CLAIM_TYPES).map_err(bad)?;
        let claim_values: Option<Vec<Option<String>>> =
            get(row, columns::CLAIM_VALUES).map_err(bad)?;
        let upgraded: Option<String> = get(row, columns::UPGRADED_HASH).map_err(bad)?;
        let upgraded_from: Option<Vec<u8>> = get(row, columns::UPGRADED_FROM).map_err(bad)?;
        let stamp: Option<String> = get(row, columns::SECURITY_STAMP).map_err(bad)?;

        let legacy = legacy.unwrap_or_default();
        let fingerprint: [u8; 32] = {
            use sha2::Digest;
            sha2::Sha256::digest(legacy.as_bytes()).into()
        };
        // The upgrade counts only while the legacy column still holds the hash it replaced: a
        // password changed in the legacy application since wins.
        let upgraded = match (upgraded, upgraded_from) {
            (Some(hash), Some(from)) if from.as_slice() == fingerprint.as_slice() => {
                let input = InputSetting {
                    user: Some(HashInput::Sha1Hex),
                    directory: None,
                };
                StoredHash::parse(hash.trim(), input)
                    .map_err(|e| tracing::warn!(user = %id, error = %e, "upgraded hash unusable; the legacy one is used"))
                    .ok()
            }
            _ => None,
        };
        let from_upgrade = upgraded.is_some();
        let password = match upgraded {
            Some(hash) => hash,
            None => {
                let decoy = self.decoy();
                let (hash, error) =
                    StoredHash::parse_or_unusable(legacy.trim(), self.hash_input, &decoy);
                match error {
                    // No hash at all: an account that signs in elsewhere (external logins).
                    Some(_) if legacy.is_empty() => {}
                    Some(e) => {
                        tracing::warn!(user = %id, error = %e, "stored password hash unusable; the user cannot sign in with a password")
                    }
                    None => self.learn(&hash),
                }
                hash
            }
        };
        let upgrade = (self.upgrades
            && !from_upgrade
            && !matches!(password.kind(), HashKind::Argon2id | HashKind::Unusable))
        .then_some(UpgradeTicket {
            replaces: fingerprint,
        });
        let roles: Vec<String> = roles.unwrap_or_default().into_iter().flatten().collect();
        let mut attributes = Attributes::new();
        for (kind, value) in claim_types
            .unwrap_or_default()
            .into_iter()
            .zip(claim_values.unwrap_or_default())
        {
            if let (Some(kind), Some(value)) = (kind, value) {
                // The first claim of a type (by its row id) is the attribute's value.
                attributes.entry(kind).or_insert(AttrValue::Str(value));
            }
        }
        Ok(User {
            username: Username::new(username.unwrap_or_else(|| looked_up.to_owned())),
            id: UserId::new(id),
            role: (!roles.is_empty()).then(|| Role::new(roles.join(","))),
            password,
            clients: Vec::new(),
            attributes,
            standing: Standing {
                locked_until: lockout_end.filter(|_| lockout_enabled.unwrap_or(false)),
                email_unconfirmed: self.require_confirmed_email && !confirmed.unwrap_or(false),
            },
            upgrade,
            stamp: stamp.as_deref().map(StampDigest::of),
        })
    }

    /// Within `stale_for` (the id cache's lifetime), an entry outlasts an outage.
    fn stale(&self, id: &UserId, cached: Option<Entry>, error: DirectoryUnavailable) -> Found {
        match cached {
            Some(entry) => {
                self.stale.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(user = %id, error = %error, "directory unavailable; the user's cached entry answers");
                Ok(entry.user)
            }
            None => Err(error),
        }
    }

    fn decoy(&self) -> StoredHash {
        self.decoy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Raises the decoy to `hash`'s cost when it is more expensive than any read before.
    fn learn(&self, hash: &StoredHash) {
        if hash.estimated_cost_us() <= self.decoy().estimated_cost_us() {
            return;
        }
        let mut decoy = self
            .decoy
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if hash.estimated_cost_us() > decoy.estimated_cost_us() {
            *decoy = hash.decoy();
        }
    }
}

/// A column of the row by name; absent (a custom query that does not return it) is `None`.
fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    name: &str,
) -> Result<Option<T>, String> {
    match row.columns().iter().position(|c| c.name() == name) {
        None => Ok(None),
        Some(index) => row
            .try_get::<_, Option<T>>(index)
            .map_err(|e| format!("column {name} does not read: {e}")),
    }
}

/// The id, whatever its type: text, an integer or a uuid (`IdentityUser<int>`, `<Guid>`).
fn read_id(row: &Row) -> Result<String, String> {
    let Some(index) = row.columns().iter().position(|c| c.name() == columns::ID) else {
        return Err(format!("the query returns no {} column", columns::ID));
    };
    let read = |e: tokio_postgres::Error| format!("column {} does not read: {e}", columns::ID);
    let ty = row.columns()[index].type_();
    let id = if *ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(index)
            .map_err(read)?
            .map(|v| v.to_string())
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(index)
            .map_err(read)?
            .map(|v| v.to_string())
    } else if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(index)
            .map_err(read)?
            .map(|v| v.to_string())
    } else if *ty == Type::UUID {
        // `Guid.ToString()`: lower-case, hyphenated.
        row.try_get::<_, Option<uuid::Uuid>>(index)
            .map_err(read)?
            .map(|v| v.hyphenated().to_string())
    } else {
        row.try_get::<_, Option<String>>(index).map_err(read)?
    };
    id.ok_or_else(|| format!("a user's {} is NULL", columns::ID))
}

/// An instant from a `timestamptz` or a `timestamp` (read as UTC, as `LockoutEndDateUtc` is).
fn read_instant(row: &Row, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    let Some(index) = row.columns().iter().position(|c| c.name() == name) else {
        return Ok(None);
    };
    let read = |e: tokio_postgres::Error| format!("column {name} does not read: {e}");
    if *row.columns()[index].type_() == Type::TIMESTAMP {
        Ok(row
            .try_get::<_, Option<chrono::NaiveDateTime>>(index)
            .map_err(read)?
            .map(|at| at.and_utc()))
    } else {
        row.try_get::<_, Option<DateTime<Utc>>>(index).map_err(read)
    }
}

#[async_trait]
impl UserDirectory for PgDirectory {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn by_name<'a>(&'a self, name: &'a str) -> Lookup<'a> {
        let inner = &self.inner;
        if let Some(entry) = inner.names.get(name)
            && entry.fresh(inner.cache.ttl)
        {
            inner.hits.fetch_add(1, Ordering::Relaxed);
            return Lookup::ready(Ok(entry.user));
        }
        if let Err(e) = inner.admit() {
            return Lookup::ready(Err(e));
        }
        let (inner, name) = (self.inner.clone(), name.to_owned());
        Lookup::pending(self.on_io(async move { inner.fetch(Key::Name, &name).await }))
    }

    fn by_id<'a>(&'a self, id: &'a UserId) -> Lookup<'a> {
        let inner = &self.inner;
        let cached = inner.ids.get(id);
        if let Some(entry) = &cached
            && entry.fresh(inner.cache.ttl)
        {
            inner.hits.fetch_add(1, Ordering::Relaxed);
            return Lookup::ready(Ok(entry.user.clone()));
        }
        if let Err(e) = inner.admit() {
            return Lookup::ready(inner.stale(id, cached, e));
        }
        let (task, key) = (self.inner.clone(), id.as_str().to_owned());
        let fetched = self.on_io(async move { task.fetch(Key::Id, &key).await });
        Lookup::pending(async move {
            match fetched.await {
                Ok(user) => Ok(user),
                Err(e) => self.inner.stale(id, cached, e),
            }
        })
    }

    fn decoy(&self) -> StoredHash {
        self.inner.decoy()
    }

    async fn health(&self) -> Result<(), DirectoryUnavailable> {
        let inner = self.inner.clone();
        self.on_io(async move { inner.run(Op::Probe).await.map(drop) })
            .await
    }

    async fn save_upgrade(
        &self,
        user: &UserId,
        ticket: UpgradeTicket,
        hash: String,
    ) -> Result<(), DirectoryUnavailable> {
        let inner = self.inner.clone();
        if inner.sql.upsert.is_none() {
            return Err(DirectoryUnavailable::because(
                "upgrade_to is not set: no upgrades table",
            ));
        }
        let id = user.as_str().to_owned();
        self.on_io(async move {
            inner
                .run(Op::Upsert {
                    id: &id,
                    hash: &hash,
                    replaces: &ticket.replaces,
                })
                .await?;
            inner.upgraded.fetch_add(1, Ordering::Relaxed);
            // The next lookup by id reads the upgrade; lookups by name within their TTL keep
            // the legacy hash, which verifies the same password.
            inner.ids.invalidate(&UserId::new(id));
            Ok(())
        })
        .await
    }

    fn user_count(&self) -> Option<usize> {
        None
    }

    fn stats(&self) -> DirectoryStats {
        let inner = &self.inner;
        DirectoryStats {
            hits: inner.hits.load(Ordering::Relaxed),
            queries: inner.queries.load(Ordering::Relaxed),
            stale: inner.stale.load(Ordering::Relaxed),
            upgrades: inner.upgraded.load(Ordering::Relaxed),
        }
    }
}

/// What `check --connect` found.
#[derive(Debug, Default)]
pub struct ConnectReport {
    /// One line each, with its key path; empty: the directory can serve.
    pub problems: Vec<String>,
    /// What it did (`--create`), and what it counted.
    pub notes: Vec<String>,
    /// The stored hashes by kind, counted when the schema mapping (not a custom query) reads
    /// them: `config` compares it with the routes' password proofs.
    pub census: Option<HashCensus>,
}

/// The users' password hashes by the kind their stored value shows (its prefix only: a value
/// that looks like a kind may still not parse), users with an upgraded hash left out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HashCensus {
    pub identity_v2: i64,
    pub identity_v3: i64,
    pub bcrypt: i64,
    pub argon2id: i64,
    pub sha1_hex: i64,
    /// No hash (external logins only) or one of no kind tokengate reads.
    pub other: i64,
}

impl HashCensus {
    /// `identity v3 900, bcrypt 2`: the kinds present, for one line.
    pub fn describe(&self) -> String {
        let kinds = [
            (HashKind::IdentityV2.name(), self.identity_v2),
            (HashKind::IdentityV3.name(), self.identity_v3),
            (HashKind::Bcrypt.name(), self.bcrypt),
            (HashKind::Argon2id.name(), self.argon2id),
            (HashKind::Sha1Hex.name(), self.sha1_hex),
            ("none or of no kind read", self.other),
        ];
        let present: Vec<String> = kinds
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        if present.is_empty() {
            "no users".to_owned()
        } else {
            present.join(", ")
        }
    }
}

/// Counts the hashes by kind in one pass over the users table. The prefixes are those
/// `StoredHash::parse` tells kinds by: ASP.NET Identity's base64 starts `A` followed by `A`-`P`
/// for the v2 marker byte 0x00 and `Q` for v3's 0x01.
async fn census(
    client: &tokio_postgres::Client,
    options: &PostgresOptions,
) -> Result<HashCensus, String> {
    let map = &options.schema;
    let (id, hash) = (name(map, Name::UserId), name(map, Name::PasswordHash));
    let mut from = format!("{} u", map.qualified(Table::Users));
    if let Some(target) = &options.upgrade {
        from.push_str(&format!(
            " LEFT JOIN {} g ON g.user_id = u.{id}::text WHERE g.user_id IS NULL",
            upgrades_table(options, target)
        ));
    }
    let sql = format!(
        "SELECT count(*) FILTER (WHERE h ~ '^A[A-P]'), count(*) FILTER (WHERE h LIKE 'AQ%'), \
         count(*) FILTER (WHERE h LIKE '$2%'), count(*) FILTER (WHERE h LIKE '$argon2%'), \
         count(*) FILTER (WHERE h ~ '^[0-9A-Fa-f]{{40}}$'), count(*) \
         FROM (SELECT btrim(coalesce(u.{hash}::text, '')) AS h FROM {from}) t"
    );
    // One pass over every user: a million rows take a second or two, not a lookup's timeout.
    let row = tokio::time::timeout(Duration::from_secs(120), client.query_one(&sql, &[]))
        .await
        .map_err(|_| "not counted within 120 s".to_owned())?
        .map_err(|e| db_message(&e))?;
    let at = |i: usize| row.try_get::<_, i64>(i).map_err(|e| e.to_string());
    let mut census = HashCensus {
        identity_v2: at(0)?,
        identity_v3: at(1)?,
        bcrypt: at(2)?,
        argon2id: at(3)?,
        sha1_hex: at(4)?,
        other: 0,
    };
    census.other = at(5)?
        - census.identity_v2
        - census.identity_v3
        - census.bcrypt
        - census.argon2id
        - census.sha1_hex;
    Ok(census)
}

/// `tokengate check --connect`: connects, and checks that every table and column the
/// lookups read is there with a type they read (or that the custom queries return the
/// columns they must), and that the upgrades table is (made with `create`).
pub fn check(options: &PostgresOptions, create: bool) -> ConnectReport {
    let mut report = ConnectReport::default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            report
                .problems
                .push(format!("directory: cannot start a runtime: {e}"));
            return report;
        }
    };
    runtime.block_on(check_on(options, create, &mut report));
    report
}

async fn check_on(options: &PostgresOptions, create: bool, report: &mut ConnectReport) {
    let mut config = match parse_url(&options.url) {
        Ok(config) => config,
        Err(e) => {
            report.problems.push(format!("directory.url: {e}"));
            return;
        }
    };
    config.connect_timeout(options.connect_timeout);
    let target = target(&config);
    let connected = tokio::time::timeout(
        options.connect_timeout + options.query_timeout,
        config.connect(tokio_postgres::NoTls),
    )
    .await;
    let client = match connected {
        Ok(Ok((client, connection))) => {
            tokio::spawn(connection);
            client
        }
        Ok(Err(e)) => {
            report
                .problems
                .push(format!("directory.url: cannot connect to {target}: {e}"));
            return;
        }
        Err(_) => {
            report.problems.push(format!(
                "directory.url: {target} did not answer within {} ms",
                (options.connect_timeout + options.query_timeout).as_millis()
            ));
            return;
        }
    };
    let (by_name_types, by_id_types) = ([Type::TEXT, Type::TEXT], [Type::TEXT]);
    let prepare = async |sql: &str, types: &[Type]| match tokio::time::timeout(
        options.query_timeout * 5,
        client.prepare_typed(sql, types),
    )
    .await
    {
        Ok(Ok(statement)) => Ok(statement),
        Ok(Err(e)) => Err(db_message(&e)),
        Err(_) => Err("not prepared within the timeout".to_owned()),
    };
    match &options.queries {
        Some(queries) => {
            for (key, sql, types) in [
                ("directory.query", &queries.by_name, &by_name_types[..]),
                ("directory.query_by_id", &queries.by_id, &by_id_types[..]),
            ] {
                match prepare(sql, types).await {
                    Ok(statement) => check_columns(key, options, &statement, report),
                    Err(e) => report.problems.push(format!("{key}: {e}")),
                }
            }
        }
        None => {
            check_tables(&client, options, report).await;
            // The lookups join the upgrades table: it must be there before they can prepare.
            if let Some(target) = &options.upgrade {
                check_upgrades(&client, options, target, create, report).await;
            }
            if report.problems.is_empty() {
                let sql = Sql::build(options);
                // The by-id parameter takes the id column's type, as the directory prepares it.
                for (what, text, types) in [
                    ("by name", &sql.by_name, &by_name_types[..]),
                    ("by id", &sql.by_id, &[][..]),
                ] {
                    if let Err(e) = prepare(text, types).await {
                        report.problems.push(format!(
                            "directory: the lookup {what} does not prepare: {e}"
                        ));
                    }
                }
            }
            if report.problems.is_empty() {
                match lookup_index(&client, options).await {
                    Ok(warning) => report.notes.extend(warning),
                    Err(e) => report
                        .problems
                        .push(format!("directory: cannot read the indexes: {e}")),
                }
                match census(&client, options).await {
                    Ok(census) => {
                        report.notes.push(format!(
                            "directory: password hashes by kind: {}",
                            census.describe()
                        ));
                        report.census = Some(census);
                    }
                    Err(e) => report
                        .problems
                        .push(format!("directory: cannot count the password hashes: {e}")),
                }
            }
        }
    }
    if let (Some(target), Some(_)) = (&options.upgrade, &options.queries) {
        check_upgrades(&client, options, target, create, report).await;
    }
}

/// A database error's own message (the `Display` of a server error is only "db error").
fn db_message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map_or_else(|| e.to_string(), |db| db.message().to_owned())
}

fn check_columns(
    key: &str,
    options: &PostgresOptions,
    statement: &tokio_postgres::Statement,
    report: &mut ConnectReport,
) {
    let returned: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
    for required in columns::REQUIRED {
        if !returned.contains(&required) {
            report
                .problems
                .push(format!("{key}: returns no {required:?} column (required)"));
        }
    }
    for column in &returned {
        if !columns::ALL.contains(column) {
            report.problems.push(format!(
                "{key}: returns a column {column:?}, which tokengate does not read (known: {})",
                columns::ALL.join(", ")
            ));
        }
    }
    if options.require_confirmed_email && !returned.contains(&columns::EMAIL_CONFIRMED) {
        report.problems.push(format!(
            "{key}: returns no {:?} column, which require_confirmed_email needs",
            columns::EMAIL_CONFIRMED
        ));
    }
    if options.upgrade.is_some()
        && !(returned.contains(&columns::UPGRADED_HASH)
            && returned.contains(&columns::UPGRADED_FROM))
    {
        report.problems.push(format!(
            "{key}: returns no {:?} and {:?} columns, which upgrade_to needs to prefer the upgraded hash",
            columns::UPGRADED_HASH,
            columns::UPGRADED_FROM
        ));
    }
}

/// The types a column may have for the lookups to read it.
fn types_read(name: Name) -> Option<&'static [&'static str]> {
    const TEXT: &[&str] = &["text", "character varying", "character", "name"];
    match name {
        Name::UserId => Some(&[
            "text",
            "character varying",
            "character",
            "smallint",
            "integer",
            "bigint",
            "uuid",
        ]),
        Name::UserName
        | Name::PasswordHash
        | Name::SecurityStamp
        | Name::RoleName
        | Name::ClaimType
        | Name::ClaimValue => Some(TEXT),
        Name::EmailConfirmed | Name::LockoutEnabled => Some(&["boolean"]),
        Name::LockoutEnd => Some(&["timestamp with time zone", "timestamp without time zone"]),
        _ => None,
    }
}

async fn check_tables(
    client: &tokio_postgres::Client,
    options: &PostgresOptions,
    report: &mut ConnectReport,
) {
    let map = &options.schema;
    let schema = map.table_schema().map(|s| s.as_str().to_owned());
    let needed = needed(options);
    for table in Table::ALL {
        let Some(table_name) = map.get(table.name_key()) else {
            continue;
        };
        let found = client
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema::text = coalesce($1::text, current_schema()::text) \
                 AND table_name::text = $2::text",
                &[&schema, &table_name.as_str()],
            )
            .await;
        let found: Vec<(String, String)> = match found {
            Ok(rows) => rows
                .iter()
                .filter_map(|row| Some((row.try_get(0).ok()?, row.try_get(1).ok()?)))
                .collect(),
            Err(e) => {
                report.problems.push(format!(
                    "directory: cannot read the catalog: {}",
                    db_message(&e)
                ));
                return;
            }
        };
        if found.is_empty() {
            report.problems.push(format!(
                "directory.{}.table: no table {table_name} in schema {}",
                table.prefix(),
                schema
                    .as_deref()
                    .map_or_else(|| "current_schema()".to_owned(), |s| format!("{:?}", s))
            ));
            continue;
        }
        for name in needed
            .iter()
            .filter(|n| n.table() == table && **n != table.name_key())
        {
            let Some(column) = map.get(*name) else {
                continue;
            };
            match found.iter().find(|(c, _)| c == column.as_str()) {
                None => report.problems.push(format!(
                    "directory.{}: table {table_name} has no column {column}",
                    name.path()
                )),
                Some((_, ty)) => {
                    if let Some(types) = types_read(*name)
                        && !types.contains(&ty.as_str())
                    {
                        report.problems.push(format!(
                            "directory.{}: column {table_name}.{column} is {ty}; expected {}",
                            name.path(),
                            types.join(" or ")
                        ));
                    }
                }
            }
        }
    }
}

async fn check_upgrades(
    client: &tokio_postgres::Client,
    options: &PostgresOptions,
    target: &UpgradeTarget,
    create: bool,
    report: &mut ConnectReport,
) {
    let schema = options.schema.table_schema().map(|s| s.as_str().to_owned());
    let columns = client
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema::text = coalesce($1::text, current_schema()::text) \
             AND table_name::text = $2::text",
            &[&schema, &target.table.as_str()],
        )
        .await;
    let columns: Vec<String> = match columns {
        Ok(rows) => rows.iter().filter_map(|row| row.try_get(0).ok()).collect(),
        Err(e) => {
            report.problems.push(format!(
                "directory: cannot read the catalog: {}",
                db_message(&e)
            ));
            return;
        }
    };
    let ddl = upgrades_ddl(options, target);
    if columns.is_empty() {
        if create {
            match client.batch_execute(&ddl).await {
                Ok(()) => report.notes.push(format!(
                    "directory: created {}",
                    upgrades_table(options, target)
                )),
                Err(e) => report.problems.push(format!(
                    "directory.upgrades_table: cannot create {}: {}",
                    target.table,
                    db_message(&e)
                )),
            }
        } else {
            report.problems.push(format!(
                "directory.upgrades_table: no table {} (upgrade_to needs it): run \
                 `tokengate check --connect --create`, or: {ddl}",
                target.table
            ));
        }
        return;
    }
    for column in ["user_id", "password_hash", "replaces", "upgraded_at"] {
        if !columns.iter().any(|c| c == column) {
            report.problems.push(format!(
                "directory.upgrades_table: table {} has no column {column:?}; expected: {ddl}",
                target.table
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Preset;

    fn options(preset: Preset, lookup: LookupBy) -> PostgresOptions {
        PostgresOptions {
            url: Secret::new("postgres://tokengate:hunter2@db.internal:6543/identity"),
            pool_size: DEFAULT_POOL_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            schema: SchemaMap::new(preset),
            lookup,
            require_confirmed_email: false,
            queries: None,
            hash_input: None,
            cache: CacheSettings::default(),
            upgrade: None,
        }
    }

    #[test]
    fn each_preset_matches_names_as_its_server_did() {
        let core = Sql::build(&options(Preset::IdentityCore, LookupBy::Username));
        assert!(
            core.by_name
                .ends_with("WHERE u.\"NormalizedUserName\" = $2 LIMIT 2"),
            "{}",
            core.by_name
        );
        let core = Sql::build(&options(Preset::IdentityCore, LookupBy::Email));
        assert!(core.by_name.contains("WHERE u.\"NormalizedEmail\" = $2"));
        let two = Sql::build(&options(Preset::Identity2, LookupBy::Username));
        assert!(
            two.by_name
                .contains("WHERE upper(u.\"UserName\") = upper($1)")
        );
        assert!(
            two.by_name
                .contains("u.\"LockoutEndDateUtc\" AS lockout_end")
        );
        let two = Sql::build(&options(Preset::Identity2, LookupBy::Email));
        assert!(two.by_name.contains("WHERE upper(u.\"Email\") = upper($1)"));
        assert!(two.by_id.ends_with("WHERE u.\"Id\" = $1 LIMIT 2"));
        assert!(two.upsert.is_none() && !two.by_name.contains("upgraded_hash"));
    }

    #[test]
    fn upgrades_join_tokengates_own_table_in_the_table_schema() {
        let mut options = options(Preset::IdentityCore, LookupBy::Username);
        options
            .schema
            .set_table_schema(Some(Ident::new("legacy").expect("valid")));
        options.upgrade = Some(UpgradeTarget {
            table: Ident::new(DEFAULT_UPGRADES_TABLE).expect("valid"),
        });
        let sql = Sql::build(&options);
        assert!(sql.by_name.contains(
            "FROM \"legacy\".\"AspNetUsers\" u LEFT JOIN \"legacy\".\"tokengate_password_upgrades\" g ON g.user_id = u.\"Id\"::text"
        ), "{}", sql.by_name);
        assert!(sql.upsert.as_deref().is_some_and(|upsert| {
            upsert.starts_with("INSERT INTO \"legacy\".\"tokengate_password_upgrades\"")
        }));
        assert!(
            upgrades_ddl(&options, options.upgrade.as_ref().expect("set")).starts_with(
                "CREATE TABLE IF NOT EXISTS \"legacy\".\"tokengate_password_upgrades\""
            )
        );
    }

    #[test]
    fn descriptions_never_show_the_password() {
        let shown = options(Preset::Identity2, LookupBy::Username).describe();
        assert!(
            shown.starts_with(
                "postgres postgres://tokengate@db.internal:6543/identity (schema identity2"
            ),
            "{shown}"
        );
        assert!(!shown.contains("hunter2"));
        let key_value = parse_url(&Secret::new(
            "host=/run/postgresql user=app password=hunter2 dbname=x",
        ))
        .expect("parses");
        assert_eq!(target(&key_value), "postgres://app@/run/postgresql:5432/x");
        assert!(
            parse_url(&Secret::new("postgres://a:hunter2@[::1"))
                .is_err_and(|e| !e.contains("hunter2"))
        );
    }
}
