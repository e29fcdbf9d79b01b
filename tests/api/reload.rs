//! SIGHUP re-reads the configuration file of a running `tokengate serve` (issue 16): a valid new
//! one serves new requests while a request in flight finishes on the old one, the tokens issued
//! before stay valid (the demo's random signing key is kept), and an invalid one is refused with
//! its problems logged and the running configuration kept. And SIGTERM: `/readyz` answers 503
//! while the requests in flight finish.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::helpers::{Logged, TempDir, hangup, repo_path, signal, spawn_logged};

fn config_with_client(client: &str) -> String {
    let demo = std::fs::read_to_string(repo_path("fixtures/demo.toml")).expect("demo");
    format!("{demo}\n[[client]]\nid = \"{client}\"\ngrants = [\"client_credentials\"]\n")
}

fn client_credentials(client: &str) -> String {
    format!("grant_type=client_credentials&client_id={client}")
}

/// Sends `head` and then `body` to the gateway and reads the answer (the connection closes).
fn post(port: u16, path: &str, extra: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    answer(stream)
}

/// A POST of `body` to /api/Token whose head and first 10 bytes are sent, left in flight (the
/// gateway has begun it); the rest of the body is returned, to send later.
fn half_sent(port: u16, body: &str) -> (TcpStream, &str) {
    let (first, rest) = body.split_at(10);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "POST /api/Token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    )
    .expect("write");
    stream.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(200));
    (stream, rest)
}

fn answer(mut stream: TcpStream) -> (u16, String) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status: {text:?}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

/// Waits for the `nth` log line (counting from 1) that contains `text`.
fn wait_for(log: &Mutex<Vec<String>>, text: &str, nth: usize) {
    let started = Instant::now();
    while log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(text))
        .count()
        < nth
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no {text:?} in the log:\n{}",
            log.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_serves_a_valid_new_configuration_and_keeps_the_old_one_when_invalid() {
    let dir = TempDir::new("reload");
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, config_with_client("before-reload")).expect("write");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokengate"));
    command
        .args(["serve", "--config"])
        .arg(&path)
        .env("TOKENGATE__SERVER__BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info");
    let Logged {
        mut child,
        port,
        log,
    } = spawn_logged(command);

    let (status, body) = post(port, "/api/Token", "", &client_credentials("before-reload"));
    assert_eq!(status, 200, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).expect("json");
    let token = token["access_token"].as_str().expect("token").to_owned();
    assert_eq!(
        post(port, "/api/Token", "", &client_credentials("after-reload")).0,
        400
    );

    // A request in flight across the reload: its head is in, half its body is not.
    let in_flight_body = client_credentials("before-reload");
    let (mut in_flight, second) = half_sent(port, &in_flight_body);

    std::fs::write(&path, config_with_client("after-reload")).expect("write");
    hangup(&child);
    wait_for(&log, "configuration reloaded", 1);
    in_flight.write_all(second.as_bytes()).expect("write");
    let (status, body) = answer(in_flight);
    assert_eq!(
        status, 200,
        "the request in flight finishes on the old one: {body}"
    );

    let (status, body) = post(port, "/api/Token", "", &client_credentials("after-reload"));
    assert_eq!(status, 200, "new requests get the new clients: {body}");
    assert_eq!(
        post(port, "/api/Token", "", &client_credentials("before-reload")).0,
        400,
        "the removed client is gone"
    );
    // The demo names no signing key: the random one drawn at start is kept.
    let (status, body) = post(
        port,
        "/oauth2/introspect",
        "Authorization: Basic ZGVtby1jb25maWRlbnRpYWw6ZGVtby1zZWNyZXQ=\r\n",
        &format!("token={token}"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"active\":true"), "{body}");

    std::fs::write(
        &path,
        format!(
            "{}\n[throttle]\nfailures_per_user = \"many\"\n[bogus]\nkey = 1\n",
            config_with_client("third")
        ),
    )
    .expect("write");
    hangup(&child);
    wait_for(&log, "configuration not reloaded", 1);
    let lines = log.lock().unwrap().join("\n");
    assert!(lines.contains("throttle.failures_per_user"), "{lines}");
    assert!(lines.contains("bogus"), "{lines}");
    assert_eq!(
        post(port, "/api/Token", "", &client_credentials("after-reload")).0,
        200,
        "the running configuration is kept"
    );
    assert_eq!(
        post(port, "/api/Token", "", &client_credentials("third")).0,
        400
    );

    // What a running process cannot change is named, and the rest applies.
    std::fs::write(
        &path,
        format!(
            "{}\n[store]\nkind = \"memory\"\nmax_entries = 1000\n",
            config_with_client("fourth")
        ),
    )
    .expect("write");
    hangup(&child);
    wait_for(&log, "configuration reloaded", 2);
    let lines = log.lock().unwrap().join("\n");
    assert!(
        lines.contains("take effect only at a restart") && lines.contains("[store]"),
        "{lines}"
    );
    assert_eq!(
        post(port, "/api/Token", "", &client_credentials("fourth")).0,
        200
    );
    child.kill().ok();
    child.wait().ok();
}

/// One answer on a kept-alive connection: the status and the body (by its Content-Length).
fn read_one(stream: &mut TcpStream) -> (u16, String) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).expect("read"), 1, "closed mid-head");
        bytes.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&bytes).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn sigterm_makes_readyz_answer_503_while_requests_in_flight_finish() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokengate"));
    command
        .arg("serve")
        .env_remove("TOKENGATE_CONFIG")
        .env("TOKENGATE__SERVER__BIND", "127.0.0.1:0")
        .env("TOKENGATE__SERVER__SHUTDOWN_TIMEOUT_SECS", "10")
        .env("RUST_LOG", "info");
    let Logged {
        mut child,
        port,
        log,
    } = spawn_logged(command);
    let ready = b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut probe = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    probe.write_all(ready).expect("write");
    assert_eq!(read_one(&mut probe).0, 200);

    let body = client_credentials("demo-client");
    let (mut in_flight, second) = half_sent(port, &body);

    signal(&child, libc::SIGTERM);
    wait_for(&log, "stopping", 1);
    probe.write_all(ready).expect("write");
    let (status, answer) = read_one(&mut probe);
    assert_eq!(status, 503, "{answer}");
    assert!(answer.contains("\"status\":\"draining\""), "{answer}");
    in_flight.write_all(second.as_bytes()).expect("write");
    let (status, answer) = self::answer(in_flight);
    assert_eq!(status, 200, "the request in flight finishes: {answer}");
    let exited = child.wait().expect("exits");
    assert!(exited.success(), "{exited:?}");
}
