//! The comparison of two answers to one request: the legacy server's and the gateway's. What a
//! client can observe is compared (status, the headers clients act on, the body's structure and
//! its fixed texts); values that differ between any two servers by nature (tokens, ids,
//! instants) are compared by their shape. Each difference names its class, where it is, and
//! what each side had, described so that no secret, token or digest is ever written out.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::domain::is_secret_member;
use crate::wire::WireResponse;

/// The kinds of difference. Their names label `/metrics` and the shadow log, so the set is
/// closed: where a difference is goes in [`Difference::at`], never into its class.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum Class {
    /// Another HTTP status.
    Status,
    /// A compared header missing, added or with another value.
    Header,
    /// One body JSON, the other XML, text or empty.
    BodyFormat,
    /// A member (or element, or attribute) the legacy answer has and the gateway's lacks.
    MemberMissing,
    /// A member the gateway's answer has and the legacy one lacks.
    MemberExtra,
    /// The same members in another order.
    MemberOrder,
    /// A member of another JSON type (a number for a string, `null` for a value).
    MemberType,
    /// Another fixed value: an error code or text, a token type, a user name.
    Value,
    /// Tokens or ids of another shape (a JWT for a GUID, other claim names, another length).
    TokenShape,
    /// An instant in another format, or instants spaced otherwise.
    Instant,
    /// Another XML root element.
    XmlRoot,
    /// An XML element in another namespace.
    XmlNamespace,
    /// The same XML elements in another order.
    XmlOrder,
    /// A body that is neither JSON nor XML, with other bytes.
    Body,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference: its class, where (`status`, a header's name, a JSON path such as
/// `$.error_description`, an XML path such as `/AccessTokenResponse/expires_in`), and a
/// description of what each side had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub class: Class,
    pub at: String,
    pub legacy: String,
    pub gateway: String,
}

/// The headers compared besides those a route adds: the ones clients and their HTTP stacks act
/// on.
pub const COMPARED_HEADERS: [&str; 6] = [
    "content-type",
    "cache-control",
    "pragma",
    "expires",
    "www-authenticate",
    "retry-after",
];

/// The longest fixed text written into a difference; longer ones are cut.
const MAX_TEXT: usize = 120;

/// Every difference between the legacy answer and the gateway's, in the order status, headers,
/// body. `extra_headers` are compared beside [`COMPARED_HEADERS`].
pub fn compare(
    legacy: &WireResponse,
    gateway: &WireResponse,
    extra_headers: &[String],
) -> Vec<Difference> {
    let mut out = Vec::new();
    if legacy.status != gateway.status {
        out.push(Difference {
            class: Class::Status,
            at: "status".into(),
            legacy: legacy.status.to_string(),
            gateway: gateway.status.to_string(),
        });
    }
    let names = COMPARED_HEADERS
        .iter()
        .copied()
        .chain(extra_headers.iter().map(String::as_str));
    for name in names {
        compare_header(name, legacy, gateway, &mut out);
    }
    compare_bodies(&legacy.body, &gateway.body, &mut out);
    out
}

/// A header's values, joined as one list (borrowed when there is one, as there nearly always is).
fn header<'a>(response: &'a WireResponse, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    let mut values = response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str());
    let first = values.next()?;
    Some(match values.next() {
        None => std::borrow::Cow::Borrowed(first),
        Some(second) => {
            let mut all = format!("{first}, {second}");
            for more in values {
                all.push_str(", ");
                all.push_str(more);
            }
            std::borrow::Cow::Owned(all)
        }
    })
}

fn compare_header(
    name: &str,
    legacy: &WireResponse,
    gateway: &WireResponse,
    out: &mut Vec<Difference>,
) {
    let (l, g) = (header(legacy, name), header(gateway, name));
    let same = match (&l, &g) {
        (Some(l), Some(g)) if l == g => true,
        // An `Expires` date is an instant like any other: its format counts, not its value.
        (Some(l), Some(g)) if name.eq_ignore_ascii_case("expires") => {
            matches!((instant_form(l), instant_form(g)), (Some((a, _)), Some((b, _))) if a == b)
        }
        (None, None) => true,
        _ => false,
    };
    if !same {
        let show = |v: &Option<std::borrow::Cow<'_, str>>| {
            v.as_deref().map_or_else(|| "absent".into(), quoted)
        };
        out.push(Difference {
            class: Class::Header,
            at: name.to_ascii_lowercase(),
            legacy: show(&l),
            gateway: show(&g),
        });
    }
}

/// A fixed text as a difference shows it: quoted, cut at [`MAX_TEXT`] characters.
fn quoted(text: &str) -> String {
    let mut shown: String = text.chars().take(MAX_TEXT).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// A body as the comparison reads it.
enum Body {
    Empty,
    Json(Node),
    Xml(Element),
    Other,
}

impl Body {
    fn read(bytes: &[u8]) -> Self {
        let text = std::str::from_utf8(bytes).unwrap_or("");
        let start = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
        if bytes.is_empty() {
            Body::Empty
        } else if start.starts_with(['{', '[']) {
            serde_json::from_str::<Node>(start).map_or(Body::Other, Body::Json)
        } else if start.starts_with('<') {
            Element::parse(start).map_or(Body::Other, Body::Xml)
        } else {
            Body::Other
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Body::Empty => "empty",
            Body::Json(_) => "json",
            Body::Xml(_) => "xml",
            Body::Other => "text",
        }
    }
}

fn compare_bodies(legacy: &[u8], gateway: &[u8], out: &mut Vec<Difference>) {
    match (Body::read(legacy), Body::read(gateway)) {
        (Body::Json(l), Body::Json(g)) => compare_json("$", None, &l, &g, out),
        (Body::Xml(l), Body::Xml(g)) => compare_xml_root(&l, &g, out),
        (Body::Empty, Body::Empty) => {}
        (Body::Other, Body::Other) => {
            // A form or text body may hold anything: only where it differs is shown.
            if legacy != gateway {
                let at = legacy
                    .iter()
                    .zip(gateway)
                    .position(|(a, b)| a != b)
                    .unwrap_or(legacy.len().min(gateway.len()));
                out.push(Difference {
                    class: Class::Body,
                    at: format!("byte {at}"),
                    legacy: format!("{} bytes", legacy.len()),
                    gateway: format!("{} bytes", gateway.len()),
                });
            }
        }
        (l, g) => out.push(Difference {
            class: Class::BodyFormat,
            at: "body".into(),
            legacy: l.kind().into(),
            gateway: g.kind().into(),
        }),
    }
}

/// A JSON value with its members in the order written (`serde_json::Value` sorts them).
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "boolean",
            Node::Number(_) => "number",
            Node::String(_) => "string",
            Node::Array(_) => "array",
            Node::Object(_) => "object",
        }
    }
}

impl<'de> serde::Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Number(v.into()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Node, E> {
                serde_json::Number::from_f64(v)
                    .map(Node::Number)
                    .ok_or_else(|| E::custom("not a JSON number"))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Node, E> {
                Ok(Node::String(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Node::Object(members))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `name` is the member's own name (the last part of `at`), which decides how its value is
/// shown and whether a number is a lifetime.
fn compare_json(at: &str, name: Option<&str>, l: &Node, g: &Node, out: &mut Vec<Difference>) {
    match (l, g) {
        (Node::Object(l), Node::Object(g)) => {
            let child = |key: &str| member_path(at, key);
            compare_members(
                l.iter().map(|(k, v)| (k.as_str(), v.type_name())),
                g.iter().map(|(k, v)| (k.as_str(), v.type_name())),
                &child,
                at,
                Class::MemberOrder,
                out,
            );
            for (key, lv) in l {
                if let Some((_, gv)) = g.iter().find(|(k, _)| k == key) {
                    compare_json(&child(key), Some(key), lv, gv, out);
                }
            }
            let instants = |members: &[(String, Node)]| -> Vec<(String, DateTime<Utc>)> {
                members
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), node_instant(v)?)))
                    .collect()
            };
            compare_spacing(&child, &instants(l), &instants(g), out);
        }
        (Node::Array(l), Node::Array(g)) => {
            for (i, (lv, gv)) in l.iter().zip(g).enumerate() {
                compare_json(&format!("{at}[{i}]"), name, lv, gv, out);
            }
            for (i, lv) in l.iter().enumerate().skip(g.len()) {
                out.push(missing(format!("{at}[{i}]"), lv.type_name()));
            }
            for (i, gv) in g.iter().enumerate().skip(l.len()) {
                out.push(extra(format!("{at}[{i}]"), gv.type_name()));
            }
        }
        (Node::String(l), Node::String(g)) => compare_text(at, name, l, g, out),
        (Node::Number(l), Node::Number(g)) => compare_numbers(at, name, l, g, out),
        (Node::Bool(l), Node::Bool(g)) if l != g => out.push(Difference {
            class: Class::Value,
            at: at.into(),
            legacy: l.to_string(),
            gateway: g.to_string(),
        }),
        (Node::Bool(_), Node::Bool(_)) | (Node::Null, Node::Null) => {}
        (l, g) => out.push(Difference {
            class: Class::MemberType,
            at: at.into(),
            legacy: l.type_name().into(),
            gateway: g.type_name().into(),
        }),
    }
}

/// A member's path: `$.name`, or `$[".issued"]` for a name that is not an identifier.
fn member_path(at: &str, key: &str) -> String {
    let identifier = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if identifier {
        format!("{at}.{key}")
    } else {
        format!("{at}[{}]", serde_json::Value::from(key))
    }
}

fn missing(at: String, what: &str) -> Difference {
    Difference {
        class: Class::MemberMissing,
        at,
        legacy: what.into(),
        gateway: "absent".into(),
    }
}

fn extra(at: String, what: &str) -> Difference {
    Difference {
        class: Class::MemberExtra,
        at,
        legacy: "absent".into(),
        gateway: what.into(),
    }
}

/// Members (or child elements) by name: those on one side only, then the order of those on
/// both. A name may repeat (XML siblings); the k-th of a name pairs with the other's k-th.
fn compare_members<'a>(
    l: impl Iterator<Item = (&'a str, &'static str)>,
    g: impl Iterator<Item = (&'a str, &'static str)>,
    child: &dyn Fn(&str) -> String,
    at: &str,
    order_class: Class,
    out: &mut Vec<Difference>,
) {
    let (l, g): (Vec<_>, Vec<_>) = (l.collect(), g.collect());
    let paired = |from: &[(&'a str, &'static str)], to: &[(&'a str, &'static str)]| {
        let mut used = vec![false; to.len()];
        from.iter()
            .map(|(name, _)| {
                let found = to
                    .iter()
                    .enumerate()
                    .position(|(j, (other, _))| !used[j] && other == name);
                if let Some(j) = found {
                    used[j] = true;
                }
                found.is_some()
            })
            .collect::<Vec<bool>>()
    };
    let (l_kept, g_kept) = (paired(&l, &g), paired(&g, &l));
    for ((name, what), kept) in l.iter().zip(&l_kept) {
        if !kept {
            out.push(missing(child(name), what));
        }
    }
    for ((name, what), kept) in g.iter().zip(&g_kept) {
        if !kept {
            out.push(extra(child(name), what));
        }
    }
    let order = |side: &[(&'a str, &'static str)], kept: &[bool]| -> Vec<&'a str> {
        side.iter()
            .zip(kept)
            .filter(|(_, kept)| **kept)
            .map(|((name, _), _)| *name)
            .collect()
    };
    let (l_order, g_order) = (order(&l, &l_kept), order(&g, &g_kept));
    if l_order != g_order {
        out.push(Difference {
            class: order_class,
            at: at.into(),
            legacy: l_order.join(", "),
            gateway: g_order.join(", "),
        });
    }
}

/// Lifetimes in seconds, which two servers answering a second apart may count differently.
fn is_lifetime(name: Option<&str>) -> bool {
    name.is_some_and(|name| name.to_ascii_lowercase().ends_with("expires_in"))
}

/// Seconds since 1970 between 2001 and 2286: an instant written as a number (`iat`, `exp`).
fn epoch(number: &serde_json::Number) -> Option<DateTime<Utc>> {
    let seconds = number.as_i64()?;
    (1_000_000_000..10_000_000_000)
        .contains(&seconds)
        .then(|| DateTime::from_timestamp(seconds, 0))
        .flatten()
}

fn node_instant(node: &Node) -> Option<DateTime<Utc>> {
    match node {
        Node::String(text) => instant_form(text).map(|(_, at)| at),
        Node::Number(n) => epoch(n),
        _ => None,
    }
}

fn compare_numbers(
    at: &str,
    name: Option<&str>,
    l: &serde_json::Number,
    g: &serde_json::Number,
    out: &mut Vec<Difference>,
) {
    if l == g {
        return;
    }
    let close = match (l.as_f64(), g.as_f64()) {
        (Some(a), Some(b)) if is_lifetime(name) => (a - b).abs() <= 1.0,
        _ => epoch(l).is_some() && epoch(g).is_some(),
    };
    if !close {
        out.push(Difference {
            class: Class::Value,
            at: at.into(),
            legacy: l.to_string(),
            gateway: g.to_string(),
        });
    }
}

/// Two instants at the same places are spaced alike (`.expires` after `.issued`, `exp` after
/// `iat`) within a second: each is compared with the first of its object.
fn compare_spacing(
    child: &dyn Fn(&str) -> String,
    l: &[(String, DateTime<Utc>)],
    g: &[(String, DateTime<Utc>)],
    out: &mut Vec<Difference>,
) {
    let (Some((first, l0)), Some((_, g0))) = (l.first(), g.iter().find(|(k, _)| *k == l[0].0))
    else {
        return;
    };
    for (name, lt) in &l[1..] {
        let Some((_, gt)) = g.iter().find(|(k, _)| k == name) else {
            continue;
        };
        let (ls, gs) = ((*lt - *l0).num_seconds(), (*gt - *g0).num_seconds());
        if (ls - gs).abs() > 1 {
            out.push(Difference {
                class: Class::Instant,
                at: child(name),
                legacy: format!("{ls}s after {first}"),
                gateway: format!("{gs}s after {first}"),
            });
        }
    }
}

/// How a string looks, where its value may differ between two servers answering alike.
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    /// A JWT: its header's members (values but `kid`'s) and its claims' names, in order.
    Jwt {
        header: Vec<String>,
        claims: Vec<String>,
    },
    /// A GUID in one of .NET's formats (`D`, `B`; `N` is [`Shape::Opaque`] hex).
    Guid(&'static str),
    /// An instant, by its format.
    Instant(InstantForm),
    /// Random-looking text: a Katana ticket, an opaque reference, a hex id. Its alphabet and
    /// length.
    Opaque { alphabet: &'static str, len: usize },
    /// Anything else: compared as text.
    Text,
}

impl Shape {
    fn of(text: &str) -> Self {
        if let Some(jwt) = jwt_shape(text) {
            return jwt;
        }
        if let Some(form) = guid_form(text) {
            return Shape::Guid(form);
        }
        if let Some((form, _)) = instant_form(text) {
            return Shape::Instant(form);
        }
        if let Some(alphabet) = opaque_alphabet(text) {
            return Shape::Opaque {
                alphabet,
                len: text.len(),
            };
        }
        Shape::Text
    }

    fn describe(&self) -> String {
        match self {
            Shape::Jwt { header, claims } => {
                format!("JWT {{{}}} claims {}", header.join(", "), claims.join(", "))
            }
            Shape::Guid(form) => format!("GUID ({form})"),
            Shape::Instant(form) => format!("instant ({})", form.describe()),
            Shape::Opaque { alphabet, len } => format!("{len} characters of {alphabet}"),
            Shape::Text => "text".into(),
        }
    }
}

fn compare_text(at: &str, name: Option<&str>, l: &str, g: &str, out: &mut Vec<Difference>) {
    if l == g {
        return;
    }
    // A lifetime written as a string (VizSeek's `"expires_in":"1800"`) counts as the number.
    if is_lifetime(name)
        && let (Ok(a), Ok(b)) = (l.parse::<i64>(), g.parse::<i64>())
        && (a - b).abs() <= 1
    {
        return;
    }
    let (ls, gs) = (Shape::of(l), Shape::of(g));
    let secret = name.is_some_and(is_secret_member);
    let difference = match (&ls, &gs) {
        (Shape::Text, Shape::Text) => {
            let show = |text: &str| {
                if secret {
                    format!("[redacted, {} characters]", text.chars().count())
                } else {
                    quoted(text)
                }
            };
            Some((Class::Value, show(l), show(g)))
        }
        (Shape::Instant(a), Shape::Instant(b)) => {
            (a != b).then(|| (Class::Instant, ls.describe(), gs.describe()))
        }
        (Shape::Instant(_), _) | (_, Shape::Instant(_)) => {
            Some((Class::Instant, ls.describe(), gs.describe()))
        }
        (ls, gs) => (ls != gs).then(|| (Class::TokenShape, ls.describe(), gs.describe())),
    };
    if let Some((class, legacy, gateway)) = difference {
        out.push(Difference {
            class,
            at: at.into(),
            legacy,
            gateway,
        });
    }
}

fn is_base64url(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn jwt_shape(text: &str) -> Option<Shape> {
    use base64::Engine as _;
    let mut parts = text.split('.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !is_base64url(signature) {
        return None;
    }
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .ok()
    };
    let Node::Object(header) = serde_json::from_slice(&decode(header)?).ok()? else {
        return None;
    };
    // Only the claims' names count: their values are read past, not kept.
    let MemberNames(claims) = serde_json::from_slice(&decode(payload)?).ok()?;
    Some(Shape::Jwt {
        header: header
            .iter()
            .map(|(k, v)| match v {
                // Another key signs another gateway's tokens: its id may differ.
                _ if k == "kid" => k.clone(),
                Node::String(s) => format!("{k}={s}"),
                other => format!("{k}:{}", other.type_name()),
            })
            .collect(),
        claims,
    })
}

/// A JSON object's member names, in order, its values skipped.
struct MemberNames(Vec<String>);

impl<'de> serde::Deserialize<'de> for MemberNames {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = MemberNames;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<MemberNames, A::Error> {
                let mut names = Vec::new();
                while let Some((name, serde::de::IgnoredAny)) = map.next_entry::<String, _>()? {
                    names.push(name);
                }
                Ok(MemberNames(names))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

fn guid_form(text: &str) -> Option<&'static str> {
    let (inner, form) = match text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        Some(inner) => (inner, "B"),
        None => (text, "D"),
    };
    let bytes = inner.as_bytes();
    let dashed = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if !dashed {
        return None;
    }
    let upper = inner.bytes().any(|b| b.is_ascii_uppercase());
    Some(match (form, upper) {
        ("B", false) => "B",
        ("B", true) => "B, upper case",
        (_, false) => "D",
        (_, true) => "D, upper case",
    })
}

/// Random-looking: at least 16 characters of one token alphabet, with digits and letters (so
/// that words and error codes are text).
fn opaque_alphabet(text: &str) -> Option<&'static str> {
    if text.len() < 16 {
        return None;
    }
    let has = |f: fn(&u8) -> bool| text.as_bytes().iter().any(f);
    let digits = has(u8::is_ascii_digit);
    if text.bytes().all(|b| b.is_ascii_hexdigit()) && digits {
        let upper = has(u8::is_ascii_uppercase);
        return Some(if upper { "hex, upper case" } else { "hex" });
    }
    let mixed = digits && has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase);
    if mixed && is_base64url(text) {
        return Some("base64url");
    }
    let base64 = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=');
    (mixed && base64).then_some("base64")
}

/// How an instant is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InstantForm {
    /// RFC 1123, as `.issued` and HTTP dates are written.
    Rfc1123,
    /// RFC 3339 / ISO 8601 with a zone (`Z` or an offset) and so many fraction digits.
    Iso {
        zone: bool,
        utc_z: bool,
        fraction: usize,
    },
}

impl InstantForm {
    fn describe(self) -> String {
        match self {
            InstantForm::Rfc1123 => "RFC 1123".into(),
            InstantForm::Iso {
                zone,
                utc_z,
                fraction,
            } => {
                let zone = match (zone, utc_z) {
                    (false, _) => "no zone",
                    (true, true) => "Z",
                    (true, false) => "offset",
                };
                format!("ISO 8601, {fraction} fraction digits, {zone}")
            }
        }
    }
}

fn instant_form(text: &str) -> Option<(InstantForm, DateTime<Utc>)> {
    if text.ends_with(" GMT")
        && let Ok(at) = DateTime::parse_from_rfc2822(text)
    {
        return Some((InstantForm::Rfc1123, at.with_timezone(&Utc)));
    }
    if text.len() < 19 || text.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let fraction = text.split_once('.').map_or(0, |(_, rest)| {
        rest.bytes().take_while(u8::is_ascii_digit).count()
    });
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        let form = InstantForm::Iso {
            zone: true,
            utc_z: text.ends_with('Z'),
            fraction,
        };
        return Some((form, at.with_timezone(&Utc)));
    }
    let at = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    let form = InstantForm::Iso {
        zone: false,
        utc_z: false,
        fraction,
    };
    Some((form, at.and_utc()))
}

/// An XML element as the comparison reads it: its namespace and local name, attributes (the
/// namespace declarations left out: what they declare is compared through the names), the
/// child elements, and its text.
#[derive(Debug, Default)]
struct Element {
    namespace: Option<String>,
    local: String,
    attributes: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

/// The deepest XML the comparison follows: token answers are two or three levels deep.
const MAX_XML_DEPTH: usize = 32;

impl Element {
    fn parse(text: &str) -> Option<Self> {
        use quick_xml::events::Event;
        use quick_xml::name::ResolveResult;
        let mut reader = quick_xml::NsReader::from_str(text);
        let mut stack: Vec<Element> = Vec::new();
        let open = |reader: &quick_xml::NsReader<&[u8]>,
                    start: &quick_xml::events::BytesStart<'_>|
         -> Option<Element> {
            let (namespace, local) = reader.resolver().resolve_element(start.name());
            let namespace = match namespace {
                ResolveResult::Bound(ns) => Some(ns.0.to_owned()),
                ResolveResult::Unbound => None,
                ResolveResult::Unknown(_) => return None,
            };
            let mut attributes = Vec::new();
            for attribute in start.attributes() {
                let attribute = attribute.ok()?;
                let key = attribute.key.as_ref();
                if key == "xmlns" || key.starts_with("xmlns:") {
                    continue;
                }
                let (_, local) = reader.resolver().resolve_attribute(attribute.key);
                let value = attribute
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .ok()?;
                attributes.push((local.as_ref().to_owned(), value.into_owned()));
            }
            Some(Element {
                namespace,
                local: local.as_ref().to_owned(),
                attributes,
                ..Element::default()
            })
        };
        loop {
            match reader.read_event().ok()? {
                Event::Start(start) => {
                    if stack.len() >= MAX_XML_DEPTH {
                        return None;
                    }
                    let element = open(&reader, &start)?;
                    stack.push(element);
                }
                Event::Empty(start) => {
                    let element = open(&reader, &start)?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(element),
                        None => return Some(element),
                    }
                }
                Event::End(_) => {
                    let element = stack.pop()?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(element),
                        None => return Some(element),
                    }
                }
                Event::Text(text) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&text.xml10_content());
                    }
                }
                Event::CData(data) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&data.xml10_content());
                    }
                }
                Event::GeneralRef(reference) => {
                    let top = stack.last_mut()?;
                    let ch = match reference.resolve_char_ref().ok()? {
                        Some(ch) => ch,
                        None => match &*reference {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            _ => return None,
                        },
                    };
                    top.text.push(ch);
                }
                Event::Eof => return None,
                _ => {}
            }
        }
    }

    fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("none")
    }
}

fn compare_xml_root(l: &Element, g: &Element, out: &mut Vec<Difference>) {
    if l.local != g.local {
        out.push(Difference {
            class: Class::XmlRoot,
            at: "/".into(),
            legacy: l.local.clone(),
            gateway: g.local.clone(),
        });
        return;
    }
    compare_element(&format!("/{}", l.local), l, g, None, out);
}

/// `parent`: the namespaces of the parent pair when they differed and were reported, so that
/// children inheriting the same default namespace are not reported again.
fn compare_element(
    at: &str,
    l: &Element,
    g: &Element,
    parent: Option<(&str, &str)>,
    out: &mut Vec<Difference>,
) {
    let pair = (l.namespace(), g.namespace());
    let reported = if pair.0 != pair.1 {
        if parent != Some(pair) {
            out.push(Difference {
                class: Class::XmlNamespace,
                at: at.into(),
                legacy: pair.0.into(),
                gateway: pair.1.into(),
            });
        }
        Some(pair)
    } else {
        None
    };
    let attribute = |key: &str| format!("{at}/@{key}");
    compare_members(
        l.attributes.iter().map(|(k, _)| (k.as_str(), "attribute")),
        g.attributes.iter().map(|(k, _)| (k.as_str(), "attribute")),
        &attribute,
        at,
        Class::XmlOrder,
        out,
    );
    for (key, lv) in &l.attributes {
        if let Some((_, gv)) = g.attributes.iter().find(|(k, _)| k == key) {
            compare_text(&attribute(key), Some(key), lv, gv, out);
        }
    }
    if l.children.is_empty() && g.children.is_empty() {
        compare_leaf(at, &l.local, &l.text, &g.text, out);
        return;
    }
    let child = |name: &str| format!("{at}/{name}");
    compare_members(
        l.children.iter().map(|c| (c.local.as_str(), "element")),
        g.children.iter().map(|c| (c.local.as_str(), "element")),
        &child,
        at,
        Class::XmlOrder,
        out,
    );
    let mut used = vec![false; g.children.len()];
    for lc in &l.children {
        let Some(j) = (0..g.children.len()).find(|&j| !used[j] && g.children[j].local == lc.local)
        else {
            continue;
        };
        used[j] = true;
        compare_element(&child(&lc.local), lc, &g.children[j], reported, out);
    }
    let instants = |e: &Element| -> Vec<(String, DateTime<Utc>)> {
        e.children
            .iter()
            .filter(|c| c.children.is_empty())
            .filter_map(|c| Some((c.local.clone(), instant_form(&c.text)?.1)))
            .collect()
    };
    compare_spacing(&child, &instants(l), &instants(g), out);
}

/// An element's text: a number where both are numbers (XML writes them as text), else text.
fn compare_leaf(at: &str, name: &str, l: &str, g: &str, out: &mut Vec<Difference>) {
    match (
        l.trim().parse::<serde_json::Number>(),
        g.trim().parse::<serde_json::Number>(),
    ) {
        (Ok(a), Ok(b)) => compare_numbers(at, Some(name), &a, &b, out),
        _ => compare_text(at, Some(name), l, g, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> WireResponse {
        WireResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn classes(differences: &[Difference]) -> Vec<(Class, &str)> {
        differences
            .iter()
            .map(|d| (d.class, d.at.as_str()))
            .collect()
    }

    const JSON: (&str, &str) = ("Content-Type", "application/json;charset=UTF-8");

    #[test]
    fn equivalent_answers_differ_in_nothing() {
        let legacy = answer(
            200,
            &[JSON, ("Cache-Control", "no-cache"), ("Expires", "-1")],
            r#"{"access_token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhIiwiaWF0IjoxNjAwMDAwMDAwfQ.c2ln","token_type":"bearer","expires_in":1209599,"refresh_token":"8a2219dc-365e-45f7-b54c-2051a527c849","userName":"u@x",".issued":"Sun, 13 Sep 2020 09:35:33 GMT",".expires":"Sun, 27 Sep 2020 09:35:33 GMT"}"#,
        );
        let gateway = answer(
            200,
            &[JSON, ("Cache-Control", "no-cache"), ("Expires", "-1")],
            r#"{"access_token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJiIiwiaWF0IjoxNjAwMDAwMDAxfQ.b3RoZXI","token_type":"bearer","expires_in":1209600,"refresh_token":"0c6d9b57-4e0f-4f4b-9d1a-6e3c5a7b9d21","userName":"u@x",".issued":"Sun, 13 Sep 2020 09:35:34 GMT",".expires":"Sun, 27 Sep 2020 09:35:34 GMT"}"#,
        );
        assert_eq!(compare(&legacy, &gateway, &[]), []);
    }

    #[test]
    fn each_kind_of_difference_is_named_where_it_is() {
        let legacy = answer(
            400,
            &[JSON],
            r#"{"error":"invalid_grant","error_description":"The user name or password is incorrect.","expires_in":"3600","n":null}"#,
        );
        let gateway = answer(
            401,
            &[("Content-Type", "application/json"), ("Retry-After", "5")],
            r#"{"error_description":"Bad password.","error":"invalid_grant","expires_in":3600,"n":"x","more":1}"#,
        );
        let found = compare(&legacy, &gateway, &[]);
        assert_eq!(
            classes(&found),
            [
                (Class::Status, "status"),
                (Class::Header, "content-type"),
                (Class::Header, "retry-after"),
                (Class::MemberExtra, "$.more"),
                (Class::MemberOrder, "$"),
                (Class::Value, "$.error_description"),
                (Class::MemberType, "$.expires_in"),
                (Class::MemberType, "$.n"),
            ]
        );
        assert_eq!(
            found[5].legacy,
            "\"The user name or password is incorrect.\""
        );
        assert_eq!(found[2].legacy, "absent");
    }

    #[test]
    fn tokens_ids_and_instants_are_compared_by_shape() {
        let legacy = answer(
            200,
            &[],
            r#"{"access_token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhIn0.c2ln","refresh_token":"8a2219dc-365e-45f7-b54c-2051a527c849","issued":"2020-09-13T09:35:33Z","expires":"2020-09-13T10:35:33Z","expires_in":3600}"#,
        );
        let gateway = answer(
            200,
            &[],
            r#"{"access_token":"tA3W3w4tGvWUDRd30KusP9AZWUcrBl10U_BbHxAB8a8","refresh_token":"8A2219DC-365E-45F7-B54C-2051A527C849","issued":"2020-09-13T09:35:33.123Z","expires":"2020-09-13T11:35:33Z","expires_in":3598}"#,
        );
        let found = compare(&legacy, &gateway, &[]);
        assert_eq!(
            classes(&found),
            [
                (Class::TokenShape, "$.access_token"),
                (Class::TokenShape, "$.refresh_token"),
                (Class::Instant, "$.issued"),
                (Class::Value, "$.expires_in"),
                (Class::Instant, "$.expires"),
            ]
        );
        // No token is ever written out, only its shape.
        for d in &found {
            assert!(!d.gateway.contains("tA3W3w"), "{d:?}");
            assert!(!d.legacy.contains("8a2219dc"), "{d:?}");
        }
        assert_eq!(found[0].gateway, "43 characters of base64url");
        // A lifetime as a string, a second apart, is the same answer; two seconds is not.
        let lifetime = |l: &str, g: &str| {
            compare(
                &answer(200, &[], &format!(r#"{{"expires_in":"{l}"}}"#)),
                &answer(200, &[], &format!(r#"{{"expires_in":"{g}"}}"#)),
                &[],
            )
        };
        assert_eq!(lifetime("1800", "1799"), []);
        assert_eq!(
            classes(&lifetime("1800", "1798")),
            [(Class::Value, "$.expires_in")]
        );
        // Katana's `.issued`/`.expires`: spaced otherwise, named as JSON paths name them.
        let spacing = compare(
            &answer(
                200,
                &[],
                r#"{".issued":"Sun, 13 Sep 2020 09:35:33 GMT",".expires":"Sun, 27 Sep 2020 09:35:33 GMT"}"#,
            ),
            &answer(
                200,
                &[],
                r#"{".issued":"Sun, 13 Sep 2020 09:35:33 GMT",".expires":"Sun, 13 Sep 2020 10:35:33 GMT"}"#,
            ),
            &[],
        );
        assert_eq!(classes(&spacing), [(Class::Instant, r#"$[".expires"]"#)]);
    }

    #[test]
    fn secrets_are_never_written_out_even_as_text() {
        let legacy = answer(200, &[], r#"{"password":"hunter2","code":"abc"}"#);
        let gateway = answer(200, &[], r#"{"password":"letmein","code":"abd"}"#);
        let found = compare(&legacy, &gateway, &[]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].legacy, "[redacted, 7 characters]");
        assert!(found.iter().all(|d| !d.gateway.contains("abd")));
        let form = compare(
            &answer(200, &[], "a=secret-one"),
            &answer(200, &[], "a=secret-two"),
            &[],
        );
        assert_eq!(classes(&form), [(Class::Body, "byte 9")]);
        assert!(!form[0].legacy.contains("secret"));
    }

    #[test]
    fn xml_roots_namespaces_and_element_order() {
        let legacy = answer(
            200,
            &[],
            r#"<AccessTokenResponse xmlns="http://schemas.datacontract.org/2004/07/Api" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><access_token>abc</access_token><expires_in>3600</expires_in><scope i:nil="true"/></AccessTokenResponse>"#,
        );
        let same = answer(
            200,
            &[],
            r#"<a:AccessTokenResponse xmlns:a="http://schemas.datacontract.org/2004/07/Api" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><a:access_token>abc</a:access_token><a:expires_in>3599</a:expires_in><a:scope i:nil="true"/></a:AccessTokenResponse>"#,
        );
        assert_eq!(compare(&legacy, &same, &[]), []);
        let moved = answer(
            200,
            &[],
            r#"<AccessTokenResponse xmlns="urn:other"><expires_in>3600</expires_in><access_token>abc</access_token></AccessTokenResponse>"#,
        );
        assert_eq!(
            classes(&compare(&legacy, &moved, &[])),
            [
                (Class::XmlNamespace, "/AccessTokenResponse"),
                (Class::MemberMissing, "/AccessTokenResponse/scope"),
                (Class::XmlOrder, "/AccessTokenResponse"),
            ]
        );
        let renamed = answer(200, &[], "<TokenResponse/>");
        assert_eq!(
            classes(&compare(&legacy, &renamed, &[])),
            [(Class::XmlRoot, "/")]
        );
        assert_eq!(
            classes(&compare(&legacy, &answer(200, &[], "{}"), &[])),
            [(Class::BodyFormat, "body")]
        );
    }

    #[test]
    fn class_names_read_back() {
        use strum::VariantArray;
        for class in Class::VARIANTS {
            assert_eq!(class.as_str().parse::<Class>().unwrap(), *class);
        }
    }
}
