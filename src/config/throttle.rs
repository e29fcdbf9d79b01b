//! `[throttle]`: failed password attempts allowed per (user, address), per address and per user
//! in each window, so that guessing passwords is slow for one account and for one address alike
//! (the model: `engine::throttle`).

use serde::Deserialize;

use crate::engine::throttle::ThrottleSettings;

use super::{Problem, problem};

#[derive(Debug, Deserialize)]
pub(super) struct RawThrottle {
    #[serde(default = "default_failures_per_user_address")]
    failures_per_user_address: u32,
    #[serde(default = "default_failures_per_address")]
    failures_per_address: u32,
    #[serde(default = "default_failures_per_user")]
    failures_per_user: u32,
    #[serde(default = "default_window")]
    window: String,
    #[serde(default = "default_user_delay")]
    user_delay: String,
}

impl Default for RawThrottle {
    fn default() -> Self {
        Self {
            failures_per_user_address: default_failures_per_user_address(),
            failures_per_address: default_failures_per_address(),
            failures_per_user: default_failures_per_user(),
            window: default_window(),
            user_delay: default_user_delay(),
        }
    }
}

fn default_failures_per_user_address() -> u32 {
    ThrottleSettings::default().failures_per_user_address
}

fn default_failures_per_user() -> u32 {
    ThrottleSettings::default().failures_per_user
}

fn default_failures_per_address() -> u32 {
    ThrottleSettings::default().failures_per_address
}

// Text, because they are parsed like one from the file; keep them equal to
// `ThrottleSettings::default()`'s, as the counts above are by construction.
fn default_window() -> String {
    "5m".into()
}

fn default_user_delay() -> String {
    "1s".into()
}

/// `[throttle]`; a window that is not a positive duration, or a delay that is not a duration,
/// is a problem, and the default stands in for it.
pub(super) fn validate(raw: &RawThrottle, problems: &mut Vec<Problem>) -> ThrottleSettings {
    let defaults = ThrottleSettings::default();
    let window = humantime::parse_duration(&raw.window)
        .ok()
        .and_then(|d| chrono::TimeDelta::from_std(d).ok())
        .filter(|d| *d > chrono::TimeDelta::zero())
        .unwrap_or_else(|| {
            problems.push(problem(
                "throttle.window",
                format!("{:?} is not a duration such as \"5m\"", raw.window),
            ));
            defaults.window
        });
    let user_delay = humantime::parse_duration(&raw.user_delay).unwrap_or_else(|_| {
        problems.push(problem(
            "throttle.user_delay",
            format!("{:?} is not a duration such as \"1s\"", raw.user_delay),
        ));
        defaults.user_delay
    });
    ThrottleSettings {
        failures_per_user_address: raw.failures_per_user_address,
        failures_per_address: raw.failures_per_address,
        failures_per_user: raw.failures_per_user,
        window,
        user_delay,
    }
}
