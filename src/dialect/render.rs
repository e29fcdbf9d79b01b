//! Response bodies: a profile's member list, compiled once, written as compact JSON in the
//! order the profile gives (Json.NET and Katana's `JsonTextWriter` both write declaration
//! order; neither escapes `/`, `<`, `&` or non-ASCII, and neither does this writer), or as
//! DataContract XML (members in ordinal order, nulls as `i:nil`).

use std::borrow::Cow;

use super::negotiate::Format;
use super::profile::{FieldSpec, ProfileProblem, XmlContractSpec};
use super::value::{Absent, Scalar, Source, Value, ValueType, typed};
use super::xml::{XmlScalar, write_contract};

/// One response member with its source parsed.
#[derive(Debug, Clone)]
pub struct CompiledField {
    pub name: String,
    /// The name as a JSON key, escaped once.
    pub key: crate::json::Key,
    pub source: Source,
    pub kind: ValueType,
    pub absent: Absent,
}

/// Parses every member's source, once; each unknown one is a problem under `path`
/// (`response.fields[2].value`), and the members that compiled are returned.
pub fn compile_fields(
    path: &str,
    fields: &[FieldSpec],
    error: bool,
    problems: &mut Vec<ProfileProblem>,
) -> Vec<CompiledField> {
    let mut compiled = Vec::with_capacity(fields.len());
    for (i, field) in fields.iter().enumerate() {
        match Source::parse(&field.value, error) {
            Ok(source) => compiled.push(CompiledField {
                name: field.name.clone(),
                key: crate::json::Key::new(&field.name),
                source,
                kind: field.kind,
                absent: field.absent,
            }),
            Err(message) => problems.push(ProfileProblem {
                key: format!("{path}[{i}].value"),
                message,
            }),
        }
    }
    compiled
}

/// A member's typed value: `None` when the member is left out, `Some(None)` when it is null.
fn member<'a>(
    field: &'a CompiledField,
    get: &impl Fn(&'a Source) -> Value<'a>,
) -> Option<Option<Scalar<'a>>> {
    let scalar = typed(get(&field.source), field.kind);
    let omit = match (&scalar, field.absent) {
        (None, Absent::Omit | Absent::OmitEmpty) => true,
        (Some(Scalar::Str(s)), Absent::OmitEmpty) => s.is_empty(),
        _ => false,
    };
    (!omit).then_some(scalar)
}

/// Writes `fields` in `format`; XML needs the contract (`xml`), JSON ignores it.
pub fn body<'a>(
    format: Format,
    xml: Option<&XmlContractSpec>,
    fields: &'a [CompiledField],
    get: impl Fn(&'a Source) -> Value<'a>,
) -> Vec<u8> {
    match (format, xml) {
        (Format::Xml, Some(contract)) => xml_body(contract, fields, get),
        _ => json(fields, get),
    }
}

/// DataContract XML. A contract without a namespace is written as plain elements, the way
/// Web API writes its own `<Error><Message>` bodies.
fn xml_body<'a>(
    contract: &XmlContractSpec,
    fields: &'a [CompiledField],
    get: impl Fn(&'a Source) -> Value<'a>,
) -> Vec<u8> {
    let mut members: Vec<(&str, Option<XmlScalar<'a>>)> = fields
        .iter()
        .filter_map(|field| Some((field.name.as_str(), member(field, &get)?.map(xml_scalar))))
        .collect();
    let mut out = Vec::with_capacity(768);
    if contract.namespace.is_empty() {
        plain_xml(&mut out, &contract.root, &members);
    } else {
        write_contract(&mut out, &contract.root, &contract.namespace, &mut members);
    }
    out
}

fn xml_scalar(scalar: Scalar<'_>) -> XmlScalar<'_> {
    match scalar {
        Scalar::Str(s) => XmlScalar::Str(s),
        Scalar::Int(n) => XmlScalar::Int(n),
        Scalar::Bool(b) => XmlScalar::Bool(b),
        Scalar::Float(f) => XmlScalar::Float(f),
    }
}

fn plain_xml(out: &mut Vec<u8>, root: &str, members: &[(&str, Option<XmlScalar<'_>>)]) {
    let text = |out: &mut Vec<u8>, value: &str| {
        for ch in value.chars() {
            match ch {
                '&' => out.extend_from_slice(b"&amp;"),
                '<' => out.extend_from_slice(b"&lt;"),
                '>' => out.extend_from_slice(b"&gt;"),
                _ => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    };
    out.extend_from_slice(format!("<{root}>").as_bytes());
    for (name, value) in members {
        let value: Cow<'_, str> = match value {
            None => Cow::Borrowed(""),
            Some(XmlScalar::Str(s)) => Cow::Borrowed(s),
            Some(XmlScalar::Int(n)) => Cow::Owned(n.to_string()),
            Some(XmlScalar::Bool(b)) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Some(XmlScalar::Float(f)) => Cow::Owned(f.to_string()),
        };
        out.extend_from_slice(format!("<{name}>").as_bytes());
        text(out, &value);
        out.extend_from_slice(format!("</{name}>").as_bytes());
    }
    out.extend_from_slice(format!("</{root}>").as_bytes());
}

/// Re-encodes a UTF-8 body as UTF-16 (little-endian, with a byte-order mark), as .NET's
/// `UnicodeEncoding` writes when a client negotiated `charset=utf-16`.
pub fn utf16(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::with_capacity(2 + body.len() * 2);
    out.extend_from_slice(&[0xFF, 0xFE]);
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// Writes `fields` as one compact JSON object, reading each value through `get`.
pub fn json<'a>(fields: &'a [CompiledField], get: impl Fn(&'a Source) -> Value<'a>) -> Vec<u8> {
    // A JWT alone is 400-900 bytes: start big enough not to grow.
    let mut out = Vec::with_capacity(1024);
    crate::json::object(&mut out, |o| {
        for field in fields {
            let Some(scalar) = member(field, &get) else {
                continue;
            };
            let name = &field.key;
            match scalar {
                None => o.null(name),
                Some(Scalar::Str(s)) => o.str(name, &s),
                Some(Scalar::Int(n)) => o.int(name, n),
                Some(Scalar::Bool(b)) => o.bool(name, b),
                Some(Scalar::Float(f)) => o.float(name, f),
            };
        }
    });
    out
}
