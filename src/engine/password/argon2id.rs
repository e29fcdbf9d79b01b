//! argon2id PHC strings (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`), the kind
//! `tokengate hash-password` makes: parsed once at load, verified with a reused per-thread buffer.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

use super::{HashError, HashKind};

/// The most memory one verification may take: each hash thread keeps its buffer (see `verify`),
/// so `hash_workers` times this stays resident. 1 GiB is far beyond any published
/// recommendation (RFC 9106's first choice is 2 GiB for key derivation, not for logins; OWASP's
/// is 19 MiB); a value above it is a typo or an attempt to exhaust memory.
const MAX_MEMORY_KIB: u32 = 1 << 20;
/// The most passes: RFC 9106's recommendations use 1 to 3; OWASP's lowest-memory option 5.
const MAX_PASSES: u32 = 64;

/// A parsed argon2id hash: its parameters, salt and expected output.
#[derive(Clone)]
pub(super) struct Argon2idHash {
    params: Params,
    version: Version,
    salt: Box<[u8]>,
    expected: Box<[u8]>,
}

fn malformed(why: impl Into<String>) -> HashError {
    HashError::Malformed {
        kind: HashKind::Argon2id,
        why: why.into(),
    }
}

impl Argon2idHash {
    pub(super) fn parse(phc: &str) -> Result<Self, HashError> {
        // password_hash's errors describe the field, never echo the value.
        let parsed = PasswordHash::new(phc).map_err(|e| malformed(e.to_string()))?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(HashError::Algorithm(parsed.algorithm.as_str().to_owned()));
        }
        let params = Params::try_from(&parsed).map_err(|e| malformed(e.to_string()))?;
        if params.m_cost() > MAX_MEMORY_KIB {
            return Err(malformed(format!(
                "memory m={} KiB is over the bound of {MAX_MEMORY_KIB} KiB (1 GiB)",
                params.m_cost()
            )));
        }
        if params.t_cost() > MAX_PASSES {
            return Err(malformed(format!(
                "t={} passes is over the bound of {MAX_PASSES}",
                params.t_cost()
            )));
        }
        let version = match parsed.version.map(Version::try_from) {
            None => Version::V0x13,
            Some(Ok(version)) => version,
            Some(Err(e)) => return Err(malformed(e.to_string())),
        };
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err(malformed("the salt or the hash is missing"));
        };
        let mut salt_bytes = [0u8; 64];
        let salt = salt
            .decode_b64(&mut salt_bytes)
            .map_err(|e| malformed(format!("salt: {e}")))?;
        Ok(Self {
            params,
            version,
            salt: salt.into(),
            expected: expected.as_bytes().into(),
        })
    }

    /// A hash of the same cost over a random salt and output, which nothing verifies against.
    pub(super) fn decoy(&self) -> Self {
        Self {
            params: self.params.clone(),
            version: self.version,
            salt: super::random_bytes(self.salt.len()),
            expected: super::random_bytes(self.expected.len()),
        }
    }

    /// A hash with argon2's recommended parameters (those `hash` uses) over a random salt and
    /// output: the decoy of a directory with nothing else to imitate, made without hashing.
    pub(super) fn default_decoy() -> Self {
        Self {
            params: Params::default(),
            version: Version::V0x13,
            salt: super::random_bytes(16),
            expected: super::random_bytes(32),
        }
    }

    /// argon2's own verifier allocates the hash's memory (19 MiB with the recommended
    /// parameters) for every call; when the allocator maps blocks that large from the system
    /// (`tokengate serve` has glibc do so for the memory store, see
    /// `sys::map_large_allocations`), each verification also pays for faulting in and zeroing
    /// every page: measured, 40% more CPU per password grant. The calling thread's own buffer is
    /// reused instead; the hasher's threads are few and long-lived, so the memory held is one
    /// hash's worth per thread.
    pub(super) fn verify(&self, input: &[u8]) -> bool {
        let blocks = self.params.block_count();
        let hasher = Argon2::new(Algorithm::Argon2id, self.version, self.params.clone());
        let mut computed = vec![0u8; self.expected.len()];
        let hashed = MEMORY.with_borrow_mut(|memory| {
            if memory.len() < blocks {
                memory.resize(blocks, Block::default());
            }
            hasher.hash_password_into_with_memory(
                input,
                &self.salt,
                &mut computed,
                &mut memory[..blocks],
            )
        });
        // Constant time, as argon2's own verifier compares.
        hashed.is_ok() && bool::from(computed.ct_eq(&self.expected))
    }

    /// Memory in KiB, passes and lanes, for `Debug` and the cost estimate.
    pub(super) fn parameters(&self) -> (u32, u32, u32) {
        (
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost(),
        )
    }
}

thread_local! {
    /// argon2's working memory, kept by each thread that verifies (see `Argon2idHash::verify`).
    static MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// argon2id with argon2's recommended parameters (OWASP's first choice: 19 MiB, 2 passes).
pub(super) fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// A new PHC string over `input` with a random salt.
pub(super) fn hash(input: &[u8]) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Ok(argon2()
        .hash_password(input, &salt)
        .map_err(|e| malformed(e.to_string()))?
        .to_string())
}
