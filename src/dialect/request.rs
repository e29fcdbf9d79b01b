//! Reading a request: the method check, the body through the codec its media type names, the
//! grant parameters by the names of the body's format, and the canonical [`GrantRequest`] the
//! engine takes. A request the route cannot read is a [`Refusal`]; a grant parameter that is
//! missing or wrong travels inside the request as a [`GrantError`], because Katana-hosted
//! servers authenticate the client first and report parameter errors after.

use std::borrow::Cow;

use super::codec::BodyFormat;
use super::credentials;
use super::form::Params;
use super::negotiate;
use super::profile::{ParamKey, PasswordEncoding, RequestFields};
use super::required::own_row;
use super::route::TokenRoute;
use super::value::Echo;
use crate::domain::{GrantType, PasswordProof, RefreshToken, Scope, Secret, Sha1Hex};
use crate::engine::{GrantError, GrantKind, GrantRequest};
use crate::wire::{Refusal, WireRequest};

/// A request as read: what the engine needs, and the parameters as sent for a body that
/// echoes them (empty unless the route's profile uses a `request.*` value).
#[derive(Debug)]
pub struct Parsed {
    /// The canonical grant request.
    pub request: GrantRequest,
    /// The parameters as sent.
    pub echo: Echo,
}

impl TokenRoute {
    /// Reads a request into a canonical grant request.
    pub fn parse(&self, request: &WireRequest<'_>) -> Result<Parsed, Refusal> {
        let methods = &self.profile.methods;
        if !methods.is_empty() && !methods.iter().any(|m| m == request.method) {
            return Err(Refusal::MethodNotAllowed(request.method.to_owned()));
        }
        let spec = &self.profile.request;
        let (params, format) = self.read_body(request)?;
        let names = self.names(format);
        let case_sensitive = spec.names_case_sensitive;
        let param = |name: &str| params.get(name, case_sensitive);

        let client = credentials::client_auth(spec, names, request.headers, &param);
        let sent_grant = param(&names.grant_type);
        let grant_type = match sent_grant.as_deref() {
            None => self.profile.default_grant,
            Some(sent) => GrantType::from_wire(sent),
        }
        .filter(|grant| self.knows(*grant));
        let grant = match grant_type {
            None => Err(GrantError::UnsupportedGrantType),
            Some(grant) => self.grant_kind(grant, request, names, &param),
        };
        let sent_scope = param(&names.scope);
        let scope = sent_scope
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(Scope::new);
        let echo = if self.echoes {
            Echo {
                grant_type: sent_grant.map(Cow::into_owned),
                client_id: client.id.as_ref().map(|id| id.to_string()),
                username: param(&names.username).map(Cow::into_owned),
                scope: sent_scope.map(Cow::into_owned),
            }
        } else {
            Echo::default()
        };
        Ok(Parsed {
            request: GrantRequest {
                client,
                grant,
                scope,
                peer: request.peer,
            },
            echo,
        })
    }

    /// The parameter names of a body of `format`.
    fn names(&self, format: BodyFormat) -> &RequestFields {
        match format {
            BodyFormat::Form => &self.profile.request.fields,
            BodyFormat::Json => &self.json_names,
            BodyFormat::Xml => &self.xml_names,
        }
    }

    /// Whether the route accepts or refuses `grant` by name; any other is unsupported, whatever
    /// parameters came with it.
    fn knows(&self, grant: GrantType) -> bool {
        self.policy.grants.contains(&grant) || self.policy.refused_grants.contains(&grant)
    }

    /// The grant's parameters, each required one checked. A Windows sign-in (a trusted proxy
    /// vouching for the principal) needs no user name or password.
    fn grant_kind<'p>(
        &self,
        grant: GrantType,
        request: &WireRequest<'_>,
        names: &RequestFields,
        param: &dyn Fn(&str) -> Option<Cow<'p, str>>,
    ) -> Result<GrantKind, GrantError> {
        if grant == GrantType::Password
            && let Some(principal) = self.windows_principal(request, param)?
        {
            return Ok(GrantKind::Windows { principal });
        }
        for &required in self.required.of(grant) {
            // Present is enough, as Katana asks of a user name; an empty refresh token is none.
            let present = names
                .wire_name(required)
                .and_then(param)
                .is_some_and(|value| required != ParamKey::RefreshToken || !value.is_empty());
            if !present {
                return Err(match own_row(required) {
                    Some(param) => GrantError::MissingParameter(param),
                    None => GrantError::MissingField {
                        name: names
                            .wire_name(required)
                            .unwrap_or(required.as_str())
                            .to_owned(),
                    },
                });
            }
        }
        match grant {
            GrantType::ClientCredentials => Ok(GrantKind::ClientCredentials),
            GrantType::Password => self.password_grant(
                param(&names.username).map(Cow::into_owned),
                param(&names.password).as_deref(),
            ),
            GrantType::RefreshToken => Ok(GrantKind::RefreshToken(RefreshToken::new(
                param(&names.refresh_token)
                    .map(Cow::into_owned)
                    .unwrap_or_default(),
            ))),
        }
    }

    /// The body's parameters, read with the codec its media type names, and the format whose
    /// names they are in. An empty body has none and needs no codec (Web API binds it to a
    /// null model without asking a formatter).
    fn read_body(&self, request: &WireRequest<'_>) -> Result<(Params, BodyFormat), Refusal> {
        if request.body.is_empty() {
            return Ok((Params::default(), BodyFormat::Form));
        }
        let max_params = self.profile.request.max_params;
        // A route that reads every body the same way (Katana) never looks at Content-Type.
        if let (1, Some(reader)) = (self.readers.len(), self.readers.get("*")) {
            return Ok((
                reader.read(request.body, None, max_params)?,
                reader.format(),
            ));
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
            Some(reader) => Ok((
                reader.read(request.body, charset.as_deref(), max_params)?,
                reader.format(),
            )),
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

    /// A password grant; a parameter the route does not require and the client left out is
    /// empty, so the credentials simply do not match.
    fn password_grant(
        &self,
        username: Option<String>,
        password: Option<&str>,
    ) -> Result<GrantKind, GrantError> {
        let username = username.unwrap_or_default();
        let password = password.unwrap_or_default();
        let proof = match self.profile.request.password {
            PasswordEncoding::Plain => PasswordProof::Plain(Secret::new(password)),
            PasswordEncoding::Sha1Hex => PasswordProof::Sha1Hex(
                Sha1Hex::parse(password).map_err(GrantError::InvalidPasswordProof)?,
            ),
        };
        Ok(GrantKind::Password { username, proof })
    }
}
