//! # tokengate
//!
//! A token gateway that speaks the wire dialects of legacy token endpoints, so existing clients
//! keep working unchanged while the system behind them moves on.
//!
//! ## One request's path through the code
//!
//! 1. [`http`] (actix-web) receives `POST /api/Token`, finds the [`dialect::TokenRoute`] for the
//!    path in the [`gateway::Gateway`]'s route table, reads the body up to the route's limit and
//!    resolves the caller's address (trusting `X-Forwarded-For` only from configured proxies).
//! 2. The route's dialect ([`dialect`]: a profile from `dialects/<name>.toml` with the route's
//!    overrides) parses the [`wire::WireRequest`] into a canonical
//!    [`engine::GrantRequest`]: Katana form rules, Basic or body client credentials, the password
//!    proof (plain or SHA-1 hex). A request it cannot read is a [`wire::Refusal`].
//! 3. The [`engine::Engine`] authenticates the client and user, mints the JWT access token and
//!    issues or rotates the refresh token in the [`store`] (through the [`domain::TokenStore`]
//!    trait), returning a [`engine::Grant`] or a [`engine::GrantError`]. Users come from the
//!    TOML or, through the [`engine::UserDirectory`] trait, a database ([`directory`]).
//! 4. The dialect renders the outcome as its own bytes: members in the profile's order and
//!    types, or the row of its error table ([`dialect::Failure`] names the row); [`http`] sends
//!    the [`wire::WireResponse`] and logs one line (route, dialect, grant, outcome, latency;
//!    never a secret).
//!
//! The layers and what each may use are in `DESIGN.md` (a test holds the code to that table):
//! [`domain`] at the bottom, then [`wire`], [`engine`], [`store`], [`dialect`], [`endpoints`],
//! [`gateway`], [`config`] and [`http`]; nothing below [`http`] uses actix. `main.rs` is the CLI.

pub mod config;
pub mod dialect;
pub mod directory;
pub mod domain;
pub mod endpoints;
pub mod engine;
pub mod gateway;
pub mod http;
pub mod import;
pub mod json;
pub mod logging;
pub mod shadow;
pub mod store;
pub mod sys;
pub mod testing;
pub mod testkit;
pub mod wire;
