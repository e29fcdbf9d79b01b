//! `[server.tls]`: the demo's three dialects over HTTPS with a certificate from `fixtures/tls/`
//! (a rustls client trusting only the test CA), the certificate replaced on SIGHUP for new
//! connections, a broken replacement refused with the old one kept, and `check` naming the
//! key of a certificate that cannot serve. curl and Python `requests` do the same in `.ci/run`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

use crate::helpers::{DEMO_PASSWORD_SHA1, Logged, TempDir, form, hangup, repo_path, spawn_logged};

fn client_config() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(repo_path("fixtures/tls/ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// One request over a new TLS connection to `localhost` at `port`: the answer's status line and
/// body, and the certificate the server presented.
fn https(port: u16, path: &str, headers: &str, body: &str) -> (String, String, Vec<u8>) {
    let name = ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(client_config(), name).unwrap();
    let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(connection, socket);
    write!(
        tls,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = Vec::new();
    // A server may close without close_notify once it has answered `Connection: close`.
    if let Err(e) = tls.read_to_end(&mut answer) {
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof, "{e}");
    }
    let presented = tls.conn.peer_certificates().unwrap()[0].to_vec();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
        presented,
    )
}

fn der(path: &Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

/// The demo with `[server.tls]` over copies of the fixture's files in `dir`.
fn serve(dir: &TempDir) -> (std::process::Child, u16, Arc<Mutex<Vec<String>>>) {
    for name in ["server.pem", "server.key"] {
        std::fs::copy(
            repo_path(&format!("fixtures/tls/{name}")),
            dir.path().join(name),
        )
        .unwrap();
    }
    let demo = std::fs::read_to_string(repo_path("fixtures/demo.toml")).unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!("{demo}\n[server.tls]\ncert_file = \"server.pem\"\nkey_file = \"server.key\"\n"),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokengate"));
    command
        .args(["serve", "--config"])
        .arg(&config)
        .env("TOKENGATE__SERVER__BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info");
    let Logged { child, port, log } = spawn_logged(command);
    (child, port, log)
}

const FORM_TYPE: &str = "Content-Type: application/x-www-form-urlencoded\r\n";

#[test]
fn every_dialect_answers_over_https_and_sighup_swaps_the_certificate() {
    let dir = TempDir::new("tls");
    let (mut child, port, log) = serve(&dir);
    let cc = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "demo-client"),
    ]);
    let (status, body, presented) = https(port, "/api/Token", FORM_TYPE, &cc);
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.contains("\"access_token\""), "{body}");
    assert_eq!(presented, der(&repo_path("fixtures/tls/server.pem")));
    let json = r#"{"grant_type":"client_credentials","client_id":"demo-client"}"#;
    let (status, body, _) = https(
        port,
        "/api/v1/auth/token",
        "Content-Type: application/json\r\nAccept: application/json\r\n",
        json,
    );
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    let password = form(&[
        ("grant_type", "password"),
        ("username", "user@example.com"),
        ("password", "P@ssw0rd!"),
    ]);
    let (status, body, _) = https(port, "/Token", FORM_TYPE, &password);
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.contains("\"userName\":\"user@example.com\""), "{body}");
    let vizseek = form(&[
        ("grant_type", "password"),
        ("client_id", "demo-client"),
        ("username", "user@example.com"),
        ("password", DEMO_PASSWORD_SHA1),
    ]);
    assert_eq!(
        https(port, "/api/Token", FORM_TYPE, &vizseek).0,
        "HTTP/1.1 200 OK"
    );

    // A renewed certificate: new connections get it after SIGHUP.
    for (from, to) in [("server2.pem", "server.pem"), ("server2.key", "server.key")] {
        std::fs::copy(
            repo_path(&format!("fixtures/tls/{from}")),
            dir.path().join(to),
        )
        .unwrap();
    }
    let renewed = der(&repo_path("fixtures/tls/server2.pem"));
    hangup(&child);
    let until = Instant::now() + Duration::from_secs(10);
    while https(port, "/api/Token", FORM_TYPE, &cc).2 != renewed {
        assert!(
            Instant::now() < until,
            "still the old certificate after SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A broken replacement (the new certificate with the old key) is refused; the renewed one
    // stays in use.
    std::fs::copy(
        repo_path("fixtures/tls/server.key"),
        dir.path().join("server.key"),
    )
    .unwrap();
    hangup(&child);
    let until = Instant::now() + Duration::from_secs(10);
    while !log
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("not reloaded"))
    {
        assert!(
            Instant::now() < until,
            "no refusal logged: {:?}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _, presented) = https(port, "/api/Token", FORM_TYPE, &cc);
    assert_eq!((status.as_str(), presented), ("HTTP/1.1 200 OK", renewed));
    child.kill().ok();
    child.wait().ok();
}

#[test]
fn check_names_the_file_of_a_certificate_that_cannot_serve() {
    let problems = |cert: &str, key: &str| -> Vec<String> {
        let text = format!(
            "{}\n[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            std::fs::read_to_string(repo_path("fixtures/demo.toml")).unwrap(),
            repo_path(cert).display(),
            repo_path(key).display(),
        );
        match tokengate::config::load_with_env(&tokengate::config::Source::Text(text), false) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    };
    assert!(problems("fixtures/tls/server.pem", "fixtures/tls/server.key").is_empty());
    let mismatch = problems("fixtures/tls/server.pem", "fixtures/tls/server2.key");
    assert_eq!(mismatch.len(), 1, "{mismatch:?}");
    assert!(
        mismatch[0].starts_with("server.tls.cert_file: the key in "),
        "{mismatch:?}"
    );
    let not_a_key = problems("fixtures/tls/server.pem", "fixtures/tls/ca.pem");
    assert!(
        not_a_key[0].starts_with("server.tls.key_file: "),
        "{not_a_key:?}"
    );
    let missing = problems("fixtures/tls/none.pem", "fixtures/tls/server.key");
    assert!(
        missing[0].starts_with("server.tls.cert_file: cannot read "),
        "{missing:?}"
    );
    let not_a_cert = problems("fixtures/tls/server.key", "fixtures/tls/server.key");
    assert!(
        not_a_cert[0].starts_with("server.tls.cert_file: "),
        "{not_a_cert:?}"
    );
}
