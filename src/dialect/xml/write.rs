//! Writing a response contract exactly as the .NET serializer behind the legacy endpoint did, so
//! that a client gets the bytes the service sent and the golden exchanges can compare bytes, not
//! just parsed trees. Three flavours ([`Flavour`]): DataContractSerializer, XmlSerializer, and
//! the plain elements Web API writes for its own errors.
//!
//! DataContractSerializer's bytes, as Mono 6.8 writes them (checked against `.ci/clients/dotnet/REFERENCE.md`): no
//! declaration, no BOM, one line; the root start tag
//! `<Root xmlns="NS" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">` (`xmlns` before
//! `xmlns:i`, the order in Mono's captured bytes); members in ordinal order of their names;
//! `<name i:nil="true"/>` for null; `<name/>` for an empty string (the serializer's
//! `WriteString("")` writes nothing, so the element closes as empty). Text is escaped as
//! `XmlUTF8NodeWriter` escapes element text: `&`, `<`, `>` as `&amp;` `&lt;` `&gt;`, every
//! control character below U+0020 except tab and LF (so CR too) and U+FFFE/U+FFFF as an
//! upper-case hex reference (`&#xD;`, `&#x1;`). See [`XmlScalar`] for numbers.

use std::borrow::Cow;
use std::io::Write as _;

use super::{XSI_NAMESPACE, offset};

/// A member value to write.
///
/// `Float` is written as .NET Core's shortest round-trip (`"R"`) format: the shortest digits
/// that read back to the same `f64` (Rust's), fixed notation for decimal exponents -5..=14 and
/// `1E+15` / `1E-05` style otherwise, `NaN`, `INF`, `-INF`, `-0` as `XmlConvert` writes them.
/// .NET Framework's `"R"` tries 15 digits before 17 and so can be longer than shortest for a
/// few values; nothing in the token contracts is a float.
#[derive(Debug, Clone, PartialEq)]
pub enum XmlScalar<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
    Float(f64),
}

/// The serializer an XML body imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavour {
    /// DataContractSerializer (see the module documentation).
    #[default]
    DataContract,
    /// XmlSerializer (`XmlTextWriter` underneath): members in declaration order, `xmlns:xsi`
    /// and `xmlns:xsd` declared, null as `<name xsi:nil="true" />`, an empty string as
    /// `<name />` (a space before the slash), text escaped as DataContract text is.
    XmlSerializer,
    /// Plain elements in declaration order, no declarations, null as `<name></name>`, only
    /// `&`, `<` and `>` escaped: Web API's own `<Error><Message>` bodies.
    Plain,
}

/// A namespace declaration on the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declaration {
    /// `xmlns="..."`, the contract namespace.
    Default,
    /// The XML Schema instance namespace: `xmlns:i` (DataContract) or `xmlns:xsi`.
    Instance,
    /// `xmlns:xsd="http://www.w3.org/2001/XMLSchema"` (XmlSerializer).
    Schema,
}

const XSD_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema";

/// How one XML body is written: its root, namespace, flavour and declarations, settled once
/// when a route is compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    root: String,
    namespace: String,
    flavour: Flavour,
    declarations: Vec<Declaration>,
    /// Write `<?xml version="1.0" encoding="utf-8"?>` first.
    prolog: bool,
}

impl Document {
    /// A document of `flavour`; `order` names the declarations in the order they are written
    /// (`xmlns`, `xmlns:i` / `xmlns:xsi`, `xmlns:xsd`), a reordering of the flavour's own, or
    /// `None` for the flavour's: DataContract `xmlns` (with a namespace) then `xmlns:i`;
    /// XmlSerializer `xmlns:xsi`, `xmlns:xsd` (.NET Framework's order), then `xmlns`.
    pub fn new(
        root: &str,
        namespace: &str,
        flavour: Flavour,
        order: Option<&[String]>,
    ) -> Result<Self, String> {
        let mut own: Vec<Declaration> = match flavour {
            Flavour::DataContract => vec![Declaration::Default, Declaration::Instance],
            Flavour::XmlSerializer => vec![
                Declaration::Instance,
                Declaration::Schema,
                Declaration::Default,
            ],
            Flavour::Plain => Vec::new(),
        };
        if namespace.is_empty() {
            own.retain(|d| *d != Declaration::Default);
        }
        let declarations = match order {
            None => own,
            Some(names) => {
                let mut ordered = Vec::with_capacity(names.len());
                for name in names {
                    let declaration = match (name.as_str(), flavour) {
                        ("xmlns", _) => Declaration::Default,
                        ("xmlns:i", Flavour::DataContract) => Declaration::Instance,
                        ("xmlns:xsi", Flavour::XmlSerializer) => Declaration::Instance,
                        ("xmlns:xsd", Flavour::XmlSerializer) => Declaration::Schema,
                        _ => return Err(Self::order_error(&own, flavour)),
                    };
                    if ordered.contains(&declaration) {
                        return Err(Self::order_error(&own, flavour));
                    }
                    ordered.push(declaration);
                }
                if ordered.len() != own.len() || own.iter().any(|d| !ordered.contains(d)) {
                    return Err(Self::order_error(&own, flavour));
                }
                ordered
            }
        };
        Ok(Self {
            root: root.to_owned(),
            namespace: namespace.to_owned(),
            flavour,
            declarations,
            prolog: false,
        })
    }

    /// The same document with (or without) the XML declaration `XmlWriter.Create` writes by
    /// default: `<?xml version="1.0" encoding="utf-8"?>`.
    pub fn with_declaration(mut self, declaration: bool) -> Self {
        self.prolog = declaration;
        self
    }

    fn order_error(own: &[Declaration], flavour: Flavour) -> String {
        let names: Vec<&str> = own.iter().map(|d| declaration_name(*d, flavour)).collect();
        format!(
            "namespace_order must name each of {} once (in the order to write them)",
            names.join(", ")
        )
    }

    /// The flavour.
    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// The root element's name.
    pub fn root(&self) -> &str {
        &self.root
    }
}

fn declaration_name(declaration: Declaration, flavour: Flavour) -> &'static str {
    match (declaration, flavour) {
        (Declaration::Default, _) => "xmlns",
        (Declaration::Instance, Flavour::XmlSerializer) => "xmlns:xsi",
        (Declaration::Instance, _) => "xmlns:i",
        (Declaration::Schema, _) => "xmlns:xsd",
    }
}

/// A member's content.
#[derive(Debug, Clone, PartialEq)]
pub enum XmlMember<'a> {
    /// A value.
    Value(XmlScalar<'a>),
    /// Null: the flavour's nil form.
    Nil,
}

/// Writes `members` (`(name, content)`, in declaration order) as `document` says. DataContract
/// sorts them in place into ordinal order. Names are written as given: route compilation
/// checks that each is an XML name.
pub fn write_document(
    out: &mut Vec<u8>,
    document: &Document,
    members: &mut [(&str, XmlMember<'_>)],
) {
    let flavour = document.flavour;
    if flavour == Flavour::DataContract {
        // Stable and allocation-free for contract-sized slices.
        members.sort_by(|a, b| a.0.cmp(b.0));
    }
    let root = document.root.as_str();
    let estimate = members.iter().fold(
        2 * root.len() + document.namespace.len() + 120,
        |sum, (name, value)| {
            sum + 2 * name.len()
                + 20
                + match value {
                    XmlMember::Value(XmlScalar::Str(text)) => text.len(),
                    _ => 24,
                }
        },
    );
    out.reserve(estimate);
    if document.prolog {
        out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    }
    out.push(b'<');
    out.extend_from_slice(root.as_bytes());
    for declaration in &document.declarations {
        out.push(b' ');
        out.extend_from_slice(declaration_name(*declaration, flavour).as_bytes());
        out.extend_from_slice(b"=\"");
        match declaration {
            Declaration::Default => escape(out, &document.namespace, true),
            Declaration::Instance => out.extend_from_slice(XSI_NAMESPACE.as_bytes()),
            Declaration::Schema => out.extend_from_slice(XSD_NAMESPACE.as_bytes()),
        }
        out.push(b'"');
    }
    out.push(b'>');
    let (nil, empty): (&[u8], &[u8]) = match flavour {
        Flavour::DataContract => (b" i:nil=\"true\"/>", b"/>"),
        Flavour::XmlSerializer => (b" xsi:nil=\"true\" />", b" />"),
        Flavour::Plain => (b"></", b"></"),
    };
    for (name, value) in members.iter() {
        out.push(b'<');
        out.extend_from_slice(name.as_bytes());
        match value {
            XmlMember::Value(XmlScalar::Str(text)) if text.is_empty() => {
                out.extend_from_slice(empty);
                if flavour == Flavour::Plain {
                    out.extend_from_slice(name.as_bytes());
                    out.push(b'>');
                }
            }
            XmlMember::Nil => {
                out.extend_from_slice(nil);
                if flavour == Flavour::Plain {
                    out.extend_from_slice(name.as_bytes());
                    out.push(b'>');
                }
            }
            XmlMember::Value(value) => {
                out.push(b'>');
                if flavour == Flavour::Plain {
                    write_plain_scalar(out, value);
                } else {
                    write_scalar(out, value);
                }
                out.extend_from_slice(b"</");
                out.extend_from_slice(name.as_bytes());
                out.push(b'>');
            }
        }
    }
    out.extend_from_slice(b"</");
    out.extend_from_slice(root.as_bytes());
    out.push(b'>');
}

/// Writes a data contract as `DataContractSerializer` does (see the module documentation):
/// `members` are `(name, value or None for nil)`; an empty `namespace` leaves out `xmlns`.
pub fn write_contract(
    out: &mut Vec<u8>,
    root: &str,
    namespace: &str,
    members: &mut [(&str, Option<XmlScalar<'_>>)],
) {
    let document = Document {
        root: root.to_owned(),
        namespace: namespace.to_owned(),
        flavour: Flavour::DataContract,
        declarations: if namespace.is_empty() {
            vec![Declaration::Instance]
        } else {
            vec![Declaration::Default, Declaration::Instance]
        },
        prolog: false,
    };
    let mut converted: Vec<(&str, XmlMember<'_>)> = members
        .iter()
        .map(|(name, value)| {
            (
                *name,
                value.clone().map_or(XmlMember::Nil, XmlMember::Value),
            )
        })
        .collect();
    write_document(out, &document, &mut converted);
}

/// Plain text: only `&`, `<` and `>` escaped, numbers and booleans as their text (the way
/// Web API writes its `<Error>` bodies).
fn write_plain_scalar(out: &mut Vec<u8>, value: &XmlScalar<'_>) {
    match value {
        XmlScalar::Str(text) => {
            let bytes = text.as_bytes();
            let mut done = 0;
            while let Some(found) = bytes[done..]
                .iter()
                .position(|&b| matches!(b, b'&' | b'<' | b'>'))
            {
                let at = done + found;
                out.extend_from_slice(&bytes[done..at]);
                out.extend_from_slice(match bytes[at] {
                    b'&' => b"&amp;",
                    b'<' => b"&lt;",
                    _ => b"&gt;",
                });
                done = at + 1;
            }
            out.extend_from_slice(&bytes[done..]);
        }
        XmlScalar::Int(n) => write_int(out, *n),
        XmlScalar::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        XmlScalar::Float(x) => {
            let _ = write!(out, "{x}");
        }
    }
}

fn write_scalar(out: &mut Vec<u8>, value: &XmlScalar<'_>) {
    match value {
        XmlScalar::Str(text) => escape(out, text, false),
        XmlScalar::Int(n) => write_int(out, *n),
        XmlScalar::Bool(true) => out.extend_from_slice(b"true"),
        XmlScalar::Bool(false) => out.extend_from_slice(b"false"),
        XmlScalar::Float(x) => write_float(out, *x),
    }
}

/// Bytes that may need escaping: the lead byte 0xEF of U+FFFE/U+FFFF is checked further.
const fn escape_table(attribute: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    if attribute {
        table[b'"' as usize] = true;
    } else {
        table[b'\t' as usize] = false;
        table[b'\n' as usize] = false;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[0xEF] = true;
    table
}

static ELEMENT_ESCAPES: [bool; 256] = escape_table(false);
static ATTRIBUTE_ESCAPES: [bool; 256] = escape_table(true);

/// Escapes text as `XmlUTF8NodeWriter.WriteEscapedText`: in element text `&`, `<`, `>` and
/// controls other than tab and LF; in an attribute `"`, `&`, `<`, `>` and every control.
/// U+FFFE and U+FFFF are written as references in both.
fn escape(out: &mut Vec<u8>, text: &str, attribute: bool) {
    let table = if attribute {
        &ATTRIBUTE_ESCAPES
    } else {
        &ELEMENT_ESCAPES
    };
    let bytes = text.as_bytes();
    let mut done = 0;
    // A table scan copies the long clean runs (a JWT is ~1 KB of base64url) in one go.
    while let Some(found) = bytes[done..].iter().position(|&b| table[usize::from(b)]) {
        let at = done + found;
        out.extend_from_slice(&bytes[done..at]);
        let byte = bytes[at];
        done = at + 1;
        match byte {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            0xEF => match (bytes.get(at + 1), bytes.get(at + 2)) {
                (Some(0xBF), Some(&last @ (0xBE | 0xBF))) => {
                    write_hex_reference(out, 0xFFFE + u32::from(last == 0xBF));
                    done = at + 3;
                }
                _ => out.push(byte),
            },
            control => write_hex_reference(out, u32::from(control)),
        }
    }
    out.extend_from_slice(&bytes[done..]);
}

/// `&#xD;`: upper-case hex without leading zeros, as `XmlUTF8NodeWriter.WriteHexCharEntity`.
fn write_hex_reference(out: &mut Vec<u8>, code: u32) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut hex = [0u8; 8];
    let mut at = hex.len();
    let mut rest = code;
    loop {
        at -= 1;
        hex[at] = DIGITS[(rest & 0xF) as usize];
        rest >>= 4;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(b"&#x");
    out.extend_from_slice(&hex[at..]);
    out.push(b';');
}

fn write_int(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

fn write_float(out: &mut Vec<u8>, x: f64) {
    if x.is_nan() {
        return out.extend_from_slice(b"NaN");
    }
    if x.is_infinite() {
        return out.extend_from_slice(if x > 0.0 { b"INF" } else { b"-INF" });
    }
    if x == 0.0 {
        return out.extend_from_slice(if x.is_sign_negative() { b"-0" } else { b"0" });
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `-1.2345e-7`.
    let mut buf = [0u8; 40];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    if write!(cursor, "{:e}", x.abs()).is_err() {
        let _ = write!(out, "{x}");
        return;
    }
    let len = offset(cursor.position()).min(buf.len());
    let sci = &buf[..len];
    let Some(e) = sci.iter().position(|&b| b == b'e') else {
        let _ = write!(out, "{x}");
        return;
    };
    let exponent: i32 = std::str::from_utf8(&sci[e + 1..])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 24];
    let mut count = 0;
    for &b in sci[..e].iter().filter(|b| b.is_ascii_digit()) {
        if count < digits.len() {
            digits[count] = b;
            count += 1;
        }
    }
    let digits = &digits[..count];
    if x < 0.0 {
        out.push(b'-');
    }
    if (-4..15).contains(&exponent) {
        if exponent >= 0 {
            let int_len = exponent as usize + 1;
            if digits.len() <= int_len {
                out.extend_from_slice(digits);
                out.extend(std::iter::repeat_n(b'0', int_len - digits.len()));
            } else {
                out.extend_from_slice(&digits[..int_len]);
                out.push(b'.');
                out.extend_from_slice(&digits[int_len..]);
            }
        } else {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-exponent - 1) as usize));
            out.extend_from_slice(digits);
        }
    } else {
        out.extend_from_slice(&digits[..1.min(digits.len())]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "E{sign}{:02}", exponent.unsigned_abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::xml::samples::*;
    use crate::dialect::xml::{MemberOrder, read_members};

    fn render(root: &str, members: &mut [(&str, Option<XmlScalar<'_>>)]) -> String {
        let mut out = Vec::new();
        write_contract(&mut out, root, NS, members);
        String::from_utf8(out).unwrap()
    }

    fn s(text: &str) -> Option<XmlScalar<'_>> {
        Some(XmlScalar::Str(Cow::Borrowed(text)))
    }

    #[test]
    fn writes_the_reference_access_token_response_byte_for_byte() {
        // JSON (declaration) order in, ordinal order out.
        let mut members = [
            ("access_token", s("a")),
            ("expires_in", Some(XmlScalar::Int(1799))),
            ("redirect_url", None),
            ("ip", s("127.0.0.1")),
            ("is_editor", Some(XmlScalar::Bool(true))),
            ("refresh_expires_in", Some(XmlScalar::Int(1_209_600))),
            ("refresh_token", s("r")),
            ("token_type", s("bearer")),
            ("not_before_policy", Some(XmlScalar::Int(0))),
            ("session_state", s("x")),
            ("scope", s("s")),
        ];
        let out = render("AccessTokenResponse", &mut members);
        assert_eq!(out.len(), 492);
        assert_eq!(out, ACCESS_TOKEN_RESPONSE_BYTES);
        // And it reads back in DataContract mode, the strictest reader.
        let back = read_members(
            out.as_bytes(),
            &ACCESS_TOKEN_RESPONSE,
            MemberOrder::DataContract,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(back.len(), 11);
    }

    #[test]
    fn writes_the_reference_errors_and_requests() {
        let mut error = [
            ("error_description", s("Invalid user credentials")),
            ("error", s("invalid_grant")),
        ];
        let out = render("TokenError", &mut error);
        assert_eq!(
            out,
            r#"<TokenError xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><error>invalid_grant</error><error_description>Invalid user credentials</error_description></TokenError>"#
        );
        assert_eq!(out.len(), 234);
        let mut renamed = [("error_description", None), ("error", s("invalid_grant"))];
        let out = render("OAuthError", &mut renamed);
        assert_eq!(
            out,
            r#"<OAuthError xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><error>invalid_grant</error><error_description i:nil="true"/></OAuthError>"#
        );
        assert_eq!(out.len(), 204);
        // Upper case sorts first, as string.CompareOrdinal.
        let mut request = [
            ("username", s("user@example.com")),
            ("scope", None),
            ("refresh_token", None),
            ("password", s("P@ssw0rd!")),
            ("grant_type", s("password")),
            ("client_secret", None),
            ("client_id", s("demo-client")),
            ("WindowsAuthentication", None),
        ];
        assert_eq!(render("TokenRequest", &mut request), PASSWORD_REQUEST);
    }

    #[test]
    fn writer_escapes_as_xml_utf8_node_writer() {
        let mut value = [(
            "v",
            s("a&b<c>d\"e'f\tg\nh\ri\u{1}j\u{1F}k\u{FFFE}\u{FFFF}\u{FFFD}é"),
        )];
        let out = render("R", &mut value);
        assert!(
            out.ends_with(
                "<v>a&amp;b&lt;c&gt;d\"e'f\tg\nh&#xD;i&#x1;j&#x1F;k&#xFFFE;&#xFFFF;\u{FFFD}é</v></R>"
            ),
            "{out}"
        );
        let mut empty = [("a", s("")), ("b", None)];
        assert!(render("R", &mut empty).ends_with("<a/><b i:nil=\"true\"/></R>"));
        let mut out = Vec::new();
        write_contract(&mut out, "R", "urn:a&\"b\"\t", &mut []);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("<R xmlns=\"urn:a&amp;&quot;b&quot;&#x9;\" xmlns:i=\"{XSI_NAMESPACE}\"></R>")
        );
        let mut out = Vec::new();
        write_contract(
            &mut out,
            "R",
            "",
            &mut [("a", Some(XmlScalar::Bool(false)))],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("<R xmlns:i=\"{XSI_NAMESPACE}\"><a>false</a></R>")
        );
        // Escaped text reads back unchanged (the CR through its reference).
        let text = "a&b<c>\r\n\u{1}\u{FFFE}x";
        let mut out = Vec::new();
        write_contract(&mut out, "TokenRequest", NS, &mut [("scope", s(text))]);
        assert_eq!(
            read_members(&out, &TOKEN_REQUEST, MemberOrder::AnyOrder, &LIMITS).unwrap(),
            members(&[("scope", Some(text))])
        );
    }

    #[test]
    fn writer_numbers() {
        let cases: &[(XmlScalar<'_>, &str)] = &[
            (XmlScalar::Int(0), "0"),
            (XmlScalar::Int(-42), "-42"),
            (XmlScalar::Int(i64::MIN), "-9223372036854775808"),
            (XmlScalar::Int(i64::MAX), "9223372036854775807"),
            (XmlScalar::Float(1.5), "1.5"),
            (XmlScalar::Float(-0.25), "-0.25"),
            (XmlScalar::Float(100.0), "100"),
            (XmlScalar::Float(0.1 + 0.2), "0.30000000000000004"),
            (XmlScalar::Float(1e14), "100000000000000"),
            (XmlScalar::Float(1e15), "1E+15"),
            (XmlScalar::Float(1.2345e20), "1.2345E+20"),
            (XmlScalar::Float(0.0001), "0.0001"),
            (XmlScalar::Float(0.00001), "1E-05"),
            (XmlScalar::Float(-1.5e-300), "-1.5E-300"),
            (XmlScalar::Float(f64::MAX), "1.7976931348623157E+308"),
            (XmlScalar::Float(0.0), "0"),
            (XmlScalar::Float(-0.0), "-0"),
            (XmlScalar::Float(f64::NAN), "NaN"),
            (XmlScalar::Float(f64::INFINITY), "INF"),
            (XmlScalar::Float(f64::NEG_INFINITY), "-INF"),
        ];
        for (value, expected) in cases {
            let mut out = Vec::new();
            write_scalar(&mut out, value);
            assert_eq!(String::from_utf8(out).unwrap(), *expected, "{value:?}");
        }
    }

    mod well_formed {
        use super::super::*;
        use proptest::prelude::*;
        use quick_xml::events::Event;

        /// A member as a test draws it: a name the route compiler accepts, and a value.
        fn member() -> impl Strategy<Value = (String, XmlMember<'static>)> {
            let name = "[A-Za-z_\u{e9}][A-Za-z0-9_.\u{e9}-]{0,10}";
            // Any text but the C0 controls other than tab, LF and CR: .NET writes those as
            // character references that XML 1.0 forbids (`&#x1;`), and so does this writer.
            let text = "[^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{fffe}\u{ffff}]{0,24}";
            let value = prop_oneof![
                text.prop_map(|t| XmlMember::Value(XmlScalar::Str(Cow::Owned(t)))),
                any::<i64>().prop_map(|n| XmlMember::Value(XmlScalar::Int(n))),
                any::<bool>().prop_map(|b| XmlMember::Value(XmlScalar::Bool(b))),
                Just(XmlMember::Nil),
            ];
            (name, value)
        }

        fn flavour() -> impl Strategy<Value = Flavour> {
            prop_oneof![
                Just(Flavour::DataContract),
                Just(Flavour::XmlSerializer),
                Just(Flavour::Plain),
            ]
        }

        proptest! {
            #[test]
            fn every_flavour_writes_well_formed_xml_that_reads_back(
                members in proptest::collection::vec(member(), 0..8),
                flavour in flavour(),
                namespace in prop_oneof![Just(String::new()), "http://[a-z]{1,8}\\.example/[A-Za-z.&<\"]{0,8}"],
            ) {
                prop_assume!(members.iter().all(|(name, _)| crate::dialect::xml::is_name(name)));
                let document = Document::new("Root_1", &namespace, flavour, None).unwrap();
                let mut written: Vec<(&str, XmlMember<'_>)> =
                    members.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
                let mut out = Vec::new();
                write_document(&mut out, &document, &mut written);
                let text = String::from_utf8(out).unwrap();

                // Every event parses and every prefix resolves; collect the members back.
                let mut reader = quick_xml::reader::NsReader::from_str(&text);
                let mut names = Vec::new();
                let mut texts = Vec::new();
                let mut depth = 0;
                loop {
                    match reader.read_event() {
                        Ok(Event::Start(start)) => {
                            depth += 1;
                            if depth == 2 {
                                names.push(start.local_name().as_ref().to_owned());
                                texts.push(String::new());
                            }
                        }
                        Ok(Event::Empty(start)) => {
                            prop_assert_eq!(depth, 1, "only members are empty: {}", text);
                            names.push(start.local_name().as_ref().to_owned());
                            texts.push(String::new());
                        }
                        Ok(Event::End(_)) => depth -= 1,
                        Ok(Event::Text(t)) => {
                            if let Some(last) = texts.last_mut() {
                                last.push_str(&t.xml10_content());
                            }
                        }
                        Ok(Event::GeneralRef(r)) => {
                            let ch = match r.resolve_char_ref().unwrap() {
                                Some(ch) => ch,
                                None => match &*r {
                                    "lt" => '<',
                                    "gt" => '>',
                                    "amp" => '&',
                                    "quot" => '"',
                                    "apos" => '\'',
                                    other => panic!("unknown entity {other} in {text}"),
                                },
                            };
                            if let Some(last) = texts.last_mut() {
                                last.push(ch);
                            }
                        }
                        Ok(Event::Eof) => break,
                        Ok(_) => {}
                        Err(e) => prop_assert!(false, "not well-formed: {e}: {text}"),
                    }
                }
                prop_assert_eq!(depth, 0);
                // Every member is there, in the flavour's order, with its text.
                let mut expected: Vec<(&str, String)> = written
                    .iter()
                    .map(|(name, value)| {
                        let text = match value {
                            XmlMember::Value(XmlScalar::Str(s)) => s.to_string(),
                            XmlMember::Value(XmlScalar::Int(n)) => n.to_string(),
                            XmlMember::Value(XmlScalar::Bool(b)) => b.to_string(),
                            XmlMember::Value(XmlScalar::Float(f)) => f.to_string(),
                            XmlMember::Nil => String::new(),
                        };
                        (*name, text.replace("\r\n", "\n").replace('\r', "\n"))
                    })
                    .collect();
                if flavour == Flavour::DataContract {
                    expected.sort_by(|a, b| a.0.cmp(b.0));
                }
                let got: Vec<(&str, String)> = names
                    .iter()
                    .map(String::as_str)
                    .zip(texts.into_iter().map(|t| t.replace("\r\n", "\n").replace('\r', "\n")))
                    .collect();
                prop_assert_eq!(got, expected, "{}", text);
            }
        }
    }
}
