//! `[log]`: how `serve` writes its log. The text layout is the default (tracing's familiar
//! line); `json` writes one object per line with the same fields, for log pipelines that index
//! fields rather than parse lines. Every request line carries a request id (`X-Request-Id` from a
//! trusted proxy, or a new one), which `echo_request_id` sends back to the client.

use serde::Deserialize;

/// `[log] format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[log]`, validated (every value of its keys is valid once read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct LogSettings {
    #[serde(default)]
    pub format: LogFormat,
    /// Send each request's id back in `X-Request-Id`. Off by default: the legacy endpoints sent
    /// no such header, and the wire is theirs unless a deployment asks.
    #[serde(default)]
    pub echo_request_id: bool,
}
