//! Identifiers: cheap-to-clone newtypes for the names of clients, users, roles, scopes and
//! sessions, so that one cannot be passed where another is meant.

use std::fmt;
use std::sync::Arc;

/// Declares a cheap-to-clone string newtype whose value is safe to show.
macro_rules! public_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a value.
            pub fn new(value: impl Into<Arc<str>>) -> Self {
                Self(value.into())
            }
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

public_string!(
    /// The identifier a client presents (`client_id`).
    ClientId
);
public_string!(
    /// A user's stable identifier (`userId`, the JWT `sub`).
    UserId
);
public_string!(
    /// A user's login name as configured (shown back as `userName`).
    Username
);
public_string!(
    /// A space-separated scope string, as granted.
    Scope
);
public_string!(
    /// A user's role, shown in tokens and some dialects' bodies.
    Role
);

/// A login session: one refresh-token family, stable across refreshes (`session_state`, the
/// JWT `sid`). Reuse detection revokes a whole session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub uuid::Uuid);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}
