//! Configuration in two steps: a raw serde mirror of the TOML (layered by the `config` crate:
//! the file or the embedded demo, then `TOKENGATE__SECTION__KEY` environment variables), then
//! [`Settings`], validated, with every problem reported under its key path
//! (`route[1].dialect: unknown dialect "vizseak"; known: vizseek`).
//!
//! Each section has its own file: its raw struct, its defaults and its validation, which takes
//! the raw section (and what it needs of sections before it) and pushes problems with key paths.
//! `validate` runs them in a fixed order, which is the order problems are reported in.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::dialect::TokenRoute;
use crate::endpoints::EndpointSettings;
use crate::engine::Directory;
use crate::engine::throttle::ThrottleSettings;

mod directory;
mod endpoints;
mod routes;
mod secrets;
mod server;
mod signing;
mod store;
mod throttle;

pub use crate::store::StoreSettings;
pub use routes::route_from_toml;
pub use signing::SigningKey;

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
    server: server::RawServer,
    #[serde(default)]
    signing: signing::RawSigning,
    #[serde(default)]
    store: store::RawStore,
    #[serde(default)]
    throttle: throttle::RawThrottle,
    #[serde(default = "endpoints::default_introspection")]
    introspection: endpoints::RawEndpoint,
    #[serde(default = "endpoints::default_revocation")]
    revocation: endpoints::RawEndpoint,
    #[serde(default = "endpoints::default_jwks")]
    jwks: endpoints::RawEndpoint,
    #[serde(default)]
    client: Vec<directory::RawClient>,
    #[serde(default)]
    user: Vec<directory::RawUser>,
    /// Kept as tables: a route is its dialect's profile merged with these keys (see `routes`).
    #[serde(default)]
    route: Vec<toml::Table>,
}

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
    let base = base.as_deref();
    let mut problems = Vec::new();
    let server = server::validate(&raw.server, &mut problems);
    let signing = signing::validate(&raw.signing, base, &mut problems);
    let throttle = throttle::validate(&raw.throttle, &mut problems);
    let store = store::validate(&raw.store, base, &mut problems);
    let clients = directory::clients(raw.client, base, &mut problems);
    let users = directory::users(raw.user, &clients, base, &mut problems);
    let routes = routes::validate(raw.route, &clients, &mut problems);
    let endpoints = endpoints::validate(
        &raw.introspection,
        &raw.revocation,
        &raw.jwks,
        &clients,
        &mut problems,
    );
    routes::check_signing_keys(&routes, &signing, &mut problems);
    let directory = directory::build(clients, users, &mut problems);

    match (server, store, directory, problems.is_empty()) {
        (Some(server), Some(store), Some(directory), true) => Ok(Settings {
            bind: server.bind,
            workers: server.workers,
            hash_workers: server.hash_workers,
            trusted_proxies: server.trusted_proxies,
            shutdown_timeout_secs: server.shutdown_timeout_secs,
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
