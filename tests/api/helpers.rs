//! Shared test scaffolding: gateways built from fixture configs with a fixed clock and seeded
//! ids, in-process actix services, and a real server on a random port.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test as actix_test;
use actix_web::{App, http::Method};
use chrono::{DateTime, Utc};
use tokengate::config::{self, Source};
use tokengate::engine::{FixedClock, SeededIds};
use tokengate::gateway::Gateway;
use tokengate::http::{Runtime, build_gateway, configure};

/// The instant golden exchanges run at: the /Token page's `.issued`, plus 0.4 ms, so Katana's
/// `expires_in` arithmetic shows (lifetime - 1) by mechanism.
pub fn golden_instant() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2020-09-13T09:35:33.0004Z")
        .expect("valid instant")
        .with_timezone(&Utc)
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A gateway from a config text, with a fixed clock and seeded ids.
pub fn gateway_from(text: &str, clock: Arc<FixedClock>) -> Gateway {
    gateway_from_source(&Source::Text(text.to_owned()), clock)
}

/// A gateway from a config source (a file's `file = ...` keys resolve beside it), with a fixed
/// clock and seeded ids.
pub fn gateway_from_source(source: &Source, clock: Arc<FixedClock>) -> Gateway {
    let settings = config::load_with_env(source, false)
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
    build_gateway(
        settings,
        Runtime {
            clock,
            ids: Arc::new(SeededIds::new(2020)),
        },
    )
    .expect("gateway builds")
}

/// The VizSeek fixture gateway at the golden instant.
pub fn vizseek_gateway() -> (Arc<Gateway>, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(golden_instant()));
    let text = std::fs::read_to_string(repo_path("fixtures/vizseek/config.toml")).expect("config");
    (Arc::new(gateway_from(&text, clock.clone())), clock)
}

/// An in-process actix service over a gateway.
pub async fn service(
    gateway: Arc<Gateway>,
) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    actix_test::init_service(App::new().configure(configure(gateway))).await
}

/// An in-process actix service, as `service` builds it.
pub trait TestApp:
    Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>
{
}

impl<S> TestApp for S where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>
{
}

/// A response reduced to what tests compare.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request through an in-process service.
pub async fn send<S>(
    app: &S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> Answer
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let mut request = actix_test::TestRequest::default()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(path)
        .peer_addr("127.0.0.1:50000".parse().expect("addr"));
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let response =
        actix_test::call_service(app, request.set_payload(body.into()).to_request()).await;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().unwrap_or("<binary>").to_owned(),
            )
        })
        .collect();
    let body = actix_test::read_body(response).await.to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// A form body from pairs, percent-encoded as browsers and `requests` do.
pub fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("encodes")
}

pub const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// The SHA-1 hex of the demo password.
pub const DEMO_PASSWORD_SHA1: &str = "076d3e6c4b9f654b5b220b9045b7458ab6b4cbc6";

/// A directory under the system's temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!("tokengate-{label}-{}", unique()));
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// A name no other test, process or run uses: pid, time, counter.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The Redis the store tests use: `TOKENGATE_TEST_REDIS`, default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("TOKENGATE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Whether the test Redis answers. When it does not, the test calling this says so on the
/// terminal (past the test harness's capture) and passes, unless `TOKENGATE_REQUIRE_REDIS=1`
/// (CI), which makes it fail.
pub async fn redis_available(test: &str) -> bool {
    let url = redis_url();
    let ping = async {
        let client = redis::Client::open(url.as_str()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .ok()
    };
    let reachable = tokio::time::timeout(std::time::Duration::from_secs(2), ping)
        .await
        .ok()
        .flatten()
        .is_some();
    if reachable {
        return true;
    }
    if std::env::var("TOKENGATE_REQUIRE_REDIS").as_deref() == Ok("1") {
        panic!("redis unreachable at {url} and TOKENGATE_REQUIRE_REDIS=1");
    }
    use std::io::Write;
    // Written to the process's stderr directly: the harness captures eprintln! of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: redis unreachable at {url} ({test})"
    );
    false
}

/// A key prefix of its own for one test, so parallel tests and runs never share keys.
pub fn redis_prefix() -> String {
    format!("tokengate-test:{}:", unique())
}

/// Deletes every key under `prefix` (markers have no TTL; the rest would expire anyway).
pub async fn redis_clear(prefix: &str) {
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

/// A `tokengate` process that has logged its listening line.
pub struct Spawned {
    pub child: std::process::Child,
    /// `http://IP:PORT`
    pub base: String,
    /// The log lines before the listening line, in order.
    pub before: Vec<String>,
    /// The rest of the log, still to be drained (the server blocks on a full pipe otherwise).
    pub rest: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

/// Sends SIGHUP to a gateway the test started.
pub fn hangup(child: &std::process::Child) {
    signal(child, libc::SIGHUP);
}

/// Sends `signal` to a gateway the test started.
pub fn signal(child: &std::process::Child, signal: libc::c_int) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a child's pid and a valid signal touches no memory of ours.
    #[allow(unsafe_code)]
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0);
}

/// Starts the built binary with `command`'s arguments and environment, stdout piped, and waits
/// for the `address=IP:PORT` line (`"address":"IP:PORT"` in a JSON log).
pub fn spawn_gateway(mut command: std::process::Command) -> Spawned {
    use std::io::BufRead;
    let mut child = command
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut rest = std::io::BufReader::new(stdout).lines();
    let mut before = Vec::new();
    let base = loop {
        let Some(Ok(line)) = rest.next() else {
            panic!("exited before listening:\n{}", before.join("\n"));
        };
        if let Some(at) = line.find("address=") {
            let addr = line[at + "address=".len()..]
                .split_whitespace()
                .next()
                .expect("addr");
            break format!("http://{addr}");
        }
        // The same line with `[log] format = "json"`.
        if let Some(at) = line.find("\"address\":\"") {
            let addr = line[at + "\"address\":\"".len()..]
                .split('"')
                .next()
                .expect("addr");
            break format!("http://{addr}");
        }
        before.push(line);
    };
    Spawned {
        child,
        base,
        before,
        rest,
    }
}

/// A gateway the test started, its port, and every line it logs after the listening line,
/// collected by a thread of its own (so that the pipe never fills).
pub struct Logged {
    pub child: std::process::Child,
    pub port: u16,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// [`spawn_gateway`], with the rest of its log collected as it comes.
pub fn spawn_logged(command: std::process::Command) -> Logged {
    let Spawned {
        child, base, rest, ..
    } = spawn_gateway(command);
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in rest.map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let port = base.rsplit(':').next().unwrap().parse().unwrap();
    Logged { child, port, log }
}

/// A TCP proxy in front of a test server (Redis, PostgreSQL) that the test switches: `Up` forwards, `Down`
/// closes every connection at once, `Hang` accepts and never answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Up,
    Down,
    Hang,
}

pub async fn proxy(target: String) -> (u16, tokio::sync::watch::Sender<Link>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (switch, link) = tokio::sync::watch::channel(Link::Up);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let mut link = link.clone();
            let target = target.clone();
            tokio::spawn(async move {
                let state = *link.borrow_and_update();
                match state {
                    Link::Down => {}
                    Link::Hang => {
                        // Hold the socket, silent, until the link changes.
                        let _ = link.changed().await;
                    }
                    Link::Up => {
                        let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = link.changed() => {}
                        }
                    }
                }
            });
        }
    });
    (port, switch)
}

/// The built binary with `args`, `TOKENGATE_CONFIG` removed (a test names its file itself).
pub fn tokengate(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(args)
        .env_remove("TOKENGATE_CONFIG")
        .output()
        .expect("runs")
}
