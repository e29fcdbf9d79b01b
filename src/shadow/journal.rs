//! The differences log: one JSON line per exchange whose answers differed, appended to
//! `[shadow] log` and rotated at `log_max_bytes` (`LOG.1` the newest of `log_keep` older
//! files, the oldest dropped), so it never outgrows `(log_keep + 1) × log_max_bytes`. Lines
//! hold what [`super::compare`] wrote of each difference (never a secret or a token) and the
//! request's method, path and grant type. [`Summary`] reads them back for
//! `tokengate shadow report` and `tokengate diff`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::compare::{Class, Difference};
use super::{AnswerSide, Outgoing};

/// The most differences one line keeps; the rest are counted in `more`.
const MAX_PER_LINE: usize = 32;

/// How many examples of each class a summary keeps.
pub const EXAMPLES: usize = 3;

/// One exchange whose answers differed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub route: String,
    pub method: String,
    /// The request's `grant_type`, when its form or JSON body names one (never another value
    /// of the body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    pub answer: String,
    /// The legacy server's status, then the gateway's.
    pub status: [u16; 2],
    pub differences: Vec<Line>,
    /// Differences left out of this line beyond [`MAX_PER_LINE`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A difference as the log writes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Line {
    pub class: String,
    pub at: String,
    pub legacy: String,
    pub gateway: String,
}

impl Entry {
    pub fn new(
        route: &str,
        request: &Outgoing,
        answer: AnswerSide,
        status: [u16; 2],
        differences: Vec<Difference>,
    ) -> Self {
        let more = differences.len().saturating_sub(MAX_PER_LINE);
        Self {
            at: Utc::now(),
            route: route.to_owned(),
            method: request.method.clone(),
            grant_type: grant_type(request),
            answer: answer.as_str().to_owned(),
            status,
            differences: differences
                .into_iter()
                .take(MAX_PER_LINE)
                .map(|d| Line {
                    class: d.class.as_str().to_owned(),
                    at: d.at,
                    legacy: d.legacy,
                    gateway: d.gateway,
                })
                .collect(),
            more,
        }
    }
}

/// The request's grant type, from a form or JSON body: what tells a reader which kind of
/// exchange differed. Only a known grant type's name is kept.
fn grant_type(request: &Outgoing) -> Option<String> {
    let text = std::str::from_utf8(&request.body).ok()?;
    let named = if text.trim_start().starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        value.get("grant_type")?.as_str()?.to_owned()
    } else {
        serde_urlencoded::from_str::<Vec<(String, String)>>(text)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "grant_type")?
            .1
    };
    crate::domain::GrantType::from_wire(&named).map(|g| g.as_str().to_owned())
}

/// The log file, appended to by every shadowed route of a configuration.
pub struct Journal {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: Mutex<(std::fs::File, u64)>,
}

impl Journal {
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_owned(),
            max_bytes,
            keep,
            file: Mutex::new((file, size)),
        })
    }

    /// Appends one line, rotating first when it would take the file over its bound.
    pub fn append(&self, entry: &Entry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if guard.1 > 0 && guard.1 + line.len() as u64 > self.max_bytes {
            rotate(&self.path, self.keep)?;
            guard.0 = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            guard.1 = 0;
        }
        guard.0.write_all(&line)?;
        guard.1 += line.len() as u64;
        Ok(())
    }
}

/// `LOG.N` dropped, each `LOG.i` renamed `LOG.(i+1)`, `LOG` renamed `LOG.1`.
fn rotate(path: &Path, keep: usize) -> std::io::Result<()> {
    if keep == 0 {
        return std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(numbered(path, keep));
    for i in (1..keep).rev() {
        let from = numbered(path, i);
        if from.exists() {
            std::fs::rename(&from, numbered(path, i + 1))?;
        }
    }
    std::fs::rename(path, numbered(path, 1))
}

fn numbered(path: &Path, i: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{i}"));
    PathBuf::from(name)
}

/// The log's files, oldest first, as far as they exist.
pub fn files(path: &Path, keep: usize) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..=keep)
        .rev()
        .map(|i| numbered(path, i))
        .filter(|p| p.exists())
        .collect();
    if path.exists() {
        files.push(path.to_owned());
    }
    files
}

/// Differences by route and class, with the first examples of each.
#[derive(Debug, Default)]
pub struct Summary {
    /// Exchanges read that differed.
    pub exchanges: usize,
    /// Lines that could not be read (cut by a crash, or not the log's).
    pub unreadable: usize,
    pub classes: BTreeMap<(String, String), ClassSummary>,
}

#[derive(Debug, Default)]
pub struct ClassSummary {
    pub count: usize,
    pub examples: Vec<(DateTime<Utc>, Option<String>, Line)>,
}

impl Summary {
    pub fn add(&mut self, entry: &Entry) {
        self.exchanges += 1;
        for line in &entry.differences {
            let class = self
                .classes
                .entry((entry.route.clone(), line.class.clone()))
                .or_default();
            class.count += 1;
            if class.examples.len() < EXAMPLES {
                class
                    .examples
                    .push((entry.at, entry.grant_type.clone(), line.clone()));
            }
        }
    }

    /// Every line of the log's files, oldest first.
    pub fn read(path: &Path, keep: usize) -> std::io::Result<Self> {
        let mut summary = Self::default();
        for file in files(path, keep) {
            let text = std::fs::read_to_string(&file)?;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                match serde_json::from_str::<Entry>(line) {
                    Ok(entry) => summary.add(&entry),
                    Err(_) => summary.unreadable += 1,
                }
            }
        }
        Ok(summary)
    }

    /// The summary as `tokengate shadow report` and `tokengate diff` print it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut route = None;
        for ((path, class), summary) in &self.classes {
            if route != Some(path) {
                out.push_str(&format!("route {path}\n"));
                route = Some(path);
            }
            let known = class.parse::<Class>().is_ok();
            out.push_str(&format!(
                "  {class:<16} {:>8}{}\n",
                summary.count,
                if known { "" } else { "  (unknown class)" }
            ));
            for (at, grant, line) in &summary.examples {
                out.push_str(&format!(
                    "      {} {}{}: legacy {}, gateway {}\n",
                    at.format("%Y-%m-%dT%H:%M:%SZ"),
                    grant
                        .as_deref()
                        .map(|g| format!("[{g}] "))
                        .unwrap_or_default(),
                    line.at,
                    line.legacy,
                    line.gateway
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(route: &str, class: Class) -> Entry {
        Entry::new(
            route,
            &Outgoing {
                method: "POST".into(),
                query: None,
                headers: Vec::new(),
                body: b"grant_type=password&password=hunter2".to_vec(),
            },
            AnswerSide::Gateway,
            [400, 400],
            vec![Difference {
                class,
                at: "$.error".into(),
                legacy: "\"invalid_grant\"".into(),
                gateway: "\"invalid_client\"".into(),
            }],
        )
    }

    #[test]
    fn the_log_rotates_within_its_bound_and_reads_back_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shadow.jsonl");
        let one = serde_json::to_vec(&entry("/Token", Class::Value))
            .unwrap()
            .len() as u64
            + 1;
        let journal = Journal::open(&path, one * 3, 2).unwrap();
        for _ in 0..10 {
            journal.append(&entry("/Token", Class::Value)).unwrap();
        }
        journal.append(&entry("/api/Token", Class::Status)).unwrap();
        let kept = files(&path, 2);
        assert_eq!(kept.len(), 3, "{kept:?}");
        for file in &kept {
            assert!(std::fs::metadata(file).unwrap().len() <= one * 3);
        }
        let summary = Summary::read(&path, 2).unwrap();
        // 11 written, the 3 + 3 + 2 newest kept.
        assert_eq!(summary.exchanges, 8);
        let value = &summary.classes[&("/Token".to_owned(), "value".to_owned())];
        assert_eq!((value.count, value.examples.len()), (7, EXAMPLES));
        assert_eq!(value.examples[0].1.as_deref(), Some("password"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        let rendered = summary.render();
        assert!(
            rendered.contains("route /api/Token\n  status"),
            "{rendered}"
        );
    }
}
