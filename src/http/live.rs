//! The gateway being served, swapped whole when SIGHUP reloads the configuration (and whether
//! the server is draining for a stop): a request
//! takes the snapshot current when it arrives and finishes on it, so a reload changes no request
//! midway and drops none. What a snapshot cannot change (the listener, the store, the test kit)
//! stays with the process; [`Reloader`] says which keys those are when a reload changes them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;

use super::Runtime;
use super::metrics::RouteMetrics;
use crate::config::{self, ConnectionSettings, LogSettings, Settings, Source};
use crate::domain::{Secret, TokenStore};
use crate::gateway::Gateway;
use crate::shadow::Shadows;

/// A gateway, the metric handles of its routes and their shadowing, replaced together.
pub struct Snapshot {
    pub gateway: Arc<Gateway>,
    pub metrics: RouteMetrics,
    pub shadows: Arc<Shadows>,
}

impl Snapshot {
    fn new(gateway: Arc<Gateway>, shadows: Arc<Shadows>) -> Self {
        let metrics = RouteMetrics::new(gateway.routes());
        Self {
            gateway,
            metrics,
            shadows,
        }
    }
}

/// See the module docs.
pub struct Live {
    current: ArcSwap<Snapshot>,
    /// Set when a stop begins: `/readyz` answers 503 while requests in flight finish.
    draining: AtomicBool,
}

impl Live {
    pub fn new(gateway: Arc<Gateway>, shadows: Arc<Shadows>) -> Self {
        Self {
            current: ArcSwap::from_pointee(Snapshot::new(gateway, shadows)),
            draining: AtomicBool::new(false),
        }
    }

    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The snapshot a request runs on, to the end.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    fn replace(&self, gateway: Arc<Gateway>, shadows: Arc<Shadows>) {
        self.current
            .store(Arc::new(Snapshot::new(gateway, shadows)));
    }
}

/// What a SIGHUP needs to build the next gateway: where the configuration came from, and what
/// the running process keeps whatever the file now says.
pub struct Reloader {
    source: Source,
    runtime: Runtime,
    /// The store opened at start: its tokens outlive every reload.
    store: Arc<dyn TokenStore>,
    /// The signing secret drawn at start when no `[signing]` key is configured, so that a reload
    /// does not void every token issued so far.
    ephemeral: Option<Secret>,
    /// The settings the process started with, to name what a reload cannot change.
    fixed: Fixed,
}

/// The keys a running process cannot change, as they were at start.
pub(super) struct Fixed {
    bind: std::net::SocketAddr,
    workers: usize,
    store: String,
    connections: ConnectionSettings,
    tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    log: LogSettings,
    shutdown_timeout_secs: u64,
}

impl Fixed {
    pub(super) fn of(settings: &Settings) -> Self {
        Self {
            bind: settings.bind,
            workers: settings.workers,
            store: settings.store.describe(),
            connections: settings.connections,
            tls: settings
                .tls
                .as_ref()
                .map(|tls| (tls.cert_file.clone(), tls.key_file.clone())),
            log: settings.log,
            shutdown_timeout_secs: settings.shutdown_timeout_secs,
        }
    }

    /// The sections whose change waits for a restart.
    fn differences(&self, next: &Fixed) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.bind != next.bind {
            keys.push("server.bind");
        }
        if self.workers != next.workers {
            keys.push("server.workers");
        }
        // `serve` derives an unset max_connections from the open-files limit at start.
        let (running, read) = (self.connections, next.connections);
        if (
            running.body_timeout,
            running.header_timeout,
            running.keep_alive,
        ) != (read.body_timeout, read.header_timeout, read.keep_alive)
            || read
                .max_connections
                .is_some_and(|n| Some(n) != running.max_connections)
        {
            keys.push("server connection limits");
        }
        if self.tls != next.tls {
            keys.push("server.tls files");
        }
        if self.store != next.store {
            keys.push("[store]");
        }
        if self.log != next.log {
            keys.push("[log]");
        }
        if self.shutdown_timeout_secs != next.shutdown_timeout_secs {
            keys.push("server.shutdown_timeout_secs");
        }
        keys
    }
}

impl Reloader {
    pub(super) fn new(
        source: Source,
        runtime: Runtime,
        store: Arc<dyn TokenStore>,
        ephemeral: Option<Secret>,
        fixed: Fixed,
    ) -> Self {
        Self {
            source,
            runtime,
            store,
            ephemeral,
            fixed,
        }
    }

    /// Reads the configuration again and, when it is valid, serves new requests with it. An
    /// invalid one is refused with every problem logged, and the running one is kept.
    pub fn reload(&self, live: &Live) {
        let settings = match config::load(&self.source) {
            Ok(settings) => settings,
            Err(errors) => {
                for problem in &errors.0 {
                    tracing::error!(problem = %problem, "SIGHUP: configuration problem");
                }
                tracing::error!(
                    problems = errors.0.len(),
                    "SIGHUP: configuration not reloaded; the running one is kept"
                );
                return;
            }
        };
        if settings.control.is_some() || settings.testing.deterministic {
            // The test kit's clock, faults and changed users belong to the gateway it started
            // with; a kit's user restarts the process instead.
            tracing::error!(
                "SIGHUP: not reloaded: a configuration with [control] or [testing] deterministic is reloaded by a restart"
            );
            return;
        }
        let kept = self.fixed.differences(&Fixed::of(&settings));
        let shadows = match super::shadows_of(&settings) {
            Ok(shadows) => Arc::new(shadows),
            Err(e) => {
                tracing::error!(error = %crate::logging::Chain(&e), "SIGHUP: configuration not reloaded; the running one is kept");
                return;
            }
        };
        match super::assemble(
            settings,
            self.runtime.clone(),
            self.store.clone(),
            self.ephemeral.as_ref(),
        ) {
            Ok(gateway) => {
                super::log_routes(&gateway);
                let routes = gateway.routes().len();
                live.replace(Arc::new(gateway), shadows);
                if !kept.is_empty() {
                    tracing::warn!(
                        unchanged = kept.join(", "),
                        "SIGHUP: these changed in the file but take effect only at a restart"
                    );
                }
                tracing::info!(
                    routes,
                    "SIGHUP: configuration reloaded; new requests use it, requests in flight finish on the old one"
                );
            }
            Err(e) => {
                tracing::error!(error = %crate::logging::Chain(&e), "SIGHUP: configuration not reloaded; the running one is kept");
            }
        }
    }
}
