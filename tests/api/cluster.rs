//! Gateways as separate processes over HTTP, with shared or durable state: two gateways on one
//! Redis, the file store through `kill -9`, Redis going away and coming back (through a proxy
//! the test switches off and on), and `tokengate check --connect`.

use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::helpers::{
    DEMO_PASSWORD_SHA1, FORM, Link, TempDir, form, proxy, redis_available, redis_clear,
    redis_prefix, redis_url, repo_path, send, service, spawn_gateway,
};

/// A gateway process; killed (SIGKILL) when dropped.
struct Gateway {
    child: Child,
    base: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Gateway {
    fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().ok();
    }
}

/// The demo's clients and user, a fixed signing secret (so every process verifies the
/// others' tokens), `store`, three failed passwords per (user, address) before the throttle,
/// and routes: VizSeek with refresh tokens for client_credentials and strict replay detection
/// (no retry grace: a second redemption is a replay at once, which these tests count on),
/// the legacy `/Token` (single active token), introspection and revocation.
fn config(store: &str) -> String {
    let demo = std::fs::read_to_string(repo_path("fixtures/demo.toml")).expect("demo");
    let start = demo.find("[[client]]").expect("clients");
    let end = demo.find("[[route]]").expect("routes");
    format!(
        "[server]\nbind = \"127.0.0.1:0\"\nworkers = 2\n\
         [signing]\nsecret = \"cluster-test-signing-secret-0123456789abcdef\"\n\
         [store]\n{store}\n\
         [throttle]\nfailures_per_user_address = 3\n\n{}\n\
         [[route]]\ndialect = \"vizseek\"\npath = \"/api/Token\"\nrefresh_for_client_credentials = true\n\
         refresh_reuse_grace = \"0s\"\n\
         [[route]]\ndialect = \"owin\"\npath = \"/Token\"\nanonymous_client = \"demo-client\"\n\
         [introspection]\npath = \"/oauth2/introspect\"\ncallers = [\"demo-confidential\"]\n\
         [revocation]\npath = \"/oauth2/revoke\"\n",
        &demo[start..end]
    )
}

fn redis_store(prefix: &str) -> String {
    format!(
        "kind = \"redis\"\nurl = \"{}\"\nkey_prefix = \"{prefix}\"\ntimeout = \"2s\"",
        redis_url()
    )
}

/// Starts the binary on `config_path` and waits for its listening line.
fn start(config_path: &Path) -> Gateway {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokengate"));
    command
        .args(["serve", "--config"])
        .arg(config_path)
        .env("RUST_LOG", "warn,tokengate=info");
    let spawned = spawn_gateway(command);
    // Keep draining the log so the server never blocks on a full pipe.
    let lines = spawned.rest;
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    Gateway {
        child: spawned.child,
        base: spawned.base,
    }
}

fn write_config(dir: &TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("config written");
    path
}

struct Http {
    client: reqwest::Client,
}

impl Http {
    fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
        }
    }

    async fn post(&self, url: String, body: String) -> (u16, serde_json::Value) {
        let answer = self
            .client
            .post(url)
            .header(FORM.0, FORM.1)
            .body(body)
            .send()
            .await
            .expect("answered");
        let status = answer.status().as_u16();
        let json = answer.json().await.unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    async fn client_credentials(&self, gw: &str) -> (u16, serde_json::Value) {
        let body = form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-client"),
        ]);
        self.post(format!("{gw}/api/Token"), body).await
    }

    async fn refresh(&self, gw: &str, token: &str) -> (u16, serde_json::Value) {
        let body = form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "demo-client"),
            ("refresh_token", token),
        ]);
        self.post(format!("{gw}/api/Token"), body).await
    }

    async fn legacy_login(&self, gw: &str) -> String {
        let body = form(&[
            ("grant_type", "password"),
            ("username", "user@example.com"),
            ("password", "P@ssw0rd!"),
        ]);
        let (status, json) = self.post(format!("{gw}/Token"), body).await;
        assert_eq!(status, 200, "{json}");
        json["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    async fn introspect(&self, gw: &str, token: &str) -> bool {
        let answer = self
            .client
            .post(format!("{gw}/oauth2/introspect"))
            .basic_auth("demo-confidential", Some("demo-secret"))
            .header(FORM.0, FORM.1)
            .body(form(&[("token", token)]))
            .send()
            .await
            .expect("answered");
        assert_eq!(answer.status(), 200);
        let json: serde_json::Value = answer.json().await.expect("json");
        json["active"].as_bool().expect("active")
    }

    async fn revoke(&self, gw: &str, token: &str) {
        let answer = self
            .client
            .post(format!("{gw}/oauth2/revoke"))
            .basic_auth("demo-confidential", Some("demo-secret"))
            .header(FORM.0, FORM.1)
            .body(form(&[
                ("token", token),
                ("token_type_hint", "refresh_token"),
            ]))
            .send()
            .await
            .expect("answered");
        assert_eq!(answer.status(), 200);
    }
}

fn refresh_token(json: &serde_json::Value) -> String {
    json["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh token in {json}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_redis_share_tokens_sessions_markers_and_failure_counts() {
    if !redis_available("cluster::two_gateways_on_one_redis").await {
        return;
    }
    let prefix = redis_prefix();
    let dir = TempDir::new("cluster");
    let path = write_config(&dir, "gateway.toml", &config(&redis_store(&prefix)));
    let (a, b) = (start(&path), start(&path));
    let (a, b) = (a.base.clone(), b.base.clone());
    let http = Http::new();

    // Issued by one, redeemed on the other; a replay on the first ends the session everywhere.
    let (status, issued) = http.client_credentials(&a).await;
    assert_eq!(status, 200, "{issued}");
    let first = refresh_token(&issued);
    let (status, rotated) = http.refresh(&b, &first).await;
    assert_eq!(status, 200, "{rotated}");
    let second = refresh_token(&rotated);
    let (status, replay) = http.refresh(&a, &first).await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = http.refresh(&b, &second).await;
    assert_eq!(status, 400, "the replay revoked the session on both");

    // One token redeemed on both at once: exactly one succeeds, every time.
    for trial in 0..20 {
        let (_, issued) = http
            .client_credentials(if trial % 2 == 0 { &a } else { &b })
            .await;
        let token = refresh_token(&issued);
        let (on_a, on_b) = tokio::join!(http.refresh(&a, &token), http.refresh(&b, &token));
        let wins = [on_a.0, on_b.0].iter().filter(|s| **s == 200).count();
        assert_eq!(wins, 1, "trial {trial}: {} and {}", on_a.0, on_b.0);
    }

    // A /Token login on one discards earlier tokens for introspection on the other.
    let earlier = http.legacy_login(&a).await;
    assert!(http.introspect(&b, &earlier).await);
    let later = http.legacy_login(&b).await;
    assert!(!http.introspect(&a, &earlier).await, "superseded on a");
    assert!(!http.introspect(&b, &earlier).await, "superseded on b");
    assert!(http.introspect(&a, &later).await);

    // Failed passwords count on the store: two on one gateway and one on the other reach the
    // limit of three, and then both refuse even the right password.
    let wrong = form(&[
        ("grant_type", "password"),
        ("client_id", "demo-client"),
        ("username", "user@example.com"),
        ("password", &"0".repeat(40)),
    ]);
    for gw in [&a, &a, &b] {
        let (status, _) = http.post(format!("{gw}/api/Token"), wrong.clone()).await;
        assert_eq!(status, 400);
    }
    let right = form(&[
        ("grant_type", "password"),
        ("client_id", "demo-client"),
        ("username", "user@example.com"),
        ("password", DEMO_PASSWORD_SHA1),
    ]);
    for gw in [&a, &b] {
        let (status, answer) = http.post(format!("{gw}/api/Token"), right.clone()).await;
        assert_eq!(
            (status, answer["error_description"].as_str()),
            (400, Some("User authentication failed.")),
            "throttled on {gw}"
        );
    }

    redis_clear(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_store_keeps_every_answered_grant_through_kill_9() {
    let dir = TempDir::new("kill9");
    let store = format!(
        "kind = \"file\"\npath = \"{}\"",
        dir.path().join("tokens.redb").display()
    );
    let path = write_config(&dir, "gateway.toml", &config(&store));
    let gateway = start(&path);
    let base = gateway.base.clone();
    let http = Arc::new(Http::new());

    // State that must survive: a used token, a revoked session, a not-before marker.
    let (_, issued) = http.client_credentials(&base).await;
    let used = refresh_token(&issued);
    let (status, _) = http.refresh(&base, &used).await;
    assert_eq!(status, 200);
    let (_, issued) = http.client_credentials(&base).await;
    let revoked = refresh_token(&issued);
    http.revoke(&base, &revoked).await;
    let superseded = http.legacy_login(&base).await;
    let current = http.legacy_login(&base).await;

    // Grants under load, then SIGKILL while requests are in flight.
    let (stop, stopped) = watch::channel(false);
    let mut loops = Vec::new();
    for _ in 0..8 {
        let (http, base, mut stopped) = (http.clone(), base.clone(), stopped.clone());
        loops.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    result = http.client.post(format!("{base}/api/Token"))
                        .header(FORM.0, FORM.1)
                        .body("grant_type=client_credentials&client_id=demo-client")
                        .send() => {
                        // A request cut by the kill has no answer: its token does not count.
                        let Ok(answer) = result else { break };
                        if answer.status() != 200 { break; }
                        let Ok(json) = answer.json::<serde_json::Value>().await else { break };
                        answered.push(refresh_token(&json));
                    }
                }
            }
            answered
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    gateway.kill_9();
    stop.send(true).ok();
    let mut answered = Vec::new();
    for task in loops {
        answered.extend(task.await.expect("loop"));
    }
    assert!(
        answered.len() >= 50,
        "only {} grants before the kill",
        answered.len()
    );

    let gateway = start(&path);
    let base = gateway.base.clone();
    let mut checks = Vec::new();
    for chunk in answered.chunks(answered.len().div_ceil(8)) {
        let (http, base, chunk) = (http.clone(), base.clone(), chunk.to_vec());
        checks.push(tokio::spawn(async move {
            for token in chunk {
                let (first, json) = http.refresh(&base, &token).await;
                assert_eq!(first, 200, "a grant answered before the kill: {json}");
                let (again, _) = http.refresh(&base, &token).await;
                assert_eq!(again, 400, "redeemed twice");
            }
        }));
    }
    for check in checks {
        check.await.expect("redeemed exactly once");
    }
    let (status, json) = http.refresh(&base, &used).await;
    assert_eq!(
        (status, json["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = http.refresh(&base, &revoked).await;
    assert_eq!(status, 400, "the revocation survived");
    assert!(
        !http.introspect(&base, &superseded).await,
        "the marker survived"
    );
    assert!(http.introspect(&base, &current).await);
    eprintln!(
        "kill -9: {} grants answered before the kill, each redeemed once after",
        answered.len()
    );
}

#[actix_web::test]
async fn redis_going_away_gets_503_within_the_timeout_and_the_gateway_recovers() {
    if !redis_available("cluster::redis_going_away").await {
        return;
    }
    let target = redis_url()
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:6379")
        .rsplit('@')
        .next()
        .unwrap_or("127.0.0.1:6379")
        .to_owned();
    let (port, switch) = proxy(target).await;
    let prefix = redis_prefix();
    let store = format!(
        "kind = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\nkey_prefix = \"{prefix}\"\ntimeout = \"300ms\""
    );
    let settings =
        tokengate::config::load_with_env(&tokengate::config::Source::Text(config(&store)), false)
            .expect("config");
    let gateway = Arc::new(
        tokengate::http::build_gateway(settings, tokengate::http::Runtime::default())
            .expect("builds"),
    );
    let app = service(gateway).await;
    let grant = || async {
        let started = Instant::now();
        let body = form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "demo-client"),
        ]);
        let answer = send(&app, "POST", "/api/Token", &[FORM], body).await;
        (answer, started.elapsed())
    };
    let health = || async { send(&app, "GET", "/healthz", &[], "").await };

    let (answer, _) = grant().await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(health().await.status, 200);

    for outage in [Link::Hang, Link::Down] {
        switch.send(outage).expect("switch");
        for _ in 0..3 {
            let (answer, took) = grant().await;
            assert_eq!(answer.status, 503, "{outage:?}: {}", answer.text());
            assert_eq!(answer.header("Retry-After"), Some("1"));
            assert_eq!(answer.json()["error"], "temporarily_unavailable");
            assert!(
                took < Duration::from_millis(1_300),
                "{outage:?}: took {took:?}"
            );
        }
        let down = health().await;
        assert_eq!(down.status, 503);
        assert_eq!(down.json()["store"]["status"], "unavailable");
        assert_eq!(down.json()["store"]["kind"], "redis");

        switch.send(Link::Up).expect("switch");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (answer, _) = grant().await;
            if answer.status == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{outage:?}: not recovered 15 s after Redis returned: {}",
                answer.text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(health().await.status, 200);
    }
    redis_clear(&prefix).await;
}

#[actix_web::test]
async fn a_gateway_starts_while_redis_is_down_and_answers_503() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let store =
        format!("kind = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\ntimeout = \"200ms\"");
    let settings =
        tokengate::config::load_with_env(&tokengate::config::Source::Text(config(&store)), false)
            .expect("config");
    let gateway = Arc::new(
        tokengate::http::build_gateway(settings, tokengate::http::Runtime::default())
            .expect("builds without Redis"),
    );
    let app = service(gateway).await;
    let body = form(&[
        ("grant_type", "password"),
        ("client_id", "demo-client"),
        ("username", "user@example.com"),
        ("password", DEMO_PASSWORD_SHA1),
    ]);
    let answer = send(&app, "POST", "/api/Token", &[FORM], body).await;
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert_eq!(answer.header("Retry-After"), Some("1"));
    assert_eq!(send(&app, "GET", "/healthz", &[], "").await.status, 503);
}

fn check(config_path: &Path, connect: bool) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokengate"));
    command.args(["check", "--config"]).arg(config_path);
    if connect {
        command.arg("--connect");
    }
    let output = command.output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn check_connect_says_whether_the_store_answers() {
    let dir = TempDir::new("check");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let unreachable = write_config(
        &dir,
        "down.toml",
        &config(&format!(
            "kind = \"redis\"\nurl = \"redis://user:hunter2@127.0.0.1:{port}\"\ntimeout = \"300ms\""
        )),
    );
    let (ok, text) = check(&unreachable, false);
    assert!(ok, "without --connect only the settings count: {text}");
    let (ok, text) = check(&unreachable, true);
    assert!(!ok, "{text}");
    assert!(
        text.contains("store is not reachable") && text.contains(&format!("127.0.0.1:{port}")),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "the password leaked: {text}");

    let file = write_config(
        &dir,
        "file.toml",
        &config("kind = \"file\"\npath = \"state/tokens.redb\""),
    );
    let (ok, text) = check(&file, true);
    assert!(ok, "{text}");
    assert!(
        dir.path().join("state/tokens.redb").exists(),
        "relative to the config file"
    );
    let blocked = write_config(
        &dir,
        "blocked.toml",
        &config("kind = \"file\"\npath = \"/proc/tokengate/tokens.redb\""),
    );
    let (ok, text) = check(&blocked, true);
    assert!(!ok && text.contains("store is not reachable"), "{text}");
}

#[tokio::test]
async fn check_connect_reaches_the_test_redis() {
    if !redis_available("cluster::check_connect_reaches_the_test_redis").await {
        return;
    }
    let dir = TempDir::new("check-redis");
    let path = write_config(&dir, "up.toml", &config(&redis_store(&redis_prefix())));
    let (ok, text) = check(&path, true);
    assert!(ok && text.contains("store is reachable"), "{text}");
}
