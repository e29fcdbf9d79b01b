//! The claims of an access token: what a JWT carries, what an opaque token's record holds, and
//! what introspection reports. Written by one hand-made writer (the JSON of both the token and
//! the stored record) and read back with serde.

use serde::Deserialize;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Claims {
    /// The issuer (the route's `issuer`).
    pub iss: String,
    /// The subject: the user's id, or the client's on an app token.
    pub sub: String,
    #[serde(default)]
    /// The audience, when the route configures one.
    pub aud: Option<String>,
    /// Issued at, epoch seconds.
    pub iat: i64,
    /// Not valid before, epoch seconds (the issue instant).
    pub nbf: i64,
    /// Expiry, epoch seconds.
    pub exp: i64,
    /// The token's own id, the key of its revocation mark.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    #[serde(default)]
    /// The granted scope.
    pub scope: Option<String>,
    /// The session (refresh family) the token belongs to.
    pub sid: String,
    /// Present on user tokens only: the user's name.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    /// The user's role.
    pub role: Option<String>,
}

impl Claims {
    /// The claims as one compact JSON object, registered claims first, absent ones left out.
    /// The order is fixed (and part of the golden files, since the token's bytes show it).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        use crate::json::key;
        crate::json::object(out, |o| {
            o.str(&key!("iss"), &self.iss)
                .str(&key!("sub"), &self.sub)
                .opt_str(&key!("aud"), self.aud.as_deref())
                .int(&key!("iat"), self.iat)
                .int(&key!("nbf"), self.nbf)
                .int(&key!("exp"), self.exp)
                .str(&key!("jti"), &self.jti)
                .str(&key!("client_id"), &self.client_id)
                .opt_str(&key!("scope"), self.scope.as_deref())
                .str(&key!("sid"), &self.sid)
                .opt_str(&key!("name"), self.name.as_deref())
                .opt_str(&key!("role"), self.role.as_deref());
        });
    }
}
