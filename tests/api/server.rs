//! The built binary over a real socket: startup, the demo's routes, /healthz, 404, body limits
//! on a kept-alive connection, and graceful shutdown on SIGTERM.

use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::{DEMO_PASSWORD_SHA1, Spawned, form, spawn_gateway};

struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// The log so far; waits briefly for lines of requests just answered.
    fn log(&self) -> String {
        std::thread::sleep(Duration::from_millis(200));
        self.log.lock().expect("log").join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Starts `tokengate` (the demo config) on a free port and waits for its listening line.
fn start() -> Server {
    let (server, before) = spawn(&[]);
    let first = before.first();
    assert!(
        first.is_some_and(|l| l.contains("embedded demo configuration")),
        "the first log line says the demo config is in use: {first:?}"
    );
    server
}

/// [`start`], with more environment (which may name another configuration).
fn start_with(env: &[(&str, &str)]) -> Server {
    spawn(env).0
}

/// The server, and its log lines before the listening line.
fn spawn(env: &[(&str, &str)]) -> (Server, Vec<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokengate"));
    command
        .env("TOKENGATE__SERVER__BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied());
    let Spawned {
        child,
        base,
        before,
        rest: lines,
    } = spawn_gateway(command);
    // Keep draining the log so the server never blocks on a full pipe.
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.lock().expect("log").push(line);
        }
    });
    (Server { child, base, log }, before)
}

#[tokio::test]
async fn the_demo_server_answers_health_tokens_and_404() {
    let server = start();
    let http = reqwest::Client::new();
    let health = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);

    let body = form(&[
        ("grant_type", "password"),
        ("client_id", "demo-client"),
        ("username", "user@example.com"),
        ("password", DEMO_PASSWORD_SHA1),
    ]);
    let token = http
        .post(format!("{}/api/Token", server.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("token");
    assert_eq!(token.status(), 200);
    assert_eq!(
        token.headers()["content-type"],
        "application/json;charset=UTF-8"
    );
    let json: serde_json::Value = token.json().await.expect("json");
    assert_eq!(json["token_type"], "bearer");

    let missing = http
        .get(format!("{}/nothing-here", server.base))
        .send()
        .await
        .expect("404");
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn an_oversized_body_gets_413_in_the_dialect_shape() {
    let server = start();
    let http = reqwest::Client::new();
    let answer = http
        .post(format!("{}/api/Token", server.base))
        .body(vec![b'a'; 1 << 20])
        .send()
        .await
        .expect("answered, not reset");
    assert_eq!(answer.status(), 413);
    let json: serde_json::Value = answer.json().await.expect("json");
    assert_eq!(json["error"], "invalid_request");
    // The server is still there for the next client.
    let health = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
}

/// Sends raw bytes, closes the sending half, and reads the whole answer.
async fn raw_exchange(base: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream.write_all(request).await.expect("write");
    stream.shutdown().await.expect("half-close");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_gets_413_and_a_truncated_one_400() {
    let server = start();
    // Chunked: no length is declared, so the limit is met while reading.
    let chunk = "a".repeat(20_000);
    let chunked = format!(
        "POST /api/Token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    let answer = raw_exchange(&server.base, chunked.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("larger than 16384 bytes"), "{answer}");
    // Fewer bytes than Content-Length promises, then the client stops sending.
    let truncated =
        b"POST /api/Token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\ngrant_type=";
    let answer = raw_exchange(&server.base, truncated).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("the body could not be read"), "{answer}");
    assert!(server.log().contains("outcome=\"malformed_body\""));
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let mut server = start();
    let pid = server.child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            assert!(exit.success(), "exit status {exit}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 15 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn the_request_log_names_route_grant_and_outcome_but_never_a_secret() {
    let server = start();
    let http = reqwest::Client::new();
    let url = format!("{}/api/Token", server.base);
    let post = |body: String| {
        http.post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let login = form(&[
        ("grant_type", "password"),
        ("client_id", "demo-client"),
        ("username", "user@example.com"),
        ("password", DEMO_PASSWORD_SHA1),
    ]);
    let json: serde_json::Value = post(login)
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let refresh = json["refresh_token"].as_str().expect("rt").to_owned();
    let again = form(&[
        ("grant_type", "refresh_token"),
        ("client_id", "demo-client"),
        ("refresh_token", &refresh),
    ]);
    let rotated: serde_json::Value = post(again.clone())
        .await
        .expect("refresh")
        .json()
        .await
        .expect("json");
    let child = rotated["refresh_token"].as_str().expect("rt").to_owned();
    post(form(&[
        ("grant_type", "refresh_token"),
        ("client_id", "demo-client"),
        ("refresh_token", &child),
    ]))
    .await
    .expect("the family goes on");
    // The parent again after its successor was used: a replay even within the retry grace.
    post(again).await.expect("replay, logged as a warning");
    let secret = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "demo-confidential"),
        ("client_secret", "demo-secret"),
    ]);
    post(secret).await.expect("confidential");

    let log = server.log();
    assert!(
        log.contains("grant=\"password\"") && log.contains("outcome=\"granted\""),
        "{log}"
    );
    assert!(log.contains("outcome=\"refresh_token_reused\""), "{log}");
    assert!(log.contains("latency_us="), "{log}");
    let access = json["access_token"].as_str().expect("at");
    for secret in [DEMO_PASSWORD_SHA1, "demo-secret", &refresh, &child, access] {
        assert!(
            !log.contains(secret),
            "the log shows a secret: {secret}\n{log}"
        );
    }
}

#[tokio::test]
async fn a_json_log_writes_each_line_as_one_object_with_the_same_fields() {
    let server = start_with(&[("TOKENGATE__LOG__FORMAT", "json")]);
    let answer = reqwest::Client::new()
        .post(format!("{}/api/Token", server.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-confidential"),
            ("client_secret", "demo-secret"),
        ]))
        .send()
        .await
        .expect("answers");
    assert_eq!(answer.status(), 200);
    let log = server.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let request = lines
        .iter()
        .find(|line| line["message"] == "token request")
        .unwrap_or_else(|| panic!("no token request line:\n{log}"));
    assert_eq!(request["level"], "INFO");
    assert_eq!(request["target"], "tokengate::http");
    for (field, value) in [
        ("route", "/api/Token"),
        ("dialect", "vizseek"),
        ("grant", "client_credentials"),
        ("outcome", "granted"),
        ("peer", "127.0.0.1"),
    ] {
        assert_eq!(request[field], value, "{request}");
    }
    assert_eq!(request["status"], 200);
    assert!(request["latency_us"].is_u64(), "{request}");
    assert!(!log.contains("demo-secret"), "{log}");
}

#[tokio::test]
async fn request_ids_come_from_a_trusted_proxy_or_are_made_and_are_echoed_only_when_asked() {
    let post = |base: String, id: Option<&'static str>| async move {
        let mut request = reqwest::Client::new()
            .post(format!("{base}/api/Token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "demo-client"),
            ]));
        if let Some(id) = id {
            request = request.header("X-Request-Id", id);
        }
        let answer = request.send().await.expect("answers");
        assert_eq!(answer.status(), 200);
        answer
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    // The demo trusts no proxy: the client's id is not taken, and nothing is echoed (the
    // legacy endpoints sent no such header).
    let plain = start();
    assert_eq!(post(plain.base.clone(), Some("from-client")).await, None);
    let log = plain.log();
    assert!(!log.contains("from-client"), "{log}");
    let made = log
        .lines()
        .find(|l| l.contains("token request"))
        .and_then(|l| l.split("request_id=\"").nth(1))
        .map(|rest| rest[..32].to_owned())
        .unwrap_or_else(|| panic!("no request id:\n{log}"));
    assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");

    // 127.0.0.1 as a trusted proxy, with the echo on.
    let dir = crate::helpers::TempDir::new("request-id");
    let demo = std::fs::read_to_string(crate::helpers::repo_path("fixtures/demo.toml")).unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        demo.replace(
            "[server]\n",
            "[log]\necho_request_id = true\n\n[server]\ntrusted_proxies = [\"127.0.0.1\"]\n",
        ),
    )
    .unwrap();
    let proxied = start_with(&[("TOKENGATE_CONFIG", config.to_str().unwrap())]);
    assert_eq!(
        post(proxied.base.clone(), Some("proxy-7f3a"))
            .await
            .as_deref(),
        Some("proxy-7f3a")
    );
    let echoed = post(proxied.base.clone(), None)
        .await
        .expect("a made id is echoed");
    assert_eq!(echoed.len(), 32);
    let log = proxied.log();
    assert!(log.contains("request_id=\"proxy-7f3a\""), "{log}");
    assert!(log.contains(&format!("request_id=\"{echoed}\"")), "{log}");
}
