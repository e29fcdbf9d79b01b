//! Access tokens as signed JWTs: the claims every dialect's token carries, and the keyring that
//! signs and verifies them. HS256 keys are secrets; ES256 and RS256 keys publish their public
//! half as a JWKS so resource servers verify tokens without calling the gateway. A retired key
//! stays published (and accepted by introspection) until `verify_until`, so rotation never
//! strands tokens already issued. Keys are injected, so golden tests use a fixed one. Which
//! header members a token has, and in what order, is a route's [`HeaderLayout`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};

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
        let signer = match sign_with {
            Some(with) => Some(Signer::new(alg, &kid, with)?),
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

/// A member of a JWT header (RFC 7515 §4.1) the gateway writes: the algorithm, the type
/// (`"JWT"`) and the key id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum HeaderMember {
    Alg,
    Typ,
    Kid,
}

impl HeaderMember {
    pub const ALL: &'static [HeaderMember] = <HeaderMember as strum::VariantArray>::VARIANTS;

    /// The member named `name` (`alg`, `typ`, `kid`), if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        name.parse().ok()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Every member's name, comma-separated, for messages.
    pub fn known() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|member| member.as_str()).collect();
        names.join(", ")
    }
}

/// Every header a token can have: `alg` and any of the others, each once, in any order.
/// Bounded and small, so a signer computes each one's header segment when its key is made and
/// never per token. The first is jsonwebtoken's own order, the gateway's bytes before layouts
/// were configurable.
const LAYOUTS: [&[HeaderMember]; 11] = {
    use HeaderMember::{Alg, Kid, Typ};
    [
        &[Typ, Alg, Kid],
        &[Typ, Kid, Alg],
        &[Alg, Typ, Kid],
        &[Alg, Kid, Typ],
        &[Kid, Alg, Typ],
        &[Kid, Typ, Alg],
        &[Alg],
        &[Alg, Typ],
        &[Typ, Alg],
        &[Alg, Kid],
        &[Kid, Alg],
    ]
};

/// The members of a route's JWT headers, in order (`jwt_header` in a profile). `kid` is written
/// when listed, and by a keyring of more than one key even when not (after the listed members),
/// since a resource server then needs it to pick the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderLayout {
    /// Into [`LAYOUTS`]: the members as listed.
    index: u8,
    /// Into [`LAYOUTS`]: the members with `kid` added if not listed, worked out here so a
    /// keyring of several keys finds its segment as directly as one of a single key.
    with_kid: u8,
}

impl HeaderLayout {
    /// The layout of these members in this order; `None` unless they are `alg` and any of
    /// the others, each once.
    pub fn new(members: &[HeaderMember]) -> Option<Self> {
        let find = |members: &[HeaderMember]| {
            LAYOUTS
                .iter()
                .position(|layout| *layout == members)
                .and_then(|index| u8::try_from(index).ok())
        };
        let index = find(members)?;
        let with_kid = if members.contains(&HeaderMember::Kid) {
            index
        } else {
            find(&[members, &[HeaderMember::Kid]].concat()).unwrap_or(index)
        };
        Some(Self { index, with_kid })
    }

    /// The members, in order.
    pub fn members(self) -> &'static [HeaderMember] {
        LAYOUTS[usize::from(self.index)]
    }

    /// Into [`LAYOUTS`]: the header written, `kid` added when the keyring requires it.
    fn written(self, kid_required: bool) -> usize {
        usize::from(if kid_required {
            self.with_kid
        } else {
            self.index
        })
    }
}

impl Default for HeaderLayout {
    /// `typ`, `alg`, `kid`: jsonwebtoken's order, and the `common` profile's.
    fn default() -> Self {
        Self {
            index: 0,
            with_kid: 0,
        }
    }
}

/// Signs one key's tokens without the per-token setup `jsonwebtoken::encode` repeats: the
/// header segment of each layout is the same for every token of a key, the claims are written
/// by [`Claims::write_json`] (the same JSON an opaque token's record holds), and for HS256 the
/// keyed HMAC state (two SHA-256 blocks of key padding) is computed once and cloned.
/// Asymmetric keys sign the same message through `jsonwebtoken::crypto::sign`. Verification
/// stays with `jsonwebtoken`, and a unit test checks that it accepts every token written here.
struct Signer {
    alg: Algorithm,
    /// `base64url(header JSON) + "."`, one per layout, in [`LAYOUTS`] order.
    header_segments: Box<[String]>,
    with: SignWith,
}

enum SignWith {
    Hmac(Hmac<sha2::Sha256>),
    Key(EncodingKey),
}

impl Signer {
    fn new(alg: Algorithm, kid: &str, with: SignWith) -> Result<Self, KeyError> {
        let json_error = |e: serde_json::Error| KeyError::Pem {
            alg,
            why: e.to_string(),
        };
        let alg_json = serde_json::to_string(&alg).map_err(json_error)?;
        let kid_json = serde_json::to_string(kid).map_err(json_error)?;
        let header_segments = LAYOUTS
            .iter()
            .map(|members| {
                let written: Vec<String> = members
                    .iter()
                    .map(|member| {
                        let value = match member {
                            HeaderMember::Alg => alg_json.as_str(),
                            HeaderMember::Typ => "\"JWT\"",
                            HeaderMember::Kid => kid_json.as_str(),
                        };
                        format!("\"{}\":{value}", member.as_str())
                    })
                    .collect();
                let mut segment = URL_SAFE_NO_PAD.encode(format!("{{{}}}", written.join(",")));
                segment.push('.');
                segment
            })
            .collect();
        Ok(Self {
            alg,
            header_segments,
            with,
        })
    }

    /// `kid_required`: the keyring holds several keys, so `kid` is written even if the layout
    /// does not list it.
    fn sign(
        &self,
        layout: HeaderLayout,
        kid_required: bool,
        claims: &Claims,
    ) -> Result<String, KeyError> {
        let header_segment = &self.header_segments[layout.written(kid_required)];
        let mut claims_json = Vec::with_capacity(384);
        claims.write_json(&mut claims_json);
        // header + claims at 4/3, the separator and 43 characters of an HS256 signature.
        let mut token = Vec::with_capacity(header_segment.len() + claims_json.len() * 4 / 3 + 48);
        token.extend_from_slice(header_segment.as_bytes());
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

    /// Signs with `kid`, or the default key, writing the header `layout` lists (and `kid`
    /// whenever the ring holds more than one key).
    pub fn sign(
        &self,
        kid: Option<&str>,
        layout: HeaderLayout,
        claims: &Claims,
    ) -> Result<String, KeyError> {
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
            .sign(layout, self.keys.len() > 1, claims)
    }

    /// Checks the signature with the key the header names, if that key is still live, and
    /// returns the claims. Expiry is the caller's business: the caller owns the clock.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        match &header.kid {
            Some(kid) => {
                let key = self.keys.iter().find(|k| &k.kid == kid)?;
                Self::verify_with(key, header.alg, token, now)
            }
            // Only a ring of one key signs without a kid (`HeaderLayout`): a token without one
            // is from a time the ring had one key, which after a rotation is any of its live
            // keys of that algorithm. Rings hold a handful of keys.
            None => self
                .keys
                .iter()
                .find_map(|key| Self::verify_with(key, header.alg, token, now)),
        }
    }

    fn verify_with(key: &Key, alg: Algorithm, token: &str, now: DateTime<Utc>) -> Option<Claims> {
        // The key decides the algorithm, never the token (no alg confusion).
        if alg != key.alg || !key.live(now) {
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
    use jsonwebtoken::Header;

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
    fn a_token_without_kid_still_verifies_after_a_rotation_adds_a_key() {
        let old = Key::hs256(
            &Secret::new("the-old-secret-of-at-least-32-bytes!"),
            Some("old".into()),
        )
        .unwrap();
        let layout = HeaderLayout::new(&[HeaderMember::Alg, HeaderMember::Typ]).unwrap();
        let token = Keyring::single(old)
            .sign(None, layout, &claims(true))
            .unwrap();
        let now = DateTime::from_timestamp(1_700_000_100, 0).unwrap();
        let rotated = Keyring::new(
            vec![
                Key::hs256(
                    &Secret::new("the-new-secret-of-at-least-32-bytes!"),
                    Some("new".into()),
                )
                .unwrap(),
                Key::hs256(
                    &Secret::new("the-old-secret-of-at-least-32-bytes!"),
                    Some("old".into()),
                )
                .unwrap(),
            ],
            Some("new"),
        )
        .unwrap();
        assert_eq!(
            rotated.verify(&token, now).map(|c| c.jti),
            Some(claims(true).jti)
        );
        let stranger = Keyring::single(
            Key::hs256(&Secret::new("a-stranger-secret-of-at-least-32-byte"), None).unwrap(),
        );
        assert!(stranger.verify(&token, now).is_none());
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
                let ours = ring.sign(None, HeaderLayout::default(), &claims).unwrap();
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
            let token = ring.sign(None, HeaderLayout::default(), &claims).unwrap();
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
        let token = ring
            .sign(None, HeaderLayout::default(), &claims(false))
            .unwrap();
        let mut tampered = token.into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(ring.verify(&tampered, Utc::now()), None);
    }

    fn pem(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/fixtures/keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn header_json(token: &str) -> String {
        let segment = token.split('.').next().unwrap();
        String::from_utf8(URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    fn layout(members: &[HeaderMember]) -> HeaderLayout {
        HeaderLayout::new(members).unwrap()
    }

    use HeaderMember::{Alg, Kid, Typ};

    #[test]
    fn a_layout_is_alg_and_any_other_members_each_once() {
        // Every list of up to four members: a layout exactly when it has alg and no repeat.
        let mut lists: Vec<Vec<HeaderMember>> = vec![vec![]];
        let mut longest = lists.clone();
        for _ in 0..4 {
            longest = longest
                .iter()
                .flat_map(|list| HeaderMember::ALL.iter().map(|m| [list, &[*m][..]].concat()))
                .collect();
            lists.extend(longest.iter().cloned());
        }
        let mut layouts = 0;
        for list in &lists {
            let once = (1..list.len()).all(|i| !list[..i].contains(&list[i]));
            match HeaderLayout::new(list) {
                Some(layout) => {
                    assert!(list.contains(&Alg) && once, "{list:?}");
                    assert_eq!(layout.members(), list.as_slice());
                    layouts += 1;
                }
                None => assert!(!list.contains(&Alg) || !once, "{list:?}"),
            }
        }
        assert_eq!(layouts, LAYOUTS.len());
        assert_eq!(HeaderLayout::default().members(), [Typ, Alg, Kid]);
        assert_eq!(HeaderMember::known(), "alg, typ, kid");
    }

    #[test]
    fn the_header_has_the_layouts_members_in_its_order() {
        let ring = Keyring::single(
            Key::hs256(
                &Secret::new("a-test-secret-of-at-least-32-bytes!!"),
                Some("k\"1".into()),
            )
            .unwrap(),
        );
        for members in LAYOUTS {
            let written: Vec<&str> = members
                .iter()
                .map(|member| match member {
                    Alg => r#""alg":"HS256""#,
                    Typ => r#""typ":"JWT""#,
                    Kid => r#""kid":"k\"1""#,
                })
                .collect();
            let token = ring.sign(None, layout(members), &claims(false)).unwrap();
            assert_eq!(header_json(&token), format!("{{{}}}", written.join(",")));
        }
        // VizSeek's page shows exactly this first segment.
        let token = ring
            .sign(None, layout(&[Alg, Typ]), &claims(false))
            .unwrap();
        assert!(token.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."));
    }

    #[test]
    fn jsonwebtoken_verifies_tokens_of_every_layout() {
        let keys = [
            Key::hs256(&Secret::new("a-test-secret-of-at-least-32-bytes!!"), None).unwrap(),
            Key::private_pem("r1".into(), Algorithm::RS256, &pem("rs256.pem")).unwrap(),
            Key::private_pem("e1".into(), Algorithm::ES256, &pem("es256.pem")).unwrap(),
        ];
        for key in keys {
            let alg = key.alg;
            let ring = Keyring::single(key);
            let decoding = &ring.keys[0].decoding;
            // The claims' aud is "api"; what is checked here is the header and the signature.
            let mut validation = Validation::new(alg);
            validation.validate_exp = false;
            validation.validate_aud = false;
            for members in LAYOUTS {
                let claims = claims(true);
                let token = ring.sign(None, layout(members), &claims).unwrap();
                let data = jsonwebtoken::decode::<serde_json::Value>(&token, decoding, &validation)
                    .unwrap_or_else(|e| panic!("{alg:?} {members:?}: {e}"));
                assert_eq!(data.header.alg, alg);
                assert_eq!(data.header.kid.is_some(), members.contains(&Kid));
                assert_eq!(data.header.typ.is_some(), members.contains(&Typ));
                assert_eq!(data.claims["jti"], claims.jti.as_str());
                assert_eq!(ring.verify(&token, Utc::now()), Some(claims));
            }
        }
    }

    #[test]
    fn a_ring_of_several_keys_writes_the_kid_even_when_not_listed() {
        let secret = |s: &str| Secret::new(format!("{s}-a-test-secret-of-at-least-32-bytes"));
        let ring = Keyring::new(
            vec![
                Key::hs256(&secret("one"), Some("k1".into())).unwrap(),
                Key::hs256(&secret("two"), Some("k2".into())).unwrap(),
            ],
            None,
        )
        .unwrap();
        let vizseek = layout(&[Alg, Typ]);
        let token = ring.sign(None, vizseek, &claims(false)).unwrap();
        assert_eq!(
            header_json(&token),
            r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#
        );
        let token = ring.sign(Some("k2"), vizseek, &claims(false)).unwrap();
        assert_eq!(
            header_json(&token),
            r#"{"alg":"HS256","typ":"JWT","kid":"k2"}"#
        );
        assert_eq!(ring.verify(&token, Utc::now()), Some(claims(false)));
        // A listed kid stays where the layout puts it.
        let token = ring
            .sign(None, layout(&[Kid, Alg]), &claims(false))
            .unwrap();
        assert_eq!(header_json(&token), r#"{"kid":"k1","alg":"HS256"}"#);

        // A retired, verify-only key counts: resource servers still hold it.
        let ring = Keyring::new(
            vec![
                Key::private_pem("new".into(), Algorithm::RS256, &pem("rs256.pem")).unwrap(),
                Key::public_pem("old".into(), Algorithm::RS256, &pem("rs256-old.pub.pem")).unwrap(),
            ],
            None,
        )
        .unwrap();
        let token = ring.sign(None, layout(&[Alg]), &claims(false)).unwrap();
        assert_eq!(header_json(&token), r#"{"alg":"RS256","kid":"new"}"#);
    }
}
