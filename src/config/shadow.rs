//! `[shadow]` and a route's `shadow = { upstream, answer }`: which routes are shadowed against
//! their legacy endpoint, and the log, timeout, bound and TLS roots they share (docs/shadow.md).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::shadow::{AnswerSide, ForwardedFor, RouteShadow, ShadowSettings};

use super::{Problem, problem};

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawShadow {
    log: Option<PathBuf>,
    log_max_bytes: Option<u64>,
    log_keep: Option<usize>,
    timeout: Option<String>,
    max_in_flight: Option<usize>,
    ca_file: Option<PathBuf>,
    forwarded_for: Option<ForwardedFor>,
    #[serde(default)]
    compare_headers: Vec<String>,
}

/// A route's `shadow` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouteShadow {
    upstream: String,
    answer: AnswerSide,
}

/// The smallest `log_max_bytes`: a few lines.
const MIN_LOG_BYTES: u64 = 4096;

/// The most rotated files kept (each is looked for by name when the log is read).
const MAX_LOG_KEEP: usize = 100;

/// `[shadow]`, its paths relative to the configuration file's directory, the log by default
/// beside the file.
pub(super) fn validate(
    raw: &RawShadow,
    base: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> ShadowSettings {
    let relative = |path: &Path| match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path.to_owned(),
    };
    let log = raw
        .log
        .as_deref()
        .map_or_else(|| relative(Path::new(crate::shadow::DEFAULT_LOG)), relative);
    let mut settings = ShadowSettings::with_log(log);
    if let Some(bytes) = raw.log_max_bytes {
        if bytes < MIN_LOG_BYTES {
            problems.push(problem(
                "shadow.log_max_bytes",
                format!("at least {MIN_LOG_BYTES}"),
            ));
        }
        settings.log_max_bytes = bytes;
    }
    if let Some(keep) = raw.log_keep {
        if keep > MAX_LOG_KEEP {
            problems.push(problem(
                "shadow.log_keep",
                format!("at most {MAX_LOG_KEEP} rotated files; raise log_max_bytes instead"),
            ));
        }
        settings.log_keep = keep.min(MAX_LOG_KEEP);
    }
    settings.timeout = super::read::duration(
        "shadow.timeout",
        raw.timeout.as_deref(),
        settings.timeout,
        false,
        problems,
    );
    if let Some(n) = raw.max_in_flight {
        if n == 0 {
            problems.push(problem(
                "shadow.max_in_flight",
                "must be at least 1 (a route without shadowing has no `shadow` key)",
            ));
        }
        settings.max_in_flight = n.max(1);
    }
    if let Some(ca) = &raw.ca_file {
        let ca = relative(ca);
        if !ca.is_file() {
            problems.push(problem(
                "shadow.ca_file",
                format!("{} is not a readable file", ca.display()),
            ));
        }
        settings.ca_file = Some(ca);
    }
    settings.forwarded_for = raw.forwarded_for.unwrap_or_default();
    for (i, name) in raw.compare_headers.iter().enumerate() {
        if !is_token(name) {
            problems.push(problem(
                format!("shadow.compare_headers[{i}]"),
                format!("{name:?} is not a header name"),
            ));
        }
    }
    settings.compare_headers = raw
        .compare_headers
        .iter()
        .map(|name| name.to_ascii_lowercase())
        .collect();
    settings
}

/// Whether `name` is an RFC 9110 token, as header names are.
fn is_token(name: &str) -> bool {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    !name.is_empty() && name.bytes().all(token)
}

/// A route's `shadow`, taken out of its table before the table is compiled as a profile.
pub(super) fn route(
    key: &str,
    value: toml::Value,
    problems: &mut Vec<Problem>,
) -> Option<RouteShadow> {
    let at = format!("{key}.shadow");
    let raw: RawRouteShadow = match value.try_into() {
        Ok(raw) => raw,
        Err(e) => {
            problems.push(problem(
                at,
                format!(
                    "{}; e.g. shadow = {{ upstream = \"https://legacy.example.com/Token\", answer = \"legacy\" }} (answer: legacy or gateway)",
                    e.message().trim()
                ),
            ));
            return None;
        }
    };
    let url = raw.upstream.trim();
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    let host_ok = url
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
        .is_some_and(|host| !host.is_empty());
    if !scheme_ok || !host_ok || url.contains('#') || url.contains('?') {
        problems.push(problem(
            format!("{at}.upstream"),
            format!(
                "{url:?} is not an http:// or https:// URL of the legacy endpoint (no query or fragment: the client's query is sent on)"
            ),
        ));
        return None;
    }
    Some(RouteShadow {
        upstream: url.to_owned(),
        answer: raw.answer,
    })
}
