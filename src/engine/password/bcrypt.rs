//! bcrypt modular-crypt strings (`$2a$`, `$2b$`, `$2y$`, cost, 22 characters of salt and 31 of
//! hash in bcrypt's base64), parsed and verified by the `bcrypt` crate.

use std::str::FromStr;

use base64::Engine as _;

use super::{HashError, HashKind};

/// bcrypt's own lower bound on the cost.
const MIN_COST: u32 = 4;
/// 2^16 rounds is several seconds of CPU per login; OWASP recommends 10, PHP's default is 10
/// and 12 is a common hardened choice. Above 16 a value is a typo or a denial of service.
const MAX_COST: u32 = 16;

/// A parsed bcrypt hash: the string (which `bcrypt::verify` parses again; a microsecond beside
/// the rounds) and its cost.
#[derive(Clone)]
pub(super) struct BcryptHash {
    text: Box<str>,
    pub(super) cost: u32,
    /// `2a`, `2b` or `2y`; they differ only in how old implementations handled long or
    /// non-ASCII passwords, and verify alike here.
    pub(super) variant: &'static str,
}

fn malformed(why: impl Into<String>) -> HashError {
    HashError::Malformed {
        kind: HashKind::Bcrypt,
        why: why.into(),
    }
}

impl BcryptHash {
    pub(super) fn parse(text: &str) -> Result<Self, HashError> {
        let variant = match text.get(..4) {
            Some("$2a$") => "2a",
            Some("$2b$") => "2b",
            Some("$2y$") => "2y",
            _ => {
                let shown = text.split('$').nth(1).unwrap_or_default();
                return Err(HashError::Algorithm(shown.chars().take(8).collect()));
            }
        };
        // The crate's error text quotes the whole hash: never shown.
        let parts = bcrypt::HashParts::from_str(text).map_err(|_| {
            malformed("expected $2b$NN$ then 53 characters of bcrypt base64 (salt and hash)")
        })?;
        let cost = parts.get_cost();
        if !(MIN_COST..=MAX_COST).contains(&cost) {
            return Err(malformed(format!(
                "cost {cost} is outside {MIN_COST}..={MAX_COST}"
            )));
        }
        Ok(Self {
            text: text.into(),
            cost,
            variant,
        })
    }

    pub(super) fn verify(&self, input: &[u8]) -> bool {
        // bcrypt reads at most 72 bytes of password, as every implementation the hashes came
        // from did; an error (never expected: parsed at load) is a failed verification.
        bcrypt::verify(input, &self.text).unwrap_or(false)
    }

    /// The same cost over a random salt and hash, which nothing verifies against. Written in
    /// bcrypt's own base64 alphabet, so no bcrypt run is spent making it.
    pub(super) fn decoy(&self) -> Self {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::BCRYPT,
            base64::engine::general_purpose::NO_PAD,
        );
        let text = format!(
            "${}${:02}${}{}",
            self.variant,
            self.cost,
            engine.encode(super::random_bytes(16)),
            engine.encode(super::random_bytes(23))
        );
        Self {
            text: text.into(),
            cost: self.cost,
            variant: self.variant,
        }
    }
}
