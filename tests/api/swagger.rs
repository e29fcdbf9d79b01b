//! The Swagger dialect beyond single exchanges: an HTTP-level matrix of Accept x Content-Type
//! through Web API's negotiation, hostile XML, session and not-before members.

use std::sync::Arc;

use tokengate::engine::FixedClock;

use crate::helpers::{gateway_from, golden_instant, repo_path, send, service};

const NS: &str = "http://schemas.datacontract.org/2004/07/IO.Swagger.Models";

fn config(extra_route_keys: &str) -> String {
    let base = std::fs::read_to_string(repo_path("fixtures/swagger/config.toml")).expect("config");
    base.replacen(
        "path = \"/api/v1/auth/token\"\n",
        &format!("path = \"/api/v1/auth/token\"\n{extra_route_keys}\n"),
        1,
    )
}

macro_rules! app {
    ($config:expr) => {{
        let clock = Arc::new(FixedClock::new(golden_instant()));
        service(Arc::new(gateway_from(&$config, clock))).await
    }};
}

fn body_for(content_type: &str) -> String {
    match content_type {
        "application/json" | "text/json" => {
            r#"{"grant_type":"client_credentials","client_id":"demo-client"}"#.into()
        }
        "application/xml" | "text/xml" => format!(
            "<TokenRequest xmlns=\"{NS}\"><client_id>demo-client</client_id><grant_type>client_credentials</grant_type></TokenRequest>"
        ),
        _ => "grant_type=client_credentials&client_id=demo-client".into(),
    }
}

#[actix_web::test]
async fn accept_and_content_type_choose_the_answer_as_web_api_would() {
    let app = app!(config(""));
    // (Accept, request Content-Type, expected response Content-Type)
    let matrix: &[(Option<&str>, &str, &str)] = &[
        (None, "application/json", "application/json; charset=utf-8"),
        (None, "text/json", "text/json; charset=utf-8"),
        (None, "application/xml", "application/xml; charset=utf-8"),
        (None, "text/xml", "text/xml; charset=utf-8"),
        (
            None,
            "application/x-www-form-urlencoded",
            "application/json; charset=utf-8",
        ),
        (
            Some("application/json"),
            "application/xml",
            "application/json; charset=utf-8",
        ),
        (
            Some("text/xml"),
            "application/json",
            "text/xml; charset=utf-8",
        ),
        (
            Some("application/xml"),
            "application/x-www-form-urlencoded",
            "application/xml; charset=utf-8",
        ),
        (
            Some("*/*"),
            "application/xml",
            "application/json; charset=utf-8",
        ),
        (
            Some("application/*"),
            "text/xml",
            "application/json; charset=utf-8",
        ),
        (
            Some("text/*"),
            "application/json",
            "text/json; charset=utf-8",
        ),
        (
            Some("image/png"),
            "application/xml",
            "application/xml; charset=utf-8",
        ),
        (
            Some("image/png"),
            "application/x-www-form-urlencoded",
            "application/json; charset=utf-8",
        ),
        (
            Some("application/json;q=0.5, application/xml"),
            "application/json",
            "application/xml; charset=utf-8",
        ),
        (
            Some("application/xml;q=0, */*"),
            "application/xml",
            "application/json; charset=utf-8",
        ),
        (
            Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            "application/json",
            "application/xml; charset=utf-8",
        ),
    ];
    for (accept, content_type, expected) in matrix {
        let mut headers = vec![("Content-Type", *content_type)];
        if let Some(accept) = accept {
            headers.push(("Accept", accept));
        }
        let answer = send(
            &app,
            "POST",
            "/api/v1/auth/token",
            &headers,
            body_for(content_type),
        )
        .await;
        assert_eq!(
            answer.status,
            200,
            "{accept:?} x {content_type}: {}",
            answer.text()
        );
        assert_eq!(
            answer.header("content-type"),
            Some(*expected),
            "Accept {accept:?} x Content-Type {content_type}"
        );
        let text = answer.text();
        if expected.contains("xml") {
            assert!(text.starts_with("<AccessTokenResponse "), "{text}");
        } else {
            assert!(text.starts_with("{\"access_token\""), "{text}");
        }
    }
}

#[actix_web::test]
async fn hostile_xml_gets_a_clear_400_quickly() {
    let app = app!(config("body_limit = 1048576"));
    let deep = format!("<TokenRequest xmlns=\"{NS}\">{}", "<a>".repeat(10_000));
    let laughs = format!(
        "<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">]><TokenRequest xmlns=\"{NS}\"><client_id>&d;</client_id></TokenRequest>"
    );
    let xxe = format!(
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><TokenRequest xmlns=\"{NS}\"><client_id>&x;</client_id></TokenRequest>"
    );
    let many = format!(
        "<TokenRequest xmlns=\"{NS}\">{}</TokenRequest>",
        "<x/>".repeat(100_000)
    );
    for (name, body) in [
        ("deep", deep),
        ("laughs", laughs),
        ("xxe", xxe),
        ("many", many),
    ] {
        let answer = send(
            &app,
            "POST",
            "/api/v1/auth/token",
            &[("Content-Type", "application/xml")],
            body,
        )
        .await;
        assert_eq!(answer.status, 400, "{name}: {}", answer.text());
        let text = answer.text();
        assert!(text.contains("invalid_request"), "{name}: {text}");
        assert!(
            !text.contains("root:"),
            "{name}: nothing from /etc/passwd: {text}"
        );
    }
}

#[actix_web::test]
async fn session_state_is_stable_across_refreshes_and_not_before_policy_reports_the_marker() {
    let app = app!(config("single_active_token = true"));
    let login = r#"{"grant_type":"password","client_id":"demo-client","username":"user@example.com","password":"P@ssw0rd!"}"#;
    let json = |a: &crate::helpers::Answer| a.json();
    let first = json(
        &send(
            &app,
            "POST",
            "/api/v1/auth/token",
            &[("Content-Type", "application/json")],
            login,
        )
        .await,
    );
    assert_eq!(
        first["not_before_policy"], 1_599_989_733,
        "the login set the marker: {first}"
    );
    assert_eq!(first["is_editor"], true);
    assert_eq!(first["redirect_url"], "http://127.0.0.1:8080/callback");
    let refresh = format!(
        r#"{{"grant_type":"refresh_token","client_id":"demo-client","refresh_token":"{}"}}"#,
        first["refresh_token"].as_str().expect("rt")
    );
    let second = json(
        &send(
            &app,
            "POST",
            "/api/v1/auth/token",
            &[("Content-Type", "application/json")],
            refresh,
        )
        .await,
    );
    assert_eq!(second["session_state"], first["session_state"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["refresh_expires_in"], 1800);
    assert_eq!(second["ip"], "127.0.0.1");
}
