//! User directories beside the TOML: the users of a legacy database. [`schema`] names the
//! tables and columns of an ASP.NET Identity database.

pub mod schema;

pub use schema::{Ident, IdentError, Name, Preset, SchemaMap, Table, normalize_key};
