//! Katana's `AuthenticationTicket` and the bytes its `TicketSerializer` makes of one: a claims
//! identity and a properties dictionary, written with .NET's `BinaryWriter` and compressed with
//! gzip, the input of the data protector.
//!
//! The layout, from `aspnet/AspNetKatana`,
//! `src/Microsoft.Owin.Security/DataHandler/Serializer/TicketSerializer.cs` and
//! `PropertiesSerializer.cs` (Katana 3.0 and later, whose `FormatVersion` is 3; Katana 2.1 wrote
//! the same layout under version 2, which Katana 3 refuses: aspnet/Security#58 tells the story).
//! `int` is a little-endian `Int32`; `string` is `BinaryWriter.Write(string)`: the UTF-8 byte
//! count as a 7-bit encoded integer (low groups first, high bit = more), then the bytes.
//!
//! ```text
//! int     3                      the serializer's format version
//! string  authentication type    ("Bearer" for the OAuth server's tickets)
//! string  name claim type        "\0" when it is ClaimTypes.Name
//! string  role claim type        "\0" when it is ClaimTypes.Role
//! int     claim count
//!   per claim:
//!   string type                  "\0" when it equals the identity's name claim type
//!   string value
//!   string value type            "\0" when it is xsd:string
//!   string issuer                "\0" when it is "LOCAL AUTHORITY"
//!   string original issuer       "\0" when it equals the issuer
//! int     bootstrap context length, 0 without one; when not 0, the context as a string
//! int     1                      the properties serializer's format version
//! int     property count
//!   per property: string key, string value    (".issued", ".expires", the provider's own)
//! ```
//!
//! Claim properties are not written (Katana declined to add them, aspnet/AspNetKatana#137).
//! `.issued` and `.expires` are `DateTimeOffset.ToString("r")` of UTC instants (Katana's
//! `AuthenticationProperties`, format "r": `Sun, 13 Sep 2020 09:35:33 GMT`).

use std::io::{Read, Write};

use chrono::{DateTime, NaiveDateTime, Utc};

/// `ClaimsIdentity.DefaultNameClaimType` (`ClaimTypes.Name`).
pub const NAME_CLAIM_TYPE: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";
/// `ClaimsIdentity.DefaultRoleClaimType` (`ClaimTypes.Role`).
pub const ROLE_CLAIM_TYPE: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";
/// `ClaimTypes.NameIdentifier`: ASP.NET Identity's user id claim.
pub const NAME_IDENTIFIER_CLAIM_TYPE: &str =
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier";
/// The claim ASP.NET Identity's `ClaimsIdentityFactory` adds to every identity it makes.
pub const IDENTITY_PROVIDER_CLAIM_TYPE: &str =
    "http://schemas.microsoft.com/accesscontrolservice/2010/07/claims/identityprovider";
/// The claim holding the user's security stamp, which `ClaimsIdentityFactory` adds where the
/// user store keeps stamps (`Constants.DefaultSecurityStampClaimType`).
pub const SECURITY_STAMP_CLAIM_TYPE: &str = "AspNet.Identity.SecurityStamp";
/// Its value (`ClaimsIdentityFactory.DefaultIdentityProviderClaimValue`).
pub const IDENTITY_PROVIDER: &str = "ASP.NET Identity";
/// `ClaimsIdentity.DefaultIssuer`.
pub const LOCAL_AUTHORITY: &str = "LOCAL AUTHORITY";
/// `ClaimValueTypes.String`.
pub const STRING_VALUE_TYPE: &str = "http://www.w3.org/2001/XMLSchema#string";
/// The property keys of `AuthenticationProperties.IssuedUtc` and `ExpiresUtc`.
pub const ISSUED: &str = ".issued";
pub const EXPIRES: &str = ".expires";

/// What the serializer writes in place of a value equal to its default.
const PLACEHOLDER: &str = "\0";
const FORMAT_VERSION: i32 = 3;
const PROPERTIES_VERSION: i32 = 1;
/// The largest decompressed ticket read: a few kilobytes in practice; the bound keeps a small
/// token from inflating into a large allocation.
const MAX_TICKET_BYTES: u64 = 256 * 1024;
/// `DateTimeOffset.ToString("r")` for a UTC instant.
const RFC1123: &str = "%a, %d %b %Y %H:%M:%S GMT";

/// One claim, as `System.Security.Claims.Claim` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub claim_type: String,
    pub value: String,
    pub value_type: String,
    pub issuer: String,
    pub original_issuer: String,
}

impl Claim {
    /// A string claim issued locally, as `new Claim(type, value)` makes one.
    pub fn local(claim_type: &str, value: &str) -> Self {
        Self {
            claim_type: claim_type.to_owned(),
            value: value.to_owned(),
            value_type: STRING_VALUE_TYPE.to_owned(),
            issuer: LOCAL_AUTHORITY.to_owned(),
            original_issuer: LOCAL_AUTHORITY.to_owned(),
        }
    }
}

/// A `ClaimsIdentity`: what the bearer middleware hands the API as the caller.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    pub authentication_type: String,
    pub name_claim_type: String,
    pub role_claim_type: String,
    pub claims: Vec<Claim>,
    /// The identity's `BootstrapContext` token, when it had one: the token it was made from.
    pub bootstrap_context: Option<String>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("authentication_type", &self.authentication_type)
            .field("name_claim_type", &self.name_claim_type)
            .field("role_claim_type", &self.role_claim_type)
            .field("claims", &self.claims)
            // A token, so a secret.
            .field(
                "bootstrap_context",
                &self.bootstrap_context.as_ref().map(|_| "…"),
            )
            .finish()
    }
}

impl Identity {
    /// The value of the first claim of `claim_type`.
    pub fn first(&self, claim_type: &str) -> Option<&str> {
        self.claims
            .iter()
            .find(|c| c.claim_type == claim_type)
            .map(|c| c.value.as_str())
    }

    /// The first claim of the identity's name claim type (`ClaimsIdentity.Name`).
    pub fn name(&self) -> Option<&str> {
        self.first(&self.name_claim_type)
    }
}

/// An `AuthenticationTicket`: the identity and the properties, in their dictionary's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub identity: Identity,
    pub properties: Vec<(String, String)>,
}

/// Why bytes are not a ticket this serializer reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("not gzip, or larger than {MAX_TICKET_BYTES} bytes once decompressed")]
    Compression,
    #[error("format version {0}; Katana 3 reads version {FORMAT_VERSION} only")]
    Version(i32),
    #[error("properties format version {0}; Katana reads version {PROPERTIES_VERSION} only")]
    PropertiesVersion(i32),
    #[error("the ticket ends early")]
    Truncated,
    #[error("a string is not UTF-8")]
    Utf8,
    #[error("a count or length is negative or too large")]
    Count,
    #[error("the property {0:?} is there twice")]
    DuplicateProperty(String),
    #[error("{} bytes follow the ticket", .0)]
    Trailing(usize),
}

impl Ticket {
    /// The value of a property.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `AuthenticationProperties.IssuedUtc`.
    pub fn issued(&self) -> Option<DateTime<Utc>> {
        self.property(ISSUED).and_then(parse_rfc1123)
    }

    /// `AuthenticationProperties.ExpiresUtc`.
    pub fn expires(&self) -> Option<DateTime<Utc>> {
        self.property(EXPIRES).and_then(parse_rfc1123)
    }

    /// `TicketSerializer.Serialize`: the ticket written and gzip-compressed.
    pub fn serialize(&self) -> Vec<u8> {
        let mut raw = Vec::with_capacity(512);
        self.write(&mut raw);
        // Katana uses GZipStream with CompressionLevel.Optimal; any level reads back alike, and
        // flate2 writes a zero mtime, so the same ticket is the same bytes.
        let mut gzip = flate2::write::GzEncoder::new(
            Vec::with_capacity(raw.len()),
            flate2::Compression::default(),
        );
        // Writes into a Vec cannot fail.
        let _ = gzip.write_all(&raw);
        gzip.finish().unwrap_or_default()
    }

    /// `TicketSerializer.Deserialize`: decompresses and reads a version 3 ticket.
    pub fn deserialize(compressed: &[u8]) -> Result<Self, TicketError> {
        let mut raw = Vec::with_capacity(compressed.len() * 4);
        flate2::read::GzDecoder::new(compressed)
            .take(MAX_TICKET_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(|_| TicketError::Compression)?;
        if raw.len() as u64 > MAX_TICKET_BYTES {
            return Err(TicketError::Compression);
        }
        let mut reader = Reader { rest: &raw };
        let version = reader.int()?;
        if version != FORMAT_VERSION {
            return Err(TicketError::Version(version));
        }
        let ticket = Self::read_body(&mut reader)?;
        match reader.rest.len() {
            0 => Ok(ticket),
            n => Err(TicketError::Trailing(n)),
        }
    }

    /// The uncompressed layout, version first.
    fn write(&self, out: &mut Vec<u8>) {
        let identity = &self.identity;
        write_int(out, FORMAT_VERSION);
        write_string(out, &identity.authentication_type);
        write_with_default(out, &identity.name_claim_type, NAME_CLAIM_TYPE);
        write_with_default(out, &identity.role_claim_type, ROLE_CLAIM_TYPE);
        write_count(out, identity.claims.len());
        for claim in &identity.claims {
            write_with_default(out, &claim.claim_type, &identity.name_claim_type);
            write_string(out, &claim.value);
            write_with_default(out, &claim.value_type, STRING_VALUE_TYPE);
            write_with_default(out, &claim.issuer, LOCAL_AUTHORITY);
            write_with_default(out, &claim.original_issuer, &claim.issuer);
        }
        match identity.bootstrap_context.as_deref() {
            // Katana writes the context's length in UTF-16 units, then the string; readers only
            // look at whether it is 0.
            Some(token) if !token.trim().is_empty() => {
                write_count(out, token.encode_utf16().count());
                write_string(out, token);
            }
            _ => write_int(out, 0),
        }
        write_int(out, PROPERTIES_VERSION);
        write_count(out, self.properties.len());
        for (key, value) in &self.properties {
            write_string(out, key);
            write_string(out, value);
        }
    }

    /// Everything after the format version (the same from version 2 on).
    fn read_body(reader: &mut Reader<'_>) -> Result<Self, TicketError> {
        let authentication_type = reader.string()?;
        let name_claim_type = reader.with_default(NAME_CLAIM_TYPE)?;
        let role_claim_type = reader.with_default(ROLE_CLAIM_TYPE)?;
        // Each claim takes at least five bytes: a count beyond that is a lie, not a reason to
        // allocate.
        let count = reader.count(5)?;
        let mut claims = Vec::with_capacity(count);
        for _ in 0..count {
            let claim_type = reader.with_default(&name_claim_type)?;
            let value = reader.string()?;
            let value_type = reader.with_default(STRING_VALUE_TYPE)?;
            let issuer = reader.with_default(LOCAL_AUTHORITY)?;
            let original_issuer = reader.with_default(&issuer)?;
            claims.push(Claim {
                claim_type,
                value,
                value_type,
                issuer,
                original_issuer,
            });
        }
        let bootstrap_context = match reader.int()? {
            size if size > 0 => Some(reader.string()?),
            _ => None,
        };
        let version = reader.int()?;
        if version != PROPERTIES_VERSION {
            return Err(TicketError::PropertiesVersion(version));
        }
        let count = reader.count(2)?;
        let mut properties: Vec<(String, String)> = Vec::with_capacity(count);
        for _ in 0..count {
            let key = reader.string()?;
            let value = reader.string()?;
            // Dictionary.Add throws on a repeated key, and Katana then reads no ticket.
            if properties.iter().any(|(k, _)| *k == key) {
                return Err(TicketError::DuplicateProperty(key));
            }
            properties.push((key, value));
        }
        Ok(Self {
            identity: Identity {
                authentication_type,
                name_claim_type,
                role_claim_type,
                claims,
                bootstrap_context,
            },
            properties,
        })
    }
}

/// `DateTimeOffset.ToString("r")` of a UTC instant, as `.issued` and `.expires` hold them.
pub fn rfc1123(at: DateTime<Utc>) -> String {
    at.format(RFC1123).to_string()
}

/// `DateTimeOffset.TryParseExact(value, "r", ...)`.
fn parse_rfc1123(value: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(value, RFC1123)
        .ok()
        .map(|naive| naive.and_utc())
}

fn write_int(out: &mut Vec<u8>, value: i32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// A count as an `Int32`; a ticket never holds two billion of anything.
fn write_count(out: &mut Vec<u8>, count: usize) {
    write_int(out, i32::try_from(count).unwrap_or(i32::MAX));
}

/// `BinaryWriter.Write(string)`: 7-bit encoded UTF-8 length, then the bytes (also how
/// `MachineKey.Protect` writes its purposes into the key derivation's context).
pub(super) fn write_string(out: &mut Vec<u8>, value: &str) {
    let mut length = value.len();
    while length >= 0x80 {
        out.push((length as u8 & 0x7f) | 0x80);
        length >>= 7;
    }
    out.push(length as u8);
    out.extend_from_slice(value.as_bytes());
}

fn write_with_default(out: &mut Vec<u8>, value: &str, default: &str) {
    write_string(out, if value == default { PLACEHOLDER } else { value });
}

/// `BinaryReader` over the decompressed bytes.
struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], TicketError> {
        if self.rest.len() < n {
            return Err(TicketError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn int(&mut self) -> Result<i32, TicketError> {
        let bytes = self.take(4)?;
        Ok(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// A count of items each at least `min_size` bytes long: refused when negative or when the
    /// rest could not hold that many.
    fn count(&mut self, min_size: usize) -> Result<usize, TicketError> {
        let count = usize::try_from(self.int()?).map_err(|_| TicketError::Count)?;
        if count.saturating_mul(min_size) > self.rest.len() {
            return Err(TicketError::Count);
        }
        Ok(count)
    }

    /// `BinaryReader.Read7BitEncodedInt`: at most five groups, never negative.
    fn length(&mut self) -> Result<usize, TicketError> {
        let mut value: u32 = 0;
        for group in 0..5 {
            let byte = self.take(1)?[0];
            value |= u32::from(byte & 0x7f) << (7 * group);
            if byte & 0x80 == 0 {
                return i32::try_from(value)
                    .ok()
                    .and_then(|v| usize::try_from(v).ok())
                    .ok_or(TicketError::Count);
            }
        }
        Err(TicketError::Count)
    }

    fn string(&mut self) -> Result<String, TicketError> {
        let length = self.length()?;
        let bytes = self.take(length)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| TicketError::Utf8)
    }

    fn with_default(&mut self, default: &str) -> Result<String, TicketError> {
        let value = self.string()?;
        Ok(if value == PLACEHOLDER {
            default.to_owned()
        } else {
            value
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Ticket {
        Ticket {
            identity: Identity {
                authentication_type: "Bearer".into(),
                name_claim_type: NAME_CLAIM_TYPE.into(),
                role_claim_type: ROLE_CLAIM_TYPE.into(),
                claims: vec![
                    Claim::local(NAME_IDENTIFIER_CLAIM_TYPE, "614a1d03"),
                    Claim::local(NAME_CLAIM_TYPE, "user@example.com"),
                    Claim {
                        issuer: "https://issuer.example".into(),
                        original_issuer: "https://issuer.example".into(),
                        ..Claim::local(ROLE_CLAIM_TYPE, "Administrator")
                    },
                ],
                bootstrap_context: None,
            },
            properties: vec![
                ("userName".into(), "user@example.com".into()),
                (ISSUED.into(), "Sun, 13 Sep 2020 09:35:33 GMT".into()),
                (EXPIRES.into(), "Sun, 27 Sep 2020 09:35:33 GMT".into()),
            ],
        }
    }

    #[test]
    fn round_trips_and_reads_the_dates() {
        let ticket = sample();
        let back = Ticket::deserialize(&ticket.serialize()).unwrap();
        assert_eq!(back, ticket);
        assert_eq!(
            back.expires().unwrap().to_rfc3339(),
            "2020-09-27T09:35:33+00:00"
        );
        assert_eq!(
            rfc1123(back.issued().unwrap()),
            "Sun, 13 Sep 2020 09:35:33 GMT"
        );
        assert_eq!(back.identity.name(), Some("user@example.com"));
    }

    #[test]
    fn defaults_are_written_as_the_placeholder() {
        let mut raw = Vec::new();
        sample().write(&mut raw);
        // version 3, "Bearer", then the name and role claim types as "\0" each.
        assert_eq!(&raw[..15], b"\x03\0\0\0\x06Bearer\x01\0\x01\0");
        // The name claim's type is the identity's name claim type: a placeholder too; its
        // original issuer equals its issuer: a placeholder.
        let name_claim = b"\x01\0\x10user@example.com\x01\0\x01\0\x01\0";
        assert!(raw.windows(name_claim.len()).any(|w| w == name_claim));
        let role_issuer = b"\x16https://issuer.example\x01\0";
        assert!(raw.windows(role_issuer.len()).any(|w| w == role_issuer));
    }

    #[test]
    fn long_strings_take_a_multi_byte_length() {
        let mut out = Vec::new();
        write_string(&mut out, &"x".repeat(300));
        assert_eq!(&out[..2], &[0xac, 0x02]);
        assert_eq!(Reader { rest: &out }.string().unwrap().len(), 300);
    }

    fn gzip(raw: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(raw).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn refuses_other_versions_truncation_and_trailing_bytes() {
        let mut raw = Vec::new();
        sample().write(&mut raw);
        let mut v2 = raw.clone();
        v2[0] = 2;
        assert_eq!(
            Ticket::deserialize(&gzip(&v2)),
            Err(TicketError::Version(2))
        );
        for cut in [3, 10, raw.len() - 1] {
            assert!(
                Ticket::deserialize(&gzip(&raw[..cut])).is_err(),
                "cut at {cut}"
            );
        }
        let mut long = raw.clone();
        long.push(0);
        assert_eq!(
            Ticket::deserialize(&gzip(&long)),
            Err(TicketError::Trailing(1))
        );
        assert_eq!(Ticket::deserialize(&raw), Err(TicketError::Compression));
    }

    #[test]
    fn refuses_lying_counts_and_repeated_properties() {
        let mut huge = Vec::new();
        write_int(&mut huge, FORMAT_VERSION);
        write_string(&mut huge, "Bearer");
        write_string(&mut huge, PLACEHOLDER);
        write_string(&mut huge, PLACEHOLDER);
        write_int(&mut huge, i32::MAX);
        assert_eq!(Ticket::deserialize(&gzip(&huge)), Err(TicketError::Count));
        let mut twice = sample();
        twice.properties.push(("userName".into(), "other".into()));
        assert_eq!(
            Ticket::deserialize(&twice.serialize()),
            Err(TicketError::DuplicateProperty("userName".into()))
        );
    }

    #[test]
    fn a_bootstrap_context_is_read_back_and_never_shown() {
        let mut ticket = sample();
        ticket.identity.bootstrap_context = Some("eyJ0eXAi.secret".into());
        let back = Ticket::deserialize(&ticket.serialize()).unwrap();
        assert_eq!(
            back.identity.bootstrap_context.as_deref(),
            Some("eyJ0eXAi.secret")
        );
        assert!(!format!("{back:?}").contains("secret"));
    }

    mod arbitrary {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// The reader runs only on data whose MAC checked, but a wrong ticket must still be
            /// an error, never a panic or a huge allocation: arbitrary bytes, compressed or not,
            /// and every truncation of a real ticket.
            #[test]
            fn arbitrary_bytes_are_an_error_or_a_ticket(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = Ticket::deserialize(&bytes);
                let _ = Ticket::deserialize(&gzip(&bytes));
            }

            #[test]
            fn every_mutation_of_a_ticket_reads_or_fails(at in 0usize..400, byte in any::<u8>()) {
                let mut raw = Vec::new();
                sample().write(&mut raw);
                let at = at % raw.len();
                raw[at] = byte;
                let _ = Ticket::deserialize(&gzip(&raw));
                let _ = Ticket::deserialize(&gzip(&raw[..at]));
            }
        }
    }

    /// The ticket inside the ASP.NET Identity cookie that lowleveldesign's "Decrypting ASP.NET
    /// Identity cookies" (2014-11-11) decrypts with its machineKey: a real Katana 2.1 ticket
    /// (format version 2, the same layout). Its body reads as Katana 3 reads a version 3 body.
    #[test]
    fn reads_the_body_of_a_published_katana_ticket() {
        let raw = hex::decode(super::super::vectors::LOWLEVELDESIGN_TICKET).unwrap();
        let mut reader = Reader { rest: &raw };
        assert_eq!(reader.int().unwrap(), 2);
        let ticket = Ticket::read_body(&mut reader).unwrap();
        assert!(reader.rest.is_empty());
        assert_eq!(ticket.identity.authentication_type, "ApplicationCookie");
        assert_eq!(
            ticket.identity.first(NAME_IDENTIFIER_CLAIM_TYPE),
            Some("1748402090")
        );
        assert_eq!(ticket.identity.name(), Some("ssolnica"));
        assert_eq!(
            ticket.identity.first(IDENTITY_PROVIDER_CLAIM_TYPE),
            Some(IDENTITY_PROVIDER)
        );
        assert_eq!(ticket.identity.claims.len(), 7);
        assert_eq!(
            ticket.issued().map(rfc1123).as_deref(),
            Some("Wed, 29 Oct 2014 12:10:17 GMT")
        );
        assert_eq!(
            ticket.expires().map(rfc1123).as_deref(),
            Some("Wed, 12 Nov 2014 12:10:17 GMT")
        );
    }
}
