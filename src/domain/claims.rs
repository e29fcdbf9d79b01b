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
    /// The claims as `serde_json::to_vec` writes them (the derive's member order and skipped
    /// `None`s, serde_json's escaping), without the serializer's per-member dispatch. Tested
    /// byte for byte against `jsonwebtoken::encode`, which serialises through serde.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        fn text(out: &mut Vec<u8>, name: &str, value: &str) {
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            crate::json::write_string(out, value);
            out.push(b',');
        }
        fn number(out: &mut Vec<u8>, name: &str, value: i64) {
            use std::io::Write as _;
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            // Writing into a Vec cannot fail.
            let _ = write!(out, "\":{value},");
        }
        out.push(b'{');
        text(out, "iss", &self.iss);
        text(out, "sub", &self.sub);
        if let Some(aud) = &self.aud {
            text(out, "aud", aud);
        }
        number(out, "iat", self.iat);
        number(out, "nbf", self.nbf);
        number(out, "exp", self.exp);
        text(out, "jti", &self.jti);
        text(out, "client_id", &self.client_id);
        if let Some(scope) = &self.scope {
            text(out, "scope", scope);
        }
        text(out, "sid", &self.sid);
        if let Some(name) = &self.name {
            text(out, "name", name);
        }
        if let Some(role) = &self.role {
            text(out, "role", role);
        }
        // The last member's comma becomes the closing brace.
        if let Some(last) = out.last_mut() {
            *last = b'}';
        }
    }
}
