//! `[introspection]` (RFC 7662), `[revocation]` (RFC 7009), `[jwks]`, `[discovery]` (RFC 8414
//! metadata at OpenID Connect discovery's path) and `[metrics]` (Prometheus text): the endpoints
//! beside the token routes, each on
//! by default at its usual path, each path its own. Only introspection names its callers: they
//! may introspect (and revoke) any client's tokens, so they must be confidential clients.

use serde::Deserialize;

use crate::endpoints::{DiscoverySettings, EndpointSettings};

use super::directory::{Clients, Named};
use super::routes::{HEALTH_PATH, READY_PATH};
use super::{Problem, problem};

/// `[introspection]`, `[revocation]`, `[jwks]`: an empty path turns an endpoint off.
#[derive(Debug, Deserialize)]
pub(super) struct RawEndpoint {
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

pub(super) fn default_introspection() -> RawEndpoint {
    endpoint("/oauth2/introspect")
}

pub(super) fn default_revocation() -> RawEndpoint {
    endpoint("/oauth2/revoke")
}

pub(super) fn default_jwks() -> RawEndpoint {
    endpoint("/.well-known/jwks.json")
}

pub(super) fn default_metrics() -> RawEndpoint {
    endpoint("/metrics")
}

/// `[discovery]`.
#[derive(Debug, Deserialize)]
pub(super) struct RawDiscovery {
    #[serde(default = "default_discovery_path")]
    path: String,
    issuer: Option<String>,
    base_url: Option<String>,
}

impl Default for RawDiscovery {
    fn default() -> Self {
        Self {
            path: default_discovery_path(),
            issuer: None,
            base_url: None,
        }
    }
}

fn default_discovery_path() -> String {
    "/.well-known/openid-configuration".into()
}

/// `[discovery]`, validated: a `base_url` is a scheme and an authority (the endpoints' paths
/// are appended to it).
fn discovery(raw: Option<&RawDiscovery>, problems: &mut Vec<Problem>) -> Option<DiscoverySettings> {
    let raw = raw.filter(|raw| !raw.path.is_empty())?;
    if !raw.path.starts_with('/') {
        problems.push(problem(
            "discovery.path",
            format!("must start with '/': {:?}", raw.path),
        ));
    }
    if let Some(base) = &raw.base_url {
        let authority = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"));
        match authority {
            Some(rest) if !rest.trim_end_matches('/').is_empty() => {}
            _ => problems.push(problem(
                "discovery.base_url",
                format!(
                    "must be http:// or https:// and a host, as clients reach the gateway \
                     (https://login.example.com): {base:?}"
                ),
            )),
        }
    }
    Some(DiscoverySettings {
        path: raw.path.clone(),
        issuer: raw.issuer.clone(),
        base_url: raw.base_url.clone(),
    })
}

/// The three endpoints' paths, and the clients that may introspect; problems are pushed with
/// their key paths. An endpoint that could not be read (`None`, reported already) is off.
pub(super) fn validate(
    introspection: Option<&RawEndpoint>,
    revocation: Option<&RawEndpoint>,
    jwks: Option<&RawEndpoint>,
    raw_discovery: Option<&RawDiscovery>,
    metrics: Option<&RawEndpoint>,
    clients: &Clients,
    problems: &mut Vec<Problem>,
) -> EndpointSettings {
    let path = |name: &str, raw: Option<&RawEndpoint>, problems: &mut Vec<Problem>| {
        let raw = raw.filter(|raw| !raw.path.is_empty())?;
        if !raw.path.starts_with('/') {
            problems.push(problem(
                format!("{name}.path"),
                format!("must start with '/': {:?}", raw.path),
            ));
        }
        Some(raw.path.clone())
    };
    for (name, raw) in [
        ("revocation", revocation),
        ("jwks", jwks),
        ("metrics", metrics),
    ] {
        if raw.is_some_and(|raw| !raw.callers.is_empty()) {
            problems.push(problem(
                format!("{name}.callers"),
                "only [introspection] has callers",
            ));
        }
    }
    let mut callers = Vec::new();
    let named = introspection.map_or(&[][..], |raw| &raw.callers[..]);
    for (i, caller) in named.iter().enumerate() {
        match clients.named(caller) {
            Named::Nothing => problems.push(problem(
                format!("introspection.callers[{i}]"),
                format!("no client with id {caller:?}"),
            )),
            Named::Unreadable => {}
            Named::Client(client) if client.secret.is_none() => problems.push(problem(
                format!("introspection.callers[{i}]"),
                format!("{caller:?} is a public client; only confidential clients may introspect"),
            )),
            Named::Client(client) => callers.push(client.id.clone()),
        }
    }
    let settings = EndpointSettings {
        introspection_path: path("introspection", introspection, problems),
        revocation_path: path("revocation", revocation, problems),
        jwks_path: path("jwks", jwks, problems),
        introspection_callers: callers,
        discovery: discovery(raw_discovery, problems),
        metrics_path: path("metrics", metrics, problems),
    };
    check_paths(&settings, problems);
    settings
}

/// Each endpoint on a path of its own, and none on the health check's: the endpoints match
/// paths exactly, the first of them in this order wins, and `/healthz` is answered before all.
fn check_paths(settings: &EndpointSettings, problems: &mut Vec<Problem>) {
    let discovery = settings.discovery.as_ref().map(|d| d.path.clone());
    let paths = [
        ("introspection", &settings.introspection_path),
        ("revocation", &settings.revocation_path),
        ("jwks", &settings.jwks_path),
        ("discovery", &discovery),
        ("metrics", &settings.metrics_path),
    ];
    for (i, (name, path)) in paths.iter().enumerate() {
        let Some(path) = path else { continue };
        if path == HEALTH_PATH || path == READY_PATH {
            problems.push(problem(
                format!("{name}.path"),
                format!("{path:?} is the gateway's health check; choose another path"),
            ));
        }
        if let Some((other, _)) = paths[..i]
            .iter()
            .find(|(_, earlier)| earlier.as_ref() == Some(path))
        {
            problems.push(problem(
                format!("{name}.path"),
                format!("{path:?} is already [{other}]'s path; each endpoint needs its own"),
            ));
        }
    }
}
