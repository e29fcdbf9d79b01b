//! The actix-web adapter, kept thin: one handler for every path converts the request into a
//! [`WireRequest`] (body read up to the route's limit, peer address resolved), lets the
//! [`Gateway`] answer, and converts the [`WireResponse`] back. Also `/healthz`, 404 for unknown
//! paths, the request log line, and the server's lifecycle (bind, run, graceful shutdown).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::config::{Settings, SigningKey};
use crate::dialect::value::IpText;
use crate::domain::{Secret, StoreError};
use crate::endpoints;
use crate::engine::{Clock, Engine, EngineParts, IdSource, Key, Keyring, OsIds, SystemClock};
use crate::gateway::{Gateway, Target};
use crate::wire::{Headers, Refusal, WireRequest, WireResponse};

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
    Key(#[from] crate::engine::keys::KeyError),
    #[error("cannot build the engine: {0}")]
    Engine(#[from] crate::engine::EngineError),
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the gateway (engine, store, routes) from validated settings.
pub fn build_gateway(settings: Settings, runtime: Runtime) -> Result<Gateway, StartError> {
    let keys = match settings.signing {
        SigningKey::Keys(keys) => keys,
        SigningKey::Ephemeral => {
            let mut bytes = [0u8; 32];
            runtime.ids.fill(&mut bytes);
            tracing::warn!(
                "no [signing] key configured: using a random one, so tokens will not verify \
                 after a restart or on another instance"
            );
            Keyring::single(Key::hs256(&Secret::new(hex::encode(bytes)), None)?)
        }
    };
    let policies = || settings.routes.iter().map(|route| route.policy());
    let max_access_ttl = policies()
        .map(|policy| policy.access_token_ttl)
        .max()
        .unwrap_or_default();
    let max_refresh_ttl = policies()
        .filter_map(|policy| policy.refresh_token_ttl)
        .max()
        .unwrap_or_default();
    let mut refresh_groups = Vec::new();
    for policy in policies().filter(|policy| policy.refresh_token_ttl.is_some()) {
        if !refresh_groups.contains(&policy.refresh_group) {
            refresh_groups.push(policy.refresh_group.clone());
        }
    }
    let store = settings.store.open()?;
    tracing::info!(store = %settings.store.describe(), "store opened");
    let hash_workers = match settings.hash_workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let engine = Engine::new(EngineParts {
        directory: settings.directory,
        store,
        clock: runtime.clock,
        ids: runtime.ids,
        keys,
        max_access_ttl,
        max_refresh_ttl,
        refresh_groups,
        throttle: settings.throttle,
        hash_workers,
        hash_queue_wait: settings.hash_queue_wait,
    })?;
    Ok(Gateway::new(
        Arc::new(engine),
        settings.routes,
        settings.endpoints,
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
        return health(&gateway).await;
    }
    let Some(target) = gateway.target(path) else {
        tracing::info!(path, status = 404, "no route");
        return HttpResponse::NotFound()
            .content_type("application/json")
            .body(not_found_body());
    };
    let headers = ActixHeaders(request.headers());
    let socket_peer = request
        .peer_addr()
        .map_or(std::net::Ipv4Addr::LOCALHOST.into(), |addr| addr.ip());
    let peer = gateway.resolve_peer(socket_peer, headers.get("x-forwarded-for"));
    let limit = match target {
        Target::Token(route) => route.body_limit(),
        Target::Endpoint(_) => endpoints::BODY_LIMIT,
    };
    let body = read_body(&headers, payload, limit).await;
    let from_trusted_proxy = gateway.is_trusted_proxy(socket_peer);
    fn wire<'a>(
        request: &'a HttpRequest,
        headers: &'a ActixHeaders<'a>,
        peer: std::net::IpAddr,
        from_trusted_proxy: bool,
        body: &'a [u8],
    ) -> WireRequest<'a> {
        WireRequest {
            method: request.method().as_str(),
            path: request.path(),
            headers,
            peer,
            from_trusted_proxy,
            body,
        }
    }
    let response = match target {
        Target::Token(route) => {
            let (response, outcome) = match &body {
                Ok(body) => {
                    gateway
                        .handle(
                            route,
                            &wire(&request, &headers, peer, from_trusted_proxy, body),
                        )
                        .await
                }
                Err(refusal) => gateway.refuse(route, &headers, refusal.clone()),
            };
            tracing::info!(
                route = route.path(),
                dialect = route.dialect(),
                method = %request.method(),
                peer = %IpText::new(peer),
                grant = outcome.grant.map_or("-", |g| g.as_str()),
                outcome = outcome.error.map_or("granted", |e| e.as_str()),
                diagnosis = outcome.diagnosis.as_deref(),
                status = response.status,
                latency_us = started.elapsed().as_micros() as u64,
                "token request"
            );
            response
        }
        Target::Endpoint(endpoint) => {
            let response = match &body {
                Ok(body) => {
                    gateway
                        .handle_endpoint(
                            endpoint,
                            &wire(&request, &headers, peer, from_trusted_proxy, body),
                        )
                        .await
                }
                Err(refusal) => endpoints::refused(refusal),
            };
            tracing::info!(
                endpoint = ?endpoint,
                method = %request.method(),
                peer = %IpText::new(peer),
                status = response.status,
                latency_us = started.elapsed().as_micros() as u64,
                "endpoint request"
            );
            response
        }
    };
    to_actix(response)
}

/// `{"error":"not_found"}`, from the one JSON writer.
fn not_found_body() -> Vec<u8> {
    let mut body = Vec::with_capacity(24);
    crate::json::object(&mut body, |o| {
        o.str("error", "not_found");
    });
    body
}

/// Reads the body up to `limit` bytes. A declared length over the limit is refused without
/// reading; the connection then closes, which is what a client sending megabytes deserves.
async fn read_body(
    headers: &ActixHeaders<'_>,
    payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, Refusal> {
    let declared_too_large = headers
        .get("content-length")
        .and_then(|len| len.trim().parse::<u64>().ok())
        .is_some_and(|len| len > limit as u64);
    if declared_too_large {
        return Err(Refusal::BodyTooLarge { limit });
    }
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(body)) => Ok(body),
        // The stream failed: a broken chunk, a truncated body, a client that went away.
        Ok(Err(e)) => Err(Refusal::malformed(Unreadable(e.to_string()))),
        // More bytes arrived than the limit (a chunked body declares no length).
        Err(_) => Err(Refusal::BodyTooLarge { limit }),
    }
}

/// A body the connection did not deliver whole (a broken chunk, a client that went away). The
/// text of actix's error is kept: the error itself is not `Send`.
#[derive(Debug, thiserror::Error)]
#[error("the body could not be read: {0}")]
struct Unreadable(String);

async fn health(gateway: &Gateway) -> HttpResponse {
    let store = gateway.engine().store_kind();
    let health = gateway.engine().store_health().await;
    if let Err(e) = &health {
        tracing::warn!(store, error = %crate::logging::Chain(e), "health check: store unavailable");
    }
    let status = if health.is_ok() { "ok" } else { "unavailable" };
    let mut body = Vec::with_capacity(64);
    crate::json::object(&mut body, |o| {
        o.str("status", status).object("store", |o| {
            o.str("kind", store).str("status", status);
        });
    });
    let mut answer = match health {
        Ok(()) => HttpResponse::Ok(),
        Err(_) => {
            let mut unavailable = HttpResponse::ServiceUnavailable();
            unavailable.insert_header(("Retry-After", "1"));
            unavailable
        }
    };
    answer.content_type("application/json").body(body)
}

fn to_actix(response: WireResponse) -> HttpResponse {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut answer = HttpResponse::with_body(status, response.body);
    let headers = answer.headers_mut();
    for (name, value) in response.headers {
        // The value's buffer moves into the header as it is (validated, not copied).
        match (
            header_name(&name),
            HeaderValue::from_maybe_shared(web::Bytes::from(value)),
        ) {
            (Ok(name), Ok(value)) => headers.append(name, value),
            // Profiles are validated at startup; a header that still does not convert is a bug
            // to hear about, not a reason to fail the answer.
            (name, value) => tracing::error!(
                name = ?name.err(),
                value = ?value.err(),
                "response header dropped: not a valid HTTP header"
            ),
        }
    }
    answer.map_into_boxed_body()
}

/// The headers dialects answer with, without parsing their names each time.
fn header_name(name: &str) -> Result<HeaderName, actix_web::http::header::InvalidHeaderName> {
    use actix_web::http::header;
    const KNOWN: [HeaderName; 6] = [
        header::CONTENT_TYPE,
        header::CACHE_CONTROL,
        header::PRAGMA,
        header::EXPIRES,
        header::WWW_AUTHENTICATE,
        header::RETRY_AFTER,
    ];
    match KNOWN
        .iter()
        .find(|known| known.as_str().eq_ignore_ascii_case(name))
    {
        Some(known) => Ok(known.clone()),
        None => HeaderName::try_from(name),
    }
}

/// A bound, not yet running gateway server.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    signals: Signals,
}

/// SIGINT and SIGTERM, registered when the application is built: once the listening line is
/// logged, a signal always means a graceful stop, never the default abrupt termination.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn register() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
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
                description = route.profile().description.as_str(),
                "serving route"
            );
        }
        let signals = Signals::register()?;
        let mut server = HttpServer::new(move || App::new().configure(configure(gateway.clone())))
            .shutdown_timeout(shutdown)
            .disable_signals();
        if workers > 0 {
            server = server.workers(workers);
        }
        let server = server.listen(listener)?.run();
        Ok(Self {
            port,
            server,
            signals,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT or SIGTERM, then finishes requests in flight (up to the configured
    /// shutdown timeout) and returns.
    pub async fn run_until_stopped(self) -> Result<(), std::io::Error> {
        let Self {
            server,
            mut signals,
            ..
        } = self;
        let handle = server.handle();
        let mut server = std::pin::pin!(server);
        tokio::select! {
            result = &mut server => return result,
            signal = signals.next() => {
                tracing::info!(signal, "stopping: finishing requests in flight");
                // The stop completes only while the server future is polled: run it beside.
                actix_web::rt::spawn(async move { handle.stop(true).await });
            }
        }
        server.await
    }
}
