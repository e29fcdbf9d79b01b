//! Form bodies as Katana's `OwinHelpers.GetForm` reads them: split on `&` only, a pair needs an
//! `=` (pairs without one are dropped), leading white space of a name is skipped, `+` is a space,
//! then percent-decoding; names compare case-insensitively and a repeated name yields its values
//! joined with `,`. Where Katana would quietly carry on with damaged input (invalid UTF-8, a
//! truncated `%` escape, a NUL), this parser refuses with a reason the client can act on.

use std::borrow::Cow;

/// Why a form body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the body is not valid UTF-8 (first bad byte at offset {0})")]
    NotUtf8(usize),
    #[error("truncated or invalid percent-escape at offset {0}")]
    BadEscape(usize),
    #[error("a parameter decodes to invalid UTF-8 (escape at offset {0})")]
    DecodedNotUtf8(usize),
    #[error("parameters may not contain NUL characters")]
    Nul,
    #[error("too many parameters (the limit is {0})")]
    TooMany(usize),
}

/// Decoded name/value pairs in body order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    /// One parameter, or none: a body that binds a single value (`null` binds nothing).
    pub fn single(name: &str, value: Option<String>) -> Self {
        Self::from_pairs(
            value
                .map(|value| (name.to_owned(), value))
                .into_iter()
                .collect(),
        )
    }

    /// The pairs in body order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The value of `name`, repeated values joined with `,` (Katana's `GetJoinedValue`).
    pub fn get(&self, name: &str, case_sensitive: bool) -> Option<Cow<'_, str>> {
        let same = |candidate: &str| {
            if case_sensitive {
                candidate == name
            } else {
                candidate.eq_ignore_ascii_case(name) || unicode_eq_ignore_case(candidate, name)
            }
        };
        let mut found = self.pairs.iter().filter(|(n, _)| same(n)).map(|(_, v)| v);
        let first = found.next()?;
        match found.next() {
            None => Some(Cow::Borrowed(first.as_str())),
            Some(second) => {
                let mut joined = format!("{first},{second}");
                for more in found {
                    joined.push(',');
                    joined.push_str(more);
                }
                Some(Cow::Owned(joined))
            }
        }
    }
}

/// .NET's OrdinalIgnoreCase upper-cases both sides; for the ASCII names dialects use the
/// ASCII comparison above decides, and this covers the rest.
fn unicode_eq_ignore_case(a: &str, b: &str) -> bool {
    !a.is_ascii() && a.to_uppercase() == b.to_uppercase()
}

/// Parses a body with Katana's form rules. `max_params` bounds the work a hostile body can cause.
pub fn parse(body: &[u8], max_params: usize) -> Result<Params, FormError> {
    let text = std::str::from_utf8(body).map_err(|e| FormError::NotUtf8(e.valid_up_to()))?;
    // Katana's reader drops a UTF-8 byte-order mark.
    let (text, bom) = match text.strip_prefix('\u{feff}') {
        Some(rest) => (rest, 3),
        None => (text, 0),
    };
    let mut pairs = Vec::new();
    let mut offset = bom;
    for segment in text.split('&') {
        let here = offset;
        offset += segment.len() + 1;
        let Some(eq) = segment.find('=') else {
            continue;
        };
        if pairs.len() == max_params {
            return Err(FormError::TooMany(max_params));
        }
        let raw_name = segment[..eq].trim_start();
        let name_at = here + (eq - raw_name.len());
        let name = decode(raw_name, name_at)?;
        let value = decode(&segment[eq + 1..], here + eq + 1)?;
        pairs.push((name.into_owned(), value.into_owned()));
    }
    Ok(Params { pairs })
}

/// `+` to space, then percent-decoding; `at` is the component's offset in the body, for errors.
fn decode(component: &str, at: usize) -> Result<Cow<'_, str>, FormError> {
    if component.contains('\0') {
        return Err(FormError::Nul);
    }
    if !component.contains(['%', '+']) {
        return Ok(Cow::Borrowed(component));
    }
    let bytes = component.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .ok_or(FormError::BadEscape(at + i))?;
                let mut byte = [0u8; 1];
                hex::decode_to_slice(hex, &mut byte).map_err(|_| FormError::BadEscape(at + i))?;
                if byte[0] == 0 {
                    return Err(FormError::Nul);
                }
                out.push(byte[0]);
                i += 3;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|e| FormError::DecodedNotUtf8(at + e.utf8_error().valid_up_to()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(body: &str, name: &str) -> Option<String> {
        parse(body.as_bytes(), 100)
            .expect("parses")
            .get(name, false)
            .map(Cow::into_owned)
    }

    #[test]
    fn follows_katana_form_rules() {
        assert_eq!(
            get("Grant_Type=password", "grant_type").as_deref(),
            Some("password")
        );
        assert_eq!(get("a=1&a=2&A=3", "a").as_deref(), Some("1,2,3"));
        assert_eq!(get("a+b=c+d%2B", "a b").as_deref(), Some("c d+"));
        assert_eq!(get("novalue&x=1", "novalue"), None);
        assert_eq!(get("  x=1", "x").as_deref(), Some("1"));
        assert_eq!(get("x=", "x").as_deref(), Some(""));
        assert_eq!(
            get("user%40example.com=%E2%82%AC", "user@example.com").as_deref(),
            Some("€")
        );
        assert_eq!(get("x=1;y=2", "x").as_deref(), Some("1;y=2"));
        assert_eq!(get("", "x"), None);
    }

    #[test]
    fn case_sensitive_lookup_is_available() {
        let params = parse(b"Grant_Type=x", 10).expect("parses");
        assert!(params.get("grant_type", true).is_none());
    }

    #[test]
    fn refuses_damaged_input_with_a_reason() {
        assert_eq!(parse(b"x=\xff", 10), Err(FormError::NotUtf8(2)));
        assert_eq!(parse(b"x=%4", 10), Err(FormError::BadEscape(2)));
        assert_eq!(parse(b"x=%zz", 10), Err(FormError::BadEscape(2)));
        assert_eq!(parse(b"x=%ff", 10), Err(FormError::DecodedNotUtf8(2)));
        assert_eq!(parse(b"x=%00", 10), Err(FormError::Nul));
        assert_eq!(parse(b"x=a\0b", 10), Err(FormError::Nul));
        let many = "p=1&".repeat(10_000);
        assert_eq!(parse(many.as_bytes(), 100), Err(FormError::TooMany(100)));
    }
}
