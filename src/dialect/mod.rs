//! Dialects: how a legacy token endpoint looked on the wire. A dialect is a profile
//! (`dialects/<name>.toml`, embedded in the binary) that composes the mechanisms of this module:
//! body codecs, client-credential sources, password encodings, value sources, the error table.
//! A [`TokenRoute`] is one profile with a route's overrides applied, compiled once at startup;
//! it turns a [`WireRequest`] into a canonical [`GrantRequest`] and a [`Grant`] or [`GrantError`]
//! back into a [`WireResponse`]. Nothing here knows the web framework or the storage.

pub mod codec;
pub mod form;
pub mod negotiate;
pub mod profile;
pub mod render;
pub mod value;
pub mod xml;

use std::collections::HashMap;

use base64::Engine as _;
use chrono::TimeDelta;

use crate::domain::{ClientId, GrantType, PasswordProof, RefreshToken, Scope, Secret, Sha1Hex};
use crate::engine::{
    ClientAuth, ClientAuthVia, ErrorKind, Grant, GrantError, GrantKind, GrantPolicy, GrantRequest,
    Param,
};
use crate::wire::{Headers, WireRequest, WireResponse};
pub use profile::Profile;
use profile::{CredentialSource, ErrorEntry, PasswordEncoding, ResponseFormat};
use render::{CompiledField, compile_fields};

/// The dialects built into the binary: name, profile source.
pub const BUILTIN: &[(&str, &str)] = &[
    ("vizseek", include_str!("../../dialects/vizseek.toml")),
    ("swagger", include_str!("../../dialects/swagger.toml")),
    ("owin", include_str!("../../dialects/owin.toml")),
];

/// The names of the built-in dialects, for error messages.
pub fn known_dialects() -> String {
    BUILTIN
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The profile source of a built-in dialect.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, source)| *source)
}

/// A problem with a route's profile, with its key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileProblem {
    pub key: String,
    pub message: String,
}

struct CompiledError {
    entry: ErrorEntry,
    fields: Option<Vec<CompiledField>>,
}

/// One route speaking one dialect: see the module docs.
pub struct TokenRoute {
    dialect: String,
    profile: Profile,
    policy: GrantPolicy,
    path_lower: String,
    /// The XML request contract's member names in DataContract order.
    xml_members: Vec<String>,
    fields: Vec<CompiledField>,
    error_fields: Vec<CompiledField>,
    errors: HashMap<ErrorKind, CompiledError>,
    negotiated: NegotiationMemo,
}

impl std::fmt::Debug for TokenRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRoute")
            .field("dialect", &self.dialect)
            .field("path", &self.profile.path)
            .finish_non_exhaustive()
    }
}

fn ttl(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

impl TokenRoute {
    /// Builds a route from a merged profile; returns every problem found.
    pub fn compile(dialect: &str, profile: Profile) -> Result<Self, Vec<ProfileProblem>> {
        let problems: Vec<ProfileProblem> = profile::validate(&profile)
            .into_iter()
            .map(|(key, message)| ProfileProblem { key, message })
            .collect();
        let fields = compile_fields(&profile.response.fields, false);
        let error_fields = compile_fields(&profile.error_response.fields, true);
        let mut errors = HashMap::new();
        for (name, entry) in &profile.errors {
            if let Some(kind) = ErrorKind::from_name(name) {
                let fields = entry.fields.as_ref().map(|f| compile_fields(f, true));
                let fields = match fields {
                    Some(Ok(f)) => Some(f),
                    Some(Err(_)) | None => None,
                };
                errors.insert(
                    kind,
                    CompiledError {
                        entry: entry.clone(),
                        fields,
                    },
                );
            }
        }
        let (Ok(fields), Ok(error_fields)) = (fields, error_fields) else {
            // Already reported by `validate`, with key paths.
            return Err(problems);
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let policy = GrantPolicy {
            grants: profile.grants.clone(),
            refused_grants: profile.refused_grants.clone(),
            require_client_id: profile.require_client_id,
            anonymous_client: profile.anonymous_client.clone().map(ClientId::new),
            access_token_ttl: ttl(profile.access_token_ttl),
            refresh_token_ttl: profile.refresh_token_ttl.map(ttl),
            refresh_for_client_credentials: profile.refresh_for_client_credentials,
            refresh_format: profile.refresh_format,
            single_active_token: profile.single_active_token,
            report_not_before: fields.iter().any(|f| f.source == value::Source::NotBefore),
            issuer: profile.issuer.clone(),
            audience: profile.audience.clone(),
            access_format: profile.access_token_format,
            signing_key: profile.signing_key.clone(),
        };
        Ok(Self {
            dialect: dialect.to_owned(),
            path_lower: profile.path.to_ascii_lowercase(),
            xml_members: codec::member_names(&profile.request),
            profile,
            policy,
            fields,
            error_fields,
            errors,
            negotiated: NegotiationMemo::default(),
        })
    }

    pub fn dialect(&self) -> &str {
        &self.dialect
    }

    pub fn path(&self) -> &str {
        &self.profile.path
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    pub fn policy(&self) -> &GrantPolicy {
        &self.policy
    }

    pub fn body_limit(&self) -> usize {
        self.profile.body_limit
    }

    /// Whether a request path is this route's (exact; case-insensitive unless configured).
    pub fn matches_path(&self, path: &str) -> bool {
        if self.profile.path_case_sensitive {
            path == self.profile.path
        } else {
            path.len() == self.path_lower.len() && path.eq_ignore_ascii_case(&self.path_lower)
        }
    }

    /// Reads a request into a canonical grant request.
    pub fn parse(&self, request: &WireRequest<'_>) -> Result<GrantRequest, GrantError> {
        let methods = &self.profile.methods;
        if !methods.is_empty() && !methods.iter().any(|m| m == request.method) {
            return Err(GrantError::MethodNotAllowed(request.method.to_owned()));
        }
        let spec = &self.profile.request;
        let params = self.read_body(request)?;
        let names = &spec.fields;
        let case_sensitive = spec.names_case_sensitive;
        let param = |name: &str| params.get(name, case_sensitive);

        let client = self.client_auth(request.headers, &param)?;
        let grant = match param(&names.grant_type)
            .as_deref()
            .and_then(GrantType::from_wire)
        {
            None => Err(GrantError::UnsupportedGrantType),
            Some(GrantType::ClientCredentials) => Ok(GrantKind::ClientCredentials),
            Some(GrantType::Password) => match self.windows_principal(request, &param) {
                Ok(Some(principal)) => Ok(GrantKind::Windows { principal }),
                Ok(None) => self.password_grant(
                    param(&names.username).map(|u| u.into_owned()),
                    param(&names.password).as_deref(),
                ),
                Err(e) => Err(e),
            },
            Some(GrantType::RefreshToken) => match param(&names.refresh_token) {
                Some(token) if !token.is_empty() => Ok(GrantKind::RefreshToken(RefreshToken::new(
                    token.into_owned(),
                ))),
                _ => Err(GrantError::MissingParameter(Param::RefreshToken)),
            },
        };
        let scope = param(&names.scope)
            .filter(|s| !s.is_empty())
            .map(|s| Scope::new(s.into_owned()));
        Ok(GrantRequest {
            client,
            grant,
            scope,
            peer: request.peer,
        })
    }

    /// The body by the codec its Content-Type selects. An empty body has no parameters and
    /// needs no codec (Web API binds it to a null model without asking a formatter).
    fn read_body(&self, request: &WireRequest<'_>) -> Result<form::Params, GrantError> {
        if request.body.is_empty() {
            return Ok(form::Params::default());
        }
        let spec = &self.profile.request;
        // A route that reads every body the same way (Katana) never looks at Content-Type.
        if let (1, Some(codec)) = (spec.body.len(), spec.body.get("*")) {
            return self.decode(*codec, request.body, None);
        }
        let content_type = request.headers.get("content-type");
        let (media_type, charset) = match content_type.map(negotiate::media_type_of) {
            Some(Some((media_type, charset))) => (Some(media_type), charset),
            // An unparsable Content-Type is reported as it was sent.
            Some(None) => (content_type.map(|ct| ct.trim().to_owned()), None),
            None => (None, None),
        };
        let codec = media_type
            .as_deref()
            .and_then(|mt| spec.body.get(mt))
            .or_else(|| spec.body.get("*"));
        match codec {
            Some(codec) => self.decode(*codec, request.body, charset.as_deref()),
            None => Err(GrantError::UnsupportedMediaType(media_type)),
        }
    }

    fn decode(
        &self,
        codec: profile::Codec,
        body: &[u8],
        charset: Option<&str>,
    ) -> Result<form::Params, GrantError> {
        let members: Vec<&str> = match codec {
            profile::Codec::DatacontractXml => {
                self.xml_members.iter().map(String::as_str).collect()
            }
            _ => Vec::new(),
        };
        codec::read(codec, body, charset, &self.profile.request, &members)
    }

    /// `Some(principal)` when the request asks for integrated Windows authentication and a
    /// trusted proxy vouches for the principal; an error when it asks but nobody vouches.
    fn windows_principal<'p>(
        &self,
        request: &WireRequest<'_>,
        param: &dyn Fn(&str) -> Option<std::borrow::Cow<'p, str>>,
    ) -> Result<Option<String>, GrantError> {
        let Some(name) = &self.profile.request.fields.windows_authentication else {
            return Ok(None);
        };
        let wanted = match param(name).as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(GrantError::MalformedBody(format!(
                    "{name} must be true, false, 1 or 0, not {other:?}"
                )));
            }
        };
        if !wanted {
            return Ok(None);
        }
        let principal = self
            .profile
            .request
            .windows_principal_header
            .as_deref()
            .filter(|_| request.from_trusted_proxy)
            .and_then(|header| request.headers.get(header))
            .map(str::trim)
            .filter(|p| !p.is_empty());
        principal
            .map(|p| Some(p.to_owned()))
            .ok_or(GrantError::WindowsAuthUnavailable)
    }

    fn password_grant(
        &self,
        username: Option<String>,
        password: Option<&str>,
    ) -> Result<GrantKind, GrantError> {
        let username = username.ok_or(GrantError::MissingParameter(Param::Username))?;
        let password = password.ok_or(GrantError::MissingParameter(Param::Password))?;
        let proof = match self.profile.request.password {
            PasswordEncoding::Plain => PasswordProof::Plain(Secret::new(password)),
            PasswordEncoding::Sha1Hex => PasswordProof::Sha1Hex(
                Sha1Hex::parse(password).map_err(GrantError::InvalidPasswordProof)?,
            ),
        };
        Ok(GrantKind::Password { username, proof })
    }

    fn client_auth<'p>(
        &self,
        headers: &dyn Headers,
        param: &dyn Fn(&str) -> Option<std::borrow::Cow<'p, str>>,
    ) -> Result<ClientAuth, GrantError> {
        let names = &self.profile.request.fields;
        for source in &self.profile.request.client_credentials {
            match source {
                CredentialSource::Basic => {
                    if let Some((id, secret)) = headers.get("authorization").and_then(basic) {
                        return Ok(ClientAuth {
                            id: Some(ClientId::new(id)),
                            secret: Some(Secret::new(secret)),
                            via: ClientAuthVia::BasicHeader,
                        });
                    }
                }
                CredentialSource::Body => {
                    // Katana treats an empty or blank client_id as absent.
                    if let Some(id) = param(&names.client_id).filter(|id| !id.trim().is_empty()) {
                        return Ok(ClientAuth {
                            id: Some(ClientId::new(id.into_owned())),
                            secret: param(&names.client_secret)
                                .map(|s| Secret::new(s.into_owned())),
                            via: ClientAuthVia::Body,
                        });
                    }
                }
            }
        }
        Ok(ClientAuth {
            id: None,
            secret: None,
            via: ClientAuthVia::None,
        })
    }

    /// How this request's answer is written: the fixed JSON of the profile, or Web API's
    /// negotiation over the request's `Accept`, `Accept-Charset` and `Content-Type`. `Err`
    /// carries the JSON fallback to write a 406 with, when the route opts into 406.
    pub fn rendering(&self, headers: &dyn Headers) -> Result<Rendering, Rendering> {
        let spec = &self.profile.response;
        match spec.format {
            ResponseFormat::Json => Ok(Rendering {
                format: negotiate::Format::Json,
                content_type: spec.content_type.clone().unwrap_or_default(),
                utf16: false,
            }),
            ResponseFormat::Negotiate => {
                let no_match = if spec.not_acceptable {
                    negotiate::NoMatch::NotAcceptable
                } else {
                    negotiate::NoMatch::FallBackToJson
                };
                let accept = headers.get("accept");
                let accept_charset = headers.get("accept-charset");
                let content_type = headers.get("content-type");
                self.negotiated
                    .get_or_insert([accept, accept_charset, content_type], || {
                        match negotiate::negotiate(accept, accept_charset, content_type, no_match) {
                            Some(chosen) => Ok(Rendering {
                                format: chosen.format,
                                content_type: chosen.content_type(),
                                utf16: chosen.charset == "utf-16",
                            }),
                            None => Err(Rendering {
                                format: negotiate::Format::Json,
                                content_type: "application/json; charset=utf-8".into(),
                                utf16: false,
                            }),
                        }
                    })
            }
        }
    }

    /// Writes a successful grant.
    pub fn render_grant(&self, grant: &Grant, rendering: &Rendering) -> WireResponse {
        let values = value::GrantValues {
            grant,
            expires_in: self.profile.response.expires_in,
        };
        let xml = self.profile.response.xml.as_ref();
        let body = render::body(rendering.format, xml, &self.fields, |source| {
            values.get(source)
        });
        self.response(200, &[], body, rendering)
    }

    /// Writes an error, as this dialect's error table says.
    pub fn render_error(&self, outcome: &GrantError, rendering: &Rendering) -> WireResponse {
        let kind = outcome.kind();
        let Some(compiled) = self.errors.get(&kind) else {
            // `compile` refuses a profile without a row for every outcome.
            return self.response(500, &[], Vec::new(), rendering);
        };
        let entry = &compiled.entry;
        let values = value::ErrorValues::new(&entry.error, &entry.description, outcome);
        let (fields, xml) = match &compiled.fields {
            Some(fields) => (fields, entry.xml.as_ref()),
            None => (&self.error_fields, self.profile.error_response.xml.as_ref()),
        };
        let body = render::body(rendering.format, xml, fields, |source| values.get(source));
        if entry.headers.iter().any(|(_, v)| v.contains('{')) {
            let detail = outcome.detail();
            let headers: Vec<_> = entry
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.replace("{detail}", &detail)))
                .collect();
            return self.response(entry.status, &headers, body, rendering);
        }
        self.response(entry.status, &entry.headers, body, rendering)
    }

    fn response(
        &self,
        status: u16,
        extra: &[(String, String)],
        body: Vec<u8>,
        rendering: &Rendering,
    ) -> WireResponse {
        let spec = &self.profile.response;
        let mut headers = Vec::with_capacity(1 + spec.headers.len() + extra.len());
        headers.push(("Content-Type".to_owned(), rendering.content_type.clone()));
        headers.extend(spec.headers.iter().cloned());
        headers.extend(extra.iter().cloned());
        let body = if rendering.utf16 {
            render::utf16(&body)
        } else {
            body
        };
        WireResponse {
            status,
            headers,
            body,
        }
    }
}

/// A route's negotiation outcomes by the request headers they depend on. Clients send the same
/// few combinations again and again, and Web API's algorithm costs about 10 000 instructions
/// (callgrind) where a lookup costs a few hundred. Bounded: once full, or for unusually long
/// headers, results are computed and not kept; nothing is evicted, so a client cycling through
/// made-up headers slows only its own requests.
#[derive(Default)]
struct NegotiationMemo(dashmap::DashMap<String, Result<Rendering, Rendering>>);

impl NegotiationMemo {
    const MAX_ENTRIES: usize = 64;
    const MAX_KEY_BYTES: usize = 512;

    fn get_or_insert(
        &self,
        headers: [Option<&str>; 3],
        negotiate: impl FnOnce() -> Result<Rendering, Rendering>,
    ) -> Result<Rendering, Rendering> {
        thread_local! {
            static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        KEY.with_borrow_mut(|key| {
            key.clear();
            // `\n` cannot occur in a header value; `-` and `+` tell absent from empty.
            for value in headers {
                match value {
                    None => key.push('-'),
                    Some(value) => {
                        key.push('+');
                        key.push_str(value);
                    }
                }
                key.push('\n');
            }
            if let Some(known) = self.0.get(key.as_str()) {
                return known.clone();
            }
            let outcome = negotiate();
            if key.len() <= Self::MAX_KEY_BYTES && self.0.len() < Self::MAX_ENTRIES {
                self.0.insert(key.clone(), outcome.clone());
            }
            outcome
        })
    }
}

/// How one answer is written: format, `Content-Type`, and whether the body is UTF-16.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendering {
    pub format: negotiate::Format,
    pub content_type: String,
    pub utf16: bool,
}

/// `Authorization: Basic base64(id:secret)`, UTF-8, split at the first `:` (Katana's
/// `TryGetBasicCredentials`; a header that does not decode is ignored, as there).
pub fn basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    (!id.is_empty()).then(|| (id.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(content_type: &str) -> Result<Rendering, Rendering> {
        Ok(Rendering {
            format: negotiate::Format::Json,
            content_type: content_type.into(),
            utf16: false,
        })
    }

    #[test]
    fn negotiation_outcomes_are_kept_per_header_combination_up_to_a_bound() {
        let memo = NegotiationMemo::default();
        let calls = std::cell::Cell::new(0);
        let ask = |headers: [Option<&str>; 3], answer: &str| {
            memo.get_or_insert(headers, || {
                calls.set(calls.get() + 1);
                json(answer)
            })
        };
        assert_eq!(ask([Some("a/b"), None, None], "first"), json("first"));
        assert_eq!(ask([Some("a/b"), None, None], "second"), json("first"));
        assert_eq!(calls.get(), 1);
        // Absent and empty are different requests, and so are the same values in other headers.
        assert_eq!(ask([Some(""), None, None], "empty"), json("empty"));
        assert_eq!(ask([None, None, None], "absent"), json("absent"));
        assert_eq!(ask([None, Some("a/b"), None], "charset"), json("charset"));
        assert_eq!(calls.get(), 4);
        for i in 0..2 * NegotiationMemo::MAX_ENTRIES {
            assert_eq!(
                ask([Some(&format!("x/{i}")), None, None], "made up"),
                json("made up")
            );
        }
        assert_eq!(memo.0.len(), NegotiationMemo::MAX_ENTRIES);
        // Known combinations are still answered from the memo; new ones are computed each time.
        let before = calls.get();
        assert_eq!(ask([Some("a/b"), None, None], "third"), json("first"));
        assert_eq!(ask([Some("y/1"), None, None], "fresh"), json("fresh"));
        assert_eq!(
            ask([Some("y/1"), None, None], "fresh again"),
            json("fresh again")
        );
        assert_eq!(calls.get(), before + 2);
        let long = "a/".repeat(NegotiationMemo::MAX_KEY_BYTES);
        let small = NegotiationMemo::default();
        assert_eq!(
            small.get_or_insert([Some(&long), None, None], || json("long")),
            json("long")
        );
        assert_eq!(small.0.len(), 0);
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let header = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("id:sec:ret")
        );
        assert_eq!(basic(&header), Some(("id".into(), "sec:ret".into())));
        assert_eq!(basic("Basic !!!"), None);
        assert_eq!(basic("Bearer abc"), None);
    }
}
