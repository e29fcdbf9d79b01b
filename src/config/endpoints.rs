//! `[introspection]` (RFC 7662), `[revocation]` (RFC 7009) and `[jwks]`: the endpoints beside the
//! token routes, each on by default at its usual path, each path its own. Only introspection
//! names its callers: they may introspect (and revoke) any client's tokens, so they must be
//! confidential clients.

use serde::Deserialize;

use crate::endpoints::EndpointSettings;

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

/// The three endpoints' paths, and the clients that may introspect; problems are pushed with
/// their key paths. An endpoint that could not be read (`None`, reported already) is off.
pub(super) fn validate(
    introspection: Option<&RawEndpoint>,
    revocation: Option<&RawEndpoint>,
    jwks: Option<&RawEndpoint>,
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
    for (name, raw) in [("revocation", revocation), ("jwks", jwks)] {
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
    };
    check_paths(&settings, problems);
    settings
}

/// Each endpoint on a path of its own, and none on the health check's: the endpoints match
/// paths exactly, the first of them in this order wins, and `/healthz` is answered before all.
fn check_paths(settings: &EndpointSettings, problems: &mut Vec<Problem>) {
    let paths = [
        ("introspection", &settings.introspection_path),
        ("revocation", &settings.revocation_path),
        ("jwks", &settings.jwks_path),
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
