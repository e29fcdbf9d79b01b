//! `[dialect.NAME]`: profiles a configuration defines beside the built-in ones, inline or in a
//! file of their own (`file = "acme.toml"`, relative to the config file), each extending a
//! built-in or another defined profile. Also the one way a profile table becomes a route, shared
//! with `[[route]]`: every unknown key, wherever it is, reported with the keys that table knows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::dialect::profile::{
    ErrorEntry, ErrorResponseSpec, FieldSpec, FormatSpec, RequestFields, RequestSpec, ResponseSpec,
    XmlContractSpec, XmlRequestSpec,
};
use crate::dialect::source::{Profiles, builtin};
use crate::dialect::{Profile, TokenRoute};

use super::read::{self, Segment};
use super::{Problem, problem};

/// A problem relative to one profile (a defined dialect, or a route's merged profile): its key
/// path below the profile (empty: the profile itself) and its message.
pub(super) type ProfileIssue = (String, String);

/// The profiles routes may name: the built-in ones and those `[dialect.NAME]` defines.
pub(super) struct Dialects {
    pub profiles: Profiles,
    /// Each defined dialect resolved to one table (its `extends` chain and `remove`s applied).
    pub defined: BTreeMap<String, toml::Table>,
    /// Defined dialects that could not be read or resolved: reported under `dialect.NAME`, so a
    /// route naming one is not reported as naming an unknown dialect.
    pub broken: BTreeSet<String>,
}

impl Dialects {
    /// Only the built-in dialects.
    pub fn builtin() -> Self {
        Self {
            profiles: Profiles::builtin(),
            defined: BTreeMap::new(),
            broken: BTreeSet::new(),
        }
    }
}

/// `[dialect.NAME]`, each read (inline or from its file) and resolved; problems are pushed with
/// their key paths (`dialect.acme.extends`).
pub(super) fn read(
    value: Option<toml::Value>,
    base: Option<&Path>,
    problems: &mut Vec<Problem>,
) -> Dialects {
    let mut dialects = Dialects::builtin();
    let tables = match value {
        None => return dialects,
        Some(toml::Value::Table(tables)) => tables,
        Some(other) => {
            problems.push(problem(
                "dialect",
                format!(
                    "must be a table of profiles ([dialect.NAME]), not {}",
                    other.type_str()
                ),
            ));
            return dialects;
        }
    };
    let mut written = BTreeMap::new();
    for (name, value) in tables {
        let key = format!("dialect.{name}");
        match profile_table(&key, value, base) {
            Ok(table) => {
                written.insert(name, table);
            }
            Err(p) => {
                problems.push(p);
                dialects.broken.insert(name);
            }
        }
    }
    let profiles = match Profiles::with(written.clone()) {
        Ok(profiles) => profiles,
        Err(clashes) => {
            // Routes naming a clashing name get the built-in profile, as they would without
            // the definition; the other definitions still stand.
            for (name, message) in clashes {
                written.remove(&name);
                problems.push(problem(format!("dialect.{name}"), message));
            }
            Profiles::with(written.clone()).unwrap_or_default()
        }
    };
    for (name, table) in &written {
        match profiles.table(name) {
            Ok(resolved) => {
                dialects.defined.insert(name.clone(), resolved);
            }
            Err(message) => {
                problems.push(problem(resolution_key(name, table, &profiles), message));
                dialects.broken.insert(name.clone());
            }
        }
    }
    dialects.profiles = profiles;
    dialects
}

/// Where a profile that does not resolve is wrong: its own `extends` when that names no
/// profile at all; otherwise the profile (the message names the link of the chain at fault).
fn resolution_key(name: &str, table: &toml::Table, profiles: &Profiles) -> String {
    match table.get("extends") {
        Some(toml::Value::String(base)) if profiles.is_dialect(base) || builtin(base).is_some() => {
            format!("dialect.{name}")
        }
        Some(_) => format!("dialect.{name}.extends"),
        None => format!("dialect.{name}"),
    }
}

/// A defined profile's table as written: inline, or read from `file` (which then stands alone).
fn profile_table(
    key: &str,
    value: toml::Value,
    base: Option<&Path>,
) -> Result<toml::Table, Problem> {
    let toml::Value::Table(mut table) = value else {
        return Err(problem(
            key,
            format!(
                "must be a table: a profile's keys, or file = \"NAME.toml\"; not {}",
                value.type_str()
            ),
        ));
    };
    let Some(file) = table.remove("file") else {
        return Ok(table);
    };
    let file_key = format!("{key}.file");
    let toml::Value::String(file) = file else {
        return Err(problem(file_key, "must be a path (a string)"));
    };
    if !table.is_empty() {
        let inline: Vec<&str> = table.keys().map(String::as_str).collect();
        return Err(problem(
            file_key,
            format!(
                "a profile is either inline or in a file, not both: move {} into {file}",
                inline.join(", ")
            ),
        ));
    }
    let path = match base {
        Some(base) if Path::new(&file).is_relative() => base.join(&file),
        _ => Path::new(&file).to_path_buf(),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| problem(&file_key, format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
        let at = line.map_or(String::new(), |line| format!(" line {line}"));
        problem(
            file_key,
            format!(
                "{}{at} is not a TOML profile: {}",
                path.display(),
                e.message()
            ),
        )
    })
}

/// A profile table (a dialect's, with a route's overrides when it is a route's) compiled into a
/// route named after `dialect`. Every unknown key is a problem, the deepest included, with the
/// keys its table knows where the profile language says.
pub(super) fn build(dialect: &str, table: toml::Table) -> Result<TokenRoute, Vec<ProfileIssue>> {
    let read = read::deserialize::<Profile>(toml::Value::Table(table));
    let mut issues: Vec<ProfileIssue> = read
        .unknown
        .iter()
        .map(|path| {
            let (name, parent) = match path.split_last() {
                Some((Segment::Key(name), parent)) => (name.as_str(), parent),
                _ => ("", &path[..]),
            };
            (
                read::key_path("", path),
                read::unknown_key(name, known_keys(parent)),
            )
        })
        .collect();
    let profile = match read.value {
        Ok(profile) => profile,
        Err(issue) => {
            issues.push(issue);
            return Err(issues);
        }
    };
    match TokenRoute::compile(dialect, profile) {
        Ok(route) if issues.is_empty() => Ok(route),
        Ok(_) => Err(issues),
        Err(problems) => {
            issues.extend(problems.into_iter().map(|p| (p.key, p.message)));
            Err(issues)
        }
    }
}

/// The keys of the profile table at `parent` (a path below the profile), as the profile
/// language (`dialect::profile`) types it; `None` where that is not a struct of it.
fn known_keys(parent: &[Segment]) -> Option<&'static [&'static str]> {
    use Segment::{Index, Key};
    let key = |segment: &Segment, name: &str| matches!(segment, Key(k) if k == name);
    match parent {
        [] => read::fields::<Profile>(),
        [a] if key(a, "request") => read::fields::<RequestSpec>(),
        [a] if key(a, "response") => read::fields::<ResponseSpec>(),
        [a] if key(a, "error_response") => read::fields::<ErrorResponseSpec>(),
        [a, Key(_)] if key(a, "errors") => read::fields::<ErrorEntry>(),
        [a, b] if key(a, "request") && key(b, "fields") => read::fields::<RequestFields>(),
        [a, b] if key(a, "request") && key(b, "xml") => read::fields::<XmlRequestSpec>(),
        [a, b] if (key(a, "response") || key(a, "error_response")) && key(b, "xml") => {
            read::fields::<XmlContractSpec>()
        }
        [a, Key(_), b] if key(a, "errors") && key(b, "xml") => read::fields::<XmlContractSpec>(),
        [a, b, Index(_)]
            if (key(a, "response") || key(a, "error_response")) && key(b, "fields") =>
        {
            read::fields::<FieldSpec>()
        }
        [a, Key(_), b, Index(_)] if key(a, "errors") && key(b, "fields") => {
            read::fields::<FieldSpec>()
        }
        // A member's per-format table: `response.fields[2].xml`, `errors.x.fields[0].json`.
        [.., Index(_), c] if key(c, "json") || key(c, "xml") => read::fields::<FormatSpec>(),
        _ => None,
    }
}
