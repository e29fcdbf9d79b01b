//! Where each response member's value comes from (`value = "user.id"` in a profile) and how it
//! is typed on the wire. Sources are parsed once, when a route is built.

#![deny(missing_docs)]

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::engine::{AttrValue, Grant};

/// A value source, parsed from a profile's `value = "..."`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `access_token`: the access token.
    AccessToken,
    /// `token_type`: `bearer`.
    TokenType,
    /// `expires_in`: seconds until the access token expires, counted as `expires_in` says.
    ExpiresIn,
    /// `refresh_token`: the refresh token; absent when none was issued.
    RefreshToken,
    /// `refresh_expires_in`: seconds until the refresh token expires; 0 when none.
    RefreshExpiresIn,
    /// `scope`: the granted scope; absent when none.
    Scope,
    /// `session.id`: the session (refresh family) the grant belongs to.
    SessionId,
    /// The subject's not-before marker; 0 when none is set.
    NotBefore,
    /// `issued`: the issue instant, whole seconds.
    Issued,
    /// `expires`: the access token's expiry instant.
    Expires,
    /// `refresh_expires`: the refresh token's expiry instant; absent when none was issued.
    RefreshExpires,
    /// `jti`: the access token's own id (the JWT `jti`).
    Jti,
    /// `client.id`: the client the token was issued to.
    ClientId,
    /// `user.id`: the user's id; absent on app tokens.
    UserId,
    /// `user.name`: the user's login name; absent on app tokens.
    UserName,
    /// `user.role`: the user's role; absent when none.
    Role,
    /// The caller's address as the gateway sees it (after trusted-proxy resolution).
    PeerIp,
    /// `client.NAME`: a client attribute from the configuration.
    ClientAttr(String),
    /// `user.NAME`: a user attribute from the configuration.
    UserAttr(String),
    /// `request.NAME`: a parameter as the client sent it (`request.username`,
    /// `request.client_id`, `request.scope`, `request.grant_type`); never a secret.
    Request(Echoed),
    /// `const:TEXT`: a fixed text; `type` makes it a number or a boolean.
    Const(String),
    /// `null`: always absent (a member that is always `null`, per its `absent` rule).
    Null,
    /// `error`: the error row's `error`; absent in a success body.
    Error,
    /// `error_description`: the error row's `description`, placeholders filled; absent in a
    /// success body.
    ErrorDescription,
}

/// The request parameters a body may echo. Secrets (password, client secret, refresh token)
/// are not among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echoed {
    /// `request.grant_type`.
    GrantType,
    /// `request.client_id`: the client id as presented (body, Basic or header).
    ClientId,
    /// `request.username`: the user name exactly as sent.
    Username,
    /// `request.scope`: the scope as asked for.
    Scope,
}

const ECHOED: &[(&str, Echoed)] = &[
    ("request.grant_type", Echoed::GrantType),
    ("request.client_id", Echoed::ClientId),
    ("request.username", Echoed::Username),
    ("request.scope", Echoed::Scope),
];

/// The request's parameters as sent, for the `request.*` sources; filled only on routes that
/// use them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Echo {
    /// `grant_type` as sent.
    pub grant_type: Option<String>,
    /// The client id as presented.
    pub client_id: Option<String>,
    /// The user name as sent.
    pub username: Option<String>,
    /// The scope as sent.
    pub scope: Option<String>,
}

impl Echo {
    fn get(&self, echoed: Echoed) -> Option<&str> {
        match echoed {
            Echoed::GrantType => self.grant_type.as_deref(),
            Echoed::ClientId => self.client_id.as_deref(),
            Echoed::Username => self.username.as_deref(),
            Echoed::Scope => self.scope.as_deref(),
        }
    }
}

const GRANT_SOURCES: &[(&str, Source)] = &[
    ("access_token", Source::AccessToken),
    ("token_type", Source::TokenType),
    ("expires_in", Source::ExpiresIn),
    ("refresh_token", Source::RefreshToken),
    ("refresh_expires_in", Source::RefreshExpiresIn),
    ("scope", Source::Scope),
    ("session.id", Source::SessionId),
    ("not_before", Source::NotBefore),
    ("issued", Source::Issued),
    ("expires", Source::Expires),
    ("refresh_expires", Source::RefreshExpires),
    ("jti", Source::Jti),
    ("client.id", Source::ClientId),
    ("user.id", Source::UserId),
    ("user.name", Source::UserName),
    ("user.role", Source::Role),
    ("peer.ip", Source::PeerIp),
];

impl Source {
    /// Parses a source name. Every source may stand in a success body and in an error body;
    /// those of the other kind are absent there (a token DTO that also carries `error`, an
    /// error row written in the token's shape).
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(fixed) = text.strip_prefix("const:") {
            return Ok(Source::Const(fixed.to_owned()));
        }
        match text {
            "null" => return Ok(Source::Null),
            "error" => return Ok(Source::Error),
            "error_description" => return Ok(Source::ErrorDescription),
            _ => {}
        }
        if let Some((_, source)) = GRANT_SOURCES.iter().find(|(name, _)| *name == text) {
            return Ok(source.clone());
        }
        if let Some((_, echoed)) = ECHOED.iter().find(|(name, _)| *name == text) {
            return Ok(Source::Request(*echoed));
        }
        if text.starts_with("request.") {
            let known: Vec<_> = ECHOED.iter().map(|(name, _)| *name).collect();
            return Err(format!(
                "{text:?} cannot be echoed; a body may echo {} (never a secret)",
                known.join(", ")
            ));
        }
        if let Some(attr) = text.strip_prefix("client.").filter(|a| !a.is_empty()) {
            return Ok(Source::ClientAttr(attr.to_owned()));
        }
        if let Some(attr) = text.strip_prefix("user.").filter(|a| !a.is_empty()) {
            return Ok(Source::UserAttr(attr.to_owned()));
        }
        let known: Vec<_> = GRANT_SOURCES.iter().map(|(name, _)| *name).collect();
        Err(format!(
            "unknown value {text:?}; known: {}, client.ATTRIBUTE, user.ATTRIBUTE, request.NAME, \
             error, error_description, null, const:TEXT",
            known.join(", ")
        ))
    }

    /// Whether the value comes from the grant (so an error body has none).
    pub fn is_grant_value(&self) -> bool {
        !matches!(
            self,
            Source::Const(_)
                | Source::Null
                | Source::Error
                | Source::ErrorDescription
                | Source::Request(_)
        )
    }
}

/// How `expires_in` is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiresIn {
    /// Katana: `trunc(expires - now)` where `expires` has whole seconds and `now` only lost its
    /// whole milliseconds, so it is the lifetime minus one unless the clock's sub-millisecond
    /// part is zero.
    Katana,
    /// The configured lifetime in whole seconds.
    Lifetime,
}

/// The wire type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// The source's natural type.
    #[default]
    Auto,
    /// A JSON string (numbers and booleans written as their text).
    String,
    /// A JSON number (a numeric string parsed; an instant as epoch seconds).
    Number,
    /// A JSON boolean (`true`, `True`, `1` and their opposites).
    Bool,
    /// `Sun, 13 Sep 2020 09:35:33 GMT` (.NET's `"r"`).
    Rfc1123,
    /// `2020-09-13T09:35:33.1234567+00:00`: a `DateTimeOffset` as .NET's serializers write it
    /// (up to seven fractional digits, trailing zeros left out: `2020-09-13T09:35:33+00:00`).
    Iso8601,
    /// `2020-09-13T09:35:33.1234567Z`: a UTC `DateTime` as .NET's serializers write it.
    Iso8601Utc,
    /// Written as an empty string whatever the value (XmlSerializer writes a `DateTimeOffset`
    /// member as `<Issued />`: it has no settable properties to serialize).
    Empty,
    /// Seconds since the Unix epoch.
    EpochSeconds,
}

/// What happens to a member whose value is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Absent {
    /// Written as `null`.
    #[default]
    Null,
    /// Left out.
    Omit,
    /// Left out when absent or an empty string (Katana's `error_description`).
    OmitEmpty,
    /// Written as `null` when absent or an empty string (an error text a row leaves empty, on
    /// a DTO whose other failures carry one).
    NullEmpty,
    /// Written as the zero of the member's type when absent: `0` for `number`, `false` for
    /// `bool`, `""` for `string` (a .NET `int` or `bool` member cannot be null), `null`
    /// otherwise.
    Zero,
}

/// A value before it is given its wire type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// No value.
    Absent,
    /// Text.
    Str(Cow<'a, str>),
    /// A whole number.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A number with a fraction (attributes only).
    Float(f64),
    /// An instant, written as the member's type says.
    Date(DateTime<Utc>),
}

/// A value in its wire type.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// A string.
    Str(Cow<'a, str>),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A float.
    Float(f64),
}

/// Seconds from `now` until `until`, as the profile says to count them.
pub fn seconds_until(until: DateTime<Utc>, now: DateTime<Utc>, mode: ExpiresIn, ttl: i64) -> i64 {
    match mode {
        ExpiresIn::Lifetime => ttl,
        ExpiresIn::Katana => {
            // Katana drops whole milliseconds from its clock and keeps the 100 ns ticks below.
            let ticks = i64::from(now.timestamp_subsec_nanos() % 1_000_000) / 100;
            let katana_now_ticks = now.timestamp() * 10_000_000 + ticks;
            // `(long)TimeSpan.TotalSeconds`: truncation toward zero.
            (until.timestamp() * 10_000_000 - katana_now_ticks) / 10_000_000
        }
    }
}

/// What a body's values are read from: the grant (a success body) or the error row (an error
/// body), and the request as sent.
pub struct Values<'a> {
    /// The grant being written; `None` in an error body.
    pub grant: Option<&'a Grant>,
    /// The error row's `error` and description (`{detail}` filled); `None` in a success body.
    pub error: Option<(&'a str, &'a str)>,
    /// The request's parameters as sent.
    pub echo: &'a Echo,
    /// How `expires_in` values count.
    pub expires_in: ExpiresIn,
}

impl<'a> Values<'a> {
    /// The value of `source`.
    pub fn get(&self, source: &'a Source) -> Value<'a> {
        let str = |s: &'a str| Value::Str(Cow::Borrowed(s));
        match source {
            Source::Const(text) => return str(text),
            Source::Null => return Value::Absent,
            Source::Request(echoed) => return self.echo.get(*echoed).map_or(Value::Absent, str),
            Source::Error => return self.error.map_or(Value::Absent, |(error, _)| str(error)),
            Source::ErrorDescription => {
                return self.error.map_or(Value::Absent, |(_, text)| str(text));
            }
            _ => {}
        }
        let Some(grant) = self.grant else {
            return Value::Absent;
        };
        let user = grant.user.as_deref();
        match source {
            Source::AccessToken => str(grant.access_token.expose()),
            Source::TokenType => str(grant.token_type),
            Source::ExpiresIn => Value::Int(seconds_until(
                grant.expires_at,
                grant.requested_at,
                self.expires_in,
                (grant.expires_at - grant.issued_at).num_seconds(),
            )),
            Source::RefreshToken => match &grant.refresh {
                Some(refresh) => str(refresh.token.expose()),
                None => Value::Absent,
            },
            Source::RefreshExpiresIn => match &grant.refresh {
                Some(refresh) => Value::Int(seconds_until(
                    refresh.expires_at,
                    grant.requested_at,
                    self.expires_in,
                    (refresh.expires_at - grant.issued_at).num_seconds(),
                )),
                None => Value::Int(0),
            },
            Source::RefreshExpires => grant
                .refresh
                .as_ref()
                .map_or(Value::Absent, |refresh| Value::Date(refresh.expires_at)),
            Source::Jti => str(&grant.jti),
            Source::Scope => match &grant.scope {
                Some(scope) => str(scope.as_str()),
                None => Value::Absent,
            },
            Source::SessionId => Value::Str(Cow::Owned(grant.session.to_string())),
            Source::NotBefore => Value::Int(grant.not_before.map_or(0, |at| at.timestamp())),
            Source::Issued => Value::Date(grant.issued_at),
            Source::Expires => Value::Date(grant.expires_at),
            Source::ClientId => str(grant.client.id.as_str()),
            Source::UserId => user.map_or(Value::Absent, |u| str(u.id.as_str())),
            Source::UserName => user.map_or(Value::Absent, |u| str(u.username.as_str())),
            Source::Role => user
                .and_then(|u| u.role.as_ref())
                .map_or(Value::Absent, |r| str(r.as_str())),
            Source::PeerIp => Value::Str(Cow::Owned(IpText::new(grant.peer).as_str().to_owned())),
            Source::ClientAttr(name) => attr(grant.client.attributes.get(name)),
            Source::UserAttr(name) => attr(user.and_then(|u| u.attributes.get(name))),
            Source::Const(_)
            | Source::Null
            | Source::Request(_)
            | Source::Error
            | Source::ErrorDescription => Value::Absent,
        }
    }
}

fn attr(value: Option<&AttrValue>) -> Value<'_> {
    match value {
        None => Value::Absent,
        Some(AttrValue::Str(s)) => Value::Str(Cow::Borrowed(s)),
        Some(AttrValue::Bool(b)) => Value::Bool(*b),
        Some(AttrValue::Int(i)) => Value::Int(*i),
        Some(AttrValue::Float(f)) => Value::Float(*f),
    }
}

/// An error row's description with its placeholders filled: `{detail}` (what exactly was
/// wrong; `detail` is called only when it is there) and `{request.NAME}` (a parameter as sent,
/// empty when it was not). A text without `{` is borrowed as it is.
pub fn describe<'a>(
    template: &'a str,
    detail: impl FnOnce() -> String,
    echo: &Echo,
) -> Cow<'a, str> {
    if !template.contains('{') {
        return Cow::Borrowed(template);
    }
    let mut text = template.to_owned();
    if text.contains("{detail}") {
        text = text.replace("{detail}", &detail());
    }
    for (name, echoed) in ECHOED {
        let placeholder = format!("{{{name}}}");
        if text.contains(&placeholder) {
            text = text.replace(&placeholder, echo.get(*echoed).unwrap_or(""));
        }
    }
    Cow::Owned(text)
}

/// The placeholders of a description that are neither `{detail}` nor an echoed parameter.
pub fn unknown_placeholders(template: &str) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 1..start + end];
        if name != "detail" && !ECHOED.iter().any(|(known, _)| *known == name) {
            unknown.push(name.to_owned());
        }
        rest = &rest[start + end + 1..];
    }
    unknown
}

/// Whether a description echoes the request (`{request.NAME}`).
pub fn echoes(template: &str) -> bool {
    ECHOED
        .iter()
        .any(|(name, _)| template.contains(&format!("{{{name}}}")))
}

/// RFC 1123 with English names and `GMT`, as .NET's `"r"` format writes it.
pub fn rfc1123(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The round-trip form .NET's serializers write (Json.NET's default `IsoDateFormat`,
/// XmlSerializer's and DataContractSerializer's `XmlConvert` round trip:
/// `yyyy-MM-ddTHH:mm:ss.FFFFFFF` then `zone`): up to seven fractional digits (100 ns ticks),
/// trailing zeros and a bare point left out, so a whole second has no fraction.
pub fn round_trip(at: DateTime<Utc>, zone: &str) -> String {
    let ticks = at.timestamp_subsec_nanos() / 100;
    let fraction = format!("{ticks:07}");
    let fraction = fraction.trim_end_matches('0');
    let point = if fraction.is_empty() { "" } else { "." };
    format!("{}{point}{fraction}{zone}", at.format("%Y-%m-%dT%H:%M:%S"))
}

/// Gives a value its wire type; `None` when it is absent.
pub fn typed(value: Value<'_>, kind: ValueType) -> Option<Scalar<'_>> {
    let scalar = match (value, kind) {
        (Value::Absent, _) => return None,
        (_, ValueType::Empty) => Scalar::Str(Cow::Borrowed("")),
        (Value::Date(at), ValueType::EpochSeconds | ValueType::Number) => {
            Scalar::Int(at.timestamp())
        }
        (Value::Date(at), ValueType::Iso8601) => Scalar::Str(Cow::Owned(round_trip(at, "+00:00"))),
        (Value::Date(at), ValueType::Iso8601Utc) => Scalar::Str(Cow::Owned(round_trip(at, "Z"))),
        (Value::Date(at), _) => Scalar::Str(Cow::Owned(rfc1123(at))),
        (Value::Str(s), ValueType::Number) => match s.parse::<i64>() {
            Ok(n) => Scalar::Int(n),
            Err(_) => Scalar::Str(s),
        },
        (Value::Str(s), ValueType::Bool) => match &*s {
            "true" | "True" | "1" => Scalar::Bool(true),
            "false" | "False" | "0" => Scalar::Bool(false),
            _ => Scalar::Str(s),
        },
        (Value::Str(s), _) => Scalar::Str(s),
        (Value::Int(n), ValueType::String) => Scalar::Str(Cow::Owned(n.to_string())),
        (Value::Int(n), ValueType::Bool) => Scalar::Bool(n != 0),
        (Value::Int(n), _) => Scalar::Int(n),
        (Value::Bool(b), ValueType::String) => {
            Scalar::Str(Cow::Borrowed(if b { "true" } else { "false" }))
        }
        (Value::Bool(b), ValueType::Number) => Scalar::Int(i64::from(b)),
        (Value::Bool(b), _) => Scalar::Bool(b),
        (Value::Float(f), ValueType::String) => Scalar::Str(Cow::Owned(f.to_string())),
        (Value::Float(f), _) => Scalar::Float(f),
    };
    Some(scalar)
}

/// An IP address as text, IPv4 written digit by digit rather than through `core::fmt` (four
/// integer formats and a pad): the request log and the `peer.ip` source write one per request.
#[derive(Clone, Copy)]
pub struct IpText {
    text: [u8; 46],
    len: u8,
}

impl IpText {
    /// The text of `ip`.
    pub fn new(ip: std::net::IpAddr) -> Self {
        let mut text = [0u8; 46];
        let mut len = 0;
        match ip {
            std::net::IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        text[len] = b'.';
                        len += 1;
                    }
                    if octet >= 100 {
                        text[len] = b'0' + octet / 100;
                        len += 1;
                    }
                    if octet >= 10 {
                        text[len] = b'0' + octet / 10 % 10;
                        len += 1;
                    }
                    text[len] = b'0' + octet % 10;
                    len += 1;
                }
            }
            std::net::IpAddr::V6(v6) => {
                use std::io::Write as _;
                let mut cursor = std::io::Cursor::new(&mut text[..]);
                // The longest IPv6 text is 45 bytes, which fits.
                let _ = write!(cursor, "{v6}");
                len = cursor.position() as usize;
            }
        }
        Self {
            text,
            len: len as u8,
        }
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits, dots, colons and hex letters are ever written.
        std::str::from_utf8(&self.text[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::fmt::Display for IpText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod ip_text_tests {
    use super::IpText;

    #[test]
    fn ip_text_is_what_display_writes() {
        let addresses = [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "1.0.100.9",
            "::1",
            "::",
            "2001:db8::8a2e:370:7334",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::ffff:255.255.255.255",
            "0:0:0:0:0:ffff:c000:280",
        ];
        for address in addresses {
            let ip: std::net::IpAddr = address.parse().unwrap();
            assert_eq!(IpText::new(ip).as_str(), ip.to_string(), "{address}");
        }
    }
}
