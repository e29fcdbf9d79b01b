//! Every outcome of a grant other than a token, as one enum. Dialects map each variant to their
//! own status and wording through the error table of their profile, so the texts live in
//! `dialects/*.toml`, not here. Refusals of the wire request itself (a body that does not read,
//! a method or media type the route does not take) are not grant outcomes: they are
//! [`crate::wire::Refusal`]s, answered before the engine runs.

use crate::domain::{GrantType, Sha1HexError, StoreError};

use super::keys::KeyError;
use super::users::DirectoryUnavailable;

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

/// Why a grant request did not produce a token.
#[derive(Debug, Clone, thiserror::Error)]
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
    UnauthorizedClient(GrantType),
    #[error("the {} parameter is missing", .0.as_str())]
    MissingParameter(Param),
    /// A parameter the route requires (beyond the grant's own) is missing; `name` as on the
    /// wire.
    #[error("the {name} parameter is missing")]
    MissingField { name: String },
    /// A grant parameter that must be a boolean is not one.
    #[error("{name} must be true, false, 1 or 0, not {value:?}")]
    InvalidFlag { name: String, value: String },
    #[error("the password is not a SHA-1 hex digest")]
    InvalidPasswordProof(#[source] Sha1HexError),
    #[error("wrong user name or password")]
    AuthenticationFailed,
    /// A scope the client may not have (RFC 6749 §5.2), or more than its refresh token's.
    #[error("scope {scopes:?} may not be granted to this client")]
    InvalidScope { scopes: String },
    #[error("the refresh token is unknown, expired or revoked")]
    InvalidRefreshToken,
    #[error("a refresh token was presented again after use; its family is revoked")]
    RefreshTokenReused,
    #[error("too many failed attempts; retry after {retry_after_secs}s")]
    Throttled { retry_after_secs: u64 },
    #[error("too many password verifications are waiting")]
    Overloaded,
    #[error("integrated Windows authentication is only accepted through a trusted proxy")]
    WindowsAuthUnavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The user directory (a database) did not answer: answered as the store's outage is.
    #[error(transparent)]
    Directory(#[from] DirectoryUnavailable),
    #[error(transparent)]
    Internal(#[from] Fault),
}

/// A failure of the gateway itself, not of the request: answered with the dialect's `internal`
/// row, its cause logged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Fault {
    #[error("signing the access token failed")]
    Signing(#[source] KeyError),
    #[error("the clock reads an instant that cannot be rounded to seconds")]
    Clock(#[source] chrono::RoundingError),
    #[error("the route issues Katana tickets, and no [katana] machineKey is configured")]
    NoKatanaKey,
    #[error("the password verification threads have stopped")]
    HashThreadsStopped,
    #[error("a password verification thread failed")]
    HashThreadFailed(#[source] tokio::sync::oneshot::error::RecvError),
}

impl GrantError {
    /// What exactly was wrong, for the `{detail}` placeholder of an error text: only for
    /// outcomes where saying so reveals nothing an attacker could use. Store and internal
    /// causes go to the log, never to the client.
    pub fn detail(&self) -> Option<String> {
        match self {
            GrantError::InvalidFlag { .. } => Some(self.to_string()),
            GrantError::InvalidPasswordProof(why) => Some(why.to_string()),
            GrantError::UnauthorizedClient(grant) => Some(grant.to_string()),
            GrantError::MissingParameter(param) => Some(param.as_str().to_owned()),
            GrantError::MissingField { name } => Some(name.clone()),
            GrantError::Throttled { retry_after_secs } => Some(retry_after_secs.to_string()),
            // The client's own words, naming scopes of no account.
            GrantError::InvalidScope { scopes } => Some(scopes.clone()),
            GrantError::MissingClientId
            | GrantError::UnknownClient
            | GrantError::InvalidClientSecret
            | GrantError::UnsupportedGrantType
            | GrantError::AuthenticationFailed
            | GrantError::InvalidRefreshToken
            | GrantError::RefreshTokenReused
            | GrantError::Overloaded
            | GrantError::WindowsAuthUnavailable
            | GrantError::Store(_)
            | GrantError::Directory(_)
            | GrantError::Internal(_) => None,
        }
    }
    /// What an operator (the request's log line) and a test kit's capture should know about
    /// this outcome beyond its name, whatever the wire says: a dialect may answer a malformed
    /// password exactly like a wrong one, as its legacy server did, while the diagnosis says
    /// what the client got wrong. Never a secret.
    pub fn diagnosis(&self) -> Option<String> {
        match self {
            // Not `why`: its character count is the raw password's length.
            GrantError::InvalidPasswordProof(_) => Some(
                "the password is not 40 hexadecimal digits: the client sent the raw password"
                    .to_owned(),
            ),
            _ => self.detail(),
        }
    }
}
