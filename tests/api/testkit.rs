//! The test kit end to end: a gateway started with `tokengate::testing::TestGateway` from the
//! demo configuration, driven over HTTP through its control API and its routes, as a client
//! team's suite would.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokengate::testing::TestGateway;

use crate::helpers::repo_path;

fn demo() -> String {
    std::fs::read_to_string(repo_path("fixtures/demo.toml")).expect("demo config")
}

fn start() -> TestGateway {
    TestGateway::start(&demo()).expect("test gateway starts")
}

/// The control API, authorized.
struct Control<'a> {
    gateway: &'a TestGateway,
    http: reqwest::Client,
}

impl<'a> Control<'a> {
    fn new(gateway: &'a TestGateway) -> Self {
        Self {
            gateway,
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.gateway.control_url()))
            .bearer_auth(self.gateway.control_token());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("control answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

/// A password grant on the OWIN `/Token`: status and body bytes.
async fn owin_login(gateway: &TestGateway, password: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(gateway.url("/Token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "user@example.com"),
            ("password", password),
        ])
        .send()
        .await
        .expect("gateway answers");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

#[tokio::test]
async fn the_control_listener_refuses_requests_without_its_token() {
    let gateway = start();
    let http = reqwest::Client::new();
    for token in [None, Some("not-the-token-at-all")] {
        let mut request = http.get(format!("{}/clock", gateway.control_url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"tokengate-control\""
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
    }
    // The page and the description hold no state, and need no token.
    let page = http.get(gateway.control_url()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn every_operation_the_openapi_document_lists_is_served() {
    let gateway = start();
    let control = Control::new(&gateway);
    let document: Value = reqwest::get(format!("{}/openapi.json", gateway.control_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 14, "{paths:?}");
    for (path, operations) in paths {
        let concrete = path.replace("{id}", "999").replace("{username}", "nobody");
        for method in operations.as_object().unwrap().keys() {
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            let (status, body) = control.call(method.clone(), &concrete, None).await;
            // Served: anything but the API's "no such operation" (a body is missing here, so
            // 400 is the usual answer to a POST or PUT).
            assert!(
                !(status == 404 && body["error"] == "not_found") && status != 405,
                "{method} {path}: {status} {body}"
            );
        }
    }
    let (status, body) = control.get("/no-such-thing").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn the_clock_moves_what_every_answer_and_introspection_say() {
    let gateway = start();
    let control = Control::new(&gateway);
    let (status, clock) = control
        .call(
            reqwest::Method::PUT,
            "/clock",
            Some(json!({"now": "2030-06-01T12:00:00Z", "frozen": true})),
        )
        .await;
    assert_eq!(status, 200, "{clock}");
    assert_eq!(clock["now"], "2030-06-01T12:00:00.000Z");
    assert_eq!(clock["frozen"], true);
    let (status, body) = owin_login(&gateway, "P@ssw0rd!").await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer[".issued"], "Sat, 01 Jun 2030 12:00:00 GMT");
    assert_eq!(answer[".expires"], "Sat, 15 Jun 2030 12:00:00 GMT");
    let token = answer["access_token"].as_str().unwrap().to_owned();

    let introspect = || async {
        let response = reqwest::Client::new()
            .post(gateway.url("/oauth2/introspect"))
            .basic_auth("demo-confidential", Some("demo-secret"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        response.json::<Value>().await.unwrap()["active"].clone()
    };
    assert_eq!(introspect().await, true);
    let (_, clock) = control.post("/clock/advance", json!({"by": "+15d"})).await;
    assert_eq!(clock["now"], "2030-06-16T12:00:00.000Z");
    assert_eq!(introspect().await, false);
    let (status, body) = owin_login(&gateway, "P@ssw0rd!").await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer[".issued"], "Sun, 16 Jun 2030 12:00:00 GMT");
    let (status, body) = control.post("/clock/advance", json!({"by": "soon"})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_span"))
    );
    let (_, clock) = control.call(reqwest::Method::DELETE, "/clock", None).await;
    assert_eq!(clock["frozen"], false);
    assert_eq!(clock["offset_ms"], 0);
}

#[tokio::test]
async fn a_forced_error_row_is_the_dialects_own_answer_byte_for_byte() {
    let gateway = start();
    let control = Control::new(&gateway);
    let (wrong_status, wrong_body) = owin_login(&gateway, "wrong password").await;
    let (status, fault) = control
        .post(
            "/faults",
            json!({"route": "/Token", "times": 1,
                   "match": {"username": "USER@example.com"},
                   "action": {"kind": "error", "error": "authentication_failed"}}),
        )
        .await;
    assert_eq!(status, 201, "{fault}");
    assert_eq!(fault["remaining"], 1);
    let (forced_status, forced_body) = owin_login(&gateway, "P@ssw0rd!").await;
    assert_eq!((forced_status, &forced_body), (wrong_status, &wrong_body));
    // Used once, then gone: the next request is answered as usual.
    let (_, faults) = control.get("/faults").await;
    assert_eq!(faults, json!([]));
    assert_eq!(owin_login(&gateway, "P@ssw0rd!").await.0, 200);
    // The capture tells a forced answer from a real one.
    let (_, exchanges) = control.get("/exchanges?route=/Token").await;
    let exchanges = exchanges.as_array().unwrap();
    assert_eq!(exchanges.len(), 3);
    assert_eq!(exchanges[1]["fault"], fault["id"]);
    assert_eq!(exchanges[0]["fault"], Value::Null);
    assert_eq!(exchanges[1]["outcome"]["error"], "authentication_failed");
}

#[tokio::test]
async fn a_fault_applies_only_to_requests_it_matches() {
    let gateway = start();
    let control = Control::new(&gateway);
    let (status, _) = control
        .post(
            "/faults",
            json!({"route": "/api/Token", "match": {"client_id": "demo-confidential"},
                   "action": {"kind": "status", "status": 503, "body": "down",
                              "content_type": "text/plain", "headers": {"Retry-After": "1"}}}),
        )
        .await;
    assert_eq!(status, 201);
    let http = reqwest::Client::new();
    let send = |client: &'static str| {
        http.post(gateway.url("/api/Token"))
            .form(&[("grant_type", "client_credentials"), ("client_id", client)])
            .send()
    };
    let other = send("demo-client").await.unwrap();
    assert_eq!(other.status(), 200);
    for _ in 0..2 {
        let matched = send("demo-confidential").await.unwrap();
        assert_eq!(matched.status(), 503);
        assert_eq!(matched.headers()["retry-after"], "1");
        assert_eq!(matched.headers()["content-type"], "text/plain");
        assert_eq!(matched.text().await.unwrap(), "down");
    }
    let (_, faults) = control.get("/faults").await;
    assert_eq!(faults[0]["fired"], 2);
    assert!(faults[0].get("remaining").is_none());
    let (status, _) = control.call(reqwest::Method::DELETE, "/faults", None).await;
    assert_eq!(status, 204);
    // Answered by the route again: VizSeek refuses a confidential client without its secret.
    assert_eq!(send("demo-confidential").await.unwrap().status(), 400);
}

#[tokio::test]
async fn delay_drop_and_slow_body_faults_reach_the_client() {
    let gateway = start();
    let control = Control::new(&gateway);
    let http = reqwest::Client::new();
    let send = || {
        http.post(gateway.url("/api/Token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "demo-client"),
            ])
            .send()
    };
    let normal = send().await.unwrap().text().await.unwrap().len();
    control
        .post(
            "/faults",
            json!({"route": "/api/Token", "times": 1, "action": {"kind": "drop"}}),
        )
        .await;
    let dropped = send().await;
    assert!(dropped.is_err(), "a dropped connection gave {dropped:?}");
    let (_, exchanges) = control.get("/exchanges?limit=1").await;
    assert_eq!(exchanges[0]["response"]["status"], 0);

    for (kind, ms) in [("delay", 300u64), ("slow_body", 300)] {
        control
            .post(
                "/faults",
                json!({"route": "/api/Token", "times": 1, "action": {"kind": kind, "ms": ms}}),
            )
            .await;
        let started = Instant::now();
        let answer = send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let body = answer.text().await.unwrap();
        // Late, but whole: the same answer a normal request gets.
        assert!(started.elapsed() >= Duration::from_millis(ms), "{kind}");
        assert_eq!(body.len(), normal, "{kind}");
    }
    let (status, body) = control
        .post(
            "/faults",
            json!({"route": "/api/Token", "action": {"kind": "delay", "ms": 10_000_000}}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_fault"))
    );
}

#[tokio::test]
async fn captured_exchanges_hold_no_secret_password_digest_or_token() {
    let gateway = start();
    let control = Control::new(&gateway);
    let http = reqwest::Client::new();
    // VizSeek sends the SHA-1 hex of the password; the confidential client its secret in Basic.
    let digest = "076d3e6c4b9f654b5b220b9045b7458ab6b4cbc6"; // SHA-1 of "P@ssw0rd!"
    let answer: Value = http
        .post(gateway.url("/api/Token"))
        .basic_auth("demo-confidential", Some("demo-secret"))
        .form(&[
            ("grant_type", "password"),
            ("username", "user@example.com"),
            ("password", digest),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = answer["access_token"].as_str().expect("a token").to_owned();
    let refresh = answer["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    let swagger: Value = http
        .post(gateway.url("/api/v1/auth/token"))
        .json(
            &json!({"grant_type": "refresh_token", "refresh_token": refresh,
                      "client_id": "demo-confidential", "client_secret": "demo-secret"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rotated = swagger["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (_, exchanges) = control.get("/exchanges").await;
    let text = exchanges.to_string();
    for secret in [
        digest,
        "demo-secret",
        access.as_str(),
        refresh.as_str(),
        "ZGVtby1jb25maWRlbnRpYWw6ZGVtby1zZWNyZXQ=",
    ] {
        assert!(!text.contains(secret), "{secret} captured in {text}");
    }
    if !rotated.is_empty() {
        assert!(!text.contains(&rotated));
    }
    assert!(text.contains("[redacted]"));
    // What is not secret stays, for the test to check.
    let (_, by_user) = control
        .get("/exchanges?username=USER@example.com&grant=password")
        .await;
    let by_user = by_user.as_array().unwrap();
    assert_eq!(by_user.len(), 1);
    assert_eq!(by_user[0]["client_id"], "demo-confidential");
    assert_eq!(
        by_user[0]["request"]["body"],
        "grant_type=password&username=user%40example.com&password=[redacted]"
    );
    let (_, by_client) = control.get("/exchanges?client=demo-confidential").await;
    assert_eq!(by_client.as_array().unwrap().len(), 2);
    let (_, later) = control.get("/exchanges?since=2999-01-01T00:00:00Z").await;
    assert_eq!(later, json!([]));
    let first = by_client.as_array().unwrap()[0]["id"].as_u64().unwrap();
    let (_, after) = control.get(&format!("/exchanges?after={first}")).await;
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["id"].as_u64().unwrap() > first)
    );
    assert_eq!(after.as_array().unwrap().len(), 1);
    let (status, _) = control
        .call(reqwest::Method::DELETE, "/exchanges", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(control.get("/exchanges").await.1, json!([]));
}

#[tokio::test]
async fn a_diagnosis_the_wire_does_not_show_is_in_the_capture() {
    let gateway = start();
    let control = Control::new(&gateway);
    // VizSeek expects the SHA-1 hex of the password: a plain one is refused, and why is kept.
    reqwest::Client::new()
        .post(gateway.url("/api/Token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "demo-client"),
            ("username", "user@example.com"),
            ("password", "P@ssw0rd!"),
        ])
        .send()
        .await
        .unwrap();
    let (_, exchanges) = control.get("/exchanges?route=/api/Token").await;
    let outcome = &exchanges[0]["outcome"];
    assert_eq!(outcome["error"], "invalid_password_proof", "{outcome}");
    assert!(
        outcome["diagnosis"].as_str().is_some_and(|d| !d.is_empty()),
        "{outcome}"
    );
    assert!(!exchanges.to_string().contains("P@ssw0rd!"));
}

#[tokio::test]
async fn users_and_clients_change_for_the_running_process_and_reset_restores_them() {
    let gateway = start();
    let control = Control::new(&gateway);
    let (status, user) = control
        .call(
            reqwest::Method::PUT,
            "/users/alice",
            Some(json!({"password": "alice-pw-1", "role": "Reader"})),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(
        user,
        json!({"username": "alice", "id": "alice", "roles": ["Reader"]})
    );
    let http = reqwest::Client::new();
    let alice = || {
        http.post(gateway.url("/Token"))
            .form(&[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "alice-pw-1"),
            ])
            .send()
    };
    let signed_in: Value = alice().await.unwrap().json().await.unwrap();
    assert_eq!(signed_in["role"], "Reader", "{signed_in}");
    let refresh = signed_in["refresh_token"].as_str().map(str::to_owned);

    let (status, client) = control
        .call(
            reqwest::Method::PUT,
            "/clients/ci-bot",
            Some(json!({"secret": "bot-secret-1", "grants": ["client_credentials"]})),
        )
        .await;
    assert_eq!(status, 200, "{client}");
    assert_eq!(client["confidential"], true);
    let bot = || {
        http.post(gateway.url("/api/Token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "ci-bot"),
                ("client_secret", "bot-secret-1"),
            ])
            .send()
    };
    assert_eq!(bot().await.unwrap().status(), 200);
    let (_, clients) = control.get("/clients").await;
    assert!(!clients.to_string().contains("bot-secret-1"));

    let (status, problem) = control
        .call(
            reqwest::Method::PUT,
            "/clients/x",
            Some(json!({"scret": "typo"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        problem["message"].as_str().unwrap().contains("scret"),
        "{problem}"
    );

    let (status, _) = control.post("/reset", json!({})).await;
    assert_eq!(status, 204);
    assert_eq!(alice().await.unwrap().status(), 400);
    assert_eq!(bot().await.unwrap().status(), 400);
    let (_, users) = control.get("/users").await;
    assert_eq!(users.as_array().unwrap().len(), 1);
    // The store is empty: the refresh token issued before the reset is unknown.
    if let Some(refresh) = refresh {
        let answer = http
            .post(gateway.url("/Token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400);
    }
    let (status, _) = control
        .call(reqwest::Method::DELETE, "/users/nobody", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn revoke_ends_a_token_and_try_shows_the_exact_bytes() {
    let gateway = start();
    let control = Control::new(&gateway);
    let (status, tried) = control
        .post(
            "/try",
            json!({"route": "/api/Token",
                   "headers": {"Content-Type": "application/x-www-form-urlencoded"},
                   "body": "grant_type=client_credentials&client_id=demo-client"}),
        )
        .await;
    assert_eq!(status, 200, "{tried}");
    assert_eq!(tried["status"], 200);
    let raw = tried["response"].as_str().unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(
        raw.contains("\r\ncontent-type: application/json;charset=UTF-8\r\n"),
        "{raw}"
    );
    let body = &raw[raw.find("\r\n\r\n").unwrap() + 4..];
    let answer: Value = serde_json::from_str(body).unwrap();
    let token = answer["access_token"].as_str().unwrap();
    let (status, revoked) = control.post("/revoke", json!({"token": token})).await;
    assert_eq!(status, 200);
    assert_eq!(revoked, json!({"revoked": true, "kind": "access_token"}));
    let (_, again) = control.post("/revoke", json!({"token": token})).await;
    assert_eq!(again["revoked"], false);
}

#[test]
fn the_embedded_gateway_gives_typed_access_to_the_kit() {
    use tokengate::testkit::capture::Query;
    use tokengate::testkit::faults::{Action, FaultSpec, Matcher};
    let gateway = start();
    gateway.clock().freeze();
    let fault = gateway.add_fault(FaultSpec {
        route: "/Token".to_owned(),
        times: Some(1),
        matcher: Matcher::default(),
        action: Action::Error {
            error: "no_such_row".to_owned(),
            detail: None,
        },
    });
    assert!(fault.is_err());
    gateway
        .put_user("username = \"bob\"\nid = \"b-1\"\npassword_hash = \"5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8\"\nhash_input = \"plain\"")
        .expect("a user from a [[user]] item");
    assert!(gateway.exchanges(&Query::default()).is_empty());
    gateway.reset().expect("the memory store resets");
}

#[test]
fn a_control_listener_is_refused_off_loopback_and_with_a_short_token() {
    let base = demo();
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), "short\n").unwrap();
    let remote = format!(
        "{base}\n[control]\nbind = \"0.0.0.0:8081\"\ntoken_file = {:?}\n",
        token.path().display().to_string()
    );
    let errors = tokengate::config::load_with_env(&tokengate::config::Source::Text(remote), false)
        .expect_err("refused")
        .to_string();
    assert!(
        errors.contains("control.bind: 0.0.0.0:8081 is not a loopback address"),
        "{errors}"
    );
    assert!(
        errors.contains("control.token: shorter than 16 characters"),
        "{errors}"
    );
    let settings =
        tokengate::config::load_with_env(&tokengate::config::Source::Text(base), false).unwrap();
    assert!(
        settings.control.is_none(),
        "no [control], no control listener"
    );
}

#[tokio::test]
async fn deterministic_gateways_answer_the_same_requests_byte_for_byte() {
    let config = format!("{}\n[testing]\ndeterministic = true\nseed = 7\n", demo());
    let run = || async {
        let gateway = TestGateway::start(&config).unwrap();
        let mut bodies = Vec::new();
        for password in ["P@ssw0rd!", "wrong"] {
            bodies.push(owin_login(&gateway, password).await);
        }
        bodies
    };
    let first = run().await;
    assert_eq!(first[0].0, 200);
    assert!(
        first[0].1.contains("Wed, 01 Jan 2025 00:00:00 GMT"),
        "{}",
        first[0].1
    );
    assert_eq!(first, run().await);
}

/// `GET /shadow` summarizes shadow mode's log as `tokengate shadow report` does, and says
/// `shadowed: false` on a gateway without a shadowed route.
#[tokio::test]
async fn the_control_api_summarizes_the_shadow_log() {
    let dir = crate::helpers::TempDir::new("kit-shadow");
    let log = dir.path().join("shadow.jsonl");
    let line = json!({
        "at": "2026-12-03T10:00:00Z", "route": "/Token", "method": "POST",
        "grant_type": "password", "answer": "gateway", "status": [400, 400],
        "differences": [{"class": "value", "at": "$.error_description",
                         "legacy": "\"Wrong.\"", "gateway": "\"The user name or password is incorrect.\""}],
    });
    std::fs::write(&log, format!("{line}\n")).unwrap();
    let config = demo().replacen(
        "path = \"/Token\"",
        "path = \"/Token\"\nshadow = { upstream = \"http://127.0.0.1:9/Token\", answer = \"gateway\" }",
        1,
    ) + &format!("\n[shadow]\nlog = \"{}\"\n", log.display());
    let gateway = TestGateway::start(&config).expect("starts");
    let (status, summary) = Control::new(&gateway).get("/shadow").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["shadowed"], true);
    assert_eq!(summary["exchanges"], 1);
    let class = &summary["classes"][0];
    assert_eq!(
        (&class["route"], &class["class"], &class["count"]),
        (&json!("/Token"), &json!("value"), &json!(1))
    );
    assert_eq!(class["examples"][0]["at"], "$.error_description");
    assert_eq!(class["examples"][0]["grant_type"], "password");

    let plain = start();
    let (status, summary) = Control::new(&plain).get("/shadow").await;
    assert_eq!((status, &summary["shadowed"]), (200, &json!(false)));
}
