//! The shared vocabulary at the bottom of the house: identifiers, secrets, grant types, token
//! claims, and the records and trait of the token store. The engine, the stores and the
//! dialects all speak it; it imports none of them (only the [`crate::json`] writer beneath it).

#![deny(missing_docs)]

pub mod claims;
pub mod grant;
pub mod ids;
pub mod secret;
pub mod store;

pub use claims::Claims;
pub use grant::GrantType;
pub use ids::{ClientId, Role, Scope, SessionId, UserId, Username};
pub use secret::{
    AccessToken, PasswordProof, RefreshToken, Secret, Sha1Hex, Sha1HexError, is_secret_member,
};
pub use store::{
    AccessRecord, CounterKey, FailureWindow, Fill, NotBefore, RefreshRecord, Rotation, SealedToken,
    StampDigest, StoreError, StoreLimits, Subject, Taken, TokenKey, TokenStore, Usage,
};
