//! tokengate's one integration test binary (one binary links once; see DESIGN.md "Tests").
//!
//! | module | what it pins |
//! |---|---|
//! | `golden` | every exchange in `fixtures/<dialect>/`, byte for byte, fixed clock, key and ids |
//! | `vizseek` | Katana `expires_in` arithmetic, JWT claims, per-route overrides |
//! | `refresh` | rotation, reuse detection, 200 concurrent redemptions of one token (strict: one success) |
//! | `bad_input` | hostile and broken bodies get a dialect-shaped 4xx, never a panic or 500 |
//! | `hostile` | one request of each hostile class on each demo route: a 4xx in the dialect's Content-Type, never a hang, and a normal grant afterwards |
//! | `fuzz_corpus` | every file of `fuzz/corpus/*` through the entry point its fuzz target drives, without a panic |
//! | `defined` | dialects defined in a config: per-format parameter names, header credentials, required parameters, `jti`, epoch seconds, zero values, `{request.NAME}` |
//! | `hashes` | ASP.NET Identity hashes made by Mono verify (committed and fresh from `.ci/run`); every hash kind signs in through a dialect, every malformed one fails as the dialect does; `check` lines for malformed hashes and digest routes over plain hashes |
//! | `config` | the demo config loads; each invalid file fails naming the right key, every mistake in one run; defined dialects; `tokengate profile` |
//! | `server` | a real socket: the binary's routes, /healthz, 404, body limits (declared, chunked, truncated) |
//! | `hostile_http` | hostile load on a real socket: a body that never arrives gets 408 and a closed connection, oversize 413 and broken bodies 400 however they break, `Expect: 100-continue` over the limit refused before the body, 1 000 malformed requests write a bounded log, 500 head-only connections leave the server serving |
//! | `owin` | the /Token discard rule, introspection, revocation, opaque tokens, JWKS and key rotation |
//! | `swagger` | Web API negotiation over HTTP (Accept x Content-Type), hostile XML, session members |
//! | `tokens` | scope tables per dialect, refresh tokens bound to their group, revocations that outlive the family, the reuse grace (inside, outside, concurrent, two gateways on Redis), counted failures, faithful password errors |
//! | `store` | one conformance suite run unchanged on the memory, file and Redis stores: atomic rotation (400 races of 4), replay with the successor, a rotation into a full store takes its parent's slot, sessions, markers, access tokens, expiry |
//! | `redis_stall` | a Redis of the test's own stopped (SIGSTOP) for 1 s, longer than the store timeout: the 32 refreshes in flight answer 503, and each client's retry with the same token gets the successor of the rotation Redis ran on resuming |
//! | `capacity` | quotas through the HTTP API, `/healthz` and `/readyz` on a full store, `check` of the capacity keys |
//! | `cluster` | gateway processes: two on one Redis, the file store through `kill -9`, Redis outage and recovery, `check --connect` |
//! | `postgres` | the PostgreSQL user directory on the real database (an Identity schema per test): every hash kind through every dialect, identity2 and identity_core lookups, lockout, unconfirmed e-mail, roles, claims, the cache's TTL and lookups per grant, an outage through a cut proxy (503 in time, refresh from the cache, /readyz) and recovery, `check --connect` on good and broken schemas, `upgrade_to` |
//! | `profile_docs` | docs/profiles.md lists every key the profile deserializer accepts (traced from the code), every value name, row and value source |
//! | `layering` | every module uses only the layers DESIGN.md's table allows (read from the file); nothing below `http` uses actix |

// A failed assumption in a test or a bench is a failure to see, not a request to survive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod capacity;
mod cluster;
mod config;
mod defined;
mod discovery;
mod fuzz_corpus;
mod golden;
mod hashes;
mod helpers;
mod hostile;
mod hostile_http;
mod import;
mod katana;
mod layering;
mod metrics;
mod owin;
mod postgres;
mod profile_docs;
mod redis_stall;
mod reference;
mod refresh;
mod reload;
mod server;
mod shadow;
mod store;
mod swagger;
mod testkit;
mod tls;
mod tokens;
mod vizseek;
