//! `/metrics`: Prometheus text (the `metrics` facade, rendered by `metrics-exporter-prometheus`)
//! on the routes' listener. What is counted:
//!
//! - `tokengate_requests_total{route,dialect,grant,outcome}`: every token request; `outcome` is
//!   `granted` (a token issued) or the error row's name, so refresh reuse detections are
//!   `outcome="refresh_token_reused"` and throttle refusals `outcome="throttled"`;
//! - `tokengate_request_duration_seconds{route}`: a histogram of the same requests' latency;
//! - `tokengate_endpoint_requests_total{endpoint,status}`: introspection, revocation, JWKS and
//!   discovery;
//! - `tokengate_password_queue_depth` and `tokengate_password_queue_wait_seconds`: the hash
//!   threads' queue (`engine::hasher`);
//! - `tokengate_sessions_started_total{client}` and `tokengate_sessions_refused_total{client}`:
//!   who is filling the store (`engine`);
//! - `tokengate_store_operation_seconds{backend,operation}` and
//!   `tokengate_store_errors_total{backend,operation,error}`: every store call
//!   (`store::instrumented`);
//! - `tokengate_directory_operation_seconds{backend,operation}` and
//!   `tokengate_directory_errors_total{backend,operation}`: a database directory's queries
//!   (`directory::postgres`).
//!
//! The recorder is the process's one global: several gateways in a process (tests) share it.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use dashmap::DashMap;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::dialect::{ErrorKind, TokenRoute};
use crate::domain::GrantType;
use crate::endpoints::Endpoint;

/// Latency buckets, in seconds: a token request takes tens of microseconds without a password
/// and tens of milliseconds to seconds with one (the hash, the queue).
const BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0,
];

fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Another recorder installed first (an embedding program's): its metrics are its own,
        // and this text shows only what this one records, which is then nothing.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed already; /metrics shows nothing");
        } else {
            // Histogram samples wait in the recorder until an upkeep folds them into their
            // buckets, which a scrape does; without one (nobody scrapes) they would pile up,
            // 8 bytes a sample, for ever. So upkeep runs every second whether scraped or not.
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("tokengate-metrics".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!("cannot start the metrics upkeep thread ({e}): histogram samples are folded only when /metrics is scraped");
            }
        }
        handle
    })
}

/// How often histogram samples are folded into their buckets (and their memory freed).
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Installs the recorder (at startup, so that the first requests are counted).
pub fn install() {
    handle();
}

/// The text `/metrics` answers with.
pub fn render() -> String {
    let handle = handle();
    // Histograms are summarised on upkeep; a scrape is the natural time for it.
    handle.run_upkeep();
    handle.render()
}

/// The metric handles of one gateway's routes, in the gateway's route order. A request's
/// counter is found by its grant and outcome in its route's map, so the label strings are made
/// once per combination, not per request.
pub struct RouteMetrics {
    routes: Vec<PerRoute>,
}

/// The `/metrics` answer.
pub fn answer() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(render())
}

struct PerRoute {
    path: String,
    dialect: String,
    requests: DashMap<(Option<GrantType>, Option<ErrorKind>), Counter>,
    duration: Histogram,
}

impl RouteMetrics {
    pub fn new(routes: &[TokenRoute]) -> Self {
        install();
        Self {
            routes: routes
                .iter()
                .map(|route| PerRoute {
                    path: route.path().to_owned(),
                    dialect: route.dialect().to_owned(),
                    requests: DashMap::new(),
                    duration: metrics::histogram!(
                        "tokengate_request_duration_seconds",
                        "route" => route.path().to_owned(),
                    ),
                })
                .collect(),
        }
    }

    /// Counts one token request on the `index`-th route.
    pub fn token_request(
        &self,
        index: usize,
        grant: Option<GrantType>,
        error: Option<ErrorKind>,
        seconds: f64,
    ) {
        let Some(route) = self.routes.get(index) else {
            return;
        };
        route.duration.record(seconds);
        if let Some(counter) = route.requests.get(&(grant, error)) {
            counter.increment(1);
            return;
        }
        let counter = metrics::counter!(
            "tokengate_requests_total",
            "route" => route.path.clone(),
            "dialect" => route.dialect.clone(),
            "grant" => grant.map_or("-", |g| g.as_str()),
            "outcome" => error.map_or("granted", |e| e.as_str()),
        );
        counter.increment(1);
        route.requests.insert((grant, error), counter);
    }
}

/// Counts one request to an RFC endpoint.
pub fn endpoint_request(endpoint: Endpoint, status: u16) {
    let name = match endpoint {
        Endpoint::Introspection => "introspection",
        Endpoint::Revocation => "revocation",
        Endpoint::Jwks => "jwks",
        Endpoint::Discovery => "discovery",
    };
    metrics::counter!(
        "tokengate_endpoint_requests_total",
        "endpoint" => name,
        "status" => status.to_string(),
    )
    .increment(1);
}
