//! The import's sink for a TOML directory: `[[user]]` items in a file of their own, which the
//! configuration includes or an operator pastes. The file is rewritten whole, atomically and
//! readable by its owner only (it holds password hashes); users already in it that the export
//! does not name are kept, so a second run of the same export changes nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{BadRow, CheckedUser, Sink, Written};

/// See the module docs.
pub struct TomlUsers {
    path: PathBuf,
    /// Every item, in file order; `index` finds one by id.
    items: Vec<toml::Table>,
    index: HashMap<String, usize>,
    now: DateTime<Utc>,
    changed: bool,
}

impl TomlUsers {
    /// Opens `path`, reading the `[[user]]` items it holds already (none if it does not exist).
    /// `now` decides which users are locked out.
    pub fn open(path: &Path, now: DateTime<Utc>) -> Result<Self, String> {
        let items = match std::fs::read_to_string(path) {
            Ok(text) => {
                let mut table: toml::Table = text
                    .parse()
                    .map_err(|e| format!("{} is not TOML: {e}", path.display()))?;
                match table.remove("user") {
                    None => Vec::new(),
                    Some(toml::Value::Array(items)) => items
                        .into_iter()
                        .map(|item| match item {
                            toml::Value::Table(t) => Ok(t),
                            _ => Err(format!("{}: user must be [[user]] tables", path.display())),
                        })
                        .collect::<Result<_, _>>()?,
                    Some(_) => {
                        return Err(format!("{}: user must be [[user]] tables", path.display()));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let index = items
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((t.get("id")?.as_str()?.to_owned(), i)))
            .collect();
        Ok(Self {
            path: path.to_owned(),
            items,
            index,
            now,
            changed: false,
        })
    }

    fn item(checked: &CheckedUser) -> Option<toml::Table> {
        let user = &checked.user;
        let hash = user.password_hash.as_ref()?;
        let mut item = toml::Table::new();
        item.insert("username".into(), user.user_name.clone().into());
        item.insert("id".into(), user.id.clone().into());
        item.insert("password_hash".into(), hash.expose().trim().into());
        if let Some(email) = &user.email {
            let mut attributes = toml::Table::new();
            attributes.insert("email".into(), email.clone().into());
            item.insert("attributes".into(), attributes.into());
        }
        Some(item)
    }
}

impl Sink for TomlUsers {
    fn write(&mut self, batch: Vec<CheckedUser>) -> Result<Written, String> {
        let mut written = Written::default();
        for checked in batch {
            let user = &checked.user;
            let skip = |reason: &str| BadRow {
                row: user.row,
                id: Some(user.id.clone()),
                reason: reason.to_owned(),
            };
            if user.lockout_enabled && user.lockout_end.is_some_and(|end| end > self.now) {
                written.skipped.push(skip(
                    "locked out (a [[user]] has no lockout; the postgres directory honours it)",
                ));
                continue;
            }
            let Some(item) = Self::item(&checked) else {
                written
                    .skipped
                    .push(skip("no PasswordHash: a [[user]] signs in with a password"));
                continue;
            };
            match self.index.get(&user.id) {
                Some(&i) if self.items[i] == item => written.unchanged += 1,
                Some(&i) => {
                    self.items[i] = item;
                    self.changed = true;
                    written.updated += 1;
                }
                None => {
                    self.index.insert(user.id.clone(), self.items.len());
                    self.items.push(item);
                    self.changed = true;
                    written.imported += 1;
                }
            }
        }
        Ok(written)
    }

    fn finish(&mut self) -> Result<(), String> {
        if !self.changed {
            return Ok(());
        }
        let mut document = toml::Table::new();
        document.insert(
            "user".into(),
            toml::Value::Array(self.items.drain(..).map(toml::Value::Table).collect()),
        );
        let text = toml::to_string(&document).map_err(|e| e.to_string())?;
        let text = format!(
            "# [[user]] items written by `tokengate users import`; a rerun keeps users it does not name.\n{text}"
        );
        write_private(&self.path, text.as_bytes())
    }
}

/// Writes `bytes` to `path` through a temporary file beside it, renamed over it: a reader sees
/// the old file or the new one, never half of one. Mode 0600 on Unix: it holds hashes.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| format!("cannot write beside {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| e.to_string())?;
    }
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}
