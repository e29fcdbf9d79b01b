//! `[directory]`, `[[client]]` and `[[user]]`: who may ask for tokens. Clients come first because
//! users, routes and `[introspection]` name them; the `Directory` itself is built last (see
//! `build`). Users' password hashes are recognised by their form (`engine::password`); what each
//! was computed over is `hash_input`, the user's or `[directory]`'s, and `check_password_proofs`
//! reports the routes whose clients' proofs cannot be checked against them. `[directory] kind`
//! picks where users come from: the `[[user]]` items, or a database (`crate::directory`), whose
//! keys are read by `backend`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::directory::{
    CacheSettings, CustomQueries, DirectoryBackend, HashCensus, Ident, LookupBy, Name,
    PostgresOptions, Preset, SchemaMap, Table, UpgradeTarget, postgres,
};

use crate::dialect::profile::PasswordEncoding;
use crate::domain::{ClientId, GrantType, Role, UserId, Username};
use crate::engine::{
    AttrValue, Attributes, Client, ClientScopes, Directory, HashInput, HashKind, InputSetting,
    ScopeConfigError, Standing, StoredHash, User,
};

use super::read;
use super::read::duration;
use super::secrets::resolve_secret;
use super::{ConfigErrors, Problem, problem};

/// The `[[client]]` items, validated, and the ids of those that could not be read.
pub(super) struct Clients {
    pub read: Vec<Client>,
    /// Reported already; what names one of these is not reported again as naming nothing.
    pub unreadable: Vec<String>,
}

/// What a client id names.
pub(super) enum Named<'a> {
    Client(&'a Client),
    /// A `[[client]]` with this id that could not be read.
    Unreadable,
    Nothing,
}

impl Clients {
    pub fn named(&self, id: &str) -> Named<'_> {
        match self.read.iter().find(|c| c.id.as_str() == id) {
            Some(client) => Named::Client(client),
            None if self.unreadable.iter().any(|u| u == id) => Named::Unreadable,
            None => Named::Nothing,
        }
    }
}

#[derive(Debug, Deserialize)]
struct RawClient {
    id: String,
    #[serde(default)]
    grants: Vec<GrantType>,
    secret: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    /// Absent: the client may have its default scopes and nothing else.
    scopes: Option<Vec<String>>,
    #[serde(default)]
    default_scopes: Vec<String>,
    #[serde(default)]
    attributes: toml::Table,
}

/// `[directory]`: settings of the user directory as a whole.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawDirectory {
    /// What the users' hashes were computed over, unless a user says otherwise; absent, each
    /// kind's default (`HashKind::default_input`).
    #[serde(default)]
    pub hash_input: Option<HashInput>,
    /// `toml` (the `[[user]]` items; the default) or `postgres`. Every key below is postgres's.
    kind: Option<String>,
    url: Option<String>,
    url_env: Option<String>,
    url_file: Option<PathBuf>,
    pool_size: Option<usize>,
    connect_timeout: Option<String>,
    query_timeout: Option<String>,
    /// `identity2` or `identity_core` (the default).
    schema: Option<String>,
    /// The PostgreSQL schema the tables are in; absent, the connection's search_path.
    table_schema: Option<String>,
    lookup: Option<LookupBy>,
    require_confirmed_email: Option<bool>,
    query: Option<String>,
    query_by_id: Option<String>,
    cache_ttl: Option<String>,
    cache_entries: Option<u64>,
    cache_stale_for: Option<String>,
    upgrade_to: Option<String>,
    upgrades_table: Option<String>,
    /// Overrides of the schema mapping's names, table by table.
    users: Option<BTreeMap<String, String>>,
    roles: Option<BTreeMap<String, String>>,
    user_roles: Option<BTreeMap<String, String>>,
    user_claims: Option<BTreeMap<String, String>>,
}

impl RawDirectory {
    fn overrides(&self, table: Table) -> Option<&BTreeMap<String, String>> {
        match table {
            Table::Users => self.users.as_ref(),
            Table::Roles => self.roles.as_ref(),
            Table::UserRoles => self.user_roles.as_ref(),
            Table::UserClaims => self.user_claims.as_ref(),
        }
    }

    /// The keys that belong to `kind = "postgres"` and are set.
    fn postgres_keys(&self) -> Vec<&'static str> {
        let set = [
            (
                "url",
                self.url.is_some() || self.url_env.is_some() || self.url_file.is_some(),
            ),
            ("pool_size", self.pool_size.is_some()),
            ("connect_timeout", self.connect_timeout.is_some()),
            ("query_timeout", self.query_timeout.is_some()),
            ("schema", self.schema.is_some()),
            ("table_schema", self.table_schema.is_some()),
            ("lookup", self.lookup.is_some()),
            (
                "require_confirmed_email",
                self.require_confirmed_email.is_some(),
            ),
            ("query", self.query.is_some()),
            ("query_by_id", self.query_by_id.is_some()),
            ("cache_ttl", self.cache_ttl.is_some()),
            ("cache_entries", self.cache_entries.is_some()),
            ("cache_stale_for", self.cache_stale_for.is_some()),
            ("upgrade_to", self.upgrade_to.is_some()),
            ("upgrades_table", self.upgrades_table.is_some()),
            ("users", self.users.is_some()),
            ("roles", self.roles.is_some()),
            ("user_roles", self.user_roles.is_some()),
            ("user_claims", self.user_claims.is_some()),
        ];
        set.into_iter()
            .filter_map(|(key, set)| set.then_some(key))
            .collect()
    }
}

/// Where users come from, as `[directory]` says; its problems are pushed with key paths.
/// `users` is how many `[[user]]` items there are: a database directory reads none.
pub(super) fn backend(
    raw: &RawDirectory,
    users: usize,
    base: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Option<DirectoryBackend> {
    match raw.kind.as_deref().unwrap_or("toml") {
        "toml" => {
            for key in raw.postgres_keys() {
                problems.push(problem(
                    format!("directory.{key}"),
                    "applies only to kind = \"postgres\", not \"toml\"",
                ));
            }
            Some(DirectoryBackend::Toml)
        }
        "postgres" => {
            if users > 0 {
                problems.push(problem(
                    "user",
                    format!(
                        "[directory] kind = \"postgres\" reads users from the database; the \
                         {users} [[user]] item(s) would never be used: remove them"
                    ),
                ));
            }
            postgres_options(raw, base, problems)
                .map(|options| DirectoryBackend::Postgres(Box::new(options)))
        }
        other => {
            problems.push(problem(
                "directory.kind",
                format!("unknown directory {other:?}; known: toml, postgres"),
            ));
            None
        }
    }
}

fn ident(key: &str, text: &str, problems: &mut Vec<Problem>) -> Option<Ident> {
    Ident::new(text)
        .map_err(|e| problems.push(problem(key, format!("{text:?} {e}"))))
        .ok()
}

fn postgres_options(
    raw: &RawDirectory,
    base: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Option<PostgresOptions> {
    let before = problems.len();
    let url = match resolve_secret("directory.url", &raw.url, &raw.url_env, &raw.url_file, base) {
        Ok(Some(url)) => match postgres::parse_url(&url) {
            Ok(_) => Some(url),
            Err(e) => {
                problems.push(problem("directory.url", e));
                None
            }
        },
        Ok(None) => {
            problems.push(problem(
                "directory.url",
                "missing: kind = \"postgres\" needs url (or url_env, url_file), e.g. \
                 \"postgres://tokengate@127.0.0.1:5432/identity\"",
            ));
            None
        }
        Err(p) => {
            problems.push(p);
            None
        }
    };
    let preset = match raw.schema.as_deref() {
        None => Preset::IdentityCore,
        Some(name) => Preset::from_name(name).unwrap_or_else(|| {
            problems.push(problem(
                "directory.schema",
                format!("unknown schema {name:?}; known: identity2, identity_core"),
            ));
            Preset::IdentityCore
        }),
    };
    let mut schema = SchemaMap::new(preset);
    if let Some(text) = &raw.table_schema {
        schema.set_table_schema(ident("directory.table_schema", text, problems));
    }
    let queries = match (&raw.query, &raw.query_by_id) {
        (None, None) => None,
        (Some(by_name), Some(by_id)) => Some(CustomQueries {
            by_name: by_name.clone(),
            by_id: by_id.clone(),
        }),
        (Some(_), None) => {
            problems.push(problem(
                "directory.query_by_id",
                "missing: with query, refresh grants need query_by_id to find a user by id",
            ));
            None
        }
        (None, Some(_)) => {
            problems.push(problem(
                "directory.query",
                "missing: query_by_id is given, but not the query by name",
            ));
            None
        }
    };
    for table in Table::ALL {
        let Some(overrides) = raw.overrides(table) else {
            continue;
        };
        if raw.query.is_some() {
            problems.push(problem(
                format!("directory.{}", table.prefix()),
                "the schema mapping is not used with query and query_by_id: remove one or the other",
            ));
            continue;
        }
        for (key, value) in overrides {
            let at = format!("directory.{}.{key}", table.prefix());
            match Name::find(table, key) {
                Some(name) => {
                    if let Some(value) = ident(&at, value, problems) {
                        schema.set(name, value);
                    }
                }
                None => problems.push(problem(
                    at,
                    format!("unknown key; known: {}", Name::keys_of(table).join(", ")),
                )),
            }
        }
    }
    let upgrade = match raw.upgrade_to.as_deref() {
        None => {
            if raw.upgrades_table.is_some() {
                problems.push(problem(
                    "directory.upgrades_table",
                    "applies only with upgrade_to = \"argon2id\"",
                ));
            }
            None
        }
        Some("argon2id") => {
            let table = raw
                .upgrades_table
                .as_deref()
                .unwrap_or(postgres::DEFAULT_UPGRADES_TABLE);
            ident("directory.upgrades_table", table, problems).map(|table| UpgradeTarget { table })
        }
        Some(other) => {
            problems.push(problem(
                "directory.upgrade_to",
                format!("unknown hash {other:?}; known: argon2id"),
            ));
            None
        }
    };
    let pool_size = match raw.pool_size {
        Some(0) => {
            problems.push(problem("directory.pool_size", "must be at least 1"));
            postgres::DEFAULT_POOL_SIZE
        }
        size => size.unwrap_or(postgres::DEFAULT_POOL_SIZE),
    };
    let cache_entries = match raw.cache_entries {
        Some(0) => {
            problems.push(problem(
                "directory.cache_entries",
                "must be at least 1 (cache_ttl = \"0s\" turns caching off)",
            ));
            postgres::DEFAULT_CACHE_ENTRIES
        }
        entries => entries.unwrap_or(postgres::DEFAULT_CACHE_ENTRIES),
    };
    let options = PostgresOptions {
        url: url?,
        pool_size,
        connect_timeout: duration(
            "directory.connect_timeout",
            raw.connect_timeout.as_deref(),
            postgres::DEFAULT_CONNECT_TIMEOUT,
            false,
            problems,
        ),
        query_timeout: duration(
            "directory.query_timeout",
            raw.query_timeout.as_deref(),
            postgres::DEFAULT_QUERY_TIMEOUT,
            false,
            problems,
        ),
        schema,
        lookup: raw.lookup.unwrap_or_default(),
        require_confirmed_email: raw.require_confirmed_email.unwrap_or(false),
        queries,
        hash_input: raw.hash_input,
        cache: CacheSettings {
            ttl: duration(
                "directory.cache_ttl",
                raw.cache_ttl.as_deref(),
                postgres::DEFAULT_CACHE_TTL,
                true,
                problems,
            ),
            max_entries: cache_entries,
            stale_for: duration(
                "directory.cache_stale_for",
                raw.cache_stale_for.as_deref(),
                postgres::DEFAULT_CACHE_STALE_FOR,
                true,
                problems,
            ),
        },
        upgrade,
    };
    (problems.len() == before).then_some(options)
}

#[derive(Debug, Deserialize)]
struct RawUser {
    username: String,
    id: String,
    #[serde(default)]
    role: Option<String>,
    password_hash: Option<String>,
    password_hash_env: Option<String>,
    password_hash_file: Option<PathBuf>,
    /// What this user's hash was computed over, over `[directory] hash_input`.
    #[serde(default)]
    hash_input: Option<HashInput>,
    #[serde(default)]
    clients: Vec<String>,
    #[serde(default)]
    attributes: toml::Table,
}

/// `[[client]]`, each read and validated; a client with problems is kept, so that what names it
/// is not reported as naming nothing (one that cannot be read at all is remembered by its id).
pub(super) fn clients(
    items: Vec<toml::Value>,
    base: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Clients {
    let mut clients = Vec::new();
    let mut unreadable = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let key = format!("client[{i}]");
        let id = item
            .get("id")
            .and_then(toml::Value::as_str)
            .map(str::to_owned);
        let Some(raw_client) = read::section::<RawClient>(&key, item, problems) else {
            unreadable.extend(id);
            continue;
        };
        if raw_client.id.trim().is_empty() {
            problems.push(problem(format!("{key}.id"), "must not be empty"));
        }
        let secret = match resolve_secret(
            &format!("{key}.secret"),
            &raw_client.secret,
            &raw_client.secret_env,
            &raw_client.secret_file,
            base,
        ) {
            Ok(secret) => secret,
            Err(p) => {
                problems.push(p);
                None
            }
        };
        let attributes = attributes(
            &format!("{key}.attributes"),
            raw_client.attributes,
            problems,
        );
        let scopes = ClientScopes::new(raw_client.scopes, raw_client.default_scopes)
            .unwrap_or_else(|e| {
                let at = match e {
                    ScopeConfigError::DefaultNotAllowed(_) => "default_scopes",
                    ScopeConfigError::NotAToken(_) => "scopes",
                };
                problems.push(problem(format!("{key}.{at}"), e.to_string()));
                ClientScopes::default()
            });
        clients.push(Client {
            id: ClientId::new(raw_client.id),
            secret,
            grants: raw_client.grants,
            scopes,
            attributes,
        });
    }
    Clients {
        read: clients,
        unreadable,
    }
}

/// `[[user]]`, each read and validated against `clients`; a user that cannot be read, or has no
/// usable password hash, is left out.
pub(super) fn users(
    items: Vec<toml::Value>,
    directory: &RawDirectory,
    clients: &Clients,
    base: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Vec<User> {
    let mut users = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let key = format!("user[{i}]");
        let Some(raw_user) = read::section::<RawUser>(&key, item, problems) else {
            continue;
        };
        let hash = match resolve_secret(
            &format!("{key}.password_hash"),
            &raw_user.password_hash,
            &raw_user.password_hash_env,
            &raw_user.password_hash_file,
            base,
        ) {
            Ok(Some(text)) => {
                let input = InputSetting {
                    user: raw_user.hash_input,
                    directory: directory.hash_input,
                };
                match StoredHash::parse(text.expose().trim(), input) {
                    Ok(hash) => Some(hash),
                    // The message never quotes the value; the user's name says whose it is.
                    Err(e) => {
                        problems.push(problem(
                            format!("{key}.password_hash"),
                            format!(
                                "{e} (user {:?}; `tokengate hash-password` makes a new one)",
                                raw_user.username
                            ),
                        ));
                        None
                    }
                }
            }
            Ok(None) => {
                problems.push(problem(
                    format!("{key}.password_hash"),
                    "missing (make one with `tokengate hash-password`)",
                ));
                None
            }
            Err(p) => {
                problems.push(p);
                None
            }
        };
        for (j, client) in raw_user.clients.iter().enumerate() {
            if matches!(clients.named(client), Named::Nothing) {
                problems.push(problem(
                    format!("{key}.clients[{j}]"),
                    format!("no client with id {client:?}"),
                ));
            }
        }
        let attributes = attributes(&format!("{key}.attributes"), raw_user.attributes, problems);
        if let Some(password) = hash {
            users.push(User {
                id: UserId::new(raw_user.id),
                username: Username::new(raw_user.username),
                role: raw_user.role.map(Role::new),
                password,
                clients: raw_user.clients.into_iter().map(ClientId::new).collect(),
                attributes,
                standing: Standing::default(),
                upgrade: None,
                stamp: None,
            });
        }
    }
    users
}

/// A route whose clients send the SHA-1 hex of the password cannot sign in a user whose hash is
/// over the plain password: the digest does not give the password back. Rather than every such
/// login failing, one line per route names how many users it cannot serve, and a few of them.
pub(super) fn check_password_proofs<'r>(
    routes: impl IntoIterator<Item = &'r crate::dialect::TokenRoute>,
    users: &[User],
    problems: &mut Vec<Problem>,
) {
    let unservable: Vec<&User> = users
        .iter()
        .filter(|user| !user.password.verifiable_from_sha1_hex())
        .collect();
    if unservable.is_empty() {
        return;
    }
    const NAMED: usize = 3;
    let mut named: Vec<String> = unservable
        .iter()
        .take(NAMED)
        .map(|user| format!("{:?} ({})", user.username.as_str(), user.password.kind()))
        .collect();
    if unservable.len() > NAMED {
        named.push(format!("and {} more", unservable.len() - NAMED));
    }
    let named = named.join(", ");
    for (i, route) in sha1_proof_routes(routes) {
        problems.push(problem(
            format!("route[{i}]"),
            proof_message(
                route,
                unservable.len() as i64,
                &named,
                "on the user or in [directory]",
            ),
        ));
    }
}

/// [`check_password_proofs`] for a database directory, from what `check --connect` counted
/// there: one line per route that takes SHA-1 hex proofs, naming how many stored hashes, by
/// kind, are over the plain password with the directory's `hash_input`.
pub fn check_census_proofs<'r>(
    routes: impl IntoIterator<Item = &'r crate::dialect::TokenRoute>,
    hash_input: Option<HashInput>,
    census: &HashCensus,
) -> Vec<String> {
    // What each kind's hashes are read as: the directory's `hash_input`, else the kind's
    // default (`HashKind::default_input`: argon2id over the SHA-1 hex, the others plain).
    let over_plain = |kind: HashKind, count: i64| {
        (hash_input.unwrap_or(kind.default_input()) == HashInput::Plain && count > 0)
            .then_some((kind, count))
    };
    let kinds: Vec<(HashKind, i64)> = [
        over_plain(HashKind::IdentityV2, census.identity_v2),
        over_plain(HashKind::IdentityV3, census.identity_v3),
        over_plain(HashKind::Bcrypt, census.bcrypt),
        over_plain(HashKind::Argon2id, census.argon2id),
    ]
    .into_iter()
    .flatten()
    .collect();
    let count: i64 = kinds.iter().map(|(_, n)| n).sum();
    if count == 0 {
        return Vec::new();
    }
    let named = kinds
        .iter()
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    sha1_proof_routes(routes)
        .map(|(i, route)| {
            format!(
                "route[{i}]: {}",
                proof_message(route, count, &named, "in [directory]")
            )
        })
        .collect()
}

/// The routes, with their index, whose password grant takes the SHA-1 hex of the password.
fn sha1_proof_routes<'r>(
    routes: impl IntoIterator<Item = &'r crate::dialect::TokenRoute>,
) -> impl Iterator<Item = (usize, &'r crate::dialect::TokenRoute)> {
    routes.into_iter().enumerate().filter(|(_, route)| {
        route.profile().request.password == PasswordEncoding::Sha1Hex
            && route.policy().grants.contains(&GrantType::Password)
    })
}

fn proof_message(
    route: &crate::dialect::TokenRoute,
    count: i64,
    named: &str,
    where_to_set: &str,
) -> String {
    let count = match count {
        1 => "1 user's hash is".to_owned(),
        n => format!("{n} users' hashes are"),
    };
    format!(
        "{} {:?} takes the SHA-1 hex of the password (request.password = \"sha1_hex\"), \
         but {count} over the plain password, which a digest cannot be checked against: \
         {named}; set hash_input = \"sha1_hex\" ({where_to_set}) only if \
         those hashes were computed over the SHA-1 hex digest",
        route.dialect(),
        route.path(),
    )
}

/// The directory of `clients` and `users`. Its problems (an id or a name registered twice) have
/// no key path, so they come after every other section's.
pub(super) fn build(
    clients: Clients,
    users: Vec<User>,
    problems: &mut Vec<Problem>,
) -> Option<Directory> {
    Directory::new(clients.read, users)
        .map_err(|e| problems.push(problem("", e.to_string())))
        .ok()
}

fn attributes(key: &str, table: toml::Table, problems: &mut Vec<Problem>) -> Attributes {
    let mut out = Attributes::new();
    for (name, value) in table {
        let value = match value {
            toml::Value::String(s) => AttrValue::Str(s),
            toml::Value::Boolean(b) => AttrValue::Bool(b),
            toml::Value::Integer(i) => AttrValue::Int(i),
            toml::Value::Float(f) => AttrValue::Float(f),
            other => {
                problems.push(problem(
                    format!("{key}.{name}"),
                    format!(
                        "must be a string, boolean or number, not {}",
                        other.type_str()
                    ),
                ));
                continue;
            }
        };
        out.insert(name, value);
    }
    out
}

/// One `[[client]]` item read on its own, as the test kit's `PUT /clients/{id}` gives it: the
/// same keys and checks as in the file (secrets by `secret_env` and `secret_file` too).
pub fn client_from_toml(item: toml::Value) -> Result<Client, ConfigErrors> {
    let mut problems = Vec::new();
    let mut read = clients(vec![item], None, &mut problems);
    match read.read.pop() {
        Some(client) if problems.is_empty() => Ok(client),
        _ => Err(item_problems("client[0]", problems)),
    }
}

/// One `[[user]]` item read on its own, as the test kit's `PUT /users/{name}` gives it, its hash
/// read with the directory's `hash_input`; `known_clients` are the ids its `clients` may name.
pub fn user_from_toml(
    item: toml::Value,
    hash_input: Option<HashInput>,
    known_clients: Vec<String>,
) -> Result<User, ConfigErrors> {
    let mut problems = Vec::new();
    let directory = RawDirectory {
        hash_input,
        ..RawDirectory::default()
    };
    let known = Clients {
        read: Vec::new(),
        unreadable: known_clients,
    };
    let mut read = users(vec![item], &directory, &known, None, &mut problems);
    match read.pop() {
        Some(user) if problems.is_empty() => Ok(user),
        _ => Err(item_problems("user[0]", problems)),
    }
}

/// `problems` of one item read alone, their keys without the item's place in an array.
fn item_problems(prefix: &str, problems: Vec<Problem>) -> ConfigErrors {
    let unplaced = |key: String| match key.strip_prefix(prefix) {
        Some(rest) => rest.trim_start_matches('.').to_owned(),
        None => key,
    };
    let mut problems: Vec<_> = problems
        .into_iter()
        .map(|p| problem(unplaced(p.key), p.message))
        .collect();
    if problems.is_empty() {
        problems.push(problem("", "the item could not be read"));
    }
    ConfigErrors(problems)
}
