//! Refresh-token rotation and reuse detection, through the engine and over HTTP.

use chrono::TimeDelta;

use crate::helpers::{DEMO_PASSWORD_SHA1, FORM, TestApp, form, send, service, vizseek_gateway};

async fn login<S: TestApp>(app: &S) -> serde_json::Value {
    let body = form(&[
        ("grant_type", "password"),
        ("client_id", "demo-client"),
        ("username", "user@example.com"),
        ("password", DEMO_PASSWORD_SHA1),
    ]);
    let answer = send(app, "POST", "/api/Token", &[FORM], body).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

fn refresh_body(token: &str) -> String {
    form(&[
        ("grant_type", "refresh_token"),
        ("client_id", "demo-client"),
        ("refresh_token", token),
    ])
}

#[actix_web::test]
async fn each_refresh_rotates_and_the_new_token_works() {
    let (gateway, _) = vizseek_gateway();
    let app = service(gateway).await;
    let mut token = login(&app).await["refresh_token"]
        .as_str()
        .expect("rt")
        .to_owned();
    for _ in 0..3 {
        let answer = send(&app, "POST", "/api/Token", &[FORM], refresh_body(&token)).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        let next = answer.json()["refresh_token"]
            .as_str()
            .expect("rotated")
            .to_owned();
        assert_ne!(next, token);
        token = next;
    }
}

#[actix_web::test]
async fn a_reused_refresh_token_fails_and_kills_its_family() {
    let (gateway, _) = vizseek_gateway();
    let app = service(gateway).await;
    let first = login(&app).await["refresh_token"]
        .as_str()
        .expect("rt")
        .to_owned();
    let rotated = send(&app, "POST", "/api/Token", &[FORM], refresh_body(&first)).await;
    let second = rotated.json()["refresh_token"]
        .as_str()
        .expect("rt")
        .to_owned();

    let replay = send(&app, "POST", "/api/Token", &[FORM], refresh_body(&first)).await;
    assert_eq!(replay.status, 400);
    assert_eq!(replay.json()["error"], "invalid_grant");

    let family = send(&app, "POST", "/api/Token", &[FORM], refresh_body(&second)).await;
    assert_eq!(family.status, 400, "the replay revoked the whole session");

    // Another login is a new session and unaffected.
    let fresh = login(&app).await["refresh_token"]
        .as_str()
        .expect("rt")
        .to_owned();
    let ok = send(&app, "POST", "/api/Token", &[FORM], refresh_body(&fresh)).await;
    assert_eq!(ok.status, 200);
}

#[actix_web::test]
async fn an_expired_refresh_token_fails() {
    let (gateway, clock) = vizseek_gateway();
    let app = service(gateway).await;
    let token = login(&app).await["refresh_token"]
        .as_str()
        .expect("rt")
        .to_owned();
    clock.advance(TimeDelta::days(14) + TimeDelta::seconds(1));
    let answer = send(&app, "POST", "/api/Token", &[FORM], refresh_body(&token)).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["error_description"], "Invalid request");
}

#[test]
fn two_hundred_concurrent_redemptions_of_one_token_yield_exactly_one_success() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (gateway, _) = vizseek_gateway();
        for trial in 0..5 {
            let app = service(gateway.clone()).await;
            let token = login(&app).await["refresh_token"]
                .as_str()
                .expect("rt")
                .to_owned();
            let route = gateway.route("/api/Token").expect("route");
            let body = refresh_body(&token);
            let mut tasks = Vec::new();
            for _ in 0..200 {
                let gateway = gateway.clone();
                let body = body.clone();
                let path = route.path().to_owned();
                tasks.push(tokio::spawn(async move {
                    let route = gateway.route(&path).expect("route");
                    let headers = vec![(FORM.0.to_owned(), FORM.1.to_owned())];
                    let request = tokengate::wire::WireRequest {
                        method: "POST",
                        path: &path,
                        headers: &headers,
                        peer: "127.0.0.1".parse().expect("ip"),
                        from_trusted_proxy: false,
                        body: body.as_bytes(),
                    };
                    gateway.handle(route, &request, None).await.0.status
                }));
            }
            let mut successes = 0;
            for task in tasks {
                if task.await.expect("task") == 200 {
                    successes += 1;
                }
            }
            assert_eq!(
                successes, 1,
                "trial {trial}: {successes} redemptions succeeded"
            );
        }
    });
}
