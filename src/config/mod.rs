//! Configuration in two steps: a raw serde mirror of the TOML (layered by the `config` crate:
//! the file or the embedded demo, then `TOKENGATE__SECTION__KEY` environment variables), then
//! [`Settings`], validated, with every problem reported under its key path
//! (`route[1].dialect: unknown dialect "vizseak"; known: vizseek`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::dialect::{self, Profile, TokenRoute};
use crate::domain::{ClientId, GrantType, Role, Secret, UserId, Username};
use crate::endpoints::EndpointSettings;
use crate::engine::keys::algorithm;
use crate::engine::throttle::ThrottleSettings;
use crate::engine::{AttrValue, Attributes, Client, Directory, Key, Keyring, StoredHash, User};

/// The demo configuration `serve` uses without `--config`.
pub const DEMO_CONFIG: &str = include_str!("../../fixtures/demo.toml");

/// One problem in a configuration, with its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

/// Every problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<Problem>);

fn problem(key: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        key: key.into(),
        message: message.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    signing: RawSigning,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    throttle: RawThrottle,
    #[serde(default = "default_introspection")]
    introspection: RawEndpoint,
    #[serde(default = "default_revocation")]
    revocation: RawEndpoint,
    #[serde(default = "default_jwks")]
    jwks: RawEndpoint,
    #[serde(default)]
    client: Vec<RawClient>,
    #[serde(default)]
    user: Vec<RawUser>,
    #[serde(default)]
    route: Vec<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    #[serde(default = "default_bind")]
    bind: String,
    #[serde(default)]
    workers: usize,
    #[serde(default)]
    hash_workers: usize,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    #[serde(default = "default_shutdown")]
    shutdown_timeout_secs: u64,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            bind: default_bind(),
            workers: 0,
            hash_workers: 0,
            trusted_proxies: Vec::new(),
            shutdown_timeout_secs: default_shutdown(),
        }
    }
}

fn default_bind() -> String {
    "127.0.0.1:8080".into()
}

fn default_shutdown() -> u64 {
    10
}

/// `[signing]`: either one HS256 secret (`secret`, `secret_env`, `secret_file`), or a list of
/// `[[signing.key]]` (HS256, ES256, RS256; retired keys verify-only until `verify_until`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSigning {
    #[serde(default)]
    algorithm: Option<String>,
    secret: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    kid: Option<String>,
    /// The kid that signs unless a route names another (`signing_key`).
    default_key: Option<String>,
    #[serde(default)]
    key: Vec<RawKey>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    kid: String,
    algorithm: String,
    secret: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    private_key: Option<String>,
    private_key_env: Option<String>,
    private_key_file: Option<PathBuf>,
    public_key_file: Option<PathBuf>,
    verify_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// `[throttle]`: failed password attempts allowed per user and per address in each window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThrottle {
    #[serde(default = "default_failures_per_user")]
    failures_per_user: u32,
    #[serde(default = "default_failures_per_address")]
    failures_per_address: u32,
    #[serde(default = "default_window")]
    window: String,
}

impl Default for RawThrottle {
    fn default() -> Self {
        Self {
            failures_per_user: default_failures_per_user(),
            failures_per_address: default_failures_per_address(),
            window: default_window(),
        }
    }
}

fn default_failures_per_user() -> u32 {
    ThrottleSettings::default().failures_per_user
}

fn default_failures_per_address() -> u32 {
    ThrottleSettings::default().failures_per_address
}

fn default_window() -> String {
    "5m".into()
}

/// `[introspection]`, `[revocation]`, `[jwks]`: an empty path turns an endpoint off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    path: String,
    #[serde(default)]
    callers: Vec<String>,
}

fn endpoint(path: &str) -> RawEndpoint {
    RawEndpoint {
        path: path.into(),
        callers: Vec::new(),
    }
}

fn default_introspection() -> RawEndpoint {
    endpoint("/oauth2/introspect")
}

fn default_revocation() -> RawEndpoint {
    endpoint("/oauth2/revoke")
}

fn default_jwks() -> RawEndpoint {
    endpoint("/.well-known/jwks.json")
}

/// `[store]`: `kind` picks the backend; the other keys belong to one kind each.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    #[serde(default = "default_store_kind")]
    kind: String,
    /// memory: refresh tokens held before grants answer 503.
    max_entries: Option<usize>,
    /// file: the database file (relative to the config file).
    path: Option<PathBuf>,
    /// redis: the server, `redis://[user:password@]host:port[/db]`; or `url_env`, `url_file`.
    url: Option<String>,
    url_env: Option<String>,
    url_file: Option<PathBuf>,
    /// redis: prepended to every key.
    key_prefix: Option<String>,
    /// redis: the longest one store call may take (humantime: "500ms", "2s").
    timeout: Option<String>,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            kind: default_store_kind(),
            max_entries: None,
            path: None,
            url: None,
            url_env: None,
            url_file: None,
            key_prefix: None,
            timeout: None,
        }
    }
}

fn default_store_kind() -> String {
    "memory".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    id: String,
    #[serde(default)]
    grants: Vec<GrantType>,
    secret: Option<String>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    #[serde(default)]
    attributes: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    username: String,
    id: String,
    #[serde(default)]
    role: Option<String>,
    password_hash: Option<String>,
    password_hash_env: Option<String>,
    password_hash_file: Option<PathBuf>,
    #[serde(default)]
    clients: Vec<String>,
    #[serde(default)]
    attributes: toml::Table,
}

/// Signing settings, validated.
#[derive(Debug)]
pub enum SigningKey {
    Keys(Keyring),
    /// No key configured: `serve` makes a random HS256 key for this process.
    Ephemeral,
}

pub use crate::store::StoreSettings;

/// A validated configuration.
#[derive(Debug)]
pub struct Settings {
    pub bind: SocketAddr,
    pub workers: usize,
    pub hash_workers: usize,
    pub trusted_proxies: Vec<IpAddr>,
    pub shutdown_timeout_secs: u64,
    pub signing: SigningKey,
    pub store: StoreSettings,
    pub endpoints: EndpointSettings,
    pub throttle: ThrottleSettings,
    pub directory: Directory,
    pub routes: Vec<TokenRoute>,
}

/// Where a configuration comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Demo,
    File(PathBuf),
    Text(String),
}

/// Loads, layers and validates a configuration. Environment variables named
/// `TOKENGATE__SECTION__KEY` override keys of tables (not of `[[route]]` array items, which
/// the `config` crate cannot address: override those in the file).
pub fn load(source: &Source) -> Result<Settings, ConfigErrors> {
    load_with_env(source, true)
}

/// As [`load`], optionally ignoring the environment (tests).
pub fn load_with_env(source: &Source, use_env: bool) -> Result<Settings, ConfigErrors> {
    let text = match source {
        Source::Demo => DEMO_CONFIG.to_owned(),
        Source::Text(text) => text.clone(),
        Source::File(path) => std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![problem(
                "",
                format!("cannot read {}: {e}", path.display()),
            )])
        })?,
    };
    let mut builder = config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Toml));
    if use_env {
        builder = builder.add_source(
            config::Environment::with_prefix("TOKENGATE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
    }
    let layered = builder
        .build()
        .map_err(|e| ConfigErrors(vec![problem("", e.to_string())]))?;
    let tree: toml::Value = layered
        .try_deserialize()
        .map_err(|e| ConfigErrors(vec![problem("", e.to_string())]))?;
    let raw: RawConfig = serde_path_to_error::deserialize(tree)
        .map_err(|e| ConfigErrors(vec![problem(e.path().to_string(), e.inner().to_string())]))?;
    validate(raw, source_dir(source))
}

fn source_dir(source: &Source) -> Option<PathBuf> {
    match source {
        Source::File(path) => path.parent().map(Path::to_path_buf),
        _ => None,
    }
}

fn validate(raw: RawConfig, base: Option<PathBuf>) -> Result<Settings, ConfigErrors> {
    let mut problems = Vec::new();
    let bind = raw.server.bind.parse::<SocketAddr>().map_err(|e| {
        problems.push(problem(
            "server.bind",
            format!("{:?} is not an address:port ({e})", raw.server.bind),
        ))
    });
    let mut trusted_proxies = Vec::new();
    for (i, proxy) in raw.server.trusted_proxies.iter().enumerate() {
        match proxy.parse::<IpAddr>() {
            Ok(ip) => trusted_proxies.push(ip),
            Err(_) => problems.push(problem(
                format!("server.trusted_proxies[{i}]"),
                format!("{proxy:?} is not an IP address"),
            )),
        }
    }
    let resolve =
        |key: &str, value: &Option<String>, env: &Option<String>, file: &Option<PathBuf>| {
            resolve_secret(key, value, env, file, base.as_deref())
        };

    let signing = signing(&raw.signing, base.as_deref(), &mut problems);

    let throttle = match humantime::parse_duration(&raw.throttle.window)
        .ok()
        .and_then(|d| chrono::TimeDelta::from_std(d).ok())
        .filter(|d| *d > chrono::TimeDelta::zero())
    {
        Some(window) => ThrottleSettings {
            failures_per_user: raw.throttle.failures_per_user,
            failures_per_address: raw.throttle.failures_per_address,
            window,
            ..ThrottleSettings::default()
        },
        None => {
            problems.push(problem(
                "throttle.window",
                format!("{:?} is not a duration such as \"5m\"", raw.throttle.window),
            ));
            ThrottleSettings::default()
        }
    };

    let store = store_settings(&raw.store, base.as_deref(), &mut problems);

    let mut clients = Vec::new();
    for (i, raw_client) in raw.client.into_iter().enumerate() {
        let key = format!("client[{i}]");
        if raw_client.id.trim().is_empty() {
            problems.push(problem(format!("{key}.id"), "must not be empty"));
        }
        let secret = match resolve(
            &format!("{key}.secret"),
            &raw_client.secret,
            &raw_client.secret_env,
            &raw_client.secret_file,
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
            &mut problems,
        );
        clients.push(Client {
            id: ClientId::new(raw_client.id),
            secret,
            grants: raw_client.grants,
            attributes,
        });
    }

    let mut users = Vec::new();
    for (i, raw_user) in raw.user.into_iter().enumerate() {
        let key = format!("user[{i}]");
        let hash = match resolve(
            &format!("{key}.password_hash"),
            &raw_user.password_hash,
            &raw_user.password_hash_env,
            &raw_user.password_hash_file,
        ) {
            Ok(Some(text)) => match StoredHash::parse(text.expose().trim()) {
                Ok(hash) => Some(hash),
                Err(e) => {
                    problems.push(problem(
                        format!("{key}.password_hash"),
                        format!("{e} (make one with `tokengate hash-password`)"),
                    ));
                    None
                }
            },
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
            if !clients.iter().any(|c| c.id.as_str() == client) {
                problems.push(problem(
                    format!("{key}.clients[{j}]"),
                    format!("no client with id {client:?}"),
                ));
            }
        }
        let attributes = attributes(
            &format!("{key}.attributes"),
            raw_user.attributes,
            &mut problems,
        );
        if let Some(password) = hash {
            users.push(User {
                id: UserId::new(raw_user.id),
                username: Username::new(raw_user.username),
                role: raw_user.role.map(Role::new),
                password,
                clients: raw_user.clients.into_iter().map(ClientId::new).collect(),
                attributes,
            });
        }
    }

    let mut routes: Vec<TokenRoute> = Vec::new();
    if raw.route.is_empty() {
        problems.push(problem(
            "route",
            "no [[route]]: the gateway would serve nothing",
        ));
    }
    for (i, overrides) in raw.route.into_iter().enumerate() {
        let key = format!("route[{i}]");
        match build_route(overrides) {
            Ok(route) => {
                if let Some(other) = routes
                    .iter()
                    .position(|r| r.matches_path(route.path()) || route.matches_path(r.path()))
                {
                    problems.push(problem(
                        format!("{key}.path"),
                        format!("{:?} is already served by route[{other}]", route.path()),
                    ));
                }
                if let Some(anonymous) = &route.policy().anonymous_client
                    && !clients.iter().any(|c| &c.id == anonymous)
                {
                    problems.push(problem(
                        format!("{key}.anonymous_client"),
                        format!("no client with id {:?}", anonymous.as_str()),
                    ));
                }
                routes.push(route);
            }
            Err(route_problems) => problems.extend(route_problems.into_iter().map(|p| Problem {
                key: if p.key.is_empty() {
                    key.clone()
                } else {
                    format!("{key}.{}", p.key)
                },
                message: p.message,
            })),
        }
    }

    let endpoints = endpoint_settings(
        &raw.introspection,
        &raw.revocation,
        &raw.jwks,
        &clients,
        &mut problems,
    );
    if let SigningKey::Keys(keyring) = &signing {
        for (i, route) in routes.iter().enumerate() {
            if let Some(kid) = &route.policy().signing_key
                && let Err(e) = keyring.check_signer(kid)
            {
                problems.push(problem(format!("route[{i}].signing_key"), e.to_string()));
            }
        }
    } else if let Some(i) = routes.iter().position(|r| r.policy().signing_key.is_some()) {
        problems.push(problem(
            format!("route[{i}].signing_key"),
            "names a key, but [signing] configures none",
        ));
    }

    let directory =
        Directory::new(clients, users).map_err(|e| problems.push(problem("", e.to_string())));

    match (bind, store, directory, problems.is_empty()) {
        (Ok(bind), Some(store), Ok(directory), true) => Ok(Settings {
            bind,
            workers: raw.server.workers,
            hash_workers: raw.server.hash_workers,
            trusted_proxies,
            shutdown_timeout_secs: raw.server.shutdown_timeout_secs,
            signing,
            store,
            endpoints,
            throttle,
            directory,
            routes,
        }),
        _ => Err(ConfigErrors(problems)),
    }
}

/// The store `[store]` describes; problems are pushed with their key paths.
fn store_settings(
    raw: &RawStore,
    base: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Option<StoreSettings> {
    let before = problems.len();
    // Keys of another kind are mistakes worth naming, not silently ignored.
    let mut foreign = |key: &str, set: bool, kinds: &str| {
        if set {
            problems.push(problem(
                format!("store.{key}"),
                format!("applies only to kind = {kinds}, not {:?}", raw.kind),
            ));
        }
    };
    let redis_keys = raw.url.is_some()
        || raw.url_env.is_some()
        || raw.url_file.is_some()
        || raw.key_prefix.is_some()
        || raw.timeout.is_some();
    let settings = match raw.kind.as_str() {
        "memory" => {
            foreign("path", raw.path.is_some(), "\"file\"");
            foreign("url", redis_keys, "\"redis\"");
            match raw.max_entries {
                Some(0) => {
                    problems.push(problem("store.max_entries", "must be at least 1"));
                    None
                }
                max => Some(StoreSettings::Memory {
                    max_entries: max.unwrap_or(crate::store::memory::DEFAULT_MAX_ENTRIES),
                }),
            }
        }
        "file" => {
            foreign("max_entries", raw.max_entries.is_some(), "\"memory\"");
            foreign("url", redis_keys, "\"redis\"");
            match &raw.path {
                Some(path) if !path.as_os_str().is_empty() => {
                    let path = match base {
                        Some(base) if path.is_relative() => base.join(path),
                        _ => path.clone(),
                    };
                    Some(StoreSettings::File(crate::store::FileOptions { path }))
                }
                _ => {
                    problems.push(problem(
                        "store.path",
                        "missing: kind = \"file\" needs the database file's path",
                    ));
                    None
                }
            }
        }
        "redis" => {
            foreign("max_entries", raw.max_entries.is_some(), "\"memory\"");
            foreign("path", raw.path.is_some(), "\"file\"");
            let url = match resolve_secret("store.url", &raw.url, &raw.url_env, &raw.url_file, base)
            {
                Ok(Some(url)) => match crate::store::redis::check_url(&url) {
                    Ok(()) => Some(url),
                    Err(e) => {
                        problems.push(problem("store.url", e));
                        None
                    }
                },
                Ok(None) => {
                    problems.push(problem(
                        "store.url",
                        "missing: kind = \"redis\" needs url (or url_env, url_file), \
                         e.g. \"redis://127.0.0.1:6379\"",
                    ));
                    None
                }
                Err(p) => {
                    problems.push(p);
                    None
                }
            };
            let timeout = match &raw.timeout {
                None => Some(crate::store::redis::DEFAULT_TIMEOUT),
                Some(text) => match humantime::parse_duration(text) {
                    Ok(t) if !t.is_zero() => Some(t),
                    Ok(_) => {
                        problems.push(problem("store.timeout", "must be more than zero"));
                        None
                    }
                    Err(e) => {
                        problems.push(problem(
                            "store.timeout",
                            format!("{text:?} is not a duration ({e}); e.g. \"500ms\""),
                        ));
                        None
                    }
                },
            };
            match (url, timeout) {
                (Some(url), Some(timeout)) => {
                    Some(StoreSettings::Redis(crate::store::RedisOptions {
                        url,
                        key_prefix: raw
                            .key_prefix
                            .clone()
                            .unwrap_or_else(|| crate::store::redis::DEFAULT_PREFIX.into()),
                        timeout,
                    }))
                }
                _ => None,
            }
        }
        other => {
            problems.push(problem(
                "store.kind",
                format!("unknown store {other:?}; known: memory, file, redis"),
            ));
            None
        }
    };
    settings.filter(|_| problems.len() == before)
}

/// The keyring `[signing]` describes; problems are pushed with their key paths.
fn signing(raw: &RawSigning, base: Option<&Path>, problems: &mut Vec<Problem>) -> SigningKey {
    let mut keys = Vec::new();
    let legacy = resolve_secret(
        "signing.secret",
        &raw.secret,
        &raw.secret_env,
        &raw.secret_file,
        base,
    );
    match (&raw.algorithm, legacy) {
        (Some(alg), _) if alg != "HS256" => problems.push(problem(
            "signing.algorithm",
            format!(
                "{alg:?}: a single [signing] secret is HS256; asymmetric keys go in [[signing.key]]"
            ),
        )),
        (_, Ok(Some(secret))) => match Key::hs256(&secret, raw.kid.clone()) {
            Ok(key) => keys.push(key),
            Err(e) => problems.push(problem("signing.secret", e.to_string())),
        },
        (_, Ok(None)) => {}
        (_, Err(p)) => problems.push(p),
    }
    for (i, raw_key) in raw.key.iter().enumerate() {
        let at = format!("signing.key[{i}]");
        match signing_key(raw_key, &at, base) {
            Ok(key) => keys.push(key),
            Err(p) => problems.push(p),
        }
    }
    if keys.is_empty() {
        if raw.default_key.is_some() {
            problems.push(problem(
                "signing.default_key",
                "names a key, but none is configured",
            ));
        }
        return SigningKey::Ephemeral;
    }
    match Keyring::new(keys, raw.default_key.as_deref()) {
        Ok(keyring) => SigningKey::Keys(keyring),
        Err(e) => {
            problems.push(problem("signing", e.to_string()));
            SigningKey::Ephemeral
        }
    }
}

fn signing_key(raw: &RawKey, at: &str, base: Option<&Path>) -> Result<Key, Problem> {
    let alg =
        algorithm(&raw.algorithm).map_err(|e| problem(format!("{at}.algorithm"), e.to_string()))?;
    let secret = resolve_secret(
        &format!("{at}.secret"),
        &raw.secret,
        &raw.secret_env,
        &raw.secret_file,
        base,
    )?;
    let private = resolve_secret(
        &format!("{at}.private_key"),
        &raw.private_key,
        &raw.private_key_env,
        &raw.private_key_file,
        base,
    )?;
    let public = match &raw.public_key_file {
        Some(path) => Some(read_file(&format!("{at}.public_key_file"), path, base)?),
        None => None,
    };
    let key = match (alg, secret, private, public) {
        (jsonwebtoken::Algorithm::HS256, Some(secret), None, None) => {
            Key::hs256(&secret, Some(raw.kid.clone()))
                .map_err(|e| problem(format!("{at}.secret"), e.to_string()))
        }
        (jsonwebtoken::Algorithm::HS256, _, _, _) => Err(problem(
            at,
            "an HS256 key needs exactly one of secret, secret_env, secret_file",
        )),
        (_, None, Some(pem), None) => {
            Key::private_pem(raw.kid.clone(), alg, pem.expose().as_bytes())
                .map_err(|e| problem(format!("{at}.private_key"), e.to_string()))
        }
        (_, None, None, Some(pem)) => Key::public_pem(raw.kid.clone(), alg, pem.as_bytes())
            .map_err(|e| problem(format!("{at}.public_key_file"), e.to_string())),
        _ => Err(problem(
            at,
            format!(
                "a {} key needs one private key (private_key, private_key_env, private_key_file) \
                 or, retired, a public_key_file",
                raw.algorithm
            ),
        )),
    }?;
    Ok(match raw.verify_until {
        Some(until) => key.verify_until(until),
        None => key,
    })
}

fn read_file(key: &str, path: &Path, base: Option<&Path>) -> Result<String, Problem> {
    let path = match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path.to_path_buf(),
    };
    std::fs::read_to_string(&path)
        .map_err(|e| problem(key, format!("cannot read {}: {e}", path.display())))
}

fn endpoint_settings(
    introspection: &RawEndpoint,
    revocation: &RawEndpoint,
    jwks: &RawEndpoint,
    clients: &[Client],
    problems: &mut Vec<Problem>,
) -> EndpointSettings {
    let path = |name: &str, raw: &RawEndpoint, problems: &mut Vec<Problem>| {
        if raw.path.is_empty() {
            return None;
        }
        if !raw.path.starts_with('/') {
            problems.push(problem(
                format!("{name}.path"),
                format!("must start with '/': {:?}", raw.path),
            ));
        }
        Some(raw.path.clone())
    };
    for (name, raw) in [("revocation", revocation), ("jwks", jwks)] {
        if !raw.callers.is_empty() {
            problems.push(problem(
                format!("{name}.callers"),
                "only [introspection] has callers",
            ));
        }
    }
    let mut callers = Vec::new();
    for (i, caller) in introspection.callers.iter().enumerate() {
        match clients.iter().find(|c| c.id.as_str() == caller) {
            None => problems.push(problem(
                format!("introspection.callers[{i}]"),
                format!("no client with id {caller:?}"),
            )),
            Some(client) if client.secret.is_none() => problems.push(problem(
                format!("introspection.callers[{i}]"),
                format!("{caller:?} is a public client; only confidential clients may introspect"),
            )),
            Some(client) => callers.push(client.id.clone()),
        }
    }
    EndpointSettings {
        introspection_path: path("introspection", introspection, problems),
        revocation_path: path("revocation", revocation, problems),
        jwks_path: path("jwks", jwks, problems),
        introspection_callers: callers,
    }
}

/// A route: its dialect's profile with the route's keys laid over it.
fn build_route(mut overrides: toml::Table) -> Result<TokenRoute, Vec<Problem>> {
    let Some(name) = overrides.remove("dialect") else {
        return Err(vec![problem(
            "dialect",
            format!("missing; known: {}", dialect::known_dialects()),
        )]);
    };
    let Some(name) = name.as_str().map(str::to_owned) else {
        return Err(vec![problem("dialect", "must be a string")]);
    };
    if !dialect::source::DIALECTS.contains(&name.as_str()) {
        return Err(vec![problem(
            "dialect",
            format!(
                "unknown dialect {name:?}; known: {}",
                dialect::known_dialects()
            ),
        )]);
    }
    let mut base =
        dialect::source::builtin_table(&name).map_err(|e| vec![problem("dialect", e)])?;
    dialect::source::merge(&mut base, overrides);
    let profile: Profile = serde_path_to_error::deserialize(toml::Value::Table(base))
        .map_err(|e| vec![problem(e.path().to_string(), e.inner().to_string())])?;
    TokenRoute::compile(&name, profile).map_err(|problems| {
        problems
            .into_iter()
            .map(|p| problem(p.key, p.message))
            .collect()
    })
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

/// A secret given inline, by environment variable name, or by file (read once, trailing
/// newline dropped). At most one of the three.
fn resolve_secret(
    key: &str,
    value: &Option<String>,
    env: &Option<String>,
    file: &Option<PathBuf>,
    base: Option<&Path>,
) -> Result<Option<Secret>, Problem> {
    match (value, env, file) {
        (None, None, None) => Ok(None),
        (Some(value), None, None) => Ok(Some(Secret::new(value.as_str()))),
        (None, Some(var), None) => std::env::var(var)
            .map(|v| Some(Secret::new(v)))
            .map_err(|_| {
                problem(
                    format!("{key}_env"),
                    format!("environment variable {var} is not set"),
                )
            }),
        (None, None, Some(path)) => {
            let path = match base {
                Some(base) if path.is_relative() => base.join(path),
                _ => path.clone(),
            };
            std::fs::read_to_string(&path)
                .map(|text| Some(Secret::new(text.trim_end_matches(['\r', '\n']))))
                .map_err(|e| {
                    problem(
                        format!("{key}_file"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })
        }
        _ => Err(problem(
            key,
            format!("give one of {key}, {key}_env, {key}_file, not several"),
        )),
    }
}

/// Builds a route from a built-in profile with overrides given as TOML text (tests, benches).
pub fn route_from_toml(overrides: &str) -> Result<TokenRoute, ConfigErrors> {
    let table: toml::Table =
        toml::from_str(overrides).map_err(|e| ConfigErrors(vec![problem("", e.to_string())]))?;
    build_route(table).map_err(ConfigErrors)
}
