//! The gateway's own OAuth endpoints, which speak the RFCs rather than a legacy dialect:
//! token introspection (RFC 7662), revocation (RFC 7009) and the JWKS (RFC 7517). Framework-free
//! like the dialects: a [`WireRequest`] in, a [`WireResponse`] out.

use crate::dialect::{basic, form};
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
}

/// Which endpoint a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Introspection,
    Revocation,
    Jwks,
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
        } else {
            None
        }
    }

    /// Answers one request to an endpoint.
    pub async fn handle(
        &self,
        engine: &Engine,
        endpoint: Endpoint,
        request: &WireRequest<'_>,
    ) -> WireResponse {
        match endpoint {
            Endpoint::Jwks => jwks(engine, request),
            Endpoint::Introspection | Endpoint::Revocation => {
                if request.method != "POST" {
                    return error(405, "invalid_request", "use POST", &[("Allow", "POST")]);
                }
                match self.token_call(engine, endpoint, request).await {
                    Ok(response) => response,
                    Err(e) => failure(&e),
                }
            }
        }
    }

    async fn token_call(
        &self,
        engine: &Engine,
        endpoint: Endpoint,
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
        match endpoint {
            Endpoint::Introspection => {
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
            Endpoint::Revocation => {
                engine.revoke(&token, hint, &caller, privileged).await?;
                Ok(ok(Vec::new()))
            }
            Endpoint::Jwks => Ok(jwks(engine, request)),
        }
    }
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
            .str("client_id", &active.client_id)
            .int("exp", active.exp)
            .opt_int("iat", active.iat)
            .opt_str("iss", active.iss.as_deref())
            .opt_str("jti", active.jti.as_deref())
            .opt_int("nbf", active.nbf)
            .opt_str("role", active.role.as_deref())
            .opt_str("scope", active.scope.as_deref())
            .str("sid", &active.sid)
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
