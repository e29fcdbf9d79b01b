//! Stored password hashes and their verification. Every hash is computed over the lowercase
//! SHA-1 hex digest of the password, so one stored hash serves dialects whose clients send the
//! plain password and dialects whose clients send the digest.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::types::{PasswordProof, Secret, Sha1Hex};

/// A parsed stored hash (an argon2id PHC string).
#[derive(Clone)]
pub struct StoredHash {
    phc: String,
}

impl std::fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredHash(argon2id)")
    }
}

/// Why a configured hash string cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("not a PHC hash string: {0}")]
    Malformed(String),
    #[error("unsupported algorithm {0:?}; expected argon2id")]
    Algorithm(String),
}

impl StoredHash {
    /// Accepts an argon2id PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
    pub fn parse(phc: &str) -> Result<Self, HashError> {
        let parsed = PasswordHash::new(phc).map_err(|e| HashError::Malformed(e.to_string()))?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(HashError::Algorithm(parsed.algorithm.as_str().to_owned()));
        }
        // Parameters out of argon2's range would only fail at verification time: check now.
        Params::try_from(&parsed).map_err(|e| HashError::Malformed(e.to_string()))?;
        Ok(Self {
            phc: phc.to_owned(),
        })
    }

    /// Hashes a plain password the way the configuration stores it (argon2id over its SHA-1
    /// hex digest, argon2's recommended parameters, a random salt).
    pub fn hash_password(password: &Secret) -> Result<Self, HashError> {
        let digest = Sha1Hex::of_password(password).to_lower_hex();
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let phc = argon2()
            .hash_password(digest.as_bytes(), &salt)
            .map_err(|e| HashError::Malformed(e.to_string()))?
            .to_string();
        Ok(Self { phc })
    }

    pub fn as_phc(&self) -> &str {
        &self.phc
    }

    /// Verifies a proof. Expensive by design (argon2id): callers run it off the async workers.
    pub fn verify(&self, proof: &PasswordProof) -> bool {
        let digest = proof.to_sha1().to_lower_hex();
        match PasswordHash::new(&self.phc) {
            // argon2's verifier compares the final tag in constant time.
            Ok(parsed) => argon2().verify_password(digest.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        }
    }
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_both_proof_kinds_of_its_password_only() {
        let password = Secret::new("P@ssw0rd!");
        let stored = StoredHash::hash_password(&password).expect("hashes");
        let reparsed = StoredHash::parse(stored.as_phc()).expect("parses its own output");
        assert!(reparsed.verify(&PasswordProof::Plain(password.clone())));
        assert!(reparsed.verify(&PasswordProof::Sha1Hex(Sha1Hex::of_password(&password))));
        assert!(!reparsed.verify(&PasswordProof::Plain(Secret::new("p@ssw0rd!"))));
    }

    #[test]
    fn other_algorithms_and_garbage_are_rejected_at_load() {
        assert!(matches!(
            StoredHash::parse("$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
            Err(HashError::Algorithm(_))
        ));
        assert!(StoredHash::parse("plaintext").is_err());
    }
}
