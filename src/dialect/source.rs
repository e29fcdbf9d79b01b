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

/// A built-in dialect's profile as one table, with every profile it extends merged beneath it
/// (the `extends` key itself removed). `Err` says what is wrong with a built-in source, which
/// a test rules out for every dialect in the binary.
pub fn builtin_table(name: &str) -> Result<toml::Table, String> {
    let mut chain = Vec::new();
    let mut next = Some(name.to_owned());
    while let Some(name) = next {
        if chain.len() == MAX_DEPTH {
            return Err(format!(
                "extends chains more than {MAX_DEPTH} profiles deep"
            ));
        }
        let source = builtin(&name).ok_or_else(|| format!("no built-in profile {name:?}"))?;
        let mut table: toml::Table = toml::from_str(source)
            .map_err(|e| format!("built-in profile {name:?} is broken: {e}"))?;
        next = match table.remove("extends") {
            None => None,
            Some(toml::Value::String(base)) => Some(base),
            Some(_) => return Err(format!("{name:?}: extends must be a profile's name")),
        };
        chain.push(table);
    }
    let mut merged = toml::Table::new();
    for table in chain.into_iter().rev() {
        merge(&mut merged, table);
    }
    Ok(merged)
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
}
