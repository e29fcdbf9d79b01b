//! `TestGateway`: a gateway started inside a Rust test from a config text, on ports the
//! system picks, with the test kit on, and typed access to the kit (the clock, faults, the
//! capture, users, reset) without going through HTTP. It runs on a thread of its own and stops
//! when dropped. Suites in other languages start the binary and use the control API instead
//! (README, "Testing your client against tokengate").

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;

use crate::config::{self, ControlSettings, Source};
use crate::domain::Secret;
use crate::engine::clock::ControlledClock;
use crate::gateway::Gateway;
use crate::http::{Application, Runtime};
use crate::testkit::TestKit;
use crate::testkit::capture::{Exchange, Query};
use crate::testkit::faults::{Fault, FaultError, FaultSpec};

/// Why a test gateway did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the configuration is invalid:\n{0}")]
    Config(#[from] config::ConfigErrors),
    #[error(transparent)]
    Start(#[from] crate::http::StartError),
    #[error("the gateway's thread ended before it was listening")]
    Vanished,
}

/// See the module docs.
pub struct TestGateway {
    base: String,
    control: String,
    token: String,
    gateway: Arc<Gateway>,
    kit: Arc<TestKit>,
    handle: actix_server::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TestGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestGateway")
            .field("base", &self.base)
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

impl TestGateway {
    /// Starts a gateway serving `config` (TOML, as a file would hold; its `[server] bind` and
    /// `[control]` are replaced: both listen on loopback ports the system picks, the control
    /// token is random). Environment overrides are not read.
    pub fn start(config: &str) -> Result<Self, StartError> {
        let mut settings = config::load_with_env(&Source::Text(config.to_owned()), false)?;
        let mut token = [0u8; 24];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut token);
        let token = hex::encode(token);
        settings.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let capture = settings
            .control
            .as_ref()
            .map_or(config::DEFAULT_CAPTURE, |control| control.capture);
        settings.control = Some(ControlSettings {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: Secret::new(token.as_str()),
            capture,
        });
        // A test gateway serves a handful of requests at a time.
        settings.workers = 1;
        let (started, ready) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("tokengate-test-gateway".to_owned())
            .spawn(move || {
                let system = actix_web::rt::System::new();
                system.block_on(async move {
                    match Application::build_embedded(settings, Runtime::default()) {
                        Ok(app) => {
                            let parts = (
                                app.port(),
                                app.control_port(),
                                app.gateway(),
                                app.kit().cloned(),
                                app.handle(),
                            );
                            let _ = started.send(Ok(parts));
                            if let Err(e) = app.run_until_stopped().await {
                                tracing::error!("test gateway stopped: {e}");
                            }
                        }
                        Err(e) => {
                            let _ = started.send(Err(e));
                        }
                    }
                });
            })
            .map_err(crate::http::StartError::Io)?;
        let (port, control_port, gateway, kit, handle) =
            ready.recv().map_err(|_| StartError::Vanished)??;
        let (Some(control_port), Some(kit)) = (control_port, kit) else {
            return Err(StartError::Vanished);
        };
        Ok(Self {
            base: format!("http://127.0.0.1:{port}"),
            control: format!("http://127.0.0.1:{control_port}"),
            token,
            gateway,
            kit,
            handle,
            thread: Some(thread),
        })
    }

    /// The gateway's address, `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `path` on the gateway.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The control API's address, for tests that drive it over HTTP.
    pub fn control_url(&self) -> &str {
        &self.control
    }

    /// The control API's bearer token.
    pub fn control_token(&self) -> &str {
        &self.token
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The gateway's clock: `freeze`, `set`, `advance`, `reset`.
    pub fn clock(&self) -> &ControlledClock {
        &self.kit.clock
    }

    pub fn add_fault(&self, spec: FaultSpec) -> Result<Fault, FaultError> {
        self.kit.faults.add(spec, self.gateway.routes())
    }

    pub fn clear_faults(&self) {
        self.kit.faults.clear();
    }

    /// The exchanges `query` names (`Query::default()`: all), oldest first.
    pub fn exchanges(&self, query: &Query) -> Vec<Exchange> {
        self.kit.capture.query(query)
    }

    /// Adds a user (or replaces the one of its name) from a `[[user]]` item's TOML.
    pub fn put_user(&self, item: &str) -> Result<(), config::ConfigErrors> {
        let item: toml::Value = toml::from_str(item).map_err(|e| {
            config::ConfigErrors(vec![config::Problem {
                key: String::new(),
                message: e.to_string(),
            }])
        })?;
        let directory = self.gateway.engine().directory();
        let known = directory
            .clients()
            .iter()
            .map(|client| client.id.as_str().to_owned())
            .collect();
        let user = config::user_from_toml(item, self.kit.hash_input, known)?;
        directory.users().put_user(user).map(|_| ()).map_err(|e| {
            config::ConfigErrors(vec![config::Problem {
                key: String::new(),
                message: e.to_string(),
            }])
        })
    }

    /// Empties the store, restores the configured clients and users, clears faults and
    /// exchanges.
    pub fn reset(&self) -> Result<(), crate::testkit::ResetError> {
        self.kit.reset(&self.gateway)
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // The stop is a future the server's own system must not wait on from inside.
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(handle.stop(false));
        })
        .join()
        .ok();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
