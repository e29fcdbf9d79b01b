//! Configuration in two steps: a raw serde mirror of the TOML (layered by the `config` crate:
//! the file or the embedded demo, then `TOKENGATE__SECTION__KEY` environment variables), then
//! [`Settings`], validated, with every problem reported under its key path
//! (`route[1].dialect: unknown dialect "vizseak"; known: vizseek`).
//!
//! Each section has its own file: its raw struct, its defaults and its validation, which takes
//! the raw section (and what it needs of sections before it) and pushes problems with key paths.
//! `validate` runs them in a fixed order, which is the order problems are reported in. Each
//! section and each array item is read on its own (`read`), so that every unknown key is a
//! problem of its own and a section that cannot be read hides nothing of the others.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::dialect::TokenRoute;
use crate::endpoints::EndpointSettings;
use crate::engine::Directory;
use crate::engine::throttle::ThrottleSettings;

mod control;
mod dialects;
mod directory;
mod endpoints;
mod katana;
mod log;
mod read;
mod routes;
mod secrets;
mod server;
mod shadow;
mod signing;
mod store;
mod throttle;
mod tls;

pub use crate::directory::{ConnectReport, DirectoryBackend, OpenError};
pub use crate::store::{StoreBackend, StoreSettings};
pub use control::{ControlSettings, DEFAULT_CAPTURE, TestingSettings};
pub use directory::{client_from_toml, user_from_toml};
pub use log::{LogFormat, LogSettings};
pub use routes::route_from_toml;
pub use server::ConnectionSettings;
pub use signing::SigningKey;
pub use tls::{TlsError, TlsSettings, load as load_tls};

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

/// The sections of a configuration file, in the order the known keys are listed.
const SECTIONS: &[&str] = &[
    "server",
    "signing",
    "store",
    "throttle",
    "log",
    "introspection",
    "revocation",
    "jwks",
    "discovery",
    "metrics",
    "katana",
    "shadow",
    "control",
    "testing",
    "directory",
    "client",
    "user",
    "dialect",
    "route",
];

/// Shadow mode as configured: `[shadow]` (its defaults when absent) and each route's `shadow`.
#[derive(Debug, Clone)]
pub struct Shadowing {
    pub settings: crate::shadow::ShadowSettings,
    pub routes: Vec<Option<crate::shadow::RouteShadow>>,
}

impl Shadowing {
    /// Each route's path with its `shadow`, as [`crate::shadow::Shadows::new`] takes them.
    pub fn by_route(
        &self,
        routes: &[TokenRoute],
    ) -> Vec<(String, Option<crate::shadow::RouteShadow>)> {
        routes
            .iter()
            .zip(self.routes.iter().chain(std::iter::repeat(&None)))
            .map(|(route, shadow)| (route.path().to_owned(), shadow.clone()))
            .collect()
    }
}

/// A validated configuration.
#[derive(Debug)]
pub struct Settings {
    pub bind: SocketAddr,
    /// `[server.tls]`: HTTPS on `bind`.
    pub tls: Option<TlsSettings>,
    pub workers: usize,
    pub hash_workers: usize,
    /// The longest a password verification waits for a hash thread; longer is `overloaded`.
    pub hash_queue_wait: std::time::Duration,
    pub trusted_proxies: Vec<IpAddr>,
    pub shutdown_timeout_secs: u64,
    pub connections: ConnectionSettings,
    pub signing: SigningKey,
    pub store: StoreSettings,
    pub endpoints: EndpointSettings,
    pub throttle: ThrottleSettings,
    pub log: LogSettings,
    /// The clients, and the `[[user]]` items.
    pub directory: Directory,
    /// Where users are looked up: the `[[user]]` items or a database.
    pub users: DirectoryBackend,
    /// `[directory] hash_input`: what stored hashes are over unless a user says otherwise (the
    /// import reads an export's hashes with it).
    pub hash_input: crate::engine::InputSetting,
    pub routes: Vec<TokenRoute>,
    /// `[katana]`: the legacy machineKey's ticket format, when configured.
    pub katana: Option<crate::engine::katana::Katana>,
    /// `[shadow]`, and each route's `shadow` (by route index).
    pub shadow: Shadowing,
    /// `[control]`: the test kit's listener, when configured.
    pub control: Option<ControlSettings>,
    pub testing: TestingSettings,
}

/// Where a configuration comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Demo,
    File(PathBuf),
    Text(String),
}

/// `tokengate check --connect`'s directory half: what the database shows
/// ([`DirectoryBackend::check_connect`]), and the routes whose SHA-1 hex proofs the stored
/// hashes it counted cannot serve.
pub fn check_directory(settings: &Settings, create: bool) -> ConnectReport {
    let mut report = settings.users.check_connect(create);
    if let (DirectoryBackend::Postgres(options), Some(census)) = (&settings.users, &report.census) {
        let problems = directory::check_census_proofs(&settings.routes, options.hash_input, census);
        report.problems.extend(problems);
    }
    report
}

/// Loads, layers and validates a configuration. Environment variables named
/// `TOKENGATE__SECTION__KEY` override keys of tables (not of `[[route]]` array items, which
/// the `config` crate cannot address, nor of `[dialect.NAME]`, whose names it would lowercase:
/// set those in the file).
pub fn load(source: &Source) -> Result<Settings, ConfigErrors> {
    load_with_env(source, true)
}

/// As [`load`], optionally ignoring the environment (tests).
pub fn load_with_env(source: &Source, use_env: bool) -> Result<Settings, ConfigErrors> {
    load_built(source, use_env).map(|(settings, _)| settings)
}

/// What `tokengate profile` shows: one route's profile after every merge.
#[derive(Debug, Clone)]
pub struct EffectiveProfile {
    /// The route's index in `[[route]]`.
    pub index: usize,
    /// The dialect the route names.
    pub dialect: String,
    /// The route's path as configured.
    pub path: String,
    /// The profile: its dialect's `extends` chain, each layer's `remove`s, the route's
    /// overrides, all applied.
    pub table: toml::Table,
}

/// Why there is no effective profile to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("{0}")]
    Invalid(ConfigErrors),
    /// No route serves the path; the configured routes, as (path, dialect).
    #[error("no route serves {path:?}; routes: {}", list_routes(.routes))]
    NoRoute {
        path: String,
        routes: Vec<(String, String)>,
    },
}

fn list_routes(routes: &[(String, String)]) -> String {
    routes
        .iter()
        .map(|(path, dialect)| format!("{path} ({dialect})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The effective profile of the route serving `path` (matched as a request's path is), in a
/// configuration that must be valid as a whole, environment overrides applied as `load` does.
pub fn effective_profile(source: &Source, path: &str) -> Result<EffectiveProfile, ProfileError> {
    effective_profile_with_env(source, path, true)
}

/// As [`effective_profile`], optionally ignoring the environment (tests).
pub fn effective_profile_with_env(
    source: &Source,
    path: &str,
    use_env: bool,
) -> Result<EffectiveProfile, ProfileError> {
    let (settings, tables) = load_built(source, use_env).map_err(ProfileError::Invalid)?;
    settings
        .routes
        .iter()
        .zip(tables)
        .enumerate()
        .find(|(_, (route, _))| route.matches_path(path))
        .map(|(index, (route, table))| EffectiveProfile {
            index,
            dialect: route.dialect().to_owned(),
            path: route.path().to_owned(),
            table,
        })
        .ok_or_else(|| ProfileError::NoRoute {
            path: path.to_owned(),
            routes: settings
                .routes
                .iter()
                .map(|r| (r.path().to_owned(), r.dialect().to_owned()))
                .collect(),
        })
}

/// The settings, and each route's profile table as it was compiled.
fn load_built(
    source: &Source,
    use_env: bool,
) -> Result<(Settings, Vec<toml::Table>), ConfigErrors> {
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
    let tree: toml::Table = layered
        .try_deserialize()
        .map_err(|e| ConfigErrors(vec![problem("", e.to_string())]))?;
    validate(tree, source_dir(source))
}

fn source_dir(source: &Source) -> Option<PathBuf> {
    match source {
        Source::File(path) => path.parent().map(Path::to_path_buf),
        _ => None,
    }
}

/// A table section: its raw struct, or `default` when the file has none; `None` when it could
/// not be read (its problems are pushed).
fn table_section<T: serde::de::DeserializeOwned>(
    tree: &mut toml::Table,
    name: &str,
    default: impl FnOnce() -> T,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match tree.remove(name) {
        None => Some(default()),
        Some(value) => read::section(name, value, problems),
    }
}

/// An array-of-tables section's items, each to be read on its own; `None` when it is not an
/// array (reported).
fn array_section(
    tree: &mut toml::Table,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Option<Vec<toml::Value>> {
    match tree.remove(name) {
        None => Some(Vec::new()),
        Some(toml::Value::Array(items)) => Some(items),
        Some(other) => {
            problems.push(problem(
                name,
                format!(
                    "must be an array of tables ([[{name}]]), not {}",
                    other.type_str()
                ),
            ));
            None
        }
    }
}

fn validate(
    mut tree: toml::Table,
    base: Option<PathBuf>,
) -> Result<(Settings, Vec<toml::Table>), ConfigErrors> {
    let base = base.as_deref();
    let mut problems = Vec::new();
    for name in tree.keys() {
        if !SECTIONS.contains(&name.as_str()) {
            problems.push(problem(name, read::unknown_key(name, Some(SECTIONS))));
        }
    }
    let server = table_section(
        &mut tree,
        "server",
        server::RawServer::default,
        &mut problems,
    )
    .and_then(|raw| server::validate(&raw, base, &mut problems));
    let signing = table_section(
        &mut tree,
        "signing",
        signing::RawSigning::default,
        &mut problems,
    )
    .map(|raw| signing::validate(&raw, base, &mut problems));
    let throttle = table_section(
        &mut tree,
        "throttle",
        throttle::RawThrottle::default,
        &mut problems,
    )
    .map(|raw| throttle::validate(&raw, &mut problems));
    let log = table_section(&mut tree, "log", LogSettings::default, &mut problems);
    let store = table_section(&mut tree, "store", store::RawStore::default, &mut problems)
        .and_then(|raw| store::validate(&raw, base, &mut problems));
    let clients = array_section(&mut tree, "client", &mut problems).unwrap_or_default();
    let clients = directory::clients(clients, base, &mut problems);
    let directory_settings = table_section(
        &mut tree,
        "directory",
        directory::RawDirectory::default,
        &mut problems,
    )
    .unwrap_or_default();
    let users = array_section(&mut tree, "user", &mut problems).unwrap_or_default();
    let backend = directory::backend(&directory_settings, users.len(), base, &mut problems);
    let users = directory::users(users, &directory_settings, &clients, base, &mut problems);
    let dialects = dialects::read(tree.remove("dialect"), base, &mut problems);
    let routes = array_section(&mut tree, "route", &mut problems);
    let routes = routes::validate(routes, &dialects, &clients, base, &mut problems);
    let introspection = table_section(
        &mut tree,
        "introspection",
        endpoints::default_introspection,
        &mut problems,
    );
    let revocation = table_section(
        &mut tree,
        "revocation",
        endpoints::default_revocation,
        &mut problems,
    );
    let jwks = table_section(&mut tree, "jwks", endpoints::default_jwks, &mut problems);
    let discovery = table_section(
        &mut tree,
        "discovery",
        endpoints::RawDiscovery::default,
        &mut problems,
    );
    let metrics = table_section(
        &mut tree,
        "metrics",
        endpoints::default_metrics,
        &mut problems,
    );
    let control = tree
        .remove("control")
        .and_then(|value| read::section::<control::RawControl>("control", value, &mut problems))
        .and_then(|raw| control::validate(&raw, base, &mut problems));
    let testing = table_section(
        &mut tree,
        "testing",
        control::RawTesting::default,
        &mut problems,
    )
    .map(|raw| control::validate_testing(&raw))
    .unwrap_or_default();
    let raw_katana = tree.remove("katana");
    let katana_configured = raw_katana.is_some();
    let raw_katana = raw_katana
        .and_then(|value| read::section::<katana::RawKatana>("katana", value, &mut problems));
    let katana = katana::validate(raw_katana.as_ref(), base, "katana", &mut problems);
    routes::check_katana(&routes, katana_configured, &mut problems);
    let shadow_settings = table_section(
        &mut tree,
        "shadow",
        shadow::RawShadow::default,
        &mut problems,
    )
    .map(|raw| shadow::validate(&raw, base, &mut problems));
    let endpoints = endpoints::validate(
        introspection.as_ref(),
        revocation.as_ref(),
        jwks.as_ref(),
        discovery.as_ref(),
        metrics.as_ref(),
        &clients,
        &mut problems,
    );
    routes::check_endpoint_paths(&routes, &endpoints, &mut problems);
    if let Some(signing) = &signing {
        routes::check_signing_keys(&routes, signing, &mut problems);
    }
    directory::check_password_proofs(routes.iter().map(|b| &b.route), &users, &mut problems);
    let directory = directory::build(clients, users, &mut problems);

    match (
        server,
        signing,
        throttle,
        store,
        directory.zip(backend),
        log.zip(shadow_settings),
        problems.is_empty(),
    ) {
        (
            Some(server),
            Some(signing),
            Some(throttle),
            Some(store),
            Some((directory, users)),
            Some((log, shadow_settings)),
            true,
        ) => {
            let mut route_shadows = Vec::with_capacity(routes.len());
            let (routes, tables) = routes
                .into_iter()
                .map(|b| {
                    route_shadows.push(b.shadow);
                    (b.route, b.table)
                })
                .unzip();
            Ok((
                Settings {
                    bind: server.bind,
                    tls: server.tls,
                    workers: server.workers,
                    hash_workers: server.hash_workers,
                    hash_queue_wait: server.hash_queue_wait,
                    trusted_proxies: server.trusted_proxies,
                    shutdown_timeout_secs: server.shutdown_timeout_secs,
                    connections: server.connections,
                    signing,
                    store,
                    endpoints,
                    throttle,
                    log,
                    directory,
                    users,
                    hash_input: crate::engine::InputSetting {
                        user: None,
                        directory: directory_settings.hash_input,
                    },
                    routes,
                    katana,
                    shadow: Shadowing {
                        settings: shadow_settings,
                        routes: route_shadows,
                    },
                    control,
                    testing,
                },
                tables,
            ))
        }
        _ => Err(ConfigErrors(problems)),
    }
}
