//! Access tokens as signed JWTs: the claims every dialect's token carries, and the key that
//! signs them (injected, so golden tests use a fixed one).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::types::Secret;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub aud: Option<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
    pub sid: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub role: Option<String>,
}

/// Why a signing key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the HS256 secret must be at least 32 bytes (RFC 7518 §3.2), got {0}")]
    TooShort(usize),
}

/// Signs and verifies access tokens with one key.
pub struct Signer {
    kid: String,
    header: Header,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("alg", &self.header.alg)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// An HS256 signer. The key id is derived from the secret (a short SHA-256 prefix), so it
    /// changes when the secret does without revealing it.
    pub fn hs256(secret: &Secret) -> Result<Self, KeyError> {
        let bytes = secret.expose().as_bytes();
        if bytes.len() < 32 {
            return Err(KeyError::TooShort(bytes.len()));
        }
        use sha2::Digest;
        let kid = hex::encode(&sha2::Sha256::digest(bytes)[..8]);
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        Ok(Self {
            kid,
            header,
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&self.header, claims, &self.encoding)
    }

    /// Checks the signature and returns the claims; expiry is the caller's business, because
    /// the caller owns the clock.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(self.header.alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map(|data| data.claims)
    }
}
