//! `[store]`: where refresh tokens, sessions and markers live, which decides what survives a
//! restart and whether several gateways share state. `kind` picks the backend; every other key
//! belongs to one kind, and one set for another kind is reported, not ignored, except the
//! capacity keys (`max_tombstones`, `max_sessions_per_user`, `max_sessions_per_client`), which
//! every kind applies.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::StoreLimits;
use crate::store::{StoreBackend, StoreSettings};

use super::secrets::resolve_secret;
use super::{Problem, problem};

/// `[store]`: `kind` picks the backend; the other keys belong to one kind each.
#[derive(Debug, Deserialize)]
pub(super) struct RawStore {
    #[serde(default = "default_store_kind")]
    kind: String,
    /// memory: live entries held before new sessions answer 503.
    max_entries: Option<usize>,
    /// every kind: used-token markers kept for replay detection.
    max_tombstones: Option<usize>,
    /// every kind: live refresh tokens one (client, user) holds; a new one drops the oldest.
    max_sessions_per_user: Option<usize>,
    /// every kind: live refresh tokens of one client's app tokens; likewise.
    max_sessions_per_client: Option<usize>,
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
            max_tombstones: None,
            max_sessions_per_user: None,
            max_sessions_per_client: None,
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

/// The store `[store]` describes; problems are pushed with their key paths.
pub(super) fn validate(
    raw: &RawStore,
    base: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Option<StoreSettings> {
    let before = problems.len();
    let limits = validate_limits(raw, problems);
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
                max => Some(StoreBackend::Memory {
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
                    Some(StoreBackend::File(crate::store::FileOptions { path }))
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
                    Some(StoreBackend::Redis(crate::store::RedisOptions {
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
    let backend = settings.filter(|_| problems.len() == before)?;
    Some(StoreSettings { backend, limits })
}

/// The capacity keys, each at least 1 (a budget of 0 would refuse every sign-in or keep no
/// replay detection at all, which a configuration says by other means).
fn validate_limits(raw: &RawStore, problems: &mut Vec<Problem>) -> StoreLimits {
    let defaults = StoreLimits::default();
    let mut key = |name: &str, value: Option<usize>, default: usize| match value {
        Some(0) => {
            problems.push(problem(format!("store.{name}"), "must be at least 1"));
            default
        }
        Some(value) => value,
        None => default,
    };
    let limits = StoreLimits {
        max_tombstones: key(
            "max_tombstones",
            raw.max_tombstones,
            defaults.max_tombstones,
        ),
        max_sessions_per_user: key(
            "max_sessions_per_user",
            raw.max_sessions_per_user,
            defaults.max_sessions_per_user,
        ),
        max_sessions_per_client: key(
            "max_sessions_per_client",
            raw.max_sessions_per_client,
            defaults.max_sessions_per_client,
        ),
    };
    if let (Some(max), "memory") = (raw.max_entries, raw.kind.as_str())
        && max > 0
    {
        for (name, quota) in [
            ("max_sessions_per_user", raw.max_sessions_per_user),
            ("max_sessions_per_client", raw.max_sessions_per_client),
        ] {
            // A quota the store cannot hold is no quota: one subject could still fill it.
            if let Some(quota) = quota
                && quota > max
            {
                problems.push(problem(
                    format!("store.{name}"),
                    format!(
                        "{quota} is more than max_entries ({max}): one caller could fill the \
                         store; set it lower"
                    ),
                ));
            }
        }
    }
    limits
}
