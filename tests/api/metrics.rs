//! `/metrics`: Prometheus text counting token requests by route, dialect, grant and outcome, a
//! latency histogram per route, the RFC endpoints' requests and the password queue. The
//! recorder is one per process, so each test counts on routes of its own.

use std::sync::Arc;

use tokengate::engine::FixedClock;

use crate::helpers::{FORM, form, gateway_from, golden_instant, send, service};

const CONFIG: &str = r#"
[signing]
secret = "metrics-test-signing-secret-0123456789abcdef"

[[client]]
id = "app"

[[user]]
username = "user@example.com"
id = "614a1d03-873d-489e-9ab5-fb53b0a0c64f"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$GMSvL9ngIzxVl9PKUodX7g$PlO7VrcWtW3f/atZ3XPzygELlT3wykwUa+v20f62MBw"

[[route]]
dialect = "owin"
path = "/metrics-test/Token"
anonymous_client = "app"
"#;

/// The value of the sample whose line starts with `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[actix_web::test]
async fn token_requests_are_counted_by_route_grant_and_outcome() {
    let clock = Arc::new(FixedClock::new(golden_instant()));
    let app = service(Arc::new(gateway_from(CONFIG, clock))).await;
    let login = |password: &str| {
        form(&[
            ("grant_type", "password"),
            ("username", "user@example.com"),
            ("password", password),
        ])
    };
    assert_eq!(
        send(
            &app,
            "POST",
            "/metrics-test/Token",
            &[FORM],
            login("P@ssw0rd!")
        )
        .await
        .status,
        200
    );
    for _ in 0..2 {
        let answer = send(&app, "POST", "/metrics-test/Token", &[FORM], login("wrong")).await;
        assert_eq!(answer.status, 400);
    }
    let scrape = send(&app, "GET", "/metrics", &[], "").await;
    assert_eq!(scrape.status, 200);
    assert_eq!(
        scrape.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = scrape.text();
    let series = |outcome: &str| {
        format!(
            "tokengate_requests_total{{route=\"/metrics-test/Token\",dialect=\"owin\",grant=\"password\",outcome=\"{outcome}\"}}"
        )
    };
    assert_eq!(sample(&text, &series("granted")), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, &series("authentication_failed")),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "tokengate_request_duration_seconds_count{route=\"/metrics-test/Token\"}"
        ),
        Some(3.0),
        "{text}"
    );
    assert!(
        text.contains("tokengate_password_queue_wait_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE tokengate_password_queue_depth gauge"),
        "{text}"
    );
    // No password, secret or user name in the text.
    assert!(
        !text.contains("user@example.com") && !text.contains("P@ssw0rd"),
        "{text}"
    );
}

#[test]
fn the_metrics_path_is_checked_like_an_endpoints() {
    let demo = std::fs::read_to_string(crate::helpers::repo_path("fixtures/demo.toml")).unwrap();
    let keys = |extra: &str| -> Vec<String> {
        match tokengate::config::load_with_env(
            &tokengate::config::Source::Text(format!("{demo}\n{extra}")),
            false,
        ) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|p| p.key.clone()).collect(),
        }
    };
    assert_eq!(keys("[metrics]\npath = \"/healthz\""), ["metrics.path"]);
    assert_eq!(
        keys("[metrics]\npath = \"/oauth2/revoke\""),
        ["metrics.path"]
    );
    assert_eq!(keys("[metrics]\npath = \"/Token\""), ["route[2].path"]);
    assert_eq!(
        keys("[metrics]\npath = \"/metrics\"\ncallers = [\"x\"]"),
        ["metrics.callers"]
    );
    assert!(keys("[metrics]\npath = \"\"").is_empty());
}

#[actix_web::test]
async fn sessions_are_counted_by_client_and_a_full_store_names_the_client_it_refuses() {
    let config = r#"
[signing]
secret = "metrics-test-signing-secret-0123456789abcdef"

[store]
kind = "memory"
max_entries = 1

[[client]]
id = "metrics-filler"

[[route]]
dialect = "vizseek"
path = "/metrics-full/api/Token"
"#;
    let clock = Arc::new(FixedClock::new(golden_instant()));
    let app = service(Arc::new(gateway_from(config, clock))).await;
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "metrics-filler"),
    ]);
    // VizSeek gives an app token a refresh token: one session, which fills the store.
    let first = send(
        &app,
        "POST",
        "/metrics-full/api/Token",
        &[FORM],
        body.clone(),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text());
    let second = send(&app, "POST", "/metrics-full/api/Token", &[FORM], body).await;
    assert_eq!(second.status, 503, "{}", second.text());
    let text = send(&app, "GET", "/metrics", &[], "").await.text();
    assert_eq!(
        sample(
            &text,
            "tokengate_sessions_started_total{client=\"metrics-filler\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "tokengate_sessions_refused_total{client=\"metrics-filler\"}"
        ),
        Some(1.0),
        "{text}"
    );
    // The store's own operations, whichever backend: latency and failures. Other tests share
    // the process's recorder and its memory-store series, so these are lower bounds.
    let at_least = |series: &str, floor: f64| {
        let value = sample(&text, series).unwrap_or_else(|| panic!("no {series}:\n{text}"));
        assert!(value >= floor, "{series} = {value}");
    };
    at_least(
        "tokengate_store_errors_total{backend=\"memory\",operation=\"insert_refresh\",error=\"full\"}",
        1.0,
    );
    at_least(
        "tokengate_store_operation_seconds_count{backend=\"memory\",operation=\"insert_refresh\"}",
        2.0,
    );
}
