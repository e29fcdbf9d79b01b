//! The actix-web adapter, kept thin: one handler for every path converts the request into a
//! [`WireRequest`] (body read up to the route's limit, peer address resolved), lets the
//! [`Gateway`] answer, and converts the [`WireResponse`] back. Also `/healthz` and `/readyz`, 404 for unknown
//! paths, the request log line, and the server's lifecycle (bind, run, graceful shutdown) with
//! what a connection may hold (the head, body and keep-alive deadlines, the connection cap).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, web};

use crate::config::{ConnectionSettings, Settings, SigningKey, Source};
use crate::dialect::ErrorKind;
use crate::dialect::value::IpText;
use crate::domain::{Secret, StoreError};
use crate::endpoints;
use crate::engine::{Clock, Engine, EngineParts, IdSource, Key, Keyring, OsIds, SystemClock};
use crate::gateway::{Forced, Gateway, Target};
use crate::logging::LineThrottle;
use crate::testkit::TestKit;
use crate::wire::{Headers, Refusal, WireRequest, WireResponse};

mod faulted;
mod live;
mod metrics;
mod request_id;
mod shadowed;
mod tls;
use live::{Live, Reloader};
use request_id::RequestId;

struct ActixHeaders<'a>(&'a HeaderMap);

impl Headers for ActixHeaders<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Injected nondeterminism; tests pass a fixed clock and seeded ids.
#[derive(Clone)]
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
    #[error("cannot open the user directory: {0}")]
    Directory(#[from] crate::config::OpenError),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot start shadowing: {0}")]
    Shadow(#[from] crate::shadow::ShadowError),
}

/// Builds the gateway (engine, store, routes) from validated settings.
pub fn build_gateway(settings: Settings, runtime: Runtime) -> Result<Gateway, StartError> {
    Ok(build(settings, runtime)?.gateway)
}

/// The gateway, and the test kit when `[control]` asks for one: then time is the kit's clock
/// and a memory store is one the kit can empty. `[testing] deterministic` seeds the ids (and so
/// the signing key, when none is configured) and starts the clock frozen.
pub fn build_with_kit(
    settings: Settings,
    runtime: Runtime,
) -> Result<(Gateway, Option<Arc<TestKit>>), StartError> {
    let built = build(settings, runtime)?;
    Ok((built.gateway, built.kit))
}

/// A gateway as built, with what a reload reuses: the store, the runtime, the signing secret
/// drawn when none is configured.
struct Built {
    gateway: Gateway,
    shadows: crate::shadow::Shadows,
    kit: Option<Arc<TestKit>>,
    store: Arc<dyn crate::domain::TokenStore>,
    ephemeral: Option<Secret>,
    runtime: Runtime,
}

fn build(settings: Settings, mut runtime: Runtime) -> Result<Built, StartError> {
    use crate::engine::clock::ControlledClock;
    let testing = settings.testing;
    let clock = if testing.deterministic {
        runtime.ids = Arc::new(crate::engine::SeededIds::new(testing.seed));
        tracing::warn!(
            seed = testing.seed,
            start = %testing.start,
            "deterministic mode: seeded ids, a key derived from the seed, the clock frozen"
        );
        Some(Arc::new(ControlledClock::frozen(testing.start)))
    } else {
        None
    };
    // With `[control]`: the kit's clock, and a memory store it can empty.
    let (store, kit) = match settings.control.clone() {
        None => {
            if let Some(clock) = clock {
                runtime.clock = clock;
            }
            (settings.store.open()?, None)
        }
        Some(control) => {
            let clock = clock.unwrap_or_else(|| Arc::new(ControlledClock::new()));
            runtime.clock = clock.clone();
            let (store, resettable) = match &settings.store.backend {
                crate::store::StoreBackend::Memory { .. } => {
                    let store_settings = settings.store.clone();
                    let resettable = Arc::new(crate::store::resettable::Resettable::new(
                        Box::new(move || store_settings.open()),
                    )?);
                    (
                        resettable.clone() as Arc<dyn crate::domain::TokenStore>,
                        Some(resettable),
                    )
                }
                _ => (settings.store.open()?, None),
            };
            (store, Some((control, clock, resettable)))
        }
    };
    let hash_input = settings.hash_input.directory;
    let ephemeral = ephemeral_secret(&settings, &runtime);
    let shadows = shadows_of(&settings)?;
    let gateway = assemble(settings, runtime.clone(), store.clone(), ephemeral.as_ref())?;
    let kit = kit.map(|(control, clock, resettable)| {
        Arc::new(TestKit::new(
            clock,
            control.capture,
            resettable,
            control.token,
            hash_input,
        ))
    });
    Ok(Built {
        gateway,
        shadows,
        kit,
        store,
        ephemeral,
        runtime,
    })
}

/// The shadowing of a configuration's routes (nothing opened when no route has `shadow`).
fn shadows_of(settings: &Settings) -> Result<crate::shadow::Shadows, StartError> {
    // Its counters are made now: the recorder must be in place first.
    metrics::install();
    Ok(crate::shadow::Shadows::new(
        &settings.shadow.settings,
        &settings.shadow.by_route(&settings.routes),
    )?)
}

/// One line per route a gateway serves: at start, and after a reload.
fn log_routes(gateway: &Gateway) {
    for route in gateway.routes() {
        tracing::info!(
            path = route.path(),
            dialect = route.dialect(),
            description = route.profile().description.as_str(),
            "serving route"
        );
    }
}

/// The signing secret of a configuration without `[signing]` keys: random (or from the seed, in
/// deterministic mode), drawn once per process so that a reload keeps the tokens valid.
fn ephemeral_secret(settings: &Settings, runtime: &Runtime) -> Option<Secret> {
    matches!(settings.signing, SigningKey::Ephemeral).then(|| draw_secret(runtime))
}

fn draw_secret(runtime: &Runtime) -> Secret {
    let mut bytes = [0u8; 32];
    runtime.ids.fill(&mut bytes);
    Secret::new(hex::encode(bytes))
}

/// The gateway over `store`, opened by the caller; `ephemeral` is the secret to sign with when
/// the configuration names no key (a new one is drawn if there is none).
fn assemble(
    settings: Settings,
    runtime: Runtime,
    store: Arc<dyn crate::domain::TokenStore>,
    ephemeral: Option<&Secret>,
) -> Result<Gateway, StartError> {
    // Before any metric handle is made (the store's, below), or it would record nowhere.
    metrics::install();
    let store: Arc<dyn crate::domain::TokenStore> =
        Arc::new(crate::store::instrumented::Instrumented::new(store));
    let keys = match settings.signing {
        SigningKey::Keys(keys) => keys,
        SigningKey::Ephemeral => {
            let secret = ephemeral.cloned().unwrap_or_else(|| draw_secret(&runtime));
            tracing::warn!(
                "no [signing] key configured: using a random one, so tokens will not verify \
                 after a restart or on another instance"
            );
            Keyring::single(Key::hs256(&secret, None)?)
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
    tracing::info!(store = %settings.store.describe(), "store opened");
    let hash_workers = match settings.hash_workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let users = settings.users.open(&settings.directory)?;
    tracing::info!(directory = %settings.users.describe(), "user directory ready");
    let engine = Engine::new(EngineParts {
        users,
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
        katana: settings.katana,
        route_katanas: settings
            .routes
            .iter()
            .filter_map(|route| route.policy().katana.clone())
            .collect(),
    })?;
    Ok(Gateway::new(
        Arc::new(engine),
        settings.routes,
        settings.endpoints,
        settings.trusted_proxies,
    ))
}

/// Adds the gateway's one handler to an actix `App` (also used in-process by tests), with the
/// default body deadline and request ids.
pub fn configure(gateway: Arc<Gateway>) -> impl FnOnce(&mut web::ServiceConfig) {
    configure_with(gateway, HandlerSettings::default(), None)
}

/// What the handler does beyond the gateway's routes.
#[derive(Debug, Clone, Copy)]
pub struct HandlerSettings {
    /// The time a request's body may take to arrive after its head.
    pub body_timeout: Duration,
    /// `[log] echo_request_id`.
    pub echo_request_id: bool,
}

impl Default for HandlerSettings {
    fn default() -> Self {
        Self {
            body_timeout: ConnectionSettings::default().body_timeout,
            echo_request_id: false,
        }
    }
}

/// [`configure`], with `settings`, and the test kit when there is one.
pub fn configure_with(
    gateway: Arc<Gateway>,
    settings: HandlerSettings,
    kit: Option<Arc<TestKit>>,
) -> impl FnOnce(&mut web::ServiceConfig) {
    configure_live(Arc::new(Live::new(gateway, Arc::default())), settings, kit)
}

/// [`configure_with`] over the gateway a reload may replace.
fn configure_live(
    live: Arc<Live>,
    settings: HandlerSettings,
    kit: Option<Arc<TestKit>>,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::from(live)).app_data(settings);
        if let Some(kit) = kit {
            cfg.app_data(web::Data::from(kit));
        }
        cfg.default_service(web::to(handle));
    }
}

async fn handle(
    request: HttpRequest,
    payload: web::Payload,
    live: web::Data<Live>,
) -> HttpResponse {
    let started = Instant::now();
    // This request's configuration, to its end, whatever a reload does meanwhile.
    let snapshot = live.load();
    let (gateway, route_metrics) = (&*snapshot.gateway, &snapshot.metrics);
    let path = request.path();
    if path == HEALTH_PATH {
        return health(gateway, Probe::Health, live.is_draining()).await;
    }
    if path == READY_PATH {
        return health(gateway, Probe::Ready, live.is_draining()).await;
    }
    if gateway.endpoints().metrics_path.as_deref() == Some(path) {
        return metrics::answer();
    }
    let Some(target) = gateway.target(path) else {
        if let Some(suppressed) = NO_ROUTE_LINES.admit() {
            let suppressed = (suppressed > 0).then_some(suppressed);
            tracing::info!(path, status = 404, suppressed, "no route");
        }
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
    let settings = request
        .app_data::<HandlerSettings>()
        .copied()
        .unwrap_or_default();
    let body = read_body(&headers, payload, limit, settings.body_timeout).await;
    let from_trusted_proxy = gateway.is_trusted_proxy(socket_peer);
    let request_id = RequestId::of(headers.get(request_id::HEADER), from_trusted_proxy);
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
            let index = gateway.routes().iter().position(|r| std::ptr::eq(r, route));
            let shadow = index.and_then(|index| snapshot.shadows.route(index));
            match (shadow, index, &body) {
                (Some(shadow), Some(index), Ok(body))
                    if shadow.shadow.answer == crate::shadow::AnswerSide::Legacy =>
                {
                    shadowed::legacy_answers(
                        shadow,
                        &snapshot.gateway,
                        index,
                        &request,
                        body,
                        peer,
                        from_trusted_proxy,
                        request_id.as_str(),
                        started,
                    )
                    .await
                }
                _ => {
                    let kit = request.app_data::<web::Data<TestKit>>();
                    let intercept = kit.map(|kit| &***kit as &dyn crate::gateway::Intercept);
                    let (response, outcome) = match &body {
                        Ok(body) => {
                            gateway
                                .handle(
                                    route,
                                    &wire(&request, &headers, peer, from_trusted_proxy, body),
                                    intercept,
                                )
                                .await
                        }
                        Err(refusal) => gateway.refuse(route, &headers, refusal.clone()),
                    };
                    if let (Some(shadow), Ok(body)) = (shadow, &body) {
                        shadowed::compare_later(
                            shadow,
                            shadowed::outgoing(&request, body, peer, shadow),
                            &response,
                        );
                    }
                    let forced = kit.map(|kit| {
                        // The copy of the headers is made only for a capture that keeps it.
                        if kit.capture.enabled() {
                            kit.capture.record(
                                crate::testkit::capture::Seen {
                                    route: route.path(),
                                    method: request.method().as_str(),
                                    path: request.path(),
                                    headers: owned_headers(&request),
                                    body: body.as_deref().unwrap_or_default(),
                                    at: gateway.engine().now(),
                                },
                                &response,
                                &outcome,
                            );
                        }
                        outcome
                            .intercepted
                            .as_ref()
                            .and_then(|seen| seen.fired.as_ref())
                            .map(|fired| fired.action.clone())
                    });
                    if let Some(index) = index {
                        route_metrics.token_request(
                            index,
                            outcome.grant,
                            outcome.error,
                            started.elapsed().as_secs_f64(),
                        );
                    }
                    log_token_request(
                        route,
                        request.method().as_str(),
                        peer,
                        &request_id,
                        &outcome,
                        response.status,
                        started,
                    );
                    match forced.flatten() {
                        Some(Forced::Delay(delay)) => actix_web::rt::time::sleep(delay).await,
                        Some(Forced::Drop) => return faulted::dropped(),
                        Some(Forced::SlowBody(over)) => {
                            return faulted::slow(to_actix(response), over);
                        }
                        _ => {}
                    }
                    response
                }
            }
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
            metrics::endpoint_request(endpoint, response.status);
            tracing::info!(
                endpoint = ?endpoint,
                method = %request.method(),
                peer = %IpText::new(peer),
                request_id = request_id.as_str(),
                status = response.status,
                latency_us = started.elapsed().as_micros() as u64,
                "endpoint request"
            );
            response
        }
    };
    let mut answer = to_actix(response);
    if settings.echo_request_id
        && let Ok(value) = HeaderValue::from_str(request_id.as_str())
    {
        answer
            .headers_mut()
            .insert(HeaderName::from_static(request_id::HEADER), value);
    }
    if body.is_err() {
        // Whatever of the body is still unread would be taken for the next request's head.
        answer
            .head_mut()
            .set_connection_type(actix_http::ConnectionType::Close);
    }
    answer
}

/// A request's headers as owned pairs, for what outlives the request (the capture, a shadow
/// task).
fn owned_headers(request: &HttpRequest) -> Vec<(String, String)> {
    request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Lines a second for each kind of request refused as sent, and for unknown paths: each of those
/// costs a client nothing to repeat, so none may cost the log more than this.
const REFUSED_LINES_PER_SECOND: u32 = 20;

static NO_ROUTE_LINES: LineThrottle = LineThrottle::new(REFUSED_LINES_PER_SECOND);

/// The throttle for an outcome's log line: one per kind of refusal of the request as sent, none
/// for the grant's outcomes (each of those cost the client a credential check, and are counted).
fn line_throttle(kind: Option<ErrorKind>) -> Option<&'static LineThrottle> {
    const REFUSALS: [ErrorKind; 7] = [
        ErrorKind::MalformedBody,
        ErrorKind::BodyTooLarge,
        ErrorKind::BodyTimeout,
        ErrorKind::UnsupportedMediaType,
        ErrorKind::MissingContentType,
        ErrorKind::MethodNotAllowed,
        ErrorKind::NotAcceptable,
    ];
    static THROTTLES: [LineThrottle; REFUSALS.len()] =
        [const { LineThrottle::new(REFUSED_LINES_PER_SECOND) }; REFUSALS.len()];
    let kind = kind?;
    REFUSALS
        .iter()
        .position(|refusal| *refusal == kind)
        .map(|at| &THROTTLES[at])
}

fn log_token_request(
    route: &crate::dialect::TokenRoute,
    method: &str,
    peer: std::net::IpAddr,
    request_id: &RequestId,
    outcome: &crate::gateway::Outcome,
    status: u16,
    started: Instant,
) {
    let suppressed = match line_throttle(outcome.error).map(LineThrottle::admit) {
        None => None,
        Some(None) => return,
        Some(Some(0)) => None,
        Some(Some(suppressed)) => Some(suppressed),
    };
    tracing::info!(
        route = route.path(),
        dialect = route.dialect(),
        method,
        peer = %IpText::new(peer),
        request_id = request_id.as_str(),
        grant = outcome.grant.map_or("-", |g| g.as_str()),
        outcome = outcome.error.map_or("granted", |e| e.as_str()),
        diagnosis = outcome.diagnosis.as_deref(),
        status,
        latency_us = started.elapsed().as_micros() as u64,
        suppressed,
        "token request"
    );
}

/// `{"error":"not_found"}`, from the one JSON writer.
fn not_found_body() -> Vec<u8> {
    let mut body = Vec::with_capacity(24);
    crate::json::object(&mut body, |o| {
        o.str("error", "not_found");
    });
    body
}

/// Whether the request declares a body longer than `limit`.
fn declared_too_large(headers: &dyn Headers, limit: usize) -> bool {
    headers
        .get("content-length")
        .and_then(|len| len.trim().parse::<u64>().ok())
        .is_some_and(|len| len > limit as u64)
}

/// Reads the body up to `limit` bytes, within `deadline` of the head. A declared length over the
/// limit is refused without reading; the connection then closes, which is what a client sending
/// megabytes deserves.
async fn read_body(
    headers: &ActixHeaders<'_>,
    payload: web::Payload,
    limit: usize,
    deadline: Duration,
) -> Result<web::Bytes, Refusal> {
    if declared_too_large(headers, limit) {
        return Err(Refusal::BodyTooLarge { limit });
    }
    match actix_web::rt::time::timeout(deadline, payload.to_bytes_limited(limit)).await {
        Err(_) => Err(Refusal::BodyTimeout(deadline)),
        Ok(Ok(Ok(body))) => Ok(body),
        // The decoder's own cap on a chunked body is still a body too large.
        Ok(Ok(Err(e)))
            if matches!(
                e.as_error::<actix_web::error::PayloadError>(),
                Some(actix_web::error::PayloadError::Overflow)
            ) =>
        {
            Err(Refusal::BodyTooLarge { limit })
        }
        // The stream failed: a broken chunk, a truncated body, a client that went away.
        Ok(Ok(Err(e))) => Err(Refusal::malformed(Unreadable(e.to_string()))),
        // More bytes arrived than the limit (a chunked body declares no length).
        Ok(Err(_)) => Err(Refusal::BodyTooLarge { limit }),
    }
}

/// The `Expect: 100-continue` step, run by the HTTP layer before it tells the client to send
/// the body: a declared length over the route's limit is answered there, so the body is never
/// sent (RFC 9110 §10.1.1: a server may answer with a final status instead of 100).
async fn expect(
    live: Arc<Live>,
    request: actix_http::Request,
) -> Result<actix_http::Request, EarlyAnswer> {
    use actix_http::HttpMessage as _;
    let started = Instant::now();
    let snapshot = live.load();
    let gateway = &*snapshot.gateway;
    let Some(target) = gateway.target(request.path()) else {
        return Ok(request);
    };
    let limit = match target {
        Target::Token(route) => route.body_limit(),
        Target::Endpoint(_) => endpoints::BODY_LIMIT,
    };
    let headers = ActixHeaders(request.headers());
    if !declared_too_large(&headers, limit) {
        return Ok(request);
    }
    let refusal = Refusal::BodyTooLarge { limit };
    let response = match target {
        Target::Token(route) => {
            let socket_peer = request
                .peer_addr()
                .map_or(std::net::Ipv4Addr::LOCALHOST.into(), |addr| addr.ip());
            let peer = gateway.resolve_peer(socket_peer, headers.get("x-forwarded-for"));
            let request_id = RequestId::of(
                headers.get(request_id::HEADER),
                gateway.is_trusted_proxy(socket_peer),
            );
            let (response, outcome) = gateway.refuse(route, &headers, refusal);
            log_token_request(
                route,
                request.method().as_str(),
                peer,
                &request_id,
                &outcome,
                response.status,
                started,
            );
            response
        }
        Target::Endpoint(endpoint) => {
            let response = endpoints::refused(&refusal);
            tracing::info!(
                endpoint = ?endpoint,
                method = %request.method(),
                status = response.status,
                "endpoint request refused before its body"
            );
            response
        }
    };
    let mut answer = to_actix(response);
    answer
        .head_mut()
        .set_connection_type(actix_http::ConnectionType::Close);
    Err(EarlyAnswer(answer.into()))
}

/// An answer given before the handler runs (see [`expect`]).
struct EarlyAnswer(actix_http::Response<actix_web::body::BoxBody>);

impl From<EarlyAnswer> for actix_http::Response<actix_web::body::BoxBody> {
    fn from(answer: EarlyAnswer) -> Self {
        answer.0
    }
}

/// A body the connection did not deliver whole (a broken chunk, a client that went away). The
/// text of actix's error is kept: the error itself is not `Send`.
#[derive(Debug, thiserror::Error)]
#[error("the body could not be read: {0}")]
struct Unreadable(String);

/// The liveness check: answers 200 while the store answers, and says in its body how full the
/// store is and whether the user directory answers (`degraded` when it does not: refresh and
/// client_credentials grants still work).
pub const HEALTH_PATH: &str = "/healthz";
/// The readiness check: the same body, and 503 also when the store is full or the user
/// directory does not answer, so a load balancer stops sending sign-ins to a gateway that
/// would refuse them.
pub const READY_PATH: &str = "/readyz";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Health,
    Ready,
}

/// `draining`: a stop has begun; the load balancer should send nothing new (`/readyz` 503).
async fn health(gateway: &Gateway, probe: Probe, draining: bool) -> HttpResponse {
    use crate::domain::Fill;
    let store = gateway.engine().store_kind();
    let health = gateway.engine().store_health().await;
    if let Err(e) = &health {
        tracing::warn!(store, error = %crate::logging::Chain(e), "health check: store unavailable");
    }
    // Read only from a store that answers; a failure to read it is the store unavailable too.
    let usage = match &health {
        Ok(()) => gateway.engine().store_usage().await,
        Err(e) => Err(e.clone()),
    };
    if let (Ok(()), Err(e)) = (&health, &usage) {
        tracing::warn!(store, error = %crate::logging::Chain(e), "health check: store usage unavailable");
    }
    let available = usage.is_ok();
    let usage = usage.unwrap_or_default();
    let fill = usage.fill();
    let users = gateway.engine().users();
    let directory = users.health().await;
    if let Err(e) = &directory {
        tracing::warn!(directory = users.kind(), error = %crate::logging::Chain(e), "health check: user directory unavailable");
    }
    let status = match (available, fill, directory.is_ok()) {
        _ if draining => "draining",
        (false, _, _) => "unavailable",
        (true, Fill::Full, _) => "full",
        (true, _, false) => "degraded",
        (true, _, true) => "ok",
    };
    let as_int = |n: Option<u64>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let mut body = Vec::with_capacity(160);
    crate::json::object(&mut body, |o| {
        o.str("status", status).object("store", |o| {
            o.str("kind", store)
                .str("status", if available { "ok" } else { "unavailable" });
            if available {
                o.str("fill", fill.as_str());
                // `null` where the backend does not count: unknown, not zero.
                for (name, value) in [
                    ("entries", usage.entries),
                    ("max_entries", usage.max_entries),
                    ("tombstones", usage.tombstones),
                    ("max_tombstones", usage.max_tombstones),
                ] {
                    match as_int(value) {
                        Some(n) => o.int(name, n),
                        None => o.null(name),
                    };
                }
                o.str("tombstone_fill", usage.tombstone_fill().as_str());
            }
        });
        o.object("directory", |o| {
            let stats = users.stats();
            let as_int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            o.str("kind", users.kind())
                .str(
                    "status",
                    if directory.is_ok() {
                        "ok"
                    } else {
                        "unavailable"
                    },
                )
                .int("cache_hits", as_int(stats.hits))
                .int("queries", as_int(stats.queries))
                .int("stale_answers", as_int(stats.stale))
                .int("upgrades", as_int(stats.upgrades));
        });
    });
    let refused = !available
        || (probe == Probe::Ready && (draining || fill == Fill::Full || directory.is_err()));
    let mut answer = if refused {
        let mut unavailable = HttpResponse::ServiceUnavailable();
        unavailable.insert_header(("Retry-After", "1"));
        unavailable
    } else {
        HttpResponse::Ok()
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
    /// The test kit's control listener's port, with `[control]`.
    control_port: Option<u16>,
    server: actix_server::Server,
    /// `None` for an embedded server, which its owner stops through [`Application::handle`].
    signals: Option<Signals>,
    live: Arc<Live>,
    kit: Option<Arc<TestKit>>,
    /// What SIGHUP reads the configuration again with ([`Application::build_reloadable`]).
    reloader: Option<Reloader>,
    /// With `[server.tls]`: the certificate SIGHUP reloads.
    tls: Option<Arc<tls::Certificates>>,
}

/// SIGINT and SIGTERM, registered when the application is built: once the listening line is
/// logged, a signal always means a graceful stop, never the default abrupt termination.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

/// What a signal asks of the server.
enum Signalled {
    Stop(&'static str),
    Reload,
}

impl Signals {
    fn register() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> Signalled {
        tokio::select! {
            _ = self.interrupt.recv() => Signalled::Stop("SIGINT"),
            _ = self.terminate.recv() => Signalled::Stop("SIGTERM"),
            _ = self.hangup.recv() => Signalled::Reload,
        }
    }
}

/// How many connections the server holds at once, split over its workers (actix counts them per
/// worker, so the total is the per-worker figure times the workers: never more than asked,
/// unless fewer were asked than there are workers, each of which serves at least one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCap {
    pub workers: usize,
    pub per_worker: usize,
}

impl ConnectionCap {
    pub fn new(max_connections: usize, workers: usize) -> Self {
        let workers = workers.max(1);
        Self {
            workers,
            per_worker: (max_connections / workers).max(1),
        }
    }

    pub fn total(&self) -> usize {
        self.workers * self.per_worker
    }
}

/// The connection cap when neither the configuration nor the caller derives one from the
/// file-descriptor limit: a typical default soft limit (1024) less a reserve.
pub const FALLBACK_MAX_CONNECTIONS: usize = 1024 - FD_RESERVE;

/// Descriptors kept for everything that is not a client connection: the listener, each worker's
/// event loop, the store's files or Redis connections, the log, the password threads.
pub const FD_RESERVE: usize = 128;

/// The connection cap a file-descriptor limit allows: the limit less [`FD_RESERVE`], or half a
/// limit too small to spare the reserve.
pub fn max_connections_for(fd_limit: u64) -> usize {
    let limit = usize::try_from(fd_limit).unwrap_or(usize::MAX);
    if limit > 2 * FD_RESERVE {
        limit - FD_RESERVE
    } else {
        (limit / 2).max(1)
    }
}

impl Application {
    /// Binds the listener first, so `bind = "127.0.0.1:0"` works and the port is known.
    pub fn build(settings: Settings, runtime: Runtime) -> Result<Self, StartError> {
        Self::build_with(settings, runtime, true, None)
    }

    /// [`Application::build`] for `tokengate serve`: SIGHUP also reads `source` again and, when
    /// it is valid, serves new requests with it (see [`live`]).
    pub fn build_reloadable(
        settings: Settings,
        runtime: Runtime,
        source: Source,
    ) -> Result<Self, StartError> {
        Self::build_with(settings, runtime, true, Some(source))
    }

    /// [`Application::build`] for a server inside another program (a test): no signal
    /// handlers, which would outlive it and take SIGINT and SIGTERM from the whole process.
    pub fn build_embedded(settings: Settings, runtime: Runtime) -> Result<Self, StartError> {
        Self::build_with(settings, runtime, false, None)
    }

    fn build_with(
        settings: Settings,
        runtime: Runtime,
        with_signals: bool,
        source: Option<Source>,
    ) -> Result<Self, StartError> {
        use actix_service::{IntoServiceFactory as _, ServiceFactoryExt as _};
        let addr = settings.bind;
        let workers = match settings.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let shutdown = settings.shutdown_timeout_secs;
        let connections = settings.connections;
        let tls = settings.tls.clone();
        let handler = HandlerSettings {
            body_timeout: connections.body_timeout,
            echo_request_id: settings.log.echo_request_id,
        };
        let cap = ConnectionCap::new(
            connections
                .max_connections
                .unwrap_or(FALLBACK_MAX_CONNECTIONS),
            workers,
        );
        let listener =
            TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source })?;
        let local = listener.local_addr()?;
        let port = local.port();
        let control = settings.control.clone();
        let control_listener = match &control {
            Some(control) => {
                let listener =
                    TcpListener::bind(control.bind).map_err(|source| StartError::Bind {
                        addr: control.bind,
                        source,
                    })?;
                Some(listener)
            }
            None => None,
        };
        let fixed = live::Fixed::of(&settings);
        let deterministic = settings.testing.deterministic;
        // What the control API's GET /shadow reads, when a route is shadowed.
        let shadow_log = settings.shadow.routes.iter().any(Option::is_some).then(|| {
            let shadow = &settings.shadow.settings;
            (shadow.log.clone(), shadow.log_keep)
        });
        let built = build(settings, runtime)?;
        let kit = built.kit;
        let gateway = Arc::new(built.gateway);
        let live = Arc::new(Live::new(gateway.clone(), Arc::new(built.shadows)));
        // The test kit's state belongs to the gateway it started with, and a deterministic
        // run's to its seed: those reload by a restart.
        let reloader = match source {
            Some(source) if kit.is_none() && !deterministic => Some(Reloader::new(
                source,
                built.runtime,
                built.store,
                built.ephemeral,
                fixed,
            )),
            _ => None,
        };
        let kit_kept = kit.clone();
        let control_port = match (&control_listener, &kit) {
            (Some(listener), Some(kit)) => {
                let at = listener.local_addr()?;
                tracing::warn!(
                    address = %at,
                    capture = kit.capture.enabled(),
                    "test-kit control API listening: the clock, faults and users of this \
                     gateway can be changed by whoever holds the control token"
                );
                Some(at.port())
            }
            _ => None,
        };
        log_routes(&gateway);
        tracing::info!(
            max_connections = cap.total(),
            workers = cap.workers,
            per_worker = cap.per_worker,
            body_timeout = %humantime::format_duration(connections.body_timeout),
            header_timeout = %humantime::format_duration(connections.header_timeout),
            keep_alive = %humantime::format_duration(connections.keep_alive),
            "connection limits"
        );
        let signals = if with_signals {
            Some(Signals::register()?)
        } else {
            None
        };
        // A macro, not a closure: the HTTP/1 service's type names its transport (a TCP
        // stream, or a TLS stream over one), so each listener builds its own.
        macro_rules! service {
            ($live:expr, $kit:expr) => {{
                let live = $live.clone();
                let kit = $kit.clone();
                let app = App::new()
                    .configure(configure_live(live.clone(), handler, kit.clone()))
                    .into_factory()
                    .map_err(|e: actix_web::Error| e.error_response());
                actix_http::HttpService::build()
                    .keep_alive(actix_http::KeepAlive::Timeout(connections.keep_alive))
                    .client_request_timeout(connections.header_timeout)
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .local_addr(local)
                    .expect(actix_service::fn_service(move |request| {
                        expect(live.clone(), request)
                    }))
                    .h1(actix_service::map_config(app, |_| {
                        actix_web::dev::AppConfig::default()
                    }))
            }};
        }
        let server = actix_server::Server::build()
            .workers(cap.workers)
            .max_concurrent_connections(cap.per_worker)
            .shutdown_timeout(shutdown)
            .disable_signals();
        let tls_off = tls.is_none();
        let (server, tls) = match tls {
            None => (
                {
                    let (live, kit) = (live.clone(), kit.clone());
                    server.listen("tokengate", listener, move || service!(live, kit).tcp())?
                },
                None,
            ),
            Some(settings) => {
                let certificates = Arc::new(tls::Certificates::new(settings));
                let config = tls::server_config(certificates.clone())?;
                tracing::info!(
                    cert_file = %certificates.cert_file().display(),
                    "serving HTTPS; SIGHUP reloads the certificate"
                );
                let (live, kit) = (live.clone(), kit.clone());
                let server = server.listen("tokengate", listener, move || {
                    service!(live, kit).rustls_0_23(config.clone())
                })?;
                (server, Some(certificates))
            }
        };
        let server = match (control_listener, kit) {
            (Some(listener), Some(kit)) => {
                let control = Arc::new(crate::testkit::api::Control {
                    kit,
                    gateway: gateway.clone(),
                    gateway_addr: tls_off.then_some(local),
                    shadow_log,
                });
                server.listen("tokengate-control", listener, move || {
                    let app = App::new()
                        .configure(crate::testkit::api::configure(control.clone()))
                        .into_factory()
                        .map_err(|e: actix_web::Error| e.error_response());
                    actix_http::HttpService::build()
                        .keep_alive(actix_http::KeepAlive::Timeout(connections.keep_alive))
                        .client_request_timeout(connections.header_timeout)
                        .local_addr(local)
                        .h1(actix_service::map_config(app, |_| {
                            actix_web::dev::AppConfig::default()
                        }))
                        .tcp()
                })?
            }
            _ => server,
        };
        Ok(Self {
            port,
            control_port,
            server: server.run(),
            signals,
            live,
            kit: kit_kept,
            reloader,
            tls,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn control_port(&self) -> Option<u16> {
        self.control_port
    }

    /// The gateway new requests are served by (a reload replaces it).
    pub fn gateway(&self) -> Arc<Gateway> {
        self.live.load().gateway.clone()
    }

    /// The test kit, with `[control]`.
    pub fn kit(&self) -> Option<&Arc<TestKit>> {
        self.kit.as_ref()
    }

    /// Stops the server from outside (an embedding test), as a signal would.
    pub fn handle(&self) -> actix_server::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT or SIGTERM, then finishes requests in flight (up to the configured
    /// shutdown timeout) and returns. SIGHUP reloads the configuration (when built reloadable)
    /// and the TLS certificate, if any.
    pub async fn run_until_stopped(self) -> Result<(), std::io::Error> {
        let Self {
            server,
            signals,
            tls,
            live,
            reloader,
            ..
        } = self;
        let Some(mut signals) = signals else {
            return server.await;
        };
        let handle = server.handle();
        let mut server = std::pin::pin!(server);
        loop {
            tokio::select! {
                result = &mut server => return result,
                signalled = signals.next() => match signalled {
                    Signalled::Reload => {
                        match &reloader {
                            Some(reloader) => reloader.reload(&live),
                            None => tracing::info!("SIGHUP: the configuration is not reloaded (the embedded demo, [control], or a deterministic run)"),
                        }
                        if let Some(certificates) = &tls {
                            certificates.reload();
                        }
                    }
                    Signalled::Stop(signal) => {
                        tracing::info!(signal, "stopping: finishing requests in flight; /readyz answers 503");
                        live.drain();
                        // The stop completes only while the server future is polled: run it
                        // beside.
                        actix_web::rt::spawn(async move { handle.stop(true).await });
                        break;
                    }
                },
            }
        }
        server.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_never_exceeds_what_was_asked_over_the_workers() {
        assert_eq!(ConnectionCap::new(1000, 3).total(), 999);
        assert_eq!(ConnectionCap::new(1000, 3).per_worker, 333);
        // Each worker serves at least one connection, whatever was asked.
        assert_eq!(ConnectionCap::new(1, 4).per_worker, 1);
        assert_eq!(ConnectionCap::new(10, 0).workers, 1);
    }

    #[test]
    fn the_fd_limit_keeps_a_reserve_for_everything_but_connections() {
        assert_eq!(max_connections_for(20_000), 20_000 - FD_RESERVE);
        assert_eq!(max_connections_for(1024), FALLBACK_MAX_CONNECTIONS);
        assert_eq!(max_connections_for(100), 50);
        assert_eq!(max_connections_for(0), 1);
        assert!(max_connections_for(u64::MAX) > 1 << 30);
    }
}
