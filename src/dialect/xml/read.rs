//! Reading a DataContract request body into `(member, value)` pairs. The rules are those of
//! `DataContractSerializer.ReadObject`, so that any body a .NET client writes reads as it would
//! in the service; they are stricter only where .NET would let junk or a DTD through (see
//! [the module overview](super)).
//!
//! * **Encoding.** The body's BOM or first two bytes decide (see
//!   [`decode_text`](super::decode_text)). An XML declaration is allowed only as the very first
//!   thing.
//! * **Root.** Its local name must be [`XmlContract::root`] and its namespace (default or
//!   prefixed) [`XmlContract::namespace`]. A wrong name or namespace reads as an *empty body*
//!   (`Ok(vec![])`), the gateway's rule (`docs/wire.md`, section "swagger"), so the engine then
//!   reports the missing `grant_type`; Mono's `DataContractSerializer` throws a
//!   `SerializationException` instead ("Expecting element 'TokenRequest' from namespace ...").
//!   A root with `i:nil="true"` also reads as empty (`ReadObject` returns null there). A
//!   zero-length body is empty too (Web API does not call the serializer when `Content-Length`
//!   is 0); a body of only whitespace has no root and is an error.
//! * **Members** are the root's child elements whose local name is one of
//!   [`XmlContract::members`] *and* whose namespace is the contract namespace: a same-named
//!   element in another namespace (or in none) is unknown. Unknown elements are skipped with
//!   their whole subtree. Attributes other than `i:nil` are ignored.
//! * **Values.** `i:nil` in the XML Schema instance namespace, under any prefix, with value
//!   `true`/`1` gives `None` and the element's content is ignored; `false`/`0` reads the content
//!   (surrounding XML whitespace is trimmed first, as `XmlConvert.ToBoolean` does); any other
//!   value is an error on the root or on a member that is read, and is not looked at on an
//!   element that is skipped, as in the serializer. Otherwise the value is the concatenated
//!   text and CDATA content, with line ends normalised (CRLF and lone CR become LF, as in any
//!   XML 1.0 parser) and the five predefined entities and character references replaced; it is
//!   not trimmed. An empty element (`<scope/>` or `<scope></scope>`) is `Some("")`. Comments
//!   and processing instructions inside a value are skipped; a child element inside a member is
//!   an error.
//! * **Order** ([`MemberOrder`]). `AnyOrder` (the gateway default) takes members in any order;
//!   a repeated member keeps its *first* occurrence and later ones are skipped, which is what
//!   `DataContractSerializer` does with a repeat. `DataContract` reproduces the serializer's
//!   cursor (`GetMemberIndex` in `XmlObjectSerializerReadContext.cs`, microsoft/referencesource):
//!   the cursor starts before the first member; each child element is compared with the members
//!   *after* the cursor; a match is read and moves the cursor to it (a nil member counts); an
//!   element that matches a member at or before the cursor (out of order or repeated) is skipped
//!   silently, like an unknown element. So one early element that belongs late drops everything
//!   after it. Either way the result lists members in document order.
//! * **Security.** No DTD or entity is ever expanded: a `<!DOCTYPE` anywhere is
//!   [`XmlError::Dtd`] (billion laughs and XXE get a clear 400, not a silent skip), and a
//!   reference to any entity other than the five predefined ones is
//!   [`XmlError::UndefinedEntity`]. Nesting deeper than [`XmlLimits::max_depth`] (the root is
//!   level 1) and more than [`XmlLimits::max_members`] child elements in the root are errors,
//!   both detected while streaming: the reader is a pull parser with constant stack use, so a
//!   10 000-deep body fails at level `max_depth + 1`.
//! * **Well-formedness.** The whole body is read, not just the root: text outside the root,
//!   a second root element, non-whitespace text or CDATA directly inside the root, undeclared
//!   prefixes, duplicate attributes and mismatched tags are errors. .NET stops reading at the
//!   root's end tag and so ignores trailing garbage; the gateway rejects it, which only affects
//!   bodies no .NET client writes. Whitespace between elements, comments and processing
//!   instructions are skipped anywhere.

use std::borrow::Cow;

use quick_xml::XmlVersion;
use quick_xml::escape::EscapeError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{LocalName, Namespace, ResolveResult};
use quick_xml::reader::NsReader;

use super::decode::{TextError, decode};
use super::{XSI_NAMESPACE, clip, clip_reason, offset};

/// The shape of a data contract, as far as reading it needs.
#[derive(Debug, Clone, Copy)]
pub struct XmlContract<'a> {
    /// The root element's local name, e.g. `TokenRequest`.
    pub root: &'a str,
    /// The namespace of the root and of every member.
    pub namespace: &'a str,
    /// Member names in DataContract order: ordinal order of the names when no `Order` is set.
    pub members: &'a [&'a str],
}

/// How member elements must be ordered in a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemberOrder {
    /// Any order; the first occurrence of a repeated member wins.
    #[default]
    AnyOrder,
    /// DataContractSerializer's forward-only cursor: out-of-order elements are dropped.
    DataContract,
}

/// Resource limits for one request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Deepest element nesting accepted; the root is level 1.
    pub max_depth: usize,
    /// Most child elements (known or not) accepted inside the root.
    pub max_members: usize,
}

impl Default for XmlLimits {
    /// 32 levels is `XmlDictionaryReaderQuotas`' default `MaxDepth`; 64 children leave a
    /// TokenRequest (8 members) plenty of room for extra elements.
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_members: 64,
        }
    }
}

/// Why a body could not be read. Each message is one line a client can act on; any text taken
/// from the body is clipped so that an error never echoes a large payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("DTDs are not accepted")]
    Dtd,
    #[error("undefined entity &{0};")]
    UndefinedEntity(String),
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    #[error("more than {0} elements inside the root element")]
    TooManyMembers(usize),
    #[error("member <{0}> must contain text, not child elements")]
    MemberHasChildren(String),
    #[error("i:nil on <{element}> must be true, false, 1 or 0, not \"{value}\"")]
    InvalidNil { element: String, value: String },
    #[error("the body has no root element")]
    NoRoot,
    #[error("not well-formed XML at byte {at}: {reason}")]
    NotWellFormed { at: usize, reason: String },
}

/// Reads the contract's members from a request body.
///
/// Returns `(member name, Some(text) | None for i:nil)` for the members present, in document
/// order, each at most once. The encoding comes from the body's BOM or first two bytes (UTF-8
/// otherwise); to honour a `charset` parameter, decode with [`decode_text`](super::decode_text)
/// first and pass its bytes. See the module documentation for the exact rules.
pub fn read_members(
    body: &[u8],
    contract: &XmlContract<'_>,
    order: MemberOrder,
    limits: &XmlLimits,
) -> Result<Vec<(String, Option<String>)>, XmlError> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let decoded = decode(body, None)?;
    let mut walk = Walk {
        contract,
        order,
        limits,
        out: Vec::with_capacity(contract.members.len()),
        depth: 0,
        root_seen: false,
        root_matches: false,
        children: 0,
        cursor: None,
        capture: None,
    };
    match walk.run(&decoded.text) {
        Ok(()) => Ok(walk.out),
        Err(XmlError::NotWellFormed { at, reason }) => Err(XmlError::NotWellFormed {
            at: decoded.body_offset(at),
            reason,
        }),
        Err(err) => Err(err),
    }
}

/// The namespace of DataContractSerializer's primitive types (`<string>`, `<int>`).
pub const SERIALIZATION_NAMESPACE: &str = "http://schemas.microsoft.com/2003/10/Serialization/";

/// Reads a body that is one DataContract primitive, `<string xmlns="...Serialization/">text</string>`
/// (a Web API action taking one `[FromBody] string`): `Some(text)`, `None` for `i:nil` or for
/// a root of another name or namespace (which binds nothing, as a wrong contract root does in
/// [`read_members`]). Text is read as a member's is; a child element is an error. Decode the body
/// with [`decode_text`](super::decode_text) first.
pub fn read_primitive(
    body: &[u8],
    root: &str,
    namespace: &str,
    limits: &XmlLimits,
) -> Result<Option<String>, XmlError> {
    let text = std::str::from_utf8(body).map_err(|err| super::TextError::InvalidUtf8 {
        at: err.valid_up_to(),
    })?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_comments = true;
    let mut depth = 0usize;
    let mut root_seen = false;
    let mut value: Option<String> = None;
    let mut first = true;
    loop {
        let at = offset(reader.buffer_position());
        let event = reader
            .read_event()
            .map_err(|err| reader_error(err, offset(reader.error_position())))?;
        match event {
            Event::Start(start) if depth == 0 => {
                value = open_primitive(&reader, &start, root, namespace, &mut root_seen, at)?;
                depth = 1;
            }
            Event::Empty(start) if depth == 0 => {
                value = open_primitive(&reader, &start, root, namespace, &mut root_seen, at)?;
            }
            Event::Start(_) | Event::Empty(_) => {
                if depth + 1 > limits.max_depth {
                    return Err(XmlError::TooDeep(limits.max_depth));
                }
                return Err(XmlError::MemberHasChildren(clip(root)));
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(raw) => {
                let content = raw.xml10_content();
                match (&mut value, depth) {
                    (Some(text), 1) => text.push_str(&content),
                    (_, 1) => {}
                    _ if content.chars().all(is_xml_whitespace) => {}
                    _ => return Err(not_well_formed(at, "text outside the root element")),
                }
            }
            Event::CData(cdata) => match (&mut value, depth) {
                (Some(text), 1) => text.push_str(&cdata.xml10_content()),
                (_, 1) => {}
                _ => return Err(not_well_formed(at, "text outside the root element")),
            },
            Event::GeneralRef(reference) => {
                let ch = resolve_reference(&reference, at)?;
                match (&mut value, depth) {
                    (Some(text), 1) => text.push(ch),
                    (_, 1) => {}
                    _ => return Err(not_well_formed(at, "text outside the root element")),
                }
            }
            Event::Decl(_) if !first => {
                return Err(not_well_formed(at, "the XML declaration must come first"));
            }
            Event::DocType(_) => return Err(XmlError::Dtd),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => {
                if depth > 0 {
                    return Err(not_well_formed(at, "the body ends inside an element"));
                }
                if !root_seen {
                    return Err(XmlError::NoRoot);
                }
                return Ok(value);
            }
        }
        first = false;
    }
}

/// The root of a primitive: `Some("")` to collect its text into, `None` when it is nil or not
/// the primitive asked for.
fn open_primitive(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    root: &str,
    namespace: &str,
    root_seen: &mut bool,
    at: usize,
) -> Result<Option<String>, XmlError> {
    if *root_seen {
        return Err(not_well_formed(at, "more than one root element"));
    }
    *root_seen = true;
    let (resolved, local) = reader.resolver().resolve_element(start.name());
    if let ResolveResult::Unknown(prefix) = &resolved {
        return Err(undeclared_prefix(prefix, at));
    }
    let nil = check_attributes(reader, start, at)?;
    let matches = local.as_ref() == root && in_namespace(&resolved, namespace);
    Ok((matches && !is_nil(nil.as_deref(), local)?).then(String::new))
}

/// The reading state: where in the document the reader is and what has been taken.
struct Walk<'w, 'a> {
    contract: &'w XmlContract<'a>,
    order: MemberOrder,
    limits: &'w XmlLimits,
    out: Vec<(String, Option<String>)>,
    /// Open elements; 1 inside the root, 2 inside a member.
    depth: usize,
    root_seen: bool,
    /// The root has the contract's name and namespace and is not nil: children are members.
    root_matches: bool,
    /// Child elements of the root seen so far, known or not.
    children: usize,
    /// DataContract mode: index of the last member read.
    cursor: Option<usize>,
    /// The member whose text is being collected: index into the contract's members, text.
    capture: Option<(usize, String)>,
}

impl Walk<'_, '_> {
    fn run(&mut self, text: &str) -> Result<(), XmlError> {
        let mut reader = NsReader::from_str(text);
        // `--` inside a comment is not well-formed; .NET rejects it too.
        reader.config_mut().check_comments = true;
        let mut first = true;
        loop {
            let at = offset(reader.buffer_position());
            let event = reader
                .read_event()
                .map_err(|err| reader_error(err, offset(reader.error_position())))?;
            match event {
                Event::Start(start) => self.open(&reader, &start, false, at)?,
                Event::Empty(start) => self.open(&reader, &start, true, at)?,
                Event::End(_) => self.close(),
                Event::Text(raw) => {
                    if self.collecting() {
                        self.push_text(&raw.xml10_content());
                    } else {
                        self.check_stray_text(&raw, at)?;
                    }
                }
                Event::CData(cdata) => {
                    if self.collecting() {
                        self.push_text(&cdata.xml10_content());
                    } else if self.depth <= 1 {
                        return Err(self.stray_text(at));
                    }
                }
                Event::GeneralRef(reference) => {
                    let ch = resolve_reference(&reference, at)?;
                    if self.collecting() {
                        self.push_text(ch.encode_utf8(&mut [0; 4]));
                    } else if self.depth == 0 || (self.depth == 1 && !is_xml_whitespace(ch)) {
                        return Err(self.stray_text(at));
                    }
                }
                Event::Decl(_) if !first => {
                    return Err(not_well_formed(at, "the XML declaration must come first"));
                }
                Event::DocType(_) => return Err(XmlError::Dtd),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
                Event::Eof => {
                    if self.depth > 0 {
                        return Err(not_well_formed(at, "the body ends inside an element"));
                    }
                    if !self.root_seen {
                        return Err(XmlError::NoRoot);
                    }
                    return Ok(());
                }
            }
            first = false;
        }
    }

    /// A start tag or an empty-element tag.
    fn open(
        &mut self,
        reader: &NsReader<&[u8]>,
        start: &BytesStart<'_>,
        empty: bool,
        at: usize,
    ) -> Result<(), XmlError> {
        if self.depth == 0 && self.root_seen {
            return Err(not_well_formed(at, "more than one root element"));
        }
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(XmlError::TooDeep(self.limits.max_depth));
        }
        let (namespace, local) = reader.resolver().resolve_element(start.name());
        if let ResolveResult::Unknown(prefix) = &namespace {
            return Err(undeclared_prefix(prefix, at));
        }
        // Every element's attributes are checked, not just the members', so an undefined
        // entity or a bad prefix is an error wherever it is. The `i:nil` value itself only
        // matters where the serializer would look at it: the root and the members it reads.
        let nil = check_attributes(reader, start, at)?;
        match self.depth {
            1 => {
                self.root_seen = true;
                self.root_matches = local.as_ref() == self.contract.root
                    && in_namespace(&namespace, self.contract.namespace)
                    && !is_nil(nil.as_deref(), local)?;
            }
            2 => {
                self.children += 1;
                if self.children > self.limits.max_members {
                    return Err(XmlError::TooManyMembers(self.limits.max_members));
                }
                if self.root_matches
                    && let Some(member) = self.member(&namespace, local)
                    && self.take(member)
                {
                    match (is_nil(nil.as_deref(), local)?, empty) {
                        (true, _) => self.emit(member, None),
                        (false, true) => self.emit(member, Some(String::new())),
                        (false, false) => self.capture = Some((member, String::new())),
                    }
                }
            }
            _ => {
                if let Some((member, _)) = &self.capture {
                    let name = self.contract.members.get(*member).copied().unwrap_or("");
                    return Err(XmlError::MemberHasChildren(clip(name)));
                }
            }
        }
        if empty {
            self.close();
        }
        Ok(())
    }

    /// An end tag (quick-xml has checked that it matches), or the end of an empty element.
    fn close(&mut self) {
        if self.depth == 2
            && let Some((member, text)) = self.capture.take()
        {
            self.emit(member, Some(text));
        }
        self.depth = self.depth.saturating_sub(1);
    }

    /// The index of the contract member an element at depth 2 names, if any.
    fn member(&self, namespace: &ResolveResult<'_>, local: LocalName<'_>) -> Option<usize> {
        if !in_namespace(namespace, self.contract.namespace) {
            return None;
        }
        let local = local.as_ref();
        self.contract.members.iter().position(|name| *name == local)
    }

    /// Whether a member element is read or skipped, per [`MemberOrder`].
    fn take(&mut self, member: usize) -> bool {
        match self.order {
            MemberOrder::AnyOrder => {
                let name = self.contract.members.get(member).copied().unwrap_or("");
                !self.out.iter().any(|(taken, _)| taken == name)
            }
            MemberOrder::DataContract => {
                if self.cursor.is_none_or(|cursor| member > cursor) {
                    self.cursor = Some(member);
                    true
                } else {
                    false
                }
            }
        }
    }

    fn emit(&mut self, member: usize, value: Option<String>) {
        let name = self.contract.members.get(member).copied().unwrap_or("");
        self.out.push((name.to_owned(), value));
    }

    fn collecting(&self) -> bool {
        self.depth == 2 && self.capture.is_some()
    }

    fn push_text(&mut self, text: &str) {
        if let Some((_, value)) = &mut self.capture {
            value.push_str(text);
        }
    }

    /// Text that is not a member value: whitespace anywhere, anything inside unknown elements.
    fn check_stray_text(&self, raw: &str, at: usize) -> Result<(), XmlError> {
        if self.depth <= 1 && !raw.chars().all(is_xml_whitespace) {
            return Err(self.stray_text(at));
        }
        Ok(())
    }

    fn stray_text(&self, at: usize) -> XmlError {
        if self.depth == 0 {
            not_well_formed(at, "text outside the root element")
        } else {
            not_well_formed(
                at,
                "text directly inside the root element; members must be elements",
            )
        }
    }
}

/// Validates an element's attributes and returns the value of its `i:nil`, if any.
fn check_attributes<'s>(
    reader: &NsReader<&[u8]>,
    start: &'s BytesStart<'_>,
    at: usize,
) -> Result<Option<Cow<'s, str>>, XmlError> {
    let mut nil = None;
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|err| {
            not_well_formed(
                at,
                format!("bad attribute: {}", clip_reason(&err.to_string())),
            )
        })?;
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| reader_error(err, at))?;
        let (namespace, local) = reader.resolver().resolve_attribute(attribute.key);
        match namespace {
            ResolveResult::Unknown(prefix) => return Err(undeclared_prefix(&prefix, at)),
            ResolveResult::Bound(Namespace(ns))
                if ns == XSI_NAMESPACE && local.as_ref() == "nil" =>
            {
                nil = Some(value);
            }
            _ => {}
        }
    }
    Ok(nil)
}

/// Whether an `i:nil` value means null, as `XmlConvert.ToBoolean` reads it: trimmed,
/// case-sensitive `true`/`1`/`false`/`0`, anything else an error.
fn is_nil(value: Option<&str>, element: LocalName<'_>) -> Result<bool, XmlError> {
    match value.map(|value| value.trim_matches(is_xml_whitespace)) {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(XmlError::InvalidNil {
            element: clip(element.as_ref()),
            value: clip(other),
        }),
    }
}

/// The character a reference in text stands for; only the predefined entities exist here.
fn resolve_reference(
    reference: &quick_xml::events::BytesRef<'_>,
    at: usize,
) -> Result<char, XmlError> {
    match reference.resolve_char_ref() {
        Ok(Some(ch)) => Ok(ch),
        Ok(None) => match &**reference {
            "lt" => Ok('<'),
            "gt" => Ok('>'),
            "amp" => Ok('&'),
            "apos" => Ok('\''),
            "quot" => Ok('"'),
            name => Err(XmlError::UndefinedEntity(clip(name))),
        },
        Err(err) => Err(not_well_formed(
            at,
            format!(
                "bad character reference &{};: {}",
                clip(reference),
                clip_reason(&err.to_string())
            ),
        )),
    }
}

fn in_namespace(resolved: &ResolveResult<'_>, namespace: &str) -> bool {
    match resolved {
        ResolveResult::Bound(Namespace(ns)) => *ns == namespace,
        ResolveResult::Unbound => namespace.is_empty(),
        ResolveResult::Unknown(_) => false,
    }
}

fn undeclared_prefix(prefix: &str, at: usize) -> XmlError {
    not_well_formed(
        at,
        format!("undeclared namespace prefix '{}'", clip(prefix)),
    )
}

/// Maps a quick-xml error; DTD-shaped syntax errors still say "DTD" so that a truncated
/// billion-laughs body gets the same answer as a complete one.
fn reader_error(err: quick_xml::Error, at: usize) -> XmlError {
    use quick_xml::errors::{IllFormedError, SyntaxError};
    match err {
        quick_xml::Error::Syntax(SyntaxError::UnclosedDoctype)
        | quick_xml::Error::IllFormed(IllFormedError::MissingDoctypeName) => XmlError::Dtd,
        quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(_, name)) => {
            XmlError::UndefinedEntity(clip(&name))
        }
        other => not_well_formed(at, clip_reason(&other.to_string())),
    }
}

fn not_well_formed(at: usize, reason: impl Into<String>) -> XmlError {
    XmlError::NotWellFormed {
        at,
        reason: reason.into(),
    }
}

fn is_xml_whitespace(ch: char) -> bool {
    matches!(ch, ' ' | '\t' | '\r' | '\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::xml::decode_text;
    use crate::dialect::xml::samples::*;

    fn read(body: &str, order: MemberOrder) -> Result<Members, XmlError> {
        read_members(body.as_bytes(), &TOKEN_REQUEST, order, &LIMITS)
    }

    fn read_any(body: &str) -> Result<Members, XmlError> {
        read(body, MemberOrder::AnyOrder)
    }

    /// A TokenRequest root around `inner`, declaring the default and `i` namespaces.
    fn request(inner: &str) -> String {
        format!(r#"<TokenRequest xmlns="{NS}" xmlns:i="{XSI_NAMESPACE}">{inner}</TokenRequest>"#)
    }

    #[test]
    fn reads_the_reference_token_requests_in_both_modes() {
        let cases = [
            (
                PASSWORD_REQUEST,
                members(&[
                    ("WindowsAuthentication", None),
                    ("client_id", Some("demo-client")),
                    ("client_secret", None),
                    ("grant_type", Some("password")),
                    ("password", Some("P@ssw0rd!")),
                    ("refresh_token", None),
                    ("scope", None),
                    ("username", Some("user@example.com")),
                ]),
            ),
            (
                CLIENT_CREDENTIALS_REQUEST,
                members(&[
                    ("WindowsAuthentication", None),
                    ("client_id", Some("demo-confidential")),
                    ("client_secret", Some("demo-secret")),
                    ("grant_type", Some("client_credentials")),
                    ("password", None),
                    ("refresh_token", None),
                    ("scope", None),
                    ("username", None),
                ]),
            ),
            (
                REFRESH_REQUEST,
                members(&[
                    ("WindowsAuthentication", None),
                    ("client_id", Some("demo-client")),
                    ("client_secret", None),
                    ("grant_type", Some("refresh_token")),
                    ("password", None),
                    ("refresh_token", Some("r")),
                    ("scope", None),
                    ("username", None),
                ]),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(read(body, MemberOrder::AnyOrder).unwrap(), expected);
            assert_eq!(read(body, MemberOrder::DataContract).unwrap(), expected);
        }
    }

    #[test]
    fn reads_the_help_page_sample() {
        let expected = members(&[
            ("WindowsAuthentication", Some("true")),
            ("client_id", Some("sample string 2")),
            ("client_secret", Some("sample string 3")),
            ("grant_type", Some("sample string 7")),
            ("password", Some("sample string 6")),
            ("refresh_token", Some("sample string 8")),
            ("scope", Some("sample string 4")),
            ("username", Some("sample string 5")),
        ]);
        assert_eq!(
            read(HELP_PAGE_SAMPLE, MemberOrder::AnyOrder).unwrap(),
            expected
        );
        assert_eq!(
            read(HELP_PAGE_SAMPLE, MemberOrder::DataContract).unwrap(),
            expected
        );
    }

    #[test]
    fn out_of_order_members_are_kept_in_any_order_mode_and_dropped_in_data_contract_mode() {
        // C# declaration order of a typical client: grant_type first, then client_id, ...
        let body = request(
            "<grant_type>password</grant_type><client_id>c</client_id>\
             <username>u</username><password>p</password>",
        );
        assert_eq!(
            read(&body, MemberOrder::AnyOrder).unwrap(),
            members(&[
                ("grant_type", Some("password")),
                ("client_id", Some("c")),
                ("username", Some("u")),
                ("password", Some("p")),
            ])
        );
        // client_id is before grant_type in the contract, password before username: dropped.
        assert_eq!(
            read(&body, MemberOrder::DataContract).unwrap(),
            members(&[("grant_type", Some("password")), ("username", Some("u"))])
        );
    }

    /// The rows of the reader table in `.ci/clients/dotnet/REFERENCE.md` ("How the reader treats
    /// hand-written bodies") that Mono answered without an exception.
    #[test]
    fn data_contract_mode_matches_mono_on_the_reference_bodies() {
        let response = |inner: &str| {
            format!(
                r#"<AccessTokenResponse xmlns="{NS}" xmlns:i="{XSI_NAMESPACE}">{inner}</AccessTokenResponse>"#
            )
        };
        let read_response = |body: &str| {
            read_members(
                body.as_bytes(),
                &ACCESS_TOKEN_RESPONSE,
                MemberOrder::DataContract,
                &LIMITS,
            )
            .unwrap()
        };
        let names = |members: Members| {
            members
                .into_iter()
                .map(|(name, _)| name)
                .collect::<Vec<_>>()
        };

        assert_eq!(read_response(ACCESS_TOKEN_RESPONSE_BYTES).len(), 11);
        // token_type first: only token_type survives.
        let early = response(
            r#"<token_type>bearer</token_type><access_token>a</access_token><scope>s</scope><expires_in>1799</expires_in><ip>127.0.0.1</ip><is_editor>true</is_editor><not_before_policy>0</not_before_policy><redirect_url i:nil="true"/><refresh_expires_in>1209600</refresh_expires_in><refresh_token>r</refresh_token><session_state>x</session_state>"#,
        );
        assert_eq!(
            read_response(&early),
            members(&[("token_type", Some("bearer"))])
        );
        // C# declaration order: ip, is_editor, not_before_policy, session_state, scope lost.
        let declaration = response(
            r#"<access_token>a</access_token><expires_in>1799</expires_in><redirect_url i:nil="true"/><ip>127.0.0.1</ip><is_editor>true</is_editor><refresh_expires_in>1209600</refresh_expires_in><refresh_token>r</refresh_token><token_type>bearer</token_type><not_before_policy>0</not_before_policy><session_state>x</session_state><scope>s</scope>"#,
        );
        assert_eq!(
            names(read_response(&declaration)),
            [
                "access_token",
                "expires_in",
                "redirect_url",
                "refresh_expires_in",
                "refresh_token",
                "token_type"
            ]
        );
        // Unknown element between known ones, and a hyphenated near-miss: ignored.
        let unknown = response(
            "<access_token>a</access_token><bogus>1</bogus><not-before-policy>0</not-before-policy><expires_in>1799</expires_in>",
        );
        assert_eq!(
            read_response(&unknown),
            members(&[("access_token", Some("a")), ("expires_in", Some("1799"))])
        );
        // Declaration, indentation, xmlns:i before xmlns, `<x />`.
        let indented = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<AccessTokenResponse xmlns:i=\"{XSI_NAMESPACE}\" xmlns=\"{NS}\">\n  <access_token>a</access_token>\n  <expires_in>1799</expires_in>\n  <redirect_url i:nil=\"true\" />\n</AccessTokenResponse>\n"
        );
        assert_eq!(
            read_response(&indented),
            members(&[
                ("access_token", Some("a")),
                ("expires_in", Some("1799")),
                ("redirect_url", None)
            ])
        );
        // Empty element for a string, whitespace kept (the caller trims numbers).
        assert_eq!(
            read_response(&response("<ip/>")),
            members(&[("ip", Some(""))])
        );
        assert_eq!(
            read_response(&response("<expires_in> 1799 </expires_in>")),
            members(&[("expires_in", Some(" 1799 "))])
        );
    }

    #[test]
    fn repeated_members_keep_the_first_occurrence() {
        let body = request("<client_id>first</client_id><client_id>second</client_id>");
        for order in [MemberOrder::AnyOrder, MemberOrder::DataContract] {
            assert_eq!(
                read(&body, order).unwrap(),
                members(&[("client_id", Some("first"))])
            );
        }
    }

    #[test]
    fn unknown_and_foreign_namespace_elements_are_skipped_with_their_subtrees() {
        let body = request(
            "<bogus a=\"1\"><client_id>inner</client_id><x><y/></x></bogus>\
             <client_id xmlns=\"urn:other\">foreign</client_id>\
             <o:scope xmlns:o=\"urn:other\">foreign</o:scope>\
             <client_id>mine</client_id>",
        );
        assert_eq!(
            read_any(&body).unwrap(),
            members(&[("client_id", Some("mine"))])
        );
    }

    #[test]
    fn prefixed_namespaces_are_resolved() {
        let body = format!(
            r#"<t:TokenRequest xmlns:t="{NS}" xmlns:xsi="{XSI_NAMESPACE}"><t:client_id>c</t:client_id><client_id>unbound</client_id><t:scope xsi:nil="1"/><t:grant_type xsi:nil="false">password</t:grant_type></t:TokenRequest>"#
        );
        assert_eq!(
            read_any(&body).unwrap(),
            members(&[
                ("client_id", Some("c")),
                ("scope", None),
                ("grant_type", Some("password"))
            ])
        );
        // Members may use another prefix bound to the same namespace.
        let body = format!(
            r#"<TokenRequest xmlns="{NS}"><m:client_id xmlns:m="{NS}">c</m:client_id></TokenRequest>"#
        );
        assert_eq!(
            read_any(&body).unwrap(),
            members(&[("client_id", Some("c"))])
        );
    }

    #[test]
    fn a_wrong_root_name_or_namespace_reads_as_an_empty_body() {
        let bodies = [
            "<TokenRequest><client_id>c</client_id></TokenRequest>".to_string(),
            format!(r#"<TokenResponse xmlns="{NS}"><client_id>c</client_id></TokenResponse>"#),
            r#"<TokenRequest xmlns="urn:other"><client_id>c</client_id></TokenRequest>"#
                .to_string(),
            format!(r#"<TokenRequest xmlns="{NS}" xmlns:i="{XSI_NAMESPACE}" i:nil="true"/>"#),
            format!(r#"<TokenRequest xmlns="{NS}"/>"#),
        ];
        for body in &bodies {
            for order in [MemberOrder::AnyOrder, MemberOrder::DataContract] {
                assert_eq!(read(body, order).unwrap(), Members::new(), "{body}");
            }
        }
    }

    #[test]
    fn nil_rules() {
        let body = request(
            "<client_id i:nil=\"true\">ignored<x/></client_id><scope i:nil=\" 1 \"/>\
             <username i:nil=\"false\"/><password i:nil=\"0\">p</password>",
        );
        assert_eq!(
            read_any(&body).unwrap(),
            members(&[
                ("client_id", None),
                ("scope", None),
                ("username", Some("")),
                ("password", Some("p")),
            ])
        );
        // Mono rejects `True` for booleans; XmlConvert.ToBoolean is case-sensitive.
        assert_eq!(
            read_any(&request("<scope i:nil=\"True\"/>")),
            Err(XmlError::InvalidNil {
                element: "scope".into(),
                value: "True".into()
            })
        );
        // Where the serializer never looks, a bad value does not matter.
        assert_eq!(
            read_any(&request(
                "<bogus i:nil=\"maybe\"/><scope>s</scope><scope i:nil=\"maybe\"/>"
            ))
            .unwrap(),
            members(&[("scope", Some("s"))])
        );
        assert!(matches!(
            read_any(&format!(
                r#"<TokenRequest xmlns="{NS}" xmlns:i="{XSI_NAMESPACE}" i:nil="yes"/>"#
            )),
            Err(XmlError::InvalidNil { .. })
        ));
        // `nil` in no namespace is just an unknown attribute.
        assert_eq!(
            read_any(&request("<scope nil=\"true\">s</scope>")).unwrap(),
            members(&[("scope", Some("s"))])
        );
        assert!(matches!(
            read_any(&request("<scope q:nil=\"true\"/>")),
            Err(XmlError::NotWellFormed { reason, .. }) if reason.contains("'q'")
        ));
    }

    #[test]
    fn text_cdata_entities_and_character_references() {
        let body = request(
            "<client_id>a&amp;b&lt;&gt;&quot;&apos;&#65;&#x42;&#xD;\
             <![CDATA[<x>&amp;]]><!-- note --><?pi x?>z</client_id>\
             <scope>l1\r\nl2\rl3</scope><username>  padded  </username>",
        );
        assert_eq!(
            read_any(&body).unwrap(),
            members(&[
                ("client_id", Some("a&b<>\"'AB\r<x>&amp;z")),
                ("scope", Some("l1\nl2\nl3")),
                ("username", Some("  padded  ")),
            ])
        );
        assert!(matches!(
            read_any(&request("<scope>&#0;</scope>")),
            Err(XmlError::NotWellFormed { .. })
        ));
        assert!(matches!(
            read_any(&request("<scope>a & b</scope>")),
            Err(XmlError::NotWellFormed { .. })
        ));
    }

    #[test]
    fn encodings() {
        let expected = read_any(PASSWORD_REQUEST).unwrap();
        let declared = format!("<?xml version=\"1.0\" encoding=\"utf-16\"?>{PASSWORD_REQUEST}");
        let mut utf8_bom = vec![0xEF, 0xBB, 0xBF];
        utf8_bom.extend_from_slice(PASSWORD_REQUEST.as_bytes());
        let bodies = [
            utf16(PASSWORD_REQUEST, false, true),
            utf16(PASSWORD_REQUEST, true, true),
            utf16(&declared, false, true),
            utf16(&declared, true, false),
            utf8_bom,
            format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n{PASSWORD_REQUEST}\r\n")
                .into_bytes(),
        ];
        for body in &bodies {
            let got = read_members(body, &TOKEN_REQUEST, MemberOrder::AnyOrder, &LIMITS);
            assert_eq!(got.unwrap(), expected);
        }
        // Non-ASCII survives every route.
        let body = request("<username>Zoë 🦀</username>");
        for bytes in [utf16(&body, false, true), utf16(&body, true, true)] {
            assert_eq!(
                read_members(&bytes, &TOKEN_REQUEST, MemberOrder::AnyOrder, &LIMITS).unwrap(),
                members(&[("username", Some("Zoë 🦀"))])
            );
        }
        // A declaration must come first.
        assert!(matches!(
            read_any(&format!(" <?xml version=\"1.0\"?>{PASSWORD_REQUEST}")),
            Err(XmlError::NotWellFormed { at: 1, .. })
        ));
    }

    #[test]
    fn error_positions_point_into_the_body() {
        let text = request("<scope>x</scopes>");
        let at_text = text.find("</scopes>").unwrap();
        let Err(XmlError::NotWellFormed { at, .. }) = read_any(&text) else {
            panic!("mismatched end tag accepted");
        };
        assert_eq!(at, at_text);
        let Err(XmlError::NotWellFormed { at, .. }) = read_members(
            &utf16(&text, false, true),
            &TOKEN_REQUEST,
            MemberOrder::AnyOrder,
            &LIMITS,
        ) else {
            panic!("mismatched end tag accepted");
        };
        assert_eq!(at, 2 + 2 * at_text);
    }

    #[test]
    fn dtds_are_rejected() {
        let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<TokenRequest xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models"><client_id>&lol9;</client_id></TokenRequest>"#;
        let xxe = r#"<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><TokenRequest xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models"><client_id>&xxe;</client_id></TokenRequest>"#;
        let inside = request("<!DOCTYPE x><client_id>c</client_id>");
        let truncated = "<!DOCTYPE x [<!ENTITY a \"b\">";
        for body in [billion_laughs, xxe, &inside, truncated] {
            assert_eq!(read_any(body), Err(XmlError::Dtd), "{body}");
        }
        assert_eq!(XmlError::Dtd.to_string(), "DTDs are not accepted");
    }

    #[test]
    fn undefined_entities_are_rejected_everywhere() {
        for body in [
            request("<client_id>&xxe;</client_id>"),
            request("<bogus>&xxe;</bogus>"),
            request("<client_id a=\"&xxe;\">c</client_id>"),
        ] {
            assert_eq!(
                read_any(&body),
                Err(XmlError::UndefinedEntity("xxe".into())),
                "{body}"
            );
        }
        assert_eq!(
            XmlError::UndefinedEntity("xxe".into()).to_string(),
            "undefined entity &xxe;"
        );
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let depth = 10_000;
        let body = format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth));
        assert_eq!(read_any(&body), Err(XmlError::TooDeep(32)));
        let inside = request(&format!(
            "{}{}",
            "<bogus>".repeat(depth),
            "</bogus>".repeat(depth)
        ));
        assert_eq!(read_any(&inside), Err(XmlError::TooDeep(32)));
        // 32 levels exactly is fine.
        let ok = request(&format!("{}{}", "<b>".repeat(31), "</b>".repeat(31)));
        assert_eq!(read_any(&ok), Ok(Members::new()));
        assert_eq!(
            XmlError::TooDeep(32).to_string(),
            "nesting deeper than 32 levels"
        );
    }

    #[test]
    fn too_many_members_are_rejected() {
        let body = request(&"<client_id/>".repeat(100_000));
        assert_eq!(read_any(&body), Err(XmlError::TooManyMembers(64)));
        let ok = request(&"<x/>".repeat(64));
        assert_eq!(read_any(&ok), Ok(Members::new()));
    }

    #[test]
    fn structural_errors() {
        let no_root = [" \r\n\t", "<!-- c -->", "<?xml version=\"1.0\"?>"];
        for body in no_root {
            assert_eq!(read_any(body), Err(XmlError::NoRoot), "{body:?}");
        }
        assert_eq!(read_any(""), Ok(Members::new()));
        assert_eq!(
            read_any(&request("<client_id>c<b>x</b></client_id>")),
            Err(XmlError::MemberHasChildren("client_id".into()))
        );
        let not_well_formed = [
            request("text<client_id>c</client_id>"),
            request("<![CDATA[x]]>"),
            request("&amp;"),
            format!("x{}", request("")),
            format!("{}{}", request(""), request("")),
            format!("{} trailing", request("")),
            format!("&#32;{}", request("")),
            request("<client_id>c</client_id").replace("</TokenRequest>", ""),
            request("<client_id>c"),
            request("<p:client_id>c</p:client_id>"),
            request("<client_id a=\"1\" a=\"2\">c</client_id>"),
            request("<!-- a -- b -->"),
            "<TokenRequest".to_string(),
            "</TokenRequest>".to_string(),
        ];
        for body in &not_well_formed {
            assert!(
                matches!(read_any(body), Err(XmlError::NotWellFormed { .. })),
                "{body}: {:?}",
                read_any(body)
            );
        }
        // Whitespace, comments and PIs are fine anywhere outside values.
        let body = format!(
            "<!-- a --><?pi?>\n{}\n<!-- b --><?pi?>\n",
            request("\n<?pi?><!-- c -->\n")
        );
        assert_eq!(read_any(&body), Ok(Members::new()));
    }

    #[test]
    fn error_messages_are_clipped() {
        let long = "e".repeat(10_000);
        let Err(XmlError::UndefinedEntity(name)) =
            read_any(&request(&format!("<scope>&{long};</scope>")))
        else {
            panic!("long entity accepted");
        };
        assert!(name.len() < 80);
        let Err(XmlError::InvalidNil { value, .. }) = read_any(&request("<scope i:nil=\"a\nb\"/>"))
        else {
            panic!("bad nil accepted");
        };
        assert_eq!(value, "a b");
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn never_panics_on_mutated_bodies() {
        const PIECES: &[&[u8]] = &[
            b"<",
            b">",
            b"/>",
            b"</",
            b"&",
            b";",
            b"&#x",
            b"&lt;",
            b"<![CDATA[",
            b"]]>",
            b"<!--",
            b"-->",
            b"<?",
            b"?>",
            b"<!DOCTYPE",
            b"xmlns:",
            b"i:nil=\"true\"",
            b"\"",
            b"'",
            b":",
            b"=",
            b"\x00",
            b"\xFF",
            b"\xFE",
            b"\xEF\xBB\xBF",
            b"\r\n",
            b"<client_id>",
            b"</client_id>",
            b"<a:b xmlns:a=\"x\">",
            b"&#xD800;",
            b"&#1114112;",
            b"\xF0\x9F\xA6",
        ];
        let seeds = [
            PASSWORD_REQUEST,
            CLIENT_CREDENTIALS_REQUEST,
            REFRESH_REQUEST,
            HELP_PAGE_SAMPLE,
            ACCESS_TOKEN_RESPONSE_BYTES,
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let orders = [MemberOrder::AnyOrder, MemberOrder::DataContract];
        let tight = XmlLimits {
            max_depth: 3,
            max_members: 4,
        };
        for round in 0..5_000 {
            let mut body = seeds[rng.below(seeds.len())].as_bytes().to_vec();
            if round % 7 == 0 {
                body = utf16(
                    std::str::from_utf8(&body).unwrap_or(""),
                    round % 2 == 0,
                    round % 3 == 0,
                );
            }
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(body.len() + 1);
                match rng.below(5) {
                    0 => {
                        let end = (at + rng.below(16)).min(body.len());
                        body.drain(at..end);
                    }
                    1 => {
                        let piece = PIECES[rng.below(PIECES.len())];
                        body.splice(at..at, piece.iter().copied());
                    }
                    2 if at < body.len() => body[at] = rng.next() as u8,
                    3 => body.truncate(at),
                    _ => {
                        let from = rng.below(body.len() + 1);
                        let end = (from + rng.below(32)).min(body.len());
                        let copy = body[from..end].to_vec();
                        body.splice(at..at, copy);
                    }
                }
            }
            let limits = if round % 2 == 0 { LIMITS } else { tight };
            let contract = if round % 3 == 0 {
                &ACCESS_TOKEN_RESPONSE
            } else {
                &TOKEN_REQUEST
            };
            let _ = read_members(&body, contract, orders[round % 2], &limits);
            let charset = ["utf-8", "utf-16", "utf-16be", "UTF-16LE", "latin1"][rng.below(5)];
            if let Ok(text) = decode_text(&body, Some(charset)) {
                let _ = read_members(text.as_bytes(), contract, orders[round % 2], &limits);
            }
        }
    }
}
