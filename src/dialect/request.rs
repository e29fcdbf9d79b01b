//! Reading a request: the method check, the body through the codec its media type names, the
//! grant parameters, and the canonical [`GrantRequest`] the engine takes. A request the route
//! cannot read is a [`Refusal`]; a grant parameter that is missing or wrong travels inside the
//! request as a [`GrantError`], because Katana-hosted servers authenticate the client first and
//! report parameter errors after.

use std::borrow::Cow;

use super::credentials;
use super::form::Params;
use super::negotiate;
use super::profile::PasswordEncoding;
use super::route::TokenRoute;
use crate::domain::{GrantType, PasswordProof, RefreshToken, Scope, Secret, Sha1Hex};
use crate::engine::{GrantError, GrantKind, GrantRequest, Param};
use crate::wire::{Refusal, WireRequest};

impl TokenRoute {
    /// Reads a request into a canonical grant request.
    pub fn parse(&self, request: &WireRequest<'_>) -> Result<GrantRequest, Refusal> {
        let methods = &self.profile.methods;
        if !methods.is_empty() && !methods.iter().any(|m| m == request.method) {
            return Err(Refusal::MethodNotAllowed(request.method.to_owned()));
        }
        let spec = &self.profile.request;
        let params = self.read_body(request)?;
        let names = &spec.fields;
        let case_sensitive = spec.names_case_sensitive;
        let param = |name: &str| params.get(name, case_sensitive);

        let client = credentials::client_auth(spec, request.headers, &param);
        let grant = match param(&names.grant_type)
            .as_deref()
            .and_then(GrantType::from_wire)
            .filter(|grant| self.knows(*grant))
        {
            None => Err(GrantError::UnsupportedGrantType),
            Some(GrantType::ClientCredentials) => Ok(GrantKind::ClientCredentials),
            Some(GrantType::Password) => match self.windows_principal(request, &param) {
                Ok(Some(principal)) => Ok(GrantKind::Windows { principal }),
                Ok(None) => self.password_grant(
                    param(&names.username).map(Cow::into_owned),
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

    /// Whether the route accepts or refuses `grant` by name; any other is unsupported, whatever
    /// parameters came with it.
    fn knows(&self, grant: GrantType) -> bool {
        self.policy.grants.contains(&grant) || self.policy.refused_grants.contains(&grant)
    }

    /// The body's parameters, read with the codec its media type names. An empty body has none and
    /// needs no codec (Web API binds it to a null model without asking a formatter).
    fn read_body(&self, request: &WireRequest<'_>) -> Result<Params, Refusal> {
        if request.body.is_empty() {
            return Ok(Params::default());
        }
        let max_params = self.profile.request.max_params;
        // A route that reads every body the same way (Katana) never looks at Content-Type.
        if let (1, Some(reader)) = (self.readers.len(), self.readers.get("*")) {
            return reader.read(request.body, None, max_params);
        }
        let content_type = request.headers.get("content-type");
        let (media_type, charset) = match content_type.map(negotiate::media_type_of) {
            Some(Some((media_type, charset))) => (Some(media_type), charset),
            // An unparsable Content-Type is reported as it was sent.
            Some(None) => (content_type.map(|ct| ct.trim().to_owned()), None),
            None => (None, None),
        };
        let reader = media_type
            .as_deref()
            .and_then(|mt| self.readers.get(mt))
            .or_else(|| self.readers.get("*"));
        match reader {
            Some(reader) => reader.read(request.body, charset.as_deref(), max_params),
            None => Err(Refusal::UnsupportedMediaType(media_type)),
        }
    }

    /// `Some(principal)` when the request asks for integrated Windows authentication and a
    /// trusted proxy vouches for the principal; an error when it asks but nobody vouches.
    fn windows_principal<'p>(
        &self,
        request: &WireRequest<'_>,
        param: &dyn Fn(&str) -> Option<Cow<'p, str>>,
    ) -> Result<Option<String>, GrantError> {
        let Some(name) = &self.profile.request.fields.windows_authentication else {
            return Ok(None);
        };
        let wanted = match param(name).as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(GrantError::InvalidFlag {
                    name: name.clone(),
                    value: other.to_owned(),
                });
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
}
