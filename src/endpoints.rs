//! The gateway's own OAuth endpoints, which speak the RFCs rather than a legacy dialect:
//! token introspection (RFC 7662), revocation (RFC 7009), the JWKS (RFC 7517) and the
//! authorization server metadata (RFC 8414, served at OpenID Connect discovery's path).
//! Framework-free like the dialects: a [`WireRequest`] in, a [`WireResponse`] out.

use crate::dialect::profile::CredentialSource;
use crate::dialect::{TokenRoute, basic, form};
use crate::domain::{ClientId, Secret};
use crate::engine::{ActiveToken, ClientAuth, ClientAuthVia, EndpointError, Engine, TokenKind};
use crate::wire::{Refusal, WireRequest, WireResponse};

/// Where the endpoints live and who may introspect.
#[derive(Debug, Clone)]
pub struct EndpointSettings {
    /// `None`: not served.
    pub introspection_path: Option<String>,
    pub revocation_path: Option<String>,
    pub jwks_path: Option<String>,
    /// Clients (resource servers) allowed to introspect any token and revoke any token.
    pub introspection_callers: Vec<ClientId>,
    pub discovery: Option<DiscoverySettings>,
    /// `[metrics] path`: Prometheus text, answered by the HTTP layer (which holds the recorder).
    pub metrics_path: Option<String>,
}

/// `[discovery]`: where the metadata document is served and what it says of the gateway.
#[derive(Debug, Clone)]
pub struct DiscoverySettings {
    pub path: String,
    /// The `issuer` member; `None`: the first route's issuer (what its tokens' `iss` say).
    pub issuer: Option<String>,
    /// The scheme and authority the endpoints' URLs start with (`https://login.example.com`);
    /// `None`: taken from the request (see [`base_url`]).
    pub base_url: Option<String>,
}

/// Which endpoint a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Introspection,
    Revocation,
    Jwks,
    Discovery,
}

/// The endpoints that take a token from an authenticated client.
#[derive(Debug, Clone, Copy)]
enum TokenCall {
    Introspection,
    Revocation,
}

/// The largest body these endpoints read (a token and a hint).
pub const BODY_LIMIT: usize = 16 * 1024;

const MAX_PARAMS: usize = 16;

impl EndpointSettings {
    pub fn endpoint(&self, path: &str) -> Option<Endpoint> {
        let is = |p: &Option<String>| p.as_deref() == Some(path);
        if is(&self.introspection_path) {
            Some(Endpoint::Introspection)
        } else if is(&self.revocation_path) {
            Some(Endpoint::Revocation)
        } else if is(&self.jwks_path) {
            Some(Endpoint::Jwks)
        } else if self.discovery.as_ref().is_some_and(|d| d.path == path) {
            Some(Endpoint::Discovery)
        } else {
            None
        }
    }

    /// Answers one request to an endpoint; `routes` are the token routes the discovery
    /// document lists.
    pub async fn handle(
        &self,
        engine: &Engine,
        routes: &[TokenRoute],
        endpoint: Endpoint,
        request: &WireRequest<'_>,
    ) -> WireResponse {
        match endpoint {
            Endpoint::Jwks => jwks(engine, request),
            Endpoint::Discovery => self.discovery(engine, routes, request),
            Endpoint::Introspection | Endpoint::Revocation => {
                if request.method != "POST" {
                    return error(405, "invalid_request", "use POST", &[("Allow", "POST")]);
                }
                let call = match endpoint {
                    Endpoint::Introspection => TokenCall::Introspection,
                    _ => TokenCall::Revocation,
                };
                match self.token_call(engine, call, request).await {
                    Ok(response) => response,
                    Err(e) => failure(&e),
                }
            }
        }
    }

    async fn token_call(
        &self,
        engine: &Engine,
        call: TokenCall,
        request: &WireRequest<'_>,
    ) -> Result<WireResponse, CallError> {
        let params = form::parse(request.body, MAX_PARAMS).map_err(Refusal::malformed)?;
        let auth = caller_auth(request, &params);
        let caller = engine.authenticate_caller(&auth)?;
        let privileged = self.introspection_callers.contains(&caller.id);
        let token = params
            .get("token", true)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Refusal::malformed(MissingToken))?;
        let hint = params
            .get("token_type_hint", true)
            .and_then(|h| TokenKind::from_hint(&h));
        match call {
            TokenCall::Introspection => {
                if !privileged {
                    return Ok(error(
                        403,
                        "unauthorized_client",
                        "this client may not introspect tokens",
                        &[],
                    ));
                }
                let mut body = Vec::with_capacity(512);
                match engine
                    .introspect(&token, hint)
                    .await
                    .map_err(EndpointError::from)?
                {
                    Some(active) => introspection_body(&mut body, &active),
                    None => crate::json::object(&mut body, |o| {
                        o.bool("active", false);
                    }),
                }
                Ok(ok(body))
            }
            TokenCall::Revocation => {
                engine.revoke(&token, hint, &caller, privileged).await?;
                Ok(ok(Vec::new()))
            }
        }
    }

    /// The RFC 8414 metadata of the endpoints that apply to a token gateway (no authorization
    /// endpoint, so no response types and no ID tokens), members in the RFC's order. A gateway
    /// serves several legacy token endpoints but the metadata names one `token_endpoint`: the
    /// first route's; every route is listed in `tokengate_token_endpoints` with its dialect and
    /// grants, a member a client that does not know it ignores (RFC 8414 §3.2).
    fn discovery(
        &self,
        engine: &Engine,
        routes: &[TokenRoute],
        request: &WireRequest<'_>,
    ) -> WireResponse {
        use serde_json::{Map, Value, json};
        if request.method != "GET" && request.method != "HEAD" {
            return error(405, "invalid_request", "use GET", &[("Allow", "GET, HEAD")]);
        }
        let Some(settings) = &self.discovery else {
            return error(404, "not_found", "no discovery document", &[]);
        };
        let base = settings
            .base_url
            .clone()
            .unwrap_or_else(|| base_url(request));
        let url = |path: &str| format!("{}{path}", base.trim_end_matches('/'));
        let issuer = settings
            .issuer
            .clone()
            .or_else(|| routes.first().map(|r| r.policy().issuer.clone()))
            .unwrap_or_default();
        let mut grants: Vec<&str> = Vec::new();
        let mut methods: Vec<&str> = Vec::new();
        for route in routes {
            for grant in &route.policy().grants {
                if !grants.contains(&grant.as_str()) {
                    grants.push(grant.as_str());
                }
            }
            for source in &route.profile().request.client_credentials {
                let method = match source {
                    CredentialSource::Basic => "client_secret_basic",
                    CredentialSource::Body => "client_secret_post",
                    // A header of the dialect's own has no registered method name.
                    CredentialSource::Header { .. } => continue,
                };
                if !methods.contains(&method) {
                    methods.push(method);
                }
            }
            if !route.policy().require_client_id && !methods.contains(&"none") {
                methods.push("none");
            }
        }
        // Introspection and revocation read Basic, then the body (`caller_auth`).
        let caller_methods = ["client_secret_basic", "client_secret_post"];
        let mut doc = Map::new();
        doc.insert("issuer".into(), json!(issuer));
        if let Some(first) = routes.first() {
            doc.insert("token_endpoint".into(), json!(url(first.path())));
        }
        if let Some(path) = &self.jwks_path
            && engine.keys().has_public_keys()
        {
            doc.insert("jwks_uri".into(), json!(url(path)));
        }
        doc.insert("response_types_supported".into(), json!([]));
        doc.insert("grant_types_supported".into(), json!(grants));
        doc.insert(
            "token_endpoint_auth_methods_supported".into(),
            json!(methods),
        );
        if let Some(path) = &self.revocation_path {
            doc.insert("revocation_endpoint".into(), json!(url(path)));
            doc.insert(
                "revocation_endpoint_auth_methods_supported".into(),
                json!(caller_methods),
            );
        }
        if let Some(path) = &self.introspection_path {
            doc.insert("introspection_endpoint".into(), json!(url(path)));
            doc.insert(
                "introspection_endpoint_auth_methods_supported".into(),
                json!(caller_methods),
            );
        }
        let endpoints: Vec<Value> = routes
            .iter()
            .map(|route| {
                json!({
                    "token_endpoint": url(route.path()),
                    "dialect": route.dialect(),
                    "grant_types_supported": route
                        .policy()
                        .grants
                        .iter()
                        .map(|g| g.as_str())
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        doc.insert("tokengate_token_endpoints".into(), Value::Array(endpoints));
        let body = serde_json::to_vec(&Value::Object(doc)).unwrap_or_default();
        // A document made from the request's Host may differ per caller: never shared.
        let cache = if settings.base_url.is_some() {
            "public, max-age=300"
        } else {
            "private, no-cache"
        };
        WireResponse {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Cache-Control".into(), cache.into()),
            ],
            body,
        }
    }
}

/// `scheme://host` of the request as its client addressed it: `X-Forwarded-Proto` and
/// `X-Forwarded-Host` when a trusted proxy sent them, else `http` and the `Host` header (the
/// gateway's own listener is plain HTTP). Set `[discovery] base_url` where clients reach the
/// gateway through a name the request does not carry.
fn base_url(request: &WireRequest<'_>) -> String {
    let forwarded = |name: &str| {
        request
            .from_trusted_proxy
            .then(|| request.headers.get(name))
            .flatten()
            .and_then(|v| v.split(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let scheme = forwarded("x-forwarded-proto").unwrap_or("http");
    let host = forwarded("x-forwarded-host")
        .or_else(|| request.headers.get("host"))
        .unwrap_or("localhost");
    format!("{scheme}://{host}")
}

/// Why an endpoint call got an error answer.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Engine(#[from] EndpointError),
}

/// A call without the `token` parameter (RFC 7662 §2.1, RFC 7009 §2.1: it is required).
#[derive(Debug, thiserror::Error)]
#[error("the token parameter is missing")]
struct MissingToken;

/// Client credentials: Basic (RFC 6749 §2.3.1: form-encoded id and secret) or the body.
fn caller_auth(request: &WireRequest<'_>, params: &form::Params) -> ClientAuth {
    if let Some((id, secret)) = request.headers.get("authorization").and_then(basic) {
        let decode = |s: &str| {
            form::parse(format!("v={s}").as_bytes(), 1)
                .ok()
                .and_then(|p| p.get("v", true).map(|v| v.into_owned()))
        };
        return ClientAuth {
            id: Some(ClientId::new(decode(&id).unwrap_or(id))),
            secret: Some(Secret::new(decode(&secret).unwrap_or(secret))),
            via: ClientAuthVia::BasicHeader,
        };
    }
    match params.get("client_id", true).filter(|id| !id.is_empty()) {
        Some(id) => ClientAuth {
            id: Some(ClientId::new(id.into_owned())),
            secret: params
                .get("client_secret", true)
                .map(|s| Secret::new(s.into_owned())),
            via: ClientAuthVia::Body,
        },
        None => ClientAuth {
            id: None,
            secret: None,
            via: ClientAuthVia::None,
        },
    }
}

/// The RFC 7662 answer for an active token, members in name order (as the answer has always
/// been written).
fn introspection_body(out: &mut Vec<u8>, active: &ActiveToken) {
    let token_type = match active.kind {
        TokenKind::Access => "Bearer",
        TokenKind::Refresh => "refresh_token",
    };
    crate::json::object(out, |o| {
        o.bool("active", true)
            .opt_str("aud", active.aud.as_deref())
            .opt_str("client_id", active.client_id.as_deref())
            .int("exp", active.exp)
            .opt_int("iat", active.iat)
            .opt_str("iss", active.iss.as_deref())
            .opt_str("jti", active.jti.as_deref())
            .opt_int("nbf", active.nbf)
            .opt_str("role", active.role.as_deref())
            .opt_str("scope", active.scope.as_deref())
            .opt_str("sid", active.sid.as_deref())
            .str("sub", &active.sub)
            .str("token_type", token_type)
            .opt_str("username", active.username.as_deref());
    });
}

fn jwks(engine: &Engine, request: &WireRequest<'_>) -> WireResponse {
    if request.method != "GET" && request.method != "HEAD" {
        return error(405, "invalid_request", "use GET", &[("Allow", "GET, HEAD")]);
    }
    let set = engine.keys().jwks(engine.now());
    let body = serde_json::to_vec(&set).unwrap_or_else(|_| b"{\"keys\":[]}".to_vec());
    WireResponse {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            // Short enough that a retired key disappears from caches soon after it is dropped.
            ("Cache-Control".into(), "public, max-age=300".into()),
        ],
        body,
    }
}

fn ok(body: Vec<u8>) -> WireResponse {
    let mut headers = vec![
        ("Cache-Control".to_owned(), "no-store".to_owned()),
        ("Pragma".to_owned(), "no-cache".to_owned()),
    ];
    if !body.is_empty() {
        headers.insert(0, ("Content-Type".into(), "application/json".into()));
    }
    WireResponse {
        status: 200,
        headers,
        body,
    }
}

fn error(status: u16, code: &str, description: &str, extra: &[(&str, &str)]) -> WireResponse {
    let mut headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("Cache-Control".to_owned(), "no-store".to_owned()),
        ("Pragma".to_owned(), "no-cache".to_owned()),
    ];
    headers.extend(
        extra
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    let mut body = Vec::with_capacity(64 + description.len());
    crate::json::object(&mut body, |o| {
        o.str("error", code).str("error_description", description);
    });
    WireResponse {
        status,
        headers,
        body,
    }
}

/// The one place endpoint outcomes become RFC errors. Client authentication failures are 401
/// with a challenge and say nothing about the token.
fn failure(outcome: &CallError) -> WireResponse {
    const CHALLENGE: &[(&str, &str)] = &[("WWW-Authenticate", "Basic realm=\"tokengate\"")];
    match outcome {
        CallError::Engine(EndpointError::Unauthenticated) => error(
            401,
            "invalid_client",
            "client authentication failed",
            CHALLENGE,
        ),
        CallError::Engine(EndpointError::TokenNotOwned) => error(
            400,
            "unauthorized_client",
            "the token was not issued to this client",
            &[],
        ),
        CallError::Engine(EndpointError::Store(cause)) => {
            tracing::error!(cause = %crate::logging::Chain(cause), "introspection or revocation failed");
            error(
                503,
                "temporarily_unavailable",
                "the token service is temporarily unavailable",
                &[("Retry-After", "1")],
            )
        }
        CallError::Refused(refusal) => refused(refusal),
    }
}

/// The answer for an endpoint request refused as sent (a body over the limit or unreadable).
pub fn refused(refusal: &Refusal) -> WireResponse {
    match refusal {
        Refusal::MalformedBody(why) => error(400, "invalid_request", &why.to_string(), &[]),
        Refusal::BodyTooLarge { limit } => error(
            413,
            "invalid_request",
            &format!("the body is larger than {limit} bytes"),
            &[],
        ),
        Refusal::BodyTimeout(after) => error(
            408,
            "invalid_request",
            &format!(
                "the body did not arrive within {}",
                humantime::format_duration(*after)
            ),
            &[],
        ),
        Refusal::MethodNotAllowed(_) => {
            error(405, "invalid_request", "use POST", &[("Allow", "POST")])
        }
        Refusal::UnsupportedMediaType(_) => error(
            415,
            "invalid_request",
            "use application/x-www-form-urlencoded",
            &[],
        ),
        Refusal::NotAcceptable => error(406, "invalid_request", "the answer is JSON", &[]),
    }
}
