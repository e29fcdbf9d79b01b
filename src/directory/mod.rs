//! User directories beside the TOML: the users of a legacy database, behind the engine's
//! [`UserDirectory`] trait, as the token stores are behind the domain's. One backend today:
//! [`postgres`], an ASP.NET Identity schema ([`schema`]) in PostgreSQL, read with a bounded
//! cache in front. `[directory] kind` picks it; the default, `toml`, is the `[[user]]` items
//! ([`crate::engine::TomlUsers`]).

pub mod postgres;
pub mod schema;

use std::sync::Arc;

use crate::engine::{Directory, UserDirectory};

pub use postgres::{
    CacheSettings, ConnectReport, CustomQueries, HashCensus, LookupBy, PgDirectory,
    PostgresOptions, UpgradeTarget,
};
pub use schema::{Ident, IdentError, Name, Preset, SchemaMap, Table, normalize_key};

/// Where users come from, validated from `[directory]`.
#[derive(Debug, Clone, Default)]
pub enum DirectoryBackend {
    /// The `[[user]]` items.
    #[default]
    Toml,
    Postgres(Box<PostgresOptions>),
}

/// Why a directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot start the directory's connection thread: {0}")]
    Thread(std::io::Error),
    #[error("{0}")]
    Config(String),
}

impl DirectoryBackend {
    /// The directory to look users up in. A database directory connects on first use, so a
    /// gateway starts (and answers client_credentials) while the database is down.
    pub fn open(&self, toml: &Directory) -> Result<Arc<dyn UserDirectory>, OpenError> {
        Ok(match self {
            DirectoryBackend::Toml => toml.users(),
            DirectoryBackend::Postgres(options) => Arc::new(PgDirectory::new(options)?),
        })
    }

    /// What and where, for messages: never the password.
    pub fn describe(&self) -> String {
        match self {
            DirectoryBackend::Toml => "toml ([[user]] items)".to_owned(),
            DirectoryBackend::Postgres(options) => options.describe(),
        }
    }

    /// `tokengate check --connect`: every problem the database shows, one line each (none:
    /// the directory can serve). `create` makes tokengate's own upgrades table when it is
    /// missing.
    pub fn check_connect(&self, create: bool) -> ConnectReport {
        match self {
            DirectoryBackend::Toml => ConnectReport::default(),
            DirectoryBackend::Postgres(options) => postgres::check(options, create),
        }
    }
}
