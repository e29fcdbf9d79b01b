//! Stored password hashes and their verification, independent of where the user came from (the
//! TOML `[[user]]` items today, a database tomorrow). A hash's kind is recognised from the
//! stored value itself: argon2id and bcrypt strings, ASP.NET Identity v2 and v3 base64, or a
//! legacy unsalted SHA-1 hex digest. What it was computed over (the plain password or its SHA-1
//! hex) is configuration: [`HashInput`].

mod argon2id;
mod bcrypt;
mod identity;

use base64::Engine as _;

use identity::{IdentityVersion, Prf};

use crate::domain::{PasswordProof, Secret, Sha1Hex};

/// What a stored hash was computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashInput {
    /// The password's UTF-8 bytes, as ASP.NET Identity and most servers hash it.
    Plain,
    /// The lowercase SHA-1 hex digest of the password (40 characters), as tokengate's own
    /// argon2id hashes are, and as a server whose clients only ever sent the digest hashed it.
    Sha1Hex,
}

impl HashInput {
    pub fn as_str(self) -> &'static str {
        match self {
            HashInput::Plain => "plain",
            HashInput::Sha1Hex => "sha1_hex",
        }
    }
}

/// The configured `hash_input` a user's hash is read with: the user's own, else its
/// directory's; neither, [`HashKind::default_input`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputSetting {
    pub user: Option<HashInput>,
    pub directory: Option<HashInput>,
}

/// The kinds of stored hash, as recognised from the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashKind {
    Argon2id,
    Bcrypt,
    IdentityV2,
    IdentityV3,
    /// An unsalted SHA-1 hex digest of the password.
    Sha1Hex,
    /// A value read at request time that is none of the above, or malformed: it verifies
    /// nothing (see [`StoredHash::parse_or_unusable`]).
    Unusable,
}

impl HashKind {
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Argon2id => "argon2id",
            HashKind::Bcrypt => "bcrypt",
            HashKind::IdentityV2 => "ASP.NET Identity v2",
            HashKind::IdentityV3 => "ASP.NET Identity v3",
            HashKind::Sha1Hex => "SHA-1 hex digest",
            HashKind::Unusable => "unusable",
        }
    }

    /// What a hash of this kind is over when nothing is configured. argon2id: the SHA-1 hex,
    /// as `tokengate hash-password` has always made them (existing configurations keep
    /// working). The others come from legacy servers that hashed what their clients sent, the
    /// plain password for ASP.NET Identity and bcrypt; a SHA-1 hex digest *is* the digest of
    /// the plain password.
    pub fn default_input(self) -> HashInput {
        match self {
            HashKind::Argon2id => HashInput::Sha1Hex,
            HashKind::Bcrypt
            | HashKind::IdentityV2
            | HashKind::IdentityV3
            | HashKind::Sha1Hex
            | HashKind::Unusable => HashInput::Plain,
        }
    }
}

impl std::fmt::Display for HashKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a stored hash cannot be used. No message quotes the value: it is a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error(
        "not a PHC hash string (argon2id), a bcrypt string ($2a$, $2b$, $2y$), an ASP.NET Identity v2 or v3 base64 hash, or a 40-digit SHA-1 hex digest"
    )]
    Unrecognised,
    #[error("unsupported algorithm {0:?}; expected argon2id or bcrypt ($2a$, $2b$, $2y$)")]
    Algorithm(String),
    #[error("unknown ASP.NET Identity format marker 0x{0:02x} (0x00 is v2, 0x01 is v3)")]
    UnknownMarker(u8),
    #[error("malformed {kind} hash: {why}")]
    Malformed { kind: HashKind, why: String },
    #[error(
        "hash_input = \"sha1_hex\" does not apply to a SHA-1 hex digest, which is itself the digest of the plain password"
    )]
    InputNotApplicable,
}

/// A parsed stored hash and what it was computed over. Cheap to clone (one per verification).
#[derive(Clone)]
pub struct StoredHash {
    scheme: std::sync::Arc<Scheme>,
    input: HashInput,
}

#[derive(Clone)]
enum Scheme {
    Argon2id(argon2id::Argon2idHash),
    Bcrypt(bcrypt::BcryptHash),
    Identity(identity::IdentityHash),
    Sha1Hex(Sha1Hex),
    /// What failed to parse, and the hash whose cost a verification imitates.
    Unusable(HashError, StoredHash),
}

/// Only the kind and its parameters: never the salt, the hash or the digest.
impl std::fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoredHash({}", self.kind())?;
        match &*self.scheme {
            Scheme::Argon2id(hash) => {
                let (m, t, p) = hash.parameters();
                write!(f, ", m={m}, t={t}, p={p}")?;
            }
            Scheme::Bcrypt(hash) => write!(f, ", ${}$, cost {}", hash.variant, hash.cost)?,
            Scheme::Identity(hash) => write!(
                f,
                ", {}, {} iterations, {}-byte salt, {}-byte subkey",
                hash.prf.name(),
                hash.iterations,
                hash.salt_len(),
                hash.subkey_len()
            )?,
            Scheme::Sha1Hex(_) => {}
            // The error never quotes the value.
            Scheme::Unusable(error, _) => return write!(f, ": {error})"),
        }
        write!(f, ", over {})", self.input.as_str())
    }
}

impl StoredHash {
    /// Recognises `text` by its form: `$argon2id$` (PHC), `$2a$`/`$2b$`/`$2y$` (bcrypt), 40 hex
    /// digits (SHA-1), otherwise base64 of an ASP.NET Identity payload whose first byte is its
    /// format marker. Every parameter is checked here, so that verification cannot fail on
    /// the value later (it still answers `false`, never panics, if it did).
    pub fn parse(text: &str, input: InputSetting) -> Result<Self, HashError> {
        let scheme = if text.starts_with("$argon2") {
            Scheme::Argon2id(argon2id::Argon2idHash::parse(text)?)
        } else if text.starts_with("$2") {
            Scheme::Bcrypt(bcrypt::BcryptHash::parse(text)?)
        } else if text.starts_with('$') {
            // Another PHC or modular-crypt scheme ($1$, $5$, $6$, $pbkdf2-sha256$, ...): its
            // name is not secret.
            let name = text.split('$').nth(1).unwrap_or_default();
            return Err(HashError::Algorithm(name.chars().take(24).collect()));
        } else if text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Scheme::Sha1Hex(Sha1Hex::parse(text).map_err(|_| HashError::Unrecognised)?)
        } else {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| HashError::Unrecognised)?;
            Scheme::Identity(identity::IdentityHash::parse(&bytes)?)
        };
        let kind = scheme_kind(&scheme);
        let input = if kind == HashKind::Sha1Hex {
            // A directory-wide "sha1_hex" is about the hashes that have an input; a user who
            // says it of their digest has misread what they have.
            if input.user == Some(HashInput::Sha1Hex) {
                return Err(HashError::InputNotApplicable);
            }
            HashInput::Plain
        } else {
            input
                .user
                .or(input.directory)
                .unwrap_or(kind.default_input())
        };
        Ok(Self {
            scheme: std::sync::Arc::new(scheme),
            input,
        })
    }

    /// For a value read at request time (a database row), where a malformed hash must not be
    /// an error: one that does not parse becomes a hash that verifies nothing, at the cost of
    /// verifying `decoy` (the directory's, [`StoredHash::decoy`]), so that a broken row is an
    /// authentication failure like any other, in time too. The error is returned for a log line
    /// (it never quotes the value).
    pub fn parse_or_unusable(
        text: &str,
        input: InputSetting,
        decoy: &StoredHash,
    ) -> (Self, Option<HashError>) {
        match Self::parse(text, input) {
            Ok(hash) => (hash, None),
            Err(error) => {
                let hash = Self {
                    scheme: std::sync::Arc::new(Scheme::Unusable(error.clone(), decoy.clone())),
                    input: HashInput::Plain,
                };
                (hash, Some(error))
            }
        }
    }

    pub fn kind(&self) -> HashKind {
        scheme_kind(&self.scheme)
    }

    pub fn input(&self) -> HashInput {
        self.input
    }

    /// Whether a client that sends only the SHA-1 hex of the password can be verified: not
    /// when the hash is over the plain password, which the digest does not reveal.
    /// (An unusable hash verifies nothing from any proof; it is reported as itself.)
    pub fn verifiable_from_sha1_hex(&self) -> bool {
        matches!(self.kind(), HashKind::Sha1Hex | HashKind::Unusable)
            || self.input == HashInput::Sha1Hex
    }

    /// Verifies a proof. Expensive by design for every kind but the SHA-1 digest: callers run
    /// it on the hash threads (`hasher`).
    pub fn verify(&self, proof: &PasswordProof) -> bool {
        match &*self.scheme {
            Scheme::Sha1Hex(stored) => return proof.to_sha1().ct_eq(stored),
            Scheme::Unusable(_, decoy) => {
                std::hint::black_box(decoy.verify(proof));
                return false;
            }
            _ => {}
        }
        match (self.input, proof) {
            (HashInput::Sha1Hex, proof) => {
                self.verify_input(proof.to_sha1().to_lower_hex().as_bytes())
            }
            (HashInput::Plain, PasswordProof::Plain(password)) => {
                self.verify_input(password.expose().as_bytes())
            }
            (HashInput::Plain, PasswordProof::Sha1Hex(digest)) => {
                // Cannot succeed (`check` reports the route and the users). The hash is still
                // run, its answer thrown away, so this failure costs what any other costs.
                std::hint::black_box(self.verify_input(digest.to_lower_hex().as_bytes()));
                false
            }
        }
    }

    fn verify_input(&self, input: &[u8]) -> bool {
        match &*self.scheme {
            Scheme::Argon2id(hash) => hash.verify(input),
            Scheme::Bcrypt(hash) => hash.verify(input),
            Scheme::Identity(hash) => hash.verify(input),
            // Compared digest to digest in `verify`; never hashed.
            Scheme::Sha1Hex(_) | Scheme::Unusable(..) => false,
        }
    }

    /// A rough cost of one verification, in microseconds on one core of the development
    /// machine (`cargo bench --bench hashes`; README "Accepted password hashes"). Only the order
    /// matters: it picks which configured hash the unknown-user decoy imitates.
    pub fn estimated_cost_us(&self) -> u64 {
        match &*self.scheme {
            // 19 MiB, 2 passes: 15 ms, about 0.4 us per KiB and pass.
            Scheme::Argon2id(hash) => {
                let (m, t, _) = hash.parameters();
                u64::from(m) * u64::from(t) * 2 / 5
            }
            // Cost 10: about 55 ms, doubling per step.
            Scheme::Bcrypt(hash) => 54u64 << hash.cost,
            // Per PRF run (one output block): HMAC-SHA1 0.25 us, SHA256 0.35 us, SHA512 0.5 us.
            Scheme::Identity(hash) => {
                let per_thousand = match hash.prf {
                    Prf::HmacSha1 => 250,
                    Prf::HmacSha256 => 350,
                    Prf::HmacSha512 => 500,
                };
                hash.work() * per_thousand / 1000
            }
            Scheme::Sha1Hex(_) => 1,
            Scheme::Unusable(_, decoy) => decoy.estimated_cost_us(),
        }
    }

    /// A hash of the same kind, parameters and input over random values that no password
    /// verifies against: what the engine verifies when the user is unknown, so that an unknown
    /// name costs what a known one does.
    pub fn decoy(&self) -> Self {
        let scheme = match &*self.scheme {
            Scheme::Argon2id(hash) => Scheme::Argon2id(hash.decoy()),
            Scheme::Bcrypt(hash) => Scheme::Bcrypt(hash.decoy()),
            Scheme::Identity(hash) => Scheme::Identity(hash.decoy()),
            Scheme::Sha1Hex(_) => {
                let mut digest = [0u8; 20];
                digest.copy_from_slice(&random_bytes(20));
                Scheme::Sha1Hex(Sha1Hex::from_bytes(digest))
            }
            Scheme::Unusable(_, decoy) => return decoy.clone(),
        };
        Self {
            scheme: std::sync::Arc::new(scheme),
            input: self.input,
        }
    }

    /// The decoy for a directory with no hashes to imitate: argon2id with the parameters
    /// `tokengate hash-password` uses.
    pub fn default_decoy() -> Self {
        Self {
            scheme: std::sync::Arc::new(Scheme::Argon2id(argon2id::Argon2idHash::default_decoy())),
            input: HashKind::Argon2id.default_input(),
        }
    }
}

fn scheme_kind(scheme: &Scheme) -> HashKind {
    match scheme {
        Scheme::Argon2id(_) => HashKind::Argon2id,
        Scheme::Bcrypt(_) => HashKind::Bcrypt,
        Scheme::Identity(hash) => match hash.version {
            IdentityVersion::V2 => HashKind::IdentityV2,
            IdentityVersion::V3 => HashKind::IdentityV3,
        },
        Scheme::Sha1Hex(_) => HashKind::Sha1Hex,
        Scheme::Unusable(..) => HashKind::Unusable,
    }
}

fn random_bytes(len: usize) -> Box<[u8]> {
    use rand::RngCore;
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes.into()
}

/// The kinds `tokengate hash-password` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewHashFormat {
    /// argon2id (argon2's recommended parameters) over the SHA-1 hex of the password: serves
    /// routes whose clients send either proof. The default.
    Argon2id,
    /// ASP.NET Identity v3 as .NET 7+ writes it (HMAC-SHA512, 100 000 iterations), over the
    /// plain password: what a legacy ASP.NET server would verify too.
    IdentityV3,
}

/// The argon2id hash a directory's `upgrade_to = "argon2id"` records after a sign-in: over the
/// SHA-1 hex of the password `proof` gives, as `tokengate hash-password` makes them, so both
/// kinds of route verify it. Expensive: run on the hash threads.
pub fn upgrade_hash(proof: &PasswordProof) -> Result<String, HashError> {
    argon2id::hash(proof.to_sha1().to_lower_hex().as_bytes())
}

/// A new stored-hash string for `password`, in `format`, with a random salt.
pub fn hash_password(password: &Secret, format: NewHashFormat) -> Result<String, HashError> {
    match format {
        NewHashFormat::Argon2id => {
            argon2id::hash(Sha1Hex::of_password(password).to_lower_hex().as_bytes())
        }
        NewHashFormat::IdentityV3 => {
            Ok(identity::IdentityHash::new_v3(password.expose().as_bytes()).encode())
        }
    }
}

#[cfg(test)]
mod tests;
