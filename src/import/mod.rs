//! `tokengate users import`: loads an `AspNetUsers` export into the configured user directory,
//! checking every row the way the gateway will read it (a password hash it cannot verify is
//! skipped with the reason, not imported to fail every login later). Idempotent: a second run
//! of the same export imports and updates nothing. The report counts rows and names each skip;
//! it never shows a hash or a password.

mod postgres;
pub mod read;
mod toml_users;

use std::collections::HashMap;

use sha2::Digest;

use crate::engine::{HashKind, InputSetting, StoredHash};

pub use postgres::PostgresUsers;
pub use read::{BadRow, ExportError, ExportFormat, ExportSummary, ExportUser, read_export};
pub use toml_users::TomlUsers;

/// A row that passed every check, with what its hash was recognised as.
pub struct CheckedUser {
    pub user: ExportUser,
    /// `None` for an account without a password.
    pub hash_kind: Option<HashKind>,
}

/// Where checked users go: the postgres directory's tables, or a file of `[[user]]` items.
pub trait Sink {
    /// Writes one batch; rows it cannot take (a user name another id holds already, say) come
    /// back as skips.
    fn write(&mut self, batch: Vec<CheckedUser>) -> Result<Written, String>;
    /// Makes what was written durable; nothing is acknowledged before this returns.
    fn finish(&mut self) -> Result<(), String>;
}

/// What a sink did with a batch.
#[derive(Debug, Default)]
pub struct Written {
    pub imported: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: Vec<BadRow>,
}

/// The outcome of an import.
#[derive(Debug, Default)]
pub struct Report {
    pub read: u64,
    pub imported: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: Vec<BadRow>,
    /// Accounts in the directory after the import that have no password (they cannot use
    /// the password grant): of the rows imported, updated or unchanged.
    pub without_password: u64,
    /// The same rows by the kind of their password hash.
    pub hash_kinds: HashMap<HashKind, u64>,
    pub unknown_columns: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "rows read {}, imported {}, updated {}, unchanged {}, skipped {}",
            self.read,
            self.imported,
            self.updated,
            self.unchanged,
            self.skipped.len()
        )?;
        let mut kinds: Vec<_> = self.hash_kinds.iter().collect();
        kinds.sort();
        if !kinds.is_empty() {
            let kinds: Vec<String> = kinds
                .into_iter()
                .map(|(kind, count)| format!("{count} {kind}"))
                .collect();
            writeln!(f, "  password hashes: {}", kinds.join(", "))?;
        }
        if self.without_password > 0 {
            writeln!(
                f,
                "  {} without a password hash (external logins only: no password grant)",
                self.without_password
            )?;
        }
        for column in &self.unknown_columns {
            writeln!(f, "  column {column:?} is not imported")?;
        }
        for skip in &self.skipped {
            match &skip.id {
                Some(id) => writeln!(f, "skipped row {} (Id {id:?}): {}", skip.row, skip.reason)?,
                None => writeln!(f, "skipped row {}: {}", skip.row, skip.reason)?,
            }
        }
        Ok(())
    }
}

/// How an import reads hashes and reports progress.
pub struct Options<'a> {
    /// The directory's `hash_input`: what the export's hashes were computed over.
    pub hash_input: InputSetting,
    /// Rows per write; a batch is one database transaction.
    pub batch: usize,
    /// Called after each batch with the rows read so far.
    pub progress: &'a mut dyn FnMut(u64),
}

/// Why an import stopped before the end of the export.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error("writing to the directory failed: {0}")]
    Sink(String),
}

/// Reads the whole export into `sink`, checking each row; see the module docs.
pub fn import(
    input: impl std::io::Read,
    format: ExportFormat,
    sink: &mut dyn Sink,
    options: Options<'_>,
) -> Result<Report, ImportError> {
    let mut report = Report::default();
    let mut seen = Seen::default();
    let mut batch = Vec::with_capacity(options.batch);
    let mut sink_error = None;
    let Options {
        hash_input,
        batch: batch_size,
        progress,
    } = options;
    let mut flush = |batch: &mut Vec<CheckedUser>, report: &mut Report| -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        // What the directory now holds, by hash kind: the batch less what the sink skipped.
        let mut kinds: HashMap<u64, Option<HashKind>> =
            batch.iter().map(|c| (c.user.row, c.hash_kind)).collect();
        let written = sink.write(std::mem::take(batch))?;
        for skip in &written.skipped {
            kinds.remove(&skip.row);
        }
        for kind in kinds.into_values() {
            match kind {
                Some(kind) => *report.hash_kinds.entry(kind).or_default() += 1,
                None => report.without_password += 1,
            }
        }
        report.imported += written.imported;
        report.updated += written.updated;
        report.unchanged += written.unchanged;
        report.skipped.extend(written.skipped);
        progress(report.read);
        Ok(())
    };
    let summary = read_export(input, format, |row| {
        report.read += 1;
        match row.and_then(|user| check(user, hash_input, &mut seen)) {
            Ok(checked) => batch.push(checked),
            Err(bad) => report.skipped.push(bad),
        }
        if batch.len() >= batch_size {
            flush(&mut batch, &mut report).inspect_err(|e| sink_error = Some(e.clone()))?;
        }
        Ok(())
    });
    if let Some(e) = sink_error {
        return Err(ImportError::Sink(e));
    }
    let summary = summary?;
    flush(&mut batch, &mut report).map_err(ImportError::Sink)?;
    sink.finish().map_err(ImportError::Sink)?;
    report.unknown_columns = summary.unknown_columns.into_iter().collect();
    report.skipped.sort_by_key(|skip| skip.row);
    Ok(report)
}

/// Ids and user names already read, as 128-bit fingerprints: a million-row export keeps 16
/// bytes a key instead of the strings, and a collision (about 2^-88 at that size) is not a
/// concern worth the memory.
#[derive(Default)]
struct Seen {
    ids: HashMap<u128, u64>,
    names: HashMap<u128, u64>,
}

fn fingerprint(kind: u8, value: &str) -> u128 {
    let digest = sha2::Sha256::new()
        .chain_update([kind])
        .chain_update(value.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(bytes)
}

fn check(
    user: ExportUser,
    hash_input: InputSetting,
    seen: &mut Seen,
) -> Result<CheckedUser, BadRow> {
    let bad = |user: &ExportUser, reason: String| BadRow {
        row: user.row,
        id: Some(user.id.clone()),
        reason,
    };
    let hash_kind = match &user.password_hash {
        None => None,
        Some(hash) => match StoredHash::parse(hash.expose().trim(), hash_input) {
            Ok(hash) => Some(hash.kind()),
            // The error never quotes the value.
            Err(e) => return Err(bad(&user, format!("PasswordHash: {e}"))),
        },
    };
    // SQL Server compares keys case-insensitively under its default collation: two ids that
    // differ in case were one row there.
    let id = fingerprint(0, &user.id.to_lowercase());
    if let Some(first) = seen.ids.get(&id) {
        return Err(bad(&user, format!("Id repeats row {first}")));
    }
    let normalized = user
        .normalized_user_name
        .clone()
        .unwrap_or_else(|| crate::directory::normalize_key(&user.user_name));
    let name = fingerprint(1, &normalized);
    if let Some(first) = seen.names.get(&name) {
        return Err(bad(&user, format!("UserName repeats row {first}'s")));
    }
    seen.ids.insert(id, user.row);
    seen.names.insert(name, user.row);
    Ok(CheckedUser { user, hash_kind })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// Keeps what it is given, by id, and says whether each was new, changed or the same.
    #[derive(Default)]
    struct Kept(HashMap<String, String>);

    impl Sink for Kept {
        fn write(&mut self, batch: Vec<CheckedUser>) -> Result<Written, String> {
            let mut written = Written::default();
            for checked in batch {
                let user = checked.user;
                let value = format!("{}|{:?}", user.user_name, user.email);
                match self.0.insert(user.id, value.clone()) {
                    None => written.imported += 1,
                    Some(old) if old == value => written.unchanged += 1,
                    Some(_) => written.updated += 1,
                }
            }
            Ok(written)
        }
        fn finish(&mut self) -> Result<(), String> {
            Ok(())
        }
    }

    const V3: &str =
        "AQAAAAEAACcQAAAAEAABAgMEBQYHCAkKCwwNDg8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw==";

    fn run(csv: &str, sink: &mut dyn Sink) -> Report {
        let mut progress = |_| {};
        import(
            csv.as_bytes(),
            ExportFormat::Csv,
            sink,
            Options {
                hash_input: InputSetting::default(),
                batch: 2,
                progress: &mut progress,
            },
        )
        .unwrap()
    }

    #[test]
    fn a_second_run_of_the_same_export_imports_and_updates_nothing() {
        let csv =
            format!("Id,UserName,Email,PasswordHash\n1,ann,a@x,{V3}\n2,bob,,NULL\n3,cy,c@x,{V3}\n");
        let mut sink = Kept::default();
        let first = run(&csv, &mut sink);
        assert_eq!((first.read, first.imported, first.updated), (3, 3, 0));
        assert_eq!(first.without_password, 1);
        assert_eq!(first.hash_kinds.get(&HashKind::IdentityV3), Some(&2));
        let again = run(&csv, &mut sink);
        assert_eq!((again.imported, again.updated, again.unchanged), (0, 0, 3));
        let changed = run(&csv.replace("c@x", "new@x"), &mut sink);
        assert_eq!(
            (changed.imported, changed.updated, changed.unchanged),
            (0, 1, 2)
        );
    }

    #[test]
    fn malformed_hashes_and_repeated_ids_or_names_are_skipped_with_reasons_and_no_hash() {
        let csv = format!(
            "Id,UserName,PasswordHash\n1,ann,{V3}\n2,bob,AgAAAA==\n1,cy,{V3}\n4,ANN,{V3}\n5,dee,$6$salt$x\n"
        );
        let mut sink = Kept::default();
        let report = run(&csv, &mut sink);
        assert_eq!((report.read, report.imported), (5, 1));
        let text = report.to_string();
        assert!(
            text.contains("rows read 5, imported 1, updated 0, unchanged 0, skipped 4"),
            "{text}"
        );
        assert!(
            text.contains("skipped row 2 (Id \"2\"): PasswordHash: unknown ASP.NET Identity format marker 0x02"),
            "{text}"
        );
        assert!(
            text.contains("skipped row 3 (Id \"1\"): Id repeats row 1"),
            "{text}"
        );
        assert!(
            text.contains("skipped row 4 (Id \"4\"): UserName repeats row 1's"),
            "{text}"
        );
        assert!(
            text.contains("skipped row 5 (Id \"5\"): PasswordHash: unsupported algorithm \"6\""),
            "{text}"
        );
        assert!(!text.contains(V3) && !text.contains("AgAAAA"), "{text}");
    }
}
