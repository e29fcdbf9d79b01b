//! `[[route]]`: each route is a built-in dialect profile (`dialects/*.toml`) with the route's own
//! keys laid over it, so a route states only how it differs from the endpoint it replaces. The
//! checks that span routes, or that reach into `[[client]]` and `[signing]`, live here too.

use crate::dialect::{self, Profile, TokenRoute};
use crate::engine::Client;

use super::signing::SigningKey;
use super::{ConfigErrors, Problem, problem};

/// Every `[[route]]`, built, with the checks that need the routes before them (one path, one
/// route) and the clients (`anonymous_client`). A route that fails to build is left out; its
/// problems are reported under `route[i]`.
pub(super) fn validate(
    raw: Vec<toml::Table>,
    clients: &[Client],
    problems: &mut Vec<Problem>,
) -> Vec<TokenRoute> {
    let mut routes: Vec<TokenRoute> = Vec::new();
    if raw.is_empty() {
        problems.push(problem(
            "route",
            "no [[route]]: the gateway would serve nothing",
        ));
    }
    for (i, overrides) in raw.into_iter().enumerate() {
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
                if let Some(anonymous) = &route.policy().anonymous_client {
                    match clients.iter().find(|c| &c.id == anonymous) {
                        None => problems.push(problem(
                            format!("{key}.anonymous_client"),
                            format!("no client with id {:?}", anonymous.as_str()),
                        )),
                        // Nothing on such a route could carry the secret, so every request
                        // would fail client authentication.
                        Some(client)
                            if client.secret.is_some()
                                && route.profile().request.client_credentials.is_empty() =>
                        {
                            problems.push(problem(
                                format!("{key}.anonymous_client"),
                                format!(
                                    "{:?} is a confidential client, and this route reads no \
                                     client credentials (request.client_credentials is empty): \
                                     name a public client",
                                    anonymous.as_str()
                                ),
                            ));
                        }
                        Some(_) => {}
                    }
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
    routes
}

/// Each route's `signing_key` names a key of `[signing]` that may sign. Without a keyring one
/// problem says it all, so only the first route naming a key is reported.
pub(super) fn check_signing_keys(
    routes: &[TokenRoute],
    signing: &SigningKey,
    problems: &mut Vec<Problem>,
) {
    if let SigningKey::Keys(keyring) = signing {
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
}

/// Builds a route from a built-in profile with overrides given as TOML text (tests, benches).
pub fn route_from_toml(overrides: &str) -> Result<TokenRoute, ConfigErrors> {
    let table: toml::Table =
        toml::from_str(overrides).map_err(|e| ConfigErrors(vec![problem("", e.to_string())]))?;
    build_route(table).map_err(ConfigErrors)
}

/// A route: its dialect's profile with the route's keys laid over it. The problems' keys are
/// relative to the route (empty: the route itself), so that [`validate`] and
/// [`route_from_toml`] can report them as they need.
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
    dialect::source::apply(&mut base, overrides).map_err(|e| vec![problem("", e)])?;
    let profile: Profile = serde_path_to_error::deserialize(toml::Value::Table(base))
        .map_err(|e| vec![problem(e.path().to_string(), e.inner().to_string())])?;
    TokenRoute::compile(&name, profile).map_err(|problems| {
        problems
            .into_iter()
            .map(|p| problem(p.key, p.message))
            .collect()
    })
}
