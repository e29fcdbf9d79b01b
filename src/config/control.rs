//! `[control]` and `[testing]`: the test kit (`crate::testkit`). The control listener is off
//! unless `[control]` is present; its bearer token comes from an environment variable or a file
//! (never inline, so a committed config holds none), and it binds to loopback unless the
//! configuration says otherwise in so many words.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::secrets::resolve_secret;
use super::{Problem, problem};
use crate::domain::Secret;

/// The shortest control token accepted: anything shorter is guessable on a shared machine.
pub const MIN_TOKEN_LEN: usize = 16;

/// Exchanges kept per route unless `[control] capture` says otherwise.
pub const DEFAULT_CAPTURE: usize = 100;

/// The most exchanges a route may keep: each holds a request and an answer (bodies up to the
/// route's `body_limit`), so the capture's memory stays bounded.
pub const MAX_CAPTURE: usize = 10_000;

/// `[control]` as written.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawControl {
    bind: Option<SocketAddr>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    #[serde(default)]
    allow_remote: bool,
    capture: Option<usize>,
}

/// `[testing]` as written.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawTesting {
    #[serde(default)]
    deterministic: bool,
    seed: Option<u64>,
    start: Option<DateTime<Utc>>,
}

/// `[control]`, validated.
#[derive(Debug, Clone)]
pub struct ControlSettings {
    pub bind: SocketAddr,
    pub token: Secret,
    /// Exchanges kept per route; 0: nothing is captured.
    pub capture: usize,
}

/// `[testing]`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestingSettings {
    pub deterministic: bool,
    pub seed: u64,
    /// Where a deterministic gateway's clock starts, frozen.
    pub start: DateTime<Utc>,
}

impl Default for TestingSettings {
    fn default() -> Self {
        Self {
            deterministic: false,
            seed: 1,
            start: DEFAULT_START,
        }
    }
}

/// A deterministic gateway's first instant unless `[testing] start` names another.
pub const DEFAULT_START: DateTime<Utc> = DateTime::from_timestamp_nanos(1_735_689_600_000_000_000);

pub(super) fn validate(
    raw: &RawControl,
    base: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Option<ControlSettings> {
    let before = problems.len();
    let Some(bind) = raw.bind else {
        problems.push(problem(
            "control.bind",
            "missing: the control listener's address, e.g. \"127.0.0.1:8081\"",
        ));
        return None;
    };
    if !bind.ip().is_loopback() && !raw.allow_remote {
        problems.push(problem(
            "control.bind",
            format!(
                "{bind} is not a loopback address: the control API moves the clock and changes \
                 users, so it listens on loopback unless control.allow_remote = true"
            ),
        ));
    }
    let token = match resolve_secret(
        "control.token",
        &None,
        &raw.token_env,
        &raw.token_file,
        base,
    ) {
        Ok(Some(token)) if token.expose().len() >= MIN_TOKEN_LEN => Some(token),
        Ok(Some(_)) => {
            problems.push(problem(
                "control.token",
                format!("shorter than {MIN_TOKEN_LEN} characters: too easy to guess"),
            ));
            None
        }
        Ok(None) => {
            problems.push(problem(
                "control.token_env",
                "missing: give control.token_env (a variable name) or control.token_file",
            ));
            None
        }
        Err(p) => {
            problems.push(p);
            None
        }
    };
    let capture = raw.capture.unwrap_or(DEFAULT_CAPTURE);
    if capture > MAX_CAPTURE {
        problems.push(problem(
            "control.capture",
            format!("{capture} is over the limit of {MAX_CAPTURE} exchanges per route"),
        ));
    }
    if problems.len() > before {
        return None;
    }
    Some(ControlSettings {
        bind,
        token: token?,
        capture,
    })
}

pub(super) fn validate_testing(raw: &RawTesting) -> TestingSettings {
    let defaults = TestingSettings::default();
    TestingSettings {
        deterministic: raw.deterministic,
        seed: raw.seed.unwrap_or(defaults.seed),
        start: raw.start.unwrap_or(defaults.start),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_start_is_the_first_instant_of_2025() {
        assert_eq!(DEFAULT_START.to_rfc3339(), "2025-01-01T00:00:00+00:00");
    }
}
