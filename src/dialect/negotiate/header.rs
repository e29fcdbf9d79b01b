//! Header values as `System.Net.Http` on .NET Framework parses them: what a Web API controller
//! saw of a request's Accept, Accept-Charset and Content-Type decides its response, so the
//! grammar and its leniencies are reproduced rather than taken from a standards-minded parser.
//! The types are those of `HttpRuleParser.cs`, `MediaTypeHeaderValue.cs`,
//! `NameValueHeaderValue.cs`, `StringWithQualityHeaderValue.cs` and `HeaderUtilities.cs` (still
//! found in dotnet/runtime, `src/libraries/System.Net.Http/src/System/Net/Http/Headers/`), plus
//! Web API's `ParsedMediaTypeHeaderValue.cs` (aspnet/AspNetWebStack).
//!
//! Work is done on bytes: every delimiter is ASCII and any byte >= 0x80 is neither a token
//! character nor whitespace, which is exactly how the UTF-16 originals treat non-ASCII
//! characters.

/// A parsed `MediaTypeHeaderValue` / `MediaTypeWithQualityHeaderValue`.
#[derive(Debug, Clone)]
pub(super) struct MediaRange {
    /// Type and subtype as written (case kept, whitespace around `/` dropped).
    pub(super) kind: String,
    pub(super) subtype: String,
    params: Vec<Param>,
    /// `Quality`, computed once: `None` when absent or unparsable.
    pub(super) quality: Option<f64>,
}

#[derive(Debug, Clone)]
struct Param {
    name: String,
    /// Raw value: a token, or a quoted string with its quotes; `None` for a bare name.
    value: Option<String>,
}

impl MediaRange {
    fn new(kind: String, subtype: String, params: Vec<Param>) -> Self {
        let mut range = Self {
            kind,
            subtype,
            params,
            quality: None,
        };
        range.quality = range.param_value("q").and_then(parse_dotnet_double);
        range
    }

    /// `NameValueHeaderValue.Find(...).Value`: the first parameter of that name decides.
    pub(super) fn param_value(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .and_then(|p| p.value.as_deref())
    }

    /// `ParsedMediaTypeHeaderValue`: only a literal `*` counts; `*/json` is no range at all.
    pub(super) fn range_kind(&self) -> RangeKind {
        match (self.kind.as_str(), self.subtype.as_str()) {
            ("*", "*") => RangeKind::All,
            (_, "*") => RangeKind::Subtype,
            _ => RangeKind::None,
        }
    }
}

/// `MediaTypeHeaderValueRange`: what kind of range the *other* media type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RangeKind {
    None,
    Subtype,
    All,
}

/// A parsed `StringWithQualityHeaderValue` (an `Accept-Charset` entry).
#[derive(Debug, Clone)]
pub(super) struct CharsetPref {
    pub(super) value: String,
    pub(super) quality: Option<f64>,
}

/// `HttpRuleParser.IsTokenChar`.
fn is_token_byte(b: u8) -> bool {
    (33..127).contains(&b) && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

pub(super) fn token_len(s: &[u8], start: usize) -> usize {
    s.get(start..).map_or(0, |rest| {
        rest.iter().take_while(|&&b| is_token_byte(b)).count()
    })
}

/// `HttpRuleParser.GetWhitespaceLength`: SP, HT, and obs-fold (CRLF followed by SP or HT).
fn whitespace_len(s: &[u8], start: usize) -> usize {
    let mut i = start;
    loop {
        match s.get(i..) {
            Some([b' ' | b'\t', ..]) => i += 1,
            Some([b'\r', b'\n', b' ' | b'\t', ..]) => i += 3,
            _ => return i - start,
        }
    }
}

/// `HttpRuleParser.ContainsInvalidNewLine`: a CRLF not followed by SP or HT.
pub(super) fn contains_invalid_newline(s: &[u8]) -> bool {
    s.windows(2)
        .enumerate()
        .any(|(i, pair)| pair == b"\r\n" && !matches!(s.get(i + 2), Some(b' ' | b'\t')))
}

/// `HttpRuleParser.GetQuotedStringLength`, including its quirk that a backslash only escapes
/// when at least one more character follows the escaped one.
fn quoted_string_len(s: &[u8], start: usize) -> Option<usize> {
    if s.get(start) != Some(&b'"') {
        return None;
    }
    let mut i = start + 1;
    while let Some(&b) = s.get(i) {
        if b == b'\\' && i + 2 < s.len() && s.get(i + 1).is_some_and(u8::is_ascii) {
            i += 2;
        } else if b == b'"' {
            return Some(i - start + 1);
        } else {
            i += 1;
        }
    }
    None
}

/// `HttpRuleParser.GetNumberLength(allowDecimal: true)`: digits with at most one dot, not
/// starting with a dot.
fn number_len(s: &[u8], start: usize) -> usize {
    if s.get(start) == Some(&b'.') {
        return 0;
    }
    let mut seen_dot = false;
    let mut i = start;
    while let Some(&b) = s.get(i) {
        if b.is_ascii_digit() || (b == b'.' && !seen_dot) {
            seen_dot |= b == b'.';
            i += 1;
        } else {
            break;
        }
    }
    i - start
}

/// `HeaderUtilities.GetNextNonEmptyOrWhitespaceIndex`: returns the next position and whether a
/// comma separator was crossed.
fn next_non_empty(s: &[u8], start: usize, skip_empty_values: bool) -> (usize, bool) {
    let mut i = start + whitespace_len(s, start);
    if s.get(i) != Some(&b',') {
        return (i, false);
    }
    i += 1;
    i += whitespace_len(s, i);
    if skip_empty_values {
        while s.get(i) == Some(&b',') {
            i += 1;
            i += whitespace_len(s, i);
        }
    }
    (i, true)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `NameValueHeaderValue.GetValueLength`: a token or a quoted string.
fn value_len(s: &[u8], start: usize) -> usize {
    match token_len(s, start) {
        0 => quoted_string_len(s, start).unwrap_or(0),
        n => n,
    }
}

/// `NameValueHeaderValue.GetNameValueLength`: `name`, or `name = value`; consumes trailing
/// whitespace.
fn name_value_len(s: &[u8], start: usize) -> Option<(usize, Param)> {
    let name_len = token_len(s, start);
    if name_len == 0 {
        return None;
    }
    let name = lossy(s.get(start..start + name_len)?);
    let mut i = start + name_len;
    i += whitespace_len(s, i);
    if s.get(i) != Some(&b'=') {
        return Some((i - start, Param { name, value: None }));
    }
    i += 1;
    i += whitespace_len(s, i);
    let len = value_len(s, i);
    if len == 0 {
        return None;
    }
    let value = Some(lossy(s.get(i..i + len)?));
    i += len;
    i += whitespace_len(s, i);
    Some((i - start, Param { name, value }))
}

/// `NameValueHeaderValue.GetNameValueListLength` with `;` as delimiter: at least one parameter,
/// so a trailing `;` makes the whole media type invalid.
fn name_value_list_len(s: &[u8], start: usize, out: &mut Vec<Param>) -> Option<usize> {
    let mut i = start + whitespace_len(s, start);
    loop {
        let (len, param) = name_value_len(s, i)?;
        out.push(param);
        i += len;
        i += whitespace_len(s, i);
        if s.get(i) != Some(&b';') {
            return Some(i - start);
        }
        i += 1;
        i += whitespace_len(s, i);
    }
}

/// `MediaTypeHeaderValue.GetMediaTypeLength`: `type / subtype *( ; parameter )`, whitespace
/// allowed around `/` and `;`.
pub(super) fn media_range_len(s: &[u8], start: usize) -> Option<(usize, MediaRange)> {
    let kind_len = token_len(s, start);
    if kind_len == 0 {
        return None;
    }
    let kind = lossy(s.get(start..start + kind_len)?);
    let mut i = start + kind_len;
    i += whitespace_len(s, i);
    if s.get(i) != Some(&b'/') {
        return None;
    }
    i += 1;
    i += whitespace_len(s, i);
    let subtype_len = token_len(s, i);
    if subtype_len == 0 {
        return None;
    }
    let subtype = lossy(s.get(i..i + subtype_len)?);
    i += subtype_len;
    i += whitespace_len(s, i);
    let mut params = Vec::new();
    if s.get(i) == Some(&b';') {
        i += 1;
        i += name_value_list_len(s, i, &mut params)?;
    }
    Some((i - start, MediaRange::new(kind, subtype, params)))
}

/// `StringWithQualityHeaderValue.GetStringWithQualityLength`: a token, optionally followed by
/// `; q=<number in [0, 1]>` and nothing else.
pub(super) fn charset_pref_len(s: &[u8], start: usize) -> Option<(usize, CharsetPref)> {
    let value_len = token_len(s, start);
    if value_len == 0 {
        return None;
    }
    let value = lossy(s.get(start..start + value_len)?);
    let mut i = start + value_len;
    i += whitespace_len(s, i);
    if s.get(i) != Some(&b';') {
        return Some((
            i - start,
            CharsetPref {
                value,
                quality: None,
            },
        ));
    }
    i += 1;
    i += whitespace_len(s, i);
    if !matches!(s.get(i), Some(b'q' | b'Q')) {
        return None;
    }
    i += 1;
    i += whitespace_len(s, i);
    if s.get(i) != Some(&b'=') {
        return None;
    }
    i += 1;
    i += whitespace_len(s, i);
    let len = number_len(s, i);
    if len == 0 {
        return None;
    }
    let number = std::str::from_utf8(s.get(i..i + len)?).ok()?;
    let quality = parse_dotnet_double(number).filter(|q| (0.0..=1.0).contains(q))?;
    i += len;
    i += whitespace_len(s, i);
    Some((
        i - start,
        CharsetPref {
            value,
            quality: Some(quality),
        },
    ))
}

/// One raw line of a list-valued header, as `HttpHeaders.TryParseAndAddRawHeaderValue` with a
/// multi-value `BaseHeaderParser`: empty elements are skipped, elements must be separated by
/// commas, and any failure discards the whole line (`None`).
pub(super) fn parse_list<T>(
    line: &str,
    parse_one: impl Fn(&[u8], usize) -> Option<(usize, T)>,
) -> Option<Vec<T>> {
    let s = line.as_bytes();
    let mut values = Vec::new();
    let mut index = 0;
    while index < s.len() {
        let (start, _) = next_non_empty(s, index, true);
        if start >= s.len() {
            break;
        }
        let (len, value) = parse_one(s, start).filter(|&(len, _)| len > 0)?;
        let (next, separator) = next_non_empty(s, start + len, true);
        if !separator && next < s.len() {
            return None;
        }
        values.push(value);
        index = next;
    }
    Some(values)
}

/// A single-valued media type header (`Content-Type`): no leading or trailing comma allowed.
pub(super) fn parse_single_media_range(value: &str) -> Option<MediaRange> {
    let s = value.as_bytes();
    let (start, separator) = next_non_empty(s, 0, false);
    if separator || start >= s.len() {
        return None;
    }
    let (len, range) = media_range_len(s, start)?;
    let (end, separator) = next_non_empty(s, start + len, false);
    (!separator && end == s.len()).then_some(range)
}

/// .NET Framework's `double.TryParse(s, NumberStyles.AllowDecimalPoint,
/// NumberFormatInfo.InvariantInfo)`: digits with one optional `.` (no sign, exponent or
/// whitespace), failing on overflow; otherwise the invariant symbols `Infinity`, `-Infinity` and
/// `NaN`, matched case-sensitively.
fn parse_dotnet_double(s: &str) -> Option<f64> {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let dots = s.bytes().filter(|&b| b == b'.').count();
    if digits > 0 && dots <= 1 && digits + dots == s.len() {
        // Rust accepts "5." and ".5" too; the check above already ruled out the forms .NET
        // would reject (signs, exponents, "inf"). Overflow fails, as in .NET Framework.
        return s.parse::<f64>().ok().filter(|v| v.is_finite());
    }
    match s.trim() {
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => None,
    }
}

/// Strips the quotes and backslash escapes of a quoted-string; other values pass through.
pub(super) fn unquote(value: &str) -> String {
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotnet_double_parsing() {
        assert_eq!(parse_dotnet_double("0.5"), Some(0.5));
        assert_eq!(parse_dotnet_double(".5"), Some(0.5));
        assert_eq!(parse_dotnet_double("5."), Some(5.0));
        assert_eq!(parse_dotnet_double("007"), Some(7.0));
        assert_eq!(parse_dotnet_double("Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_dotnet_double("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_dotnet_double("NaN").is_some_and(f64::is_nan));
        for bad in [
            "", ".", "-1", "+1", "1e2", "1,5", "1.2.3", " 1", "infinity", "\"1\"",
        ] {
            assert_eq!(parse_dotnet_double(bad), None, "{bad:?}");
        }
        // Overflow fails in .NET Framework rather than giving infinity.
        assert_eq!(parse_dotnet_double(&"9".repeat(400)), None);
    }

    #[test]
    fn header_grammar() {
        let count = |line: &str| parse_list(line, media_range_len).map(|v| v.len());
        assert_eq!(count(""), Some(0));
        assert_eq!(count(" , ,"), Some(0));
        assert_eq!(count("a/b, c/d;x=\"q,;\\\"\" ,e/f"), Some(3));
        assert_eq!(count("a/b\r\n\t, c/d"), Some(2));
        assert_eq!(count("a/b\r\nc/d"), None);
        assert_eq!(count("a/b c/d"), None);
        assert_eq!(count("a/b;x="), None);
        assert_eq!(count("a/b;=1"), None);
        assert_eq!(count("a/b;x=\"open"), None);
        assert_eq!(count("a/é"), None);
        assert_eq!(count("a/b;x=\"é\""), Some(1));
        // The final quote of `"ab\"` is not escaped: too few characters follow the backslash.
        assert_eq!(count("a/b;x=\"ab\\\""), Some(1));
        let charsets = |line: &str| parse_list(line, charset_pref_len).map(|v| v.len());
        assert_eq!(charsets("utf-8;q=0.5, *"), Some(2));
        assert_eq!(charsets("utf-8;q=1."), Some(1));
        assert_eq!(charsets("utf-8;q=.5"), None);
        assert_eq!(charsets("utf-8;level=1"), None);
        assert_eq!(charsets("utf-8;q=0.5;q=0.4"), None);
    }
}
