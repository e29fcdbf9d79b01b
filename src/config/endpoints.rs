//! `[introspection]` (RFC 7662), `[revocation]` (RFC 7009) and `[jwks]`: the endpoints beside the
//! token routes, each on by default at its usual path. Only introspection names its callers:
//! they may introspect (and revoke) any client's tokens, so they must be confidential clients.

use serde::Deserialize;

use crate::endpoints::EndpointSettings;
use crate::engine::Client;

use super::{Problem, problem};

/// `[introspection]`, `[revocation]`, `[jwks]`: an empty path turns an endpoint off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
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
/// their key paths.
pub(super) fn validate(
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
