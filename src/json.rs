//! The one JSON writer of the gateway's own bodies: token claims, dialect answers, the RFC
//! endpoints, health and 404. A compact object written member by member in the caller's order,
//! with strings escaped as serde_json and Json.NET write them: `"`, `\\` and control characters,
//! with the short forms for backspace, form feed, newline, carriage return and tab and `\u00XX`
//! (lowercase hex) for the other controls; nothing else (`/`, `<`, `&` and non-ASCII pass
//! through). Hand-written rather than serde's serializer because member order and presence
//! come from data (a dialect profile), and because the request path writes two objects per
//! token: the serializer's per-member dispatch cost several thousand instructions a request
//! (callgrind); the output is tested against serde_json's.

#![deny(missing_docs)]

use std::io::Write as _;

/// Writes one JSON object into `out`: `members` adds its members, the braces are written here.
pub fn object(out: &mut Vec<u8>, members: impl FnOnce(&mut Object<'_>)) {
    out.push(b'{');
    let mut object = Object { out, empty: true };
    members(&mut object);
    object.out.push(b'}');
}

/// A member name as it is written: `"name":`, escaped once, ahead of the writes that use it.
/// The claims and a profile's fields write the same names on every request; a [`Key`] makes
/// each of those one copy (callgrind: a name escaped per write cost more than the claims'
/// values together). Text (`&str`) works as a name too, escaped as it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(std::borrow::Cow<'static, [u8]>);

impl Key {
    /// The key of any name, escaped.
    pub fn new(name: &str) -> Self {
        let mut key = Vec::with_capacity(name.len() + 3);
        write_string(&mut key, name);
        key.push(b':');
        Key(key.into())
    }

    /// The key of a name that needs no escaping, given whole (`"\"iss\":"`); see [`key!`],
    /// which builds one at compile time and refuses a name that would need escaping.
    pub const fn literal(key: &'static str) -> Self {
        let bytes = key.as_bytes();
        assert!(
            bytes.len() >= 3 && bytes[0] == b'"' && bytes[bytes.len() - 2] == b'"',
            "a key literal is \"name\":"
        );
        assert!(
            bytes[bytes.len() - 1] == b':',
            "a key literal ends with a colon"
        );
        let mut i = 1;
        while i < bytes.len() - 2 {
            let b = bytes[i];
            assert!(
                b >= 0x20 && b != b'"' && b != b'\\',
                "this name needs escaping: use Key::new"
            );
            i += 1;
        }
        Key(std::borrow::Cow::Borrowed(bytes))
    }
}

/// `key!("iss")`: the [`Key`] of a literal name, checked and built at compile time.
#[macro_export]
macro_rules! key {
    ($name:literal) => {{
        const KEY: $crate::json::Key = $crate::json::Key::literal(concat!("\"", $name, "\":"));
        KEY
    }};
}
pub use key;

/// What can name a member: a [`Key`] (copied) or text (escaped as it is written).
pub trait Name {
    /// Appends `"name":`.
    fn write_key(&self, out: &mut Vec<u8>);
}

impl Name for Key {
    fn write_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

impl Name for str {
    fn write_key(&self, out: &mut Vec<u8>) {
        write_string(out, self);
        out.push(b':');
    }
}

/// An object being written; see [`object`]. Each method appends one member.
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl Object<'_> {
    fn name(&mut self, name: &(impl Name + ?Sized)) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        name.write_key(self.out);
        self.out
    }

    /// A string member.
    pub fn str(&mut self, name: &(impl Name + ?Sized), value: &str) -> &mut Self {
        let out = self.name(name);
        write_string(out, value);
        self
    }

    /// An integer member.
    pub fn int(&mut self, name: &(impl Name + ?Sized), value: i64) -> &mut Self {
        // Writing into a Vec cannot fail.
        let _ = write!(self.name(name), "{value}");
        self
    }

    /// A boolean member.
    pub fn bool(&mut self, name: &(impl Name + ?Sized), value: bool) -> &mut Self {
        let text: &[u8] = if value { b"true" } else { b"false" };
        self.name(name).extend_from_slice(text);
        self
    }

    /// A float as serde_json writes it (shortest round-trip form); `null` if not finite, as
    /// JSON has no NaN or infinity.
    pub fn float(&mut self, name: &(impl Name + ?Sized), value: f64) -> &mut Self {
        let out = self.name(name);
        match serde_json::Number::from_f64(value) {
            Some(number) => {
                let _ = write!(out, "{number}");
            }
            None => out.extend_from_slice(b"null"),
        }
        self
    }

    /// A `null` member.
    pub fn null(&mut self, name: &(impl Name + ?Sized)) -> &mut Self {
        self.name(name).extend_from_slice(b"null");
        self
    }

    /// A string member, left out when `None`.
    pub fn opt_str(&mut self, name: &(impl Name + ?Sized), value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.str(name, value);
        }
        self
    }

    /// An integer member, left out when `None`.
    pub fn opt_int(&mut self, name: &(impl Name + ?Sized), value: Option<i64>) -> &mut Self {
        if let Some(value) = value {
            self.int(name, value);
        }
        self
    }

    /// A nested object.
    pub fn object(
        &mut self,
        name: &(impl Name + ?Sized),
        members: impl FnOnce(&mut Object<'_>),
    ) -> &mut Self {
        object(self.name(name), members);
        self
    }
}

/// Appends `text` as a JSON string literal.
pub fn write_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    // Tokens, ids and most texts need no escaping: copy them in one go. The scan has no early
    // exit so that it vectorises; a JWT is hundreds of bytes.
    let needs_escaping = bytes.iter().fold(false, |dirty, &b| {
        dirty | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !needs_escaping {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0xf)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_written_as_serde_json_writes_them() {
        let mut out = Vec::new();
        object(&mut out, |o| {
            o.str("a", "x\"y")
                .str("na\"me\n", "escaped name")
                .int("n", -7)
                .bool("t", true)
                .null("z")
                .float("f", 1.5e3)
                .float("g", 0.1)
                .float("nan", f64::NAN)
                .opt_str("absent", None)
                .opt_int("i", Some(3))
                .object("inner", |o| {
                    o.str("k", "v");
                })
                .object("empty", |_| {});
        });
        let expected = serde_json::json!({
            "a": "x\"y", "na\"me\n": "escaped name", "n": -7, "t": true, "z": null, "f": 1500.0, "g": 0.1, "nan": null,
            "i": 3, "inner": {"k": "v"}, "empty": {}
        });
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&out).unwrap(),
            expected
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":"x\"y","na\"me\n":"escaped name","n":-7,"t":true,"z":null,"f":1500.0,"g":0.1,"nan":null,"i":3,"inner":{"k":"v"},"empty":{}}"#
        );
    }

    #[test]
    fn keys_are_the_names_as_the_writer_escapes_them() {
        for name in ["iss", "na\"me\n", "é/<&", ""] {
            let mut ours = Vec::new();
            object(&mut ours, |o| {
                o.int(&Key::new(name), 1);
            });
            let mut by_text = Vec::new();
            object(&mut by_text, |o| {
                o.int(name, 1);
            });
            assert_eq!(ours, by_text, "{name:?}");
        }
        assert_eq!(key!("client_id"), Key::new("client_id"));
    }

    #[test]
    fn strings_escape_only_what_json_requires() {
        let mut out = Vec::new();
        write_string(&mut out, "a/b<c>&\"d\\e\u{1}\né");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "\"a/b<c>&\\\"d\\\\e\\u0001\\né\""
        );
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let every_control: String = (0u8..0x20).map(char::from).collect();
        for text in [
            "",
            "plain",
            "eyJhbGciOiJIUzI1NiJ9.e30.sig-_",
            "quote \" backslash \\ slash / lt < amp & é € \u{7f}",
            &every_control,
        ] {
            let mut ours = Vec::new();
            write_string(&mut ours, text);
            assert_eq!(ours, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
    }
}
