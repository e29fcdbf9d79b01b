//! Access tokens as signed JWTs: the claims every dialect's token carries, and the keyring that
//! signs and verifies them. HS256 keys are secrets; ES256 and RS256 keys publish their public
//! half as a JWKS so resource servers verify tokens without calling the gateway. A retired key
//! stays published (and accepted by introspection) until `verify_until`, so rotation never
//! strands tokens already issued. Keys are injected, so golden tests use a fixed one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use crate::domain::{Claims, Secret};

/// Why a key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the HS256 secret must be at least 32 bytes (RFC 7518 §3.2), got {0}")]
    TooShort(usize),
    #[error("not a usable {alg:?} PEM key: {why}")]
    Pem { alg: Algorithm, why: String },
    #[error("unsupported algorithm {0:?}; supported: HS256, ES256, RS256")]
    Algorithm(String),
    #[error("no key with kid {0:?}")]
    UnknownKid(String),
    #[error("key {0:?} has no private part and cannot sign")]
    VerifyOnly(String),
    #[error("kid {0:?} is used by two keys")]
    DuplicateKid(String),
}

/// One key of the keyring.
pub struct Key {
    kid: String,
    alg: Algorithm,
    /// `None` for a retired, verify-only key.
    signer: Option<Signer>,
    decoding: DecodingKey,
    /// The public JWK of an asymmetric key (never for HS256).
    public: Option<Jwk>,
    /// After this instant the key is neither published nor accepted.
    verify_until: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("signs", &self.signer.is_some())
            .field("verify_until", &self.verify_until)
            .finish_non_exhaustive()
    }
}

fn pem_error(alg: Algorithm) -> impl Fn(jsonwebtoken::errors::Error) -> KeyError {
    move |e| KeyError::Pem {
        alg,
        why: e.to_string(),
    }
}

/// Parses `HS256`, `ES256`, `RS256`.
pub fn algorithm(name: &str) -> Result<Algorithm, KeyError> {
    match name {
        "HS256" => Ok(Algorithm::HS256),
        "ES256" => Ok(Algorithm::ES256),
        "RS256" => Ok(Algorithm::RS256),
        other => Err(KeyError::Algorithm(other.to_owned())),
    }
}

impl Key {
    /// An HS256 key. Without a configured kid, one is derived from the secret (a short SHA-256
    /// prefix), so it changes when the secret does without revealing it.
    pub fn hs256(secret: &Secret, kid: Option<String>) -> Result<Self, KeyError> {
        let bytes = secret.expose().as_bytes();
        if bytes.len() < 32 {
            return Err(KeyError::TooShort(bytes.len()));
        }
        use sha2::Digest;
        let kid = kid.unwrap_or_else(|| hex::encode(&sha2::Sha256::digest(bytes)[..8]));
        let mac = Hmac::new_from_slice(bytes).map_err(|e| KeyError::Pem {
            alg: Algorithm::HS256,
            why: e.to_string(),
        })?;
        Self::assemble(
            kid,
            Algorithm::HS256,
            Some(SignWith::Hmac(mac)),
            DecodingKey::from_secret(bytes),
            None,
        )
    }

    /// An ES256 or RS256 key from its private PEM (PKCS#8 or the algorithm's own format).
    pub fn private_pem(kid: String, alg: Algorithm, pem: &[u8]) -> Result<Self, KeyError> {
        let encoding = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(pem),
            Algorithm::RS256 => EncodingKey::from_rsa_pem(pem),
            other => return Err(KeyError::Algorithm(format!("{other:?}"))),
        }
        .map_err(pem_error(alg))?;
        let jwk = Jwk::from_encoding_key(&encoding, alg).map_err(pem_error(alg))?;
        let decoding = DecodingKey::from_jwk(&jwk).map_err(pem_error(alg))?;
        Self::assemble(kid, alg, Some(SignWith::Key(encoding)), decoding, Some(jwk))
    }

    /// A verify-only ES256 or RS256 key from its public PEM (a retired key).
    pub fn public_pem(kid: String, alg: Algorithm, pem: &[u8]) -> Result<Self, KeyError> {
        let decoding = match alg {
            Algorithm::ES256 => DecodingKey::from_ec_pem(pem),
            Algorithm::RS256 => DecodingKey::from_rsa_pem(pem),
            other => return Err(KeyError::Algorithm(format!("{other:?}"))),
        }
        .map_err(pem_error(alg))?;
        let jwk = Jwk::from_decoding_key(&decoding, Some(alg)).map_err(pem_error(alg))?;
        Self::assemble(kid, alg, None, decoding, Some(jwk))
    }

    fn assemble(
        kid: String,
        alg: Algorithm,
        sign_with: Option<SignWith>,
        decoding: DecodingKey,
        public: Option<Jwk>,
    ) -> Result<Self, KeyError> {
        let mut header = Header::new(alg);
        header.kid = Some(kid.clone());
        let signer = match sign_with {
            Some(with) => Some(Signer::new(&header, with)?),
            None => None,
        };
        let public = public.map(|mut jwk| {
            jwk.common.key_id = Some(kid.clone());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            jwk.common.key_algorithm = KeyAlgorithm::from_str_opt(alg);
            jwk
        });
        Ok(Self {
            kid,
            alg,
            signer,
            decoding,
            public,
            verify_until: None,
        })
    }

    /// Keeps a retired key verifiable (and published) until `until`.
    pub fn verify_until(mut self, until: DateTime<Utc>) -> Self {
        self.verify_until = Some(until);
        self
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn can_sign(&self) -> bool {
        self.signer.is_some()
    }

    fn live(&self, now: DateTime<Utc>) -> bool {
        self.verify_until.is_none_or(|until| now < until)
    }
}

/// Signs one key's tokens without the per-token setup `jsonwebtoken::encode` repeats: the
/// header segment is the same for every token of a key, the claims are written by
/// [`Claims::write_json`] (the same JSON an opaque token's record holds), and for HS256 the
/// keyed HMAC state (two SHA-256 blocks of key padding) is computed once and cloned.
/// Asymmetric keys sign the same message through `jsonwebtoken::crypto::sign`. Verification
/// stays with `jsonwebtoken`, and a unit test checks that it accepts every token written here.
struct Signer {
    alg: Algorithm,
    /// `base64url(header JSON) + "."`.
    header_segment: String,
    with: SignWith,
}

enum SignWith {
    Hmac(Hmac<sha2::Sha256>),
    Key(EncodingKey),
}

impl Signer {
    fn new(header: &Header, with: SignWith) -> Result<Self, KeyError> {
        let header_json = serde_json::to_vec(header).map_err(|e| KeyError::Pem {
            alg: header.alg,
            why: e.to_string(),
        })?;
        let mut header_segment = URL_SAFE_NO_PAD.encode(header_json);
        header_segment.push('.');
        Ok(Self {
            alg: header.alg,
            header_segment,
            with,
        })
    }

    fn sign(&self, claims: &Claims) -> Result<String, KeyError> {
        let mut claims_json = Vec::with_capacity(384);
        claims.write_json(&mut claims_json);
        // header + claims at 4/3, the separator and 43 characters of an HS256 signature.
        let mut token =
            Vec::with_capacity(self.header_segment.len() + claims_json.len() * 4 / 3 + 48);
        token.extend_from_slice(self.header_segment.as_bytes());
        append_base64url(&mut token, &claims_json);
        let signature_error = |why: String| KeyError::Pem { alg: self.alg, why };
        match &self.with {
            SignWith::Hmac(keyed) => {
                let mut mac = keyed.clone();
                mac.update(&token);
                token.push(b'.');
                append_base64url(&mut token, &mac.finalize().into_bytes());
            }
            SignWith::Key(key) => {
                let signature = jsonwebtoken::crypto::sign(&token, key, self.alg)
                    .map_err(|e| signature_error(e.to_string()))?;
                token.push(b'.');
                token.extend_from_slice(signature.as_bytes());
            }
        }
        String::from_utf8(token).map_err(|e| signature_error(e.to_string()))
    }
}

/// Appends unpadded base64url into room made in one step (the crate's `encode_string` goes
/// through a chunked writer, several times slower on a JWT's few hundred bytes).
fn append_base64url(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    let len = base64::encoded_len(bytes.len(), false).unwrap_or(0);
    out.resize(start + len, 0);
    // The room is exactly the encoded length, so this cannot fail.
    let written = URL_SAFE_NO_PAD
        .encode_slice(bytes, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + written);
}

trait KeyAlgorithmExt {
    fn from_str_opt(alg: Algorithm) -> Option<KeyAlgorithm>;
}

impl KeyAlgorithmExt for KeyAlgorithm {
    fn from_str_opt(alg: Algorithm) -> Option<KeyAlgorithm> {
        match alg {
            Algorithm::ES256 => Some(KeyAlgorithm::ES256),
            Algorithm::RS256 => Some(KeyAlgorithm::RS256),
            Algorithm::HS256 => Some(KeyAlgorithm::HS256),
            _ => None,
        }
    }
}

/// Every key the gateway signs or verifies with; the first signing key is the default.
#[derive(Debug)]
pub struct Keyring {
    keys: Vec<Key>,
    default: usize,
}

impl Keyring {
    /// `default` names the key that signs unless a route names another; `None`: the first key
    /// that can sign.
    pub fn new(keys: Vec<Key>, default: Option<&str>) -> Result<Self, KeyError> {
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.kid == key.kid) {
                return Err(KeyError::DuplicateKid(key.kid.clone()));
            }
        }
        let default = match default {
            Some(kid) => {
                let index = keys
                    .iter()
                    .position(|k| k.kid == kid)
                    .ok_or_else(|| KeyError::UnknownKid(kid.to_owned()))?;
                if !keys[index].can_sign() {
                    return Err(KeyError::VerifyOnly(kid.to_owned()));
                }
                index
            }
            None => keys
                .iter()
                .position(Key::can_sign)
                .ok_or_else(|| KeyError::UnknownKid("(any signing key)".into()))?,
        };
        Ok(Self { keys, default })
    }

    /// A keyring of one HS256 key.
    pub fn single(key: Key) -> Self {
        Self {
            keys: vec![key],
            default: 0,
        }
    }

    /// Checks that `kid` names a key that can sign (route validation).
    pub fn check_signer(&self, kid: &str) -> Result<(), KeyError> {
        match self.keys.iter().find(|k| k.kid == kid) {
            None => Err(KeyError::UnknownKid(kid.to_owned())),
            Some(key) if !key.can_sign() => Err(KeyError::VerifyOnly(kid.to_owned())),
            Some(_) => Ok(()),
        }
    }

    pub fn default_kid(&self) -> &str {
        &self.keys[self.default].kid
    }

    /// Signs with `kid`, or the default key.
    pub fn sign(&self, kid: Option<&str>, claims: &Claims) -> Result<String, KeyError> {
        let key = match kid {
            None => &self.keys[self.default],
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid == kid)
                .ok_or_else(|| KeyError::UnknownKid(kid.to_owned()))?,
        };
        key.signer
            .as_ref()
            .ok_or_else(|| KeyError::VerifyOnly(key.kid.clone()))?
            .sign(claims)
    }

    /// Checks the signature with the key the header names, if that key is still live, and
    /// returns the claims. Expiry is the caller's business: the caller owns the clock.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let key = match &header.kid {
            Some(kid) => self.keys.iter().find(|k| &k.kid == kid)?,
            None => &self.keys[self.default],
        };
        // The key decides the algorithm, never the token (no alg confusion).
        if header.alg != key.alg || !key.live(now) {
            return None;
        }
        let mut validation = Validation::new(key.alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }

    /// The public keys resource servers may verify with now (asymmetric, live keys).
    pub fn jwks(&self, now: DateTime<Utc>) -> JwkSet {
        JwkSet {
            keys: self
                .keys
                .iter()
                .filter(|k| k.live(now))
                .filter_map(|k| k.public.clone())
                .collect(),
        }
    }

    pub fn has_public_keys(&self) -> bool {
        self.keys.iter().any(|k| k.public.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(optional: bool) -> Claims {
        Claims {
            iss: "tokengate".into(),
            sub: "user \"quoted\" é \\ \u{1}\u{8}\u{c}\n\r\t\u{1f}\u{7f} </>".into(),
            aud: optional.then(|| "api".into()),
            iat: 1_700_000_000,
            nbf: 1_700_000_000,
            exp: 1_700_001_800,
            jti: "6f9619ff-8b86-d011-b42d-00c04fc964ff".into(),
            client_id: "demo-client".into(),
            scope: optional.then(|| "read write".into()),
            sid: "0b5a4f6e-1f0c-4d6e-9a57-1f0c4d6e9a57".into(),
            name: optional.then(|| "user@example.com".into()),
            role: optional.then(|| "Administrator".into()),
        }
    }

    /// An independent writer of the claims, through serde: the oracle for [`Claims::write_json`].
    #[derive(serde::Serialize)]
    struct Reference<'a> {
        iss: &'a str,
        sub: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        aud: Option<&'a str>,
        iat: i64,
        nbf: i64,
        exp: i64,
        jti: &'a str,
        client_id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        scope: Option<&'a str>,
        sid: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        role: Option<&'a str>,
    }

    fn reference(c: &Claims) -> Reference<'_> {
        Reference {
            iss: &c.iss,
            sub: &c.sub,
            aud: c.aud.as_deref(),
            iat: c.iat,
            nbf: c.nbf,
            exp: c.exp,
            jti: &c.jti,
            client_id: &c.client_id,
            scope: c.scope.as_deref(),
            sid: &c.sid,
            name: c.name.as_deref(),
            role: c.role.as_deref(),
        }
    }

    #[test]
    fn hs256_tokens_are_the_bytes_jsonwebtoken_writes() {
        let secret = Secret::new("a-test-secret-of-at-least-32-bytes!!");
        for kid in [None, Some("k1".to_owned())] {
            let key = Key::hs256(&secret, kid).unwrap();
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(key.kid().to_owned());
            let reference_key = EncodingKey::from_secret(secret.expose().as_bytes());
            let ring = Keyring::single(key);
            for optional in [false, true] {
                let claims = claims(optional);
                let ours = ring.sign(None, &claims).unwrap();
                assert_eq!(
                    ours,
                    jsonwebtoken::encode(&header, &reference(&claims), &reference_key).unwrap()
                );
                assert_eq!(ring.verify(&ours, Utc::now()), Some(claims));
            }
        }
    }

    #[test]
    fn rs256_tokens_verify_with_the_published_key() {
        let pem = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/keys/rs256.pem"
        ))
        .unwrap();
        let ring = Keyring::single(Key::private_pem("r1".into(), Algorithm::RS256, &pem).unwrap());
        for optional in [false, true] {
            let claims = claims(optional);
            let token = ring.sign(None, &claims).unwrap();
            assert_eq!(ring.verify(&token, Utc::now()), Some(claims.clone()));
            // RS256 (PKCS#1 v1.5) is deterministic: the same bytes as jsonwebtoken's encoder.
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some("r1".into());
            let reference_key = EncodingKey::from_rsa_pem(&pem).unwrap();
            assert_eq!(
                token,
                jsonwebtoken::encode(&header, &reference(&claims), &reference_key).unwrap()
            );
        }
    }

    #[test]
    fn a_tampered_hs256_token_does_not_verify() {
        let ring = Keyring::single(
            Key::hs256(&Secret::new("a-test-secret-of-at-least-32-bytes!!"), None).unwrap(),
        );
        let token = ring.sign(None, &claims(false)).unwrap();
        let mut tampered = token.into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(ring.verify(&tampered, Utc::now()), None);
    }
}
