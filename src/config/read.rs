//! Reading one section (or one array item) of the TOML into its raw struct, so that every unknown
//! key is a problem of its own and one section's type error does not hide another's problems.
//! `deny_unknown_fields` would stop at the first unknown key; `serde_ignored` reports each key
//! the struct skips instead, and `serde_path_to_error` names where a type error is.

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

use super::{Problem, problem};

/// A key path below a section, as serde_ignored reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Segment {
    Key(String),
    Index(usize),
}

/// `base` and `segments` as one key path: `route[0].errors.x`, `client[1].scret`.
pub(super) fn key_path(base: &str, segments: &[Segment]) -> String {
    let mut key = base.to_owned();
    for segment in segments {
        match segment {
            Segment::Key(name) if key.is_empty() => key.push_str(name),
            Segment::Key(name) => {
                key.push('.');
                key.push_str(name);
            }
            Segment::Index(i) => key.push_str(&format!("[{i}]")),
        }
    }
    key
}

fn segments(path: &serde_ignored::Path<'_>, out: &mut Vec<Segment>) {
    match path {
        serde_ignored::Path::Root => {}
        serde_ignored::Path::Seq { parent, index } => {
            segments(parent, out);
            out.push(Segment::Index(*index));
        }
        serde_ignored::Path::Map { parent, key } => {
            segments(parent, out);
            out.push(Segment::Key(key.clone()));
        }
        serde_ignored::Path::Some { parent }
        | serde_ignored::Path::NewtypeStruct { parent }
        | serde_ignored::Path::NewtypeVariant { parent } => segments(parent, out),
    }
}

/// What deserializing `value` as `T` found: the value when it could be read, and each key `T`
/// has no field for, as segments relative to `value`.
pub(super) struct Read<T> {
    pub value: Result<T, (String, String)>,
    pub unknown: Vec<Vec<Segment>>,
}

/// Deserializes `value` as `T`, collecting unknown keys rather than stopping at the first. A
/// type error is returned as (relative key path, message). Deserializing stops at a type error,
/// so the unknown keys of `T`'s own table are also found by name, wherever they sort.
pub(super) fn deserialize<T: DeserializeOwned>(value: toml::Value) -> Read<T> {
    let names: Vec<String> = match &value {
        toml::Value::Table(table) => table.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| {
        let mut out = Vec::new();
        segments(&path, &mut out);
        unknown.push(out);
    };
    let value =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(value, &mut note))
            .map_err(|e| {
                let path = e.path().to_string();
                let path = if path == "." { String::new() } else { path };
                // The message alone: toml's Display adds "in `key`" lines, and the path says where.
                (path, e.inner().message().to_owned())
            });
    if value.is_err()
        && let Some(known) = fields::<T>()
    {
        for name in names {
            if !known.contains(&name.as_str()) {
                let path = vec![Segment::Key(name)];
                if !unknown.contains(&path) {
                    unknown.push(path);
                }
            }
        }
        unknown.sort();
    }
    Read { value, unknown }
}

/// The message for an unknown key, worded as serde's `deny_unknown_fields` words it, so the
/// known keys are listed the same way everywhere.
pub(super) fn unknown_key(name: &str, known: Option<&'static [&'static str]>) -> String {
    match known {
        Some(known) => <de::value::Error as de::Error>::unknown_field(name, known).to_string(),
        None => format!("unknown field `{name}`"),
    }
}

/// Reads one section or array item at `key` as `T`, every unknown key and a type error pushed as
/// problems with their key paths. `None`: it could not be read (its problem is pushed).
pub(super) fn section<T: DeserializeOwned>(
    key: &str,
    value: toml::Value,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    let read = deserialize::<T>(value);
    let known = fields::<T>();
    for path in &read.unknown {
        let name = match path.last() {
            Some(Segment::Key(name)) => name.as_str(),
            _ => "",
        };
        // A raw struct's nested tables are free-form (attributes) or read item by item, so
        // the known keys are those of `T` only for its own keys.
        let known = if path.len() == 1 { known } else { None };
        problems.push(problem(key_path(key, path), unknown_key(name, known)));
    }
    match read.value {
        Ok(value) => Some(value),
        Err((path, message)) => {
            let at = if path.is_empty() {
                key.to_owned()
            } else if key.is_empty() {
                path
            } else if path.starts_with('[') {
                format!("{key}{path}")
            } else {
                format!("{key}.{path}")
            };
            problems.push(problem(at, message));
            None
        }
    }
}

/// The field names of a struct `T` derives `Deserialize` for, as serde passes them to the
/// deserializer (renames applied); `None` for anything that is not such a struct.
pub(super) fn fields<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    let mut found = None;
    // The probe refuses every value, so `T` never sees one: only the field list is taken.
    let _ = T::deserialize(FieldProbe(&mut found));
    found
}

struct FieldProbe<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("field probe"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("field probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// A positive duration (or zero, where `zero` says it means something), or a problem.
pub(super) fn duration(
    key: &str,
    text: Option<&str>,
    default: std::time::Duration,
    zero: bool,
    problems: &mut Vec<Problem>,
) -> std::time::Duration {
    let Some(text) = text else {
        return default;
    };
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() || zero => d,
        Ok(_) => {
            problems.push(problem(key, "must be more than zero"));
            default
        }
        Err(e) => {
            problems.push(problem(
                key,
                format!("{text:?} is not a duration ({e}); e.g. \"1s\""),
            ));
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Probe {
        a: u32,
        #[serde(rename = "type", default)]
        kind: String,
        #[serde(default)]
        inner: Vec<toml::Table>,
    }

    #[test]
    fn every_unknown_key_is_reported_with_the_known_ones() {
        let value: toml::Value = toml::from_str("a = 1\nb = 2\nc = 3\n").unwrap();
        let mut problems = Vec::new();
        let read: Option<Probe> = section("s", value, &mut problems);
        assert!(read.is_some());
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "s.b: unknown field `b`, expected one of `a`, `type`, `inner`",
                "s.c: unknown field `c`, expected one of `a`, `type`, `inner`",
            ]
        );
    }

    #[test]
    fn a_type_error_is_named_with_its_path_and_unknown_keys_before_it_too() {
        let value: toml::Value = toml::from_str("x = 1\na = \"one\"\n").unwrap();
        let mut problems = Vec::new();
        let read: Option<Probe> = section("client[2]", value, &mut problems);
        assert!(read.is_none());
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["client[2].x", "client[2].a"]);
    }

    #[test]
    fn the_probe_finds_the_fields_of_structs_only() {
        assert_eq!(fields::<Probe>(), Some(&["a", "type", "inner"][..]));
        assert_eq!(fields::<toml::Table>(), None);
    }
}
