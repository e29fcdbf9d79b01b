//! docs/profiles.md documents every key a profile accepts. The keys are read from the code, not
//! from a list kept by hand: a recording `serde::Deserializer` ([`Probe`]) is handed to
//! `Profile::deserialize` and answers every request the derived impls make, so it sees each
//! struct's field names (`deserialize_struct`), each map (`<>` for its keys), each list (`[]`)
//! and each enum's variant names (`deserialize_enum`). A field added to any profile struct is
//! then a key the page must have.
//!
//! The page's side of the contract (stated at the top of docs/profiles.md): every key is the
//! first cell of a row of a table whose header starts `| key |`, written in backticks as its
//! dotted path, with `<...>` for a map's key (`errors.<row>.status`) and `[]` for a list's item
//! (`response.fields[].name`). A struct used in several places (a field entry, an XML contract)
//! is listed once, under the first path it has, and the other places name only the key that
//! holds it. Enum values, row names and value sources must appear somewhere in backticks.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use tokengate::dialect::profile::CredentialSource;
use tokengate::dialect::value::Source;
use tokengate::dialect::{ErrorKind, Profile};

use crate::helpers::repo_path;

type Error = de::value::Error;

/// What the probe saw while `Profile::deserialize` ran.
#[derive(Default)]
struct Seen {
    /// Key paths, `<>` for any map key, each struct's keys under its first path only.
    keys: BTreeSet<String>,
    /// Every key path, a struct's keys under each path it has (`error_response.xml.root`).
    all_keys: BTreeSet<String>,
    /// The first path each struct was met at: later uses are not listed again.
    structs: BTreeMap<&'static str, String>,
    /// Enum variant names, by the path of the value.
    variants: BTreeMap<String, &'static [&'static str]>,
    /// Paths whose `Deserialize` asked for `deserialize_any` (a hand-written or untagged impl):
    /// the probe cannot see their keys, so each needs handling of its own below.
    opaque: BTreeSet<String>,
}

/// A deserializer that answers every request with a minimal valid value and records the shape
/// it was asked for. `record` is false below a struct that was already listed elsewhere.
struct Probe<'s> {
    path: String,
    record: bool,
    seen: &'s RefCell<Seen>,
}

impl<'s> Probe<'s> {
    fn at(&self, segment: &str) -> Probe<'s> {
        let path = if self.path.is_empty() {
            segment.to_owned()
        } else if segment.starts_with('[') {
            format!("{}{segment}", self.path)
        } else {
            format!("{}.{segment}", self.path)
        };
        Probe {
            path,
            record: self.record,
            seen: self.seen,
        }
    }

    /// Records this path as a key (a struct's field, a map's entry).
    fn key(&self) {
        let mut seen = self.seen.borrow_mut();
        seen.all_keys.insert(self.path.clone());
        if self.record {
            seen.keys.insert(self.path.clone());
        }
    }
}

macro_rules! answer {
    ($($method:ident => $visit:ident($value:expr)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.$visit($value)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = Error;

    answer! {
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i64(1),
        deserialize_i16 => visit_i64(1),
        deserialize_i32 => visit_i64(1),
        deserialize_i64 => visit_i64(1),
        deserialize_u8 => visit_u64(1),
        deserialize_u16 => visit_u64(200),
        deserialize_u32 => visit_u64(1),
        deserialize_u64 => visit_u64(1),
        deserialize_f32 => visit_f64(1.0),
        deserialize_f64 => visit_f64(1.0),
        deserialize_char => visit_char('x'),
        // A duration too (`access_token_ttl`), so it must parse as one.
        deserialize_str => visit_str("1s"),
        deserialize_string => visit_str("1s"),
        deserialize_identifier => visit_str("1s"),
        deserialize_bytes => visit_bytes(b"1s"),
        deserialize_byte_buf => visit_bytes(b"1s"),
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.seen.borrow_mut().opaque.insert(self.path.clone());
        // The one such impl, CredentialSource's, takes a name.
        visitor.visit_str("basic")
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(Items {
            probe: Some(self.at("[]")),
            left: 1,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        // A `[name, value]` pair: its items are not keys.
        let mut item = self.at("[]");
        item.record = false;
        visitor.visit_seq(Items {
            probe: Some(item),
            left: len,
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let entry = self.at("<>");
        entry.key();
        visitor.visit_map(Entries {
            keys: vec![MapKey(Probe {
                path: entry.path.clone(),
                record: false,
                seen: entry.seen,
            })],
            value: Some(entry),
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let mut probe = self;
        {
            let mut seen = probe.seen.borrow_mut();
            match seen.structs.get(name) {
                Some(first) if *first != probe.path => probe.record = false,
                _ => {
                    seen.structs.insert(name, probe.path.clone());
                }
            }
        }
        visitor.visit_map(Fields {
            fields: fields.iter(),
            probe,
            current: None,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.seen
            .borrow_mut()
            .variants
            .insert(self.path.clone(), variants);
        visitor.visit_enum(Variant {
            name: variants[0],
            probe: self,
        })
    }
}

/// A list of `left` items, each answered by the probe.
struct Items<'s> {
    probe: Option<Probe<'s>>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Items<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some(probe) = &self.probe else {
            return Ok(None);
        };
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let item = Probe {
            path: probe.path.clone(),
            record: probe.record,
            seen: probe.seen,
        };
        seed.deserialize(item).map(Some)
    }
}

/// A map key: a string, or an enum (`request.required`'s grants), never recorded as a key.
struct MapKey<'s>(Probe<'s>);

/// A map with one entry.
struct Entries<'s> {
    keys: Vec<MapKey<'s>>,
    value: Option<Probe<'s>>,
}

impl<'de> de::MapAccess<'de> for Entries<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.keys.pop() {
            Some(MapKey(probe)) => seed.deserialize(probe).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let probe = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("no value"))?;
        seed.deserialize(probe)
    }
}

/// A struct's fields, every one of them present.
struct Fields<'s> {
    fields: std::slice::Iter<'static, &'static str>,
    probe: Probe<'s>,
    current: Option<&'static str>,
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(&field) = self.fields.next() else {
            return Ok(None);
        };
        self.current = Some(field);
        let key: de::value::StrDeserializer<'_, Error> = field.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let field = self
            .current
            .take()
            .ok_or_else(|| de::Error::custom("no field"))?;
        let probe = self.probe.at(field);
        probe.key();
        seed.deserialize(probe)
    }
}

/// An enum value: its first variant.
struct Variant<'s> {
    name: &'static str,
    probe: Probe<'s>,
}

impl<'de, 's> de::EnumAccess<'de> for Variant<'s> {
    type Error = Error;
    type Variant = Probe<'s>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Probe<'s>), Error> {
        let name: de::value::StrDeserializer<'_, Error> = self.name.into_deserializer();
        Ok((seed.deserialize(name)?, self.probe))
    }
}

impl<'de> de::VariantAccess<'de> for Probe<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

/// Every key path `Profile::deserialize` reads, what the probe saw of values, and the paths it
/// could not see into.
fn traced() -> Seen {
    let seen = RefCell::new(Seen::default());
    let probe = Probe {
        path: String::new(),
        record: true,
        seen: &seen,
    };
    if let Err(e) = Profile::deserialize(probe) {
        panic!("the probe could not walk Profile's Deserialize: {e}");
    }
    seen.into_inner()
}

/// A credential source's name as a profile writes it, and the keys of its table form. Its
/// `Deserialize` is written by hand around an untagged enum, which no deserializer can see
/// into; this match stops compiling when a variant or a field is added, and the round trip in
/// the last test proves the names are the ones serde reads.
fn credential_source_form(source: &CredentialSource) -> (&'static str, &'static [&'static str]) {
    match source {
        CredentialSource::Basic => ("basic", &[]),
        CredentialSource::Body => ("body", &[]),
        CredentialSource::Header {
            header: _,
            secret_header: _,
        } => ("header", &["header", "secret_header"]),
    }
}

/// One of each credential source, for [`credential_source_form`].
fn credential_sources() -> [CredentialSource; 3] {
    [
        CredentialSource::Basic,
        CredentialSource::Body,
        CredentialSource::Header {
            header: String::new(),
            secret_header: None,
        },
    ]
}

/// The keys handled before a profile is deserialized, taken out of the table by name
/// (`table.remove("extends")`): read from the two files that do it.
fn keys_taken_before_deserializing() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for file in ["src/dialect/source.rs", "src/config/routes.rs"] {
        let text = std::fs::read_to_string(repo_path(file)).expect("source file");
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".remove(\"") {
            rest = &rest[at + ".remove(\"".len()..];
            if let Some(end) = rest.find('"') {
                keys.insert(rest[..end].to_owned());
            }
        }
    }
    keys
}

/// `<media-type>` and `<row>` both become `<>`.
fn normalise(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut inside = false;
    for ch in path.chars() {
        match ch {
            '<' => {
                inside = true;
                out.push('<');
            }
            '>' if inside => {
                inside = false;
                out.push('>');
            }
            _ if inside => {}
            _ => out.push(ch),
        }
    }
    out
}

/// The text of each code span in `text` (`` `a` `` and ``` ``a `b` c`` ```, CommonMark's rule:
/// a span closes at the next run of as many backticks), fenced blocks left out.
fn backticked(text: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(open) = rest.find('`') {
            let after = &rest[open..];
            let ticks = after.len() - after.trim_start_matches('`').len();
            let body = &after[ticks..];
            let fence = "`".repeat(ticks);
            let mut search = 0;
            let close = loop {
                match body[search..].find(&fence) {
                    None => break None,
                    Some(at) => {
                        let at = search + at;
                        let run = body[at..].len() - body[at..].trim_start_matches('`').len();
                        if run == ticks {
                            break Some(at);
                        }
                        search = at + run;
                    }
                }
            };
            let Some(close) = close else {
                break;
            };
            let span = &body[..close];
            spans.push(if ticks > 1 { span.trim() } else { span });
            rest = &body[close + ticks..];
        }
    }
    spans
}

/// The keys the page lists: the first cell of each row of its `| key |` tables.
fn documented_keys(page: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut in_key_table = false;
    for line in page.lines() {
        let line = line.trim();
        if !line.starts_with('|') {
            in_key_table = false;
            continue;
        }
        let first = line.trim_start_matches('|').split('|').next().unwrap_or("");
        if first.trim() == "key" {
            in_key_table = true;
            continue;
        }
        if in_key_table {
            keys.extend(backticked(first).into_iter().map(normalise));
        }
    }
    keys
}

fn page() -> String {
    std::fs::read_to_string(repo_path("docs/profiles.md")).expect("docs/profiles.md")
}

#[test]
fn every_key_a_profile_accepts_is_in_the_reference_and_every_listed_key_exists() {
    let seen = traced();
    let page = page();
    let documented = documented_keys(&page);

    assert_eq!(
        seen.opaque,
        BTreeSet::from(["request.client_credentials[]".to_owned()]),
        "a Deserialize the probe cannot see into: give it handling like credential_source_form"
    );
    let mut accepted = seen.keys.clone();
    for source in credential_sources() {
        let (_, keys) = credential_source_form(&source);
        accepted.extend(
            keys.iter()
                .map(|key| format!("request.client_credentials[].{key}")),
        );
    }
    accepted.extend(keys_taken_before_deserializing());
    assert!(
        accepted.contains("extends") && accepted.contains("remove") && accepted.contains("dialect"),
        "the scan for keys taken before deserializing found {accepted:?}"
    );

    let undocumented: Vec<_> = accepted.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "keys a profile accepts that docs/profiles.md has no `| key |` table row for: \
         {undocumented:?}"
    );
    let mut anywhere = seen.all_keys.clone();
    anywhere.extend(accepted.iter().cloned());
    let unknown: Vec<_> = documented.difference(&anywhere).collect();
    assert!(
        unknown.is_empty(),
        "docs/profiles.md lists keys no profile accepts: {unknown:?}"
    );
}

#[test]
fn every_value_name_row_and_source_is_in_the_reference() {
    let seen = traced();
    let page = page();
    let spans: BTreeSet<&str> = backticked(&page).into_iter().collect();
    // By name: a value type missing is reported once, not at each of its dozen paths.
    let mut missing = BTreeMap::new();
    let mut want = |what: String, name: &str| {
        if !spans.contains(name) {
            missing.entry(name.to_owned()).or_insert(what);
        }
    };
    // Named at a path the page lists, where there is one.
    let mut by_path: Vec<_> = seen.variants.iter().collect();
    by_path.sort_by_key(|(path, _)| !seen.keys.contains(*path));
    for (path, variants) in by_path {
        for variant in *variants {
            want(format!("a value of {path}"), variant);
        }
    }
    for source in credential_sources() {
        want(
            "credential source".into(),
            credential_source_form(&source).0,
        );
    }
    for kind in ErrorKind::ALL {
        want("error row".into(), kind.as_str());
    }
    // The parser names every source it knows when it meets one it does not.
    for probe in ["\u{0}", "request.\u{0}"] {
        let message = Source::parse(probe).expect_err("not a source");
        let list = message
            .split_once("known: ")
            .or_else(|| message.split_once("may echo "))
            .map(|(_, list)| list.trim_end_matches(" (never a secret)"))
            .unwrap_or_else(|| panic!("no list of sources in {message:?}"));
        for name in list.split(", ") {
            want("value source".into(), name);
        }
    }
    assert!(
        missing.is_empty(),
        "docs/profiles.md does not name, in backticks: {missing:?}"
    );
}

#[test]
fn the_probe_sees_nested_keys_and_the_credential_source_round_trips() {
    let seen = traced();
    for key in [
        "request.xml.namespace",
        "response.xml.namespace_order",
        "response.fields[].xml",
        "response.fields[].json.name",
        "errors.<>.headers",
        "errors.<>.fields",
        "request.body.<>",
        "request.required.<>",
        "refresh_token_ttl",
    ] {
        assert!(seen.keys.contains(key), "{key} not traced: {:?}", seen.keys);
    }
    // A struct listed once: the contract of error bodies is the one of response.xml.
    assert!(!seen.keys.contains("error_response.xml.root"));
    assert_eq!(
        seen.variants.get("request.body.<>").map(|v| v.len()),
        Some(7)
    );

    #[derive(Deserialize)]
    struct One {
        source: CredentialSource,
    }
    let (_, keys) = credential_source_form(&credential_sources()[2]);
    let text = format!(
        "source = {{ {} }}",
        keys.iter()
            .map(|key| format!("{key} = \"X-{key}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let one: One = toml::from_str(&text).expect("the documented keys read");
    assert_eq!(
        one.source,
        CredentialSource::Header {
            header: "X-header".into(),
            secret_header: Some("X-secret_header".into()),
        }
    );
}
