//! ASP.NET Identity's PBKDF2 hashes, base64 of a marker byte and a payload, as its
//! `PasswordHasher` writes them (aspnetcore, src/Identity/Extensions.Core/src/PasswordHasher.cs;
//! the v2 layout is also that of ASP.NET Identity 2's `Crypto.HashPassword`):
//!
//! - v2: `0x00`, 16-byte salt, 32-byte PBKDF2-HMAC-SHA1 subkey, 1000 iterations (49 bytes);
//! - v3: `0x01`, then big-endian u32s PRF (0 HMAC-SHA1, 1 HMAC-SHA256, 2 HMAC-SHA512),
//!   iteration count and salt length, the salt, and the subkey (the rest of the payload).
//!
//! Parsing is stricter than ASP.NET's verifier only where its values would be absurd (see the
//! bounds); what it accepts, it verifies the same way (UTF-8 password, constant-time compare).

use base64::Engine as _;
use subtle::ConstantTimeEq;

use super::{HashError, HashKind};

/// v2's fixed layout.
const V2_SALT: usize = 16;
const V2_SUBKEY: usize = 32;
const V2_ITERATIONS: u32 = 1000;
/// The v3 header: marker, PRF, iteration count, salt length.
const V3_HEADER: usize = 13;
/// ASP.NET rejects a salt or a subkey under 128 bits; so do we.
const MIN_LEN: usize = 16;
/// Salts and subkeys ASP.NET writes are 16 and 32 bytes (its own tests use up to 64); beyond
/// 1 KiB a value is not a real hash.
const MAX_SALT: usize = 1024;
/// A subkey longer than the PRF's output costs a whole PBKDF2 run per output block: bounded so
/// that a stored value cannot make one login cost many.
const MAX_SUBKEY: usize = 128;
/// The most PBKDF2 work one verification may take, in iterations times output blocks: 10 M,
/// 100 times .NET 7's default of 100 000 (HMAC-SHA512, one block), seconds of CPU per login.
const MAX_WORK: u64 = 10_000_000;

/// ASP.NET Identity's hash format version (the marker byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdentityVersion {
    V2,
    V3,
}

/// The PBKDF2 pseudo-random function (v3's `KeyDerivationPrf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Prf {
    HmacSha1,
    HmacSha256,
    HmacSha512,
}

impl Prf {
    fn from_header(value: u32) -> Option<Self> {
        match value {
            0 => Some(Prf::HmacSha1),
            1 => Some(Prf::HmacSha256),
            2 => Some(Prf::HmacSha512),
            _ => None,
        }
    }

    /// The output size of one PBKDF2 block.
    fn output_len(self) -> usize {
        match self {
            Prf::HmacSha1 => 20,
            Prf::HmacSha256 => 32,
            Prf::HmacSha512 => 64,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Prf::HmacSha1 => "HMAC-SHA1",
            Prf::HmacSha256 => "HMAC-SHA256",
            Prf::HmacSha512 => "HMAC-SHA512",
        }
    }
}

/// A parsed ASP.NET Identity hash.
#[derive(Clone)]
pub(super) struct IdentityHash {
    pub(super) version: IdentityVersion,
    pub(super) prf: Prf,
    pub(super) iterations: u32,
    salt: Box<[u8]>,
    subkey: Box<[u8]>,
}

impl IdentityHash {
    /// `bytes` is the decoded base64; its first byte is the marker.
    pub(super) fn parse(bytes: &[u8]) -> Result<Self, HashError> {
        match bytes.first() {
            Some(0x00) => Self::parse_v2(bytes),
            Some(0x01) => Self::parse_v3(bytes),
            Some(&marker) => Err(HashError::UnknownMarker(marker)),
            None => Err(HashError::Unrecognised),
        }
    }

    fn parse_v2(bytes: &[u8]) -> Result<Self, HashError> {
        let malformed = |why: String| HashError::Malformed {
            kind: HashKind::IdentityV2,
            why,
        };
        if bytes.len() != 1 + V2_SALT + V2_SUBKEY {
            return Err(malformed(format!(
                "{} bytes, expected {} (marker, {V2_SALT}-byte salt, {V2_SUBKEY}-byte subkey)",
                bytes.len(),
                1 + V2_SALT + V2_SUBKEY
            )));
        }
        let (salt, subkey) = bytes[1..].split_at(V2_SALT);
        Ok(Self {
            version: IdentityVersion::V2,
            prf: Prf::HmacSha1,
            iterations: V2_ITERATIONS,
            salt: salt.into(),
            subkey: subkey.into(),
        })
    }

    fn parse_v3(bytes: &[u8]) -> Result<Self, HashError> {
        let malformed = |why: String| HashError::Malformed {
            kind: HashKind::IdentityV3,
            why,
        };
        let Some(header) = bytes.get(..V3_HEADER) else {
            return Err(malformed(format!(
                "{} bytes, shorter than the {V3_HEADER}-byte header",
                bytes.len()
            )));
        };
        let field = |at: usize| {
            u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let (prf, iterations, salt_len) = (field(1), field(5), field(9));
        let prf = Prf::from_header(prf).ok_or_else(|| {
            malformed(format!(
                "PRF {prf} is unknown (0 HMAC-SHA1, 1 HMAC-SHA256, 2 HMAC-SHA512)"
            ))
        })?;
        let payload = &bytes[V3_HEADER..];
        let salt_len = usize::try_from(salt_len).unwrap_or(usize::MAX);
        if !(MIN_LEN..=MAX_SALT).contains(&salt_len) {
            return Err(malformed(format!(
                "salt length {salt_len} is outside {MIN_LEN}..={MAX_SALT} bytes"
            )));
        }
        if payload.len() < salt_len + MIN_LEN {
            return Err(malformed(format!(
                "the header declares a {salt_len}-byte salt, but {} bytes follow it, less than the salt and a {MIN_LEN}-byte subkey",
                payload.len()
            )));
        }
        let (salt, subkey) = payload.split_at(salt_len);
        if subkey.len() > MAX_SUBKEY {
            return Err(malformed(format!(
                "the subkey is {} bytes, over the bound of {MAX_SUBKEY}",
                subkey.len()
            )));
        }
        let blocks = subkey.len().div_ceil(prf.output_len()) as u64;
        if iterations == 0 || u64::from(iterations) * blocks > MAX_WORK {
            return Err(malformed(format!(
                "{iterations} iterations is outside 1..={} for a {}-byte {} subkey",
                MAX_WORK / blocks,
                subkey.len(),
                prf.name()
            )));
        }
        Ok(Self {
            version: IdentityVersion::V3,
            prf,
            iterations,
            salt: salt.into(),
            subkey: subkey.into(),
        })
    }

    /// The same parameters over a random salt and subkey, which nothing verifies against.
    pub(super) fn decoy(&self) -> Self {
        Self {
            salt: super::random_bytes(self.salt.len()),
            subkey: super::random_bytes(self.subkey.len()),
            ..self.clone()
        }
    }

    pub(super) fn verify(&self, input: &[u8]) -> bool {
        let mut computed = vec![0u8; self.subkey.len()];
        match self.prf {
            Prf::HmacSha1 => {
                pbkdf2::pbkdf2_hmac::<sha1::Sha1>(input, &self.salt, self.iterations, &mut computed)
            }
            Prf::HmacSha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                input,
                &self.salt,
                self.iterations,
                &mut computed,
            ),
            Prf::HmacSha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(
                input,
                &self.salt,
                self.iterations,
                &mut computed,
            ),
        }
        computed.ct_eq(&self.subkey).into()
    }

    /// Iterations times output blocks: what one verification costs in PRF runs.
    pub(super) fn work(&self) -> u64 {
        u64::from(self.iterations) * self.subkey.len().div_ceil(self.prf.output_len()) as u64
    }

    pub(super) fn salt_len(&self) -> usize {
        self.salt.len()
    }

    pub(super) fn subkey_len(&self) -> usize {
        self.subkey.len()
    }

    /// The stored form (base64 of the v3 layout, or of v2's), for `tokengate hash-password`.
    pub(super) fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(V3_HEADER + self.salt.len() + self.subkey.len());
        match self.version {
            IdentityVersion::V2 => bytes.push(0x00),
            IdentityVersion::V3 => {
                let prf: u32 = match self.prf {
                    Prf::HmacSha1 => 0,
                    Prf::HmacSha256 => 1,
                    Prf::HmacSha512 => 2,
                };
                bytes.push(0x01);
                bytes.extend_from_slice(&prf.to_be_bytes());
                bytes.extend_from_slice(&self.iterations.to_be_bytes());
                bytes.extend_from_slice(&(self.salt.len() as u32).to_be_bytes());
            }
        }
        bytes.extend_from_slice(&self.salt);
        bytes.extend_from_slice(&self.subkey);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// A new v3 hash over `input` as .NET 7 and later write it: HMAC-SHA512, 100 000 iterations,
    /// a random 16-byte salt, a 32-byte subkey.
    pub(super) fn new_v3(input: &[u8]) -> Self {
        let salt = super::random_bytes(16);
        let mut subkey = vec![0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha512>(input, &salt, 100_000, &mut subkey);
        Self {
            version: IdentityVersion::V3,
            prf: Prf::HmacSha512,
            iterations: 100_000,
            salt,
            subkey: subkey.into(),
        }
    }
}
