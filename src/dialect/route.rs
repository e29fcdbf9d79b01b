//! A compiled route: one profile with a route's overrides applied, turned once at startup into
//! what the request path runs (parsed value sources, body readers, the error table keyed by
//! outcome, the grant policy the engine applies). Every problem of the profile is found here,
//! in one pass, with its key path.

use std::collections::BTreeMap;

use chrono::TimeDelta;

use super::codec::BodyReader;
use super::negotiated::NegotiationMemo;
use super::outcome::{ErrorKind, producible};
use super::profile::{self, ErrorEntry, Profile, ProfileProblem};
use super::render::{CompiledField, compile_fields};
use super::value::Source;
use crate::domain::ClientId;
use crate::engine::GrantPolicy;

/// One row of the error table, compiled.
pub(super) struct CompiledError {
    pub(super) entry: ErrorEntry,
    /// A body shape of the row's own; `None`: the route's error body.
    pub(super) fields: Option<Vec<CompiledField>>,
}

/// One route speaking one dialect: see the module docs of [`super`].
pub struct TokenRoute {
    pub(super) dialect: String,
    pub(super) profile: Profile,
    pub(super) policy: GrantPolicy,
    path_lower: String,
    /// Body readers by media type (`"*"`: any), as `request.body` names them.
    pub(super) readers: BTreeMap<String, BodyReader>,
    pub(super) fields: Vec<CompiledField>,
    pub(super) error_fields: Vec<CompiledField>,
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

impl TokenRoute {
    /// Builds a route from a merged profile; returns every problem found.
    pub fn compile(dialect: &str, profile: Profile) -> Result<Self, Vec<ProfileProblem>> {
        let mut problems = profile::validate(&profile);
        let fields = compile_fields(
            "response.fields",
            &profile.response.fields,
            false,
            &mut problems,
        );
        let error_fields = compile_fields(
            "error_response.fields",
            &profile.error_response.fields,
            true,
            &mut problems,
        );
        let mut readers = BTreeMap::new();
        for (media_type, codec) in &profile.request.body {
            match BodyReader::compile(*codec, &profile.request) {
                Ok(reader) => {
                    readers.insert(media_type.clone(), reader);
                }
                Err(message) => problems.push(ProfileProblem {
                    key: format!("request.body.{media_type:?}"),
                    message,
                }),
            }
        }
        let mut errors = BTreeMap::new();
        for (name, entry) in &profile.errors {
            let Some(kind) = ErrorKind::from_name(name) else {
                problems.push(ProfileProblem {
                    key: format!("errors.{name}"),
                    message: format!("unknown outcome; known: {}", ErrorKind::names()),
                });
                continue;
            };
            let fields = entry.fields.as_ref().map(|fields| {
                compile_fields(
                    &format!("errors.{name}.fields"),
                    fields,
                    true,
                    &mut problems,
                )
            });
            errors.insert(
                kind,
                CompiledError {
                    entry: entry.clone(),
                    fields,
                },
            );
        }
        let report_not_before = fields.iter().any(|f| f.source == Source::NotBefore);
        for (kind, why) in producible(&profile, report_not_before) {
            if !errors.contains_key(&kind) {
                problems.push(ProfileProblem {
                    key: format!("errors.{kind}"),
                    message: format!("missing: this route can answer it ({why})"),
                });
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let policy = GrantPolicy {
            grants: profile.grants.clone(),
            refused_grants: profile.refused_grants.clone(),
            require_client_id: profile.require_client_id,
            anonymous_client: profile.anonymous_client.clone().map(ClientId::new),
            access_token_ttl: ttl(profile.access_token_ttl),
            refresh_token_ttl: profile.refresh_token_ttl.map(ttl),
            refresh_for_client_credentials: profile.refresh_for_client_credentials,
            refresh_format: profile.refresh_format,
            single_active_token: profile.single_active_token,
            report_not_before,
            issuer: profile.issuer.clone(),
            audience: profile.audience.clone(),
            access_format: profile.access_token_format,
            signing_key: profile.signing_key.clone(),
        };
        Ok(Self {
            dialect: dialect.to_owned(),
            path_lower: profile.path.to_ascii_lowercase(),
            readers,
            profile,
            policy,
            fields,
            error_fields,
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
