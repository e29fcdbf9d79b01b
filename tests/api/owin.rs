//! The legacy /Token dialect beyond single exchanges: the discard rule, introspection (RFC 7662),
//! revocation (RFC 7009), opaque tokens, and asymmetric keys with a JWKS and rotation.

use std::sync::Arc;

use base64::Engine as _;
use chrono::TimeDelta;
use tokengate::engine::FixedClock;

use crate::helpers::{
    Answer, FORM, TestApp, form, gateway_from, golden_instant, repo_path, send, service,
};

pub(crate) const RESOURCE_SERVER: &str = "demo-confidential:demo-secret";

fn basic(credentials: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

/// The owin fixture routes plus the RFC endpoints, with demo-confidential as resource server.
pub(crate) fn config(extra: &str) -> String {
    let base = std::fs::read_to_string(repo_path("fixtures/owin/config.toml")).expect("config");
    format!(
        "{base}\n[introspection]\npath = \"/oauth2/introspect\"\ncallers = [\"demo-confidential\"]\n\
         [revocation]\npath = \"/oauth2/revoke\"\n{extra}"
    )
}

macro_rules! app {
    ($config:expr) => {{
        let clock = Arc::new(FixedClock::new(golden_instant()));
        let gateway = Arc::new(gateway_from(&$config, clock.clone()));
        (service(gateway).await, clock)
    }};
}

pub(crate) async fn login<S: TestApp>(app: &S, path: &str) -> serde_json::Value {
    let body = form(&[
        ("grant_type", "password"),
        ("username", "user@example.com"),
        ("password", "P@ssw0rd!"),
    ]);
    let answer = send(app, "POST", path, &[FORM], body).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

pub(crate) async fn introspect<S: TestApp>(app: &S, token: &str, caller: Option<&str>) -> Answer {
    let auth = caller.map(basic);
    let mut headers = vec![FORM];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    send(
        app,
        "POST",
        "/oauth2/introspect",
        &headers,
        form(&[("token", token)]),
    )
    .await
}

pub(crate) async fn revoke<S: TestApp>(
    app: &S,
    token: &str,
    caller: &str,
    hint: Option<&str>,
) -> Answer {
    let auth = basic(caller);
    let mut pairs = vec![("token", token)];
    if let Some(hint) = hint {
        pairs.push(("token_type_hint", hint));
    }
    send(
        app,
        "POST",
        "/oauth2/revoke",
        &[FORM, ("Authorization", &auth)],
        form(&pairs),
    )
    .await
}

pub(crate) fn active(answer: &Answer) -> bool {
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()["active"].as_bool().expect("active is a bool")
}

#[actix_web::test]
async fn a_second_login_discards_the_first_token_and_its_refresh_token() {
    let (app, clock) = app!(config(""));
    let first = login(&app, "/refreshing/Token").await;
    clock.advance(TimeDelta::milliseconds(300));
    let second = login(&app, "/refreshing/Token").await;

    let token = |v: &serde_json::Value, k: &str| v[k].as_str().expect("token").to_owned();
    assert!(!active(
        &introspect(&app, &token(&first, "access_token"), Some(RESOURCE_SERVER)).await
    ));
    let now = introspect(&app, &token(&second, "access_token"), Some(RESOURCE_SERVER)).await;
    assert!(active(&now));
    let claims = now.json();
    assert_eq!(claims["username"], "user@example.com");
    assert_eq!(claims["sub"], "614a1d03-873d-489e-9ab5-fb53b0a0c64f");
    assert_eq!(claims["client_id"], "demo-client");
    assert_eq!(claims["token_type"], "Bearer");

    let refresh = |rt: String| form(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]);
    let stale = send(
        &app,
        "POST",
        "/refreshing/Token",
        &[FORM],
        refresh(token(&first, "refresh_token")),
    )
    .await;
    assert_eq!(stale.status, 400);
    assert_eq!(stale.text(), r#"{"error":"invalid_grant"}"#);
    let fresh = send(
        &app,
        "POST",
        "/refreshing/Token",
        &[FORM],
        refresh(token(&second, "refresh_token")),
    )
    .await;
    assert_eq!(fresh.status, 200, "{}", fresh.text());
}

#[actix_web::test]
async fn two_logins_in_the_same_instant_still_keep_only_the_later() {
    let (app, _) = app!(config(""));
    let first = login(&app, "/Token").await["access_token"]
        .as_str()
        .expect("t")
        .to_owned();
    let second = login(&app, "/Token").await["access_token"]
        .as_str()
        .expect("t")
        .to_owned();
    assert!(!active(
        &introspect(&app, &first, Some(RESOURCE_SERVER)).await
    ));
    assert!(active(
        &introspect(&app, &second, Some(RESOURCE_SERVER)).await
    ));
}

#[actix_web::test]
async fn introspection_follows_rfc_7662() {
    let (app, clock) = app!(config(""));
    let token = login(&app, "/Token").await["access_token"]
        .as_str()
        .expect("t")
        .to_owned();

    // Unknown, malformed or foreign tokens: only {"active":false}.
    for unknown in ["nope", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        let answer = introspect(&app, unknown, Some(RESOURCE_SERVER)).await;
        assert_eq!(answer.text(), r#"{"active":false}"#);
    }
    // Callers who are not authenticated learn nothing: 401 with a challenge.
    for caller in [None, Some("demo-confidential:wrong"), Some("nobody:x")] {
        let answer = introspect(&app, &token, caller).await;
        assert_eq!(answer.status, 401, "{caller:?}: {}", answer.text());
        assert!(answer.header("www-authenticate").is_some());
        assert!(!answer.text().contains("active"));
    }
    // An authenticated client that is not a resource server may not introspect.
    let answer = introspect(&app, &token, Some("demo-client:")).await;
    assert_eq!(answer.status, 403);
    // The answer is not cached.
    let answer = introspect(&app, &token, Some(RESOURCE_SERVER)).await;
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    // Expired.
    clock.advance(TimeDelta::days(14));
    assert!(!active(
        &introspect(&app, &token, Some(RESOURCE_SERVER)).await
    ));
    // GET is not the method.
    let get = send(&app, "GET", "/oauth2/introspect", &[], "").await;
    assert_eq!(get.status, 405);
}

#[actix_web::test]
async fn revocation_follows_rfc_7009() {
    let (app, _) = app!(config(""));
    // Unknown tokens: 200 as well.
    assert_eq!(
        revoke(&app, "never-issued", "demo-client:", None)
            .await
            .status,
        200
    );
    // Unauthenticated callers: 401.
    assert_eq!(
        revoke(&app, "never-issued", "demo-confidential:wrong", None)
            .await
            .status,
        401
    );

    // An access token, revoked by the client it was issued to (public: id, empty secret).
    let tokens = login(&app, "/refreshing/Token").await;
    let access = tokens["access_token"].as_str().expect("at");
    let answer = revoke(&app, access, "demo-client:", Some("access_token")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(!active(
        &introspect(&app, access, Some(RESOURCE_SERVER)).await
    ));

    // A refresh token ends its whole session: the refresh token and the session's access tokens.
    let tokens = login(&app, "/refreshing/Token").await;
    let access = tokens["access_token"].as_str().expect("at");
    let refresh = tokens["refresh_token"].as_str().expect("rt");
    assert!(active(
        &introspect(&app, refresh, Some(RESOURCE_SERVER)).await
    ));
    assert_eq!(
        revoke(&app, refresh, RESOURCE_SERVER, Some("refresh_token"))
            .await
            .status,
        200
    );
    assert!(!active(
        &introspect(&app, refresh, Some(RESOURCE_SERVER)).await
    ));
    assert!(!active(
        &introspect(&app, access, Some(RESOURCE_SERVER)).await
    ));
    let again = form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]);
    assert_eq!(
        send(&app, "POST", "/refreshing/Token", &[FORM], again)
            .await
            .status,
        400
    );
}

#[actix_web::test]
async fn a_client_may_not_revoke_another_clients_token() {
    let config = config("").replace(
        "[[route]]\ndialect = \"owin\"\npath = \"/opaque/Token\"",
        "[[client]]\nid = \"other\"\n\n[[route]]\ndialect = \"owin\"\npath = \"/opaque/Token\"",
    );
    let (app, _) = app!(config);
    let access = login(&app, "/Token").await["access_token"]
        .as_str()
        .expect("at")
        .to_owned();
    let answer = revoke(&app, &access, "other:", None).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(active(
        &introspect(&app, &access, Some(RESOURCE_SERVER)).await
    ));
}

#[actix_web::test]
async fn opaque_tokens_are_random_references_that_introspect() {
    let (app, _) = app!(config(""));
    let token = login(&app, "/opaque/Token").await["access_token"]
        .as_str()
        .expect("at")
        .to_owned();
    assert!(!token.contains('.'), "not a JWT: {token}");
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&token)
        .expect("base64url");
    assert!(decoded.len() * 8 >= 128, "at least 128 bits");
    let answer = introspect(&app, &token, Some(RESOURCE_SERVER)).await;
    assert!(active(&answer));
    assert_eq!(answer.json()["username"], "user@example.com");
    assert_eq!(revoke(&app, &token, "demo-client:", None).await.status, 200);
    assert!(!active(
        &introspect(&app, &token, Some(RESOURCE_SERVER)).await
    ));
}

fn key_config(route_key: &str, old_until: &str) -> String {
    let keys = repo_path("fixtures/keys");
    let base = config("").replace(
        "[signing]\nsecret = \"golden-fixture-signing-secret-0123456789abcdef\"\n",
        "",
    );
    format!(
        "{base}\n[signing]\ndefault_key = \"{route_key}\"\n\
         [[signing.key]]\nkid = \"rs-2026-11\"\nalgorithm = \"RS256\"\nprivate_key_file = \"{k}/rs256.pem\"\n\
         [[signing.key]]\nkid = \"es-2026-11\"\nalgorithm = \"ES256\"\nprivate_key_file = \"{k}/es256.pem\"\n\
         [[signing.key]]\nkid = \"rs-2026-10\"\nalgorithm = \"RS256\"\npublic_key_file = \"{k}/rs256-old.pub.pem\"\nverify_until = \"{old_until}\"\n",
        k = keys.display()
    )
}

#[actix_web::test]
async fn asymmetric_tokens_verify_with_the_published_jwks_and_retired_keys_leave_it() {
    for kid in ["rs-2026-11", "es-2026-11"] {
        let (app, _) = app!(key_config(kid, "2020-09-20T00:00:00Z"));
        let token = login(&app, "/Token").await["access_token"]
            .as_str()
            .expect("at")
            .to_owned();
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.kid.as_deref(), Some(kid));

        let jwks = send(&app, "GET", "/.well-known/jwks.json", &[], "").await;
        assert_eq!(jwks.status, 200);
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&jwks.body).expect("a JWK set");
        let kids: Vec<_> = set
            .keys
            .iter()
            .filter_map(|k| k.common.key_id.clone())
            .collect();
        assert_eq!(
            kids,
            ["rs-2026-11", "es-2026-11", "rs-2026-10"],
            "live keys, HS256 never"
        );
        let jwk = set.find(kid).expect("signing key published");
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("usable jwk");
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.validate_exp = false;
        jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation)
            .expect("verifies with the JWKS");
    }
    // After verify_until, the retired key is no longer published.
    let (app, _) = app!(key_config("rs-2026-11", "2020-09-13T09:00:00Z"));
    let jwks = send(&app, "GET", "/.well-known/jwks.json", &[], "").await;
    assert!(!jwks.text().contains("rs-2026-10"), "{}", jwks.text());
}

#[actix_web::test]
async fn a_token_signed_by_a_retired_key_is_inactive_after_its_verify_until() {
    // Sign with a key, then restart with that key demoted to verify-only.
    let keys = repo_path("fixtures/keys");
    let signing = key_config("rs-2026-11", "2020-09-20T00:00:00Z");
    let (app, _) = app!(signing);
    let token = login(&app, "/Token").await["access_token"]
        .as_str()
        .expect("at")
        .to_owned();
    let demoted = |until: &str| {
        key_config("es-2026-11", "2020-09-20T00:00:00Z").replace(
            &format!("kid = \"rs-2026-11\"\nalgorithm = \"RS256\"\nprivate_key_file = \"{}/rs256.pem\"", keys.display()),
            &format!(
                "kid = \"rs-2026-11\"\nalgorithm = \"RS256\"\npublic_key_file = \"{}/rs256.pub.pem\"\nverify_until = \"{until}\"",
                keys.display()
            ),
        )
    };
    let (app, _) = app!(demoted("2020-09-14T00:00:00Z"));
    assert!(
        active(&introspect(&app, &token, Some(RESOURCE_SERVER)).await),
        "still within verify_until"
    );
    let (app, _) = app!(demoted("2020-09-13T09:00:00Z"));
    assert!(
        !active(&introspect(&app, &token, Some(RESOURCE_SERVER)).await),
        "past verify_until"
    );
}

#[actix_web::test]
async fn without_public_keys_there_is_no_jwks() {
    let (app, _) = app!(config(""));
    assert_eq!(
        send(&app, "GET", "/.well-known/jwks.json", &[], "")
            .await
            .status,
        404
    );
}
