//! ASP.NET 4.5's `MachineKey.Protect` and `Unprotect` over explicit `<machineKey>` keys: what
//! Katana's `MachineKeyDataProtector` (`aspnet/AspNetKatana`,
//! `src/Microsoft.Owin.Host.SystemWeb/DataProtection/MachineKeyDataProtector.cs`) calls with its
//! purposes. From `microsoft/referencesource`, `System.Web/Security/MachineKey.cs` and
//! `System.Web/Security/Cryptography/`:
//!
//! - The purpose is `Purpose.User_MachineKey_Protect` ("User.MachineKey.Protect") with the
//!   caller's purposes appended as its specific purposes (`Purpose.AppendSpecificPurposes`), and
//!   that whatever `<machineKey compatibilityMode>` says (`MachineKey.Protect` uses
//!   `AspNetCryptoServiceProvider` "regardless of whether or not it's the default provider").
//! - Keys (`SP800_108.DeriveKey`, `Purpose.GetKeyDerivationParameters`): NIST SP 800-108 in
//!   counter mode with HMAC-SHA512 keyed with the master key; label = UTF-8 of the primary
//!   purpose, context = each specific purpose as `BinaryWriter.Write(string)` writes it (7-bit
//!   length, UTF-8), concatenated. Block i is `HMAC(BE32(i) || label || 0x00 || context ||
//!   BE32(L))`, L the master key's length in bits; the derived key has the master key's length.
//!   The encryption key derives from `decryptionKey`, the validation key from `validationKey`
//!   (`MachineKeyMasterKeyProvider`: hex keys are used as they are; `AutoGenerate` keys live in
//!   one machine's registry and cannot be given here).
//! - Protection (`NetFXCryptoService.Protect`): `IV || Enc(Kenc, IV, data) || HMAC(Kval, IV ||
//!   Enc(...))`, CBC with PKCS#7 padding (the .NET defaults), a random IV of one block. Unprotect
//!   checks the MAC (in constant time) before it decrypts, and every failure is the same one
//!   error (`HomogenizingCryptoServiceWrapper`).
//! - Algorithms (`MachineKeyCryptoAlgorithmFactory`): `decryption` AES (or `Auto`, which is AES)
//!   and 3DES; `validation` SHA1 (which means HMAC-SHA1), HMACSHA256, HMACSHA384, HMACSHA512.
//!   DES and custom `alg:` types are not offered. Key lengths as .NET accepts them: AES 128, 192
//!   or 256 bits, 3DES 128 or 192 bits, a validation key of at least 20 bytes
//!   (`MachineKeySection`: "between 40 and 128 hex chars" before 4.5, at least 40 since).

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};

/// `Purpose.User_MachineKey_Protect`, the primary purpose of every `MachineKey.Protect` call.
pub const MACHINE_KEY_PROTECT: &str = "User.MachineKey.Protect";

/// `<machineKey validation>`: the MAC over IV and ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    HmacSha1,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

/// `<machineKey decryption>`: the block cipher, in CBC mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decryption {
    Aes,
    TripleDes,
}

/// Why a `<machineKey>` setting cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MachineKeyError {
    #[error(
        "unsupported validation {0:?}; supported: SHA1 (HMAC-SHA1, also HMACSHA1), HMACSHA256, \
         HMACSHA384, HMACSHA512"
    )]
    Validation(String),
    #[error("unsupported decryption {0:?}; supported: AES (Auto means AES), 3DES")]
    Decryption(String),
    #[error("not hex digits as web.config holds them (an even number of 0-9, a-f, A-F)")]
    Hex,
    #[error("{got} bytes; a validation key has at least 20 (40 hex digits), as ASP.NET requires")]
    ValidationKeyLength { got: usize },
    #[error("{got} bytes; {decryption:?} takes a key of {takes}")]
    DecryptionKeyLength {
        decryption: Decryption,
        got: usize,
        takes: &'static str,
    },
}

impl Validation {
    /// The `validation` attribute's value; `SHA1` is what web.config says for HMAC-SHA1.
    pub fn parse(name: &str) -> Result<Self, MachineKeyError> {
        match name {
            "SHA1" | "HMACSHA1" => Ok(Self::HmacSha1),
            "HMACSHA256" => Ok(Self::HmacSha256),
            "HMACSHA384" => Ok(Self::HmacSha384),
            "HMACSHA512" => Ok(Self::HmacSha512),
            other => Err(MachineKeyError::Validation(other.to_owned())),
        }
    }

    /// The MAC's length in bytes.
    pub fn mac_len(self) -> usize {
        match self {
            Self::HmacSha1 => 20,
            Self::HmacSha256 => 32,
            Self::HmacSha384 => 48,
            Self::HmacSha512 => 64,
        }
    }
}

impl Decryption {
    pub fn parse(name: &str) -> Result<Self, MachineKeyError> {
        match name {
            "AES" | "Auto" => Ok(Self::Aes),
            "3DES" => Ok(Self::TripleDes),
            other => Err(MachineKeyError::Decryption(other.to_owned())),
        }
    }

    /// The block (and IV) length in bytes.
    pub fn block_len(self) -> usize {
        match self {
            Self::Aes => 16,
            Self::TripleDes => 8,
        }
    }

    fn check_key(self, len: usize) -> Result<(), MachineKeyError> {
        let (ok, takes) = match self {
            Self::Aes => (
                matches!(len, 16 | 24 | 32),
                "16, 24 or 32 bytes (32, 48 or 64 hex digits)",
            ),
            Self::TripleDes => (
                matches!(len, 16 | 24),
                "16 or 24 bytes (32 or 48 hex digits)",
            ),
        };
        if ok {
            Ok(())
        } else {
            Err(MachineKeyError::DecryptionKeyLength {
                decryption: self,
                got: len,
                takes,
            })
        }
    }
}

/// Key bytes, never shown.
#[derive(Clone)]
struct KeyBytes(Vec<u8>);

impl std::fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} key bytes>", self.0.len())
    }
}

/// Hex as `web.config` writes keys (`CryptoUtil.HexToBinary`: either case).
fn from_hex(text: &str) -> Result<Vec<u8>, MachineKeyError> {
    hex::decode(text.trim()).map_err(|_| MachineKeyError::Hex)
}

/// A `<machineKey>` element's algorithms and master keys.
#[derive(Debug, Clone)]
pub struct MachineKey {
    validation: Validation,
    validation_key: KeyBytes,
    decryption: Decryption,
    decryption_key: KeyBytes,
}

impl MachineKey {
    /// From the element's attributes: the algorithms and the two keys as hex.
    pub fn new(
        validation: Validation,
        validation_key_hex: &str,
        decryption: Decryption,
        decryption_key_hex: &str,
    ) -> Result<Self, MachineKeyError> {
        let validation_key = Self::validation_key(validation_key_hex)?;
        let decryption_key = Self::decryption_key(decryption, decryption_key_hex)?;
        Ok(Self {
            validation,
            validation_key: KeyBytes(validation_key),
            decryption,
            decryption_key: KeyBytes(decryption_key),
        })
    }

    /// A validation key from its hex, checked (`tokengate check` reports each key alone).
    pub fn validation_key(hex: &str) -> Result<Vec<u8>, MachineKeyError> {
        let key = from_hex(hex)?;
        if key.len() < 20 {
            return Err(MachineKeyError::ValidationKeyLength { got: key.len() });
        }
        Ok(key)
    }

    /// A decryption key from its hex, checked against the algorithm's key sizes.
    pub fn decryption_key(decryption: Decryption, hex: &str) -> Result<Vec<u8>, MachineKeyError> {
        let key = from_hex(hex)?;
        decryption.check_key(key.len())?;
        Ok(key)
    }

    /// The protector `MachineKey.Protect(data, purposes)` uses: its keys derived once.
    pub fn protector<S: AsRef<str>>(&self, purposes: &[S]) -> Protector {
        let context = purpose_context(purposes);
        let derive =
            |master: &[u8]| sp800_108_ctr_hmac_sha512(master, MACHINE_KEY_PROTECT, &context);
        Protector {
            validation: self.validation,
            mac: Keyed::new(self.validation, &derive(&self.validation_key.0)),
            decryption: self.decryption,
            encryption_key: KeyBytes(derive(&self.decryption_key.0)),
        }
    }
}

/// The specific purposes as `Purpose.GetKeyDerivationParameters` writes the context.
fn purpose_context<S: AsRef<str>>(purposes: &[S]) -> Vec<u8> {
    let mut context = Vec::new();
    for purpose in purposes {
        super::ticket::write_string(&mut context, purpose.as_ref());
    }
    context
}

/// NIST SP 800-108 KDF in counter mode, PRF HMAC-SHA512, as `SP800_108.DeriveKeyImpl` lays out
/// its input; the output is as long as the master key.
fn sp800_108_ctr_hmac_sha512(master: &[u8], label: &str, context: &[u8]) -> Vec<u8> {
    let out_len = master.len();
    let bits = u32::try_from(out_len * 8).unwrap_or(u32::MAX);
    // An HMAC takes a key of any length, so this cannot fail.
    let Ok(keyed) = Hmac::<sha2::Sha512>::new_from_slice(master) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(out_len + 64);
    let mut counter: u32 = 1;
    while out.len() < out_len {
        let mut mac = keyed.clone();
        mac.update(&counter.to_be_bytes());
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(context);
        mac.update(&bits.to_be_bytes());
        out.extend_from_slice(&mac.finalize().into_bytes());
        counter += 1;
    }
    out.truncate(out_len);
    out
}

/// A keyed HMAC state, cloned per message (the key padding is hashed once).
#[derive(Clone)]
enum Keyed {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha384(Hmac<sha2::Sha384>),
    Sha512(Hmac<sha2::Sha512>),
}

impl Keyed {
    fn new(validation: Validation, key: &[u8]) -> Self {
        // An HMAC takes a key of any length: `new_from_slice` cannot fail here.
        fn keyed<M: Mac + hmac::digest::KeyInit>(key: &[u8]) -> M {
            <M as hmac::digest::KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| <M as hmac::digest::KeyInit>::new(&Default::default()))
        }
        match validation {
            Validation::HmacSha1 => Self::Sha1(keyed(key)),
            Validation::HmacSha256 => Self::Sha256(keyed(key)),
            Validation::HmacSha384 => Self::Sha384(keyed(key)),
            Validation::HmacSha512 => Self::Sha512(keyed(key)),
        }
    }

    fn tag(&self, message: &[u8]) -> Vec<u8> {
        fn run<M: Mac + Clone>(keyed: &M, message: &[u8]) -> Vec<u8> {
            let mut mac = keyed.clone();
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Self::Sha1(m) => run(m, message),
            Self::Sha256(m) => run(m, message),
            Self::Sha384(m) => run(m, message),
            Self::Sha512(m) => run(m, message),
        }
    }

    fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        fn run<M: Mac + Clone>(keyed: &M, message: &[u8], tag: &[u8]) -> bool {
            let mut mac = keyed.clone();
            mac.update(message);
            mac.verify_slice(tag).is_ok()
        }
        match self {
            Self::Sha1(m) => run(m, message, tag),
            Self::Sha256(m) => run(m, message, tag),
            Self::Sha384(m) => run(m, message, tag),
            Self::Sha512(m) => run(m, message, tag),
        }
    }
}

/// Why protected data was refused. `MachineKey.Unprotect` throws one exception for all of them;
/// the cases exist for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnprotectError {
    #[error("shorter than an IV, one block and a MAC")]
    TooShort,
    #[error("the MAC does not match (another key or purpose, or altered data)")]
    Mac,
    #[error("the plaintext's padding is wrong")]
    Padding,
}

/// `MachineKey.Protect`/`Unprotect` for one list of purposes, with its derived keys.
pub struct Protector {
    validation: Validation,
    mac: Keyed,
    decryption: Decryption,
    encryption_key: KeyBytes,
}

impl std::fmt::Debug for Protector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protector")
            .field("validation", &self.validation)
            .field("decryption", &self.decryption)
            .finish_non_exhaustive()
    }
}

impl Protector {
    /// The IV length the caller draws for [`Protector::protect`].
    pub fn iv_len(&self) -> usize {
        self.decryption.block_len()
    }

    /// `IV || CBC(data) || MAC`. `iv` is one block of fresh random bytes (the caller's random
    /// source, so that deterministic runs are reproducible).
    pub fn protect(&self, data: &[u8], iv: &[u8]) -> Vec<u8> {
        let key = &self.encryption_key.0;
        let mut out = Vec::with_capacity(iv.len() + data.len() + 16 + self.validation.mac_len());
        out.extend_from_slice(iv);
        let encrypted = match (self.decryption, key.len()) {
            (Decryption::Aes, 16) => encrypt::<aes::Aes128>(key, iv, data),
            (Decryption::Aes, 24) => encrypt::<aes::Aes192>(key, iv, data),
            (Decryption::Aes, _) => encrypt::<aes::Aes256>(key, iv, data),
            (Decryption::TripleDes, 16) => encrypt::<des::TdesEde2>(key, iv, data),
            (Decryption::TripleDes, _) => encrypt::<des::TdesEde3>(key, iv, data),
        };
        out.extend_from_slice(&encrypted);
        let tag = self.mac.tag(&out);
        out.extend_from_slice(&tag);
        out
    }

    /// Checks the MAC, then decrypts.
    pub fn unprotect(&self, protected: &[u8]) -> Result<Vec<u8>, UnprotectError> {
        let iv_len = self.decryption.block_len();
        let mac_len = self.validation.mac_len();
        let payload_len = protected
            .len()
            .checked_sub(iv_len + mac_len)
            .filter(|n| *n > 0)
            .ok_or(UnprotectError::TooShort)?;
        let (signed, tag) = protected.split_at(iv_len + payload_len);
        if !self.mac.verify(signed, tag) {
            return Err(UnprotectError::Mac);
        }
        let (iv, ciphertext) = signed.split_at(iv_len);
        self.decrypt(iv, ciphertext)
    }

    /// CBC decryption and PKCS#7 unpadding alone; [`Protector::unprotect`] checks the MAC
    /// first.
    fn decrypt(&self, iv: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, UnprotectError> {
        let key = &self.encryption_key.0;
        match (self.decryption, key.len()) {
            (Decryption::Aes, 16) => decrypt::<aes::Aes128>(key, iv, ciphertext),
            (Decryption::Aes, 24) => decrypt::<aes::Aes192>(key, iv, ciphertext),
            (Decryption::Aes, _) => decrypt::<aes::Aes256>(key, iv, ciphertext),
            (Decryption::TripleDes, 16) => decrypt::<des::TdesEde2>(key, iv, ciphertext),
            (Decryption::TripleDes, _) => decrypt::<des::TdesEde3>(key, iv, ciphertext),
        }
    }
}

fn encrypt<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Vec<u8>
where
    C: cbc::cipher::BlockEncryptMut + cbc::cipher::BlockCipher + cbc::cipher::KeyInit,
{
    // The key length was checked when the key was read and the IV is one block, so this
    // cannot fail; an empty answer would fail every later MAC check rather than panic.
    match cbc::Encryptor::<C>::new_from_slices(key, iv) {
        Ok(cipher) => cipher.encrypt_padded_vec_mut::<Pkcs7>(data),
        Err(_) => Vec::new(),
    }
}

fn decrypt<C>(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, UnprotectError>
where
    C: cbc::cipher::BlockDecryptMut + cbc::cipher::BlockCipher + cbc::cipher::KeyInit,
{
    cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| UnprotectError::Padding)?
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map_err(|_| UnprotectError::Padding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::katana::vectors;

    const VALIDATION: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const DECRYPTION: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    fn key(validation: Validation, decryption: Decryption, dk: &str) -> MachineKey {
        MachineKey::new(validation, VALIDATION, decryption, dk).unwrap()
    }

    #[test]
    fn the_context_is_binary_writer_strings() {
        assert_eq!(
            purpose_context(&["Microsoft.Owin.Security.OAuth", "Access_Token", "v1"]),
            b"\x1dMicrosoft.Owin.Security.OAuth\x0cAccess_Token\x02v1"
        );
    }

    /// The published cookie decrypts with the key derived from the published decryption key
    /// and the cookie middleware's purposes, to the published plaintext.
    #[test]
    fn derives_and_decrypts_as_asp_net_did() {
        let machine_key = MachineKey::new(
            Validation::HmacSha256,
            VALIDATION,
            Decryption::Aes,
            vectors::LOWLEVELDESIGN_DECRYPTION_KEY,
        )
        .unwrap();
        let protector = machine_key.protector(&[
            "Microsoft.Owin.Security.Cookies.CookieAuthenticationMiddleware",
            "ApplicationCookie",
            "v1",
        ]);
        let protected = super::super::decode_base64url(vectors::LOWLEVELDESIGN_COOKIE).unwrap();
        // IV, ciphertext, then an HMAC-SHA256 the page's key set cannot check.
        let (iv, rest) = protected.split_at(16);
        let ciphertext = &rest[..rest.len() - 32];
        let compressed = protector.decrypt(iv, ciphertext).unwrap();
        let mut plain = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&compressed[..]),
            &mut plain,
        )
        .unwrap();
        assert_eq!(hex::encode(plain), vectors::LOWLEVELDESIGN_TICKET);
        // Without the validation key it was protected with, the MAC check refuses it.
        assert_eq!(protector.unprotect(&protected), Err(UnprotectError::Mac));
    }

    #[test]
    fn round_trips_every_algorithm_and_key_size() {
        let keys = [
            (Decryption::Aes, &DECRYPTION[..32]),
            (Decryption::Aes, &DECRYPTION[..48]),
            (Decryption::Aes, DECRYPTION),
            (Decryption::TripleDes, &DECRYPTION[..32]),
            (Decryption::TripleDes, &DECRYPTION[..48]),
        ];
        for validation in [
            Validation::HmacSha1,
            Validation::HmacSha256,
            Validation::HmacSha384,
            Validation::HmacSha512,
        ] {
            for (decryption, dk) in keys {
                let protector = key(validation, decryption, dk).protector(&["a", "b"]);
                let iv = vec![7u8; protector.iv_len()];
                for data in [&b"x"[..], &[0u8; 16][..], &[1u8; 100][..]] {
                    let protected = protector.protect(data, &iv);
                    let blocks = data.len() / decryption.block_len() + 1;
                    assert_eq!(
                        protected.len(),
                        iv.len() + blocks * decryption.block_len() + validation.mac_len()
                    );
                    assert_eq!(protector.unprotect(&protected).unwrap(), data);
                }
            }
        }
    }

    #[test]
    fn refuses_other_purposes_keys_tampering_and_truncation() {
        let machine_key = key(Validation::HmacSha256, Decryption::Aes, DECRYPTION);
        let protector = machine_key.protector(&["p", "v1"]);
        let protected = protector.protect(b"secret data", &[9u8; 16]);
        let other_purpose = machine_key.protector(&["p", "v2"]);
        assert_eq!(
            other_purpose.unprotect(&protected),
            Err(UnprotectError::Mac)
        );
        // The purposes are length-prefixed: "p","v1" is not "pv","1".
        let shifted = machine_key.protector(&["pv", "1"]);
        assert_eq!(shifted.unprotect(&protected), Err(UnprotectError::Mac));
        let other_key = MachineKey::new(
            Validation::HmacSha256,
            DECRYPTION,
            Decryption::Aes,
            DECRYPTION,
        )
        .unwrap()
        .protector(&["p", "v1"]);
        assert_eq!(other_key.unprotect(&protected), Err(UnprotectError::Mac));
        for at in [0, 20, protected.len() - 1] {
            let mut tampered = protected.clone();
            tampered[at] ^= 1;
            assert_eq!(
                protector.unprotect(&tampered),
                Err(UnprotectError::Mac),
                "byte {at}"
            );
        }
        assert_eq!(
            protector.unprotect(&protected[..48]),
            Err(UnprotectError::TooShort)
        );
        assert_eq!(
            protector.unprotect(&protected[..protected.len() - 1]),
            Err(UnprotectError::Mac)
        );
    }

    #[test]
    fn key_checks_follow_asp_net() {
        assert_eq!(MachineKey::validation_key("zz"), Err(MachineKeyError::Hex));
        assert_eq!(MachineKey::validation_key("abc"), Err(MachineKeyError::Hex));
        assert_eq!(
            MachineKey::validation_key(&VALIDATION[..38]),
            Err(MachineKeyError::ValidationKeyLength { got: 19 })
        );
        assert!(MachineKey::validation_key(&VALIDATION[..40]).is_ok());
        assert!(MachineKey::validation_key(&VALIDATION.to_uppercase()).is_ok());
        assert!(matches!(
            MachineKey::decryption_key(Decryption::Aes, &DECRYPTION[..40]),
            Err(MachineKeyError::DecryptionKeyLength { got: 20, .. })
        ));
        assert!(matches!(
            MachineKey::decryption_key(Decryption::TripleDes, DECRYPTION),
            Err(MachineKeyError::DecryptionKeyLength { got: 32, .. })
        ));
        assert_eq!(Validation::parse("SHA1"), Ok(Validation::HmacSha1));
        assert!(Validation::parse("MD5").is_err());
        assert_eq!(Decryption::parse("Auto"), Ok(Decryption::Aes));
        assert!(Decryption::parse("DES").is_err());
        let shown = format!(
            "{:?}",
            key(Validation::HmacSha256, Decryption::Aes, DECRYPTION)
        );
        assert!(
            !shown.contains("0123") && !shown.contains("fedc"),
            "{shown}"
        );
    }
}
