//! The compact binary encoding the durable backends (file, Redis) store values in. Fixed-width
//! fields come first, so the Redis scripts can turn a live record into a used marker, attach a
//! successor and check expiry by byte offset without decoding strings. A live refresh token is
//! 44 bytes plus its strings: 80 for a GUID client id alone, 118 with a GUID user id too; a used
//! one is 42 bytes, plus the sealed successor when its rotation stored one.
//!
//! | value | layout |
//! |---|---|
//! | live refresh token | `L` session(16) expires(12) session_started(12) client user? scope? stamp(4)? |
//! | used refresh token | `U` session(16) expires(12) used_at(12) successor? |
//! | instant | seconds (i64, big-endian) nanoseconds (u32, big-endian) |
//! | not-before marker | at(12) session(16) |
//! | failure window | failures (u32, big-endian) ends_at(12) |
//! | string, bytes | length (LEB128) bytes; optional: `0` none, `1` then the string or bytes |
//! | opaque access token | its claims as JSON |
//!
//! The security stamp's fingerprint (big-endian, never 0) is written only when the record has
//! one, so a record without it is byte for byte what was written before it existed, and decodes
//! as having none.
//!
//! A used marker of only 29 bytes (`U` session expires) was written before markers recorded
//! when they were taken; it still decodes, as taken at the Unix epoch with no successor, so a
//! replay of a token taken before an upgrade is still recognised. The other way round, a reader
//! that knows only those 29 bytes reads the fields it knows and ignores the rest.

use chrono::{DateTime, Utc};

use crate::domain::{
    AccessRecord, ClientId, FailureWindow, NotBefore, RefreshRecord, Scope, SealedToken, SessionId,
    StampDigest, Subject, UserId,
};

/// The tag of a live refresh token's value.
pub const LIVE: u8 = b'L';
/// The tag of a used refresh token's value.
pub const USED: u8 = b'U';
/// Bytes of an encoded instant.
pub const INSTANT_LEN: usize = 12;
/// Bytes a live record and a used marker share: tag, session, expiry.
pub const SHARED_LEN: usize = 1 + 16 + INSTANT_LEN;
/// Bytes of a used marker's fixed fields: the shared ones, then when it was taken. Its
/// optional successor follows.
pub const USED_LEN: usize = SHARED_LEN + INSTANT_LEN;
/// Bytes of a failure window.
pub const WINDOW_LEN: usize = 4 + INSTANT_LEN;

/// A stored value that does not decode: written by something else, or damaged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored value does not decode: {0}")]
pub struct DecodeError(&'static str);

/// A refresh-token slot as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    Live(RefreshRecord),
    Used {
        session: SessionId,
        expires_at: DateTime<Utc>,
        used_at: DateTime<Utc>,
        successor: Option<SealedToken>,
    },
}

impl Slot {
    pub fn expires_at(&self) -> DateTime<Utc> {
        match self {
            Slot::Live(record) => record.expires_at,
            Slot::Used { expires_at, .. } => *expires_at,
        }
    }
}

pub fn put_instant(out: &mut Vec<u8>, at: DateTime<Utc>) {
    out.extend_from_slice(&at.timestamp().to_be_bytes());
    out.extend_from_slice(&at.timestamp_subsec_nanos().to_be_bytes());
}

pub fn instant(at: DateTime<Utc>) -> [u8; INSTANT_LEN] {
    let mut out = [0u8; INSTANT_LEN];
    out[..8].copy_from_slice(&at.timestamp().to_be_bytes());
    out[8..].copy_from_slice(&at.timestamp_subsec_nanos().to_be_bytes());
    out
}

fn put_len(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_bytes(out, text.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_opt(out: &mut Vec<u8>, text: Option<&str>) {
    put_opt_bytes(out, text.map(str::as_bytes));
}

fn put_opt_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => out.push(0),
        Some(bytes) => {
            out.push(1);
            put_bytes(out, bytes);
        }
    }
}

/// A cursor over an encoded value.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn session(&mut self) -> Result<SessionId, DecodeError> {
        let bytes: [u8; 16] = self
            .take(16)?
            .try_into()
            .map_err(|_| DecodeError("session"))?;
        Ok(SessionId(uuid::Uuid::from_bytes(bytes)))
    }

    fn instant(&mut self) -> Result<DateTime<Utc>, DecodeError> {
        let secs: [u8; 8] = self
            .take(8)?
            .try_into()
            .map_err(|_| DecodeError("seconds"))?;
        let nanos: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| DecodeError("nanoseconds"))?;
        DateTime::from_timestamp(i64::from_be_bytes(secs), u32::from_be_bytes(nanos))
            .ok_or(DecodeError("instant out of range"))
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| DecodeError("not UTF-8"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let byte = self.byte()?;
            if shift > 28 {
                return Err(DecodeError("length too long"));
            }
            len |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        self.take(len)
    }

    fn opt(&mut self) -> Result<Option<&'a str>, DecodeError> {
        match self.byte()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            _ => Err(DecodeError("option tag")),
        }
    }

    fn opt_bytes(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.byte()? {
            0 => Ok(None),
            1 => self.bytes().map(Some),
            _ => Err(DecodeError("option tag")),
        }
    }
}

pub fn encode_live(record: &RefreshRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(LIVE);
    out.extend_from_slice(record.session.0.as_bytes());
    put_instant(&mut out, record.expires_at);
    put_instant(&mut out, record.session_started);
    put_str(&mut out, record.client.as_str());
    put_opt(&mut out, record.user.as_ref().map(UserId::as_str));
    put_opt(&mut out, record.scope.as_ref().map(Scope::as_str));
    if let Some(stamp) = record.stamp {
        out.extend_from_slice(&stamp.bits().to_be_bytes());
    }
    out
}

pub fn encode_used(
    session: SessionId,
    expires_at: DateTime<Utc>,
    used_at: DateTime<Utc>,
    successor: Option<&SealedToken>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(USED_LEN + 2 + successor.map_or(0, |s| s.0.len()));
    out.push(USED);
    out.extend_from_slice(session.0.as_bytes());
    put_instant(&mut out, expires_at);
    put_instant(&mut out, used_at);
    out.extend(encode_successor(successor));
    out
}

/// What follows a used marker's fixed fields: the Redis scripts append it after the first
/// [`USED_LEN`] bytes.
pub fn encode_successor(successor: Option<&SealedToken>) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + successor.map_or(0, |s| s.0.len()));
    put_opt_bytes(&mut out, successor.map(|s| s.0.as_slice()));
    out
}

pub fn decode_slot(bytes: &[u8]) -> Result<Slot, DecodeError> {
    let mut reader = Reader(bytes);
    let tag = reader.byte()?;
    let session = reader.session()?;
    let expires_at = reader.instant()?;
    match tag {
        USED if reader.0.is_empty() => Ok(Slot::Used {
            session,
            expires_at,
            used_at: DateTime::UNIX_EPOCH,
            successor: None,
        }),
        USED => {
            let used_at = reader.instant()?;
            let successor = reader.opt_bytes()?.map(|b| SealedToken(b.to_vec()));
            Ok(Slot::Used {
                session,
                expires_at,
                used_at,
                successor,
            })
        }
        LIVE => {
            let session_started = reader.instant()?;
            let client = ClientId::new(reader.str()?);
            let user = reader.opt()?.map(UserId::new);
            let scope = reader.opt()?.map(Scope::new);
            let stamp = match reader.0 {
                [] => None,
                [a, b, c, d] => Some(
                    StampDigest::from_bits(u32::from_be_bytes([*a, *b, *c, *d]))
                        .ok_or(DecodeError("stamp"))?,
                ),
                _ => return Err(DecodeError("stamp")),
            };
            Ok(Slot::Live(RefreshRecord {
                session,
                client,
                user,
                scope,
                session_started,
                expires_at,
                stamp,
            }))
        }
        _ => Err(DecodeError("refresh tag")),
    }
}

pub fn decode_instant(bytes: &[u8]) -> Result<DateTime<Utc>, DecodeError> {
    Reader(bytes).instant()
}

pub fn encode_window(window: &FailureWindow) -> Vec<u8> {
    let mut out = Vec::with_capacity(WINDOW_LEN);
    out.extend_from_slice(&window.failures.to_be_bytes());
    put_instant(&mut out, window.ends_at);
    out
}

pub fn decode_window(bytes: &[u8]) -> Result<FailureWindow, DecodeError> {
    let mut reader = Reader(bytes);
    let failures: [u8; 4] = reader
        .take(4)?
        .try_into()
        .map_err(|_| DecodeError("failures"))?;
    let ends_at = reader.instant()?;
    Ok(FailureWindow {
        failures: u32::from_be_bytes(failures),
        ends_at,
    })
}

pub fn encode_not_before(marker: &NotBefore) -> Vec<u8> {
    let mut out = Vec::with_capacity(INSTANT_LEN + 16);
    put_instant(&mut out, marker.at);
    out.extend_from_slice(marker.session.0.as_bytes());
    out
}

pub fn decode_not_before(bytes: &[u8]) -> Result<NotBefore, DecodeError> {
    let mut reader = Reader(bytes);
    let at = reader.instant()?;
    let session = reader.session()?;
    Ok(NotBefore { at, session })
}

/// The key bytes of a subject: client, then the optional user. Unambiguous because the client
/// is length-prefixed.
pub fn subject_key(subject: &Subject) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    put_str(&mut out, subject.client.as_str());
    put_opt(&mut out, subject.user.as_ref().map(UserId::as_str));
    out
}

pub fn encode_access(record: &AccessRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(384);
    record.claims.write_json(&mut out);
    out
}

pub fn decode_access(bytes: &[u8]) -> Result<AccessRecord, DecodeError> {
    serde_json::from_slice(bytes)
        .map(|claims| AccessRecord { claims })
        .map_err(|_| DecodeError("claims"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn record(user: Option<&str>, scope: Option<&str>) -> RefreshRecord {
        let at = DateTime::from_timestamp(1_600_000_000, 123_456_789).expect("valid");
        RefreshRecord {
            session: SessionId(uuid::Uuid::from_u128(0xdead_beef)),
            client: ClientId::new("3f6e1c1a-0000-4000-8000-000000000000"),
            user: user.map(UserId::new),
            scope: scope.map(Scope::new),
            session_started: at - TimeDelta::hours(1),
            expires_at: at,
            stamp: None,
        }
    }

    #[test]
    fn records_round_trip_at_full_precision() {
        for rec in [
            record(None, None),
            record(Some("614a1d03"), Some("read write")),
            record(Some(""), Some(&"s".repeat(70_000))),
        ] {
            let bytes = encode_live(&rec);
            assert_eq!(decode_slot(&bytes), Ok(Slot::Live(rec.clone())));
            let used_at = rec.expires_at - TimeDelta::nanoseconds(1_000_000_007);
            let used = encode_used(rec.session, rec.expires_at, used_at, None);
            assert_eq!(used.len(), USED_LEN + 1);
            assert_eq!(
                &bytes[1..SHARED_LEN],
                &used[1..SHARED_LEN],
                "a used marker starts as its live record does"
            );
            assert_eq!(
                decode_slot(&used),
                Ok(Slot::Used {
                    session: rec.session,
                    expires_at: rec.expires_at,
                    used_at,
                    successor: None,
                })
            );
        }
        // A GUID client id, no user, no scope: 41 fixed bytes, 37 for the client, 2 for "none".
        assert_eq!(encode_live(&record(None, None)).len(), 80);
    }

    #[test]
    fn a_stamp_is_four_trailing_bytes_and_a_record_without_one_is_unchanged() {
        let bare = record(Some("614a1d03"), Some("read"));
        let stamped = RefreshRecord {
            stamp: Some(StampDigest::of("3f1a-stamp")),
            ..bare.clone()
        };
        let (bare_bytes, stamped_bytes) = (encode_live(&bare), encode_live(&stamped));
        assert_eq!(stamped_bytes.len(), bare_bytes.len() + 4);
        assert_eq!(&stamped_bytes[..bare_bytes.len()], &bare_bytes[..]);
        assert_eq!(decode_slot(&stamped_bytes), Ok(Slot::Live(stamped)));
        assert_eq!(decode_slot(&bare_bytes), Ok(Slot::Live(bare)));
        // A partial or zero fingerprint is damage, not "no stamp".
        for cut in 1..4 {
            let damaged = &stamped_bytes[..stamped_bytes.len() - cut];
            assert!(decode_slot(damaged).is_err(), "cut {cut}");
        }
        let mut zero = bare_bytes.clone();
        zero.extend_from_slice(&[0; 4]);
        assert!(decode_slot(&zero).is_err());
    }

    #[test]
    fn a_successor_follows_the_used_markers_fixed_fields() {
        let rec = record(None, None);
        let used_at = rec.expires_at - TimeDelta::minutes(5);
        for len in [0, 1, 100, 200] {
            let successor = SealedToken((0..len).map(|i| i as u8).collect());
            let bare = encode_used(rec.session, rec.expires_at, used_at, None);
            let full = encode_used(rec.session, rec.expires_at, used_at, Some(&successor));
            // What the Redis rotation script builds: the fixed fields, then the successor.
            let mut spliced = bare[..USED_LEN].to_vec();
            spliced.extend(encode_successor(Some(&successor)));
            assert_eq!(spliced, full);
            assert_eq!(
                decode_slot(&full),
                Ok(Slot::Used {
                    session: rec.session,
                    expires_at: rec.expires_at,
                    used_at,
                    successor: Some(successor),
                })
            );
        }
    }

    #[test]
    fn a_used_marker_from_before_used_at_still_decodes() {
        let rec = record(None, None);
        let mut legacy = vec![USED];
        legacy.extend_from_slice(rec.session.0.as_bytes());
        put_instant(&mut legacy, rec.expires_at);
        assert_eq!(legacy.len(), SHARED_LEN);
        assert_eq!(
            decode_slot(&legacy),
            Ok(Slot::Used {
                session: rec.session,
                expires_at: rec.expires_at,
                used_at: DateTime::UNIX_EPOCH,
                successor: None,
            })
        );
    }

    #[test]
    fn failure_windows_round_trip() {
        let window = FailureWindow {
            failures: u32::MAX - 1,
            ends_at: DateTime::from_timestamp(1_600_000_300, 999).expect("valid"),
        };
        let bytes = encode_window(&window);
        assert_eq!(bytes.len(), WINDOW_LEN);
        assert_eq!(decode_window(&bytes), Ok(window));
        assert!(decode_window(&bytes[..WINDOW_LEN - 1]).is_err());
    }

    #[test]
    fn damaged_values_are_errors_not_panics() {
        let bytes = encode_live(&record(Some("u"), None));
        for cut in 0..bytes.len() {
            assert!(decode_slot(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let rec = record(None, None);
        let successor = SealedToken(vec![7; 40]);
        let used = encode_used(
            rec.session,
            rec.expires_at,
            rec.expires_at,
            Some(&successor),
        );
        // Cut right after the shared fields, it is a marker from before used_at.
        for cut in (0..used.len()).filter(|&cut| cut != SHARED_LEN) {
            assert!(decode_slot(&used[..cut]).is_err(), "used, cut at {cut}");
        }
        assert!(decode_slot(b"Xzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz").is_err());
        let marker = NotBefore {
            at: DateTime::from_timestamp(-5, 7).expect("valid"),
            session: SessionId(uuid::Uuid::from_u128(1)),
        };
        assert_eq!(decode_not_before(&encode_not_before(&marker)), Ok(marker));
    }
}
