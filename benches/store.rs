//! Grant throughput per store backend, as a ratio to the memory store in the same run, and
//! what one live refresh token costs in Redis and on disk.
//!
//! ```sh
//! cargo bench --bench store                 # everything (Redis at TOKENGATE_TEST_REDIS or
//!                                           # redis://127.0.0.1:6379; skipped if unreachable)
//! cargo bench --bench store -- grant        # only the throughput groups
//! cargo bench --bench store -- http         # only the HTTP run against the binary
//! cargo bench --bench store -- footprint    # only the bytes per live token
//! cargo bench --bench store -- commit       # only how group commit scales (not in "everything")
//! ```
//!
//! Throughput: each iteration is `CONCURRENCY` token requests at once through the gateway
//! (VizSeek parse + engine + render, no HTTP) on a 2-thread runtime, for `client_credentials`
//! with a refresh token (route override `refresh_for_client_credentials = true`: one store write)
//! and for `refresh_token` (`CONCURRENCY` rotating chains: take, not-before read, insert).
//! The `sequential` group runs one request at a time: there the file store's fsync is not
//! shared, so (file - memory) is the durability cost of one grant. At the end the bench prints
//! each backend's ratio to memory from criterion's estimates.
//!
//! HTTP: the same two grants against the built `tokengate` binary, one process per backend,
//! driven over real sockets by `HTTP_CONNECTIONS` clients in this process for `HTTP_SECONDS`
//! each (two rounds, backends alternating): what one gateway on this machine serves.
//!
//! Footprint: `FOOTPRINT_TOKENS` refresh records (demo-client, a GUID user, no scope) inserted
//! through the store; Redis `used_memory` before and after (and `MEMORY USAGE` of one key), the
//! redb file's size before and after.

// A failed assumption in a test or a bench is a failure to see, not a request to survive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use criterion::{Criterion, Throughput};
use tokengate::config::{Source, load_with_env};
use tokengate::domain::{ClientId, RefreshRecord, SessionId, TokenKey, TokenStore, UserId};
use tokengate::engine::{OsIds, SystemClock};
use tokengate::gateway::Gateway;
use tokengate::http::{Runtime, build_gateway};
use tokengate::store::{FileOptions, FileStore, RedisOptions, RedisStore};
use tokengate::wire::WireRequest;

const CONCURRENCY: usize = 64;
const HTTP_CONNECTIONS: usize = 64;
const HTTP_SECONDS: u64 = 3;
const FOOTPRINT_TOKENS: u64 = 100_000;

fn redis_url() -> String {
    std::env::var("TOKENGATE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("tokengate-bench:{}-{nanos}:", std::process::id())
}

/// A scratch directory on the same disk as the build, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("tokengate-bench-{}", prefix()));
        std::fs::create_dir_all(&path).expect("scratch dir");
        Self(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn config(store: &str) -> String {
    format!(
        r#"
[signing]
secret = "store-bench-signing-secret-0123456789abcdef"
[store]
{store}
[[client]]
id = "demo-client"
[[route]]
dialect = "vizseek"
path = "/api/Token"
refresh_for_client_credentials = true
"#
    )
}

fn gateway(store: &str) -> Arc<Gateway> {
    let settings = load_with_env(&Source::Text(config(store)), false).expect("bench config");
    Arc::new(
        build_gateway(
            settings,
            Runtime {
                clock: Arc::new(SystemClock),
                ids: Arc::new(OsIds),
            },
        )
        .expect("gateway"),
    )
}

async fn redis_reachable() -> bool {
    let ping = async {
        let client = redis::Client::open(redis_url().as_str()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    tokio::time::timeout(Duration::from_secs(2), ping)
        .await
        .ok()
        .flatten()
        .is_some()
}

async fn redis_clear(prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url().as_str()) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let mut cursor = 0u64;
    loop {
        let Ok((next, keys)): Result<(u64, Vec<Vec<u8>>), _> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
        else {
            return;
        };
        if !keys.is_empty() {
            let _: Result<u64, _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

async fn post(gateway: &Gateway, body: &[u8]) -> (u16, Vec<u8>) {
    let route = gateway.route("/api/Token").expect("route");
    let headers = vec![(
        "Content-Type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let request = WireRequest {
        method: "POST",
        path: "/api/Token",
        headers: &headers,
        peer: std::net::Ipv4Addr::LOCALHOST.into(),
        from_trusted_proxy: false,
        body,
    };
    let response = gateway.handle(route, &request, None).await.0;
    (response.status, response.body)
}

const CLIENT_CREDENTIALS: &[u8] = b"grant_type=client_credentials&client_id=demo-client";

fn refresh_of(body: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(body).expect("json");
    json["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned()
}

async fn client_credentials(gateway: &Gateway) -> String {
    let (status, body) = post(gateway, CLIENT_CREDENTIALS).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    refresh_of(&body)
}

/// `n` client_credentials grants at once.
async fn burst(gateway: &Arc<Gateway>, n: usize) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let gateway = gateway.clone();
            tokio::spawn(async move { client_credentials(&gateway).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("grant");
    }
}

/// One redemption on each chain at once; each chain keeps its newest token.
async fn rotate(gateway: &Arc<Gateway>, chains: &Arc<Vec<Mutex<String>>>) {
    let tasks: Vec<_> = (0..chains.len())
        .map(|i| {
            let (gateway, chains) = (gateway.clone(), chains.clone());
            tokio::spawn(async move {
                let token = chains[i].lock().expect("chain").clone();
                let body =
                    format!("grant_type=refresh_token&client_id=demo-client&refresh_token={token}");
                let (status, answer) = post(&gateway, body.as_bytes()).await;
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
                *chains[i].lock().expect("chain") = refresh_of(&answer);
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("refresh");
    }
}

struct Backend {
    name: &'static str,
    gateway: Arc<Gateway>,
}

fn throughput(c: &mut Criterion, runtime: &tokio::runtime::Runtime, backends: &[Backend]) {
    let mut group = c.benchmark_group("grant_client_credentials");
    group.throughput(Throughput::Elements(CONCURRENCY as u64));
    for backend in backends {
        group.bench_function(backend.name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        burst(&backend.gateway, CONCURRENCY).await;
                    }
                    started.elapsed()
                })
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("grant_refresh_token");
    group.throughput(Throughput::Elements(CONCURRENCY as u64));
    for backend in backends {
        let chains = runtime.block_on(async {
            let mut chains = Vec::new();
            for _ in 0..CONCURRENCY {
                chains.push(Mutex::new(client_credentials(&backend.gateway).await));
            }
            Arc::new(chains)
        });
        group.bench_function(backend.name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        rotate(&backend.gateway, &chains).await;
                    }
                    started.elapsed()
                })
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("grant_sequential");
    group.throughput(Throughput::Elements(1));
    for backend in backends {
        group.bench_function(backend.name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let started = Instant::now();
                    for _ in 0..iters {
                        client_credentials(&backend.gateway).await;
                    }
                    started.elapsed()
                })
            })
        });
    }
    group.finish();
}

fn record(i: u64) -> (TokenKey, RefreshRecord) {
    use sha2::Digest;
    let now = Utc::now();
    let token = uuid::Uuid::new_v4().hyphenated().to_string();
    let key = TokenKey(sha2::Sha256::digest(format!("{token}{i}").as_bytes()).into());
    let record = RefreshRecord {
        session: SessionId(uuid::Uuid::new_v4()),
        client: ClientId::new("demo-client"),
        user: Some(UserId::new("614a1d03-873d-489e-9ab5-fb53b0a0c64f")),
        scope: None,
        session_started: now,
        expires_at: now + TimeDelta::days(14),
        stamp: None,
    };
    (key, record)
}

/// Inserts `FOOTPRINT_TOKENS` records, `CONCURRENCY` at a time.
async fn fill(store: Arc<dyn TokenStore>) {
    let mut next = 0;
    while next < FOOTPRINT_TOKENS {
        let tasks: Vec<_> = (next..(next + CONCURRENCY as u64).min(FOOTPRINT_TOKENS))
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let (key, record) = record(i);
                    store
                        .insert_refresh(key, record, Utc::now())
                        .await
                        .expect("insert");
                })
            })
            .collect();
        next += tasks.len() as u64;
        for task in tasks {
            task.await.expect("insert");
        }
    }
}

async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(conn)
        .await
        .expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory")
}

fn footprint(runtime: &tokio::runtime::Runtime, with_redis: bool) {
    println!("\n## Bytes per live refresh token ({FOOTPRINT_TOKENS} tokens)\n");
    println!("| backend | bytes per token | how |");
    println!("|---|---|---|");
    let scratch = Scratch::new();
    let path = scratch.0.join("footprint.redb");
    runtime.block_on(async {
        let store = Arc::new(FileStore::open(&FileOptions { path: path.clone() }).expect("file"));
        let before = std::fs::metadata(&path).map_or(0, |m| m.len());
        fill(store.clone()).await;
        drop(store);
        let after = std::fs::metadata(&path).map_or(0, |m| m.len());
        println!(
            "| file (redb) | {:.0} | file size {} -> {} bytes; record + expiry index entry |",
            (after - before) as f64 / FOOTPRINT_TOKENS as f64,
            before,
            after
        );
    });
    if !with_redis {
        println!("| redis | n/a | unreachable at {} |", redis_url());
        return;
    }
    runtime.block_on(async {
        // As long as the default "tokengate:", so the figure is what a deployment sees.
        let prefix = format!("tgb{:06}:", std::process::id() % 1_000_000);
        let client = redis::Client::open(redis_url().as_str()).expect("url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let before = used_memory(&mut conn).await;
        let store = Arc::new(
            RedisStore::new(&RedisOptions {
                url: tokengate::domain::Secret::new(redis_url()),
                key_prefix: prefix.clone(),
                timeout: Duration::from_secs(5),
            })
            .expect("redis"),
        );
        fill(store.clone()).await;
        let after = used_memory(&mut conn).await;
        let (key, record) = record(0);
        store
            .insert_refresh(key, record, Utc::now())
            .await
            .expect("insert");
        let mut one = prefix.as_bytes().to_vec();
        one.extend_from_slice(b"r:");
        one.extend_from_slice(&key.0);
        let usage: u64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(one)
            .query_async(&mut conn)
            .await
            .expect("MEMORY USAGE");
        println!(
            "| redis | {:.0} | used_memory {} -> {} bytes; MEMORY USAGE of one key: {usage} (prefix {} bytes) |",
            after.saturating_sub(before) as f64 / FOOTPRINT_TOKENS as f64,
            before,
            after,
            prefix.len()
        );
        redis_clear(&prefix).await;
    });
}

/// How the file store's group commit scales: the time of `batch` concurrent inserts (one
/// commit when they all queue together) on a file already holding 100 000 tokens.
fn commit_scaling(runtime: &tokio::runtime::Runtime) {
    let scratch = Scratch::new();
    let path = scratch.0.join("commit.redb");
    let store: Arc<dyn TokenStore> =
        Arc::new(FileStore::open(&FileOptions { path }).expect("file"));
    runtime.block_on(fill(store.clone()));
    println!("\n## File store: concurrent inserts on 100 000 tokens\n");
    println!("| inserts at once | time per round | per insert |");
    println!("|---|---|---|");
    for batch in [1usize, 8, 64, 256] {
        let rounds = 40;
        let started = Instant::now();
        runtime.block_on(async {
            for round in 0..rounds {
                let tasks: Vec<_> = (0..batch)
                    .map(|i| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            let (key, record) = record((round * 10_000 + i) as u64);
                            store
                                .insert_refresh(key, record, Utc::now())
                                .await
                                .expect("insert");
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("insert");
                }
            }
        });
        let per_round = started.elapsed() / rounds as u32;
        println!(
            "| {batch} | {per_round:?} | {:?} |",
            per_round / batch as u32
        );
    }
}

/// A gateway process on a temp config; killed when dropped.
struct Process {
    child: std::process::Child,
    base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn spawn_gateway(dir: &Scratch, name: &str, store: &str) -> Process {
    use std::io::BufRead;
    let path = dir.0.join(format!("{name}.toml"));
    std::fs::write(&path, config(store)).expect("config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("TOKENGATE__SERVER__BIND", "127.0.0.1:0")
        // The listening line, not the per-request log: both sides of a ratio alike.
        .env("RUST_LOG", "warn,tokengate=info,tokengate::http=warn")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tokengate starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().expect("a listening line").expect("utf8");
        if let Some(at) = line.find("address=") {
            let addr = line[at + 8..].split_whitespace().next().expect("addr");
            break format!("http://{addr}");
        }
    };
    // Drain whatever else comes, so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    Process { child, base }
}

/// Grants per second one gateway process answers: `HTTP_CONNECTIONS` clients, each issuing
/// client_credentials grants (`refresh = false`) or rotating its own refresh token.
async fn http_rate(base: &str, refresh: bool) -> f64 {
    let http = reqwest::Client::new();
    let url = format!("{base}/api/Token");
    let cc = "grant_type=client_credentials&client_id=demo-client";
    let deadline = Instant::now() + Duration::from_secs(HTTP_SECONDS);
    let tasks: Vec<_> = (0..HTTP_CONNECTIONS)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let post = |body: String| {
                    http.post(&url)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body(body)
                        .send()
                };
                let answer = post(cc.into()).await.expect("answer");
                let mut token = refresh_of(&answer.bytes().await.expect("body"));
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let body = if refresh {
                        format!(
                            "grant_type=refresh_token&client_id=demo-client&refresh_token={token}"
                        )
                    } else {
                        cc.into()
                    };
                    let answer = post(body).await.expect("answer");
                    assert_eq!(answer.status(), 200);
                    let body = answer.bytes().await.expect("body");
                    if refresh {
                        token = refresh_of(&body);
                    }
                    done += 1;
                }
                done
            })
        })
        .collect();
    let started = Instant::now();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("client");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn http(runtime: &tokio::runtime::Runtime, with_redis: bool) {
    let scratch = Scratch::new();
    let prefix = prefix();
    let mut stores = vec![
        (
            "memory",
            "kind = \"memory\"\nmax_entries = 100000000".to_owned(),
        ),
        (
            "file",
            format!(
                "kind = \"file\"\npath = \"{}\"",
                scratch.0.join("http.redb").display()
            ),
        ),
    ];
    if with_redis {
        stores.push((
            "redis",
            format!(
                "kind = \"redis\"\nurl = \"{}\"\nkey_prefix = \"{prefix}\"\ntimeout = \"5s\"",
                redis_url()
            ),
        ));
    }
    let processes: Vec<_> = stores
        .iter()
        .map(|(name, store)| (*name, spawn_gateway(&scratch, name, store)))
        .collect();
    let mut rates = std::collections::BTreeMap::<(&str, &str), Vec<f64>>::new();
    for _round in 0..2 {
        for (scenario, refresh) in [("client_credentials", false), ("refresh_token", true)] {
            for (name, process) in &processes {
                let rate = runtime.block_on(http_rate(&process.base, refresh));
                rates.entry((scenario, name)).or_default().push(rate);
            }
        }
    }
    println!(
        "\n## Over HTTP: one gateway process, {HTTP_CONNECTIONS} clients, {HTTP_SECONDS} s x 2 rounds\n"
    );
    println!("| grant | backend | grants/s | ratio to memory |");
    println!("|---|---|---|---|");
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    for scenario in ["client_credentials", "refresh_token"] {
        let Some(memory) = rates.get(&(scenario, "memory")).map(mean) else {
            continue;
        };
        for (name, _) in &processes {
            if let Some(rate) = rates.get(&(scenario, name)).map(mean) {
                println!("| {scenario} | {name} | {rate:.0} | {:.2} |", rate / memory);
            }
        }
    }
    drop(processes);
    if with_redis {
        runtime.block_on(redis_clear(&prefix));
    }
}

/// Mean time per iteration of one benchmark, from criterion's estimates of this run.
fn mean_ns(group: &str, name: &str) -> Option<f64> {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = PathBuf::from(target)
        .join("criterion")
        .join(group)
        .join(name)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

fn ratios(backends: &[Backend]) {
    println!("\n## Grant throughput relative to the memory store (this run)\n");
    println!("| group | backend | grants/s | ratio to memory |");
    println!("|---|---|---|---|");
    for (group, per_iter) in [
        ("grant_client_credentials", CONCURRENCY),
        ("grant_refresh_token", CONCURRENCY),
        ("grant_sequential", 1),
    ] {
        let Some(memory) = mean_ns(group, "memory") else {
            continue;
        };
        for backend in backends {
            let Some(ns) = mean_ns(group, backend.name) else {
                continue;
            };
            println!(
                "| {group} | {} | {:.0} | {:.2} |",
                backend.name,
                per_iter as f64 * 1e9 / ns,
                memory / ns
            );
        }
        if group == "grant_sequential"
            && let Some(file) = mean_ns(group, "file")
        {
            println!(
                "\nfile - memory, one grant at a time (the fsync a grant waits for): {:.0} µs",
                (file - memory) / 1e3
            );
        }
    }
}

fn main() {
    // The allocator `tokengate serve` runs a memory store with (see `tokengate::sys`); set
    // before any backend is built, as building the memory one used to set it for all three.
    tokengate::sys::map_large_allocations();
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants =
        |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let with_redis = runtime.block_on(redis_reachable());
    if !with_redis {
        println!("SKIPPED: redis unreachable at {}", redis_url());
    }

    let scratch = Scratch::new();
    let prefix = prefix();
    let mut backends = vec![
        Backend {
            name: "memory",
            // Every grant keeps its token for 14 days: far above what a run inserts.
            gateway: gateway("kind = \"memory\"\nmax_entries = 100000000"),
        },
        Backend {
            name: "file",
            gateway: gateway(&format!(
                "kind = \"file\"\npath = \"{}\"",
                scratch.0.join("grants.redb").display()
            )),
        },
    ];
    if with_redis {
        backends.push(Backend {
            name: "redis",
            gateway: gateway(&format!(
                "kind = \"redis\"\nurl = \"{}\"\nkey_prefix = \"{prefix}\"\ntimeout = \"5s\"",
                redis_url()
            )),
        });
    }

    if [
        "grant_client_credentials",
        "grant_refresh_token",
        "grant_sequential",
    ]
    .iter()
    .any(|g| wants(g))
    {
        let mut criterion = Criterion::default()
            .configure_from_args()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4))
            .sample_size(20);
        throughput(&mut criterion, &runtime, &backends);
        criterion.final_summary();
        ratios(&backends);
    }
    if filters.iter().any(|f| f == "commit") {
        commit_scaling(&runtime);
    }
    if wants("http") {
        http(&runtime, with_redis);
    }
    if wants("footprint") {
        footprint(&runtime, with_redis);
    }
    drop(backends);
    if with_redis {
        runtime.block_on(redis_clear(&prefix));
    }
}
