//! Body bytes to text, the first step of reading: .NET settles the encoding from the bytes
//! before it parses anything, so this does too, and the reader after it only ever sees `str`.
//!
//! UTF-8 with or without a BOM, UTF-16 LE/BE with a BOM. Like .NET's `EncodingStreamWrapper`,
//! a body without a BOM that starts with `<` `NUL` (or `NUL` `<`) is taken as BOM-less UTF-16 LE
//! (BE). The encoding named in an XML declaration is ignored: the bytes decide. How a
//! `Content-Type` charset combines with these rules is on [`decode_text`].

use std::borrow::Cow;

use super::clip;

/// Why a body's bytes are not text in the encoding they claim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Not UTF-8: the first bad byte's offset in the body.
    #[error("body is not valid UTF-8 (invalid byte sequence at byte {at})")]
    InvalidUtf8 { at: usize },
    /// Not UTF-16: where, and what is wrong there.
    #[error("body is not valid UTF-16 ({reason} at byte {at})")]
    InvalidUtf16 { at: usize, reason: &'static str },
    /// A `charset` other than UTF-8 or UTF-16.
    #[error("charset \"{0}\" is not supported; send utf-8 or utf-16")]
    UnsupportedCharset(String),
}

/// The encodings a body may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Utf {
    Utf8,
    Utf16Le,
    Utf16Be,
}

/// A decoded body, with what is needed to map a text offset back to a body offset.
pub(super) struct Decoded<'a> {
    pub(super) text: Cow<'a, str>,
    utf: Utf,
    /// Length of the BOM that was stripped.
    bom: usize,
}

impl Decoded<'_> {
    /// The body byte offset of a byte offset into the decoded text, so error positions point
    /// into what the client sent.
    pub(super) fn body_offset(&self, at: usize) -> usize {
        let mut at = at.min(self.text.len());
        match self.utf {
            Utf::Utf8 => self.bom + at,
            Utf::Utf16Le | Utf::Utf16Be => {
                while !self.text.is_char_boundary(at) {
                    at -= 1;
                }
                let units = self.text.get(..at).map_or(0, |s| s.encode_utf16().count());
                self.bom + 2 * units
            }
        }
    }
}

/// Decodes a body to text: UTF-8 (BOM optional) or UTF-16 LE/BE.
///
/// A BOM wins over `charset` (the `Content-Type` parameter, quoted or not: `utf-8`,
/// `utf-16`, `utf-16le`, `utf-16be`, any case). Without a BOM, `utf-16` means LE unless the body
/// starts `NUL <`; without a charset, the first two bytes decide as in .NET (`< NUL` is UTF-16
/// LE, `NUL <` BE, anything else UTF-8). Any other charset is an error, even with a BOM, so a
/// client learns its header is wrong. The result never starts with a BOM; pass
/// `text.as_bytes()` to [`read_members`](super::read_members).
pub fn decode_text<'b>(body: &'b [u8], charset: Option<&str>) -> Result<Cow<'b, str>, TextError> {
    decode(body, charset).map(|decoded| decoded.text)
}

pub(super) fn decode<'b>(body: &'b [u8], charset: Option<&str>) -> Result<Decoded<'b>, TextError> {
    let declared = charset.map(parse_charset).transpose()?;
    let (utf, bom) = match body {
        [0xEF, 0xBB, 0xBF, ..] => (Utf::Utf8, 3),
        [0xFF, 0xFE, ..] => (Utf::Utf16Le, 2),
        [0xFE, 0xFF, ..] => (Utf::Utf16Be, 2),
        _ => {
            let sniffed = match body {
                [0x00, b'<', ..] => Some(Utf::Utf16Be),
                [b'<', 0x00, ..] => Some(Utf::Utf16Le),
                _ => None,
            };
            let utf = match declared {
                Some(Charset::Utf8) => Utf::Utf8,
                Some(Charset::Utf16Le) => Utf::Utf16Le,
                Some(Charset::Utf16Be) => Utf::Utf16Be,
                Some(Charset::Utf16) => sniffed.unwrap_or(Utf::Utf16Le),
                None => sniffed.unwrap_or(Utf::Utf8),
            };
            (utf, 0)
        }
    };
    let rest = body.get(bom..).unwrap_or_default();
    let text = match utf {
        Utf::Utf8 => {
            Cow::Borrowed(
                std::str::from_utf8(rest).map_err(|err| TextError::InvalidUtf8 {
                    at: bom + err.valid_up_to(),
                })?,
            )
        }
        Utf::Utf16Le => Cow::Owned(decode_utf16(rest, u16::from_le_bytes, bom)?),
        Utf::Utf16Be => Cow::Owned(decode_utf16(rest, u16::from_be_bytes, bom)?),
    };
    Ok(Decoded { text, utf, bom })
}

/// The charsets a `Content-Type` may name.
enum Charset {
    Utf8,
    Utf16,
    Utf16Le,
    Utf16Be,
}

fn parse_charset(raw: &str) -> Result<Charset, TextError> {
    let name = raw.trim().trim_matches('"').trim();
    if name.eq_ignore_ascii_case("utf-8") {
        Ok(Charset::Utf8)
    } else if name.eq_ignore_ascii_case("utf-16") {
        Ok(Charset::Utf16)
    } else if name.eq_ignore_ascii_case("utf-16le") {
        Ok(Charset::Utf16Le)
    } else if name.eq_ignore_ascii_case("utf-16be") {
        Ok(Charset::Utf16Be)
    } else {
        Err(TextError::UnsupportedCharset(clip(raw)))
    }
}

fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16, base: usize) -> Result<String, TextError> {
    let pairs = bytes.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(TextError::InvalidUtf16 {
            at: base + bytes.len() - 1,
            reason: "odd number of bytes",
        });
    }
    // ASCII-heavy bodies shrink from 2 bytes per character to 1.
    let mut text = String::with_capacity(bytes.len() / 2);
    let mut at = base;
    for decoded in char::decode_utf16(pairs.map(|pair| unit([pair[0], pair[1]]))) {
        match decoded {
            Ok(ch) => {
                text.push(ch);
                at += 2 * ch.len_utf16();
            }
            Err(_) => {
                return Err(TextError::InvalidUtf16 {
                    at,
                    reason: "unpaired surrogate",
                });
            }
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::xml::samples::utf16;

    #[test]
    fn decode_text_honours_charset_and_bom() {
        let le = utf16("<a/>", false, false);
        let be = utf16("<a/>", true, false);
        assert_eq!(decode_text(&le, Some("UTF-16LE")).unwrap(), "<a/>");
        assert_eq!(decode_text(&be, Some("utf-16BE")).unwrap(), "<a/>");
        assert_eq!(decode_text(&le, Some("utf-16")).unwrap(), "<a/>");
        assert_eq!(decode_text(&be, Some("\"utf-16\"")).unwrap(), "<a/>");
        assert_eq!(decode_text(b"<a/>", Some("utf-8")).unwrap(), "<a/>");
        assert_eq!(decode_text(b"\xEF\xBB\xBF<a/>", None).unwrap(), "<a/>");
        // The BOM wins over the charset.
        assert_eq!(
            decode_text(&utf16("<a/>", true, true), Some("utf-8")).unwrap(),
            "<a/>"
        );
        assert_eq!(
            decode_text(b"\xEF\xBB\xBF<a/>", Some("utf-16le")).unwrap(),
            "<a/>"
        );
        assert!(matches!(
            decode_text(b"<a/>", Some("utf-8")),
            Ok(Cow::Borrowed(_))
        ));
        assert_eq!(
            decode_text(b"<a/>", Some("iso-8859-1")),
            Err(TextError::UnsupportedCharset("iso-8859-1".into()))
        );
        assert_eq!(
            decode_text(b"<a>\xFF</a>", None),
            Err(TextError::InvalidUtf8 { at: 3 })
        );
        assert_eq!(
            decode_text(b"\xFF\xFE<\x00a", None),
            Err(TextError::InvalidUtf16 {
                at: 4,
                reason: "odd number of bytes"
            })
        );
        assert_eq!(
            decode_text(b"\xFF\xFE<\x00\x00\xD8a\x00", None),
            Err(TextError::InvalidUtf16 {
                at: 4,
                reason: "unpaired surrogate"
            })
        );
    }
}
