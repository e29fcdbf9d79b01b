//! `[throttle]`: failed password attempts allowed per user and per address in each window, so
//! that guessing passwords is slow for one account and for one address alike.

use serde::Deserialize;

use crate::engine::throttle::ThrottleSettings;

use super::{Problem, problem};

#[derive(Debug, Deserialize)]
pub(super) struct RawThrottle {
    #[serde(default = "default_failures_per_user")]
    failures_per_user: u32,
    #[serde(default = "default_failures_per_address")]
    failures_per_address: u32,
    #[serde(default = "default_window")]
    window: String,
}

impl Default for RawThrottle {
    fn default() -> Self {
        Self {
            failures_per_user: default_failures_per_user(),
            failures_per_address: default_failures_per_address(),
            window: default_window(),
        }
    }
}

fn default_failures_per_user() -> u32 {
    ThrottleSettings::default().failures_per_user
}

fn default_failures_per_address() -> u32 {
    ThrottleSettings::default().failures_per_address
}

// Text, because it is parsed like one from the file; keep it equal to
// `ThrottleSettings::default().window`, as the counts above are by construction.
fn default_window() -> String {
    "5m".into()
}

/// `[throttle]`; a window that is not a positive duration is a problem, and the defaults stand
/// in for it.
pub(super) fn validate(raw: &RawThrottle, problems: &mut Vec<Problem>) -> ThrottleSettings {
    match humantime::parse_duration(&raw.window)
        .ok()
        .and_then(|d| chrono::TimeDelta::from_std(d).ok())
        .filter(|d| *d > chrono::TimeDelta::zero())
    {
        Some(window) => ThrottleSettings {
            failures_per_user: raw.failures_per_user,
            failures_per_address: raw.failures_per_address,
            window,
        },
        None => {
            problems.push(problem(
                "throttle.window",
                format!("{:?} is not a duration such as \"5m\"", raw.window),
            ));
            ThrottleSettings::default()
        }
    }
}
