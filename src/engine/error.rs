//! Every outcome of a token request other than success, as one enum. Dialects map each variant
//! to their own status and wording through the error table of their profile (keyed by
//! [`GrantError::kind`]), so the texts live in `dialects/*.toml`, not here.

use std::fmt;

/// A request parameter the engine may find missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    Username,
    Password,
    RefreshToken,
}

impl Param {
    pub fn as_str(self) -> &'static str {
        match self {
            Param::Username => "username",
            Param::Password => "password",
            Param::RefreshToken => "refresh_token",
        }
    }
}

/// Why a token request did not produce a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("no client_id was sent")]
    MissingClientId,
    #[error("the client_id is not registered")]
    UnknownClient,
    #[error("client authentication failed (missing or wrong secret)")]
    InvalidClientSecret,
    #[error("grant_type is missing or not supported here")]
    UnsupportedGrantType,
    #[error("this client may not use the {0} grant")]
    UnauthorizedClient(crate::domain::GrantType),
    #[error("the {} parameter is missing", .0.as_str())]
    MissingParameter(Param),
    #[error("the password is not a SHA-1 hex digest: {0}")]
    InvalidPasswordProof(crate::domain::Sha1HexError),
    #[error("wrong user name or password")]
    AuthenticationFailed,
    #[error("the refresh token is unknown, expired or revoked")]
    InvalidRefreshToken,
    #[error("a refresh token was presented again after use; its family is revoked")]
    RefreshTokenReused,
    #[error("too many failed attempts; retry after {retry_after_secs}s")]
    Throttled { retry_after_secs: u64 },
    #[error("the request body is malformed: {0}")]
    MalformedBody(String),
    #[error("the request body exceeds the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("the media type {0:?} is not supported")]
    UnsupportedMediaType(Option<String>),
    #[error("the method {0} is not allowed")]
    MethodNotAllowed(String),
    #[error("the token was not issued to this client")]
    TokenNotOwned,
    #[error("too many password verifications are waiting")]
    Overloaded,
    #[error("no acceptable response format")]
    NotAcceptable,
    #[error("integrated Windows authentication is only accepted through a trusted proxy")]
    WindowsAuthUnavailable,
    #[error("the token store is unavailable: {0}")]
    StoreUnavailable(String),
    #[error("the token store is full")]
    StoreFull,
    #[error("internal error: {0}")]
    Internal(String),
}

/// The name of an outcome in a dialect profile's error table (`[errors.<kind>]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    MissingClientId,
    UnknownClient,
    InvalidClientSecret,
    UnsupportedGrantType,
    UnauthorizedClient,
    MissingUsername,
    MissingPassword,
    MissingRefreshToken,
    InvalidPasswordProof,
    AuthenticationFailed,
    InvalidRefreshToken,
    RefreshTokenReused,
    Throttled,
    MalformedBody,
    BodyTooLarge,
    UnsupportedMediaType,
    MissingContentType,
    MethodNotAllowed,
    TokenNotOwned,
    Overloaded,
    NotAcceptable,
    WindowsAuthUnavailable,
    StoreUnavailable,
    StoreFull,
    Internal,
}

impl ErrorKind {
    /// Every kind, so profile validation can insist that each one has an entry.
    pub const ALL: [ErrorKind; 25] = [
        ErrorKind::MissingClientId,
        ErrorKind::UnknownClient,
        ErrorKind::InvalidClientSecret,
        ErrorKind::UnsupportedGrantType,
        ErrorKind::UnauthorizedClient,
        ErrorKind::MissingUsername,
        ErrorKind::MissingPassword,
        ErrorKind::MissingRefreshToken,
        ErrorKind::InvalidPasswordProof,
        ErrorKind::AuthenticationFailed,
        ErrorKind::InvalidRefreshToken,
        ErrorKind::RefreshTokenReused,
        ErrorKind::Throttled,
        ErrorKind::MalformedBody,
        ErrorKind::BodyTooLarge,
        ErrorKind::UnsupportedMediaType,
        ErrorKind::MissingContentType,
        ErrorKind::MethodNotAllowed,
        ErrorKind::TokenNotOwned,
        ErrorKind::Overloaded,
        ErrorKind::NotAcceptable,
        ErrorKind::WindowsAuthUnavailable,
        ErrorKind::StoreUnavailable,
        ErrorKind::StoreFull,
        ErrorKind::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::MissingClientId => "missing_client_id",
            ErrorKind::UnknownClient => "unknown_client",
            ErrorKind::InvalidClientSecret => "invalid_client_secret",
            ErrorKind::UnsupportedGrantType => "unsupported_grant_type",
            ErrorKind::UnauthorizedClient => "unauthorized_client",
            ErrorKind::MissingUsername => "missing_username",
            ErrorKind::MissingPassword => "missing_password",
            ErrorKind::MissingRefreshToken => "missing_refresh_token",
            ErrorKind::InvalidPasswordProof => "invalid_password_proof",
            ErrorKind::AuthenticationFailed => "authentication_failed",
            ErrorKind::InvalidRefreshToken => "invalid_refresh_token",
            ErrorKind::RefreshTokenReused => "refresh_token_reused",
            ErrorKind::Throttled => "throttled",
            ErrorKind::MalformedBody => "malformed_body",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::UnsupportedMediaType => "unsupported_media_type",
            ErrorKind::MissingContentType => "missing_content_type",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::TokenNotOwned => "token_not_owned",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::NotAcceptable => "not_acceptable",
            ErrorKind::WindowsAuthUnavailable => "windows_auth_unavailable",
            ErrorKind::StoreUnavailable => "store_unavailable",
            ErrorKind::StoreFull => "store_full",
            ErrorKind::Internal => "internal",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl GrantError {
    /// The error-table entry this outcome is rendered with.
    pub fn kind(&self) -> ErrorKind {
        match self {
            GrantError::MissingClientId => ErrorKind::MissingClientId,
            GrantError::UnknownClient => ErrorKind::UnknownClient,
            GrantError::InvalidClientSecret => ErrorKind::InvalidClientSecret,
            GrantError::UnsupportedGrantType => ErrorKind::UnsupportedGrantType,
            GrantError::UnauthorizedClient(_) => ErrorKind::UnauthorizedClient,
            GrantError::MissingParameter(Param::Username) => ErrorKind::MissingUsername,
            GrantError::MissingParameter(Param::Password) => ErrorKind::MissingPassword,
            GrantError::MissingParameter(Param::RefreshToken) => ErrorKind::MissingRefreshToken,
            GrantError::InvalidPasswordProof(_) => ErrorKind::InvalidPasswordProof,
            GrantError::AuthenticationFailed => ErrorKind::AuthenticationFailed,
            GrantError::InvalidRefreshToken => ErrorKind::InvalidRefreshToken,
            GrantError::RefreshTokenReused => ErrorKind::RefreshTokenReused,
            GrantError::Throttled { .. } => ErrorKind::Throttled,
            GrantError::MalformedBody(_) => ErrorKind::MalformedBody,
            GrantError::BodyTooLarge { .. } => ErrorKind::BodyTooLarge,
            GrantError::UnsupportedMediaType(None) => ErrorKind::MissingContentType,
            GrantError::UnsupportedMediaType(Some(_)) => ErrorKind::UnsupportedMediaType,
            GrantError::MethodNotAllowed(_) => ErrorKind::MethodNotAllowed,
            GrantError::TokenNotOwned => ErrorKind::TokenNotOwned,
            GrantError::Overloaded => ErrorKind::Overloaded,
            GrantError::NotAcceptable => ErrorKind::NotAcceptable,
            GrantError::WindowsAuthUnavailable => ErrorKind::WindowsAuthUnavailable,
            GrantError::StoreUnavailable(_) => ErrorKind::StoreUnavailable,
            GrantError::StoreFull => ErrorKind::StoreFull,
            GrantError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The value of the `{detail}` placeholder in an error text: what exactly was wrong, for
    /// outcomes where saying so reveals nothing an attacker could use.
    pub fn detail(&self) -> String {
        match self {
            GrantError::MalformedBody(why) => why.clone(),
            GrantError::InvalidPasswordProof(why) => why.to_string(),
            GrantError::UnauthorizedClient(grant) => grant.to_string(),
            GrantError::MissingParameter(param) => param.as_str().to_owned(),
            GrantError::BodyTooLarge { limit } => limit.to_string(),
            GrantError::UnsupportedMediaType(media) => media.clone().unwrap_or_default(),
            GrantError::MethodNotAllowed(method) => method.clone(),
            GrantError::Throttled { retry_after_secs } => retry_after_secs.to_string(),
            // Store and internal causes go to the log, never to the client.
            _ => String::new(),
        }
    }
}
