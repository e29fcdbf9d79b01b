//! `[server]`: where the gateway listens, which peers may speak for a client's address
//! (`X-Forwarded-For`), how many threads serve and hash, and how long a stop waits for requests
//! in flight.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;

use super::{Problem, problem};

#[derive(Debug, Deserialize)]
pub(super) struct RawServer {
    #[serde(default = "default_bind")]
    bind: String,
    #[serde(default)]
    workers: usize,
    #[serde(default)]
    hash_workers: usize,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    #[serde(default = "default_shutdown")]
    shutdown_timeout_secs: u64,
    /// The longest a password verification may wait for a hash thread (`"2s"`).
    #[serde(default = "default_hash_queue_wait")]
    hash_queue_wait: String,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            bind: default_bind(),
            workers: 0,
            hash_workers: 0,
            trusted_proxies: Vec::new(),
            shutdown_timeout_secs: default_shutdown(),
            hash_queue_wait: default_hash_queue_wait(),
        }
    }
}

fn default_bind() -> String {
    "127.0.0.1:8080".into()
}

fn default_shutdown() -> u64 {
    10
}

fn default_hash_queue_wait() -> String {
    "2s".into()
}

/// `[server]`, validated; [`super::Settings`] carries these as its own fields.
pub(super) struct Server {
    pub bind: SocketAddr,
    pub workers: usize,
    pub hash_workers: usize,
    pub trusted_proxies: Vec<IpAddr>,
    pub shutdown_timeout_secs: u64,
    pub hash_queue_wait: std::time::Duration,
}

/// `[server]`, or `None` when there is no address to bind; problems are pushed with their key
/// paths.
pub(super) fn validate(raw: &RawServer, problems: &mut Vec<Problem>) -> Option<Server> {
    let bind = raw.bind.parse::<SocketAddr>().map_err(|e| {
        problems.push(problem(
            "server.bind",
            format!("{:?} is not an address:port ({e})", raw.bind),
        ))
    });
    let mut trusted_proxies = Vec::new();
    for (i, proxy) in raw.trusted_proxies.iter().enumerate() {
        match proxy.parse::<IpAddr>() {
            Ok(ip) => trusted_proxies.push(ip),
            Err(_) => problems.push(problem(
                format!("server.trusted_proxies[{i}]"),
                format!("{proxy:?} is not an IP address"),
            )),
        }
    }
    let hash_queue_wait = humantime::parse_duration(&raw.hash_queue_wait)
        .ok()
        .filter(|wait| !wait.is_zero())
        .unwrap_or_else(|| {
            problems.push(problem(
                "server.hash_queue_wait",
                format!(
                    "{:?} is not a duration above zero such as \"2s\"",
                    raw.hash_queue_wait
                ),
            ));
            crate::engine::hasher::DEFAULT_MAX_WAIT
        });
    Some(Server {
        bind: bind.ok()?,
        hash_queue_wait,
        workers: raw.workers,
        hash_workers: raw.hash_workers,
        trusted_proxies,
        shutdown_timeout_secs: raw.shutdown_timeout_secs,
    })
}
