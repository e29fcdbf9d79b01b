//! The compact binary encoding the durable backends (file, Redis) store values in. Fixed-width
//! fields come first, so the Redis take script can turn a live record into a used marker and
//! check expiry by byte offset without decoding strings. A live refresh token is 44 bytes plus
//! its strings: 80 for a GUID client id alone, 118 with a GUID user id too.
//!
//! | value | layout |
//! |---|---|
//! | live refresh token | `L` session(16) expires(12) session_started(12) client user? scope? |
//! | used refresh token | `U` session(16) expires(12) |
//! | instant | seconds (i64, big-endian) nanoseconds (u32, big-endian) |
//! | not-before marker | at(12) session(16) |
//! | string | length (LEB128) bytes; optional: `0` none, `1` then the string |
//! | opaque access token | its claims as JSON |

use chrono::{DateTime, Utc};

use crate::domain::{
    AccessRecord, ClientId, NotBefore, RefreshRecord, Scope, SessionId, Subject, UserId,
};

/// The tag of a live refresh token's value.
pub const LIVE: u8 = b'L';
/// The tag of a used refresh token's value.
pub const USED: u8 = b'U';
/// Bytes of a used marker: tag, session, expiry. A live record starts with the same fields.
pub const USED_LEN: usize = 1 + 16 + INSTANT_LEN;
/// Bytes of an encoded instant.
pub const INSTANT_LEN: usize = 12;

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

fn put_str(out: &mut Vec<u8>, text: &str) {
    let mut len = text.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(text.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            put_str(out, text);
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
        std::str::from_utf8(self.take(len)?).map_err(|_| DecodeError("not UTF-8"))
    }

    fn opt(&mut self) -> Result<Option<&'a str>, DecodeError> {
        match self.byte()? {
            0 => Ok(None),
            1 => self.str().map(Some),
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
    out
}

pub fn encode_used(session: SessionId, expires_at: DateTime<Utc>) -> Vec<u8> {
    let mut out = Vec::with_capacity(USED_LEN);
    out.push(USED);
    out.extend_from_slice(session.0.as_bytes());
    put_instant(&mut out, expires_at);
    out
}

pub fn decode_slot(bytes: &[u8]) -> Result<Slot, DecodeError> {
    let mut reader = Reader(bytes);
    let tag = reader.byte()?;
    let session = reader.session()?;
    let expires_at = reader.instant()?;
    match tag {
        USED => Ok(Slot::Used {
            session,
            expires_at,
        }),
        LIVE => {
            let session_started = reader.instant()?;
            let client = ClientId::new(reader.str()?);
            let user = reader.opt()?.map(UserId::new);
            let scope = reader.opt()?.map(Scope::new);
            Ok(Slot::Live(RefreshRecord {
                session,
                client,
                user,
                scope,
                session_started,
                expires_at,
            }))
        }
        _ => Err(DecodeError("refresh tag")),
    }
}

pub fn decode_instant(bytes: &[u8]) -> Result<DateTime<Utc>, DecodeError> {
    Reader(bytes).instant()
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
            let used = encode_used(rec.session, rec.expires_at);
            assert_eq!(used.len(), USED_LEN);
            assert_eq!(
                &bytes[1..USED_LEN],
                &used[1..],
                "the used marker is a prefix"
            );
        }
        // A GUID client id, no user, no scope: 41 fixed bytes, 37 for the client, 2 for "none".
        assert_eq!(encode_live(&record(None, None)).len(), 80);
    }

    #[test]
    fn damaged_values_are_errors_not_panics() {
        let bytes = encode_live(&record(Some("u"), None));
        for cut in 0..bytes.len() {
            assert!(decode_slot(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_slot(b"Xzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz").is_err());
        let marker = NotBefore {
            at: DateTime::from_timestamp(-5, 7).expect("valid"),
            session: SessionId(uuid::Uuid::from_u128(1)),
        };
        assert_eq!(decode_not_before(&encode_not_before(&marker)), Ok(marker));
    }
}
