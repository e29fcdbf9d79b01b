//! Shadow mode (issue 18) against a legacy stand-in: a real `tokengate` serving the demo's
//! dialects, behind a small proxy of this test's that changes its answers on purpose (a member
//! renamed, another error text, `expires_in` of another type, an extra header, another XML
//! namespace, a slow answer, a 500). Each change must be found and classified, equivalent
//! answers must report nothing, `answer = "legacy"` must pass the upstream's bytes through, and
//! a slow or failing upstream must never delay or break the client of `answer = "gateway"`.
//! Then `tokengate shadow report` over the log and `tokengate diff` over a HAR file.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::{Logged, TempDir, repo_path, spawn_logged, tokengate};

/// What the stand-in does to the legacy answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    None,
    RenameUserName,
    ErrorText,
    ExpiresInText,
    ExtraHeader,
    XmlNamespace,
    Slow,
    Fail,
}

/// What the stand-in saw and sent last.
#[derive(Debug, Default, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    answer: Vec<u8>,
    answer_headers: Vec<(String, String)>,
}

struct StandIn {
    port: u16,
    change: Arc<Mutex<Change>>,
    seen: Arc<Mutex<Seen>>,
    _legacy: Running,
}

/// The real gateway behind the stand-in, stopped with the test.
struct Running(Logged);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

fn serve(config: &std::path::Path) -> Logged {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokengate"));
    command
        .args(["serve", "--config"])
        .arg(config)
        .env_remove("TOKENGATE_CONFIG")
        .env("TOKENGATE__SERVER__BIND", "127.0.0.1:0");
    spawn_logged(command)
}

fn stand_in() -> StandIn {
    let demo = repo_path("fixtures/demo.toml");
    let legacy = serve(&demo);
    let target = format!("http://127.0.0.1:{}", legacy.port);
    let change = Arc::new(Mutex::new(Change::None));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (tx, rx) = std::sync::mpsc::channel();
    let (c, s) = (change.clone(), seen.clone());
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let client = reqwest::Client::new();
            let server = actix_web::HttpServer::new(move || {
                let (client, target, change, seen) =
                    (client.clone(), target.clone(), c.clone(), s.clone());
                actix_web::App::new().default_service(actix_web::web::to(
                    move |request: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                        let (client, target, change, seen) =
                            (client.clone(), target.clone(), change.clone(), seen.clone());
                        async move { relay(&client, &target, &change, &seen, request, body).await }
                    },
                ))
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .expect("bind");
            tx.send(server.addrs()[0].port()).unwrap();
            server.run().await.unwrap();
        });
    });
    let port = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("stand-in up");
    StandIn {
        port,
        change,
        seen,
        _legacy: Running(legacy),
    }
}

/// The legacy gateway's answer to the request, changed as the test asks.
async fn relay(
    client: &reqwest::Client,
    target: &str,
    change: &Mutex<Change>,
    seen: &Mutex<Seen>,
    request: actix_web::HttpRequest,
    body: actix_web::web::Bytes,
) -> actix_web::HttpResponse {
    let change = *change.lock().unwrap();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut forward = client.request(
        reqwest::Method::from_bytes(request.method().as_str().as_bytes()).unwrap(),
        format!("{target}{path}"),
    );
    for (name, value) in &headers {
        if !["host", "content-length", "connection"].contains(&name.as_str()) {
            forward = forward.header(name, value);
        }
    }
    let answer = forward
        .body(body.to_vec())
        .send()
        .await
        .expect("legacy answers");
    let mut status = answer.status().as_u16();
    let mut answer_headers: Vec<(String, String)> = answer
        .headers()
        .iter()
        .filter(|(n, _)| !["content-length", "date", "connection"].contains(&n.as_str()))
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let mut text = answer.text().await.unwrap();
    match change {
        Change::None => {}
        Change::RenameUserName => text = text.replace("\"userName\"", "\"user_name\""),
        Change::ErrorText => {
            text = text.replace("The user name or password is incorrect.", "Wrong password.")
        }
        Change::ExpiresInText => {
            let at = text.find("\"expires_in\":").expect("expires_in") + "\"expires_in\":".len();
            let end = at + text[at..].find([',', '}']).unwrap();
            text = format!("{}\"{}\"{}", &text[..at], &text[at..end], &text[end..]);
        }
        Change::ExtraHeader => answer_headers.push(("Retry-After".into(), "30".into())),
        Change::XmlNamespace => {
            text = text.replacen("xmlns=\"", "xmlns=\"urn:legacy:", 1);
        }
        Change::Slow => actix_web::rt::time::sleep(Duration::from_secs(4)).await,
        Change::Fail => {
            status = 500;
            answer_headers = vec![("Content-Type".into(), "text/html".into())];
            text = "<html><body>Server Error</body></html>".into();
        }
    }
    *seen.lock().unwrap() = Seen {
        method: request.method().as_str().to_owned(),
        target: path.to_owned(),
        headers,
        body: body.to_vec(),
        answer: text.clone().into_bytes(),
        answer_headers: answer_headers.clone(),
    };
    let mut reply =
        actix_web::HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    for (name, value) in answer_headers {
        reply.append_header((name, value));
    }
    reply.body(text)
}

/// The demo's routes with `shadow` on each: `/Token` and `/api/v1/auth/token` answered by the
/// gateway, `/api/Token` by the legacy stand-in.
fn shadowed_config(dir: &TempDir, port: u16) -> std::path::PathBuf {
    let demo = std::fs::read_to_string(repo_path("fixtures/demo.toml")).unwrap();
    let upstream = |path: &str, answer: &str| {
        format!(
            "path = \"{path}\"\nshadow = {{ upstream = \"http://127.0.0.1:{port}{path}\", answer = \"{answer}\" }}"
        )
    };
    let text = demo
        .replacen("path = \"/Token\"", &upstream("/Token", "gateway"), 1)
        .replacen(
            "path = \"/api/v1/auth/token\"",
            &upstream("/api/v1/auth/token", "gateway"),
            1,
        )
        .replacen(
            "path = \"/api/Token\"",
            &upstream("/api/Token", "legacy"),
            1,
        );
    let text = format!(
        "{text}\n[metrics]\npath = \"/metrics\"\n\n[shadow]\nlog = \"differences.jsonl\"\ntimeout = \"1s\"\n"
    );
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn post(
    client: &reqwest::blocking::Client,
    url: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut request = client.post(url).body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.send().expect("answers");
    let status = answer.status().as_u16();
    let headers = answer
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    (status, headers, answer.bytes().unwrap().to_vec())
}

/// A change, the request that meets it (path, body, headers), and the class and place of the
/// difference it makes.
type Case<'a> = (
    Change,
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a str,
    &'a str,
);

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
const LOGIN: &str = "grant_type=password&username=user%40example.com&password=P%40ssw0rd%21";
const BAD_LOGIN: &str = "grant_type=password&username=user%40example.com&password=wrong";
const SWAGGER_JSON: &str = r#"{"grant_type":"client_credentials","client_id":"demo-client"}"#;

/// A counter of the gateway's `/metrics`, 0 when absent.
fn counter(client: &reqwest::blocking::Client, base: &str, name: &str, labels: &str) -> u64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find(|line| line.starts_with(name) && labels.split(',').all(|l| line.contains(l)))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// Waits (up to 20 s) for `done`.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "not within 20 s: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The differences log's lines, parsed.
fn logged(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits for a new line of the log that has a difference of `class` at `at`.
fn expect_difference(log: &std::path::Path, before: usize, class: &str, at: &str) {
    eventually(&format!("{class} at {at} logged"), || {
        logged(log).iter().skip(before).any(|entry| {
            entry["differences"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["class"] == class && d["at"] == at)
        })
    });
}

#[test]
fn shadowed_routes_find_each_difference_and_never_burden_the_client() {
    let dir = TempDir::new("shadow");
    let legacy = stand_in();
    let config = shadowed_config(&dir, legacy.port);
    let mut gateway = serve(&config);
    let base = format!("http://127.0.0.1:{}", gateway.port);
    let log = dir.path().join("differences.jsonl");
    let client = reqwest::blocking::Client::new();
    let set = |change| *legacy.change.lock().unwrap() = change;
    let same = |route: &str| {
        counter(
            &client,
            &base,
            "tokengate_shadow_exchanges_total",
            &format!("route=\"{route}\",result=\"same\""),
        )
    };

    // Equivalent answers (a fresh token each side, a second apart at most) report nothing.
    let token = format!("{base}/Token");
    let swagger = format!("{base}/api/v1/auth/token");
    assert_eq!(post(&client, &token, LOGIN, &[FORM]).0, 200);
    assert_eq!(post(&client, &token, BAD_LOGIN, &[FORM]).0, 400);
    let json = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
    ];
    assert_eq!(post(&client, &swagger, SWAGGER_JSON, &json).0, 200);
    let xml = [
        ("Content-Type", "application/json"),
        ("Accept", "application/xml"),
    ];
    assert_eq!(post(&client, &swagger, SWAGGER_JSON, &xml).0, 200);
    // VizSeek's route is answered by the legacy side; its comparison counts alike (its
    // `expires_in` is a string, a second apart at most).
    let vizseek = "grant_type=client_credentials&client_id=demo-client";
    assert_eq!(
        post(&client, &format!("{base}/api/Token"), vizseek, &[FORM]).0,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(same("/Token") == 2 && same("/api/v1/auth/token") == 2 && same("/api/Token") == 1) {
        assert!(
            Instant::now() < deadline,
            "5 equivalent exchanges not counted: {} {} {}; log: {:?}",
            same("/Token"),
            same("/api/v1/auth/token"),
            same("/api/Token"),
            logged(&log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(logged(&log).is_empty(), "{:?}", logged(&log));

    // The upstream saw the client's request: method, path, query, body, the client's headers,
    // and X-Forwarded-For with the client's address appended.
    post(
        &client,
        &format!("{token}?trace=1"),
        LOGIN,
        &[
            FORM,
            ("X-Forwarded-For", "203.0.113.7"),
            ("X-Client", "kept"),
        ],
    );
    eventually("the query forwarded", || {
        legacy.seen.lock().unwrap().target == "/Token?trace=1"
    });
    let seen = legacy.seen.lock().unwrap().clone();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.body, LOGIN.as_bytes());
    let header = |name: &str| {
        seen.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("x-client"), Some("kept"));
    assert_eq!(header("x-forwarded-for"), Some("203.0.113.7, 127.0.0.1"));

    // Each deliberate difference is found, classified and logged where it is.
    let cases: [Case; 6] = [
        (
            Change::RenameUserName,
            "/Token",
            LOGIN,
            &[FORM],
            "member_missing",
            "$.user_name",
        ),
        (
            Change::ErrorText,
            "/Token",
            BAD_LOGIN,
            &[FORM],
            "value",
            "$.error_description",
        ),
        (
            Change::ExpiresInText,
            "/Token",
            LOGIN,
            &[FORM],
            "member_type",
            "$.expires_in",
        ),
        (
            Change::ExtraHeader,
            "/Token",
            LOGIN,
            &[FORM],
            "header",
            "retry-after",
        ),
        (
            Change::XmlNamespace,
            "/api/v1/auth/token",
            SWAGGER_JSON,
            &xml,
            "xml_namespace",
            "/AccessTokenResponse",
        ),
        (Change::Fail, "/Token", LOGIN, &[FORM], "status", "status"),
    ];
    for (change, path, body, headers, class, at) in cases {
        set(change);
        let before = logged(&log).len();
        let (status, _, _) = post(&client, &format!("{base}{path}"), body, headers);
        // The client has the gateway's own answer, whatever the upstream did.
        assert_eq!(
            status,
            if body == BAD_LOGIN { 400 } else { 200 },
            "{change:?}"
        );
        expect_difference(&log, before, class, at);
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("P@ssw0rd") && !text.contains("P%40ssw0rd"),
        "{text}"
    );
    assert!(!text.contains("eyJ"), "no token in the log: {text}");
    let classes = |class: &str| {
        counter(
            &client,
            &base,
            "tokengate_shadow_differences_total",
            &format!("class=\"{class}\""),
        )
    };
    assert!(classes("member_missing") >= 1 && classes("xml_namespace") >= 1);

    // A slow upstream delays nobody: the answer comes long before the upstream's, which is
    // counted as failed once the shadow's timeout (1 s) passes.
    set(Change::Slow);
    let failed = || {
        counter(
            &client,
            &base,
            "tokengate_shadow_exchanges_total",
            "route=\"/Token\",result=\"upstream_failed\"",
        )
    };
    let before = failed();
    let started = Instant::now();
    assert_eq!(post(&client, &token, LOGIN, &[FORM]).0, 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the client waited for the slow upstream: {:?}",
        started.elapsed()
    );
    eventually("the slow upstream counted", || failed() > before);

    // answer = "legacy": the client gets the stand-in's bytes and headers as it sent them, and
    // the gateway's answer is compared behind it.
    set(Change::ExtraHeader);
    let before = logged(&log).len();
    let (status, headers, body) = post(&client, &format!("{base}/api/Token"), vizseek, &[FORM]);
    let seen = legacy.seen.lock().unwrap().clone();
    assert_eq!(status, 200);
    assert_eq!(body, seen.answer, "the legacy bytes, untouched");
    for (name, value) in &seen.answer_headers {
        assert!(
            headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && v == value),
            "{name}: {value} passed through: {headers:?}"
        );
    }
    expect_difference(&log, before, "header", "retry-after");
    // A legacy endpoint that answers nothing in time is the proxy's 502.
    set(Change::Slow);
    let (status, _, _) = post(&client, &format!("{base}/api/Token"), vizseek, &[FORM]);
    assert_eq!(status, 502);
    set(Change::None);

    // The report: every class logged, by route, with examples and no secret.
    let report = tokengate(&["shadow", "report", "--config", config.to_str().unwrap()]);
    assert!(report.status.success());
    let report = String::from_utf8(report.stdout).unwrap();
    for class in [
        "member_missing",
        "value",
        "member_type",
        "header",
        "xml_namespace",
        "status",
    ] {
        assert!(report.contains(&format!("  {class} ")), "{class}: {report}");
    }
    assert!(
        report.contains("route /Token") && report.contains("route /api/Token"),
        "{report}"
    );
    assert!(report.contains("\"Wrong password.\""), "{report}");

    // `diff` over a HAR file: equivalent answers exit 0; a changed member exits 1 and names it.
    let har = dir.path().join("run.har");
    std::fs::write(&har, har_of(&[("/Token", LOGIN), ("/api/Token", vizseek)])).unwrap();
    let upstream = format!("http://127.0.0.1:{}", legacy.port);
    let diff = || {
        tokengate(&[
            "diff",
            "--config",
            repo_path("fixtures/demo.toml").to_str().unwrap(),
            "--upstream",
            &upstream,
            "--transcript",
            har.to_str().unwrap(),
        ])
    };
    let same = diff();
    assert!(
        same.status.success(),
        "{}",
        String::from_utf8_lossy(&same.stdout)
    );
    set(Change::RenameUserName);
    let changed = diff();
    let out = String::from_utf8_lossy(&changed.stdout);
    assert_eq!(changed.status.code(), Some(1), "{out}");
    assert!(out.contains("member_missing $.user_name"), "{out}");
    let _ = gateway.child.kill();
    let _ = gateway.child.wait();
}

/// A HAR file of form POSTs to 127.0.0.1 (the host is replaced by `--upstream` and the
/// gateway's), as a browser would record them.
fn har_of(requests: &[(&str, &str)]) -> String {
    let entries: Vec<serde_json::Value> = requests
        .iter()
        .map(|(path, body)| {
            serde_json::json!({
                "startedDateTime": "2026-12-03T10:00:00.000Z",
                "request": {
                    "method": "POST",
                    "url": format!("http://127.0.0.1:9/{}", path.trim_start_matches('/')),
                    "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "Content-Type", "value": "application/x-www-form-urlencoded"}],
                    "queryString": [],
                    "postData": {"mimeType": "application/x-www-form-urlencoded", "text": body}
                },
                "response": {"status": 0}
            })
        })
        .collect();
    serde_json::json!({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": entries}})
        .to_string()
}

/// An HTTPS upstream: a legacy endpoint whose certificate chains to `[shadow] ca_file` (the
/// test CA of fixtures/tls) answers through the gateway; without the CA, the system roots do
/// not know it, and the legacy-answered route is the proxy's 502.
#[test]
fn an_https_upstream_is_trusted_through_the_configured_ca_only() {
    let dir = TempDir::new("shadow-tls");
    let demo = std::fs::read_to_string(repo_path("fixtures/demo.toml")).unwrap();
    let legacy_config = dir.path().join("legacy.toml");
    std::fs::write(
        &legacy_config,
        format!(
            "{demo}\n[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            repo_path("fixtures/tls/server.pem").display(),
            repo_path("fixtures/tls/server.key").display()
        ),
    )
    .unwrap();
    let legacy = Running(serve(&legacy_config));
    let shadowed = |ca: &str| {
        let path = dir.path().join(format!("gateway{}.toml", ca.len()));
        let text = demo.replacen(
            "path = \"/api/Token\"",
            &format!(
                "path = \"/api/Token\"\nshadow = {{ upstream = \"https://localhost:{}/api/Token\", answer = \"legacy\" }}",
                legacy.0.port
            ),
            1,
        );
        std::fs::write(&path, format!("{text}\n[shadow]\ntimeout = \"2s\"\n{ca}")).unwrap();
        Running(serve(&path))
    };
    let client = reqwest::blocking::Client::new();
    let body = "grant_type=client_credentials&client_id=demo-client";
    let ca = format!(
        "ca_file = \"{}\"\n",
        repo_path("fixtures/tls/ca.pem").display()
    );
    for (extra, status) in [(ca.as_str(), 200), ("", 502)] {
        let gateway = shadowed(extra);
        let (got, _, answer) = post(
            &client,
            &format!("http://127.0.0.1:{}/api/Token", gateway.0.port),
            body,
            &[FORM],
        );
        assert_eq!(got, status, "{}", String::from_utf8_lossy(&answer));
    }
}
