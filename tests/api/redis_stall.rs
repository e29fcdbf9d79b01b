//! A Redis stall longer than the store timeout, on a Redis of the test's own (a child
//! `redis-server` on a free port, never the shared one's state): the refreshes in flight answer
//! 503, Redis runs their queued rotations when it resumes, and each client's retry with the
//! same refresh token must get the rotation's successor (the retry grace) instead of being
//! taken for a replay. Before rotations were one store operation, every such session was
//! revoked (issue 13: 32/32 lost at a 0.6 s stall).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use tokengate::domain::RefreshToken;
use tokengate::engine::{FixedClock, RefreshGroup};
use tokengate::gateway::Gateway;
use tokengate::wire::WireRequest;

use crate::helpers::{FORM, form, gateway_from, golden_instant, unique};

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const SESSIONS: usize = 32;
const STALL: Duration = Duration::from_secs(1);

/// The child `redis-server`; killed (after a SIGCONT, should a test have stopped it) and reaped
/// when dropped, however the test ends.
struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    /// `None` (after a visible SKIPPED line) without a `redis-server`, unless
    /// `TOKENGATE_REQUIRE_REDIS=1`, which makes its absence a failure.
    fn start(test: &str) -> Option<Self> {
        if !std::path::Path::new(REDIS_SERVER).exists() {
            if std::env::var("TOKENGATE_REQUIRE_REDIS").as_deref() == Ok("1") {
                panic!("{REDIS_SERVER} is missing and TOKENGATE_REQUIRE_REDIS=1");
            }
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {REDIS_SERVER} is missing ({test})"
            );
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let redis = OwnRedis { child, port };
        redis.wait_ready();
        Some(redis)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            use std::io::{Read, Write};
            let pong = std::net::TcpStream::connect(("127.0.0.1", self.port)).and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_millis(500)))?;
                s.write_all(b"PING\r\n")?;
                let mut answer = [0u8; 7];
                s.read_exact(&mut answer)?;
                Ok(answer == *b"+PONG\r\n")
            });
            if matches!(pong, Ok(true)) {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server never answered");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal}");
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many of `tokens` Redis holds as used markers: the rotations it ran for requests whose
/// gateway had already answered 503.
async fn used_markers(port: u16, prefix: &str, tokens: &[String]) -> usize {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connects");
    let group = RefreshGroup::new("/api/Token");
    let mut used = 0;
    for token in tokens {
        let mut key = format!("{prefix}r:").into_bytes();
        key.extend_from_slice(&group.key(&RefreshToken::new(token.clone())).0);
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("GET");
        if value.is_some_and(|v| v.first() == Some(&b'U')) {
            used += 1;
        }
    }
    used
}

fn config(port: u16, prefix: &str) -> String {
    format!(
        r#"
[signing]
secret = "redis-stall-test-signing-secret-0123456789abcdef"

[store]
kind = "redis"
url = "redis://127.0.0.1:{port}"
key_prefix = "{prefix}"
timeout = "200ms"

[[client]]
id = "demo-client"

# VizSeek's defaults: refresh tokens for client_credentials, the default retry grace.
[[route]]
dialect = "vizseek"
path = "/api/Token"
"#
    )
}

async fn post(gateway: &Gateway, body: String) -> (u16, serde_json::Value) {
    let route = gateway.route("/api/Token").expect("route");
    let headers = vec![(FORM.0.to_owned(), FORM.1.to_owned())];
    let request = WireRequest {
        method: "POST",
        path: "/api/Token",
        headers: &headers,
        peer: "127.0.0.1".parse().expect("ip"),
        from_trusted_proxy: false,
        body: body.as_bytes(),
    };
    let answer = gateway.handle(route, &request, None).await.0;
    let json = serde_json::from_slice(&answer.body).unwrap_or(serde_json::Value::Null);
    (answer.status, json)
}

async fn sign_in(gateway: &Gateway) -> String {
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "demo-client"),
    ]);
    let (status, json) = post(gateway, body).await;
    assert_eq!(status, 200, "{json}");
    json["refresh_token"].as_str().expect("rt").to_owned()
}

async fn refresh(gateway: &Gateway, token: &str) -> (u16, serde_json::Value) {
    let body = form(&[
        ("grant_type", "refresh_token"),
        ("client_id", "demo-client"),
        ("refresh_token", token),
    ]);
    post(gateway, body).await
}

#[test]
fn every_session_survives_a_redis_stall_longer_than_the_store_timeout() {
    let Some(redis) = OwnRedis::start(
        "redis_stall::every_session_survives_a_redis_stall_longer_than_the_store_timeout",
    ) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let clock = Arc::new(FixedClock::new(golden_instant()));
        let prefix = format!("tokengate-stall:{}:", unique());
        let gateway = Arc::new(gateway_from(&config(redis.port, &prefix), clock.clone()));
        // A gateway that has served refreshes before: Redis holds the rotation script, so a
        // queued rotation is the script itself, not a lookup that needs a second round trip.
        let warm = sign_in(&gateway).await;
        let (status, json) = refresh(&gateway, &warm).await;
        assert_eq!(status, 200, "{json}");
        let mut tokens = Vec::new();
        for _ in 0..SESSIONS {
            tokens.push(sign_in(&gateway).await);
        }

        redis.signal("-STOP");
        let stalled_at = Instant::now();
        let mut in_flight = Vec::new();
        for token in &tokens {
            let (gateway, token) = (gateway.clone(), token.clone());
            in_flight.push(tokio::spawn(async move { refresh(&gateway, &token).await }));
        }
        for request in in_flight {
            let (status, json) = request.await.expect("task");
            assert_eq!(status, 503, "the store's timeout, not a hang: {json}");
        }
        tokio::time::sleep(STALL.saturating_sub(stalled_at.elapsed())).await;
        redis.signal("-CONT");
        clock.advance(TimeDelta::milliseconds(1_500));
        // The case this test is about: Redis ran the rotations after their gateway gave up.
        let ran_late = used_markers(redis.port, &prefix, &tokens).await;
        assert!(ran_late > 0, "no rotation was queued during the stall");

        // Each client retries with the token it holds, as after any 503.
        let mut survived = 0;
        let mut lost = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            let deadline = Instant::now() + Duration::from_secs(5);
            let (status, json) = loop {
                let (status, json) = refresh(&gateway, token).await;
                if status != 503 || Instant::now() > deadline {
                    break (status, json);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            if status != 200 {
                lost.push(format!("session {i}: {status} {json}"));
                continue;
            }
            let child = json["refresh_token"].as_str().expect("rt").to_owned();
            let (next, json) = refresh(&gateway, &child).await;
            if next == 200 {
                survived += 1;
            } else {
                lost.push(format!("session {i}, the successor: {next} {json}"));
            }
        }
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "redis stall of {} ms, store timeout 200 ms: {ran_late}/{SESSIONS} rotations ran after \
             their 503, {survived}/{SESSIONS} sessions survived",
            STALL.as_millis()
        );
        assert_eq!(survived, SESSIONS, "lost: {lost:#?}");
    });
    drop(redis);
}
