//! VizSeek behaviours beyond single exchanges: Katana's `expires_in` arithmetic, the token's
//! header and claims, and per-route overrides.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use tokengate::engine::FixedClock;

use crate::helpers::{
    DEMO_PASSWORD_SHA1, FORM, form, gateway_from, gateway_from_source, golden_instant, repo_path,
    send, service,
};

fn fixture_config() -> String {
    std::fs::read_to_string(repo_path("fixtures/vizseek/config.toml")).expect("config")
}

fn at(rfc3339: &str) -> Arc<FixedClock> {
    let instant: DateTime<Utc> = DateTime::parse_from_rfc3339(rfc3339)
        .expect("instant")
        .into();
    Arc::new(FixedClock::new(instant))
}

async fn app_token_at(clock: &str) -> serde_json::Value {
    let app = service(Arc::new(gateway_from(&fixture_config(), at(clock)))).await;
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "demo-client"),
    ]);
    send(&app, "POST", "/api/Token", &[FORM], body).await.json()
}

#[actix_web::test]
async fn expires_in_follows_katanas_truncation_not_a_constant() {
    // Sub-millisecond ticks survive Katana's "remove milliseconds": lifetime - 1.
    assert_eq!(
        app_token_at("2020-09-13T09:35:33.0004Z").await["expires_in"],
        "1799"
    );
    assert_eq!(
        app_token_at("2020-09-13T09:35:33.4567891Z").await["expires_in"],
        "1799"
    );
    // Whole milliseconds only: Katana subtracts them all and the lifetime comes out whole.
    assert_eq!(
        app_token_at("2020-09-13T09:35:33.456Z").await["expires_in"],
        "1800"
    );
    assert_eq!(
        app_token_at("2020-09-13T09:35:33Z").await["expires_in"],
        "1800"
    );
}

#[actix_web::test]
async fn the_access_token_is_an_hs256_jwt_with_the_designed_claims() {
    let app = service(Arc::new(gateway_from(
        &fixture_config(),
        at("2020-09-13T09:35:33.0004Z"),
    )))
    .await;
    let body = form(&[
        ("grant_type", "password"),
        ("client_id", "demo-client"),
        ("username", "user@example.com"),
        ("password", DEMO_PASSWORD_SHA1),
    ]);
    let json = send(&app, "POST", "/api/Token", &[FORM], body).await.json();
    let token = json["access_token"].as_str().expect("token");
    let key =
        jsonwebtoken::DecodingKey::from_secret(b"golden-fixture-signing-secret-0123456789abcdef");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false;
    let data =
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).expect("verifies");
    // One key in the ring: the page's header, without a kid.
    assert_eq!(data.header.kid, None);
    let claims = data.claims;
    assert_eq!(claims["iss"], "tokengate");
    assert_eq!(claims["sub"], "614a1d03-873d-489e-9ab5-fb53b0a0c64f");
    assert_eq!(claims["client_id"], "demo-client");
    assert_eq!(claims["name"], "user@example.com");
    assert_eq!(claims["role"], "Administrator");
    assert_eq!(claims["iat"], 1_599_989_733);
    assert_eq!(claims["nbf"], claims["iat"]);
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        1800
    );
    assert!(claims["jti"].is_string() && claims["sid"].is_string());
}

#[actix_web::test]
async fn the_demos_access_token_has_the_header_of_the_pages_sample() {
    let clock = Arc::new(FixedClock::new(golden_instant()));
    let demo = gateway_from_source(&tokengate::config::Source::Demo, clock);
    let app = service(Arc::new(demo)).await;
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "demo-client"),
    ]);
    let json = send(&app, "POST", "/api/Token", &[FORM], body).await.json();
    let token = json["access_token"].as_str().expect("token");
    // {"alg":"HS256","typ":"JWT"}, as the page's sample token begins.
    assert!(
        token.starts_with("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."),
        "{token}"
    );
}

#[actix_web::test]
async fn with_several_keys_the_header_names_the_kid_it_does_not_list() {
    let config = fixture_config().replace(
        "[signing]\nsecret = \"golden-fixture-signing-secret-0123456789abcdef\"",
        "[[signing.key]]\nkid = \"k1\"\nalgorithm = \"HS256\"\n\
         secret = \"golden-fixture-signing-secret-0123456789abcdef\"\n\
         [[signing.key]]\nkid = \"k2\"\nalgorithm = \"HS256\"\n\
         secret = \"another-fixture-signing-secret-0123456789abcdef\"",
    );
    let app = service(Arc::new(gateway_from(
        &config,
        at("2020-09-13T09:35:33.0004Z"),
    )))
    .await;
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "demo-client"),
    ]);
    let json = send(&app, "POST", "/api/Token", &[FORM], body).await.json();
    let token = json["access_token"].as_str().expect("token");
    let header = token.split('.').next().expect("a header segment");
    let header = URL_SAFE_NO_PAD.decode(header).expect("base64url");
    assert_eq!(
        String::from_utf8_lossy(&header),
        r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#
    );
}

#[actix_web::test]
async fn a_route_overrides_one_text_and_enables_app_refresh_without_code() {
    let config = fixture_config().replace(
        "path = \"/api/Token\"",
        "path = \"/legacy/token\"\nrefresh_for_client_credentials = true\n\
         errors.unknown_client = { status = 400, error = \"invalid_client\", description = \"client_id incorrect.\" }",
    );
    let app = service(Arc::new(gateway_from(
        &config,
        at("2020-09-13T09:35:33.0004Z"),
    )))
    .await;
    let unknown = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "nobody"),
    ]);
    let answer = send(&app, "POST", "/legacy/token", &[FORM], unknown).await;
    assert_eq!(
        answer.text(),
        r#"{"error":"invalid_client","error_description":"client_id incorrect."}"#
    );
    let app_token = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "demo-client"),
    ]);
    let answer = send(&app, "POST", "/legacy/token", &[FORM], app_token).await;
    assert!(answer.json()["refresh_token"].is_string());
    assert_eq!(
        send(&app, "POST", "/api/Token", &[FORM], "").await.status,
        404
    );
}

#[actix_web::test]
async fn repeated_failures_throttle_the_address_for_that_user_without_saying_so() {
    let app = service(Arc::new(gateway_from(
        &fixture_config(),
        at("2020-09-13T09:35:33.0004Z"),
    )))
    .await;
    let attempt = |password: &'static str| {
        form(&[
            ("grant_type", "password"),
            ("client_id", "demo-client"),
            ("username", "user@example.com"),
            ("password", password),
        ])
    };
    let wrong = "0000000000000000000000000000000000000000";
    // The limit per (user, address) is 5.
    for _ in 0..5 {
        let answer = send(&app, "POST", "/api/Token", &[FORM], attempt(wrong)).await;
        assert_eq!(
            answer.json()["error_description"],
            "User authentication failed."
        );
        assert!(answer.header("retry-after").is_none());
    }
    // Now even the right password is refused, with the same text and a Retry-After.
    let answer = send(
        &app,
        "POST",
        "/api/Token",
        &[FORM],
        attempt(DEMO_PASSWORD_SHA1),
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json()["error_description"],
        "User authentication failed."
    );
    assert_eq!(answer.header("retry-after"), Some("300"));
}
