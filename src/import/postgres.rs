//! The import's sink for the postgres directory: rows go into the `AspNetUsers` table its schema
//! mapping names (presets and overrides, `directory::schema`), one transaction a batch. A batch
//! is copied (binary `COPY`) into a temporary table, rows whose user name another `Id` holds
//! already are taken out and reported, and the rest are upserted by `Id` in one statement that
//! writes a row only where a column differs, so a rerun changes nothing and says so. Only the
//! users table is written: roles and claims are not in an `AspNetUsers` export.
//!
//! `ConcurrencyStamp` (ASP.NET Core Identity) is the export's where it has one; otherwise a new
//! one on insert and on every update, as EF Core's store does, and it is not compared (a changed
//! stamp alone is not a change to the user).

use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::{BadRow, CheckedUser, Sink, Written};
use crate::directory::postgres::parse_url;
use crate::directory::{Name, PostgresOptions, SchemaMap, Table, normalize_key};

/// One column the import writes: its name in the temporary table, its SQL type there, and the
/// mapping's name in the users table.
struct Column {
    temp: &'static str,
    ty: Type,
    name: Name,
}

static COLUMNS: [Column; 15] = [
    col("id", Type::TEXT, Name::UserId),
    col("user_name", Type::TEXT, Name::UserName),
    col("normalized_user_name", Type::TEXT, Name::NormalizedUserName),
    col("email", Type::TEXT, Name::Email),
    col("normalized_email", Type::TEXT, Name::NormalizedEmail),
    col("email_confirmed", Type::BOOL, Name::EmailConfirmed),
    col("password_hash", Type::TEXT, Name::PasswordHash),
    col("security_stamp", Type::TEXT, Name::SecurityStamp),
    col("concurrency_stamp", Type::TEXT, Name::ConcurrencyStamp),
    col("phone_number", Type::TEXT, Name::PhoneNumber),
    col(
        "phone_number_confirmed",
        Type::BOOL,
        Name::PhoneNumberConfirmed,
    ),
    col("two_factor_enabled", Type::BOOL, Name::TwoFactorEnabled),
    // timestamptz here; written into a `timestamp` column (Identity 2's UTC one) under
    // TimeZone UTC, so the instant is kept as UTC either way.
    col("lockout_end", Type::TIMESTAMPTZ, Name::LockoutEnd),
    col("lockout_enabled", Type::BOOL, Name::LockoutEnabled),
    col("access_failed_count", Type::INT4, Name::AccessFailedCount),
];

const fn col(temp: &'static str, ty: Type, name: Name) -> Column {
    Column { temp, ty, name }
}

/// See the module docs.
pub struct PostgresUsers {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    /// The columns the mapping has (Identity 2 has no normalized or concurrency columns).
    columns: Vec<&'static Column>,
    statements: Statements,
    statistics: Statistics,
}

/// When the users table's planner statistics were last refreshed. A batch finds the rows whose
/// name is taken by joining on the lookup's expression index; with statistics from before the
/// import (an empty or small table) the planner scans the whole table for every batch instead,
/// which made a million-row rerun take minutes. So the table is analyzed before the first batch
/// and again whenever the rows inserted since outnumber those it had then (a handful of times
/// over an import), and each batch's temporary table before it is joined.
#[derive(Default)]
struct Statistics {
    /// The table's rows at the last ANALYZE; `None` before the first.
    rows: Option<u64>,
    inserted_since: u64,
}

/// The SQL of one batch, made once from the mapping.
struct Statements {
    create_temp: String,
    copy: String,
    analyze_users: String,
    /// The users table's row count as the last ANALYZE estimated it.
    estimated_rows: String,
    /// Rows whose user name belongs to another id in the table: `(row)`.
    taken_names: String,
    upsert: String,
}

impl PostgresUsers {
    /// Connects with the directory's URL and timeouts; the error never shows the URL.
    pub fn connect(options: &PostgresOptions) -> Result<Self, String> {
        let mut config = parse_url(&options.url)?;
        config.connect_timeout(options.connect_timeout);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        let (client, connection) = runtime
            .block_on(config.connect(tokio_postgres::NoTls))
            .map_err(|e| format!("cannot connect to the directory's database: {e}"))?;
        runtime.spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("directory database connection ended: {e}");
            }
        });
        let columns: Vec<&'static Column> = COLUMNS
            .iter()
            .filter(|c| options.schema.get(c.name).is_some())
            .collect();
        let statements = Statements::new(&options.schema, &columns);
        Ok(Self {
            runtime,
            client,
            columns,
            statements,
            statistics: Statistics::default(),
        })
    }
}

/// One batch in one transaction; see the module docs.
async fn write_batch(
    client: &mut tokio_postgres::Client,
    columns: &[&'static Column],
    statements: &Statements,
    statistics: &mut Statistics,
    batch: Vec<CheckedUser>,
) -> Result<Written, String> {
    let stale = match statistics.rows {
        None => true,
        Some(rows) => statistics.inserted_since > rows.max(batch.len() as u64),
    };
    if stale {
        client
            .batch_execute(&statements.analyze_users)
            .await
            .map_err(sql_error)?;
        let rows: i64 = client
            .query_one(&statements.estimated_rows, &[])
            .await
            .map_err(sql_error)?
            .get(0);
        *statistics = Statistics {
            rows: Some(u64::try_from(rows).unwrap_or_default()),
            inserted_since: 0,
        };
    }
    let tx = client.transaction().await.map_err(sql_error)?;
    tx.batch_execute(&statements.create_temp)
        .await
        .map_err(sql_error)?;
    let sink = tx.copy_in(&statements.copy).await.map_err(sql_error)?;
    let mut types: Vec<Type> = columns.iter().map(|c| c.ty.clone()).collect();
    types.push(Type::INT8);
    let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
    for checked in &batch {
        let values = Values::of(checked);
        let mut row: Vec<&(dyn ToSql + Sync)> =
            columns.iter().map(|c| values.get(c.name)).collect();
        let number = i64::try_from(checked.user.row).unwrap_or(i64::MAX);
        row.push(&number);
        writer.as_mut().write(&row).await.map_err(sql_error)?;
    }
    writer.finish().await.map_err(sql_error)?;
    tx.batch_execute("ANALYZE tokengate_import")
        .await
        .map_err(sql_error)?;
    let taken = tx
        .query(&statements.taken_names, &[])
        .await
        .map_err(sql_error)?;
    let mut written = Written::default();
    for row in taken {
        let number: i64 = row.get(0);
        let id: String = row.get(1);
        written.skipped.push(BadRow {
            row: u64::try_from(number).unwrap_or_default(),
            id: Some(id),
            reason: "UserName belongs to another Id in the directory".to_owned(),
        });
    }
    let changed = tx.query(&statements.upsert, &[]).await.map_err(sql_error)?;
    for row in &changed {
        if row.get::<_, bool>(0) {
            written.imported += 1;
        } else {
            written.updated += 1;
        }
    }
    tx.commit().await.map_err(sql_error)?;
    statistics.inserted_since += written.imported;
    written.unchanged = (batch.len() as u64)
        .saturating_sub(written.skipped.len() as u64 + written.imported + written.updated);
    Ok(written)
}

impl Sink for PostgresUsers {
    fn write(&mut self, batch: Vec<CheckedUser>) -> Result<Written, String> {
        // The runtime's own `block_on`: on a current-thread runtime only it drives the
        // connection's task (a `Handle::block_on` would wait for it forever).
        let Self {
            runtime,
            client,
            columns,
            statements,
            statistics,
        } = self;
        runtime.block_on(write_batch(client, columns, statements, statistics, batch))
    }

    /// Every batch was committed as it was written.
    fn finish(&mut self) -> Result<(), String> {
        Ok(())
    }
}

impl Statements {
    fn new(schema: &SchemaMap, columns: &[&Column]) -> Self {
        let users = schema.qualified(Table::Users);
        let name_of = |name: Name| {
            schema
                .get(name)
                .map(|ident| ident.to_string())
                .unwrap_or_default()
        };
        let id = name_of(Name::UserId);
        let temp_columns: Vec<String> = columns
            .iter()
            .map(|c| {
                let ty = match c.ty {
                    Type::BOOL => "boolean",
                    Type::TIMESTAMPTZ => "timestamptz",
                    Type::INT4 => "integer",
                    _ => "text",
                };
                format!("{} {ty}", c.temp)
            })
            .collect();
        let create_temp = format!(
            "SET LOCAL TimeZone = 'UTC'; \
             CREATE TEMPORARY TABLE tokengate_import ({}, import_row bigint) ON COMMIT DROP",
            temp_columns.join(", ")
        );
        let copy = format!(
            "COPY tokengate_import ({}, import_row) FROM STDIN (FORMAT binary)",
            columns
                .iter()
                .map(|c| c.temp)
                .collect::<Vec<_>>()
                .join(", ")
        );
        // The user name compared as each generation's lookup compares it: the normalized
        // column (Core), or the upper-cased name (Identity 2, whose SQL Server collation was
        // case-insensitive).
        let same_name = match schema.get(Name::NormalizedUserName) {
            Some(normalized) => format!("u.{normalized} = t.normalized_user_name"),
            None => format!("upper(u.{}) = upper(t.user_name)", name_of(Name::UserName)),
        };
        let taken_names = format!(
            "DELETE FROM tokengate_import t USING {users} u \
             WHERE {same_name} AND u.{id} <> t.id \
             RETURNING t.import_row, t.id"
        );
        let target: Vec<String> = columns.iter().map(|c| name_of(c.name)).collect();
        let source: Vec<String> = columns
            .iter()
            .map(|c| match c.name {
                Name::ConcurrencyStamp => {
                    "coalesce(t.concurrency_stamp, gen_random_uuid()::text)".to_owned()
                }
                _ => format!("t.{}", c.temp),
            })
            .collect();
        let compared: Vec<&Column> = columns
            .iter()
            .copied()
            .filter(|c| !matches!(c.name, Name::UserId | Name::ConcurrencyStamp))
            .collect();
        let set: Vec<String> = columns
            .iter()
            .filter(|c| c.name != Name::UserId)
            .map(|c| {
                let name = name_of(c.name);
                format!("{name} = EXCLUDED.{name}")
            })
            .collect();
        let old: Vec<String> = compared
            .iter()
            .map(|c| format!("{users}.{}", name_of(c.name)))
            .collect();
        let new: Vec<String> = compared
            .iter()
            .map(|c| format!("EXCLUDED.{}", name_of(c.name)))
            .collect();
        // `xmax = 0` on a returned row: it was inserted, not updated (PostgreSQL's documented
        // idiom for telling the two apart in an upsert's RETURNING).
        let upsert = format!(
            "INSERT INTO {users} ({}) SELECT {} FROM tokengate_import t \
             ON CONFLICT ({id}) DO UPDATE SET {} \
             WHERE ({}) IS DISTINCT FROM ({}) \
             RETURNING (xmax = 0)",
            target.join(", "),
            source.join(", "),
            set.join(", "),
            old.join(", "),
            new.join(", "),
        );
        // reltuples is -1 for a table never analyzed (PostgreSQL 14 and later).
        let estimated_rows = format!(
            "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = '{}'::regclass",
            users.replace('\'', "''")
        );
        Self {
            create_temp,
            copy,
            analyze_users: format!("ANALYZE {users}"),
            estimated_rows,
            taken_names,
            upsert,
        }
    }
}

static NULL: Option<String> = None;

/// One row's values by temporary column, computed once (the normalized forms, the hash text).
struct Values<'a> {
    user: &'a super::ExportUser,
    normalized_user_name: String,
    normalized_email: Option<String>,
    password_hash: Option<&'a str>,
}

impl<'a> Values<'a> {
    fn of(checked: &'a CheckedUser) -> Self {
        let user = &checked.user;
        Self {
            user,
            normalized_user_name: user
                .normalized_user_name
                .clone()
                .unwrap_or_else(|| normalize_key(&user.user_name)),
            normalized_email: user
                .normalized_email
                .clone()
                .or_else(|| user.email.as_deref().map(normalize_key)),
            password_hash: user.password_hash.as_ref().map(|h| h.expose().trim()),
        }
    }

    fn get(&self, column: Name) -> &(dyn ToSql + Sync) {
        let user = self.user;
        match column {
            Name::UserId => &user.id,
            Name::UserName => &user.user_name,
            Name::NormalizedUserName => &self.normalized_user_name,
            Name::Email => &user.email,
            Name::NormalizedEmail => &self.normalized_email,
            Name::EmailConfirmed => &user.email_confirmed,
            Name::PasswordHash => &self.password_hash,
            Name::SecurityStamp => &user.security_stamp,
            Name::ConcurrencyStamp => &user.concurrency_stamp,
            Name::PhoneNumber => &user.phone_number,
            Name::PhoneNumberConfirmed => &user.phone_number_confirmed,
            Name::TwoFactorEnabled => &user.two_factor_enabled,
            Name::LockoutEnd => &user.lockout_end,
            Name::LockoutEnabled => &user.lockout_enabled,
            Name::AccessFailedCount => &user.access_failed_count,
            // Roles and claims: COLUMNS names none of them.
            _ => &NULL,
        }
    }
}

/// The database's own message (which never holds a row's values for these statements, only
/// names and constraint texts), with its SQLSTATE.
fn sql_error(error: tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}
