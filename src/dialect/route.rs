//! A compiled route: one profile with a route's overrides applied, turned once at startup into
//! what the request path runs (parsed value sources, body readers, the error table keyed by
//! outcome, the grant policy the engine applies). Every problem of the profile is found here,
//! in one pass, with its key path.

use std::collections::BTreeMap;

use chrono::TimeDelta;

use super::codec::BodyReader;
use super::negotiated::NegotiationMemo;
use super::outcome::{ErrorKind, producible};
use super::profile::{
    self, ErrorEntry, ParamKey, Profile, ProfileProblem, RequestFields, ResponseFormat,
    XmlContractSpec,
};
use super::render::{CompiledField, compile_fields};
use super::required::Required;
use super::value::{Absent, Source};
use super::xml::{self, Document, Flavour};
use crate::domain::{ClientId, GrantType};
use crate::engine::keys::{HeaderLayout, HeaderMember};
use crate::engine::{GrantPolicy, RefreshGroup};

/// One row of the error table, compiled.
pub(super) struct CompiledError {
    pub(super) entry: ErrorEntry,
    /// A body shape of the row's own; `None`: the route's error body.
    pub(super) fields: Option<Vec<CompiledField>>,
    /// The XML of that body shape; `None` with `fields`: the row answers JSON only.
    pub(super) xml: Option<Document>,
}

/// One route speaking one dialect: see the module docs of [`super`].
pub struct TokenRoute {
    pub(super) dialect: String,
    pub(super) profile: Profile,
    pub(super) policy: GrantPolicy,
    path_lower: String,
    /// Body readers by media type (`"*"`: any), as `request.body` names them.
    pub(super) readers: BTreeMap<String, BodyReader>,
    /// The parameter names of JSON and of XML bodies (forms use `request.fields`).
    pub(super) json_names: RequestFields,
    pub(super) xml_names: RequestFields,
    pub(super) required: Required,
    /// Whether a body echoes the request (`request.*` values): only then is it kept.
    pub(super) echoes: bool,
    pub(super) fields: Vec<CompiledField>,
    pub(super) xml: Option<Document>,
    pub(super) error_fields: Vec<CompiledField>,
    pub(super) error_xml: Option<Document>,
    /// One row per outcome this route can produce (and any more the profile wrote).
    pub(super) errors: BTreeMap<ErrorKind, CompiledError>,
    pub(super) negotiated: NegotiationMemo,
}

impl std::fmt::Debug for TokenRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRoute")
            .field("dialect", &self.dialect)
            .field("path", &self.profile.path)
            .finish_non_exhaustive()
    }
}

fn ttl(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// Collects problems under key paths as a profile compiles.
struct Problems(Vec<ProfileProblem>);

impl Problems {
    fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ProfileProblem {
            key: key.into(),
            message: message.into(),
        });
    }
}

impl TokenRoute {
    /// Builds a route from a merged profile; returns every problem found.
    pub fn compile(dialect: &str, profile: Profile) -> Result<Self, Vec<ProfileProblem>> {
        let mut problems = Problems(profile::validate(&profile));
        let request = &profile.request;
        let names = |key: &str, overrides: &BTreeMap<String, String>, problems: &mut Problems| {
            request.fields.with(overrides).unwrap_or_else(|unknown| {
                for param in unknown {
                    problems.push(
                        format!("request.{key}.{param}"),
                        format!("not a parameter; known: {}", ParamKey::known()),
                    );
                }
                request.fields.clone()
            })
        };
        let json_names = names("json_fields", &request.json_fields, &mut problems);
        let xml_names = names("xml_fields", &request.xml_fields, &mut problems);
        let (required, unknown) = Required::new(&request.required);
        for param in unknown {
            problems.push(
                "request.required",
                format!("{param:?} is not a parameter; known: {}", ParamKey::known()),
            );
        }
        let jwt_header = compile_jwt_header(&profile.jwt_header, &mut problems);
        let fields = compile_fields("response.fields", &profile.response.fields, &mut problems.0);
        let error_fields = compile_fields(
            "error_response.fields",
            &profile.error_response.fields,
            &mut problems.0,
        );
        let mut readers = BTreeMap::new();
        for (media_type, codec) in &request.body {
            match BodyReader::compile(*codec, request, &json_names, &xml_names) {
                Ok(reader) => {
                    readers.insert(media_type.clone(), reader);
                }
                Err(message) => problems.push(format!("request.body.{media_type:?}"), message),
            }
        }
        // A route that can answer XML needs the contracts its XML bodies are written by.
        let answers_xml = profile.response.format != ResponseFormat::Json;
        let document = |key: &str, spec: Option<&XmlContractSpec>, problems: &mut Problems| {
            let spec = spec?;
            check_xml_name(&format!("{key}.root"), &spec.root, problems);
            if spec.flavour == Flavour::Plain {
                if !spec.namespace.is_empty() {
                    problems.push(
                        format!("{key}.namespace"),
                        "the plain flavour writes no namespace: drop it, or use data_contract or \
                         xml_serializer",
                    );
                }
                if spec.namespace_order.is_some() {
                    problems.push(
                        format!("{key}.namespace_order"),
                        "the plain flavour writes no namespace declarations",
                    );
                }
            }
            match Document::new(
                &spec.root,
                &spec.namespace,
                spec.flavour,
                spec.namespace_order.as_deref(),
            ) {
                Ok(document) => Some(document.with_declaration(spec.declaration)),
                Err(message) => {
                    problems.push(format!("{key}.namespace_order"), message);
                    None
                }
            }
        };
        let xml = document("response.xml", profile.response.xml.as_ref(), &mut problems);
        let error_xml = document(
            "error_response.xml",
            profile.error_response.xml.as_ref(),
            &mut problems,
        );
        if answers_xml {
            if profile.response.xml.is_none() {
                problems.push(
                    "response.xml",
                    "missing: this response.format can answer XML, which needs the contract \
                     (root, namespace)",
                );
            }
            check_xml_members("response.fields", &fields, &mut problems);
            check_xml_members("error_response.fields", &error_fields, &mut problems);
        }
        let mut errors = BTreeMap::new();
        for (name, entry) in &profile.errors {
            let Some(kind) = ErrorKind::from_name(name) else {
                problems.push(
                    format!("errors.{name}"),
                    format!("unknown outcome; known: {}", ErrorKind::names()),
                );
                continue;
            };
            let key = format!("errors.{name}");
            // Both wordings are checked, so a mistake in the explained one shows before a
            // route opts into it.
            let texts = std::iter::once(("description", &entry.description)).chain(
                entry
                    .explained
                    .as_ref()
                    .map(|e| ("explained.description", &e.description)),
            );
            for (at, text) in texts {
                for placeholder in super::value::unknown_placeholders(text) {
                    problems.push(
                        format!("{key}.{at}"),
                        format!(
                            "{{{placeholder}}} is not a placeholder; known: {{detail}}, \
                             {{request.grant_type}}, {{request.client_id}}, {{request.username}}, \
                             {{request.scope}}"
                        ),
                    );
                }
            }
            let mut entry = entry.clone();
            if let Some(explained) = entry.explained.take()
                && profile.explain_errors
            {
                entry.error = explained.error.unwrap_or(entry.error);
                entry.description = explained.description;
            }
            let fields = entry
                .fields
                .as_ref()
                .map(|fields| compile_fields(&format!("{key}.fields"), fields, &mut problems.0));
            let row_xml = document(&format!("{key}.xml"), entry.xml.as_ref(), &mut problems);
            if entry.fields.is_none() && entry.xml.is_some() {
                problems.push(
                    format!("{key}.xml"),
                    "has no effect without fields: a row without a body of its own is written \
                     with error_response.xml",
                );
            }
            if answers_xml && let Some(fields) = &fields {
                if entry.xml.is_none() {
                    problems.push(
                        format!("{key}.xml"),
                        "missing: a row with a body shape of its own on a route that can \
                         answer XML needs that body's XML contract",
                    );
                }
                check_xml_members(&format!("{key}.fields"), fields, &mut problems);
            }
            if entry.status != 401
                && entry
                    .headers
                    .iter()
                    .any(|(header, _)| header.eq_ignore_ascii_case("www-authenticate"))
            {
                problems.push(
                    format!("{key}.headers"),
                    format!(
                        "WWW-Authenticate on a {} answer: it belongs to 401 (RFC 9110 §11.6.1); \
                         drop it with remove = [\"{key}.headers\"] or headers = []",
                        entry.status
                    ),
                );
            }
            errors.insert(
                kind,
                CompiledError {
                    entry,
                    fields,
                    xml: row_xml,
                },
            );
        }
        if answers_xml && profile.error_response.xml.is_none() {
            problems.push(
                "error_response.xml",
                "missing: this response.format can answer errors in XML, which needs their \
                 contract (root, namespace)",
            );
        }
        check_values(&profile, &fields, &mut problems);
        check_duplicates("response.fields", &fields, &mut problems);
        check_duplicates("error_response.fields", &error_fields, &mut problems);
        for (kind, row) in &errors {
            if let Some(fields) = &row.fields {
                check_duplicates(&format!("errors.{kind}.fields"), fields, &mut problems);
            }
        }
        if let Some(xml) = &request.xml {
            check_xml_name("request.xml.root", &xml.root, &mut problems);
        }
        let report_not_before = fields.iter().any(|f| f.source == Source::NotBefore);
        for (kind, why) in producible(&profile, report_not_before, &required) {
            if !errors.contains_key(&kind) {
                problems.push(
                    format!("errors.{kind}"),
                    format!("missing: this route can answer it ({why})"),
                );
            }
        }
        if !problems.0.is_empty() {
            return Err(problems.0);
        }
        let echoes = fields
            .iter()
            .chain(&error_fields)
            .chain(errors.values().filter_map(|e| e.fields.as_ref()).flatten())
            .any(|f| matches!(f.source, Source::Request(_)))
            || errors
                .values()
                .any(|e| super::value::echoes(&e.entry.description));
        let policy = GrantPolicy {
            grants: profile.grants.clone(),
            refused_grants: profile.refused_grants.clone(),
            require_client_id: profile.require_client_id,
            anonymous_client: profile.anonymous_client.clone().map(ClientId::new),
            access_token_ttl: ttl(profile.access_token_ttl),
            refresh_token_ttl: profile.refresh_token_ttl.map(ttl),
            refresh_for_client_credentials: profile.refresh_for_client_credentials,
            refresh_format: profile.refresh_format,
            refresh_group: RefreshGroup::new(
                profile
                    .refresh_group
                    .clone()
                    .unwrap_or_else(|| profile.path.clone()),
            ),
            // "0s" turns the grace off, as "none" does.
            reuse_grace: profile
                .refresh_reuse_grace
                .filter(|grace| !grace.is_zero())
                .map(ttl),
            legacy_refresh_tickets: profile.legacy_refresh_tickets,
            katana: None,
            scope_policy: profile.scope_policy,
            single_active_token: profile.single_active_token,
            report_not_before,
            issuer: profile.issuer.clone(),
            audience: profile.audience.clone(),
            access_format: profile.access_token_format,
            signing_key: profile.signing_key.clone(),
            jwt_header,
        };
        Ok(Self {
            dialect: dialect.to_owned(),
            path_lower: profile.path.to_ascii_lowercase(),
            readers,
            json_names,
            xml_names,
            required,
            echoes,
            profile,
            policy,
            fields,
            xml,
            error_fields,
            error_xml,
            errors,
            negotiated: NegotiationMemo::default(),
        })
    }

    pub fn dialect(&self) -> &str {
        &self.dialect
    }

    pub fn path(&self) -> &str {
        &self.profile.path
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The route with a machineKey of its own (its `katana` table), which its tickets are
    /// issued and its legacy refresh tickets read with instead of `[katana]`'s.
    pub fn with_katana(mut self, katana: std::sync::Arc<crate::engine::katana::Katana>) -> Self {
        self.policy.katana = Some(katana);
        self
    }

    pub fn policy(&self) -> &GrantPolicy {
        &self.policy
    }

    pub fn body_limit(&self) -> usize {
        self.profile.body_limit
    }

    /// Whether a request path is this route's (exact; case-insensitive unless configured).
    pub fn matches_path(&self, path: &str) -> bool {
        if self.profile.path_case_sensitive {
            path == self.profile.path
        } else {
            path.len() == self.path_lower.len() && path.eq_ignore_ascii_case(&self.path_lower)
        }
    }
}

/// `jwt_header` as the signer's layout. On a problem the layout returned is never used: the
/// route does not compile.
fn compile_jwt_header(names: &[String], problems: &mut Problems) -> HeaderLayout {
    let mut listed = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        match HeaderMember::parse(name) {
            None => problems.push(
                format!("jwt_header[{i}]"),
                format!(
                    "{name:?} is not a JWT header member; known: {}",
                    HeaderMember::known()
                ),
            ),
            Some(member) if listed.contains(&member) => problems.push(
                format!("jwt_header[{i}]"),
                format!("{name:?} is already listed: a header has each member once"),
            ),
            Some(member) => listed.push(member),
        }
    }
    // Without repeats, the one list that is not a layout is one without alg.
    HeaderLayout::new(&listed).unwrap_or_else(|| {
        problems.push(
            "jwt_header",
            "must list alg: a JWT header always names its algorithm (RFC 7515 §4.1.1)",
        );
        HeaderLayout::default()
    })
}

fn check_xml_name(key: &str, name: &str, problems: &mut Problems) {
    if !xml::is_name(name) {
        problems.push(
            key,
            format!(
                "{name:?} is not an XML element name (a letter or _ first, then letters, digits, \
                 -, _ or .; no colon)"
            ),
        );
    }
}

fn check_xml_members(key: &str, fields: &[CompiledField], problems: &mut Problems) {
    for (i, field) in fields.iter().enumerate() {
        if !xml::is_name(&field.xml.name) {
            problems.push(
                format!("{key}[{i}]"),
                format!(
                    "{:?} is not an XML element name and this route can answer XML: give the \
                     member its XML name with xml = {{ name = \"...\" }}",
                    field.xml.name
                ),
            );
        }
    }
}

/// Two members of one body with the same name in one format: JSON would carry the key twice and
/// XML the element twice, which no serializer of a legacy endpoint wrote.
fn check_duplicates(key: &str, fields: &[CompiledField], problems: &mut Problems) {
    for (i, field) in fields.iter().enumerate() {
        let earlier = &fields[..i];
        if earlier.iter().any(|f| f.json.name == field.json.name) {
            problems.push(
                format!("{key}[{i}].name"),
                format!("{:?} is already a member of this body", field.json.name),
            );
        } else if earlier.iter().any(|f| f.xml.name == field.xml.name) {
            problems.push(
                format!("{key}[{i}].xml.name"),
                format!(
                    "{:?} is already a member of this body in XML",
                    field.xml.name
                ),
            );
        }
    }
}

/// A success member whose value no grant of the route can produce is a mistake (a user value
/// on a route of app tokens, a refresh token on a route that issues none).
fn check_values(profile: &Profile, fields: &[CompiledField], problems: &mut Problems) {
    let grants: Vec<GrantType> = profile.grants.clone();
    let users = grants.contains(&GrantType::Password);
    let refresh = profile.refresh_token_ttl.is_some()
        && (users
            || grants.contains(&GrantType::RefreshToken)
            || profile.refresh_for_client_credentials);
    for (i, field) in fields.iter().enumerate() {
        // A member left out when absent is harmless (a route may switch its value on); one
        // written as null on every answer says something the legacy server did not.
        if matches!(field.json.absent, Some(Absent::Omit | Absent::OmitEmpty)) {
            continue;
        }
        let never = match &field.source {
            Source::UserId | Source::UserName | Source::Role | Source::UserAttr(_) if !users => {
                Some("no grant of this route signs a user in (grants has no password)")
            }
            Source::RefreshToken | Source::RefreshExpires if !refresh => {
                Some("this route issues no refresh token (refresh_token_ttl, grants)")
            }
            _ => None,
        };
        if let Some(why) = never {
            problems.push(
                format!("response.fields[{i}].value"),
                format!(
                    "never has a value: {why}; a member the legacy server always sent as null is \
                     value = \"null\""
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vizseek_with(
        edit: impl FnOnce(&mut toml::Table),
    ) -> Result<TokenRoute, Vec<ProfileProblem>> {
        let mut table = super::super::source::builtin_table("vizseek").unwrap();
        edit(&mut table);
        let profile: Profile = toml::Value::Table(table).try_into().unwrap();
        TokenRoute::compile("vizseek", profile)
    }

    fn errors(table: &mut toml::Table) -> &mut toml::Table {
        table
            .get_mut("errors")
            .and_then(|e| e.as_table_mut())
            .unwrap()
    }

    fn keys(problems: &[ProfileProblem]) -> Vec<&str> {
        problems.iter().map(|p| p.key.as_str()).collect()
    }

    #[test]
    fn a_row_is_required_only_for_outcomes_the_route_can_produce() {
        // VizSeek reads every body as a form and checks no method: no 405 or 415 row needed.
        let route = vizseek_with(|t| {
            let errors = errors(t);
            for kind in [
                "method_not_allowed",
                "unsupported_media_type",
                "missing_content_type",
            ] {
                errors.remove(kind);
            }
        });
        assert!(route.is_ok());
        // With a method list, the 405 row is needed, and its absence is named with the reason.
        let problems = vizseek_with(|t| {
            t.insert("methods".into(), toml::Value::Array(vec!["POST".into()]));
            errors(t).remove("method_not_allowed");
        })
        .unwrap_err();
        assert_eq!(keys(&problems), ["errors.method_not_allowed"]);
        assert!(problems[0].message.contains("methods is not empty"));
    }

    #[test]
    fn every_problem_is_found_in_one_pass() {
        let problems = vizseek_with(|t| {
            let errors = errors(t);
            errors.remove("authentication_failed");
            let row = errors["internal"].clone();
            errors.insert("token_not_owned".into(), row);
            let fields = t["response"]["fields"].as_array_mut().unwrap();
            fields[1]
                .as_table_mut()
                .unwrap()
                .insert("value".into(), "refresh_tokn".into());
            t.insert(
                "request".into(),
                toml::Value::Table({
                    let mut request = t["request"].as_table().unwrap().clone();
                    request.insert(
                        "body".into(),
                        toml::Value::Table(toml::Table::from_iter([(
                            "*".to_owned(),
                            toml::Value::from("datacontract_xml"),
                        )])),
                    );
                    request
                }),
            );
        })
        .unwrap_err();
        assert_eq!(
            keys(&problems),
            [
                "response.fields[1].value",
                "request.body.\"*\"",
                "errors.token_not_owned",
                "errors.authentication_failed",
            ]
        );
    }
}
