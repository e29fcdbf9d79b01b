//! Configuration in two steps: a raw serde mirror of the TOML (layered by the `config` crate:
//! the file or the embedded demo, then `TOKENGATE__SECTION__KEY` environment variables), then
//! [`Settings`], validated, with every problem reported under its key path
//! (`route[1].dialect: unknown dialect "vizseak"; known: vizseek`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::dialect::{self, Profile, TokenRoute};
use crate::endpoints::EndpointSettings;
use crate::engine::Directory;
use crate::engine::throttle::ThrottleSettings;

mod directory;
mod endpoints;
mod secrets;
mod server;
mod signing;
mod store;
mod throttle;
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
    #[serde(default)]
    route: Vec<toml::Table>,
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
    let server = server::validate(&raw.server, &mut problems);
    let signing = signing::validate(&raw.signing, base.as_deref(), &mut problems);

    let throttle = throttle::validate(&raw.throttle, &mut problems);

    let store = store::validate(&raw.store, base.as_deref(), &mut problems);

    let clients = directory::clients(raw.client, base.as_deref(), &mut problems);
    let users = directory::users(raw.user, &clients, base.as_deref(), &mut problems);

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

    let endpoints = endpoints::validate(
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
    let Some(source) = dialect::builtin(&name) else {
        return Err(vec![problem(
            "dialect",
            format!(
                "unknown dialect {name:?}; known: {}",
                dialect::known_dialects()
            ),
        )]);
    };
    let mut base: toml::Table = toml::from_str(source).map_err(|e| {
        vec![problem(
            "dialect",
            format!("built-in profile {name:?} is broken: {e}"),
        )]
    })?;
    merge(&mut base, overrides);
    let profile: Profile = serde_path_to_error::deserialize(toml::Value::Table(base))
        .map_err(|e| vec![problem(e.path().to_string(), e.inner().to_string())])?;
    TokenRoute::compile(&name, profile).map_err(|problems| {
        problems
            .into_iter()
            .map(|p| problem(p.key, p.message))
            .collect()
    })
}

/// Deep merge: tables merge key by key, anything else (arrays included) is replaced.
fn merge(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over)) => merge(inner, over),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Builds a route from a built-in profile with overrides given as TOML text (tests, benches).
pub fn route_from_toml(overrides: &str) -> Result<TokenRoute, ConfigErrors> {
    let table: toml::Table =
        toml::from_str(overrides).map_err(|e| ConfigErrors(vec![problem("", e.to_string())]))?;
    build_route(table).map_err(ConfigErrors)
}
