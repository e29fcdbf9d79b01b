//! Profiles as TOML tables, before they are typed: the sources built into the binary, the
//! `extends` key that lays one profile over another, and the one merge rule for both that and a
//! route's overrides: tables merge key by key, anything else (arrays included) is replaced.

#![deny(missing_docs)]

/// The profiles built into the binary: name, source. Dialects a route can name, and bases
/// (`common`) that dialects extend.
const SOURCES: &[(&str, &str)] = &[
    ("vizseek", include_str!("../../dialects/vizseek.toml")),
    ("swagger", include_str!("../../dialects/swagger.toml")),
    ("owin", include_str!("../../dialects/owin.toml")),
    ("common", include_str!("../../dialects/common.toml")),
];

/// The built-in dialects a route can name, in the order messages list them.
pub const DIALECTS: &[&str] = &["vizseek", "swagger", "owin"];

/// How deep `extends` may chain: far more than any real profile needs, and a bound on a cycle.
const MAX_DEPTH: usize = 8;

/// The source of a built-in profile (a dialect or a base).
pub fn builtin(name: &str) -> Option<&'static str> {
    SOURCES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, source)| *source)
}

/// A built-in dialect's profile as one table (see [`Profiles::table`]).
pub fn builtin_table(name: &str) -> Result<toml::Table, String> {
    Profiles::builtin().table(name)
}

/// Every profile a route may name or a profile may extend: the built-in ones, and those a
/// configuration defines (`[dialect.NAME]`), which may extend either.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    defined: std::collections::BTreeMap<String, toml::Table>,
}

impl Profiles {
    /// Only the built-in profiles.
    pub fn builtin() -> Self {
        Self::default()
    }

    /// The built-in profiles and `defined` (name, the profile's table as written, `extends` and
    /// `remove` included). A defined profile may not take a built-in one's name: a route naming
    /// it would silently change meaning.
    pub fn with(
        defined: std::collections::BTreeMap<String, toml::Table>,
    ) -> Result<Self, Vec<(String, String)>> {
        let clashes: Vec<_> = defined
            .keys()
            .filter(|name| builtin(name).is_some())
            .map(|name| {
                (
                    name.clone(),
                    format!("{name:?} is a built-in profile's name; give yours another"),
                )
            })
            .collect();
        if clashes.is_empty() {
            Ok(Self { defined })
        } else {
            Err(clashes)
        }
    }

    /// Whether a route may name `name`: a built-in dialect or a defined profile (bases like
    /// `common` are for extending only).
    pub fn is_dialect(&self, name: &str) -> bool {
        DIALECTS.contains(&name) || self.defined.contains_key(name)
    }

    /// The names a route may use, for messages.
    pub fn dialect_names(&self) -> String {
        DIALECTS
            .iter()
            .copied()
            .chain(self.defined.keys().map(String::as_str))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn layer(&self, name: &str) -> Result<toml::Table, String> {
        if let Some(table) = self.defined.get(name) {
            return Ok(table.clone());
        }
        let source = builtin(name).ok_or_else(|| {
            format!(
                "no profile {name:?}; known: {}, common",
                self.dialect_names()
            )
        })?;
        toml::from_str(source).map_err(|e| format!("built-in profile {name:?} is broken: {e}"))
    }

    /// A profile as one table: every profile it extends laid beneath it, base first, each layer
    /// applied by [`apply`] (its `remove` paths first, then its keys). `Err` names what is wrong:
    /// an unknown base, a cycle, a malformed `extends` or `remove`.
    pub fn table(&self, name: &str) -> Result<toml::Table, String> {
        let mut chain = Vec::new();
        let mut next = Some(name.to_owned());
        while let Some(name) = next {
            if chain.iter().any(|(seen, _)| *seen == name) || chain.len() == MAX_DEPTH {
                let names: Vec<&str> = chain
                    .iter()
                    .map(|(n, _): &(String, _)| n.as_str())
                    .collect();
                return Err(format!(
                    "extends goes round in a circle or deeper than {MAX_DEPTH} profiles: {} -> {name}",
                    names.join(" -> ")
                ));
            }
            let mut table = self.layer(&name)?;
            next = match table.remove("extends") {
                None => None,
                Some(toml::Value::String(base)) => Some(base),
                Some(_) => return Err(format!("{name:?}: extends must be a profile's name")),
            };
            chain.push((name, table));
        }
        let mut merged = toml::Table::new();
        for (name, table) in chain.into_iter().rev() {
            apply(&mut merged, table).map_err(|e| format!("{name:?}: {e}"))?;
        }
        Ok(merged)
    }
}

/// Lays `layer` over `base`: first the key paths its `remove` array names are taken out of
/// `base` (an inherited body codec, error row or header list), then its keys are merged by
/// [`merge`]. A path is written as a TOML dotted key: `"request.body.\"text/xml\""`,
/// `"errors.throttled.headers"`. `Err` names a path that is not a key path or names nothing.
pub fn apply(base: &mut toml::Table, mut layer: toml::Table) -> Result<(), String> {
    if let Some(paths) = layer.remove("remove") {
        let toml::Value::Array(paths) = paths else {
            return Err("remove must be an array of key paths".into());
        };
        for path in paths {
            let toml::Value::String(path) = path else {
                return Err("remove must be an array of key paths (strings)".into());
            };
            let keys = key_path(&path)?;
            if !remove_path(base, &keys) {
                return Err(format!("remove: {path:?} names no inherited key"));
            }
        }
    }
    merge(base, layer);
    Ok(())
}

/// The keys of a TOML dotted key (`a."b.c".d` is `a`, `b.c`, `d`), parsed by the TOML parser
/// itself so quoting works as it does everywhere else in the file.
fn key_path(path: &str) -> Result<Vec<String>, String> {
    let not_a_path =
        || format!("remove: {path:?} is not a key path such as \"errors.throttled.headers\"");
    let probe: toml::Table = toml::from_str(&format!("{path} = 0")).map_err(|_| not_a_path())?;
    let mut keys = Vec::new();
    let mut table = &probe;
    loop {
        let mut entries = table.iter();
        let (key, value) = entries.next().ok_or_else(not_a_path)?;
        if entries.next().is_some() {
            return Err(not_a_path());
        }
        keys.push(key.clone());
        match value {
            toml::Value::Table(inner) => table = inner,
            _ => return Ok(keys),
        }
    }
}

fn remove_path(table: &mut toml::Table, keys: &[String]) -> bool {
    match keys {
        [] => false,
        [last] => table.remove(last).is_some(),
        [first, rest @ ..] => match table.get_mut(first) {
            Some(toml::Value::Table(inner)) => remove_path(inner, rest),
            _ => false,
        },
    }
}

/// Lays `overrides` over `base`: tables merge key by key, anything else is replaced.
pub fn merge(base: &mut toml::Table, overrides: toml::Table) {
    for (key, value) in overrides {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(inner)), toml::Value::Table(over)) => merge(inner, over),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dialect_gets_the_rows_of_the_profile_it_extends_and_keeps_its_own() {
        let vizseek = builtin_table("vizseek").unwrap();
        assert!(!vizseek.contains_key("extends"));
        let errors = vizseek["errors"].as_table().unwrap();
        // From common.toml.
        assert_eq!(errors["internal"]["status"].as_integer(), Some(500));
        // Its own wording.
        assert_eq!(
            errors["unknown_client"]["description"].as_str(),
            Some("'client_id' incorrect.")
        );
        let swagger = builtin_table("swagger").unwrap();
        // A row of its own replaces the base's keys and adds a body shape.
        let method = swagger["errors"]["method_not_allowed"].as_table().unwrap();
        assert_eq!(method["error"].as_str(), Some("method_not_allowed"));
        assert!(method.contains_key("fields"));
    }

    #[test]
    fn tables_merge_and_arrays_replace() {
        let mut base: toml::Table = toml::from_str("a = [1, 2]\n[t]\nx = 1\ny = 2\n").unwrap();
        merge(
            &mut base,
            toml::from_str("a = [3]\n[t]\ny = 20\nz = 30\n").unwrap(),
        );
        assert_eq!(
            base,
            toml::from_str::<toml::Table>("a = [3]\n[t]\nx = 1\ny = 20\nz = 30\n").unwrap()
        );
    }

    #[test]
    fn an_unknown_base_is_named() {
        assert!(builtin_table("nope").unwrap_err().contains("\"nope\""));
    }

    fn defined(entries: &[(&str, &str)]) -> Profiles {
        Profiles::with(
            entries
                .iter()
                .map(|(name, text)| ((*name).to_owned(), toml::from_str(text).unwrap()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn a_defined_profile_extends_a_built_in_one_and_removes_what_it_must_not_inherit() {
        let profiles = defined(&[(
            "acme",
            "extends = \"swagger\"\nremove = [\"request.body.\\\"text/xml\\\"\", \"errors.missing_client_id.headers\"]\npath = \"/acme/token\"\n",
        )]);
        let acme = profiles.table("acme").unwrap();
        assert_eq!(acme["path"].as_str(), Some("/acme/token"));
        let body = acme["request"]["body"].as_table().unwrap();
        assert!(!body.contains_key("text/xml") && body.contains_key("application/xml"));
        let row = acme["errors"]["missing_client_id"].as_table().unwrap();
        assert!(!row.contains_key("headers") && row.contains_key("status"));
        // Inherited from swagger's own base.
        assert!(acme["errors"].as_table().unwrap().contains_key("internal"));
        assert!(profiles.is_dialect("acme") && !profiles.is_dialect("common"));
    }

    #[test]
    fn chains_of_defined_profiles_resolve_and_circles_are_named() {
        let profiles = defined(&[
            ("a", "extends = \"b\"\n"),
            ("b", "extends = \"vizseek\"\npath = \"/b\"\n"),
            ("x", "extends = \"y\"\n"),
            ("y", "extends = \"x\"\n"),
        ]);
        assert_eq!(profiles.table("a").unwrap()["path"].as_str(), Some("/b"));
        assert!(profiles.table("x").unwrap_err().contains("circle"));
    }

    #[test]
    fn remove_names_an_inherited_key_or_is_refused() {
        let profiles = defined(&[("a", "extends = \"vizseek\"\nremove = [\"nothing.here\"]\n")]);
        assert!(
            profiles
                .table("a")
                .unwrap_err()
                .contains("names no inherited key")
        );
        let profiles = defined(&[("a", "extends = \"vizseek\"\nremove = [\"not a path!\"]\n")]);
        assert!(profiles.table("a").unwrap_err().contains("not a key path"));
        assert!(
            Profiles::with(
                [("owin".to_owned(), toml::Table::new())]
                    .into_iter()
                    .collect()
            )
            .is_err()
        );
    }
}
