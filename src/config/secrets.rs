//! Secrets (signing keys, client secrets, password hashes, the Redis URL) may sit inline, in an
//! environment variable or in a file, so that the TOML itself can be committed; this is the one
//! place that reads them, relative paths taken from the config file's directory.

use std::path::{Path, PathBuf};

use crate::domain::Secret;

use super::{Problem, problem};

/// A secret given inline, by environment variable name, or by file (read once, trailing
/// newline dropped). At most one of the three.
pub(super) fn resolve_secret(
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

/// A file read whole and untrimmed, as a plain string: what it holds is public (a public key).
pub(super) fn read_file(key: &str, path: &Path, base: Option<&Path>) -> Result<String, Problem> {
    let path = match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path.to_path_buf(),
    };
    std::fs::read_to_string(&path)
        .map_err(|e| problem(key, format!("cannot read {}: {e}", path.display())))
}
