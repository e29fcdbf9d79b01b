//! The claims of an access token: what a JWT carries, what an opaque token's record holds, and
//! what introspection reports. Written by one hand-made writer (the JSON of both the token and
//! the stored record) and read back with serde.

use serde::Deserialize;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    #[serde(default)]
    pub aud: Option<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub client_id: String,
    #[serde(default)]
    pub scope: Option<String>,
    pub sid: String,
    /// Present on user tokens only: the user's name.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
}

impl Claims {
    /// The claims as one compact JSON object, registered claims first, absent ones left out.
    /// The order is fixed (and part of the golden files, since the token's bytes show it).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        crate::json::object(out, |o| {
            o.str("iss", &self.iss)
                .str("sub", &self.sub)
                .opt_str("aud", self.aud.as_deref())
                .int("iat", self.iat)
                .int("nbf", self.nbf)
                .int("exp", self.exp)
                .str("jti", &self.jti)
                .str("client_id", &self.client_id)
                .opt_str("scope", self.scope.as_deref())
                .str("sid", &self.sid)
                .opt_str("name", self.name.as_deref())
                .opt_str("role", self.role.as_deref());
        });
    }
}
