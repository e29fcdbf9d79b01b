//! Capacity as callers and operators see it (issue 13): one client signing in again and again
//! holds at most its quota, other clients still sign in, `/healthz` says how full the store is
//! and `/readyz` refuses (503) while it is full; `tokengate check` reports capacity keys that
//! cannot work.

use std::sync::Arc;

use tokengate::config::{Source, load_with_env};
use tokengate::engine::FixedClock;

use crate::helpers::{Answer, FORM, TestApp, form, gateway_from, golden_instant, send, service};

/// Ten live entries, three sessions per client's app tokens; client_credentials stores a
/// refresh token on this route, as VizSeek's does.
const CONFIG: &str = r#"
[signing]
secret = "capacity-test-signing-secret-0123456789abcdef"
[store]
max_entries = 10
max_sessions_per_client = 3
[[client]]
id = "client-a"
[[client]]
id = "client-b"
[[client]]
id = "client-c"
[[client]]
id = "client-d"
[[route]]
dialect = "vizseek"
path = "/api/Token"
refresh_for_client_credentials = true
"#;

async fn sign_in(app: &impl TestApp, client: &str) -> Answer {
    let body = form(&[("grant_type", "client_credentials"), ("client_id", client)]);
    send(app, "POST", "/api/Token", &[FORM], body).await
}

#[actix_web::test]
async fn healthz_and_readyz_report_a_full_store_and_quotas_keep_one_client_from_filling_it() {
    let clock = Arc::new(FixedClock::new(golden_instant()));
    let app = service(Arc::new(gateway_from(CONFIG, clock))).await;

    let health = send(&app, "GET", "/healthz", &[], "").await;
    assert_eq!(health.status, 200);
    let body = health.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["store"]["kind"], "memory");
    assert_eq!(body["store"]["status"], "ok");
    assert_eq!(body["store"]["fill"], "ok");
    assert_eq!(body["store"]["entries"], 0);
    assert_eq!(body["store"]["max_entries"], 10);
    assert_eq!(body["store"]["tombstones"], 0);
    assert_eq!(send(&app, "GET", "/readyz", &[], "").await.status, 200);

    // One client signing in for every call holds its quota and no more.
    for _ in 0..50 {
        let answer = sign_in(&app, "client-a").await;
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let body = send(&app, "GET", "/healthz", &[], "").await.json();
    assert_eq!(body["store"]["entries"], 3, "client-a holds its quota of 3");

    for client in ["client-b", "client-c"] {
        for _ in 0..3 {
            assert_eq!(sign_in(&app, client).await.status, 200);
        }
    }
    // 9 of 10: nearly full, still ready.
    let nearly = send(&app, "GET", "/readyz", &[], "").await;
    assert_eq!(nearly.status, 200);
    assert_eq!(nearly.json()["store"]["fill"], "nearly_full");
    assert_eq!(nearly.json()["status"], "ok");

    assert_eq!(sign_in(&app, "client-d").await.status, 200);
    let full = send(&app, "GET", "/healthz", &[], "").await;
    assert_eq!(full.status, 200, "the process is alive");
    assert_eq!(full.json()["status"], "full");
    assert_eq!(full.json()["store"]["status"], "ok");
    assert_eq!(full.json()["store"]["fill"], "full");
    let ready = send(&app, "GET", "/readyz", &[], "").await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(ready.header("Retry-After"), Some("1"));
    assert_eq!(ready.json()["status"], "full");
    assert_eq!(ready.json()["store"]["entries"], 10);

    // At the cap a subject below its quota is refused; one at its quota makes room for itself.
    let refused = sign_in(&app, "client-d").await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(sign_in(&app, "client-a").await.status, 200);
}

fn problems(store: &str) -> Vec<String> {
    let text = format!(
        "[signing]\nsecret = \"capacity-test-signing-secret-0123456789abcdef\"\n\
         [store]\n{store}\n[[client]]\nid = \"c\"\n\
         [[route]]\ndialect = \"vizseek\"\npath = \"/api/Token\"\n"
    );
    match load_with_env(&Source::Text(text), false) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn check_reports_capacity_keys_that_cannot_work() {
    assert_eq!(
        problems("max_tombstones = 0\nmax_sessions_per_user = 0\nmax_sessions_per_client = 0"),
        [
            "store.max_tombstones: must be at least 1",
            "store.max_sessions_per_user: must be at least 1",
            "store.max_sessions_per_client: must be at least 1",
        ]
    );
    let over = problems("max_entries = 100\nmax_sessions_per_user = 101");
    assert_eq!(over.len(), 1, "{over:#?}");
    assert!(
        over[0].starts_with("store.max_sessions_per_user: 101 is more than max_entries (100)"),
        "{over:#?}"
    );
    // The capacity keys apply to every kind.
    assert_eq!(
        problems(
            "kind = \"file\"\npath = \"t.redb\"\nmax_tombstones = 10\nmax_sessions_per_user = 5"
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        problems("max_sessions_per_client = 5\nmax_tombstones = 7"),
        Vec::<String>::new()
    );
}

#[test]
fn no_route_or_endpoint_may_take_the_readiness_path() {
    let keys = |extra: &str, path: &str| -> Vec<String> {
        let text = format!(
            "[signing]\nsecret = \"capacity-test-signing-secret-0123456789abcdef\"\n\
             [[client]]\nid = \"c\"\n{extra}\n\
             [[route]]\ndialect = \"vizseek\"\npath = \"{path}\"\n"
        );
        load_with_env(&Source::Text(text), false)
            .expect_err("invalid")
            .0
            .into_iter()
            .map(|p| p.key)
            .collect()
    };
    assert_eq!(keys("", "/readyz"), ["route[0].path"]);
    assert_eq!(
        keys("[jwks]\npath = \"/readyz\"", "/api/Token"),
        ["jwks.path"]
    );
}
