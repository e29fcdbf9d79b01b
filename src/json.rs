//! JSON string literals as serde_json and Json.NET write them, for the hand-written writers on
//! the request path (JWT claims in the engine, response bodies in the dialects): `"`, `\` and
//! control characters escaped, with the short forms for backspace, form feed, newline, carriage
//! return and tab and `\u00XX` (lowercase hex) for the other controls; nothing else (`/`, `<`,
//! `&` and non-ASCII pass through).

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
