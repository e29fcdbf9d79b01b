//! The gateway without its HTTP server: the route table, the engine, and peer-address
//! resolution, joined into one framework-free `handle` that the actix adapter (and tests and
//! benches) call with a [`WireRequest`].

use std::net::IpAddr;
use std::sync::Arc;

use crate::dialect::request::Parsed;
use crate::dialect::value::Echo;
use crate::dialect::{ErrorKind, Failure, Rendering, TokenRoute};

/// Nothing echoed: a request refused before it was read.
static NO_ECHO: Echo = Echo {
    grant_type: None,
    client_id: None,
    username: None,
    scope: None,
};
use crate::domain::GrantType;
use crate::endpoints::{Endpoint, EndpointSettings};
use crate::engine::{Engine, GrantKind, GrantRequest};
use crate::wire::{Headers, Refusal, WireRequest, WireResponse};

/// What one token request came to, for the request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub grant: Option<GrantType>,
    pub error: Option<ErrorKind>,
    /// What the request's log line says about a failure beyond its name (never a secret),
    /// whatever the wire said.
    pub diagnosis: Option<String>,
    /// What the test kit saw of the request, when it looks (`[control]`).
    pub intercepted: Option<Box<Interception>>,
}

/// Looks at each parsed token request before the engine does, and may force its answer: the
/// test kit's faults (`crate::testkit`). Gateways without `[control]` have none.
pub trait Intercept: Send + Sync {
    fn intercept(&self, route: &TokenRoute, request: &GrantRequest) -> Interception;
}

/// What an [`Intercept`] made of a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interception {
    /// The grant type, client id and user name the request named, as sent.
    pub tags: RequestTags,
    /// The fault that applied, if one did.
    pub fired: Option<Fired>,
}

/// The request's identifying parameters (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestTags {
    pub grant_type: Option<GrantType>,
    pub client_id: Option<String>,
    pub username: Option<String>,
}

impl RequestTags {
    pub fn of(request: &GrantRequest) -> Self {
        let grant = request.grant.as_ref().ok();
        Self {
            grant_type: grant.map(GrantKind::grant_type),
            client_id: request.client.id.as_ref().map(|id| id.as_str().to_owned()),
            username: match grant {
                Some(GrantKind::Password { username, .. }) => Some(username.clone()),
                Some(GrantKind::Windows { principal }) => Some(principal.clone()),
                _ => None,
            },
        }
    }
}

/// A fault that applied to a request: its id and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub fault: u64,
    pub action: Forced,
}

/// What a fault does to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forced {
    /// The route's own error row, in the dialect's shape, without asking the engine.
    Row { kind: ErrorKind, detail: String },
    /// Exactly this answer.
    Answer(WireResponse),
    /// The normal answer, after a delay.
    Delay(std::time::Duration),
    /// No answer: the connection is closed.
    Drop,
    /// The normal answer, its body sent slowly over the duration.
    SlowBody(std::time::Duration),
}

/// What a request path leads to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Token(&'a TokenRoute),
    Endpoint(Endpoint),
}

/// See the module docs.
pub struct Gateway {
    engine: Arc<Engine>,
    routes: Vec<TokenRoute>,
    endpoints: EndpointSettings,
    trusted_proxies: Vec<IpAddr>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("routes", &self.routes)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    pub fn new(
        engine: Arc<Engine>,
        routes: Vec<TokenRoute>,
        endpoints: EndpointSettings,
        trusted_proxies: Vec<IpAddr>,
    ) -> Self {
        Self {
            engine,
            routes,
            endpoints,
            trusted_proxies,
        }
    }

    pub fn endpoints(&self) -> &EndpointSettings {
        &self.endpoints
    }

    /// The token route or endpoint serving `path`, if any.
    pub fn target(&self, path: &str) -> Option<Target<'_>> {
        if let Some(route) = self.route(path) {
            return Some(Target::Token(route));
        }
        match self.endpoints.endpoint(path) {
            // The JWKS exists only when there are public keys to publish.
            Some(Endpoint::Jwks) if !self.engine.keys().has_public_keys() => None,
            other => other.map(Target::Endpoint),
        }
    }

    /// Handles one request to an RFC endpoint.
    pub async fn handle_endpoint(
        &self,
        endpoint: Endpoint,
        request: &WireRequest<'_>,
    ) -> WireResponse {
        self.endpoints
            .handle(&self.engine, &self.routes, endpoint, request)
            .await
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn routes(&self) -> &[TokenRoute] {
        &self.routes
    }

    /// The route serving `path`, if any.
    pub fn route(&self, path: &str) -> Option<&TokenRoute> {
        self.routes.iter().find(|route| route.matches_path(path))
    }

    /// The caller's address: the socket peer, or, when the peer is a trusted proxy, the
    /// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
    pub fn resolve_peer(&self, socket_peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusted_proxies.contains(&socket_peer) {
            return socket_peer;
        }
        let Some(chain) = forwarded_for else {
            return socket_peer;
        };
        let mut resolved = socket_peer;
        for hop in chain.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    resolved = ip;
                    if !self.trusted_proxies.contains(&ip) {
                        break;
                    }
                }
                // A hop we cannot read ends the chain we can trust.
                Err(_) => break,
            }
        }
        resolved
    }

    /// Handles one token request on `route`, shown first to `intercept` when there is one.
    pub async fn handle(
        &self,
        route: &TokenRoute,
        request: &WireRequest<'_>,
        intercept: Option<&dyn Intercept>,
    ) -> (WireResponse, Outcome) {
        let rendering = match route.rendering(request.headers) {
            Ok(rendering) => rendering,
            Err(fallback) => {
                return self.fail(
                    route,
                    &fallback,
                    None,
                    Refusal::NotAcceptable.into(),
                    &NO_ECHO,
                );
            }
        };
        let Parsed { request, echo } = match route.parse(request) {
            Ok(parsed) => parsed,
            Err(refusal) => return self.fail(route, &rendering, None, refusal.into(), &NO_ECHO),
        };
        let grant_type = request.grant.as_ref().ok().map(|kind| kind.grant_type());
        let interception =
            intercept.map(|intercept| Box::new(intercept.intercept(route, &request)));
        let forced = interception
            .as_ref()
            .and_then(|seen| seen.fired.as_ref())
            .map(|fired| &fired.action);
        let (response, outcome) = match forced {
            Some(Forced::Row { kind, detail }) => (
                route.render_row(*kind, || detail.clone(), &echo, &rendering),
                Outcome {
                    grant: grant_type,
                    error: Some(*kind),
                    diagnosis: Some("forced by a test-kit fault".to_owned()),
                    intercepted: None,
                },
            ),
            Some(Forced::Answer(answer)) => (
                answer.clone(),
                Outcome {
                    grant: grant_type,
                    error: None,
                    diagnosis: Some("forced by a test-kit fault".to_owned()),
                    intercepted: None,
                },
            ),
            _ => match self.engine.grant(request, route.policy()).await {
                Ok(grant) => (
                    route.render_grant(&grant, &echo, &rendering),
                    Outcome {
                        grant: Some(grant.grant_type),
                        error: None,
                        diagnosis: None,
                        intercepted: None,
                    },
                ),
                Err(error) => self.fail(route, &rendering, grant_type, error.into(), &echo),
            },
        };
        (
            response,
            Outcome {
                intercepted: interception,
                ..outcome
            },
        )
    }

    /// The answer for a request refused before the dialect read it (a body over the limit, an
    /// unreadable payload), in the route's own error shape.
    pub fn refuse(
        &self,
        route: &TokenRoute,
        headers: &dyn Headers,
        refusal: Refusal,
    ) -> (WireResponse, Outcome) {
        let rendering = route.rendering(headers).unwrap_or_else(|fallback| fallback);
        self.fail(route, &rendering, None, refusal.into(), &NO_ECHO)
    }

    fn fail(
        &self,
        route: &TokenRoute,
        rendering: &Rendering,
        grant: Option<GrantType>,
        failure: Failure,
        echo: &Echo,
    ) -> (WireResponse, Outcome) {
        if failure.is_fault() {
            tracing::error!(
                route = route.path(),
                cause = %crate::logging::Chain(&failure),
                "token request failed"
            );
        }
        let kind = failure.kind();
        (
            route.render_error(&failure, echo, rendering),
            Outcome {
                grant,
                error: Some(kind),
                diagnosis: failure.diagnosis(),
                intercepted: None,
            },
        )
    }

    /// Whether the socket peer is a configured trusted proxy.
    pub fn is_trusted_proxy(&self, socket_peer: IpAddr) -> bool {
        self.trusted_proxies.contains(&socket_peer)
    }
}
