//! The profile language: a dialect's wire contract written as data (`dialects/<name>.toml`),
//! overridable key by key from a route. This module is the typed mirror of that TOML; the
//! mechanisms it names (codecs, credential sources, value sources) live beside it.

#![deny(missing_docs)]

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::GrantType;
use crate::engine::{AccessFormat, RefreshFormat};

pub use super::value::{Absent, ExpiresIn, ValueType};
pub use super::xml::Flavour as XmlFlavour;

/// The retry grace a route has unless it says otherwise: long enough for a client's retry
/// after a timeout or a lost answer, short enough that a stolen token's replay soon revokes.
/// See docs/tokens.md, "Retry grace window".
pub const DEFAULT_REUSE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

fn default_reuse_grace() -> Option<std::time::Duration> {
    Some(DEFAULT_REUSE_GRACE)
}

/// One dialect profile, after a route's overrides were merged into it.
#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    /// One line for `--help` and logs.
    pub description: String,
    /// The route's path, starting with `/` (`/api/Token`).
    pub path: String,
    /// Katana matched its token path case-insensitively; Web API routes likewise.
    pub path_case_sensitive: bool,
    /// Methods that reach the token logic; empty means any (Katana does not check).
    pub methods: Vec<String>,
    /// Grants the route serves (`client_credentials`, `password`, `refresh_token`); any other
    /// is `unsupported_grant_type`.
    pub grants: Vec<GrantType>,
    /// Grants recognised but refused with the `unauthorized_client` outcome.
    #[serde(default)]
    pub refused_grants: Vec<GrantType>,
    /// The grant of a request that sends no grant type at all (a legacy login endpoint that
    /// only ever did one thing); absent: such a request is `unsupported_grant_type`.
    #[serde(default)]
    pub default_grant: Option<GrantType>,
    #[serde(with = "humantime_serde_compat")]
    /// How long an access token lives (`"30m"`, `"14days"`).
    pub access_token_ttl: std::time::Duration,
    /// Absent: the route issues no refresh tokens.
    #[serde(default, with = "humantime_serde_compat::option")]
    pub refresh_token_ttl: Option<std::time::Duration>,
    /// Whether an app token (`client_credentials`) also gets a refresh token.
    pub refresh_for_client_credentials: bool,
    /// How refresh tokens look: `guid` (dashed v4 GUID), `hex32` (`Guid.ToString("N")`), or
    /// `random256` (the default: 256 random bits, base64url) where the legacy format is unknown.
    #[serde(default)]
    pub refresh_format: RefreshFormat,
    /// The routes this route's refresh tokens may be redeemed on: routes with the same group
    /// share their refresh tokens, a token is unknown on every other route. Absent: the
    /// route's own path, so a token is redeemed only where it was issued.
    #[serde(default)]
    pub refresh_group: Option<String>,
    /// How long after a refresh token's redemption the same client may redeem it again and
    /// get the first answer's refresh token (a retry after a lost answer) instead of a revoked
    /// session. Absent: [`DEFAULT_REUSE_GRACE`]; `"0s"` (or `"none"`): off, any second
    /// redemption is a replay.
    #[serde(
        default = "default_reuse_grace",
        with = "humantime_serde_compat::option"
    )]
    pub refresh_reuse_grace: Option<std::time::Duration>,
    /// Redeem the refresh tickets the legacy Katana server issued (its `RefreshTokenProvider`
    /// serialized the ticket) with `[katana]`'s machineKey, beside the gateway's own tokens.
    #[serde(default)]
    pub legacy_refresh_tickets: bool,
    /// `enforce` (the default): a requested scope must be among the client's `scopes`, a
    /// request without one gets its `default_scopes`, a refresh may narrow its family's scope.
    /// `ignore`: the legacy server never read `scope`; every grant gets the client's defaults
    /// (a refresh its family's) and no request fails for its scope.
    #[serde(default)]
    pub scope_policy: crate::engine::ScopePolicy,
    /// Answer with the rows' `explained` wording where a row has one: friendlier texts than
    /// the legacy server's (a malformed password named as such), off by default.
    #[serde(default)]
    pub explain_errors: bool,
    /// A new password grant makes the (user, client)'s earlier tokens invalid (the legacy
    /// `/Token`: "a new login discards earlier tokens").
    pub single_active_token: bool,
    /// Whether a request without a client id is refused (`missing_client_id`); when not,
    /// tokens are issued for `anonymous_client`.
    pub require_client_id: bool,
    #[serde(default)]
    /// The `[[client]]` id tokens are issued for when a request names none.
    pub anonymous_client: Option<String>,
    /// The JWT `iss` claim.
    pub issuer: String,
    #[serde(default)]
    /// The JWT `aud` claim; absent: none.
    pub audience: Option<String>,
    /// `jwt` or `opaque` (reference tokens checked by introspection).
    pub access_token_format: AccessFormat,
    /// The `[[signing.key]]` kid that signs this route's JWTs; absent: the default key.
    #[serde(default)]
    pub signing_key: Option<String>,
    /// The members of a JWT's header, in the order written: `alg`, and `typ` and `kid` if
    /// wanted, each once. `kid` is written when listed, and also when not if the keyring holds
    /// more than one key: a resource server then needs it to pick the key.
    pub jwt_header: Vec<String>,
    /// Bytes; a larger body is answered with the `body_too_large` error.
    pub body_limit: usize,
    /// How a request is read.
    pub request: RequestSpec,
    /// How a successful grant is written.
    pub response: ResponseSpec,
    /// The body every row of the error table fills, unless the row has a shape of its own.
    pub error_response: ErrorResponseSpec,
    /// The error table: one row per outcome the route can produce, keyed by the outcome's
    /// name (`unknown_client`; see `ErrorKind`). Rows of outcomes the route cannot produce
    /// are allowed (a base profile has them) and unused.
    pub errors: BTreeMap<String, ErrorEntry>,
}

/// How a request is read.
#[derive(Debug, Clone, Deserialize)]
pub struct RequestSpec {
    /// Body codec by media type (`type/subtype`, lowercase). `"*"` matches any media type and
    /// a missing Content-Type. An empty body needs no codec: it has no parameters.
    pub body: BTreeMap<String, Codec>,
    /// For the `datacontract_xml` codec: the request contract.
    #[serde(default)]
    pub xml: Option<XmlRequestSpec>,
    /// Integrated Windows authentication (`WindowsAuthentication=true`): accepted only from a
    /// trusted proxy that passes the authenticated principal in this header. Absent: refused.
    #[serde(default)]
    pub windows_principal_header: Option<String>,
    /// Whether parameter names match exactly; Katana and Json.NET match them ignoring case.
    pub names_case_sensitive: bool,
    /// How the `password` parameter encodes the password.
    pub password: PasswordEncoding,
    /// Where client credentials are looked for; the first source with a client id wins.
    pub client_credentials: Vec<CredentialSource>,
    /// The most parameters (form pairs, JSON properties, XML members) a body may hold.
    pub max_params: usize,
    /// The wire names of the grant parameters.
    pub fields: RequestFields,
    /// Names that differ in JSON bodies, by parameter (`{ grant_type = "grantType" }`); the
    /// others are as in `fields`.
    #[serde(default)]
    pub json_fields: BTreeMap<String, String>,
    /// Names that differ in XML bodies, by parameter (`{ grant_type = "GrantType" }`); the
    /// others are as in `fields`.
    #[serde(default)]
    pub xml_fields: BTreeMap<String, String>,
    /// For the `json_string` and `datacontract_string` codecs (a body that is one string): the
    /// parameter the string is (`password`, `refresh_token`, ...).
    #[serde(default)]
    pub string_field: Option<String>,
    /// The parameters each grant requires, by grant (`{ password = ["username", "password"] }`);
    /// a grant not listed requires what it does by default (password: `username`, `password`;
    /// refresh_token: `refresh_token`; client_credentials: nothing).
    #[serde(default)]
    pub required: BTreeMap<GrantType, Vec<String>>,
}

/// A body format the gateway can read.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Codec {
    /// Katana's `ReadFormAsync`: see `dialect::form`. Also what Web API's form formatter reads.
    KatanaForm,
    /// A JSON object, property names matched case-insensitively (Json.NET), unknown ignored.
    Json,
    /// A JSON string literal (`"..."`), bound to `request.string_field` (a Web API action
    /// taking one `[FromBody] string`); `null` binds nothing.
    JsonString,
    /// DataContractSerializer XML: see `dialect::xml`; the contract is `request.xml`.
    DatacontractXml,
    /// XmlSerializer XML: members in any order, in no namespace unless `request.xml` names
    /// one, `xsi:nil` for null; the contract is `request.xml`.
    XmlSerializer,
    /// One DataContract string, `<string xmlns="http://schemas.microsoft.com/2003/10/Serialization/">...</string>`,
    /// bound to `request.string_field`.
    DatacontractString,
    /// Nothing is read: any body of this media type carries no parameters (an action whose
    /// request DTO is empty, like ServiceStack's `OAuth2TokenRequest40`).
    Ignore,
}

/// A DataContract: root element name and namespace.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct XmlContractSpec {
    /// The root element's name (`AccessTokenResponse`).
    pub root: String,
    /// The default namespace; empty: none.
    #[serde(default)]
    pub namespace: String,
    /// Which serializer's bytes the body imitates; default `data_contract`.
    #[serde(default)]
    pub flavour: XmlFlavour,
    /// The namespace declarations on the root, in the order they are written: a reordering of
    /// the flavour's own (`data_contract`: `xmlns` (when there is a namespace) then `xmlns:i`;
    /// `xml_serializer`: `xmlns:xsi`, `xmlns:xsd`, then `xmlns`). Hosts differ here (.NET
    /// Core's XmlSerializer orders `xsi` and `xsd` differently run to run), so a clone states
    /// the order its legacy server wrote.
    #[serde(default)]
    pub namespace_order: Option<Vec<String>>,
    /// Whether the body starts with `<?xml version="1.0" encoding="utf-8"?>` (a serializer
    /// writing through `XmlWriter.Create` with its defaults); Web API's formatters write none.
    #[serde(default)]
    pub declaration: bool,
}

/// The request contract of the `datacontract_xml` codec.
#[derive(Debug, Clone, Deserialize)]
pub struct XmlRequestSpec {
    /// The root element's local name (`TokenRequest`).
    pub root: String,
    /// The namespace the root and its members must be in; empty: none (XmlSerializer).
    #[serde(default)]
    pub namespace: String,
    /// `any` (accept members in any order) or `data_contract` (skip out-of-order and unknown
    /// members silently, as DataContractSerializer does).
    #[serde(default)]
    pub member_order: XmlMemberOrder,
}

/// Which member orders the DataContract XML reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum XmlMemberOrder {
    /// Members in any order (strictly more clients work).
    #[default]
    Any,
    /// As DataContractSerializer reads: out-of-order and unknown members are skipped silently.
    DataContract,
}

/// How the `password` parameter encodes the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordEncoding {
    /// The password itself.
    Plain,
    /// The lowercase (or uppercase) SHA-1 hex digest of the UTF-8 password (VizSeek).
    Sha1Hex,
}

/// A place client credentials are read from: `"basic"`, `"body"`, or
/// `{ header = "X-Client-Id", secret_header = "X-Client-Secret" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// `Authorization: Basic base64(id:secret)`.
    Basic,
    /// `client_id` / `client_secret` body parameters.
    Body,
    /// The client id in a request header of its own, and the secret in another (or none).
    Header {
        /// The header holding the client id.
        header: String,
        /// The header holding the secret; absent: the client presents none.
        secret_header: Option<String>,
    },
}

impl<'de> Deserialize<'de> for CredentialSource {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// `{ header, secret_header }`; an unknown key (a typo of `secret_header`) is refused,
        /// since a source that silently lost its secret would fail every client.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Header {
            header: String,
            #[serde(default)]
            secret_header: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Name(String),
            Header(Header),
        }
        match Written::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "a credential source is \"basic\", \"body\" or { header = \"NAME\", secret_header = \"NAME\" }",
            )
        })? {
            Written::Name(name) if name == "basic" => Ok(CredentialSource::Basic),
            Written::Name(name) if name == "body" => Ok(CredentialSource::Body),
            Written::Name(other) => Err(serde::de::Error::custom(format!(
                "unknown credential source {other:?}; known: basic, body, {{ header = \"NAME\" }}"
            ))),
            Written::Header(Header {
                header,
                secret_header,
            }) => Ok(CredentialSource::Header {
                header,
                secret_header,
            }),
        }
    }
}

/// Wire names of the request parameters.
#[derive(Debug, Clone, Deserialize)]
pub struct RequestFields {
    /// The grant type (`grant_type`).
    pub grant_type: String,
    /// The client id, when read from the body.
    pub client_id: String,
    /// The client secret, when read from the body.
    pub client_secret: String,
    /// The user name of a password grant.
    pub username: String,
    /// The password (or its digest) of a password grant.
    pub password: String,
    /// The refresh token of a refresh grant.
    pub refresh_token: String,
    /// The requested scope.
    pub scope: String,
    /// The boolean asking for integrated Windows authentication; absent: not read.
    #[serde(default)]
    pub windows_authentication: Option<String>,
}

impl Codec {
    /// The codec's name as a profile writes it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A request parameter by its key: the key `request.fields` gives it a wire name under, and
/// the name `json_fields`, `xml_fields`, `string_field` and `required` call it by.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum ParamKey {
    /// `grant_type`.
    GrantType,
    /// `client_id`.
    ClientId,
    /// `client_secret`.
    ClientSecret,
    /// `username`.
    Username,
    /// `password`.
    Password,
    /// `refresh_token`.
    RefreshToken,
    /// `scope`.
    Scope,
    /// `windows_authentication`.
    WindowsAuthentication,
}

impl ParamKey {
    /// Every key, in `request.fields` order.
    pub const ALL: &'static [ParamKey] = <ParamKey as strum::VariantArray>::VARIANTS;

    /// The key named `key`, if it is one.
    pub fn parse(key: &str) -> Option<Self> {
        key.parse().ok()
    }

    /// The key as a profile writes it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Every key, comma-separated, for messages.
    pub fn known() -> String {
        let keys: Vec<&str> = Self::ALL.iter().map(|key| key.as_str()).collect();
        keys.join(", ")
    }
}

impl RequestFields {
    /// The wire name of a parameter; `None` for `windows_authentication` when it is not read.
    pub fn wire_name(&self, param: ParamKey) -> Option<&str> {
        Some(match param {
            ParamKey::GrantType => &self.grant_type,
            ParamKey::ClientId => &self.client_id,
            ParamKey::ClientSecret => &self.client_secret,
            ParamKey::Username => &self.username,
            ParamKey::Password => &self.password,
            ParamKey::RefreshToken => &self.refresh_token,
            ParamKey::Scope => &self.scope,
            ParamKey::WindowsAuthentication => return self.windows_authentication.as_deref(),
        })
    }

    /// Every wire name.
    pub fn names(&self) -> Vec<String> {
        ParamKey::ALL
            .iter()
            .filter_map(|param| self.wire_name(*param))
            .map(str::to_owned)
            .collect()
    }

    /// These names with `overrides` (by parameter key) laid over them; `Err` lists the keys that
    /// are not parameters.
    pub fn with(&self, overrides: &BTreeMap<String, String>) -> Result<Self, Vec<String>> {
        let mut names = self.clone();
        let mut unknown = Vec::new();
        for (param, name) in overrides {
            match ParamKey::parse(param) {
                Some(key) => names.set(key, name.clone()),
                None => unknown.push(param.clone()),
            }
        }
        if unknown.is_empty() {
            Ok(names)
        } else {
            Err(unknown)
        }
    }

    fn set(&mut self, param: ParamKey, name: String) {
        let slot = match param {
            ParamKey::GrantType => &mut self.grant_type,
            ParamKey::ClientId => &mut self.client_id,
            ParamKey::ClientSecret => &mut self.client_secret,
            ParamKey::Username => &mut self.username,
            ParamKey::Password => &mut self.password,
            ParamKey::RefreshToken => &mut self.refresh_token,
            ParamKey::Scope => &mut self.scope,
            ParamKey::WindowsAuthentication => {
                self.windows_authentication = Some(name);
                return;
            }
        };
        *slot = name;
    }
}

/// How a successful grant is written.
#[derive(Debug, Clone, Deserialize)]
pub struct ResponseSpec {
    /// `json` (always, with `content_type`), `xml` (always, with `content_type`) or `negotiate`
    /// (JSON or XML as ASP.NET Web API's content negotiation picks, `Content-Type` echoing the
    /// choice).
    #[serde(default)]
    pub format: ResponseFormat,
    /// The `Content-Type` of `json` and `xml` answers.
    #[serde(default)]
    pub content_type: Option<String>,
    /// With `negotiate`: answer 406 when nothing acceptable matches, instead of Web API's
    /// fallback to JSON.
    #[serde(default)]
    pub not_acceptable: bool,
    /// With `negotiate`: the XML contract of the success body.
    #[serde(default)]
    pub xml: Option<XmlContractSpec>,
    /// Sent with every answer of this route, success or error, in this order.
    pub headers: Vec<(String, String)>,
    /// How `expires_in`-like values count the seconds left.
    pub expires_in: ExpiresIn,
    /// The members of the body, in the order they are written (JSON; XML orders them as its
    /// flavour does).
    pub fields: Vec<FieldSpec>,
}

/// How the format of an answer is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Always JSON, with the profile's `content_type`.
    #[default]
    Json,
    /// JSON or XML, as ASP.NET Web API's content negotiation picks from the request's headers.
    Negotiate,
    /// Always XML, with the profile's `content_type` (an endpoint whose path fixes the format,
    /// like ServiceStack's `/xml/reply/...`).
    Xml,
}

/// One member of a response body.
#[derive(Debug, Clone, Deserialize)]
pub struct FieldSpec {
    /// The member's name on the wire.
    pub name: String,
    /// Where the value comes from: see [`super::value::Source`].
    pub value: String,
    /// The wire type (`type = "string"`); default: the source's own.
    #[serde(default, rename = "type")]
    pub kind: ValueType,
    /// What happens when the value is absent, in every format; default: JSON writes `null`,
    /// XML does what its flavour does with a null member.
    #[serde(default)]
    pub absent: Option<Absent>,
    /// What differs in JSON answers (`json = { name = ".issued" }`).
    #[serde(default)]
    pub json: Option<FormatSpec>,
    /// What differs in XML answers (`xml = { name = "Issued", type = "empty" }`).
    #[serde(default)]
    pub xml: Option<FormatSpec>,
}

/// A member's name, type or absent rule in one format, where it differs from the member's own.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FormatSpec {
    /// The name in this format.
    #[serde(default)]
    pub name: Option<String>,
    /// The wire type in this format.
    #[serde(default, rename = "type")]
    pub kind: Option<ValueType>,
    /// The absent rule in this format.
    #[serde(default)]
    pub absent: Option<Absent>,
}

/// The body of an error answer; each entry of the error table fills it.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorResponseSpec {
    /// The members of an error body (`error`, `error_description`, constants).
    pub fields: Vec<FieldSpec>,
    /// With a negotiating response: the XML contract of error bodies.
    #[serde(default)]
    pub xml: Option<XmlContractSpec>,
}

/// One row of the error table: how an engine outcome looks in this dialect.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorEntry {
    /// The HTTP status.
    pub status: u16,
    /// The `error` value (an RFC 6749 §5.2 code, or the legacy server's own).
    pub error: String,
    /// May hold `{detail}`: what exactly was wrong (see `GrantError::detail`).
    #[serde(default)]
    pub description: String,
    /// A clearer wording than the legacy server's, used when the route sets `explain_errors`.
    #[serde(default)]
    pub explained: Option<Explained>,
    /// Extra headers for this outcome (`Allow`, `WWW-Authenticate`, `Retry-After`, ...).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// A body shape of its own, for outcomes a framework answered before the token logic.
    #[serde(default)]
    pub fields: Option<Vec<FieldSpec>>,
    /// The XML contract of that body shape (e.g. Web API's `<Error>` with no namespace).
    #[serde(default)]
    pub xml: Option<XmlContractSpec>,
}

/// A row's explanatory wording (`explain_errors`): the `error` code and the description that
/// replace the row's own.
#[derive(Debug, Clone, Deserialize)]
pub struct Explained {
    /// The `error` value; absent: the row's own.
    #[serde(default)]
    pub error: Option<String>,
    /// The description; may hold `{detail}` like the row's.
    pub description: String,
}

/// A problem with a profile, with its key path relative to the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileProblem {
    /// Where: the key path relative to the profile (`errors.unknown_client.status`).
    pub key: String,
    /// What is wrong, and what would be right.
    pub message: String,
}

/// Checks the settings of a profile that serde cannot, one key at a time: returns every problem
/// with its key path relative to the profile (`methods[0]`, `errors.unknown_client.status`).
/// What needs the profile compiled (value sources, codecs, the error table's completeness) is
/// checked by `TokenRoute::compile`, which compiles each part once.
pub fn validate(profile: &Profile) -> Vec<ProfileProblem> {
    let mut problems = Vec::new();
    if !profile.path.starts_with('/') {
        problems.push((
            "path".into(),
            format!("must start with '/': {:?}", profile.path),
        ));
    }
    // The methods of RFC 9110 §9 and RFC 5789 (PATCH), as clients send them: methods are
    // case-sensitive, so `post` would never match a request.
    const METHODS: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    for (i, method) in profile.methods.iter().enumerate() {
        if !METHODS.contains(&method.as_str()) {
            problems.push((
                format!("methods[{i}]"),
                format!(
                    "{method:?} is not an HTTP method; known: {}",
                    METHODS.join(", ")
                ),
            ));
        }
    }
    if profile.grants.is_empty() {
        problems.push((
            "grants".into(),
            "a route must accept at least one grant".into(),
        ));
    }
    if profile.access_token_ttl.as_secs() == 0 {
        problems.push((
            "access_token_ttl".into(),
            "must be at least one second".into(),
        ));
    }
    if profile
        .refresh_token_ttl
        .is_some_and(|ttl| ttl.as_secs() == 0)
    {
        problems.push((
            "refresh_token_ttl".into(),
            "must be at least one second".into(),
        ));
    }
    if !profile.require_client_id && profile.anonymous_client.is_none() {
        problems.push((
            "anonymous_client".into(),
            "required when require_client_id = false: tokens are issued for this client".into(),
        ));
    }
    if profile.body_limit == 0 {
        problems.push(("body_limit".into(), "must be at least one byte".into()));
    }
    if profile.request.body.is_empty() {
        problems.push((
            "request.body".into(),
            "no body codec: no request could be read".into(),
        ));
    }
    if profile.require_client_id && profile.request.client_credentials.is_empty() {
        problems.push((
            "request.client_credentials".into(),
            "name at least one source (basic, body, { header = ... }): require_client_id is true"
                .into(),
        ));
    }
    if profile.require_client_id && profile.anonymous_client.is_some() {
        problems.push((
            "anonymous_client".into(),
            "has no effect while require_client_id is true: a request without a client id is \
             refused"
                .into(),
        ));
    }
    for grant in &profile.grants {
        if profile.refused_grants.contains(grant) {
            problems.push((
                "refused_grants".into(),
                format!("{grant} is in grants too: a grant is either served or refused"),
            ));
        }
    }
    if let Some(grant) = profile.default_grant
        && !profile.grants.contains(&grant)
        && !profile.refused_grants.contains(&grant)
    {
        problems.push((
            "default_grant".into(),
            format!("{grant} is in neither grants nor refused_grants"),
        ));
    }
    if profile.request.max_params == 0 {
        problems.push((
            "request.max_params".into(),
            "must be at least one: no body could carry a parameter".into(),
        ));
    }
    for media_type in profile.request.body.keys() {
        let lower = media_type.to_ascii_lowercase();
        let well_formed = media_type == "*"
            || (media_type == &lower
                && media_type
                    .split_once('/')
                    .is_some_and(|(t, s)| !t.is_empty() && !s.is_empty() && !s.contains('/')));
        if !well_formed {
            problems.push((
                format!("request.body.{media_type:?}"),
                format!(
                    "a media type is lower-case type/subtype (\"{lower}\") or \"*\": requests are \
                     matched in lower case"
                ),
            ));
        }
    }
    let string_codec = profile
        .request
        .body
        .values()
        .any(|c| matches!(c, Codec::JsonString | Codec::DatacontractString));
    if profile.request.string_field.is_some() && !string_codec {
        problems.push((
            "request.string_field".into(),
            "has no effect: no codec in request.body reads a string body (json_string, \
             datacontract_string)"
                .into(),
        ));
    }
    if let Some(xml) = &profile.request.xml
        && xml.member_order == XmlMemberOrder::DataContract
        && !profile
            .request
            .body
            .values()
            .any(|c| *c == Codec::DatacontractXml)
    {
        problems.push((
            "request.xml.member_order".into(),
            "has no effect: only the datacontract_xml codec reads members in contract order".into(),
        ));
    }
    let response = &profile.response;
    match response.format {
        ResponseFormat::Json | ResponseFormat::Xml if response.content_type.is_none() => {
            problems.push((
                "response.content_type".into(),
                "missing: this response.format answers with it".into(),
            ));
        }
        ResponseFormat::Negotiate if response.content_type.is_some() => {
            problems.push((
                "response.content_type".into(),
                "has no effect with response.format = \"negotiate\": the negotiated media type \
                 and charset are the Content-Type"
                    .into(),
            ));
        }
        _ => {}
    }
    if response.format != ResponseFormat::Negotiate && response.not_acceptable {
        problems.push((
            "response.not_acceptable".into(),
            "has no effect unless response.format = \"negotiate\"".into(),
        ));
    }

    for (name, entry) in &profile.errors {
        if !(100..=599).contains(&entry.status) {
            problems.push((
                format!("errors.{name}.status"),
                format!("{} is not an HTTP status", entry.status),
            ));
        }
    }
    problems
        .into_iter()
        .map(|(key, message)| ProfileProblem { key, message })
        .collect()
}

/// Durations written the way people write them (`30m`, `14d`, `90s`).
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text)
    }

    fn parse<E: serde::de::Error>(text: &str) -> Result<Duration, E> {
        humantime::parse_duration(text).map_err(|e| {
            E::custom(format!(
                "{text:?} is not a duration such as \"30m\", \"14days\" or \"90s\" ({e})"
            ))
        })
    }

    pub mod option {
        use super::*;

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            match Option::<String>::deserialize(d)? {
                None => Ok(None),
                Some(text) if text.is_empty() || text == "none" => Ok(None),
                Some(text) => super::parse(&text).map(Some),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The names strum gives are the ones serde reads: a profile and a message spell them alike.

    #[test]
    fn every_codec_name_is_the_one_a_profile_writes() {
        for codec in <Codec as strum::VariantArray>::VARIANTS {
            let read: Codec = serde_json::from_value(codec.as_str().into()).unwrap();
            assert_eq!(read, *codec);
        }
    }

    #[test]
    fn every_param_key_is_a_request_fields_key() {
        let table: toml::Table = ParamKey::ALL
            .iter()
            .map(|key| {
                (
                    key.as_str().to_owned(),
                    format!("wire_{}", key.as_str()).into(),
                )
            })
            .collect();
        let fields: RequestFields = table.try_into().unwrap();
        for key in ParamKey::ALL {
            let expected = format!("wire_{}", key.as_str());
            assert_eq!(fields.wire_name(*key), Some(expected.as_str()));
        }
    }
}
