//! Refresh tokens are nearly all of the store's memory, so their table holds a fixed-size key and
//! record inline: [`Key16`] hashed by its own prefix ([`KeyPrefix`]), and [`Packed`] with instants
//! as i64 nanoseconds. The byte budget they meet is in the [parent module](super)'s docs.

use std::hash::{BuildHasher, Hash, Hasher};

use chrono::{DateTime, Utc};

use crate::domain::{SessionId, TokenKey};

/// The first half of a [`TokenKey`]. Every key is the SHA-256 of a value the server generated
/// at random (a refresh or opaque access token, a JWT id), so 128 bits are as good as 256 in
/// practice: among a billion live keys, the chance of any two sharing their first half is below
/// 10^-20.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Key16([u8; 16]);

impl Key16 {
    pub(super) fn of(key: &TokenKey) -> Self {
        let mut half = [0; 16];
        half.copy_from_slice(&key.0[..16]);
        Self(half)
    }

    fn prefix(&self) -> u64 {
        let [a, b, c, d, e, f, g, h, ..] = self.0;
        u64::from_le_bytes([a, b, c, d, e, f, g, h])
    }

    /// Which of `stripes` (a power of two, at most 2^32) locks this key's rotations: the top
    /// bits of the prefix after a multiplicative mix, so keys that differ anywhere in their
    /// first 8 bytes spread.
    pub(super) fn stripe(&self, stripes: usize) -> usize {
        let mixed = self.prefix().wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (mixed >> (64 - stripes.trailing_zeros())) as usize
    }
}

impl Hash for Key16 {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // One u64 so that `KeyPrefix` can use it as it is; keyed hashers (the rare maps) mix it
        // as usual.
        state.write_u64(self.prefix());
    }
}

/// Hashes a [`Key16`] to its own first 8 bytes instead of running SipHash over it: the key is
/// already a uniform hash. SipHash's keying guards against an attacker choosing keys that
/// share a probe chain; here only the server inserts, with keys of tokens it generated, so no
/// chain can be built on purpose. Clients can look up any key they like, but a lookup only walks
/// the chains the server's random keys made.
#[derive(Clone, Copy, Default)]
pub(super) struct KeyPrefix;

impl BuildHasher for KeyPrefix {
    type Hasher = PrefixHasher;

    fn build_hasher(&self) -> PrefixHasher {
        PrefixHasher(0)
    }
}

pub(super) struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `Key16` is hashed here and it writes one u64; should anything else ever be, it
        // still gets a spread-out hash (FNV-1a) rather than a panic.
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// An instant as nanoseconds since the epoch, which an i64 holds exactly from 1677-09-21 to
/// 2262-04-11. Instants outside clamp to the nearer end: that keeps their order against any
/// clock a gateway will run with (a token set to expire in 2300 is still unexpired), and the
/// engine issues nothing near either end.
pub(super) fn to_nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

pub(super) fn from_nanos(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

pub(super) const USED: u32 = 1 << 31;
/// Set beside [`USED`] once a rotation has stored the token's successor in the store's side
/// map, so that retiring a marker without one costs no lookup there.
pub(super) const SUCCESSOR: u32 = 1 << 30;
const FLAGS: u32 = USED | SUCCESSOR;
pub(super) const NO_USER: u32 = u32::MAX;
pub(super) const NO_SCOPE: u32 = 0;

/// A refresh token's record as the table holds it; see the [parent module](super)'s docs. Packed
/// to 4-byte alignment so that with its key a bucket is 64 bytes: i64 alignment would pad it to
/// 72.
#[derive(Clone, Copy)]
#[repr(C, packed(4))]
pub(super) struct Packed {
    pub(super) session: [u8; 16],
    /// When the session started; once the token is used, when it was taken, which a used
    /// marker needs and the session start it no longer does.
    pub(super) session_started: i64,
    pub(super) expires_at: i64,
    /// A [`Names`](super::intern::Names) id, with [`USED`] set once the token is taken and
    /// [`SUCCESSOR`] once its rotation is stored.
    pub(super) client: u32,
    /// A [`Names`](super::intern::Names) id, or [`NO_USER`].
    pub(super) user: u32,
    /// A [`Scopes`](super::intern::Scopes) id holding one reference, or [`NO_SCOPE`]; a used
    /// token lets go of its scope, as only its session is needed to recognise a replay.
    pub(super) scope: u32,
    /// The security stamp's fingerprint ([`StampDigest::bits`](crate::domain::StampDigest)),
    /// or 0 for none.
    pub(super) stamp: u32,
}

const _: () = assert!(size_of::<(Key16, Packed)>() == 64);

impl Packed {
    pub(super) fn is_expired(&self, now: i64) -> bool {
        self.expires_at <= now
    }

    pub(super) fn is_used(&self) -> bool {
        self.client & USED != 0
    }

    /// Marks the token used at `now` and hands over its scope reference, if any, to the
    /// caller. Read the record's session start before: the taking time takes its place.
    pub(super) fn mark_used(&mut self, now: i64) -> Option<u32> {
        let scope = self.scope();
        self.client |= USED;
        self.scope = NO_SCOPE;
        self.session_started = now;
        scope
    }

    /// When a used token was taken.
    pub(super) fn used_at(&self) -> i64 {
        self.session_started
    }

    pub(super) fn has_successor(&self) -> bool {
        self.client & SUCCESSOR != 0
    }

    pub(super) fn mark_successor(&mut self) {
        self.client |= SUCCESSOR;
    }

    pub(super) fn session(&self) -> SessionId {
        SessionId(uuid::Uuid::from_bytes(self.session))
    }

    pub(super) fn client(&self) -> u32 {
        self.client & !FLAGS
    }

    pub(super) fn user(&self) -> Option<u32> {
        let user = self.user;
        (user != NO_USER).then_some(user)
    }

    pub(super) fn scope(&self) -> Option<u32> {
        let scope = self.scope;
        (scope != NO_SCOPE).then_some(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_to_the_nanosecond_and_clamp_outside_an_i64() {
        for at in [
            DateTime::from_timestamp(1_600_000_000, 1).expect("valid"),
            DateTime::from_timestamp(-1, 999_999_999).expect("valid"),
            DateTime::from_timestamp(0, 0).expect("valid"),
        ] {
            assert_eq!(from_nanos(to_nanos(at)), at);
        }
        let far = DateTime::from_timestamp(10_000_000_000, 0).expect("year 2286");
        let early = DateTime::from_timestamp(-10_000_000_000, 0).expect("year 1653");
        assert_eq!(to_nanos(far), i64::MAX);
        assert_eq!(to_nanos(early), i64::MIN);
    }

    #[test]
    fn the_key_hash_is_the_keys_own_prefix() {
        use sha2::Digest;
        let key = Key16::of(&TokenKey(sha2::Sha256::digest(3u32.to_le_bytes()).into()));
        assert_eq!(KeyPrefix.hash_one(key), key.prefix());
    }
}
