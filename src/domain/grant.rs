//! The grant types of RFC 6749 the engine serves.

use std::fmt;

/// The grant types the engine knows, by their RFC 6749 names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// An app token: the client alone (RFC 6749 §4.4).
    ClientCredentials,
    /// A user token for a user name and password (RFC 6749 §4.3).
    Password,
    /// A new token pair for a refresh token (RFC 6749 §6).
    RefreshToken,
}

impl GrantType {
    /// Every grant type, in the order messages list them.
    pub const ALL: [GrantType; 3] = [
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::RefreshToken,
    ];

    /// The RFC 6749 name (`client_credentials`).
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
        }
    }

    /// Exact, case-sensitive match of a wire value, as Katana compares `grant_type`.
    pub fn from_wire(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == value)
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
