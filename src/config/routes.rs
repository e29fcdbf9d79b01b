//! `[[route]]`: each route is a dialect's profile (built-in, `dialects/*.toml`, or defined in
//! `[dialect.NAME]`) with the route's own keys laid over it, so a route states only how it
//! differs from the endpoint it replaces. The checks that span routes, or that reach into
//! `[[client]]`, `[signing]` and the endpoints' paths, live here too.

use std::collections::BTreeMap;

use crate::dialect::{self, TokenRoute};
use crate::endpoints::EndpointSettings;

use super::dialects::{self, Dialects, ProfileIssue};
use super::directory::{Clients, Named};
use super::signing::SigningKey;
use super::{ConfigErrors, Problem, problem};

/// The path `http` answers itself, before any route (`http::HEALTH_PATH`; config sits below
/// `http` and cannot name it).
pub(super) const HEALTH_PATH: &str = "/healthz";
/// The readiness check's path, answered before any route as the health check is
/// (`http::READY_PATH`).
pub(super) const READY_PATH: &str = "/readyz";

/// A route as built: the compiled route and the profile table it was compiled from (every
/// merge done), which `tokengate profile` prints.
pub(super) struct Built {
    pub route: TokenRoute,
    pub table: toml::Table,
    /// The route's `shadow`, which is not a profile key.
    pub shadow: Option<crate::shadow::RouteShadow>,
}

/// A route built, or its problems (relative to the route).
type Attempt = Result<Built, Vec<ProfileIssue>>;

/// Every `[[route]]`, built, with the checks that need the routes before them (one path, one
/// route) and the clients (`anonymous_client`). Every defined dialect is compiled too, named by
/// a route or not. A route that fails to build is left out; its problems are reported under
/// `route[i]`, a defined dialect's under `dialect.NAME`. A problem of a dialect's is its own
/// when every route naming it has it too (or none names it), and is then reported once, there;
/// otherwise (a route completes what its dialect leaves open) only the routes that still have
/// it report it.
pub(super) fn validate(
    items: Option<Vec<toml::Value>>,
    dialects: &Dialects,
    clients: &Clients,
    base: Option<&std::path::Path>,
    problems: &mut Vec<Problem>,
) -> Vec<Built> {
    let Some(items) = items else {
        return Vec::new();
    };
    if items.is_empty() {
        problems.push(problem(
            "route",
            "no [[route]]: the gateway would serve nothing",
        ));
    }
    let own: BTreeMap<&str, Vec<ProfileIssue>> = dialects
        .defined
        .iter()
        .map(|(name, table)| {
            let issues = dialects::build(name, table.clone())
                .err()
                .unwrap_or_default();
            (name.as_str(), issues)
        })
        .collect();

    // Each route: the dialect it names (when known) and its problems, relative to the route.
    let mut attempts: Vec<(Option<String>, Attempt)> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let toml::Value::Table(mut overrides) = item else {
            attempts.push((
                None,
                Err(vec![(String::new(), "must be a table ([[route]])".into())]),
            ));
            continue;
        };
        // Where the route's answers come from, not how they look: not part of its profile.
        let shadow = overrides
            .remove("shadow")
            .and_then(|value| super::shadow::route(&format!("route[{i}]"), value, problems));
        // A machineKey of the route's own, for a gateway replacing several legacy
        // applications: a secret's place, not the profile's.
        let katana = overrides.remove("katana").and_then(|value| {
            let at = format!("route[{i}].katana");
            let raw = super::read::section::<super::katana::RawKatana>(&at, value, problems)?;
            super::katana::validate(Some(&raw), base, &at, problems)
        });
        match resolve(overrides, dialects) {
            Err(issue) => attempts.push((None, Err(vec![issue]))),
            // Its dialect's problems are reported under dialect.NAME: nothing of its own.
            Ok(None) => attempts.push((None, Err(Vec::new()))),
            Ok(Some((name, table))) => {
                let built = dialects::build(&name, table.clone()).map(|route| Built {
                    route: match katana {
                        Some(katana) => route.with_katana(std::sync::Arc::new(katana)),
                        None => route,
                    },
                    table,
                    shadow,
                });
                attempts.push((Some(name), built));
            }
        }
    }

    // A dialect's own problems: those every route naming it shares.
    let mut owned: BTreeMap<&str, Vec<&ProfileIssue>> = BTreeMap::new();
    for (name, issues) in &own {
        let users: Vec<&Attempt> = attempts
            .iter()
            .filter(|(dialect, _)| dialect.as_deref() == Some(*name))
            .map(|(_, attempt)| attempt)
            .collect();
        let shared = issues
            .iter()
            .filter(|issue| {
                users.iter().all(|attempt| match attempt {
                    Ok(_) => false,
                    Err(route_issues) => route_issues.contains(issue),
                })
            })
            .collect();
        owned.insert(name, shared);
    }
    for (name, issues) in &owned {
        for (key, message) in issues {
            problems.push(problem(
                prefixed(&format!("dialect.{name}"), key),
                message.clone(),
            ));
        }
    }

    let mut routes: Vec<Built> = Vec::new();
    for (i, (dialect, attempt)) in attempts.into_iter().enumerate() {
        let key = format!("route[{i}]");
        match attempt {
            Ok(built) => {
                check_route(&key, &built.route, &routes, clients, problems);
                routes.push(built);
            }
            Err(issues) => {
                let theirs = dialect.as_deref().and_then(|d| owned.get(d));
                for issue in issues {
                    if theirs.is_some_and(|theirs| theirs.contains(&&issue)) {
                        continue;
                    }
                    problems.push(problem(prefixed(&key, &issue.0), issue.1));
                }
            }
        }
    }
    routes
}

/// `key` and a path relative to it (empty: `key` itself; `[0]...`: an index of it).
fn prefixed(key: &str, relative: &str) -> String {
    if relative.is_empty() {
        key.to_owned()
    } else if relative.starts_with('[') {
        format!("{key}{relative}")
    } else {
        format!("{key}.{relative}")
    }
}

/// The checks of one built route against the routes before it and the clients.
fn check_route(
    key: &str,
    route: &TokenRoute,
    before: &[Built],
    clients: &Clients,
    problems: &mut Vec<Problem>,
) {
    if let Some(other) = before
        .iter()
        .position(|b| b.route.matches_path(route.path()) || route.matches_path(b.route.path()))
    {
        problems.push(problem(
            format!("{key}.path"),
            format!("{:?} is already served by route[{other}]", route.path()),
        ));
    }
    for check in [HEALTH_PATH, READY_PATH] {
        if route.matches_path(check) {
            problems.push(problem(
                format!("{key}.path"),
                format!(
                    "{:?} is the gateway's health check ({check}, answered before any route); \
                     choose another path",
                    route.path()
                ),
            ));
        }
    }
    if let Some(anonymous) = &route.policy().anonymous_client {
        match clients.named(anonymous.as_str()) {
            Named::Nothing => problems.push(problem(
                format!("{key}.anonymous_client"),
                format!("no client with id {:?}", anonymous.as_str()),
            )),
            // Nothing on such a route could carry the secret, so every request would fail
            // client authentication.
            Named::Client(client)
                if client.secret.is_some()
                    && route.profile().request.client_credentials.is_empty() =>
            {
                problems.push(problem(
                    format!("{key}.anonymous_client"),
                    format!(
                        "{:?} is a confidential client, and this route reads no client \
                         credentials (request.client_credentials is empty): name a public client",
                        anonymous.as_str()
                    ),
                ));
            }
            Named::Client(_) | Named::Unreadable => {}
        }
    }
}

/// A route's dialect and its overrides laid over it, as one table. `Ok(None)`: the route names
/// a defined dialect that could not be resolved (reported under `dialect.NAME`).
fn resolve(
    mut overrides: toml::Table,
    dialects: &Dialects,
) -> Result<Option<(String, toml::Table)>, ProfileIssue> {
    let names = || dialects.profiles.dialect_names();
    let Some(name) = overrides.remove("dialect") else {
        return Err(("dialect".into(), format!("missing; known: {}", names())));
    };
    let toml::Value::String(name) = name else {
        return Err(("dialect".into(), "must be a string".into()));
    };
    if dialects.broken.contains(&name) {
        return Ok(None);
    }
    if !dialects.profiles.is_dialect(&name) {
        return Err((
            "dialect".into(),
            format!("unknown dialect {name:?}; known: {}", names()),
        ));
    }
    let mut base = match dialects.defined.get(&name) {
        Some(table) => table.clone(),
        None => dialects
            .profiles
            .table(&name)
            .map_err(|e| ("dialect".to_owned(), e))?,
    };
    dialect::source::apply(&mut base, overrides).map_err(|e| (String::new(), e))?;
    Ok(Some((name, base)))
}

/// Each route's `signing_key` names a key of `[signing]` that may sign. Without a keyring one
/// problem says it all, so only the first route naming a key is reported.
pub(super) fn check_signing_keys(
    routes: &[Built],
    signing: &SigningKey,
    problems: &mut Vec<Problem>,
) {
    if let SigningKey::Keys(keyring) = signing {
        for (i, built) in routes.iter().enumerate() {
            if let Some(kid) = &built.route.policy().signing_key
                && let Err(e) = keyring.check_signer(kid)
            {
                problems.push(problem(format!("route[{i}].signing_key"), e.to_string()));
            }
        }
    } else if let Some(i) = routes
        .iter()
        .position(|b| b.route.policy().signing_key.is_some())
    {
        problems.push(problem(
            format!("route[{i}].signing_key"),
            "names a key, but [signing] configures none",
        ));
    }
}

/// A route issuing Katana tickets, or redeeming the legacy ones, needs a machineKey: its own
/// `katana` table's, or `[katana]`'s. Reported only when the
/// section is absent: one that is there but wrong has its own problems.
pub(super) fn check_katana(routes: &[Built], configured: bool, problems: &mut Vec<Problem>) {
    if configured {
        return;
    }
    for (i, built) in routes.iter().enumerate() {
        let policy = built.route.policy();
        if policy.katana.is_some() {
            continue;
        }
        if policy.access_format == crate::engine::AccessFormat::KatanaTicket {
            problems.push(problem(
                format!("route[{i}].access_token_format"),
                "\"katana_ticket\" needs the legacy machineKey: add a [katana] section, or a katana table to the route",
            ));
        }
        if policy.legacy_refresh_tickets {
            problems.push(problem(
                format!("route[{i}].legacy_refresh_tickets"),
                "reading the legacy refresh tickets needs the legacy machineKey: add a [katana] section, or a katana table to the route",
            ));
        }
    }
}

/// No route may take an endpoint's path: routes are matched first, so the endpoint would never
/// answer. Paths compare as the route matches them (case-insensitively unless
/// `path_case_sensitive`).
pub(super) fn check_endpoint_paths(
    routes: &[Built],
    endpoints: &EndpointSettings,
    problems: &mut Vec<Problem>,
) {
    let discovery = endpoints.discovery.as_ref().map(|d| d.path.clone());
    let taken = [
        ("introspection", &endpoints.introspection_path),
        ("revocation", &endpoints.revocation_path),
        ("jwks", &endpoints.jwks_path),
        ("discovery", &discovery),
        ("metrics", &endpoints.metrics_path),
    ];
    for (i, built) in routes.iter().enumerate() {
        for (section, path) in &taken {
            if let Some(path) = path
                && built.route.matches_path(path)
            {
                problems.push(problem(
                    format!("route[{i}].path"),
                    format!(
                        "{:?} would shadow [{section}] path {path:?} (routes answer first); \
                         move the route or set [{section}] path to another (\"\" turns it off)",
                        built.route.path()
                    ),
                ));
            }
        }
    }
}

/// Builds a route from a built-in profile with overrides given as TOML text (tests, benches).
pub fn route_from_toml(overrides: &str) -> Result<TokenRoute, ConfigErrors> {
    let table: toml::Table =
        toml::from_str(overrides).map_err(|e| ConfigErrors(vec![problem("", e.to_string())]))?;
    let as_problems = |issues: Vec<ProfileIssue>| {
        ConfigErrors(issues.into_iter().map(|(k, m)| problem(k, m)).collect())
    };
    match resolve(table, &Dialects::builtin()).map_err(|issue| as_problems(vec![issue]))? {
        Some((name, table)) => dialects::build(&name, table).map_err(as_problems),
        None => Err(ConfigErrors(vec![problem("dialect", "cannot be resolved")])),
    }
}
