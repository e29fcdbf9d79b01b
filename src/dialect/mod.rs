//! Dialects: how a legacy token endpoint looked on the wire. A dialect is a profile
//! (`dialects/<name>.toml`, embedded in the binary) that composes the mechanisms of this module:
//! body codecs, client-credential sources, password encodings, value sources, the error table.
//! A [`TokenRoute`] is one profile with a route's overrides applied, compiled once at startup;
//! it turns a [`crate::wire::WireRequest`] into a canonical [`crate::engine::GrantRequest`], and
//! a [`crate::engine::Grant`] or a [`Failure`] back into a [`crate::wire::WireResponse`].
//! Nothing here knows the web framework or the storage.
//!
//! | file | role |
//! |---|---|
//! | `profile.rs` | the profile language: the typed mirror of `dialects/*.toml` |
//! | `route.rs` | compiling a profile into a [`TokenRoute`], with every problem found |
//! | `required.rs` | the parameters each grant requires |
//! | `request.rs`, `credentials.rs`, `codec.rs`, `form.rs`, `xml/` | reading a request |
//! | `outcome.rs` | outcomes and the error table's rows ([`ErrorKind`]) |
//! | `respond.rs`, `render.rs`, `value.rs`, `xml/` | writing the answer |
//! | `negotiate/`, `negotiated.rs` | Web API's content negotiation, and its outcomes remembered per route |

pub mod codec;
pub mod credentials;
pub mod form;
pub mod negotiate;
pub mod negotiated;
pub mod outcome;
pub mod profile;
pub mod render;
pub mod request;
pub mod required;
pub mod respond;
pub mod route;
pub mod source;
pub mod value;
pub mod xml;

pub use credentials::basic;
pub use negotiated::Rendering;
pub use outcome::{ErrorKind, Failure};
pub use profile::{Profile, ProfileProblem};
pub use route::TokenRoute;

/// The names of the built-in dialects, for error messages.
pub fn known_dialects() -> String {
    source::DIALECTS.join(", ")
}
