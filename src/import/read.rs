//! Reading an `AspNetUsers` export into [`ExportUser`] rows, one at a time, so a million-row
//! export never sits in memory: CSV as SQL Server's tools write it (a header row naming the
//! columns; `NULL` or nothing for a null; `bit` columns as `1`/`0` or `True`/`False`; instants
//! as `2024-05-01 10:00:00.000`, with an offset for `datetimeoffset`), or a JSON array of
//! objects as `FOR JSON PATH` writes it (a null column is left out of its object).
//!
//! Both ASP.NET Identity generations are read: Identity 2 (`LockoutEndDateUtc`, no normalized
//! columns) and ASP.NET Core Identity (`NormalizedUserName`, `NormalizedEmail`,
//! `ConcurrencyStamp`, `LockoutEnd` with an offset). Column names match case-insensitively; a
//! column the import does not know is reported once and otherwise ignored.

use std::collections::BTreeSet;
use std::io::Read;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::de::{Deserializer as _, SeqAccess, Visitor};

use crate::domain::Secret;

/// `users import --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    /// The format a file name implies (`.json`, else CSV).
    pub fn of_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => ExportFormat::Json,
            _ => ExportFormat::Csv,
        }
    }
}

/// One user of the export, as the legacy database held it.
pub struct ExportUser {
    /// The data row's number in the export, from 1: what the report names.
    pub row: u64,
    pub id: String,
    pub user_name: String,
    /// `NormalizedUserName` when the export has it (what the legacy server computed).
    pub normalized_user_name: Option<String>,
    pub email: Option<String>,
    pub normalized_email: Option<String>,
    pub email_confirmed: bool,
    /// `None` for an account without a password (an external login only).
    pub password_hash: Option<Secret>,
    pub security_stamp: Option<String>,
    pub concurrency_stamp: Option<String>,
    pub phone_number: Option<String>,
    pub phone_number_confirmed: bool,
    pub two_factor_enabled: bool,
    pub lockout_end: Option<DateTime<Utc>>,
    pub lockout_enabled: bool,
    pub access_failed_count: i32,
}

/// Only what identifies the row: the hash is a secret and the rest is personal data.
impl std::fmt::Debug for ExportUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportUser")
            .field("row", &self.row)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A row that cannot be read, and why. The reason never quotes a value of the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    pub row: u64,
    /// The row's `Id` when it could be read, for the report.
    pub id: Option<String>,
    pub reason: String,
}

/// Why the export as a whole cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the export has no {0} column (its header row names the columns)")]
    MissingColumn(&'static str),
    #[error("the header row cannot be read: {0}")]
    Header(String),
    #[error("row {row}: {why}")]
    Broken { row: u64, why: String },
    #[error("not a JSON array of user objects: {0}")]
    Json(String),
    /// The consumer of the rows stopped the read (a database write failed, say).
    #[error("{0}")]
    Stopped(String),
}

/// What the reader saw besides the rows.
#[derive(Debug, Default)]
pub struct ExportSummary {
    /// Columns of the export the import does not map, each named once.
    pub unknown_columns: BTreeSet<String>,
}

/// The columns an `AspNetUsers` export may carry, in both Identity generations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Id,
    UserName,
    NormalizedUserName,
    Email,
    NormalizedEmail,
    EmailConfirmed,
    PasswordHash,
    SecurityStamp,
    ConcurrencyStamp,
    PhoneNumber,
    PhoneNumberConfirmed,
    TwoFactorEnabled,
    LockoutEnd,
    LockoutEnabled,
    AccessFailedCount,
}

impl Column {
    fn named(name: &str) -> Option<Self> {
        const NAMES: [(&str, Column); 16] = [
            ("Id", Column::Id),
            ("UserName", Column::UserName),
            ("NormalizedUserName", Column::NormalizedUserName),
            ("Email", Column::Email),
            ("NormalizedEmail", Column::NormalizedEmail),
            ("EmailConfirmed", Column::EmailConfirmed),
            ("PasswordHash", Column::PasswordHash),
            ("SecurityStamp", Column::SecurityStamp),
            ("ConcurrencyStamp", Column::ConcurrencyStamp),
            ("PhoneNumber", Column::PhoneNumber),
            ("PhoneNumberConfirmed", Column::PhoneNumberConfirmed),
            ("TwoFactorEnabled", Column::TwoFactorEnabled),
            // Identity 2 keeps a UTC instant without offset; Core keeps one with.
            ("LockoutEndDateUtc", Column::LockoutEnd),
            ("LockoutEnd", Column::LockoutEnd),
            ("LockoutEnabled", Column::LockoutEnabled),
            ("AccessFailedCount", Column::AccessFailedCount),
        ];
        NAMES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name.trim()))
            .map(|&(_, column)| column)
    }

    fn name(self) -> &'static str {
        match self {
            Column::Id => "Id",
            Column::UserName => "UserName",
            Column::NormalizedUserName => "NormalizedUserName",
            Column::Email => "Email",
            Column::NormalizedEmail => "NormalizedEmail",
            Column::EmailConfirmed => "EmailConfirmed",
            Column::PasswordHash => "PasswordHash",
            Column::SecurityStamp => "SecurityStamp",
            Column::ConcurrencyStamp => "ConcurrencyStamp",
            Column::PhoneNumber => "PhoneNumber",
            Column::PhoneNumberConfirmed => "PhoneNumberConfirmed",
            Column::TwoFactorEnabled => "TwoFactorEnabled",
            Column::LockoutEnd => "LockoutEnd",
            Column::LockoutEnabled => "LockoutEnabled",
            Column::AccessFailedCount => "AccessFailedCount",
        }
    }
}

/// A cell as the export wrote it: CSV text, or a JSON value.
enum Cell<'a> {
    Null,
    Text(&'a str),
    Bool(bool),
    Int(i64),
}

/// Builds one [`ExportUser`] from its cells, whichever format they came in.
struct RowBuilder {
    user: ExportUser,
}

impl RowBuilder {
    fn new(row: u64) -> Self {
        Self {
            user: ExportUser {
                row,
                id: String::new(),
                user_name: String::new(),
                normalized_user_name: None,
                email: None,
                normalized_email: None,
                email_confirmed: false,
                password_hash: None,
                security_stamp: None,
                concurrency_stamp: None,
                phone_number: None,
                phone_number_confirmed: false,
                two_factor_enabled: false,
                lockout_end: None,
                lockout_enabled: false,
                access_failed_count: 0,
            },
        }
    }

    /// Sets `column` from `cell`; the error names the column, never the value.
    fn set(&mut self, column: Column, cell: Cell<'_>) -> Result<(), String> {
        let user = &mut self.user;
        match column {
            Column::Id => user.id = text(cell).unwrap_or_default(),
            Column::UserName => user.user_name = text(cell).unwrap_or_default(),
            Column::NormalizedUserName => user.normalized_user_name = text(cell),
            Column::Email => user.email = text(cell),
            Column::NormalizedEmail => user.normalized_email = text(cell),
            Column::PasswordHash => user.password_hash = text(cell).map(Secret::new),
            Column::SecurityStamp => user.security_stamp = text(cell),
            Column::ConcurrencyStamp => user.concurrency_stamp = text(cell),
            Column::PhoneNumber => user.phone_number = text(cell),
            Column::EmailConfirmed => user.email_confirmed = flag(column, cell)?,
            Column::PhoneNumberConfirmed => user.phone_number_confirmed = flag(column, cell)?,
            Column::TwoFactorEnabled => user.two_factor_enabled = flag(column, cell)?,
            Column::LockoutEnabled => user.lockout_enabled = flag(column, cell)?,
            Column::LockoutEnd => user.lockout_end = instant(column, cell)?,
            Column::AccessFailedCount => {
                user.access_failed_count = match cell {
                    Cell::Null => 0,
                    Cell::Int(n) => i32::try_from(n).map_err(|_| out_of_range(column))?,
                    Cell::Text(t) => t.trim().parse().map_err(|_| not_a(column, "number"))?,
                    Cell::Bool(_) => return Err(not_a(column, "number")),
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<ExportUser, BadRow> {
        let bad = |user: &ExportUser, reason: &str| BadRow {
            row: user.row,
            id: (!user.id.is_empty()).then(|| user.id.clone()),
            reason: reason.to_owned(),
        };
        if self.user.id.trim().is_empty() {
            return Err(bad(&self.user, "Id is empty"));
        }
        if self.user.user_name.trim().is_empty() {
            return Err(bad(&self.user, "UserName is empty"));
        }
        Ok(self.user)
    }
}

/// A text column: `NULL` (as SQL Server's exports write a null) or nothing is null.
fn text(cell: Cell<'_>) -> Option<String> {
    match cell {
        Cell::Null => None,
        Cell::Text(t) if t.is_empty() || t == "NULL" => None,
        Cell::Text(t) => Some(t.to_owned()),
        Cell::Bool(b) => Some(b.to_string()),
        Cell::Int(n) => Some(n.to_string()),
    }
}

fn flag(column: Column, cell: Cell<'_>) -> Result<bool, String> {
    match cell {
        Cell::Null => Ok(false),
        Cell::Bool(b) => Ok(b),
        Cell::Int(0) => Ok(false),
        Cell::Int(1) => Ok(true),
        Cell::Text(t) => match t.trim() {
            "" | "NULL" => Ok(false),
            "1" => Ok(true),
            "0" => Ok(false),
            t if t.eq_ignore_ascii_case("true") => Ok(true),
            t if t.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(not_a(column, "bit (1, 0, True or False)")),
        },
        Cell::Int(_) => Err(not_a(column, "bit (1, 0, True or False)")),
    }
}

/// `LockoutEndDateUtc` (UTC, no offset) or `LockoutEnd` (with one), in the forms SQL Server
/// writes (`2024-05-01 10:00:00.000`, `2024-05-01 10:00:00.0000000 +00:00`) and ISO 8601 as
/// `FOR JSON` writes (`2024-05-01T10:00:00`, `2024-05-01T10:00:00+00:00`).
fn instant(column: Column, cell: Cell<'_>) -> Result<Option<DateTime<Utc>>, String> {
    let text = match cell {
        Cell::Null => return Ok(None),
        Cell::Text(t) if t.trim().is_empty() || t.trim() == "NULL" => return Ok(None),
        Cell::Text(t) => t.trim(),
        Cell::Bool(_) | Cell::Int(_) => return Err(not_a(column, "date and time")),
    };
    const WITH_OFFSET: [&str; 3] = [
        "%Y-%m-%d %H:%M:%S%.f %:z",
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
    ];
    for format in WITH_OFFSET {
        if let Ok(at) = DateTime::parse_from_str(text, format) {
            return Ok(Some(at.with_timezone(&Utc)));
        }
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    const UTC: [&str; 2] = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"];
    for format in UTC {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Some(at.and_utc()));
        }
    }
    Err(not_a(column, "date and time"))
}

fn not_a(column: Column, what: &str) -> String {
    format!("{} is not a {what}", column.name())
}

fn out_of_range(column: Column) -> String {
    format!("{} is out of range", column.name())
}

/// Reads every row of `input`, calling `each` with the user or the reason its row is unusable;
/// `each` may stop the read by returning an error (as [`ExportError::Stopped`]).
pub fn read_export(
    input: impl Read,
    format: ExportFormat,
    mut each: impl FnMut(Result<ExportUser, BadRow>) -> Result<(), String>,
) -> Result<ExportSummary, ExportError> {
    match format {
        ExportFormat::Csv => read_csv(input, &mut each),
        ExportFormat::Json => read_json(input, &mut each),
    }
}

fn read_csv(
    input: impl Read,
    each: &mut dyn FnMut(Result<ExportUser, BadRow>) -> Result<(), String>,
) -> Result<ExportSummary, ExportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        // SQL Server's "Save Results As" writes rows with fewer cells when trailing ones are
        // empty in some versions; a short row is read with the missing cells null.
        .flexible(true)
        .from_reader(strip_bom(input));
    let headers = reader
        .headers()
        .map_err(|e| ExportError::Header(e.to_string()))?
        .clone();
    let mut summary = ExportSummary::default();
    let columns: Vec<Option<Column>> = headers
        .iter()
        .map(|name| {
            let column = Column::named(name);
            if column.is_none() && !name.trim().is_empty() {
                summary.unknown_columns.insert(name.trim().to_owned());
            }
            column
        })
        .collect();
    for required in [Column::Id, Column::UserName] {
        if !columns.contains(&Some(required)) {
            return Err(ExportError::MissingColumn(required.name()));
        }
    }
    let mut record = csv::StringRecord::new();
    let mut row = 0u64;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            // Broken quoting or bytes that are not UTF-8: where the next row starts is no
            // longer known, so the read stops here, naming the row.
            Err(e) => {
                return Err(ExportError::Broken {
                    row: row + 1,
                    why: csv_error(&e),
                });
            }
        }
        row += 1;
        let mut builder = RowBuilder::new(row);
        let mut problem = None;
        for (cell, column) in record.iter().zip(&columns) {
            let Some(column) = *column else { continue };
            if let Err(why) = builder.set(column, Cell::Text(cell)) {
                problem.get_or_insert(why);
            }
        }
        let result = match problem {
            Some(reason) => Err(BadRow {
                row,
                id: record
                    .get(column_index(&columns, Column::Id))
                    .filter(|id| !id.is_empty())
                    .map(str::to_owned),
                reason,
            }),
            None => builder.finish(),
        };
        each(result).map_err(ExportError::Stopped)?;
    }
    Ok(summary)
}

fn column_index(columns: &[Option<Column>], wanted: Column) -> usize {
    columns
        .iter()
        .position(|c| *c == Some(wanted))
        .unwrap_or(usize::MAX)
}

/// The error without the record's content (`csv`'s messages name positions, not values).
fn csv_error(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Utf8 { .. } => "a cell is not UTF-8 text".to_owned(),
        _ => error.to_string(),
    }
}

/// SQL Server Management Studio and Excel begin a UTF-8 CSV with a byte order mark, which would
/// otherwise be read as part of the first column's name.
fn strip_bom(input: impl Read) -> impl Read {
    let mut input = std::io::BufReader::new(input);
    let bom = std::io::BufRead::fill_buf(&mut input)
        .map(|buf| buf.starts_with(b"\xEF\xBB\xBF"))
        .unwrap_or(false);
    if bom {
        std::io::BufRead::consume(&mut input, 3);
    }
    input
}

fn read_json(
    input: impl Read,
    each: &mut dyn FnMut(Result<ExportUser, BadRow>) -> Result<(), String>,
) -> Result<ExportSummary, ExportError> {
    let mut de = serde_json::Deserializer::from_reader(strip_bom(input));
    let mut summary = ExportSummary::default();
    let mut stopped = None;
    let outcome = de.deserialize_seq(Rows {
        each,
        summary: &mut summary,
        stopped: &mut stopped,
    });
    // A consumer that stopped left the array unfinished, which the parser reports too: the
    // consumer's reason is the one that matters.
    if let Some(stopped) = stopped {
        return Err(ExportError::Stopped(stopped));
    }
    outcome
        .and_then(|()| de.end())
        .map_err(|e| ExportError::Json(e.to_string()))?;
    Ok(summary)
}

/// Streams the array's objects to the consumer, until the end or until it stops the read.
struct Rows<'a> {
    each: &'a mut dyn FnMut(Result<ExportUser, BadRow>) -> Result<(), String>,
    summary: &'a mut ExportSummary,
    stopped: &'a mut Option<String>,
}

impl<'de> Visitor<'de> for Rows<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of AspNetUsers objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut row = 0u64;
        while let Some(object) = seq.next_element::<serde_json::Map<String, serde_json::Value>>()? {
            row += 1;
            let result = json_row(row, &object, self.summary);
            if let Err(stopped) = (self.each)(result) {
                *self.stopped = Some(stopped);
                return Ok(());
            }
        }
        Ok(())
    }
}

fn json_row(
    row: u64,
    object: &serde_json::Map<String, serde_json::Value>,
    summary: &mut ExportSummary,
) -> Result<ExportUser, BadRow> {
    use serde_json::Value;
    let mut builder = RowBuilder::new(row);
    let mut problem = None;
    let mut id = None;
    for (name, value) in object {
        let Some(column) = Column::named(name) else {
            if !summary.unknown_columns.contains(name) {
                summary.unknown_columns.insert(name.clone());
            }
            continue;
        };
        let number;
        let cell = match value {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(n) => Cell::Int(n),
                None => {
                    number = n.to_string();
                    Cell::Text(&number)
                }
            },
            Value::String(s) => Cell::Text(s),
            Value::Array(_) | Value::Object(_) => {
                problem.get_or_insert(format!("{} is not a single value", column.name()));
                continue;
            }
        };
        if column == Column::Id {
            id = value.as_str().map(str::to_owned);
        }
        if let Err(why) = builder.set(column, cell) {
            problem.get_or_insert(why);
        }
    }
    match problem {
        Some(reason) => Err(BadRow { row, id, reason }),
        None => builder.finish(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn read(text: &str, format: ExportFormat) -> (Vec<Result<ExportUser, BadRow>>, ExportSummary) {
        let mut rows = Vec::new();
        let summary = read_export(text.as_bytes(), format, |row| {
            rows.push(row);
            Ok(())
        })
        .unwrap();
        (rows, summary)
    }

    #[test]
    fn an_identity2_csv_export_as_ssms_writes_it_reads_with_nulls_bits_and_utc_instants() {
        let csv = "\u{feff}Id,Email,EmailConfirmed,PasswordHash,SecurityStamp,PhoneNumber,\
                   PhoneNumberConfirmed,TwoFactorEnabled,LockoutEndDateUtc,LockoutEnabled,\
                   AccessFailedCount,UserName\n\
                   3f2a,ann@example.com,1,AQAAAAEAACcQ,stamp,NULL,0,False,2030-05-01 10:00:00.000,True,2,ann\n";
        let (rows, summary) = read(csv, ExportFormat::Csv);
        assert!(summary.unknown_columns.is_empty());
        let user = rows.into_iter().next().unwrap().unwrap();
        assert_eq!(
            (user.row, user.id.as_str(), user.user_name.as_str()),
            (1, "3f2a", "ann")
        );
        assert!(user.email_confirmed && user.lockout_enabled && !user.two_factor_enabled);
        assert_eq!(user.phone_number, None);
        assert_eq!(user.access_failed_count, 2);
        assert_eq!(
            user.lockout_end.unwrap().to_rfc3339(),
            "2030-05-01T10:00:00+00:00"
        );
        assert_eq!(user.password_hash.unwrap().expose(), "AQAAAAEAACcQ");
    }

    #[test]
    fn a_core_json_export_as_for_json_writes_it_reads_with_offsets_and_missing_nulls() {
        let json = r#"[{"Id":"a1","UserName":"Bob","NormalizedUserName":"BOB",
            "EmailConfirmed":true,"LockoutEnd":"2030-01-01T12:00:00+02:00","LockoutEnabled":false,
            "AccessFailedCount":0,"FavouriteColour":"blue"}]"#;
        let (rows, summary) = read(json, ExportFormat::Json);
        assert_eq!(
            summary.unknown_columns.into_iter().collect::<Vec<_>>(),
            ["FavouriteColour"]
        );
        let user = rows.into_iter().next().unwrap().unwrap();
        assert_eq!(user.normalized_user_name.as_deref(), Some("BOB"));
        assert!(user.password_hash.is_none() && user.email.is_none());
        assert_eq!(
            user.lockout_end.unwrap().to_rfc3339(),
            "2030-01-01T10:00:00+00:00"
        );
    }

    #[test]
    fn a_bad_cell_makes_its_row_unusable_with_a_reason_that_quotes_no_value() {
        let csv = "Id,UserName,EmailConfirmed,LockoutEnd,PasswordHash\n\
                   1,ann,maybe,,s3cret-hash\n\
                   2,,1,,x\n\
                   3,cy,1,not-a-date,x\n\
                   4,dee,1,,x\n";
        let (rows, _) = read(csv, ExportFormat::Csv);
        let reasons: Vec<String> = rows
            .iter()
            .map(|r| match r {
                Ok(user) => format!("ok {}", user.id),
                Err(bad) => format!("{} {:?}: {}", bad.row, bad.id, bad.reason),
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "1 Some(\"1\"): EmailConfirmed is not a bit (1, 0, True or False)",
                "2 Some(\"2\"): UserName is empty",
                "3 Some(\"3\"): LockoutEnd is not a date and time",
                "ok 4",
            ]
        );
        assert!(
            !reasons
                .iter()
                .any(|r| r.contains("maybe") || r.contains("s3cret"))
        );
    }

    #[test]
    fn an_export_without_an_id_or_user_name_column_is_refused_before_any_row() {
        let err = read_export(
            "Email,UserName\na@b,ann\n".as_bytes(),
            ExportFormat::Csv,
            |_| panic!("no row may be read"),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the export has no Id column (its header row names the columns)"
        );
    }

    #[test]
    fn an_unterminated_quote_swallows_the_rest_into_one_cell_of_a_row_without_a_user_name() {
        // RFC 4180 reading: the quote runs to the end of the file, so the row has one cell.
        let (rows, _) = read("Id,UserName\n1,ann\n\"2,bob\n3,cy\n", ExportFormat::Csv);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].as_ref().unwrap().user_name, "ann");
        let bad = rows[1].as_ref().unwrap_err();
        assert_eq!((bad.row, bad.reason.as_str()), (2, "UserName is empty"));
    }

    #[test]
    fn a_json_document_that_is_not_an_array_is_one_clear_error() {
        let err =
            read_export(r#"{"Id":"1"}"#.as_bytes(), ExportFormat::Json, |_| Ok(())).unwrap_err();
        assert!(err.to_string().starts_with("not a JSON array"), "{err}");
    }

    #[test]
    fn the_consumer_can_stop_the_read() {
        let json = r#"[{"Id":"1","UserName":"a"},{"Id":"2","UserName":"b"}]"#;
        let mut seen = 0;
        let err = read_export(json.as_bytes(), ExportFormat::Json, |_| {
            seen += 1;
            Err("database gone".to_owned())
        })
        .unwrap_err();
        assert_eq!((seen, err.to_string()), (1, "database gone".to_owned()));
    }
}
