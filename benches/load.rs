//! HTTP load benchmark of the `tokengate` binary against a bare actix-web baseline (issue 5).
//!
//! ```sh
//! apt-get install -y wrk util-linux     # wrk and taskset; the bench checks and says so
//! cargo bench --bench load              # everything, about 3-4 minutes after the build
//! cargo bench --bench load -- http      # only the scenario table; also: flood, hashes, startup, memory, throttle
//! LOAD_SECONDS=10 cargo bench --bench load -- http flood
//! ```
//!
//! What it measures, in one run, on one machine:
//! - **http**: each scenario (VizSeek client_credentials, password, refresh_token; the same
//!   client_credentials on a dialect the config defines (`[dialect.vizseek-defined]`); a real
//!   legacy endpoint cloned in TOML (`examples/dialects/goiconnect`, a bare JSON string); Swagger
//!   JSON client_credentials; Swagger XML in/XML out; legacy `/Token` password) at 16 and 64
//!   connections, `LOAD_SECONDS` (default 5) each, served once by a bare actix-web handler
//!   answering a fixed JSON body of the size of that scenario's token answer, then by
//!   `tokengate` (baseline, gateway, baseline, gateway... so drift hits both). Each server is
//!   pinned to core 0 with one worker, `wrk` (one thread) to core 1. The figure that matters is
//!   **requests per second of the server's own CPU time** (utime + stime from `/proc/PID/stat`
//!   around the run): stable on a shared machine, unlike wall-clock requests/s. The table also
//!   gives requests/s, p50, p99 and the ratios to the baseline. Scenarios whose dialect this
//!   build does not serve yet print `n/a`. With `LOAD_COMPARE` every cell also runs a second
//!   gateway binary ("before"; this build is "after") in the same rounds, so a change on the
//!   request path is measured against its predecessor under the same drift.
//! - **flood**: client_credentials p99 while a second wrk floods password grants, against its
//!   idle p99; and password-grant throughput against the demo hash's own argon2 verify rate
//!   (measured in a process pinned to the server's core) times `hash_workers`.
//! - **hashes**: the same throughput check for every stored-hash kind the gateway accepts
//!   (argon2id at tokengate's defaults, bcrypt cost 10, ASP.NET Identity v2, v3 with HMAC-SHA1
//!   and HMAC-SHA256 at 10 000 iterations and HMAC-SHA512 at 100 000, the legacy SHA-1 hex), on a
//!   gateway of its own serving `load/hashes.toml`: one user per kind, all of the same password,
//!   signing in through the owin `/Token` route (its clients send the plain password, from which
//!   every kind can be verified). Per kind: the hash's verify rate in a process pinned to core 0
//!   (3 s before and 3 s after, the mean used, as in flood), then password grants for that
//!   kind's user alone at 16 connections, and the ratio of grants per server CPU-second to the
//!   verify rate per CPU-second x `hash_workers` (target >= 95%; what the grant does besides the
//!   hash caps it: tens of us of a 1 ms hash is a few percent). The server's CPU per grant is
//!   also split into its hash threads' (read from `/proc/PID/task`) and the rest, which says
//!   whether a ratio is lost in the hash or around it. A run lasts `LOAD_SECONDS` or long enough
//!   for 300 grants at half the measured verify rate (the hash threads run at nice 19, so a
//!   shared core gives them less than the child), whichever is longer, at most 120 s: a verify
//!   of tens of ms (bcrypt 10, 100 000 SHA512 iterations) would count only about a hundred
//!   grants in 5 s, and the verify still running when wrk stops is CPU without a grant. The
//!   SHA-1 hex kind (about a microsecond a verify) is bound by HTTP, not hashing: its row gives
//!   the grant rate and CPU per grant with no ratio target. About 5-10 minutes.
//! - **startup**: exec of `tokengate` to its first 200 on `/healthz`, best and median of
//!   `LOAD_STARTS` (default 10).
//! - **memory**: RSS per live refresh token after 1 000 000 grants through the engine, and after
//!   they expire (see `load/memory.rs`).
//! - **throttle**: RSS per failed password attempt in the in-memory counter table, every attempt a
//!   new 16 000-character user name from a new address (see `load/throttle.rs`).
//!
//! Settings (environment): `LOAD_SECONDS` (default 5), `LOAD_CONNECTIONS` (default `16,64`),
//! `LOAD_ROUNDS` (rounds per cell, each a baseline run then a gateway run, or two with
//! `LOAD_COMPARE`; default 1; the table shows the median), `LOAD_STARTS` (default 10),
//! `LOAD_RUST_LOG` (tokengate's `RUST_LOG`, default `info`: one log line per request, as
//! deployed; it must keep the `tokengate` target at `info`, whose listening line the harness
//! reads: `info,tokengate::http=warn` drops only the per-request lines),
//! `LOAD_COMPARE` (path of another `tokengate` executable, e.g. a release build of the previous
//! main; unset or empty: off). With it, the `http` section starts that binary too, with the same
//! configuration, core, connections and durations, and runs it in every cell and in the
//! equal-load table beside this build: each round is baseline, then the two gateways back to
//! back, the one going first swapping every round and every cell. The table gains its rows
//! ("before", with its own ratio to the same baseline) and an "after vs before" column, followed
//! by a before/after summary; scenarios the compared binary does not serve print `n/a` there.
//! Results go to stdout as markdown; progress to stderr. Every child (servers, wrk)
//! stops by itself or is killed when the bench exits, panics or gets SIGINT/SIGTERM; all
//! traffic is to 127.0.0.1. Files: `load/bench.toml` (the gateway's configuration),
//! `load/hashes.toml` (the hashes section's),
//! `load/report.lua` and `load/refresh.lua` (wrk scripts), `load/*.rs` (the harness parts).

// A failed assumption in a test or a bench is a failure to see, not a request to survive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The crate root is benches/load.rs, so its modules would be looked up in benches/: point them
// at benches/load/, next to the bench's other files.
#[path = "load/baseline.rs"]
mod baseline;
#[path = "load/memory.rs"]
mod memory;
#[path = "load/procs.rs"]
mod procs;
#[path = "load/throttle.rs"]
mod throttle;
#[path = "load/wrk.rs"]
mod wrk;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use procs::{ChildGuard, Server};
use wrk::{Figures, Load, Script};

/// The gateway's configuration; `[[route]]`s of dialects this build lacks are dropped at run time.
const BENCH_TOML: &str = include_str!("load/bench.toml");
/// The hashes section's configuration, served as it is (it names no relative file).
const HASHES_TOML: &str = "benches/load/hashes.toml";
/// Its owin route.
const HASHES_PATH: &str = "/Token";
const TOKENGATE: &str = env!("CARGO_BIN_EXE_tokengate");

const FORM: &str = "application/x-www-form-urlencoded";
/// The demo password, what owin and Swagger clients send; every user of load/hashes.toml has it.
const DEMO_PASSWORD: &str = "P@ssw0rd!";
/// SHA-1 hex of the demo password `P@ssw0rd!`, what VizSeek clients send.
const DEMO_SHA1: &str = "076d3e6c4b9f654b5b220b9045b7458ab6b4cbc6";
const VIZSEEK_PASSWORD: &str = "grant_type=password&client_id=demo-client&username=user%40example.com&password=076d3e6c4b9f654b5b220b9045b7458ab6b4cbc6";
const SWAGGER_XML_CC: &str = r#"<TokenRequest xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><client_id>demo-client</client_id><grant_type>client_credentials</grant_type></TokenRequest>"#;

/// What a scenario asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    ClientCredentials,
    Password,
    /// `body` is the form up to the token value; the tokens come from `issue_with` grants.
    Refresh {
        issue_with: &'static str,
    },
}

struct Scenario {
    name: &'static str,
    dialect: &'static str,
    path: &'static str,
    grant: Grant,
    content_type: &'static str,
    accept: Option<&'static str>,
    body: &'static str,
}

#[rustfmt::skip]
const SCENARIOS: &[Scenario] = &[
    // One entry per scenario: name, dialect, path, grant, Content-Type, Accept, body.
    Scenario::new("VizSeek client_credentials", "vizseek", "/api/Token", Grant::ClientCredentials, FORM, None, "grant_type=client_credentials&client_id=demo-client"),
    Scenario::new("VizSeek password", "vizseek", "/api/Token", Grant::Password, FORM, None, VIZSEEK_PASSWORD),
    Scenario::new("defined VizSeek client_credentials", "vizseek-defined", "/defined/Token", Grant::ClientCredentials, FORM, None, "grant_type=client_credentials&client_id=demo-client"),
    Scenario::new("GoiConnect example (JSON string key)", "goiconnect", "/api/OAuth/Token", Grant::ClientCredentials, "application/json", None, "\"demo-client\""),
    Scenario::new("VizSeek refresh_token", "vizseek", "/api/Token", Grant::Refresh { issue_with: VIZSEEK_PASSWORD }, FORM, None, "grant_type=refresh_token&client_id=demo-client&refresh_token="),
    Scenario::new("Swagger JSON client_credentials", "swagger", "/api/v1/auth/token", Grant::ClientCredentials, "application/json", None, r#"{"grant_type":"client_credentials","client_id":"demo-client"}"#),
    Scenario::new("Swagger XML in/XML out", "swagger", "/api/v1/auth/token", Grant::ClientCredentials, "application/xml; charset=utf-8", Some("application/xml"), SWAGGER_XML_CC),
    Scenario::new("/Token password (owin)", "owin", "/Token", Grant::Password, FORM, None, "grant_type=password&username=user%40example.com&password=P%40ssw0rd%21"),
];

impl Scenario {
    #[allow(clippy::too_many_arguments)] // a table row, not an API
    const fn new(
        name: &'static str,
        dialect: &'static str,
        path: &'static str,
        grant: Grant,
        content_type: &'static str,
        accept: Option<&'static str>,
        body: &'static str,
    ) -> Self {
        Self {
            name,
            dialect,
            path,
            grant,
            content_type,
            accept,
            body,
        }
    }

    fn headers(&self) -> Vec<(&'static str, &'static str)> {
        let mut headers = vec![("Content-Type", self.content_type)];
        if let Some(accept) = self.accept {
            headers.push(("Accept", accept));
        }
        headers
    }

    /// The fixed script, or for refresh grants the chained one with these seeds.
    fn script<'a>(&'a self, seeds: &'a [String]) -> Script<'a> {
        match self.grant {
            Grant::Refresh { .. } => Script::Refresh {
                content_type: self.content_type,
                body_prefix: self.body,
                seeds,
            },
            _ => Script::Fixed {
                content_type: self.content_type,
                accept: self.accept,
                body: self.body,
                delay_ms: None,
            },
        }
    }
}

/// Run settings, from the environment.
struct Settings {
    seconds: u32,
    connections: Vec<u32>,
    /// Rounds per cell (baseline, then each gateway); the table shows the median.
    rounds: usize,
    starts: usize,
    rust_log: String,
    /// `LOAD_COMPARE`: another tokengate executable the http section runs beside this build.
    compare: Option<PathBuf>,
    server_core: usize,
    load_core: usize,
    /// Clock ticks per second of `/proc/PID/stat`.
    ticks: f64,
}

/// `LOAD_COMPARE`, checked now rather than after minutes of runs; empty counts as unset, so
/// `LOAD_COMPARE= cargo bench` turns it off.
fn compare_binary() -> Result<Option<PathBuf>, String> {
    match std::env::var_os("LOAD_COMPARE") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            if path.is_file() {
                Ok(Some(path))
            } else {
                Err(format!("LOAD_COMPARE={}: no such file", path.display()))
            }
        }
        _ => Ok(None),
    }
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("{name}={text:?} is not a number")),
        Err(_) => Ok(default),
    }
}

/// The bench's scratch directory (config, Lua scripts), removed on exit.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("tokengate-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        procs::remove_on_signal(&dir);
        Ok(Self(dir))
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn progress(message: impl AsRef<str>) {
    eprintln!("[load] {}", message.as_ref());
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Http,
    Flood,
    Hashes,
    Startup,
    Memory,
    Throttle,
}

const SECTIONS: &[(&str, Section)] = &[
    ("http", Section::Http),
    ("flood", Section::Flood),
    ("hashes", Section::Hashes),
    ("startup", Section::Startup),
    ("memory", Section::Memory),
    ("throttle", Section::Throttle),
];

fn main() -> ExitCode {
    // `cargo bench` appends `--bench`. Without it the binary runs as a test
    // (`cargo test --benches` or `--all-targets`): it then only checks its configuration instead
    // of loading the machine for minutes, as criterion benches run each bench once.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--bench"))
        .collect();
    let result = match args.first().map(String::as_str) {
        // Internal modes: this executable re-executed by the harness.
        Some("--baseline-server") => match (args.get(1), args.get(2)) {
            (Some(addr), Some(sizes)) => baseline::serve(addr, sizes),
            _ => Err("usage: --baseline-server ADDR SIZE[,SIZE...]".into()),
        },
        Some("--verify-rate") => match (args.get(1), args.get(2), args.get(3)) {
            (Some(seconds), Some(proof), Some(hash)) => verify_rate(seconds, proof, hash),
            _ => Err("usage: --verify-rate SECONDS plain|sha1-hex HASH".into()),
        },
        Some("--memory-child") => memory::run(),
        Some("--throttle-child") => throttle::run(),
        _ if !bench_mode => smoke_test(),
        _ => sections(&args).and_then(|sections| run(&sections)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("load bench failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Test mode: the configuration loads and the scenario table is consistent.
fn smoke_test() -> Result<(), String> {
    let work = WorkDir::new()?;
    let config = BenchConfig::write(&work)?;
    tokengate::config::load_with_env(&tokengate::config::Source::File(config.path.clone()), false)
        .map_err(|e| format!("load/bench.toml: {e}"))?;
    for scenario in SCENARIOS {
        wrk::write_script(&work.file("smoke.lua"), &scenario.script(&[]))?;
    }
    let hashes = HashesConfig::read()?;
    tokengate::config::load_with_env(&tokengate::config::Source::File(hashes.path.clone()), false)
        .map_err(|e| format!("{HASHES_TOML}: {e}"))?;
    for user in &hashes.users {
        if !user.hash.verify(&Proof::Plain.proof()?) {
            return Err(format!(
                "load/hashes.toml: {}'s hash does not verify {DEMO_PASSWORD:?}",
                user.username
            ));
        }
    }
    println!("load bench: configuration and scripts OK (run it with `cargo bench --bench load`)");
    Ok(())
}

fn sections(args: &[String]) -> Result<Vec<Section>, String> {
    let named: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if named.is_empty() {
        return Ok(SECTIONS.iter().map(|(_, s)| *s).collect());
    }
    named
        .iter()
        .map(|name| {
            SECTIONS
                .iter()
                .find(|(known, _)| known == name)
                .map(|(_, s)| *s)
                .ok_or_else(|| {
                    let known: Vec<&str> = SECTIONS.iter().map(|(known, _)| *known).collect();
                    format!("unknown section {name:?}; known: {}", known.join(", "))
                })
        })
        .collect()
}

fn run(sections: &[Section]) -> Result<(), String> {
    let needs_servers = sections
        .iter()
        .any(|s| !matches!(s, Section::Memory | Section::Throttle));
    if needs_servers {
        let missing: Vec<&str> = ["wrk", "taskset"]
            .into_iter()
            .filter(|tool| !procs::on_path(tool))
            .collect();
        if !missing.is_empty() {
            eprintln!(
                "the load bench needs {} on PATH; on Debian or Ubuntu:\n\n    apt-get install -y wrk util-linux\n",
                missing.join(" and ")
            );
            return Err(format!("missing {}", missing.join(", ")));
        }
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# tokengate load benchmark\n");
    println!("{}\n", machine_line(cpus));
    let (ticks, measured_ticks) = procs::clock_ticks();
    if !measured_ticks {
        progress("getconf CLK_TCK failed; assuming 100 ticks per second");
    }
    let settings = Settings {
        seconds: env_number("LOAD_SECONDS", 5)?.max(1),
        connections: std::env::var("LOAD_CONNECTIONS")
            .unwrap_or_else(|_| "16,64".into())
            .split(',')
            .map(|c| {
                c.trim()
                    .parse()
                    .map_err(|_| format!("LOAD_CONNECTIONS: {c:?}"))
            })
            .collect::<Result<_, _>>()?,
        starts: env_number("LOAD_STARTS", 10)?.max(1),
        rounds: env_number("LOAD_ROUNDS", 1)?.max(1),
        rust_log: std::env::var("LOAD_RUST_LOG").unwrap_or_else(|_| "info".into()),
        compare: compare_binary()?,
        server_core: 0,
        load_core: if cpus >= 2 { 1 } else { 0 },
        ticks,
    };
    if needs_servers {
        if cpus < 2 {
            progress("only one CPU: server and wrk share core 0, the figures mean little");
        }
        // The harness's own threads (probes, pollers) stay off the server's core.
        procs::pin_self(settings.load_core)?;
        procs::kill_children_on_signal();
    }
    let work = WorkDir::new()?;
    let config = BenchConfig::write(&work)?;
    let mut gateway: Option<Server> = None;
    let mut table = None;

    if sections.contains(&Section::Http) {
        let gateway = ensure_gateway(&mut gateway, &work, &config, &settings)?;
        // Only the http section compares; the compared gateway stops at the end of this block,
        // so it does not sit on the server core during the flood and startup runs.
        let compare = match &settings.compare {
            Some(program) => Some(start_compare(program, &work, &config, &settings)?),
            None => None,
        };
        let servers = Servers {
            gateway,
            compare: compare.as_ref(),
        };
        table = Some(http_section(&settings, &work, &config, &servers)?);
    }
    if sections.contains(&Section::Flood) {
        let gateway = ensure_gateway(&mut gateway, &work, &config, &settings)?;
        flood_section(&settings, &work, &config, gateway)?;
    }
    // The load servers are not needed any more; the hashes gateway and the startup runs should
    // have the core alone.
    drop(gateway);
    if sections.contains(&Section::Hashes) {
        hashes_section(&settings, &work)?;
    }
    if sections.contains(&Section::Startup) {
        startup_section(&settings, &config)?;
    }
    if sections.contains(&Section::Memory) {
        progress("memory: 1 000 000 grants in a child process");
        child_section("--memory-child", "memory bench")?;
    }
    if sections.contains(&Section::Throttle) {
        progress("throttle: failed attempts in a child process");
        child_section("--throttle-child", "throttle bench")?;
    }
    if let Some(table) = table
        && sections.len() > 1
    {
        // Repeated last so the one table is at the end of a long log.
        println!("\n## Scenario table (repeated)\n\n{table}");
    }
    Ok(())
}

/// Runs a section in a fresh process of this executable (`flag` selects it), so its RSS starts
/// clean; its table goes to our stdout.
fn child_section(flag: &str, what: &str) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let child = ChildGuard::spawn(Command::new(exe).arg(flag).stdin(Stdio::null()), what)?;
    let output = child.wait_output()?;
    if !output.status.success() {
        return Err(format!("the {what} exited with {}", output.status));
    }
    Ok(())
}

fn machine_line(cpus: usize) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let wrk = Command::new("wrk")
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            text.lines()
                .next()
                .map(|l| l.split(" [").next().unwrap_or(l).to_string())
        })
        .unwrap_or_else(|| "wrk ?".into());
    format!(
        "Machine: nproc {cpus}, {model}, Linux {}, {wrk}. Server pinned to core 0 (1 worker), wrk \
         to core 1 (1 thread).",
        kernel.trim()
    )
}

/// The written configuration and what the harness needs to know from it.
struct BenchConfig {
    path: PathBuf,
    /// The same without the dialects the configuration defines (`[dialect.NAME]`) and their
    /// routes, for a `LOAD_COMPARE` binary that may predate defined dialects: it serves what it
    /// knows, and the scenarios on the others print `n/a` for it.
    compare_path: PathBuf,
    /// Dialects this build serves (the others' routes were dropped).
    dialects: Vec<String>,
    password_hash: String,
    hash_workers: usize,
}

impl BenchConfig {
    fn write(work: &WorkDir) -> Result<Self, String> {
        let mut table: toml::Table =
            toml::from_str(BENCH_TOML).map_err(|e| format!("load/bench.toml: {e}"))?;
        let dialect_of = |route: &toml::Value| {
            route
                .get("dialect")
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
        };
        // A defined dialect's `file` is relative to load/bench.toml; the written copy lives
        // elsewhere, so it gets the absolute path.
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/load");
        if let Some(toml::Value::Table(defined)) = table.get_mut("dialect") {
            for (_, profile) in defined.iter_mut() {
                if let Some(toml::Value::String(file)) = profile.get_mut("file") {
                    let absolute = here.join(file.as_str()).display().to_string();
                    *file = absolute;
                }
            }
        }
        let defined: Vec<String> = table
            .get("dialect")
            .and_then(toml::Value::as_table)
            .map(|defined| defined.keys().cloned().collect())
            .unwrap_or_default();
        let mut dialects = Vec::new();
        if let Some(toml::Value::Array(routes)) = table.get_mut("route") {
            // A route naming an unknown dialect would make tokengate refuse the whole file.
            routes.retain(|route| {
                dialect_of(route).is_some_and(|d| {
                    tokengate::dialect::source::DIALECTS.contains(&d.as_str())
                        || defined.contains(&d)
                })
            });
            dialects = routes.iter().filter_map(dialect_of).collect();
        }
        let mut compare = table.clone();
        compare.remove("dialect");
        if let Some(toml::Value::Array(routes)) = compare.get_mut("route") {
            routes.retain(|route| dialect_of(route).is_some_and(|d| !defined.contains(&d)));
        }
        let password_hash = table
            .get("user")
            .and_then(|users| users.get(0))
            .and_then(|user| user.get("password_hash"))
            .and_then(toml::Value::as_str)
            .ok_or("load/bench.toml: user[0].password_hash")?
            .to_owned();
        let path = work.file("bench.toml");
        let text = toml::to_string(&table).map_err(|e| format!("bench config: {e}"))?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        let compare_path = work.file("compare.toml");
        let text = toml::to_string(&compare).map_err(|e| format!("bench config: {e}"))?;
        std::fs::write(&compare_path, text)
            .map_err(|e| format!("{}: {e}", compare_path.display()))?;
        Ok(Self {
            path,
            compare_path,
            dialects,
            password_hash,
            hash_workers: hash_workers(&table),
        })
    }
}

/// A configuration's `[server] hash_workers`, where 0 (one per core) is 1: the server has one core.
fn hash_workers(table: &toml::Table) -> usize {
    let configured = table
        .get("server")
        .and_then(|server| server.get("hash_workers"))
        .and_then(toml::Value::as_integer)
        .unwrap_or(0);
    usize::try_from(configured).unwrap_or(0).max(1)
}

/// `program` (this build's tokengate or `LOAD_COMPARE`) serving `config` (its whole file, or for
/// the compare binary the one without defined dialects), pinned.
fn tokengate_command(program: &Path, config: &Path, settings: &Settings) -> Command {
    let mut command = procs::pinned(settings.server_core, program);
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("TOKENGATE__SERVER__BIND", "127.0.0.1:0")
        .env("RUST_LOG", &settings.rust_log)
        .env_remove("TOKENGATE_CONFIG")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

fn ensure_gateway<'a>(
    slot: &'a mut Option<Server>,
    work: &WorkDir,
    config: &BenchConfig,
    settings: &Settings,
) -> Result<&'a Server, String> {
    if slot.is_none() {
        let program = Path::new(TOKENGATE);
        let server = start_tokengate(program, "tokengate", work, &config.path, settings)?;
        *slot = Some(server);
    }
    slot.as_ref().ok_or_else(|| "no gateway".into())
}

/// The `LOAD_COMPARE` binary, on the same configuration (this build's dialects; an older binary
/// that refuses a route fails here, with its log).
fn start_compare(
    program: &Path,
    work: &WorkDir,
    config: &BenchConfig,
    settings: &Settings,
) -> Result<Server, String> {
    start_tokengate(program, "compare", work, &config.compare_path, settings)
        .map_err(|e| format!("LOAD_COMPARE={}: {e}", program.display()))
}

/// Starts `program` as a gateway; `what` names it in progress lines and its log file.
fn start_tokengate(
    program: &Path,
    what: &str,
    work: &WorkDir,
    config: &Path,
    settings: &Settings,
) -> Result<Server, String> {
    progress(format!("starting {}", program.display()));
    let server = Server::start(
        tokengate_command(program, config, settings),
        what,
        &work.file(&format!("{what}.log")),
        Duration::from_secs(30),
    )
    .map_err(|e| {
        format!(
            "{e} (LOAD_RUST_LOG={:?} must keep the `tokengate` target at info, e.g. \
             info,tokengate::http=warn)",
            settings.rust_log
        )
    })?;
    progress(format!("{what} listening on {}", server.addr));
    Ok(server)
}

fn start_baseline(sizes: &[usize], work: &WorkDir, settings: &Settings) -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let sizes = sizes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut command = procs::pinned(settings.server_core, exe);
    command
        .args(["--baseline-server", "127.0.0.1:0", &sizes])
        // Held open by the harness: the baseline exits when it closes.
        .stdin(Stdio::piped())
        .stderr(Stdio::inherit());
    Server::start(
        command,
        "baseline server",
        &work.file("baseline.log"),
        Duration::from_secs(30),
    )
}

/// Password (or other) grants on `scenario.path` with `body`, each answer's refresh token.
fn issue_refresh_tokens(
    server: &Server,
    scenario: &Scenario,
    body: &str,
    n: usize,
) -> Result<Vec<String>, String> {
    (0..n)
        .map(|_| {
            let answer = procs::request(
                server.addr,
                scenario.path,
                &scenario.headers(),
                body,
                Duration::from_secs(30),
            )?;
            if answer.status != 200 {
                return Err(format!(
                    "seeding {}: status {} {}",
                    scenario.name,
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                ));
            }
            let json: serde_json::Value = serde_json::from_slice(&answer.body)
                .map_err(|e| format!("seeding {}: {e}", scenario.name))?;
            json["refresh_token"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("seeding {}: no refresh_token in the answer", scenario.name))
        })
        .collect()
}

/// Whether the gateway serves a scenario, and the size of its answer.
enum Probe {
    Ready { answer_bytes: usize },
    Unavailable(String),
}

fn probe(server: &Server, config: &BenchConfig, scenario: &Scenario) -> Result<Probe, String> {
    if !config.dialects.iter().any(|d| d == scenario.dialect) {
        return Ok(Probe::Unavailable("n/a (dialect not available)".into()));
    }
    let body = match scenario.grant {
        Grant::Refresh { issue_with } => {
            let token = issue_refresh_tokens(server, scenario, issue_with, 1)?;
            format!("{}{}", scenario.body, token.concat())
        }
        _ => scenario.body.to_owned(),
    };
    let answer = procs::request(
        server.addr,
        scenario.path,
        &scenario.headers(),
        &body,
        Duration::from_secs(30),
    )?;
    Ok(match answer.status {
        200 => Probe::Ready {
            answer_bytes: answer.body.len(),
        },
        404 => Probe::Unavailable("n/a (dialect not available)".into()),
        status => Probe::Unavailable(format!(
            "n/a (probe answered {status}: {})",
            String::from_utf8_lossy(&answer.body)
                .chars()
                .take(120)
                .collect::<String>()
        )),
    })
}

/// One wrk run against one server, with the server's CPU time around it.
#[derive(Debug, Clone, Copy)]
struct Measured {
    figures: Figures,
    cpu_s: f64,
    /// Share of the server core's time spent on anything but the server (other processes,
    /// the hypervisor's steal): 0 on a quiet machine; high values make every figure suspect.
    foreign: f64,
}

impl Measured {
    fn rps(&self) -> f64 {
        self.figures.ok() as f64 / self.figures.duration_s.max(1e-9)
    }

    fn per_cpu_second(&self) -> f64 {
        self.figures.ok() as f64 / self.cpu_s.max(1e-9)
    }
}

fn measure(server: &Server, load: &Load<'_>, settings: &Settings) -> Result<Measured, String> {
    settle(settings)?;
    measure_now(server, load, settings)
}

/// Waits for the server core to go idle (see `procs::wait_core_idle`).
fn settle(settings: &Settings) -> Result<(), String> {
    if !procs::wait_core_idle(settings.server_core, Duration::from_secs(15))? {
        progress("core 0 still busy after 15 s; measuring anyway (see the foreign column)");
    }
    Ok(())
}

/// As [`measure`] without waiting for an idle core (runs beside a deliberate flood).
fn measure_now(server: &Server, load: &Load<'_>, settings: &Settings) -> Result<Measured, String> {
    let (core_busy, core_total) = procs::core_ticks(settings.server_core)?;
    let before = procs::cpu_ticks(server.pid())?;
    let figures = load.run()?;
    let after = procs::cpu_ticks(server.pid())?;
    let (core_busy_after, core_total_after) = procs::core_ticks(settings.server_core)?;
    server.truncate_log()?;
    let server_ticks = after.saturating_sub(before);
    let foreign = core_busy_after
        .saturating_sub(core_busy)
        .saturating_sub(server_ticks) as f64
        / core_total_after.saturating_sub(core_total).max(1) as f64;
    Ok(Measured {
        figures,
        cpu_s: server_ticks as f64 / settings.ticks,
        foreign,
    })
}

fn latency(us: f64) -> String {
    if us < 10_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.0} ms", us / 1000.0)
    }
}

/// The run whose requests per CPU-second is the median of the rounds (the lower middle one for
/// an even count).
fn median(mut runs: Vec<Measured>) -> Option<Measured> {
    runs.sort_by(|a, b| a.per_cpu_second().total_cmp(&b.per_cpu_second()));
    runs.get(runs.len().saturating_sub(1) / 2).copied()
}

/// One cell of the table on one server.
struct Cell<'a> {
    scenario: &'a Scenario,
    connections: u32,
    answer_bytes: usize,
    is_gateway: bool,
}

impl Cell<'_> {
    fn run(
        &self,
        server: &Server,
        work: &WorkDir,
        settings: &Settings,
        id: usize,
    ) -> Result<Measured, String> {
        let seeds = match self.scenario.grant {
            // Fresh tokens, issued before the measured window: one per connection, plus one
            // because wrk calls request() once to check the script before it connects.
            Grant::Refresh { issue_with } if self.is_gateway => issue_refresh_tokens(
                server,
                self.scenario,
                issue_with,
                self.connections as usize + 1,
            )?,
            _ => Vec::new(),
        };
        let script = wrk::write_script(
            &work.file(&format!("run-{id}.lua")),
            &self.scenario.script(&seeds),
        )?;
        let path = if self.is_gateway {
            self.scenario.path.to_owned()
        } else {
            format!("/{}", self.answer_bytes)
        };
        let load = Load {
            script: &script,
            url: format!("http://{}{path}", server.addr),
            connections: self.connections,
            seconds: settings.seconds,
            core: settings.load_core,
        };
        measure(server, &load, settings)
    }
}

/// The gateways of the http section: this build, and the `LOAD_COMPARE` binary if set.
struct Servers<'a> {
    gateway: &'a Server,
    compare: Option<&'a Server>,
}

/// A server's part in a cell of the http section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Baseline,
    /// This build: "after" when comparing.
    Gateway,
    /// The `LOAD_COMPARE` binary: "before".
    Compare,
}

impl Role {
    /// The name in progress lines.
    fn name(self) -> &'static str {
        match self {
            Role::Baseline => "baseline",
            Role::Gateway => "tokengate",
            Role::Compare => "compare",
        }
    }

    /// The gateways' label in the tables; without LOAD_COMPARE as it always was.
    fn label(self, comparing: bool) -> &'static str {
        match (self, comparing) {
            (Role::Gateway, false) => "tokengate",
            (Role::Gateway, true) => "after: this build",
            (Role::Compare, _) => "before: LOAD_COMPARE",
            (Role::Baseline, _) => "baseline",
        }
    }
}

/// The runs of one round of a cell, in order: the baseline first, then this build and the
/// compared binary back to back, because the change between those two is what LOAD_COMPARE is
/// for and drift grows with the time between runs. The one going first swaps with every
/// `turn` (round and cell): a fixed order would hand whatever drifts within a round (a VM
/// neighbour, the clock, caches warming) to the same binary every time; swapping spreads it over
/// both, and with an even LOAD_ROUNDS every cell runs both orders equally often.
fn round_order(comparing: bool, turn: usize) -> &'static [Role] {
    match (comparing, turn % 2) {
        (false, _) => &[Role::Baseline, Role::Gateway],
        (true, 0) => &[Role::Baseline, Role::Compare, Role::Gateway],
        (true, _) => &[Role::Baseline, Role::Gateway, Role::Compare],
    }
}

/// Probes every scenario on one gateway; `what` prefixes the progress lines.
fn probe_all(server: &Server, config: &BenchConfig, what: &str) -> Result<Vec<Probe>, String> {
    let mut probes = Vec::new();
    for scenario in SCENARIOS {
        let result = probe(server, config, scenario)?;
        if let Probe::Ready { answer_bytes } = &result {
            progress(format!(
                "{}: {what}answers {answer_bytes} bytes",
                scenario.name
            ));
        }
        probes.push(result);
    }
    Ok(probes)
}

/// The compared gateway where it serves scenario `k`, else why not (empty without
/// LOAD_COMPARE).
fn compare_for<'a>(
    servers: &Servers<'a>,
    compare_probes: &'a [Probe],
    k: usize,
) -> Result<&'a Server, &'a str> {
    match (servers.compare, compare_probes.get(k)) {
        (Some(server), Some(Probe::Ready { .. })) => Ok(server),
        (_, Some(Probe::Unavailable(why))) => Err(why),
        _ => Err(""),
    }
}

fn ratio(measured: &Measured, base: &Measured) -> f64 {
    measured.per_cpu_second() / base.per_cpu_second().max(1e-9)
}

/// `after` against `before` per CPU-second, as `+3%`.
fn change(after: &Measured, before: &Measured) -> String {
    percent_change(ratio(after, before))
}

/// A factor as a signed whole percentage; under half a percent is `+0%`, not `-0%`.
fn percent_change(factor: f64) -> String {
    let percent = 100.0 * (factor - 1.0);
    format!("{:+.0}%", if percent.abs() < 0.5 { 0.0 } else { percent })
}

/// One row of the scenario table. `base` is the run the ratios are to (none on the baseline's
/// own row); `change` fills the after-vs-before column, which exists only when comparing.
fn scenario_row(
    name: &str,
    connections: u32,
    server: &str,
    measured: &Measured,
    base: Option<&Measured>,
    change: Option<String>,
) -> String {
    let (per_cpu, p99) = match base {
        Some(base) => (
            format!("**{:.2}x**", ratio(measured, base)),
            format!(
                "{:.2}x",
                measured.figures.p99_us / base.figures.p99_us.max(1e-9)
            ),
        ),
        None => (String::new(), String::new()),
    };
    let mut row = format!(
        "| {name} | {connections} | {server} | {:.0} | {:.0} | {} | {} | {per_cpu} | {p99} | {} | {:.0}% |",
        measured.rps(),
        measured.per_cpu_second(),
        latency(measured.figures.p50_us),
        latency(measured.figures.p99_us),
        measured.figures.errors(),
        100.0 * measured.foreign
    );
    if let Some(change) = change {
        row.push_str(&format!(" {change} |"));
    }
    row
}

/// A cell measured on both gateways, for the before/after summary.
struct Comparison {
    scenario: &'static str,
    connections: u32,
    base: Measured,
    before: Measured,
    after: Measured,
}

/// The before/after summary: one line per cell, both ratios to the same baseline run.
fn comparison_table(program: &Path, settings: &Settings, cells: &[Comparison]) -> String {
    let mut table = format!(
        "### Before (LOAD_COMPARE) vs after (this build)\n\n\
         before = `{}`, after = `{TOKENGATE}`, both on `load/bench.toml`, core 0, the same \
         connections and {} s runs, {} round(s) per cell (medians). Each round runs the \
         baseline, then the two gateways back to back, the one going first swapping every \
         round and every cell, so drift within a round falls on both alike. Both ratios are to \
         the same baseline run, so after vs before is the change in requests per CPU-s.\n\n\
         | scenario | conns | before req per CPU-s | after req per CPU-s | before vs baseline | after vs baseline | after vs before |\n\
         |---|---|---|---|---|---|---|\n",
        program.display(),
        settings.seconds,
        settings.rounds
    );
    for cell in cells {
        table.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {:.2}x | {:.2}x | **{}** |\n",
            cell.scenario,
            cell.connections,
            cell.before.per_cpu_second(),
            cell.after.per_cpu_second(),
            ratio(&cell.before, &cell.base),
            ratio(&cell.after, &cell.base),
            change(&cell.after, &cell.before)
        ));
    }
    let logs: Vec<f64> = cells
        .iter()
        .map(|c| ratio(&c.after, &c.before).max(1e-9).ln())
        .collect();
    if !logs.is_empty() {
        let mean = (logs.iter().sum::<f64>() / logs.len() as f64).exp();
        let low = logs.iter().copied().fold(f64::INFINITY, f64::min).exp();
        let high = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max).exp();
        table.push_str(&format!(
            "\nAfter vs before over the {} cells: geometric mean **{}**, from {} to {}.\n",
            logs.len(),
            percent_change(mean),
            percent_change(low),
            percent_change(high)
        ));
    }
    table
}

fn http_section(
    settings: &Settings,
    work: &WorkDir,
    config: &BenchConfig,
    servers: &Servers<'_>,
) -> Result<String, String> {
    let gateway = servers.gateway;
    let comparing = servers.compare.is_some();
    let probes = probe_all(gateway, config, "")?;
    let compare_probes = match servers.compare {
        Some(compare) => probe_all(compare, config, "LOAD_COMPARE ")?,
        None => Vec::new(),
    };
    let mut sizes: Vec<usize> = probes
        .iter()
        .filter_map(|p| match p {
            Probe::Ready { answer_bytes } => Some(*answer_bytes),
            Probe::Unavailable(_) => None,
        })
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.is_empty() {
        return Err("the gateway serves none of the scenarios".into());
    }
    let baseline = start_baseline(&sizes, work, settings)?;
    progress(format!("baseline listening on {}", baseline.addr));

    // Warm the servers up (allocator, page cache, CPU frequency) before anything is recorded.
    let warm = wrk::write_script(&work.file("warm.lua"), &SCENARIOS[0].script(&[]))?;
    let mut warm_up = vec![
        (&baseline, format!("/{}", sizes[0])),
        (gateway, SCENARIOS[0].path.to_owned()),
    ];
    if let Some(compare) = servers.compare {
        warm_up.push((compare, SCENARIOS[0].path.to_owned()));
    }
    for (server, path) in warm_up {
        Load {
            script: &warm,
            url: format!("http://{}{path}", server.addr),
            connections: 16,
            seconds: 1,
            core: settings.load_core,
        }
        .run()?;
    }

    let mut rows = Vec::new();
    let mut comparisons = Vec::new();
    let per_round: usize = probes
        .iter()
        .enumerate()
        .filter(|(_, p)| matches!(p, Probe::Ready { .. }))
        .map(|(k, _)| match compare_for(servers, &compare_probes, k) {
            Ok(_) => 3,
            Err(_) => 2,
        })
        .sum();
    let total = per_round * settings.connections.len() * settings.rounds;
    let mut done = 0;
    // Counts the cells, for the alternating order of the two gateways.
    let mut turn = 0;
    for (k, (scenario, probe)) in SCENARIOS.iter().zip(&probes).enumerate() {
        let answer_bytes = match probe {
            Probe::Ready { answer_bytes } => *answer_bytes,
            Probe::Unavailable(why) => {
                rows.push(format!(
                    "| {} | {} | {why} | | | | | | | | |{}",
                    scenario.name,
                    settings
                        .connections
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    if comparing { " |" } else { "" }
                ));
                continue;
            }
        };
        let compare = compare_for(servers, &compare_probes, k);
        for &connections in &settings.connections {
            // Indexed by `Role as usize`.
            let mut runs: [Vec<Measured>; 3] = [Vec::new(), Vec::new(), Vec::new()];
            for round in 0..settings.rounds {
                for &role in round_order(compare.is_ok(), turn + round) {
                    let server = match (role, compare) {
                        (Role::Baseline, _) => &baseline,
                        (Role::Gateway, _) => gateway,
                        (Role::Compare, compare) => compare?,
                    };
                    let cell = Cell {
                        scenario,
                        connections,
                        answer_bytes,
                        is_gateway: role != Role::Baseline,
                    };
                    let measured = cell.run(server, work, settings, done)?;
                    done += 1;
                    progress(format!(
                        "[{done}/{total}] {} c={connections} {}: {:.0} req/s, {:.0} per CPU-s, p99 {}, {} errors, core 0 {:.0}% foreign",
                        scenario.name,
                        role.name(),
                        measured.rps(),
                        measured.per_cpu_second(),
                        latency(measured.figures.p99_us),
                        measured.figures.errors(),
                        100.0 * measured.foreign
                    ));
                    runs[role as usize].push(measured);
                }
            }
            turn += 1;
            let [base, gate, before] = runs.map(median);
            let (base, gate) = (
                base.ok_or("no baseline run")?,
                gate.ok_or("no gateway run")?,
            );
            // The extra column's cell on rows other than "after": empty when comparing.
            let blank = comparing.then(String::new);
            rows.push(scenario_row(
                scenario.name,
                connections,
                &format!("baseline ({answer_bytes} B)"),
                &base,
                None,
                blank.clone(),
            ));
            match (before, compare) {
                (Some(before), _) => {
                    rows.push(scenario_row(
                        "",
                        connections,
                        Role::Compare.label(true),
                        &before,
                        Some(&base),
                        blank.clone(),
                    ));
                    rows.push(scenario_row(
                        "",
                        connections,
                        Role::Gateway.label(true),
                        &gate,
                        Some(&base),
                        Some(format!("**{}**", change(&gate, &before))),
                    ));
                    comparisons.push(Comparison {
                        scenario: scenario.name,
                        connections,
                        base,
                        before,
                        after: gate,
                    });
                }
                (None, Err(why)) if comparing => {
                    rows.push(format!(
                        "| | {connections} | {}: {why} | | | | | | | | | |",
                        Role::Compare.label(true)
                    ));
                    rows.push(scenario_row(
                        "",
                        connections,
                        Role::Gateway.label(true),
                        &gate,
                        Some(&base),
                        Some("n/a".into()),
                    ));
                }
                _ => rows.push(scenario_row(
                    "",
                    connections,
                    Role::Gateway.label(false),
                    &gate,
                    Some(&base),
                    None,
                )),
            }
        }
    }
    let paced = paced_table(
        settings,
        work,
        &baseline,
        servers,
        compare_for(servers, &compare_probes, 0).ok(),
        &probes,
        turn,
    )?;
    let mut table = String::from(
        "| scenario | conns | server | req/s | req per server CPU-s | p50 | p99 | vs baseline (per CPU-s) | p99 vs baseline | errors | core 0 foreign |",
    );
    table.push_str(if comparing {
        " after vs before (per CPU-s) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    } else {
        "\n|---|---|---|---|---|---|---|---|---|---|---|\n"
    });
    for row in rows {
        table.push_str(&row);
        table.push('\n');
    }
    if let Some(program) = &settings.compare {
        table.push('\n');
        table.push_str(&comparison_table(program, settings, &comparisons));
    }
    println!("## HTTP scenarios ({} s each)\n", settings.seconds);
    println!("{table}");
    println!(
        "Baseline: bare actix-web, 1 worker, `POST /<size>` reading the body and answering a fixed \
         JSON body of the size of that scenario's tokengate answer (Content-Type only, no cache \
         headers). tokengate: `load/bench.toml`, RUST_LOG={}. CPU time: utime+stime of the server \
         process at {} ticks/s. Rates count 2xx answers only; errors = status >= 400 + socket \
         errors + timeouts. Core 0 foreign: share of the server core's ticks (/proc/stat) used by \
         anything but the server during the run (other processes, steal); near 0% on a quiet \
         machine. Refresh grants: each request redeems the token the previous answer on \
         the wrk thread returned (see load/refresh.lua).\n",
        settings.rust_log, settings.ticks
    );
    println!("{paced}");
    Ok(format!("{table}\n{paced}"))
}

/// Connections and per-request pause of the equal-load comparison: at most 16 / 2 ms = 8 000
/// requests/s offered to each server, well under what either serves on one core.
const PACED_CONNECTIONS: u32 = 16;
const PACED_DELAY_MS: u32 = 2;

/// VizSeek client_credentials offered at the same rate to both servers. In the saturating runs
/// the two servers are not loaded alike: the baseline outruns one wrk thread, so wrk is busy and
/// each answer finds it running, while tokengate is the bottleneck, so wrk sleeps and every
/// answer must wake it (on a VM an IPI, several microseconds inside `send`, charged to the
/// server). At equal offered load both pay the same wakeups and the ratio compares the work.
/// `compare` is the LOAD_COMPARE gateway where it serves the scenario; `turn` continues the
/// scenario table's alternation of which gateway goes first.
fn paced_table(
    settings: &Settings,
    work: &WorkDir,
    baseline: &Server,
    servers: &Servers<'_>,
    compare: Option<&Server>,
    probes: &[Probe],
    turn: usize,
) -> Result<String, String> {
    let scenario = &SCENARIOS[0];
    let Some(Probe::Ready { answer_bytes }) = probes.first() else {
        return Ok(String::new());
    };
    let comparing = servers.compare.is_some();
    let script = wrk::write_script(
        &work.file("paced.lua"),
        &Script::Fixed {
            content_type: scenario.content_type,
            accept: scenario.accept,
            body: scenario.body,
            delay_ms: Some(PACED_DELAY_MS),
        },
    )?;
    // Indexed by `Role as usize`.
    let mut runs: [Option<Measured>; 3] = [None; 3];
    for &role in round_order(compare.is_some(), turn) {
        let (server, path) = match role {
            Role::Baseline => (baseline, format!("/{answer_bytes}")),
            Role::Gateway => (servers.gateway, scenario.path.to_owned()),
            Role::Compare => (
                compare.ok_or("no compared gateway")?,
                scenario.path.to_owned(),
            ),
        };
        let load = Load {
            script: &script,
            url: format!("http://{}{path}", server.addr),
            connections: PACED_CONNECTIONS,
            seconds: settings.seconds,
            core: settings.load_core,
        };
        let measured = measure(server, &load, settings)?;
        progress(format!(
            "equal load{}: {:.0} req/s, {:.0} per CPU-s",
            if comparing {
                format!(" ({})", role.name())
            } else {
                String::new()
            },
            measured.rps(),
            measured.per_cpu_second()
        ));
        runs[role as usize] = Some(measured);
    }
    let [Some(base), Some(gate), before] = runs else {
        return Err("equal load: a run is missing".into());
    };
    let mut table = format!(
        "### {} at equal offered load\n\n{PACED_CONNECTIONS} connections, each pausing \
         {PACED_DELAY_MS} ms before every request (wrk `delay()`), so both servers get the same \
         request rate and neither is the bottleneck.\n\n\
         | server | req/s | req per server CPU-s | CPU per request | p50 | p99 | vs baseline (per CPU-s) | core 0 foreign |{}\n\
         |---|---|---|---|---|---|---|---|{}\n",
        scenario.name,
        if comparing {
            " after vs before (per CPU-s) |"
        } else {
            ""
        },
        if comparing { "---|" } else { "" }
    );
    // The last column exists only when comparing; on the rows other than "after" it is empty.
    let blank = comparing.then(String::new);
    let mut lines = vec![(format!("baseline ({answer_bytes} B)"), base, blank.clone())];
    match before {
        Some(before) => {
            lines.push((Role::Compare.label(true).into(), before, blank));
            lines.push((
                Role::Gateway.label(true).into(),
                gate,
                Some(format!("**{}**", change(&gate, &before))),
            ));
        }
        None => lines.push((
            Role::Gateway.label(comparing).into(),
            gate,
            comparing.then(|| "n/a".into()),
        )),
    }
    for (name, measured, change) in lines {
        table.push_str(&format!(
            "| {name} | {:.0} | {:.0} | {:.1} us | {} | {} | {:.2}x | {:.0}% |",
            measured.rps(),
            measured.per_cpu_second(),
            1e6 / measured.per_cpu_second().max(1e-9),
            latency(measured.figures.p50_us),
            latency(measured.figures.p99_us),
            ratio(&measured, &base),
            100.0 * measured.foreign
        ));
        if let Some(change) = change {
            table.push_str(&format!(" {change} |"));
        }
        table.push('\n');
    }
    Ok(table)
}

/// What the verify-rate child verifies: the proof the route's clients send.
#[derive(Debug, Clone, Copy)]
enum Proof {
    /// The plain demo password (owin, Swagger).
    Plain,
    /// Its SHA-1 hex (VizSeek).
    Sha1Hex,
}

impl Proof {
    fn arg(self) -> &'static str {
        match self {
            Proof::Plain => "plain",
            Proof::Sha1Hex => "sha1-hex",
        }
    }

    fn from_arg(arg: &str) -> Result<Self, String> {
        [Proof::Plain, Proof::Sha1Hex]
            .into_iter()
            .find(|proof| proof.arg() == arg)
            .ok_or_else(|| format!("proof {arg:?}: plain or sha1-hex"))
    }

    fn proof(self) -> Result<tokengate::domain::PasswordProof, String> {
        use tokengate::domain::{PasswordProof, Secret, Sha1Hex};
        Ok(match self {
            Proof::Plain => PasswordProof::Plain(Secret::new(DEMO_PASSWORD)),
            Proof::Sha1Hex => {
                PasswordProof::Sha1Hex(Sha1Hex::parse(DEMO_SHA1).map_err(|e| e.to_string())?)
            }
        })
    }
}

/// The in-process verify rate of `hash` against `proof` (run pinned to the server's core),
/// read as the gateway reads a `[[user]]`'s hash with no `hash_input`: prints
/// `VERIFY_RATE <verifies> <wall seconds> <own CPU ticks>`.
fn verify_rate(seconds: &str, proof: &str, hash: &str) -> Result<(), String> {
    let seconds: f64 = seconds.parse().map_err(|_| "seconds")?;
    let hash = tokengate::engine::StoredHash::parse(hash, Default::default())
        .map_err(|e| e.to_string())?;
    let proof = Proof::from_arg(proof)?.proof()?;
    if !hash.verify(&proof) {
        return Err("the bench's password does not verify against its hash".into());
    }
    let pid = std::process::id();
    let ticks = procs::cpu_ticks(pid)?;
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        std::hint::black_box(hash.verify(std::hint::black_box(&proof)));
        n += 1;
    }
    let wall = started.elapsed().as_secs_f64();
    println!("VERIFY_RATE {n} {wall} {}", procs::cpu_ticks(pid)? - ticks);
    Ok(())
}

/// Verifies per wall second and per CPU-second of the verifying process.
#[derive(Debug, Clone, Copy)]
struct VerifyRate {
    wall: f64,
    cpu: f64,
}

impl VerifyRate {
    fn mean(self, other: Self) -> Self {
        Self {
            wall: (self.wall + other.wall) / 2.0,
            cpu: (self.cpu + other.cpu) / 2.0,
        }
    }
}

/// [`verify_rate`] in a child pinned to the server's core, 3 s, once the core is idle.
fn measure_verify_rate(
    settings: &Settings,
    proof: Proof,
    hash: &str,
) -> Result<VerifyRate, String> {
    settle(settings)?;
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut command = procs::pinned(settings.server_core, exe);
    command
        .args(["--verify-rate", "3", proof.arg(), hash])
        .stdout(Stdio::piped());
    let output = ChildGuard::spawn(&mut command, "verify-rate child")?.wait_output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let numbers: Vec<f64> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("VERIFY_RATE "))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    match numbers[..] {
        [n, wall, ticks] if wall > 0.0 && ticks > 0.0 => Ok(VerifyRate {
            wall: n / wall,
            cpu: n / (ticks / settings.ticks),
        }),
        _ => Err(format!(
            "verify-rate child ({}) printed: {stdout}",
            output.status
        )),
    }
}

fn scenario(name: &str) -> Result<&'static Scenario, String> {
    SCENARIOS
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("no scenario {name:?}"))
}

fn flood_section(
    settings: &Settings,
    work: &WorkDir,
    config: &BenchConfig,
    gateway: &Server,
) -> Result<(), String> {
    let cc = scenario("VizSeek client_credentials")?;
    let password = scenario("VizSeek password")?;
    let cc_script = wrk::write_script(&work.file("flood-cc.lua"), &cc.script(&[]))?;
    let pw_script = wrk::write_script(&work.file("flood-pw.lua"), &password.script(&[]))?;
    fn load<'a>(
        script: &'a Path,
        url: String,
        connections: u32,
        seconds: u32,
        settings: &Settings,
    ) -> Load<'a> {
        Load {
            script,
            url,
            connections,
            seconds,
            core: settings.load_core,
        }
    }
    let cc_url = format!("http://{}{}", gateway.addr, cc.path);
    let pw_url = format!("http://{}{}", gateway.addr, password.path);

    // The verify rate drifts with the machine (argon2 is memory-bound; a shared host's turbo
    // and caches move it by tens of percent): measure it before and after the password run and
    // compare against the mean of the two.
    progress("flood: argon2 verify rate, pinned to the server core, 3 s");
    let before = measure_verify_rate(settings, Proof::Sha1Hex, &config.password_hash)?;
    progress("flood: password grants alone, 16 connections");
    let alone = measure(
        gateway,
        &load(&pw_script, pw_url.clone(), 16, settings.seconds, settings),
        settings,
    )?;
    progress("flood: argon2 verify rate again, 3 s");
    let after = measure_verify_rate(settings, Proof::Sha1Hex, &config.password_hash)?;
    let rate = before.mean(after);
    progress(format!(
        "flood: {:.1} / {:.1} verifies per CPU-s before / after",
        before.cpu, after.cpu
    ));

    let probes = [1u32, 16];
    let mut idle = Vec::new();
    for &c in &probes {
        progress(format!("flood: client_credentials idle, {c} connection(s)"));
        idle.push(measure(
            gateway,
            &load(&cc_script, cc_url.clone(), c, settings.seconds, settings),
            settings,
        )?);
    }
    // The flood outlasts both measured runs: 1 s lead, then 2 x LOAD_SECONDS, then slack.
    let flood_seconds = 2 * settings.seconds + 3;
    progress(format!(
        "flood: password grants, 16 connections, {flood_seconds} s, with client_credentials beside"
    ));
    settle(settings)?;
    let flood = load(&pw_script, pw_url, 16, flood_seconds, settings).start()?;
    std::thread::sleep(Duration::from_secs(1));
    let mut flooded = Vec::new();
    for &c in &probes {
        flooded.push(measure_now(
            gateway,
            &load(&cc_script, cc_url.clone(), c, settings.seconds, settings),
            settings,
        )?);
    }
    let flood = flood.finish()?;

    println!("## Password flood\n");
    println!(
        "client_credentials (VizSeek) while a second wrk (16 connections) floods password grants, \
         against the same load idle. Server: 1 async worker, hash_workers = {}, one core.\n",
        config.hash_workers
    );
    println!(
        "| cc conns | idle req/s | idle p50 | idle p99 | flooded req/s | flooded p50 | flooded p99 | p99 flooded/idle (target <= 2x) | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for ((c, idle), flooded) in probes.iter().zip(&idle).zip(&flooded) {
        println!(
            "| {c} | {:.0} | {} | {} | {:.0} | {} | {} | **{:.2}x** | {} |",
            idle.rps(),
            latency(idle.figures.p50_us),
            latency(idle.figures.p99_us),
            flooded.rps(),
            latency(flooded.figures.p50_us),
            latency(flooded.figures.p99_us),
            flooded.figures.p99_us / idle.figures.p99_us.max(1e-9),
            idle.figures.errors() + flooded.figures.errors()
        );
    }
    println!();
    let workers = config.hash_workers as f64;
    println!(
        "Password grants against the demo hash's own argon2id verify rate (`StoredHash::verify` \
         in a process pinned to core 0, 3 s before and 3 s after the password run: {:.1} and \
         {:.1} per CPU-s; the mean is used) x hash_workers ({}), target >= 95%:\n",
        before.cpu, after.cpu, config.hash_workers
    );
    println!(
        "| measure | argon2 verify x hash_workers | tokengate password grants (16 conns, {} s) | ratio |",
        settings.seconds
    );
    println!("|---|---|---|---|");
    println!(
        "| per CPU-second (stable) | {:.1} | {:.1} | **{:.1}%** |",
        rate.cpu * workers,
        alone.per_cpu_second(),
        100.0 * alone.per_cpu_second() / (rate.cpu * workers).max(1e-9)
    );
    println!(
        "| per wall-clock second | {:.1} | {:.1} | {:.1}% |",
        rate.wall * workers,
        alone.rps(),
        100.0 * alone.rps() / (rate.wall * workers).max(1e-9)
    );
    println!(
        "\nOne verify: {:.1} ms of CPU. Password grants alone: p50 {}, p99 {}, {} errors; during \
         the flood (sharing the core with client_credentials): {:.1} grants/s.\n",
        1000.0 / rate.cpu.max(1e-9),
        latency(alone.figures.p50_us),
        latency(alone.figures.p99_us),
        alone.figures.errors(),
        flood.ok() as f64 / flood.duration_s.max(1e-9),
    );
    let foreign = idle
        .iter()
        .chain(&flooded)
        .chain([&alone])
        .map(|m| m.foreign)
        .fold(0.0, f64::max);
    println!(
        "Core 0 foreign load during these runs: at most {:.0}% (near 0% on a quiet machine).\n",
        100.0 * foreign
    );
    Ok(())
}

/// One `[[user]]` of load/hashes.toml; the user name labels its row.
struct HashUser {
    username: String,
    /// The stored value, as the verify-rate child is given it.
    text: String,
    hash: tokengate::engine::StoredHash,
}

/// load/hashes.toml, read for what the hashes section needs.
struct HashesConfig {
    path: PathBuf,
    users: Vec<HashUser>,
    hash_workers: usize,
}

impl HashesConfig {
    fn read() -> Result<Self, String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(HASHES_TOML);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{HASHES_TOML}: {e}"))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| format!("{HASHES_TOML}: {e}"))?;
        let users = table
            .get("user")
            .and_then(toml::Value::as_array)
            .ok_or_else(|| format!("{HASHES_TOML}: no [[user]]"))?
            .iter()
            .map(|user| {
                let field = |name: &str| {
                    user.get(name)
                        .and_then(toml::Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| format!("{HASHES_TOML}: a [[user]] without {name}"))
                };
                let (username, text) = (field("username")?, field("password_hash")?);
                let hash = tokengate::engine::StoredHash::parse(&text, Default::default())
                    .map_err(|e| format!("{HASHES_TOML}: {username}: {e}"))?;
                Ok(HashUser {
                    username,
                    text,
                    hash,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            path,
            users,
            hash_workers: hash_workers(&table),
        })
    }
}

/// A hashes run counts at least this many grants (see the module docs), in at most
/// `HASH_RUN_MAX_SECONDS`.
const HASH_RUN_GRANTS: f64 = 300.0;
const HASH_RUN_MAX_SECONDS: u32 = 120;
/// The hash threads' names (`engine::hasher`: `tokengate-hash-N`), as `/proc` keeps them.
const HASH_THREAD: &str = "tokengate-hash";

/// One row of the hashes table.
struct HashRow<'a> {
    user: &'a HashUser,
    before: VerifyRate,
    after: VerifyRate,
    seconds: u32,
    alone: Measured,
    /// CPU time of the server's hash threads during `alone`.
    hash_cpu_s: f64,
}

fn hashes_section(settings: &Settings, work: &WorkDir) -> Result<(), String> {
    let config = HashesConfig::read()?;
    let server = start_tokengate(Path::new(TOKENGATE), "hashes", work, &config.path, settings)?;
    let workers = config.hash_workers as f64;
    let mut rows = Vec::new();
    for (index, user) in config.users.iter().enumerate() {
        let body = serde_urlencoded::to_string([
            ("grant_type", "password"),
            ("username", user.username.as_str()),
            ("password", DEMO_PASSWORD),
        ])
        .map_err(|e| e.to_string())?;
        let headers = [("Content-Type", FORM)];
        let answer = procs::request(
            server.addr,
            HASHES_PATH,
            &headers,
            &body,
            Duration::from_secs(60),
        )?;
        if answer.status != 200 {
            return Err(format!(
                "hashes: {}'s grant answered {}: {}",
                user.username,
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ));
        }
        let script = wrk::write_script(
            &work.file(&format!("hashes-{index}.lua")),
            &Script::Fixed {
                content_type: FORM,
                accept: None,
                body: &body,
                delay_ms: None,
            },
        )?;
        progress(format!(
            "hashes: {}: verify rate, pinned to the server core, 3 s",
            user.username
        ));
        let before = measure_verify_rate(settings, Proof::Plain, &user.text)?;
        // Long enough to count HASH_RUN_GRANTS at half the rate the core gives the child now:
        // the hash threads run at nice 19, so a core that other processes share gives them
        // less than it gives the child.
        let needed = (2.0 * HASH_RUN_GRANTS / (before.wall * workers).max(1e-9)).ceil();
        let seconds = settings
            .seconds
            .max(needed.min(f64::from(HASH_RUN_MAX_SECONDS)) as u32);
        progress(format!(
            "hashes: {}: password grants alone, 16 connections, {seconds} s",
            user.username
        ));
        let hash_ticks = procs::thread_cpu_ticks(server.pid(), HASH_THREAD)?;
        let alone = measure(
            &server,
            &Load {
                script: &script,
                url: format!("http://{}{HASHES_PATH}", server.addr),
                connections: 16,
                seconds,
                core: settings.load_core,
            },
            settings,
        )?;
        let hash_ticks = procs::thread_cpu_ticks(server.pid(), HASH_THREAD)? - hash_ticks;
        progress(format!("hashes: {}: verify rate again, 3 s", user.username));
        let after = measure_verify_rate(settings, Proof::Plain, &user.text)?;
        progress(format!(
            "hashes: {}: {:.1} / {:.1} verifies per CPU-s before / after, {:.1} grants per CPU-s",
            user.username,
            before.cpu,
            after.cpu,
            alone.per_cpu_second()
        ));
        rows.push(HashRow {
            user,
            before,
            after,
            seconds,
            alone,
            hash_cpu_s: hash_ticks as f64 / settings.ticks,
        });
    }
    drop(server);

    println!("## Password grants per hash kind\n");
    println!(
        "owin `/Token` password grants (the plain password) for one user per stored-hash kind \
         (`load/hashes.toml`), each kind's user alone, 16 connections, against that hash's own \
         verify rate (`StoredHash::verify` in a process pinned to core 0, 3 s before and 3 s \
         after the grants; the mean is used) x hash_workers ({}). Server: 1 async worker, one \
         core. A run lasts LOAD_SECONDS ({}) or long enough for {HASH_RUN_GRANTS:.0} grants at \
         half the child's rate, at most {HASH_RUN_MAX_SECONDS} s. The server's CPU per grant is split into its hash \
         threads' (`/proc/PID/task`: the verify, and taking the job off the queue) and the \
         rest (HTTP, the grant, the token, the log line, handing the job over).\n",
        config.hash_workers, settings.seconds
    );
    println!(
        "| user (kind) | one verify (CPU) | verifies per CPU-s before / after | verify x hash_workers | grants per server CPU-s | ratio (target >= 95%) | server CPU per grant | of which hash threads | rest | run | p50 | p99 | errors | core 0 foreign |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in &rows {
        let rate = row.before.mean(row.after);
        let expected = rate.cpu * workers;
        let grant_us = 1e6 / row.alone.per_cpu_second().max(1e-9);
        let verify_us = 1e6 / rate.cpu.max(1e-9);
        let hash_us = 1e6 * row.hash_cpu_s / (row.alone.figures.ok() as f64).max(1.0);
        let ratio = 100.0 * row.alone.per_cpu_second() / expected.max(1e-9);
        let ratio = if row.user.hash.kind() == tokengate::engine::HashKind::Sha1Hex {
            format!("{ratio:.1}% (HTTP-bound, no target)")
        } else {
            format!("**{ratio:.1}%**")
        };
        println!(
            "| {} ({}) | {} | {} / {} | {} | {:.1} | {ratio} | {} | {} | {} | {} s, {} grants | {} | {} | {} | {:.0}% |",
            row.user.username,
            row.user.hash.kind(),
            cpu_time(verify_us),
            per_second(row.before.cpu),
            per_second(row.after.cpu),
            per_second(expected),
            row.alone.per_cpu_second(),
            cpu_time(grant_us),
            cpu_time(hash_us),
            cpu_time(grant_us - hash_us),
            row.seconds,
            row.alone.figures.ok(),
            latency(row.alone.figures.p50_us),
            latency(row.alone.figures.p99_us),
            row.alone.figures.errors(),
            100.0 * row.alone.foreign
        );
    }
    println!(
        "\nThe SHA-1 hex digest costs about a microsecond: its grants are bound by the HTTP \
         request around it, not by hashing, so its ratio says how small the hash's share is \
         rather than how well the hash threads are used. Core 0 foreign load is the share of \
         the core's time spent on other processes during the grant run (near 0% on a quiet \
         machine).\n"
    );
    Ok(())
}

/// A rate, with a decimal only where it is small enough to need one.
fn per_second(rate: f64) -> String {
    if rate < 1000.0 {
        format!("{rate:.1}")
    } else {
        format!("{rate:.0}")
    }
}

/// A CPU time in us, shown in ms from a millisecond up.
fn cpu_time(us: f64) -> String {
    if us.abs() < 1000.0 {
        format!("{us:.1} us")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn startup_section(settings: &Settings, config: &BenchConfig) -> Result<(), String> {
    progress(format!("startup: {} starts", settings.starts));
    settle(settings)?;
    let mut times = Vec::new();
    for _ in 0..settings.starts {
        let addr = procs::free_port()?;
        let mut command = tokengate_command(Path::new(TOKENGATE), &config.path, settings);
        command
            .env("TOKENGATE__SERVER__BIND", addr.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let started = Instant::now();
        let child = ChildGuard::spawn(&mut command, "tokengate (startup)")?;
        let elapsed = procs::wait_healthy(addr, started, Duration::from_secs(10))?;
        drop(child);
        times.push(elapsed);
    }
    // taskset's own exec is inside every figure: measure it alone to say how much.
    let mut taskset = Vec::new();
    for _ in 0..settings.starts {
        let started = Instant::now();
        procs::pinned(settings.server_core, "true")
            .status()
            .map_err(|e| format!("taskset true: {e}"))?;
        taskset.push(started.elapsed());
    }
    times.sort();
    taskset.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("## Startup\n");
    println!(
        "exec of `taskset -c 0 tokengate serve --config bench.toml` to the first 200 on `/healthz` \
         (a tight loop of fresh TCP connects + `GET /healthz` from core 1), {} starts: **best {:.1} \
         ms, median {:.1} ms**, worst {:.1} ms (target < 50 ms). `taskset -c 0 true` alone takes \
         {:.1} ms (median), included above.\n",
        times.len(),
        ms(times[0]),
        ms((times[(times.len() - 1) / 2] + times[times.len() / 2]) / 2),
        ms(times[times.len() - 1]),
        ms(taskset[taskset.len() / 2])
    );
    Ok(())
}
