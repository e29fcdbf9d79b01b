//! `[server]`: where the gateway listens, which peers may speak for a client's address
//! (`X-Forwarded-For`), how many threads serve and hash, how long a stop waits for requests
//! in flight, and what a connection may hold: the deadlines for its head, its body and its idle
//! keep-alive, and how many connections are served at once; `[server.tls]` (`tls`) for HTTPS.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

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
    #[serde(default)]
    body_timeout: Option<String>,
    #[serde(default)]
    header_timeout: Option<String>,
    #[serde(default)]
    keep_alive: Option<String>,
    #[serde(default)]
    max_connections: Option<usize>,
    /// The longest a password verification may wait for a hash thread (`"2s"`).
    #[serde(default)]
    hash_queue_wait: Option<String>,
    /// `[server.tls]`: serve HTTPS on `bind`.
    #[serde(default)]
    tls: Option<super::tls::RawTls>,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            bind: default_bind(),
            workers: 0,
            hash_workers: 0,
            trusted_proxies: Vec::new(),
            shutdown_timeout_secs: default_shutdown(),
            body_timeout: None,
            header_timeout: None,
            keep_alive: None,
            max_connections: None,
            hash_queue_wait: None,
            tls: None,
        }
    }
}

fn default_bind() -> String {
    "127.0.0.1:8080".into()
}

fn default_shutdown() -> u64 {
    10
}

/// `[server]`, validated; [`super::Settings`] carries these as its own fields.
pub(super) struct Server {
    pub bind: SocketAddr,
    pub workers: usize,
    pub hash_workers: usize,
    pub trusted_proxies: Vec<IpAddr>,
    pub shutdown_timeout_secs: u64,
    pub connections: ConnectionSettings,
    pub hash_queue_wait: Duration,
    pub tls: Option<super::tls::TlsSettings>,
}

/// What one connection may hold, and how many are served at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// From the end of the head to the last byte of the body; a body later than this is
    /// answered 408 and the connection closed, so a client that sends headers and then nothing
    /// holds its connection this long, not forever.
    pub body_timeout: Duration,
    /// From accepting the connection (or the end of the previous answer) to the end of the
    /// request head; later is a 408 from the HTTP layer itself.
    pub header_timeout: Duration,
    /// How long an idle kept-alive connection stays open.
    pub keep_alive: Duration,
    /// `None`: `tokengate serve` derives it from the open-files limit (src/main.rs); anything
    /// else building an `http::Application` gets `http::FALLBACK_MAX_CONNECTIONS`.
    pub max_connections: Option<usize>,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            body_timeout: Duration::from_secs(10),
            // actix-web's own defaults: a head takes one round trip, and a client that keeps
            // its connection idle longer reconnects cheaply.
            header_timeout: Duration::from_secs(5),
            keep_alive: Duration::from_secs(5),
            max_connections: None,
        }
    }
}

/// `[server]`, or `None` when there is no address to bind; problems are pushed with their key
/// paths.
pub(super) fn validate(
    raw: &RawServer,
    base: Option<&std::path::Path>,
    problems: &mut Vec<Problem>,
) -> Option<Server> {
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
    let defaults = ConnectionSettings::default();
    let mut duration = |key: &str, text: &Option<String>, default: Duration| match text {
        None => default,
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                problems.push(problem(format!("server.{key}"), "must be more than zero"));
                default
            }
            Err(e) => {
                problems.push(problem(
                    format!("server.{key}"),
                    format!("{text:?} is not a duration ({e}); e.g. \"10s\""),
                ));
                default
            }
        },
    };
    let connections = ConnectionSettings {
        body_timeout: duration("body_timeout", &raw.body_timeout, defaults.body_timeout),
        header_timeout: duration(
            "header_timeout",
            &raw.header_timeout,
            defaults.header_timeout,
        ),
        keep_alive: duration("keep_alive", &raw.keep_alive, defaults.keep_alive),
        max_connections: raw.max_connections,
    };
    let hash_queue_wait = duration(
        "hash_queue_wait",
        &raw.hash_queue_wait,
        crate::engine::hasher::DEFAULT_MAX_WAIT,
    );
    if raw.max_connections == Some(0) {
        problems.push(problem(
            "server.max_connections",
            "must be at least 1 (leave it out to derive it from the file-descriptor limit)",
        ));
    }
    let tls = raw
        .tls
        .as_ref()
        .and_then(|tls| super::tls::validate(tls, base, problems));
    if raw.tls.is_some() && tls.is_none() {
        // Reported: serving plain HTTP in its place would expose what TLS was asked to hide.
        return None;
    }
    Some(Server {
        connections,
        hash_queue_wait,
        tls,
        bind: bind.ok()?,
        workers: raw.workers,
        hash_workers: raw.hash_workers,
        trusted_proxies,
        shutdown_timeout_secs: raw.shutdown_timeout_secs,
    })
}
