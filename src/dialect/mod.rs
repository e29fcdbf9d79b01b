//! Dialects: how a legacy token endpoint looked on the wire. A dialect is a profile
//! (`dialects/<name>.toml`, embedded in the binary) that composes the mechanisms of this module:
//! body codecs, client-credential sources, password encodings, value sources, the error table.
//! A [`TokenRoute`] is one profile with a route's overrides applied, compiled once at startup;
//! it turns a [`WireRequest`] into a canonical [`GrantRequest`] and a [`Grant`] or [`GrantError`]
//! back into a [`WireResponse`]. Nothing here knows the web framework or the storage.

pub mod form;
pub mod profile;
pub mod render;
pub mod value;

use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine as _;
use chrono::TimeDelta;

use crate::engine::{
    ClientAuth, ClientAuthVia, ClientId, ErrorKind, Grant, GrantError, GrantKind, GrantPolicy,
    GrantRequest, GrantType, Param, PasswordProof, RefreshToken, Scope, Secret, Sha1Hex,
};
pub use profile::Profile;
use profile::{Codec, CredentialSource, ErrorEntry, PasswordEncoding};
use render::{CompiledField, compile_fields};

/// The dialects built into the binary: name, profile source.
pub const BUILTIN: &[(&str, &str)] = &[
    ("vizseek", include_str!("../../dialects/vizseek.toml")),
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

/// Request headers, as whatever HTTP layer holds them.
pub trait Headers: Sync {
    /// The first value of a header, by case-insensitive name.
    fn get(&self, name: &str) -> Option<&str>;
}

impl Headers for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request as the dialect sees it: framework-free.
pub struct WireRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a dyn Headers,
    /// The caller's address, after trusted-proxy resolution.
    pub peer: IpAddr,
    pub body: &'a [u8],
}

/// An answer as the dialect writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
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
    fields: Vec<CompiledField>,
    error_fields: Vec<CompiledField>,
    errors: HashMap<ErrorKind, CompiledError>,
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
            issuer: profile.issuer.clone(),
            audience: profile.audience.clone(),
            access_format: profile.access_token_format,
            signing_key: profile.signing_key.clone(),
        };
        Ok(Self {
            dialect: dialect.to_owned(),
            path_lower: profile.path.to_ascii_lowercase(),
            profile,
            policy,
            fields,
            error_fields,
            errors,
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
        let content_type = request.headers.get("content-type");
        let media_type = content_type.map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        let codec = media_type
            .as_deref()
            .and_then(|mt| spec.body.get(mt))
            .or_else(|| spec.body.get("*"));
        let params = match codec {
            Some(Codec::KatanaForm) => form::parse(request.body, spec.max_params)
                .map_err(|e| GrantError::MalformedBody(e.to_string()))?,
            None => return Err(GrantError::UnsupportedMediaType(media_type)),
        };
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
            Some(GrantType::Password) => self.password_grant(
                param(&names.username).map(|u| u.into_owned()),
                param(&names.password).as_deref(),
            ),
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

    /// Writes a successful grant.
    pub fn render_grant(&self, grant: &Grant) -> WireResponse {
        let values = value::GrantValues {
            grant,
            expires_in: self.profile.response.expires_in,
        };
        let body = render::json(&self.fields, |source| values.get(source));
        self.response(200, &[], body)
    }

    /// Writes an error, as this dialect's error table says.
    pub fn render_error(&self, outcome: &GrantError) -> WireResponse {
        let kind = outcome.kind();
        let Some(compiled) = self.errors.get(&kind) else {
            // `compile` refuses a profile without a row for every outcome.
            return self.response(500, &[], Vec::new());
        };
        let entry = &compiled.entry;
        let values = value::ErrorValues::new(&entry.error, &entry.description, outcome);
        let fields = compiled.fields.as_ref().unwrap_or(&self.error_fields);
        let body = render::json(fields, |source| values.get(source));
        if entry.headers.iter().any(|(_, v)| v.contains('{')) {
            let detail = outcome.detail();
            let headers: Vec<_> = entry
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), v.replace("{detail}", &detail)))
                .collect();
            return self.response(entry.status, &headers, body);
        }
        self.response(entry.status, &entry.headers, body)
    }

    fn response(&self, status: u16, extra: &[(String, String)], body: Vec<u8>) -> WireResponse {
        let spec = &self.profile.response;
        let mut headers = Vec::with_capacity(1 + spec.headers.len() + extra.len());
        headers.push(("Content-Type".to_owned(), spec.content_type.clone()));
        headers.extend(spec.headers.iter().cloned());
        headers.extend(extra.iter().cloned());
        WireResponse {
            status,
            headers,
            body,
        }
    }
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
