//! DataContractSerializer XML for ASP.NET Web API token endpoints (the `swagger` dialect's
//! `POST api/v1/auth/token`): reads a request body into `(member, value)` pairs and writes a
//! response contract byte for byte as .NET's `DataContractSerializer` does.
//!
//! Nothing here knows the engine or HTTP: the caller maps members to grant parameters, and picks
//! the charset from `Content-Type` (see [`decode_text`]).
//!
//! The work splits where its input changes, one file each:
//!
//! * `decode.rs`: body bytes to text ([`decode_text`], failing with a [`TextError`]): BOM,
//!   `charset`, UTF-16. The JSON codec decodes its bodies with it too.
//! * `read.rs`: text to the contract's members ([`read_members`], shaped by [`XmlContract`],
//!   [`MemberOrder`] and [`XmlLimits`]); [`XmlError`] names every way a body can fail,
//!   decoding included (it wraps the [`TextError`]).
//! * `write.rs`: a response contract to the serializer's exact bytes ([`write_contract`],
//!   [`XmlScalar`]).
//!
//! Each file states its rules. The places where they knowingly differ from .NET are gathered
//! here, so that they can be reviewed together.
//!
//! # Where this departs from .NET / Mono, and why
//!
//! * Wrong root name or namespace: an empty body here, so the engine reports the missing
//!   `grant_type` (the gateway's rule, `docs/wire.md`, section "swagger"); an exception in Mono.
//! * Trailing content after the root, a second root, text outside the root: rejected here;
//!   .NET never reads past the root's end tag. Rejecting is the safer reading of junk.
//! * Unknown `charset`: an error here, so that a client learns its header is wrong (the
//!   gateway's rule, `docs/wire.md`, section "swagger"); Web API's `SelectCharacterEncoding`
//!   silently falls back to UTF-8.
//! * BOM that contradicts `charset`: the BOM wins here; .NET's `EncodingStreamWrapper` throws
//!   an encoding-mismatch exception. A BOM is unambiguous, so clients are not punished for a
//!   stale header.
//! * Character references to control characters (`&#x1;`) are accepted, because the .NET
//!   writer itself produces them; only `&#0;`, surrogates and out-of-range code points are
//!   errors. Literal control characters are not checked either (quick-xml does not enforce the
//!   XML `Char` production), where a strict XML 1.0 reader would reject them.
//! * Namespace declarations are compared as written (quick-xml's resolver does not expand
//!   references in `xmlns` values), so a namespace spelled with character references does not
//!   match; no serializer writes one.
//! * Float formatting follows .NET Core's shortest round-trip; see [`XmlScalar`].

mod decode;
mod read;
#[cfg(test)]
mod samples;
mod write;

pub use decode::{TextError, decode_text};
pub use read::{
    MemberOrder, SERIALIZATION_NAMESPACE, XmlContract, XmlError, XmlLimits, read_members,
    read_primitive,
};
pub use write::{
    Declaration, Document, Flavour, XmlMember, XmlScalar, write_contract, write_document,
};

/// The XML Schema instance namespace, home of `i:nil`.
pub const XSI_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// A parser or cursor position as an index. Positions into an in-memory body always fit; the
/// saturating conversion keeps the request path free of `unwrap`.
fn offset(position: u64) -> usize {
    usize::try_from(position).unwrap_or(usize::MAX)
}

/// At most 64 bytes of body-supplied text (a name, a value), for error messages.
fn clip(text: &str) -> String {
    clip_to(text, 64)
}

/// A parser's message, which quotes names from the body: long enough to keep the message,
/// short enough that a megabyte tag name is not echoed back.
fn clip_reason(text: &str) -> String {
    clip_to(text, 200)
}

/// Clips at a character boundary and blanks control characters, so a message stays one line.
fn clip_to(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut clipped: String = text[..end]
        .chars()
        .map(|ch| if ch.is_control() { ' ' } else { ch })
        .collect();
    if end < text.len() {
        clipped.push_str("...");
    }
    clipped
}

/// An XML element name the writers can use: an XML 1.0 `NCName` (no colon, since the writers
/// declare no prefixes for members), so `.issued` or `as:client_id` cannot reach an XML answer
/// (route compilation checks every member and root name with this).
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let start = |c: char| c.is_alphabetic() || c == '_';
    start(first) && chars.all(|c| start(c) || c.is_numeric() || matches!(c, '-' | '.' | '\u{B7}'))
}
