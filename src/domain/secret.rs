//! Values that must never be shown: client secrets, passwords and their SHA-1 digests, refresh
//! and access tokens. Their `Debug` prints a placeholder, so neither a log line nor a panic
//! message can carry one.

use std::fmt;

use subtle::ConstantTimeEq;

/// Member names whose values are secrets wherever a request or an answer carries them, compared
/// without case: what the test kit's capture and the shadow comparator never show.
const SECRET_MEMBERS: &[&str] = &[
    "password",
    "client_secret",
    "refresh_token",
    "access_token",
    "id_token",
    "token",
    "assertion",
    "client_assertion",
    "code",
    "code_verifier",
    "secret",
];

/// Whether a form, JSON or XML member of this name holds a secret.
pub fn is_secret_member(name: &str) -> bool {
    SECRET_MEMBERS
        .iter()
        .any(|secret| secret.eq_ignore_ascii_case(name))
}

/// A secret value: a client secret or a plain password. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Secret(Box<str>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<Box<str>>) -> Self {
        Self(value.into())
    }
    /// The value itself, for the few places that must hash or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether the secret is the empty string (OAuth libraries send one for public clients).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Compares in time independent of where the values first differ.
    pub fn ct_eq(&self, other: &Secret) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The SHA-1 digest of a UTF-8 password, as VizSeek clients send it (40 hex digits, any case).
#[derive(Clone, PartialEq, Eq)]
pub struct Sha1Hex([u8; 20]);

/// Why a `password` value is not a SHA-1 hex digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Sha1HexError {
    /// Not 40 characters long (the count it has).
    #[error("expected 40 hexadecimal digits, got {0} characters")]
    Length(usize),
    /// A character that is not a hexadecimal digit.
    #[error("expected only hexadecimal digits (0-9, a-f)")]
    Alphabet,
}

impl Sha1Hex {
    /// Parses a hex digest; upper and lower case are both accepted.
    pub fn parse(text: &str) -> Result<Self, Sha1HexError> {
        let chars = text.chars().count();
        if chars != 40 || text.len() != 40 {
            return Err(Sha1HexError::Length(chars));
        }
        let mut digest = [0u8; 20];
        hex::decode_to_slice(text, &mut digest).map_err(|_| Sha1HexError::Alphabet)?;
        Ok(Self(digest))
    }

    /// The digest of a plain password: a plain proof can become a SHA-1 proof, never the reverse.
    pub fn of_password(password: &Secret) -> Self {
        use sha1::Digest;
        Self(sha1::Sha1::digest(password.expose().as_bytes()).into())
    }

    /// A digest already computed (a stored legacy digest, a test's).
    pub fn from_bytes(digest: [u8; 20]) -> Self {
        Self(digest)
    }

    /// Compares in time independent of where the digests first differ.
    pub fn ct_eq(&self, other: &Sha1Hex) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    /// Lowercase hex, the form stored hashes are computed over.
    pub fn to_lower_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Sha1Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sha1Hex(***)")
    }
}

/// How the client proved the user's password.
#[derive(Debug, Clone)]
pub enum PasswordProof {
    /// The password itself.
    Plain(Secret),
    /// The SHA-1 hex digest of the password, as VizSeek clients send it.
    Sha1Hex(Sha1Hex),
}

impl PasswordProof {
    /// The SHA-1 digest of the password: the proof itself, or computed from the plain password.
    pub fn to_sha1(&self) -> Sha1Hex {
        match self {
            PasswordProof::Plain(secret) => Sha1Hex::of_password(secret),
            PasswordProof::Sha1Hex(digest) => digest.clone(),
        }
    }
}

/// A refresh token as issued to a client. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(Box<str>);

impl RefreshToken {
    /// Wraps a refresh token's value.
    pub fn new(value: impl Into<Box<str>>) -> Self {
        Self(value.into())
    }
    /// The value, for the answer and the store key (which hashes it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(***)")
    }
}

/// A signed access token. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a signed or opaque access token.
    pub fn new(value: String) -> Self {
        Self(value)
    }
    /// The value, for the answer.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_hex_accepts_either_case_and_matches_the_plain_digest() {
        let plain = Sha1Hex::of_password(&Secret::new("P@ssw0rd!"));
        let upper = Sha1Hex::parse(&plain.to_lower_hex().to_uppercase()).expect("valid hex");
        assert!(plain == upper);
    }

    #[test]
    fn sha1_hex_rejects_wrong_length_and_alphabet() {
        assert_eq!(Sha1Hex::parse("abc"), Err(Sha1HexError::Length(3)));
        assert_eq!(Sha1Hex::parse(&"g".repeat(40)), Err(Sha1HexError::Alphabet));
        // 40 characters but more bytes: must not be sliced inside a character.
        assert!(Sha1Hex::parse(&"é".repeat(40)).is_err());
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let shown = format!(
            "{:?} {:?} {:?}",
            Secret::new("hunter2"),
            RefreshToken::new("rt-value"),
            PasswordProof::Plain(Secret::new("hunter2"))
        );
        assert!(!shown.contains("hunter2") && !shown.contains("rt-value"));
    }
}
