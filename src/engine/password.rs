//! Stored password hashes and their verification. Every hash is computed over the lowercase
//! SHA-1 hex digest of the password, so one stored hash serves dialects whose clients send the
//! plain password and dialects whose clients send the digest.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

use crate::domain::{PasswordProof, Secret, Sha1Hex};

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
    ///
    /// argon2's own verifier allocates the hash's memory (19 MiB with the recommended
    /// parameters) for every call; when the allocator maps blocks that large from the system
    /// (`tokengate serve` has glibc do so for the memory store, see
    /// `sys::map_large_allocations`), each verification also pays for faulting in and zeroing
    /// every page: measured, 40% more CPU per password grant. The calling thread's own buffer is
    /// reused instead; the hasher's threads are few and long-lived, so the memory held is one
    /// hash's worth per thread.
    pub fn verify(&self, proof: &PasswordProof) -> bool {
        let digest = proof.to_sha1().to_lower_hex();
        let Ok(parsed) = PasswordHash::new(&self.phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return false;
        };
        let mut salt_bytes = [0u8; 64];
        let (Ok(params), Ok(salt)) = (Params::try_from(&parsed), salt.decode_b64(&mut salt_bytes))
        else {
            return false;
        };
        let version = match parsed.version.map(Version::try_from) {
            None => Version::V0x13,
            Some(Ok(version)) => version,
            Some(Err(_)) => return false,
        };
        let blocks = params.block_count();
        let hasher = Argon2::new(Algorithm::Argon2id, version, params);
        let mut computed = vec![0u8; expected.len()];
        let hashed = MEMORY.with_borrow_mut(|memory| {
            if memory.len() < blocks {
                memory.resize(blocks, Block::default());
            }
            hasher.hash_password_into_with_memory(
                digest.as_bytes(),
                salt,
                &mut computed,
                &mut memory[..blocks],
            )
        });
        // Constant time, as argon2's own verifier compares.
        hashed.is_ok() && bool::from(computed.ct_eq(expected.as_bytes()))
    }
}

thread_local! {
    /// argon2's working memory, kept by each thread that verifies (see `StoredHash::verify`).
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
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
    fn verification_agrees_with_argon2s_own_verifier_across_parameters() {
        use argon2::password_hash::PasswordVerifier;
        let digest = Sha1Hex::of_password(&Secret::new("P@ssw0rd!")).to_lower_hex();
        // Larger then smaller memory on one thread, so the reused buffer is longer than needed.
        for (m, t, p, out) in [
            (64, 1, 1, 32),
            (256, 2, 2, 16),
            (32, 3, 1, 64),
            (8, 1, 1, 32),
        ] {
            let params = Params::new(m, t, p, Some(out)).unwrap();
            let salt = SaltString::from_b64("c2FsdHNhbHRzYWx0").unwrap();
            let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(digest.as_bytes(), &salt)
                .unwrap()
                .to_string();
            let stored = StoredHash::parse(&phc).unwrap();
            let parsed = PasswordHash::new(&phc).unwrap();
            for (proof, right) in [("P@ssw0rd!", true), ("p@ssw0rd!", false)] {
                let proof = PasswordProof::Plain(Secret::new(proof));
                let theirs = argon2()
                    .verify_password(proof.to_sha1().to_lower_hex().as_bytes(), &parsed)
                    .is_ok();
                assert_eq!((stored.verify(&proof), theirs), (right, right), "{phc}");
            }
        }
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
