//! What a route answers with its error table: the refusals of the wire request and the grant's
//! outcomes, each named by an [`ErrorKind`] (the key of a row, `[errors.<kind>]`). The one
//! mapping from outcome to row is [`Failure::kind`]; which rows a route needs at all follows
//! from its profile ([`producible`]), so a profile writes rows only for outcomes its route can
//! meet and a compiled route has a row for every one it can.

#![deny(missing_docs)]

use crate::engine::{GrantError, Param};
use crate::wire::Refusal;

use super::profile::{ParamKey, PasswordEncoding, Profile, ResponseFormat};
use super::required::Required;
use crate::domain::GrantType;

/// The name of an outcome in a profile's error table. The names, the list and the parsing all
/// come from this one definition.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
    strum::Display,
)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorKind {
    /// No client id was sent and the route requires one.
    MissingClientId,
    /// The client id is not a registered client.
    UnknownClient,
    /// A confidential client's secret is missing or wrong.
    InvalidClientSecret,
    /// `grant_type` is missing or not one the route knows.
    UnsupportedGrantType,
    /// The client (or the route) may not use this grant (`{detail}`: the grant).
    UnauthorizedClient,
    /// A password grant without `username`.
    MissingUsername,
    /// A password grant without `password`.
    MissingPassword,
    /// A refresh grant without `refresh_token`.
    MissingRefreshToken,
    /// A parameter the route requires (`request.required`) beyond the grant's own is missing
    /// (`{detail}`: its name on the wire).
    MissingParameter,
    /// The password is not a SHA-1 hex digest where the route expects one (`{detail}`: why).
    InvalidPasswordProof,
    /// Unknown user, wrong password, or a user who may not use this client.
    AuthenticationFailed,
    /// A scope the client may not have, or a refresh asking for more than its family's
    /// (`{detail}`: the scopes refused, as the client wrote them).
    InvalidScope,
    /// The refresh token is unknown, expired, revoked or superseded.
    InvalidRefreshToken,
    /// A refresh token presented again after use: its whole session is revoked.
    RefreshTokenReused,
    /// Too many failed password attempts (`{detail}`: seconds until the next is allowed).
    Throttled,
    /// The body does not read as its codec says (`{detail}`: why).
    MalformedBody,
    /// The body is over the route's `body_limit` (`{detail}`: the limit in bytes).
    BodyTooLarge,
    /// The body did not arrive within the server's `body_timeout` (`{detail}`: the timeout,
    /// `10s`).
    BodyTimeout,
    /// No codec for the request's media type (`{detail}`: the media type).
    UnsupportedMediaType,
    /// A body without `Content-Type` on a route whose codecs need one.
    MissingContentType,
    /// A method not in the route's `methods` (`{detail}`: the method).
    MethodNotAllowed,
    /// More password verifications waiting than the hash threads finish in time.
    Overloaded,
    /// Nothing the route writes matches the request's `Accept` (only with `not_acceptable`).
    NotAcceptable,
    /// Windows authentication asked for, but no trusted proxy vouched for a principal.
    WindowsAuthUnavailable,
    /// The token store, or a database user directory, cannot answer now.
    StoreUnavailable,
    /// The token store holds as many tokens as it may.
    StoreFull,
    /// The gateway itself failed (signing, the clock, the hash threads); the cause is logged.
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [ErrorKind] = <ErrorKind as strum::VariantArray>::VARIANTS;

    /// The row's name in a profile (`missing_client_id`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The kind a row name names, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        name.parse().ok()
    }

    /// Every row name, for messages.
    pub fn names() -> String {
        Self::ALL
            .iter()
            .map(|kind| kind.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Anything a token route answers from its error table.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    /// The request could not be read as sent.
    Refused(#[from] Refusal),
    #[error(transparent)]
    /// The grant was refused.
    Grant(#[from] GrantError),
}

impl Failure {
    /// The error-table row this outcome is answered with: the one place the mapping lives.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Failure::Refused(refusal) => match refusal {
                Refusal::MalformedBody(_) => ErrorKind::MalformedBody,
                Refusal::BodyTooLarge { .. } => ErrorKind::BodyTooLarge,
                Refusal::BodyTimeout(_) => ErrorKind::BodyTimeout,
                Refusal::UnsupportedMediaType(None) => ErrorKind::MissingContentType,
                Refusal::UnsupportedMediaType(Some(_)) => ErrorKind::UnsupportedMediaType,
                Refusal::MethodNotAllowed(_) => ErrorKind::MethodNotAllowed,
                Refusal::NotAcceptable => ErrorKind::NotAcceptable,
            },
            Failure::Grant(outcome) => match outcome {
                GrantError::MissingClientId => ErrorKind::MissingClientId,
                GrantError::UnknownClient => ErrorKind::UnknownClient,
                GrantError::InvalidClientSecret => ErrorKind::InvalidClientSecret,
                GrantError::UnsupportedGrantType => ErrorKind::UnsupportedGrantType,
                GrantError::UnauthorizedClient(_) => ErrorKind::UnauthorizedClient,
                GrantError::MissingParameter(Param::Username) => ErrorKind::MissingUsername,
                GrantError::MissingParameter(Param::Password) => ErrorKind::MissingPassword,
                GrantError::MissingParameter(Param::RefreshToken) => ErrorKind::MissingRefreshToken,
                GrantError::MissingField { .. } => ErrorKind::MissingParameter,
                // A grant parameter that does not read is a body that does not read.
                GrantError::InvalidFlag { .. } => ErrorKind::MalformedBody,
                GrantError::InvalidPasswordProof(_) => ErrorKind::InvalidPasswordProof,
                GrantError::AuthenticationFailed => ErrorKind::AuthenticationFailed,
                GrantError::InvalidScope { .. } => ErrorKind::InvalidScope,
                GrantError::InvalidRefreshToken => ErrorKind::InvalidRefreshToken,
                GrantError::RefreshTokenReused => ErrorKind::RefreshTokenReused,
                GrantError::Throttled { .. } => ErrorKind::Throttled,
                GrantError::Overloaded => ErrorKind::Overloaded,
                GrantError::WindowsAuthUnavailable => ErrorKind::WindowsAuthUnavailable,
                GrantError::Store(crate::domain::StoreError::Full(_)) => ErrorKind::StoreFull,
                // One outage row: to the client, the user directory is part of the token
                // service's storage.
                GrantError::Store(crate::domain::StoreError::Unavailable { .. })
                | GrantError::Directory(_) => ErrorKind::StoreUnavailable,
                GrantError::Internal(_) => ErrorKind::Internal,
            },
        }
    }

    /// The value of the `{detail}` placeholder: empty where saying more would help an attacker.
    pub fn detail(&self) -> String {
        match self {
            Failure::Refused(refusal) => refusal.detail(),
            Failure::Grant(outcome) => outcome.detail(),
        }
        .unwrap_or_default()
    }

    /// What the log line (and a test kit's capture) says beyond the outcome's name; see
    /// [`GrantError::diagnosis`].
    pub fn diagnosis(&self) -> Option<String> {
        match self {
            Failure::Refused(refusal) => refusal.detail(),
            Failure::Grant(outcome) => outcome.diagnosis(),
        }
    }

    /// Whether the cause belongs in the log at error level: the gateway or its store failed,
    /// not the client. (A full store is a capacity limit, answered and counted, not a fault.)
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            Failure::Grant(
                GrantError::Internal(_)
                    | GrantError::Store(crate::domain::StoreError::Unavailable { .. })
                    | GrantError::Directory(_)
            )
        )
    }
}

/// Every outcome a route compiled from `profile` can answer, each with the profile setting that
/// makes it possible (for the message when its row is missing). `uses_store_markers`: the
/// response shows the not-before marker, which is read from the store on every grant;
/// `required`: the parameters each grant requires.
pub fn producible(
    profile: &Profile,
    uses_store_markers: bool,
    required: &Required,
) -> Vec<(ErrorKind, &'static str)> {
    let known = |grant: GrantType| {
        profile.grants.contains(&grant) || profile.refused_grants.contains(&grant)
    };
    // A parameter's own row is needed when any grant the route knows requires it.
    let requires = |param: ParamKey| {
        GrantType::ALL
            .into_iter()
            .any(|grant| known(grant) && required.of(grant).contains(&param))
    };
    let generic = required.needs_generic_row(GrantType::ALL.into_iter().filter(|g| known(*g)));
    let password = known(GrantType::Password);
    let refresh = known(GrantType::RefreshToken);
    let request = &profile.request;
    let reads_credentials = !request.client_credentials.is_empty();
    let windows = password && request.fields.windows_authentication.is_some();
    let any_media_type = request.body.contains_key("*");
    // Password grants count failures in the store (the throttle).
    let touches_store = refresh
        || password
        || profile.refresh_token_ttl.is_some()
        || profile.single_active_token
        || uses_store_markers
        || profile.access_token_format == crate::engine::AccessFormat::Opaque;
    let password_reason = "the password grant is known";
    let refresh_reason = "the refresh_token grant is known";
    let store_reason = "the route keeps state in the store";
    let credentials_reason = "request.client_credentials names a source";
    let media_reason = "request.body has no \"*\" codec";
    // Exhaustive: a new outcome does not compile until it says when a route can meet it.
    ErrorKind::ALL
        .iter()
        .filter_map(|&kind| {
            let (possible, why) = match kind {
                ErrorKind::MissingClientId => {
                    (profile.require_client_id, "require_client_id is true")
                }
                ErrorKind::UnknownClient | ErrorKind::InvalidClientSecret => {
                    (reads_credentials, credentials_reason)
                }
                ErrorKind::UnsupportedGrantType => (true, "every route reads grant_type"),
                ErrorKind::UnauthorizedClient => (true, "a client may be limited to some grants"),
                ErrorKind::MissingUsername => (
                    requires(ParamKey::Username),
                    "a grant of the route requires username",
                ),
                ErrorKind::MissingPassword => (
                    requires(ParamKey::Password),
                    "a grant of the route requires password",
                ),
                ErrorKind::MissingParameter => (
                    generic,
                    "request.required names a parameter without a row of its own",
                ),
                ErrorKind::AuthenticationFailed | ErrorKind::Throttled | ErrorKind::Overloaded => {
                    (password, password_reason)
                }
                ErrorKind::InvalidScope => (
                    profile.scope_policy == crate::engine::ScopePolicy::Enforce,
                    "scope_policy is enforce",
                ),
                ErrorKind::InvalidPasswordProof => (
                    password && request.password == PasswordEncoding::Sha1Hex,
                    "request.password is sha1_hex",
                ),
                ErrorKind::MissingRefreshToken => (
                    requires(ParamKey::RefreshToken),
                    "a grant of the route requires refresh_token",
                ),
                ErrorKind::InvalidRefreshToken | ErrorKind::RefreshTokenReused => {
                    (refresh, refresh_reason)
                }
                ErrorKind::MalformedBody => (true, "every route reads a body"),
                ErrorKind::BodyTooLarge => (true, "every route has a body_limit"),
                ErrorKind::BodyTimeout => (true, "every route waits for a body"),
                ErrorKind::UnsupportedMediaType | ErrorKind::MissingContentType => {
                    (!any_media_type, media_reason)
                }
                ErrorKind::MethodNotAllowed => {
                    (!profile.methods.is_empty(), "methods is not empty")
                }
                ErrorKind::NotAcceptable => (
                    profile.response.format == ResponseFormat::Negotiate
                        && profile.response.not_acceptable,
                    "response.not_acceptable is true",
                ),
                ErrorKind::WindowsAuthUnavailable => {
                    (windows, "request.fields.windows_authentication is set")
                }
                ErrorKind::StoreUnavailable | ErrorKind::StoreFull => (touches_store, store_reason),
                ErrorKind::Internal => (true, "every route can fail inside"),
            };
            possible.then_some((kind, why))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_snake_case_name_and_parses_back() {
        assert_eq!(ErrorKind::ALL.len(), 27);
        for &kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_name(kind.as_str()), Some(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(ErrorKind::MissingClientId.as_str(), "missing_client_id");
        assert_eq!(ErrorKind::from_name("token_not_owned"), None);
    }
}
