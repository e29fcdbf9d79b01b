//! Hostile load over a real socket (issue 13): bodies that never arrive, oversize and broken
//! bodies, `Expect: 100-continue` over the limit, and floods of malformed requests against the
//! log. The server runs with `body_timeout = "1s"` so the deadlines show in test time.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Server {
    child: Child,
    address: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Server {
    fn lines(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
}

/// The demo config on a free port with a one-second body deadline, logging at `info`; every
/// line (the startup ones included) is kept.
fn start() -> Server {
    start_with(Command::new(env!("CARGO_BIN_EXE_tokengate")))
}

fn start_with(mut command: Command) -> Server {
    let mut child = command
        .env("TOKENGATE__SERVER__BIND", "127.0.0.1:0")
        .env("TOKENGATE__SERVER__BODY_TIMEOUT", "1s")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let log = Arc::new(Mutex::new(Vec::new()));
    let address = loop {
        let line = lines.next().expect("listening line").expect("utf-8");
        log.lock().expect("log").push(line.clone());
        if let Some(at) = line.find("address=") {
            let rest = &line[at + "address=".len()..];
            break rest.split_whitespace().next().expect("addr").to_owned();
        }
    };
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.lock().expect("log").push(line);
        }
    });
    Server {
        child,
        address,
        log,
    }
}

/// Everything the server sends until it closes, or what came within `wait`.
async fn read_all(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(wait, stream.read_to_end(&mut answer))
        .await
        .is_ok();
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

const HEAD_ONLY: &[u8] = b"POST /api/Token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 40\r\n\r\n";

#[tokio::test]
async fn a_body_that_never_arrives_gets_408_in_the_dialect_shape_and_the_connection_closes() {
    let server = start();
    let mut stream = TcpStream::connect(&server.address).await.expect("connect");
    stream.write_all(HEAD_ONLY).await.expect("head");
    stream.write_all(b"grant_type=").await.expect("part");
    let started = Instant::now();
    let (answer, closed) = read_all(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "the connection closes after the 408: {answer}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the deadline"
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(
        answer.contains(r#""error":"invalid_request""#)
            && answer.contains("did not arrive within 1s"),
        "{answer}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server
            .lines()
            .iter()
            .any(|l| l.contains("outcome=\"body_timeout\"") && l.contains("status=408")),
        "{:#?}",
        server.lines()
    );
}

#[tokio::test]
async fn the_startup_log_names_the_effective_limits() {
    // Started with a soft limit below the hard one, as services often are.
    let mut command = Command::new("sh");
    command.args([
        "-c",
        r#"ulimit -Sn 256 && exec "$0""#,
        env!("CARGO_BIN_EXE_tokengate"),
    ]);
    let server = start_with(command);
    let lines = server.lines();
    let limits = lines
        .iter()
        .find(|l| l.contains("connection limits"))
        .expect("a connection limits line");
    for field in [
        "max_connections=",
        "per_worker=",
        "body_timeout=1s",
        "header_timeout=5s",
        "keep_alive=5s",
    ] {
        assert!(limits.contains(field), "{limits}");
    }
    let files = lines
        .iter()
        .find(|l| l.contains("open-files limit"))
        .expect("an open-files line");
    // The soft limit is raised to the hard one.
    let field = |name: &str| -> u64 {
        let at = files.find(name).expect(name) + name.len();
        files[at..]
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .expect("a number")
    };
    assert_eq!(field("started_with="), 256, "{files}");
    assert_eq!(field("soft="), field("hard="), "{files}");
    let soft = field("soft=");
    let at = limits.find("max_connections=").expect("max") + "max_connections=".len();
    let max: u64 = limits[at..]
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert!(
        max < soft,
        "connections capped below the limit: {limits} / {files}"
    );
}

/// Sends `request`, closes the sending half, and reads the answer.
async fn exchange(address: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request).await.expect("write");
    stream.shutdown().await.expect("half-close");
    let (answer, closed) = read_all(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "answered and closed: {answer}");
    answer
}

#[tokio::test]
async fn oversize_is_413_and_a_broken_body_400_however_it_breaks() {
    let server = start();
    let at = &server.address;
    // Declared over the limit.
    let declared = b"POST /api/Token HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\nabc";
    let answer = exchange(at, declared).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // Chunked, met while reading.
    let chunk = "a".repeat(20_000);
    let chunked = format!(
        "POST /api/Token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    let answer = exchange(at, chunked.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("larger than 16384 bytes"), "{answer}");
    // Truncated: fewer bytes than declared, then the client stops sending.
    let truncated =
        b"POST /api/Token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\ngrant_type=";
    let answer = exchange(at, truncated).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("could not be read"), "{answer}");
    // A chunk size that is not hexadecimal.
    let broken = b"POST /api/Token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n";
    let answer = exchange(at, broken).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    // A client that goes away mid-body: nothing to answer, and never a 413.
    let mut gone = TcpStream::connect(at).await.expect("connect");
    gone.write_all(truncated).await.expect("write");
    drop(gone);
    std::thread::sleep(Duration::from_millis(300));
    let lines = server.lines();
    let requests: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("token request"))
        .collect();
    let count = |outcome: &str| {
        requests
            .iter()
            .filter(|l| l.contains(&format!("outcome=\"{outcome}\"")))
            .count()
    };
    assert_eq!(count("body_too_large"), 2, "{requests:#?}");
    assert!(count("malformed_body") >= 1, "{requests:#?}");
    assert!(
        requests
            .iter()
            .all(|l| !l.contains("status=413") || l.contains("body_too_large")),
        "{requests:#?}"
    );
}

#[tokio::test]
async fn expect_100_continue_over_the_limit_is_refused_before_the_body_is_sent() {
    let server = start();
    let mut stream = TcpStream::connect(&server.address).await.expect("connect");
    stream
        .write_all(
            b"POST /api/Token HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\nExpect: 100-continue\r\n\r\n",
        )
        .await
        .expect("head");
    let (answer, closed) = read_all(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "{answer}");
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "no 100 Continue: {answer}"
    );
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(answer.contains(r#""error":"invalid_request""#), "{answer}");
    // Within the limit, the client is told to go on, and the answer follows the body.
    let body = "grant_type=client_credentials&client_id=demo-client";
    let mut stream = TcpStream::connect(&server.address).await.expect("connect");
    let head = format!(
        "POST /api/Token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let mut first = [0u8; 25];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut first))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(body.as_bytes()).await.expect("body");
    let (answer, _) = read_all(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_thousand_malformed_requests_write_a_bounded_log() {
    let server = start();
    std::thread::sleep(Duration::from_millis(200));
    let before = server.lines().len();
    let truncated: &[u8] =
        b"POST /api/Token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\ngrant_type=";
    let garbage: &[u8] =
        b"POST /api/Token HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
    let unknown: &[u8] = b"GET /no-such-path HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let request = [truncated, garbage, unknown][i % 3];
        let address = server.address.clone();
        tasks.push(tokio::spawn(async move {
            let Ok(mut stream) = TcpStream::connect(&address).await else {
                return;
            };
            if stream.write_all(request).await.is_ok() && stream.shutdown().await.is_ok() {
                read_all(&mut stream, Duration::from_secs(5)).await;
            }
        }));
        if i % 50 == 49 {
            for task in tasks.drain(..) {
                task.await.expect("task");
            }
        }
    }
    for task in tasks {
        task.await.expect("task");
    }
    std::thread::sleep(Duration::from_millis(400));
    let lines = server.lines();
    let new = &lines[before..];
    assert!(
        new.iter().all(|l| !l.contains("ERROR")),
        "a client's garbage is not the server's error: {new:#?}"
    );
    // Each kind is held to 20 lines a second; the run takes a few seconds at most.
    assert!(new.len() < 200, "{} lines for 1000 requests", new.len());
    assert!(new.len() >= 2, "the first of each kind is still logged");
}

#[tokio::test]
async fn a_slow_body_flood_leaves_the_server_serving_and_the_idle_connections_get_408() {
    let server = start();
    let mut idle = Vec::new();
    for _ in 0..500 {
        let mut stream = TcpStream::connect(&server.address).await.expect("connect");
        stream.write_all(HEAD_ONLY).await.expect("head");
        idle.push(stream);
    }
    let http = reqwest::Client::new();
    let started = Instant::now();
    let health = http
        .get(format!("http://{}/healthz", server.address))
        .send()
        .await
        .expect("served during the flood");
    assert_eq!(health.status(), 200);
    let token = http
        .post(format!("http://{}/api/Token", server.address))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=demo-client")
        .send()
        .await
        .expect("token");
    assert_eq!(token.status(), 200);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "served promptly, not after the flood's deadline: {:?}",
        started.elapsed()
    );
    let mut timed_out = 0;
    for stream in &mut idle {
        let (answer, closed) = read_all(stream, Duration::from_secs(5)).await;
        if closed && answer.starts_with("HTTP/1.1 408") {
            timed_out += 1;
        }
    }
    assert_eq!(timed_out, 500);
}

#[test]
fn body_timeout_and_max_connections_are_checked_with_their_key_paths() {
    let text = std::fs::read_to_string(crate::helpers::repo_path("fixtures/demo.toml"))
        .expect("demo config");
    let text = text.replacen(
        "[server]",
        "[server]\nbody_timeout = \"soon\"\nkeep_alive = \"0s\"\nmax_connections = 0",
        1,
    );
    let errors = tokengate::config::load_with_env(&tokengate::config::Source::Text(text), false)
        .expect_err("invalid");
    let text = errors.to_string();
    for key in [
        "server.body_timeout",
        "server.keep_alive",
        "server.max_connections",
    ] {
        assert!(text.contains(key), "{text}");
    }
}

/// VizSeek answers a raw password exactly like a wrong one (as its legacy server did); what the
/// client got wrong is on the request's log line, and the password is not.
#[tokio::test]
async fn a_raw_password_is_diagnosed_on_the_log_line_not_on_the_wire() {
    let server = start();
    let body = "grant_type=password&client_id=demo-client&username=user%40example.com&password=Hunter2-raw";
    let request = format!(
        "POST /api/Token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(&server.address, request.as_bytes()).await;
    assert!(
        answer.ends_with(
            r#"{"error":"invalid_grant","error_description":"User authentication failed."}"#
        ),
        "{answer}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let lines = server.lines();
    let line = lines
        .iter()
        .find(|l| l.contains("outcome=\"invalid_password_proof\""))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(
        line.contains(
            "the password is not 40 hexadecimal digits: the client sent the raw password"
        ),
        "{line}"
    );
    assert!(!lines.iter().any(|l| l.contains("Hunter2")), "{lines:#?}");
}
