//! The memory benchmark, in its own process (`--memory-child`) so its RSS starts clean:
//! resident bytes per live refresh token after 1 000 000 grants through the engine, then what
//! happens once they have all expired and later grants let the store's incremental sweep retire
//! them, and whether a second million fits in the memory the first one left behind.
//!
//! The gateway is built as `tokengate serve` builds it (`tokengate::http::build_gateway`), with a
//! fixed clock the bench moves. Its `MemoryStore` is not reachable from outside, so the store's
//! entry count cannot be shown; RSS is what is reported.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokengate::config::{Source, load_with_env};
use tokengate::domain::ClientId;
use tokengate::engine::{ClientAuth, ClientAuthVia, FixedClock, GrantKind, GrantRequest, OsIds};
use tokengate::gateway::Gateway;
use tokengate::http::{Runtime, build_gateway};

use super::procs::self_status_bytes;

const TOKENS: usize = 1_000_000;
const PATH: &str = "/api/Token";

/// client_credentials grants with `refresh_for_client_credentials = true`, so each grant stores
/// one refresh token without an argon2 verification (a million of those would take hours).
const CONFIG: &str = r#"
[signing]
secret = "load-bench-signing-secret-0123456789abcdef"
[store]
max_entries = 4000000
# One client holds all million tokens here (the bench measures bytes per token, not fairness).
max_sessions_per_client = 4000000
[[client]]
id = "demo-client"
[[route]]
dialect = "vizseek"
path = "/api/Token"
refresh_for_client_credentials = true
"#;

/// The store retires at most this many expired items per insert (`SWEEP_BUDGET` in
/// src/store/memory/mod.rs), oldest first; the new tokens are not due, so a million expired
/// tokens leave within 125 000 grants. The bench drives 200 000.
const SWEEP_GRANTS: usize = 200_000;

struct Bench {
    gateway: Gateway,
    clock: Arc<FixedClock>,
    request: GrantRequest,
    runtime: tokio::runtime::Runtime,
}

impl Bench {
    fn new(t0: DateTime<Utc>) -> Result<Self, String> {
        let settings =
            load_with_env(&Source::Text(CONFIG.into()), false).map_err(|e| e.to_string())?;
        let clock = Arc::new(FixedClock::new(t0));
        // As `tokengate serve` does before it builds a memory store: without it the second
        // million would not fit in what the first left (see `tokengate::sys`).
        tokengate::sys::map_large_allocations();
        let gateway = build_gateway(
            settings,
            Runtime {
                clock: clock.clone(),
                ids: Arc::new(OsIds),
            },
        )
        .map_err(|e| e.to_string())?;
        // What the VizSeek dialect makes of `grant_type=client_credentials&client_id=demo-client`:
        // built directly, so the bench measures the engine and store, not the form parser.
        let request = GrantRequest {
            client: ClientAuth {
                id: Some(ClientId::new("demo-client")),
                secret: None,
                via: ClientAuthVia::Body,
            },
            grant: Ok(GrantKind::ClientCredentials),
            scope: None,
            peer: std::net::Ipv4Addr::LOCALHOST.into(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            gateway,
            clock,
            request,
            runtime,
        })
    }

    fn refresh_ttl(&self) -> Result<TimeDelta, String> {
        self.gateway
            .route(PATH)
            .and_then(|route| route.policy().refresh_token_ttl)
            .ok_or_else(|| format!("{PATH} issues no refresh tokens"))
    }

    /// `n` grants, the clock moving 1 ms between them: tokens spread over expiry seconds as at
    /// 1 000 grants/s, rather than all landing in one bucket of the expiry wheel.
    fn grants(&self, n: usize) -> Result<(), String> {
        let route = self
            .gateway
            .route(PATH)
            .ok_or_else(|| format!("no route {PATH}"))?;
        self.runtime.block_on(async {
            for _ in 0..n {
                self.clock.advance(TimeDelta::milliseconds(1));
                let grant = self
                    .gateway
                    .engine()
                    .grant(self.request.clone(), route.policy())
                    .await
                    .map_err(|e| format!("grant refused: {e}"))?;
                if grant.refresh.is_none() {
                    return Err("the grant carried no refresh token".into());
                }
            }
            Ok(())
        })
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn rss() -> Result<u64, String> {
    self_status_bytes("VmRSS")
}

/// Runs the benchmark and prints its section.
pub fn run() -> Result<(), String> {
    let t0 = DateTime::from_timestamp(1_700_000_000, 0).ok_or("t0")?;
    let bench = Bench::new(t0)?;
    // One grant first so lazily built state (thread-locals, the runtime) is not counted.
    bench.grants(1)?;
    let before = rss()?;
    let started = std::time::Instant::now();
    bench.grants(TOKENS)?;
    let fill_secs = started.elapsed().as_secs_f64();
    let full = rss()?;
    let grown = full.saturating_sub(before);
    let per_token = grown as f64 / TOKENS as f64;

    // Move past the last token's expiry. Nothing retires them until later inserts advance the
    // store's expiry wheel.
    bench
        .clock
        .advance(bench.refresh_ttl()? + TimeDelta::seconds(2));
    bench.grants(SWEEP_GRANTS)?;
    let swept = rss()?;
    // A second million (counting the sweep's grants): does it fit in what the first left?
    bench.grants(TOKENS - SWEEP_GRANTS)?;
    let refilled = rss()?;
    let peak = self_status_bytes("VmHWM")?;

    println!("## Memory: live refresh tokens in the in-memory store\n");
    println!(
        "{TOKENS} VizSeek client_credentials grants with `refresh_for_client_credentials = true` \
         through `gateway.engine().grant` (fixed clock, +1 ms per grant), in a fresh process; RSS \
         from /proc/self/status.\n"
    );
    println!("| point | live tokens | RSS | note |");
    println!("|---|---|---|---|");
    println!(
        "| before | 0 | {:.1} MiB | gateway built, one grant made |",
        mib(before)
    );
    println!(
        "| after {TOKENS} grants | {TOKENS} | {:.1} MiB | **{per_token:.0} bytes per live token** \
         (target <= 180); {:.2} us per grant |",
        mib(full),
        fill_secs * 1e6 / TOKENS as f64
    );
    println!(
        "| all expired, then {SWEEP_GRANTS} grants | {SWEEP_GRANTS} | {:.1} MiB | RSS {} |",
        mib(swept),
        if swept + grown / 2 < full {
            "returned (fell by more than half of the fill)"
        } else {
            "not returned to the OS"
        }
    );
    println!(
        "| then {} more grants | {TOKENS} | {:.1} MiB | the second million {} ({:.0} bytes per \
         live token) |",
        TOKENS - SWEEP_GRANTS,
        mib(refilled),
        if refilled <= full + grown / 10 {
            "fits in the memory the first left (RSS grew < 10% of the first fill)"
        } else {
            "needed new memory"
        },
        refilled.saturating_sub(before) as f64 / TOKENS as f64
    );
    println!(
        "\nPeak RSS (VmHWM) {:.1} MiB. The store's own entry count is not reachable through the \
         gateway; \"live tokens\" is what the grants imply ({SWEEP_GRANTS} grants may retire up to \
         {} expired tokens at 8 per insert, so the first million should be gone).\n",
        mib(peak),
        SWEEP_GRANTS * 8
    );
    Ok(())
}
