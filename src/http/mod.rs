//! The actix-web adapter, kept thin: one handler for every path converts the request into a
//! [`WireRequest`] (body read up to the route's limit, peer address resolved), lets the
//! [`Gateway`] answer, and converts the [`WireResponse`] back. Also `/healthz`, 404 for unknown
//! paths, the request log line, and the server's lifecycle (bind, run, graceful shutdown).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::config::{Settings, SigningKey, StoreSettings};
use crate::dialect::{Headers, WireRequest, WireResponse};
use crate::engine::{
    Clock, Engine, EngineParts, GrantError, IdSource, OsIds, Secret, Signer, SystemClock,
};
use crate::gateway::Gateway;
use crate::store::{MemoryStore, TokenStore};

struct ActixHeaders<'a>(&'a HeaderMap);

impl Headers for ActixHeaders<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Injected nondeterminism; tests pass a fixed clock and seeded ids.
pub struct Runtime {
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
}

impl Default for Runtime {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            ids: Arc::new(OsIds),
        }
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid signing key: {0}")]
    Key(#[from] crate::engine::signer::KeyError),
    #[error("cannot prepare password verification: {0}")]
    Hash(#[from] crate::engine::password::HashError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the gateway (engine, store, routes) from validated settings.
pub fn build_gateway(settings: Settings, runtime: Runtime) -> Result<Gateway, StartError> {
    let secret = match settings.signing {
        SigningKey::Hs256(secret) => secret,
        SigningKey::Ephemeral => {
            let mut bytes = [0u8; 32];
            runtime.ids.fill(&mut bytes);
            tracing::warn!(
                "no [signing] secret configured: using a random one, so tokens will not verify \
                 after a restart or on another instance"
            );
            Secret::new(hex::encode(bytes))
        }
    };
    let store: Arc<dyn TokenStore> = match settings.store {
        StoreSettings::Memory { max_entries } => Arc::new(MemoryStore::new(max_entries)),
    };
    let hash_workers = match settings.hash_workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let engine = Engine::new(EngineParts {
        directory: settings.directory,
        store,
        clock: runtime.clock,
        ids: runtime.ids,
        signer: Signer::hs256(&secret)?,
        hash_workers,
    })?;
    Ok(Gateway::new(
        Arc::new(engine),
        settings.routes,
        settings.trusted_proxies,
    ))
}

/// Adds the gateway's one handler to an actix `App` (also used in-process by tests).
pub fn configure(gateway: Arc<Gateway>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::from(gateway))
            .default_service(web::to(handle));
    }
}

async fn handle(
    request: HttpRequest,
    payload: web::Payload,
    gateway: web::Data<Gateway>,
) -> HttpResponse {
    let started = Instant::now();
    let path = request.path();
    if path == "/healthz" {
        return HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"status":"ok"}"#);
    }
    let Some(route) = gateway.route(path) else {
        tracing::info!(path, status = 404, "no route");
        return HttpResponse::NotFound()
            .content_type("application/json")
            .body(r#"{"error":"not_found"}"#);
    };
    let headers = ActixHeaders(request.headers());
    let socket_peer = request
        .peer_addr()
        .map_or(std::net::Ipv4Addr::LOCALHOST.into(), |addr| addr.ip());
    let peer = gateway.resolve_peer(socket_peer, headers.get("x-forwarded-for"));
    let limit = route.body_limit();
    let declared_too_large = headers
        .get("content-length")
        .and_then(|len| len.trim().parse::<u64>().ok())
        .is_some_and(|len| len > limit as u64);
    let body = if declared_too_large {
        Err(GrantError::BodyTooLarge { limit })
    } else {
        match payload.to_bytes_limited(limit).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(_)) => Err(GrantError::BodyTooLarge { limit }),
            Err(e) => Err(GrantError::MalformedBody(format!(
                "the body could not be read: {e}"
            ))),
        }
    };
    let (response, outcome) = match body {
        Ok(body) => {
            let wire = WireRequest {
                method: request.method().as_str(),
                path,
                headers: &headers,
                peer,
                body: &body,
            };
            gateway.handle(route, &wire).await
        }
        Err(error) => gateway.refuse(route, error),
    };
    tracing::info!(
        route = route.path(),
        dialect = route.dialect(),
        method = %request.method(),
        peer = %peer,
        grant = outcome.grant.map_or("-", |g| g.as_str()),
        outcome = outcome.error.map_or("granted", |e| e.as_str()),
        status = response.status,
        latency_us = started.elapsed().as_micros() as u64,
        "token request"
    );
    to_actix(response)
}

fn to_actix(response: WireResponse) -> HttpResponse {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in &response.headers {
        builder.append_header((name.as_str(), value.as_str()));
    }
    builder.body(response.body)
}

/// A bound, not yet running gateway server.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
}

impl Application {
    /// Binds the listener first, so `bind = "127.0.0.1:0"` works and the port is known.
    pub fn build(settings: Settings, runtime: Runtime) -> Result<Self, StartError> {
        let addr = settings.bind;
        let workers = settings.workers;
        let shutdown = settings.shutdown_timeout_secs;
        let listener =
            TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
        let port = listener.local_addr()?.port();
        let gateway = Arc::new(build_gateway(settings, runtime)?);
        for route in gateway.routes() {
            tracing::info!(
                path = route.path(),
                dialect = route.dialect(),
                "serving route"
            );
        }
        let mut server = HttpServer::new(move || App::new().configure(configure(gateway.clone())))
            .shutdown_timeout(shutdown);
        if workers > 0 {
            server = server.workers(workers);
        }
        let server = server.listen(listener)?.run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT or SIGTERM, then finishes requests in flight (up to the configured
    /// shutdown timeout) and returns.
    pub async fn run_until_stopped(self) -> Result<(), std::io::Error> {
        self.server.await
    }
}
