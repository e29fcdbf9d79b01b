//! Response bodies: a profile's member list, compiled once per format, written as compact JSON
//! in the order the profile gives (Json.NET and Katana's `JsonTextWriter` both write
//! declaration order; neither escapes `/`, `<`, `&` or non-ASCII, and neither does this writer),
//! or as XML in the contract's flavour (`xml::Flavour`). A member may have another name, type
//! or absent rule in each format (`json = { ... }`, `xml = { ... }` in the profile).

use std::borrow::Cow;

use super::negotiate::Format;
use super::profile::{FieldSpec, ProfileProblem};
use super::value::{Absent, Scalar, Source, Value, ValueType, typed};
use super::xml::{Document, Flavour, XmlMember, XmlScalar, write_document};

/// A member as one format writes it.
#[derive(Debug, Clone)]
pub struct Member {
    /// The name in this format.
    pub name: String,
    /// The wire type in this format.
    pub kind: ValueType,
    /// The absent rule in this format; `None`: the format's own (JSON `null`, XML its flavour's).
    pub absent: Option<Absent>,
}

/// One response member with its source parsed and each format's name, type and absent rule.
#[derive(Debug, Clone)]
pub struct CompiledField {
    /// Where the value comes from.
    pub source: Source,
    /// How JSON writes it.
    pub json: Member,
    /// The JSON name as a key, escaped once.
    pub json_key: crate::json::Key,
    /// How XML writes it.
    pub xml: Member,
}

/// Parses every member's source, once; each unknown one is a problem under `path`
/// (`response.fields[2].value`), and the members that compiled are returned.
pub fn compile_fields(
    path: &str,
    fields: &[FieldSpec],
    problems: &mut Vec<ProfileProblem>,
) -> Vec<CompiledField> {
    let mut compiled = Vec::with_capacity(fields.len());
    for (i, field) in fields.iter().enumerate() {
        let member = |format: Option<&super::profile::FormatSpec>| Member {
            name: format
                .and_then(|f| f.name.clone())
                .unwrap_or_else(|| field.name.clone()),
            kind: format.and_then(|f| f.kind).unwrap_or(field.kind),
            absent: format.and_then(|f| f.absent).or(field.absent),
        };
        match Source::parse(&field.value) {
            Ok(source) => {
                let json = member(field.json.as_ref());
                compiled.push(CompiledField {
                    source,
                    json_key: crate::json::Key::new(&json.name),
                    json,
                    xml: member(field.xml.as_ref()),
                });
            }
            Err(message) => problems.push(ProfileProblem {
                key: format!("{path}[{i}].value"),
                message,
            }),
        }
    }
    compiled
}

/// A member's typed value in one format: `None` when the member is left out, `Some(None)`
/// when it is null.
fn member<'a>(
    source: &'a Source,
    member: &Member,
    default_absent: Absent,
    get: &impl Fn(&'a Source) -> Value<'a>,
) -> Option<Option<Scalar<'a>>> {
    let scalar = typed(get(source), member.kind);
    // By rule first: `null` (nearly every member) passes the value through untouched.
    match member.absent.unwrap_or(default_absent) {
        Absent::Null => Some(scalar),
        Absent::Omit => scalar.map(Some),
        Absent::OmitEmpty => match scalar {
            Some(Scalar::Str(s)) if s.is_empty() => None,
            scalar => scalar.map(Some),
        },
        Absent::NullEmpty => match scalar {
            Some(Scalar::Str(s)) if s.is_empty() => Some(None),
            scalar => Some(scalar),
        },
        Absent::Zero => Some(scalar.or(match member.kind {
            ValueType::Number | ValueType::EpochSeconds => Some(Scalar::Int(0)),
            ValueType::Bool => Some(Scalar::Bool(false)),
            ValueType::String | ValueType::Empty => Some(Scalar::Str(Cow::Borrowed(""))),
            _ => None,
        })),
    }
}

/// Writes `fields` in `format`; XML needs its document (`xml`), JSON ignores it.
pub fn body<'a>(
    format: Format,
    xml: Option<&Document>,
    fields: &'a [CompiledField],
    get: impl Fn(&'a Source) -> Value<'a>,
) -> Vec<u8> {
    match (format, xml) {
        (Format::Xml, Some(document)) => xml_body(document, fields, get),
        _ => json(fields, get),
    }
}

fn xml_body<'a>(
    document: &Document,
    fields: &'a [CompiledField],
    get: impl Fn(&'a Source) -> Value<'a>,
) -> Vec<u8> {
    // XmlSerializer leaves a null member out; the others write a nil (or empty) element.
    let default_absent = match document.flavour() {
        Flavour::XmlSerializer => Absent::Omit,
        Flavour::DataContract | Flavour::Plain => Absent::Null,
    };
    let mut members: Vec<(&str, XmlMember<'a>)> = fields
        .iter()
        .filter_map(|field| {
            let value = member(&field.source, &field.xml, default_absent, &get)?;
            let content = match value {
                None => XmlMember::Nil,
                Some(scalar) => XmlMember::Value(xml_scalar(scalar)),
            };
            Some((field.xml.name.as_str(), content))
        })
        .collect();
    let mut out = Vec::with_capacity(768);
    write_document(&mut out, document, &mut members);
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
            let Some(scalar) = member(&field.source, &field.json, Absent::Null, &get) else {
                continue;
            };
            let name = &field.json_key;
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
