//! Where an ASP.NET Identity database keeps its users: the table and column names of the two
//! schema presets, each overridable by key (`users.user_name`, `roles.table`, ...), and the
//! lookup normalisation each legacy server applied. Both the directory's queries and
//! `tokengate users import` read names from here, so one mapping describes one database.
//!
//! The names are those EF Core's Npgsql provider (and a straight migration from SQL Server)
//! gives the Identity entities: PascalCase, so every one is written quoted (`"AspNetUsers"`).
//! `tests/postgres/identity2.sql` and `tests/postgres/identity_core.sql` create each schema.

use std::fmt;

/// Which ASP.NET Identity generation the database was made by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// ASP.NET Identity 2 (`Microsoft.AspNet.Identity.EntityFramework`, the Web API 2
    /// template's era): no normalized columns, `LockoutEndDateUtc` a UTC `datetime`, user names
    /// compared case-insensitively (its store compared `UserName.ToUpper()` with the input's
    /// `ToUpper()`, and SQL Server's default collation is case-insensitive anyway).
    Identity2,
    /// ASP.NET Core Identity (EF Core stores): `NormalizedUserName` and `NormalizedEmail` hold
    /// [`normalize_key`] of the name and address, which is what a lookup compares;
    /// `LockoutEnd` a `DateTimeOffset` (`timestamp with time zone`).
    IdentityCore,
}

impl Preset {
    /// Both presets, in documentation order.
    pub const ALL: [Preset; 2] = [Preset::Identity2, Preset::IdentityCore];

    /// The name `[directory] schema` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Identity2 => "identity2",
            Preset::IdentityCore => "identity_core",
        }
    }

    /// The preset a `[directory] schema` value names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What ASP.NET Core Identity stores in `NormalizedUserName` and `NormalizedEmail`, and
/// compares a lookup's input with: `UpperInvariantLookupNormalizer`, i.e.
/// `key.Normalize().ToUpperInvariant()` (Unicode NFC, then the invariant culture's upper
/// case; <https://github.com/dotnet/aspnetcore/blob/main/src/Identity/Extensions.Core/src/UpperInvariantLookupNormalizer.cs>).
/// `ToUpperInvariant` maps one UTF-16 unit to one (simple case mapping): `ß` stays `ß` where
/// Rust's `to_uppercase` would write `SS`, so a character whose full upper case is several is
/// kept as it is.
pub fn normalize_key(key: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    key.nfc()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(single), None) => single,
                _ => c,
            }
        })
        .collect()
}

/// A PostgreSQL identifier (a table or column name), as the database spells it; written
/// quoted, so case and any character survive.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Ident(Box<str>);

/// Why a name cannot be a PostgreSQL identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("must not be empty")]
    Empty,
    #[error("must not contain a NUL character")]
    Nul,
    /// PostgreSQL would silently truncate it (`NAMEDATALEN` is 64 bytes, one for the NUL).
    #[error("is {0} bytes long; PostgreSQL keeps at most 63 bytes of a name")]
    TooLong(usize),
}

impl Ident {
    /// The longest name PostgreSQL keeps whole, in bytes.
    pub const MAX_LEN: usize = 63;

    pub fn new(name: &str) -> Result<Self, IdentError> {
        if name.is_empty() {
            Err(IdentError::Empty)
        } else if name.contains('\0') {
            Err(IdentError::Nul)
        } else if name.len() > Self::MAX_LEN {
            Err(IdentError::TooLong(name.len()))
        } else {
            Ok(Self(name.into()))
        }
    }

    /// The name as the database spells it, unquoted.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name quoted for SQL text: `"AspNetUsers"`, an embedded `"` doubled.
    pub fn quoted(&self) -> String {
        self.to_string()
    }

    /// A name known to be valid (the presets' own).
    fn known(name: &'static str) -> Self {
        Self(name.into())
    }
}

/// Writes the quoted form, as SQL text needs it.
impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for (i, part) in self.0.split('"').enumerate() {
            if i > 0 {
                f.write_str("\"\"")?;
            }
            f.write_str(part)?;
        }
        f.write_str("\"")
    }
}

impl fmt::Debug for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The four tables a directory reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Users,
    Roles,
    UserRoles,
    UserClaims,
}

impl Table {
    pub const ALL: [Table; 4] = [
        Table::Users,
        Table::Roles,
        Table::UserRoles,
        Table::UserClaims,
    ];

    /// The key prefix of the table's names, and its `[directory.<prefix>]` table of overrides.
    pub fn prefix(self) -> &'static str {
        match self {
            Table::Users => "users",
            Table::Roles => "roles",
            Table::UserRoles => "user_roles",
            Table::UserClaims => "user_claims",
        }
    }

    /// The key naming the table itself.
    pub fn name_key(self) -> Name {
        match self {
            Table::Users => Name::Users,
            Table::Roles => Name::Roles,
            Table::UserRoles => Name::UserRoles,
            Table::UserClaims => Name::UserClaims,
        }
    }
}

/// Declares [`Name`]: each key, its table, its configuration key and its name in each preset
/// (`None`: the preset has no such column).
macro_rules! names {
    ($($(#[$doc:meta])* $variant:ident: $table:ident, $key:literal, $identity2:expr, $core:expr;)*) => {
        /// One overridable name: a table (`users.table`) or a column (`users.user_name`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Name {
            $($(#[$doc])* $variant,)*
        }

        impl Name {
            /// Every key, tables before their columns, in documentation order.
            pub const ALL: &'static [Name] = &[$(Name::$variant,)*];

            /// The table the name belongs to.
            pub fn table(self) -> Table {
                match self {
                    $(Name::$variant => Table::$table,)*
                }
            }

            /// The key within the table's overrides: `table` for the table itself, otherwise
            /// the column's (`user_name`).
            pub fn key(self) -> &'static str {
                match self {
                    $(Name::$variant => $key,)*
                }
            }

            /// The name `preset` gives it, if it has one.
            pub fn default_in(self, preset: Preset) -> Option<&'static str> {
                match (self, preset) {
                    $(
                        (Name::$variant, Preset::Identity2) => $identity2,
                        (Name::$variant, Preset::IdentityCore) => $core,
                    )*
                }
            }
        }
    };
}

names! {
    Users: Users, "table", Some("AspNetUsers"), Some("AspNetUsers");
    UserId: Users, "id", Some("Id"), Some("Id");
    UserName: Users, "user_name", Some("UserName"), Some("UserName");
    /// identity_core: what a lookup by user name compares with [`normalize_key`] of the input.
    NormalizedUserName: Users, "normalized_user_name", None, Some("NormalizedUserName");
    Email: Users, "email", Some("Email"), Some("Email");
    /// identity_core: what a lookup by e-mail compares with [`normalize_key`] of the input.
    NormalizedEmail: Users, "normalized_email", None, Some("NormalizedEmail");
    EmailConfirmed: Users, "email_confirmed", Some("EmailConfirmed"), Some("EmailConfirmed");
    PasswordHash: Users, "password_hash", Some("PasswordHash"), Some("PasswordHash");
    SecurityStamp: Users, "security_stamp", Some("SecurityStamp"), Some("SecurityStamp");
    ConcurrencyStamp: Users, "concurrency_stamp", None, Some("ConcurrencyStamp");
    PhoneNumber: Users, "phone_number", Some("PhoneNumber"), Some("PhoneNumber");
    PhoneNumberConfirmed: Users, "phone_number_confirmed", Some("PhoneNumberConfirmed"), Some("PhoneNumberConfirmed");
    TwoFactorEnabled: Users, "two_factor_enabled", Some("TwoFactorEnabled"), Some("TwoFactorEnabled");
    /// identity2: `LockoutEndDateUtc`, a UTC `timestamp`; identity_core: `LockoutEnd`, a
    /// `timestamptz`. The directory reads either type.
    LockoutEnd: Users, "lockout_end", Some("LockoutEndDateUtc"), Some("LockoutEnd");
    LockoutEnabled: Users, "lockout_enabled", Some("LockoutEnabled"), Some("LockoutEnabled");
    AccessFailedCount: Users, "access_failed_count", Some("AccessFailedCount"), Some("AccessFailedCount");
    Roles: Roles, "table", Some("AspNetRoles"), Some("AspNetRoles");
    RoleId: Roles, "id", Some("Id"), Some("Id");
    RoleName: Roles, "name", Some("Name"), Some("Name");
    RoleNormalizedName: Roles, "normalized_name", None, Some("NormalizedName");
    RoleConcurrencyStamp: Roles, "concurrency_stamp", None, Some("ConcurrencyStamp");
    UserRoles: UserRoles, "table", Some("AspNetUserRoles"), Some("AspNetUserRoles");
    UserRoleUserId: UserRoles, "user_id", Some("UserId"), Some("UserId");
    UserRoleRoleId: UserRoles, "role_id", Some("RoleId"), Some("RoleId");
    UserClaims: UserClaims, "table", Some("AspNetUserClaims"), Some("AspNetUserClaims");
    ClaimId: UserClaims, "id", Some("Id"), Some("Id");
    ClaimUserId: UserClaims, "user_id", Some("UserId"), Some("UserId");
    ClaimType: UserClaims, "claim_type", Some("ClaimType"), Some("ClaimType");
    ClaimValue: UserClaims, "claim_value", Some("ClaimValue"), Some("ClaimValue");
}

impl Name {
    /// The full configuration key: `users.user_name`, `roles.table`.
    pub fn path(self) -> String {
        format!("{}.{}", self.table().prefix(), self.key())
    }

    /// The name a key within a table's overrides names (`table`, `user_name`).
    pub fn find(table: Table, key: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|name| name.table() == table && name.key() == key)
    }

    /// The keys a table's overrides take, for messages.
    pub fn keys_of(table: Table) -> Vec<&'static str> {
        Self::ALL
            .iter()
            .filter(|name| name.table() == table)
            .map(|name| name.key())
            .collect()
    }
}

/// Where one Identity database keeps its users: a preset's names with the configured
/// overrides, and the PostgreSQL schema the tables are in.
#[derive(Clone, PartialEq, Eq)]
pub struct SchemaMap {
    preset: Preset,
    /// `None`: unqualified, found through the connection's `search_path`.
    table_schema: Option<Ident>,
    names: Vec<Option<Ident>>,
}

impl fmt::Debug for SchemaMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemaMap")
            .field("preset", &self.preset)
            .field("table_schema", &self.table_schema)
            .field(
                "overrides",
                &Name::ALL
                    .iter()
                    .filter(|name| self.is_overridden(**name))
                    .map(|name| (name.path(), self.get(*name)))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SchemaMap {
    /// The preset's names, unqualified.
    pub fn new(preset: Preset) -> Self {
        Self {
            preset,
            table_schema: None,
            names: Name::ALL
                .iter()
                .map(|name| name.default_in(preset).map(Ident::known))
                .collect(),
        }
    }

    pub fn preset(&self) -> Preset {
        self.preset
    }

    /// The PostgreSQL schema the tables are in (`None`: the connection's `search_path`).
    pub fn table_schema(&self) -> Option<&Ident> {
        self.table_schema.as_ref()
    }

    pub fn set_table_schema(&mut self, schema: Option<Ident>) {
        self.table_schema = schema;
    }

    /// The name configured for `name`; `None` when the preset has no such column and none was
    /// configured.
    pub fn get(&self, name: Name) -> Option<&Ident> {
        self.names.get(index(name)).and_then(Option::as_ref)
    }

    /// Overrides one name (a preset's missing column may be given one too).
    pub fn set(&mut self, name: Name, ident: Ident) {
        if let Some(slot) = self.names.get_mut(index(name)) {
            *slot = Some(ident);
        }
    }

    /// Whether `name` differs from its preset's default.
    pub fn is_overridden(&self, name: Name) -> bool {
        self.get(name).map(Ident::as_str) != name.default_in(self.preset)
    }

    /// A table's name for SQL text, qualified with the table schema when there is one:
    /// `"legacy"."AspNetUsers"`.
    pub fn qualified(&self, table: Table) -> String {
        let name = self
            .get(table.name_key())
            .cloned()
            .unwrap_or_else(|| Ident::known("?"));
        match &self.table_schema {
            Some(schema) => format!("{schema}.{name}"),
            None => name.to_string(),
        }
    }
}

fn index(name: Name) -> usize {
    Name::ALL.iter().position(|n| *n == name).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_name_the_entity_framework_columns() {
        let core = SchemaMap::new(Preset::IdentityCore);
        assert_eq!(core.qualified(Table::Users), "\"AspNetUsers\"");
        assert_eq!(
            core.get(Name::NormalizedUserName).map(Ident::as_str),
            Some("NormalizedUserName")
        );
        assert_eq!(
            core.get(Name::LockoutEnd).map(Ident::as_str),
            Some("LockoutEnd")
        );
        let two = SchemaMap::new(Preset::Identity2);
        assert_eq!(two.get(Name::NormalizedUserName), None);
        assert_eq!(
            two.get(Name::LockoutEnd).map(Ident::as_str),
            Some("LockoutEndDateUtc")
        );
    }

    #[test]
    fn overrides_and_qualification() {
        let mut map = SchemaMap::new(Preset::Identity2);
        map.set(Name::UserName, Ident::new("Login").expect("valid"));
        map.set_table_schema(Some(Ident::new("legacy").expect("valid")));
        assert!(map.is_overridden(Name::UserName));
        assert!(!map.is_overridden(Name::Email));
        assert_eq!(map.get(Name::UserName).map(Ident::as_str), Some("Login"));
        assert_eq!(
            map.qualified(Table::UserClaims),
            "\"legacy\".\"AspNetUserClaims\""
        );
        assert_eq!(Name::find(Table::Users, "user_name"), Some(Name::UserName));
        assert_eq!(Name::find(Table::Roles, "user_name"), None);
        assert_eq!(Name::UserRoleRoleId.path(), "user_roles.role_id");
    }

    #[test]
    fn identifiers_are_quoted_and_bounded() {
        assert_eq!(
            Ident::new("we\"ird").expect("valid").quoted(),
            "\"we\"\"ird\""
        );
        assert_eq!(Ident::new(""), Err(IdentError::Empty));
        assert_eq!(Ident::new("a\0b"), Err(IdentError::Nul));
        assert_eq!(Ident::new(&"x".repeat(64)), Err(IdentError::TooLong(64)));
        assert!(Ident::new(&"x".repeat(63)).is_ok());
    }

    #[test]
    fn keys_normalize_as_upper_invariant_after_nfc() {
        assert_eq!(normalize_key("Alice@Example.com"), "ALICE@EXAMPLE.COM");
        // Simple case mapping: ToUpperInvariant leaves ß alone.
        assert_eq!(normalize_key("straße"), "STRAßE");
        // NFC first: e + combining acute becomes é, then É.
        assert_eq!(normalize_key("e\u{301}"), "\u{c9}");
        assert_eq!(normalize_key("ǆ"), "Ǆ");
    }
}
