//! Replays every golden exchange in `fixtures/<dialect>/` and `examples/dialects/<name>/` (see
//! `fixtures/README.md` for the format) against that folder's `config.toml`, with a fixed
//! clock, key and id source, and compares status, headers and body byte for byte.
//! `TOKENGATE_BLESS=1` rewrites the `.resp` files from what the gateway answers now. A case
//! may also have a `.sample.json` or `.sample.xml`: the body its legacy endpoint's documentation
//! shows, verbatim; the answer must have its shape (member names, order and kinds; the XML root,
//! its namespace declarations in order, the child elements in order and their nil or empty
//! forms), whatever the values.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use tokengate::engine::FixedClock;

use tokengate::config::Source;

use crate::helpers::{gateway_from_source, golden_instant, repo_path, send, service};

/// Headers that change with the transport or the wall clock, not with the dialect.
const UNCOMPARED: &[&str] = &["date", "content-length"];

struct Exchange {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn split_head(raw: &[u8]) -> (&[u8], &[u8]) {
    for (sep, len) in [(&b"\r\n\r\n"[..], 4), (&b"\n\n"[..], 2)] {
        if let Some(at) = raw.windows(len).position(|w| w == sep) {
            return (&raw[..at], &raw[at + len..]);
        }
    }
    (raw, &[])
}

/// A member of an answer body: a JSON member, or the text of an XML element.
fn member(body: &str, field: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        return json.get(field)?.as_str().map(str::to_owned);
    }
    let open = format!("<{field}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{field}>"))?;
    Some(body[start..start + end].to_owned())
}

/// Fills `{{NNN.field}}` with a member of an earlier case's answer.
fn substitute(text: &str, earlier: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        let reference = &rest[start + 2..start + end];
        let (case, field) = reference
            .split_once('.')
            .unwrap_or_else(|| panic!("placeholder {{{{{reference}}}}} needs CASE.field"));
        let value = earlier
            .get(case)
            .and_then(|body| member(body, field))
            .unwrap_or_else(|| panic!("placeholder {{{{{reference}}}}}: no such earlier value"));
        out.push_str(&value);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

fn parse_request(raw: &[u8], earlier: &HashMap<String, String>) -> Exchange {
    let (head, body) = split_head(raw);
    let head = substitute(&String::from_utf8_lossy(head), earlier);
    let mut lines = head.lines();
    let request_line = lines.next().expect("request line");
    let mut parts = request_line.split(' ');
    let method = parts.next().expect("method").to_owned();
    let path = parts.next().expect("path").to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = body.to_vec();
    if body.last() == Some(&b'\n') {
        body.pop();
    }
    // Placeholders in bodies: only when the body is text.
    if let Ok(text) = std::str::from_utf8(&body)
        && text.contains("{{")
    {
        body = substitute(text, earlier).into_bytes();
    }
    Exchange {
        method,
        path,
        headers,
        body,
    }
}

fn reason(status: u16) -> &'static str {
    actix_web::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

async fn run_dialect(dir: &Path) -> Vec<String> {
    let clock = Arc::new(FixedClock::new(golden_instant()));
    let source = Source::File(dir.join("config.toml"));
    let app = service(Arc::new(gateway_from_source(&source, clock))).await;
    let bless = std::env::var_os("TOKENGATE_BLESS").is_some();

    let mut cases: Vec<_> = std::fs::read_dir(dir)
        .expect("fixture dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "req"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());

    let mut earlier = HashMap::new();
    let mut failures = Vec::new();
    for case in cases {
        let name = case
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let number = name.split('_').next().unwrap_or_default().to_owned();
        let exchange = parse_request(&std::fs::read(&case).expect("read .req"), &earlier);
        let headers: Vec<(&str, &str)> = exchange
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let answer = send(
            &app,
            &exchange.method,
            &exchange.path,
            &headers,
            exchange.body,
        )
        .await;
        let mut shown: Vec<_> = answer
            .headers
            .iter()
            .filter(|(n, _)| !UNCOMPARED.contains(&n.as_str()))
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        shown.sort();
        // A body that is not UTF-8 (a UTF-16 answer) is shown as hex.
        let body = match std::str::from_utf8(&answer.body) {
            Ok(text) => text.to_owned(),
            Err(_) => format!("hex:{}", hex::encode(&answer.body)),
        };
        let got = format!(
            "HTTP/1.1 {} {}\n{}\n\n{}\n",
            answer.status,
            reason(answer.status),
            shown.join("\n"),
            body
        );
        for (extension, xml) in [("sample.json", false), ("sample.xml", true)] {
            let sample = case.with_extension(extension);
            if let Ok(sample) = std::fs::read_to_string(&sample) {
                let compared = if xml {
                    shape::xml(&body, &sample)
                } else {
                    shape::json(&body, &sample)
                };
                if let Err(why) = compared {
                    failures.push(format!(
                        "{}: the answer is not shaped like the documented sample: {why}\n--- answer\n{body}\n--- sample\n{sample}",
                        case.display()
                    ));
                }
            }
        }
        earlier.insert(number, body);
        let expected_path = case.with_extension("resp");
        if bless {
            std::fs::write(&expected_path, &got).expect("write .resp");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != got {
            failures.push(format!(
                "{}:\n--- expected\n{expected}\n--- got\n{got}",
                case.display()
            ));
        }
    }
    failures
}

#[actix_web::test]
async fn every_golden_exchange_matches_byte_for_byte() {
    let mut failures = Vec::new();
    let mut dialects = 0;
    for root in ["fixtures", "examples/dialects"] {
        let Ok(entries) = std::fs::read_dir(repo_path(root)) else {
            continue;
        };
        let mut dirs: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs {
            if dir.join("config.toml").is_file() {
                dialects += 1;
                failures.extend(run_dialect(&dir).await);
            }
        }
    }
    assert!(dialects > 0, "no fixture folders with a config.toml");
    assert!(
        failures.is_empty(),
        "{} golden exchange(s) differ (TOKENGATE_BLESS=1 rewrites them after review):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Shapes of bodies, for the comparison with documented samples.
mod shape {
    use quick_xml::events::Event;

    /// What kind of value a JSON member holds.
    #[derive(Debug, PartialEq, Eq)]
    enum Kind {
        Str,
        Number,
        Bool,
        Null,
        Nested,
    }

    /// A JSON object's members in document order, with their kinds (serde_json's own map
    /// sorts its keys, so the order is read with a visitor).
    fn members(text: &str) -> Result<Vec<(String, Kind)>, String> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Vec<(String, Kind)>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    let value: serde_json::Value = map.next_value()?;
                    let kind = match value {
                        serde_json::Value::String(_) => Kind::Str,
                        serde_json::Value::Number(_) => Kind::Number,
                        serde_json::Value::Bool(_) => Kind::Bool,
                        serde_json::Value::Null => Kind::Null,
                        _ => Kind::Nested,
                    };
                    out.push((name, kind));
                }
                Ok(out)
            }
        }
        let mut reader = serde_json::Deserializer::from_str(text);
        serde::Deserializer::deserialize_map(&mut reader, Members).map_err(|e| e.to_string())
    }

    /// `ours` in `sample`'s order, each name once: ours may leave members out (an absent rule
    /// of `omit`) but not add or reorder any.
    fn in_order<'a>(ours: &[&'a str], sample: &[&'a str]) -> Result<Vec<usize>, String> {
        let mut at = 0;
        let mut matched = Vec::new();
        for name in ours {
            match sample[at..].iter().position(|s| s == name) {
                Some(found) => {
                    matched.push(at + found);
                    at += found + 1;
                }
                None => {
                    return Err(format!(
                        "{name:?} is not in the documented members {sample:?} (or not in their order)"
                    ));
                }
            }
        }
        Ok(matched)
    }

    /// Member names in the sample's order (some may be left out, as absent rules do); where
    /// both values are there, the same kinds.
    pub fn json(ours: &str, sample: &str) -> Result<(), String> {
        let ours = members(ours)?;
        let sample = members(sample)?;
        fn names(m: &[(String, Kind)]) -> Vec<&str> {
            m.iter().map(|(n, _)| n.as_str()).collect()
        }
        let matched = in_order(&names(&ours), &names(&sample))?;
        for ((name, kind), at) in ours.iter().zip(matched) {
            let documented = &sample[at].1;
            if *kind != Kind::Null && *documented != Kind::Null && kind != documented {
                return Err(format!("{name} is {kind:?}, documented {documented:?}"));
            }
        }
        Ok(())
    }

    /// An XML element as the comparison sees it.
    struct Element {
        depth: usize,
        name: String,
        attributes: Vec<String>,
    }

    /// An XML body's elements in document order, text left out.
    fn outline(text: &str) -> Result<Vec<Element>, String> {
        let mut reader = quick_xml::reader::Reader::from_str(text);
        let mut out = Vec::new();
        let mut depth = 0;
        loop {
            match reader.read_event().map_err(|e| e.to_string())? {
                Event::Start(start) => {
                    out.push(element(depth, &start));
                    depth += 1;
                }
                Event::Empty(start) => out.push(element(depth, &start)),
                Event::End(_) => depth -= 1,
                Event::Eof => return Ok(out),
                _ => {}
            }
        }
    }

    fn element(depth: usize, start: &quick_xml::events::BytesStart<'_>) -> Element {
        Element {
            depth,
            name: start.name().as_ref().to_owned(),
            attributes: start
                .attributes()
                .filter_map(Result::ok)
                .map(|a| format!("{}={}", a.key.as_ref(), a.value))
                .collect(),
        }
    }

    /// A nil marker (`i:nil`, `xsi:nil`): where the sample fills a member, a real answer may
    /// write it nil.
    fn is_nil(attribute: &str) -> bool {
        attribute.ends_with(":nil=true") || attribute.ends_with(":nil=1")
    }

    /// The same root with the same namespace declarations in the same order, and members in the
    /// sample's order (some may be left out, as absent rules do) with the same attributes but
    /// for nil markers.
    pub fn xml(ours: &str, sample: &str) -> Result<(), String> {
        let ours = outline(ours)?;
        let sample = outline(sample)?;
        let (Some(root), Some(documented)) = (ours.first(), sample.first()) else {
            return Err("no root element".into());
        };
        if root.name != documented.name || root.attributes != documented.attributes {
            return Err(format!(
                "root <{} {:?}>, documented <{} {:?}>",
                root.name, root.attributes, documented.name, documented.attributes
            ));
        }
        let members = |outline: &[Element]| -> Vec<usize> {
            (0..outline.len())
                .filter(|&i| outline[i].depth == 1)
                .collect()
        };
        let (ours_at, sample_at) = (members(&ours), members(&sample));
        let names = |outline: &[Element], at: &[usize]| -> Vec<String> {
            at.iter().map(|&i| outline[i].name.clone()).collect()
        };
        let (our_names, sample_names) = (names(&ours, &ours_at), names(&sample, &sample_at));
        let our_refs: Vec<&str> = our_names.iter().map(String::as_str).collect();
        let sample_refs: Vec<&str> = sample_names.iter().map(String::as_str).collect();
        let matched = in_order(&our_refs, &sample_refs)?;
        for (&ours_i, at) in ours_at.iter().zip(matched) {
            let strip = |e: &Element| -> Vec<String> {
                e.attributes
                    .iter()
                    .filter(|a| !is_nil(a))
                    .cloned()
                    .collect()
            };
            let (mine, theirs) = (&ours[ours_i], &sample[sample_at[at]]);
            if strip(mine) != strip(theirs) {
                return Err(format!(
                    "<{}> has {:?}, documented {:?}",
                    mine.name, mine.attributes, theirs.attributes
                ));
            }
        }
        Ok(())
    }
}
