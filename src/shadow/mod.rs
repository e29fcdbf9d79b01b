//! Shadow mode: a route's requests go both to the gateway and to the legacy endpoint it
//! replaces; the client gets one side's answer untouched, and the two answers are compared
//! ([`compare`]), each difference classified, counted in `/metrics` and written to a bounded,
//! rotated log ([`journal`]) that `tokengate shadow report` summarizes. `tokengate diff`
//! replays a recorded transcript ([`transcript`]) against both sides with the same comparison.
//! The other side never delays or breaks the client's answer: it runs in a task of its own,
//! under a timeout and a bound on how many run at once, and is dropped (and counted) beyond it.
//! See docs/shadow.md.

pub mod compare;
pub mod journal;
pub mod transcript;
pub mod upstream;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::wire::WireResponse;

pub use compare::{Class, Difference};
pub use upstream::{Outgoing, Upstream, UpstreamError};

/// Which side's answer the client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerSide {
    /// The legacy server answers; the gateway's answer is only compared (before a cut-over).
    Legacy,
    /// The gateway answers; the legacy server's answer is only compared (after it).
    Gateway,
}

impl AnswerSide {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerSide::Legacy => "legacy",
            AnswerSide::Gateway => "gateway",
        }
    }
}

/// What the upstream hears of `X-Forwarded-For`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardedFor {
    /// The client's header with the client's address appended (as a proxy adds itself).
    #[default]
    Append,
    /// The client's header as sent, or none.
    Keep,
    /// No `X-Forwarded-For` at all.
    Drop,
}

/// A route's `shadow`: the legacy endpoint's URL and which side answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteShadow {
    pub upstream: String,
    pub answer: AnswerSide,
}

/// `[shadow]`: what every shadowed route shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowSettings {
    /// The differences log (JSON lines); rotated files are `LOG.1` (newest) to `LOG.N`.
    pub log: PathBuf,
    /// The size a log file reaches before it is rotated.
    pub log_max_bytes: u64,
    /// How many rotated files are kept besides the current one.
    pub log_keep: usize,
    /// How long an upstream exchange may take, connection included.
    pub timeout: Duration,
    /// How many comparisons may be under way at once; beyond, a request is not shadowed.
    pub max_in_flight: usize,
    /// A CA (PEM) the upstream's certificate may chain to, besides the system roots.
    pub ca_file: Option<PathBuf>,
    pub forwarded_for: ForwardedFor,
    /// Headers compared besides the standard ones ([`compare::COMPARED_HEADERS`]).
    pub compare_headers: Vec<String>,
}

/// The default `[shadow] log` file name, beside the configuration file.
pub const DEFAULT_LOG: &str = "tokengate-shadow.jsonl";

impl ShadowSettings {
    pub fn with_log(log: PathBuf) -> Self {
        Self {
            log,
            log_max_bytes: 16 * 1024 * 1024,
            log_keep: 4,
            timeout: Duration::from_secs(5),
            max_in_flight: 64,
            ca_file: None,
            forwarded_for: ForwardedFor::Append,
            compare_headers: Vec::new(),
        }
    }
}

/// Why shadowing could not start.
#[derive(Debug, thiserror::Error)]
pub enum ShadowError {
    #[error("shadow upstream client: {0}")]
    Client(#[from] UpstreamError),
    #[error("shadow log {path}: {source}")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `tokengate_shadow_exchanges_total{route, result}`: every shadowed request, by what came of
/// it: `same`, `different`, `upstream_failed` (no answer within the timeout, or none at all),
/// `dropped` (too many comparisons under way).
pub const EXCHANGES: &str = "tokengate_shadow_exchanges_total";
/// `tokengate_shadow_differences_total{route, class}`: differences by class.
pub const DIFFERENCES: &str = "tokengate_shadow_differences_total";

/// The shadowing of one route, while a configuration is served.
pub struct RouteRuntime {
    route: String,
    pub shadow: RouteShadow,
    shared: Arc<Shared>,
    /// [`EXCHANGES`] by result, made once rather than per request.
    results: Results,
}

/// The four results of [`EXCHANGES`] for one route.
struct Results {
    same: metrics::Counter,
    different: metrics::Counter,
    upstream_failed: metrics::Counter,
    dropped: metrics::Counter,
}

impl Results {
    fn new(route: &str) -> Self {
        let counter = |result: &'static str| metrics::counter!(EXCHANGES, "route" => route.to_owned(), "result" => result);
        Self {
            same: counter("same"),
            different: counter("different"),
            upstream_failed: counter("upstream_failed"),
            dropped: counter("dropped"),
        }
    }
}

/// What the shadowed routes of one configuration share.
struct Shared {
    upstream: Upstream,
    journal: journal::Journal,
    in_flight: Arc<tokio::sync::Semaphore>,
    compare_headers: Vec<String>,
    forwarded_for: ForwardedFor,
}

/// A slot for one comparison, given back when it is dropped.
pub struct Permit {
    _held: tokio::sync::OwnedSemaphorePermit,
}

/// The shadowing of each route of a configuration, by route index.
#[derive(Default)]
pub struct Shadows {
    routes: Vec<Option<Arc<RouteRuntime>>>,
}

impl Shadows {
    /// `routes[i]` is route i's path and its `shadow`, if any; nothing is opened when no route
    /// has one.
    pub fn new(
        settings: &ShadowSettings,
        routes: &[(String, Option<RouteShadow>)],
    ) -> Result<Self, ShadowError> {
        if routes.iter().all(|(_, shadow)| shadow.is_none()) {
            return Ok(Self::default());
        }
        let shared = Arc::new(Shared {
            upstream: Upstream::new(settings)?,
            journal: journal::Journal::open(
                &settings.log,
                settings.log_max_bytes,
                settings.log_keep,
            )
            .map_err(|source| ShadowError::Log {
                path: settings.log.clone(),
                source,
            })?,
            in_flight: Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight)),
            compare_headers: settings.compare_headers.clone(),
            forwarded_for: settings.forwarded_for,
        });
        let routes = routes
            .iter()
            .map(|(path, shadow)| {
                shadow.as_ref().map(|shadow| {
                    tracing::info!(
                        route = path.as_str(),
                        upstream = shadow.upstream.as_str(),
                        answer = shadow.answer.as_str(),
                        log = %settings.log.display(),
                        "shadowing route"
                    );
                    Arc::new(RouteRuntime {
                        route: path.clone(),
                        shadow: shadow.clone(),
                        shared: shared.clone(),
                        results: Results::new(path),
                    })
                })
            })
            .collect();
        Ok(Self { routes })
    }

    /// Route `index`'s shadowing, if it has one.
    pub fn route(&self, index: usize) -> Option<&Arc<RouteRuntime>> {
        self.routes.get(index)?.as_ref()
    }
}

impl RouteRuntime {
    /// What the upstream hears of `X-Forwarded-For` (`[shadow] forwarded_for`).
    pub fn forwarded_for(&self) -> ForwardedFor {
        self.shared.forwarded_for
    }

    /// A slot for one more comparison, or `None` (counted as `dropped`) when as many as
    /// `max_in_flight` are under way.
    pub fn permit(&self) -> Option<Permit> {
        match self.shared.in_flight.clone().try_acquire_owned() {
            Ok(permit) => Some(Permit { _held: permit }),
            Err(_) => {
                self.results.dropped.increment(1);
                None
            }
        }
    }

    /// Sends the client's request to the legacy endpoint.
    pub async fn forward(&self, request: &Outgoing) -> Result<WireResponse, UpstreamError> {
        let answer = self
            .shared
            .upstream
            .send(&self.shadow.upstream, request)
            .await;
        if let Err(e) = &answer {
            self.results.upstream_failed.increment(1);
            tracing::warn!(route = self.route.as_str(), upstream = self.shadow.upstream.as_str(), error = %e, "shadow: the upstream did not answer");
        }
        answer
    }

    /// Compares the two answers to `request`, counts what differs and logs it.
    pub fn record(&self, request: &Outgoing, legacy: &WireResponse, gateway: &WireResponse) {
        let differences = compare::compare(
            &upstream::decoded(legacy),
            gateway,
            &self.shared.compare_headers,
        );
        if differences.is_empty() {
            self.results.same.increment(1);
            return;
        }
        self.results.different.increment(1);
        for difference in &differences {
            metrics::counter!(DIFFERENCES, "route" => self.route.clone(), "class" => difference.class.as_str())
                .increment(1);
        }
        let entry = journal::Entry::new(
            &self.route,
            request,
            self.shadow.answer,
            [legacy.status, gateway.status],
            differences,
        );
        if let Err(e) = self.shared.journal.append(&entry) {
            tracing::warn!(error = %e, "shadow: the differences log could not be written");
        }
    }
}
