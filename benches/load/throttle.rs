//! The throttle's memory, in its own process (`--throttle-child`) so its RSS starts clean:
//! resident bytes per failed password attempt in the in-memory store's counter table, in the
//! worst case for it (every attempt a new 16 000-character user name from a new address, so each
//! failure starts three counters), and the table's whole bound at its cap (issue 13, item 5).
//!
//! It drives `engine::throttle::Throttle` (the engine's own keying: hashes of the names) over a
//! `MemoryStore`, without the HTTP layer or a password hash, which add no lasting state.

use chrono::{DateTime, TimeDelta};
use tokengate::engine::throttle::{Throttle, ThrottleSettings};
use tokengate::store::{DEFAULT_MAX_COUNTERS, MemoryStore};

use super::procs::self_status_bytes;

/// Each attempt starts three counters, so this many stay below the table's cap: every counter is
/// kept (at the cap a new one would be answered uncounted, and the figure would look smaller).
const ATTEMPTS: usize = 30_000;
const NAME_LEN: usize = 16_000;

fn rss() -> Result<u64, String> {
    self_status_bytes("VmRSS")
}

/// A distinct IPv6 address per attempt.
fn address(i: usize) -> std::net::IpAddr {
    std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, (i >> 16) as u16, i as u16).into()
}

/// A distinct user name of `NAME_LEN` characters per attempt.
fn name(i: usize) -> String {
    let mut name = format!("{i}-");
    name.extend(std::iter::repeat_n('x', NAME_LEN - name.len()));
    name
}

/// Runs the benchmark and prints its section.
pub fn run() -> Result<(), String> {
    let t0 = DateTime::from_timestamp(1_700_000_000, 0).ok_or("t0")?;
    let store = MemoryStore::default();
    let throttle = Throttle::new(ThrottleSettings::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let fail = |i: usize| -> Result<(), String> {
        runtime.block_on(async {
            // One millisecond apart: every window stays live for the whole run.
            let now = t0 + TimeDelta::milliseconds(i as i64);
            let counted = throttle
                .check(&store, &name(i), address(i), now)
                .await
                .map_err(|e| e.to_string())?;
            throttle
                .failed(&store, &counted, now)
                .await
                .map_err(|e| e.to_string())
        })
    };
    // Lazily built state (the runtime, the table's first allocation) is not counted.
    fail(0)?;
    let before = rss()?;
    for i in 1..=ATTEMPTS {
        fail(i)?;
    }
    let after = rss()?;
    let per_failure = after.saturating_sub(before) as f64 / ATTEMPTS as f64;
    let per_counter = per_failure / 3.0;
    println!("## Throttle: bytes per failed password attempt (in-memory counters)\n");
    println!(
        "{ATTEMPTS} failed attempts through `Throttle::check` and `Throttle::failed` over a \
         `MemoryStore`, each with a new {NAME_LEN}-character user name from a new address (three \
         new counters each: the worst case); RSS from /proc/self/status, in a fresh process.\n"
    );
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| RSS grown | {:.1} KiB |",
        after.saturating_sub(before) as f64 / 1024.0
    );
    println!(
        "| **bytes per failed attempt** | **{per_failure:.0}** (was 15 800 before issue 13) |"
    );
    println!("| bytes per counter | {per_counter:.0} |");
    println!(
        "| the counter table's bound (cap {DEFAULT_MAX_COUNTERS} counters) | {:.1} MiB |",
        per_counter * DEFAULT_MAX_COUNTERS as f64 / (1024.0 * 1024.0)
    );
    println!();
    Ok(())
}
