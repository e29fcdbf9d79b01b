//! `/.well-known/openid-configuration`: RFC 8414 metadata of the demo's endpoints (every route,
//! grants, client authentication methods, introspection and revocation), URLs from the request's
//! Host or from `[discovery] base_url`, the JWKS listed only when there are public keys, and the
//! document's own keys checked with their key paths. A real resource server reading it (PyJWT's
//! `PyJWKClient`) is `.ci/clients/owin_jwks.py`.

use std::sync::Arc;

use tokengate::config::{Source, load_with_env};
use tokengate::engine::FixedClock;

use crate::helpers::{gateway_from, gateway_from_source, golden_instant, repo_path, send, service};

const PATH: &str = "/.well-known/openid-configuration";

#[actix_web::test]
async fn the_demo_describes_every_route_and_endpoint_at_the_requests_host() {
    let clock = Arc::new(FixedClock::new(golden_instant()));
    let demo = std::fs::read_to_string(repo_path("fixtures/demo.toml")).unwrap();
    let app = service(Arc::new(gateway_from(&demo, clock))).await;
    let answer = send(&app, "GET", PATH, &[("Host", "gw.test:8080")], "").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("Cache-Control"), Some("private, no-cache"));
    let doc = answer.json();
    assert_eq!(doc["token_endpoint"], "http://gw.test:8080/api/Token");
    assert_eq!(
        doc["introspection_endpoint"],
        "http://gw.test:8080/oauth2/introspect"
    );
    assert_eq!(
        doc["revocation_endpoint"],
        "http://gw.test:8080/oauth2/revoke"
    );
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["client_credentials", "password", "refresh_token"])
    );
    let methods = doc["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    for method in ["client_secret_basic", "client_secret_post", "none"] {
        assert!(methods.iter().any(|m| m == method), "{method}: {doc}");
    }
    // The demo signs with a symmetric key: there is no key set to publish.
    assert!(doc.get("jwks_uri").is_none(), "{doc}");
    let routes: Vec<(&str, &str)> = doc["tokengate_token_endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["token_endpoint"].as_str().unwrap(),
                r["dialect"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("http://gw.test:8080/api/Token", "vizseek"),
            ("http://gw.test:8080/api/v1/auth/token", "swagger"),
            ("http://gw.test:8080/Token", "owin"),
        ]
    );
    // The issuer is the first route's, what its tokens' `iss` claim says.
    let settings = load_with_env(&Source::Text(demo), false).unwrap();
    assert_eq!(doc["issuer"], settings.routes[0].policy().issuer.as_str());
    let post = send(&app, "POST", PATH, &[], "").await;
    assert_eq!(
        (post.status, post.header("Allow")),
        (405, Some("GET, HEAD"))
    );
}

#[actix_web::test]
async fn a_configured_base_url_and_issuer_win_and_the_jwks_is_listed_with_public_keys() {
    let text = std::fs::read_to_string(repo_path("fixtures/ci/jwks.toml")).unwrap();
    let config =
        repo_path("fixtures/ci").join(format!("discovery-{}.toml", crate::helpers::unique()));
    // Beside jwks.toml, whose key files are relative to it.
    std::fs::write(
        &config,
        format!("{text}\n[discovery]\nbase_url = \"https://login.example.com\"\nissuer = \"https://login.example.com/\"\n"),
    )
    .unwrap();
    let clock = Arc::new(FixedClock::new(golden_instant()));
    let gateway = gateway_from_source(&Source::File(config.clone()), clock);
    std::fs::remove_file(&config).unwrap();
    let app = service(Arc::new(gateway)).await;
    let answer = send(&app, "GET", PATH, &[("Host", "evil.test")], "").await;
    assert_eq!(answer.header("Cache-Control"), Some("public, max-age=300"));
    let doc = answer.json();
    assert_eq!(doc["issuer"], "https://login.example.com/");
    assert_eq!(doc["token_endpoint"], "https://login.example.com/Token");
    assert_eq!(
        doc["jwks_uri"],
        "https://login.example.com/.well-known/jwks.json"
    );
    // The template's /Token reads no client credentials: its clients are anonymous.
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["none"])
    );
}

#[test]
fn discovery_keys_are_checked_with_their_key_paths() {
    let demo = std::fs::read_to_string(repo_path("fixtures/demo.toml")).unwrap();
    let problems = |extra: &str| -> Vec<String> {
        match load_with_env(&Source::Text(format!("{demo}\n{extra}")), false) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|p| p.key.clone()).collect(),
        }
    };
    assert_eq!(
        problems("[discovery]\nbase_url = \"login.example.com\""),
        ["discovery.base_url"]
    );
    assert_eq!(
        problems("[discovery]\npath = \"/healthz\""),
        ["discovery.path"]
    );
    assert_eq!(problems("[discovery]\npath = \"oidc\""), ["discovery.path"]);
    assert_eq!(problems("[discovery]\nscopes = []"), ["discovery.scopes"]);
    assert!(problems("[discovery]\npath = \"\"").is_empty());
}
