//! One request of each hostile class on each of the demo's three dialect routes: every answer
//! is a 4xx in the dialect's Content-Type, every answer arrives, and the gateway still grants a
//! normal request afterwards. The timeout around each call guards against a hang; it is not a
//! speed assertion.

use std::sync::Arc;
use std::time::Duration;

use tokengate::config::Source;
use tokengate::engine::FixedClock;

use crate::helpers::{Answer, FORM, TestApp, gateway_from_source, golden_instant, send, service};

const HANG_GUARD: Duration = Duration::from_secs(2);

const JSON: (&str, &str) = ("Content-Type", "application/json");
const XML: (&str, &str) = ("Content-Type", "application/xml");

/// A request the route must refuse: what it is, method, headers, body.
struct Hostile {
    class: &'static str,
    method: &'static str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn hostile(class: &'static str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Hostile {
    Hostile {
        class,
        method: "POST",
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.into(),
    }
}

/// Nested `<a>` elements, `depth` deep, inside a TokenRequest.
fn deep_xml(depth: usize) -> String {
    format!(
        "<TokenRequest xmlns=\"http://schemas.datacontract.org/2004/07/IO.Swagger.Models\">{}{}\
         </TokenRequest>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    )
}

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<TokenRequest xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models"><grant_type>&lol3;</grant_type></TokenRequest>"#;

const XXE: &str = r#"<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<TokenRequest xmlns="http://schemas.datacontract.org/2004/07/IO.Swagger.Models"><grant_type>&xxe;</grant_type></TokenRequest>"#;

/// Every hostile class, each as the route's own codec would meet it where that matters (JSON
/// and XML bodies reach only the route that reads them; the others read them as forms).
fn hostile_requests() -> Vec<Hostile> {
    let long_user = "u".repeat(16_000);
    let absurd_accept = format!(
        "{}, application/xml;q=NaN, */*;q=Infinity, {}",
        "application/json;q=0.5;a=\"\\\\\", text/*;q=2, ".repeat(300),
        "x".repeat(2_000)
    );
    let absurd_content_type = format!(
        "application/x-www-form-urlencoded; {}charset=\"utf-16",
        "a=b; ".repeat(2_000)
    );
    let many_json = format!(
        "{{{}}}",
        (0..1_000)
            .map(|i| format!("\"k{i}\":\"v\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut requests = vec![
        hostile("invalid UTF-8 form", &[FORM], &b"grant_type=\xc3\x28"[..]),
        hostile(
            "invalid UTF-8 JSON",
            &[JSON],
            &b"{\"grant_type\":\"\xff\xfe\"}"[..],
        ),
        hostile(
            "truncated percent escape",
            &[FORM],
            "grant_type=client_credentials&client_id=%4",
        ),
        hostile(
            "NUL byte",
            &[FORM],
            "grant_type=client_credentials&client_id=a%00b",
        ),
        hostile(
            "raw NUL byte",
            &[FORM],
            &b"grant_type=client\0credentials"[..],
        ),
        hostile("huge parameter count", &[FORM], "p=1&".repeat(4_000)),
        hostile("huge JSON member count", &[JSON], many_json),
        hostile("deeply nested JSON", &[JSON], "[".repeat(10_000)),
        hostile(
            "deeply nested JSON member",
            &[JSON],
            format!("{{\"grant_type\":{}", "{\"a\":".repeat(5_000)),
        ),
        hostile(
            "huge JSON",
            &[JSON],
            format!("{{\"grant_type\":\"{}\"}}", "x".repeat(1 << 20)),
        ),
        hostile("XML billion laughs", &[XML], BILLION_LAUGHS),
        hostile("XML external entity", &[XML], XXE),
        hostile("deeply nested XML", &[XML], deep_xml(10_000).into_bytes()),
        hostile(
            "absurd Accept",
            &[FORM, ("Accept", &absurd_accept)],
            "grant_type=nonsense",
        ),
        hostile(
            "absurd Content-Type",
            &[("Content-Type", &absurd_content_type)],
            "grant_type=nonsense",
        ),
        hostile(
            "16 000-character user name",
            &[FORM],
            format!(
                "grant_type=password&client_id=demo-client&username={long_user}&password=wrong"
            ),
        ),
        hostile("oversize body", &[FORM], vec![b'a'; 1 << 20]),
    ];
    for method in ["GET", "PUT", "DELETE", "PATCH"] {
        requests.push(Hostile {
            method,
            ..hostile("wrong method", &[], Vec::new())
        });
    }
    requests
}

async fn guarded(
    app: &impl TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    class: &str,
) -> Answer {
    tokio::time::timeout(HANG_GUARD, send(app, method, path, headers, body))
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer to {class} within {HANG_GUARD:?}"))
}

/// Sends every hostile request to `path`, checks each answer's status and Content-Type, then
/// that `normal` (headers, body) is still granted.
async fn survives(path: &str, content_type_ok: fn(&str) -> bool, normal: (&[(&str, &str)], &str)) {
    let demo = gateway_from_source(&Source::Demo, Arc::new(FixedClock::new(golden_instant())));
    let app = service(Arc::new(demo)).await;
    for request in hostile_requests() {
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let answer = guarded(
            &app,
            request.method,
            path,
            &headers,
            request.body,
            request.class,
        )
        .await;
        assert!(
            (400..500).contains(&answer.status),
            "{path}, {}: {} {}",
            request.class,
            answer.status,
            answer.text()
        );
        let content_type = answer.header("content-type").unwrap_or("");
        assert!(
            content_type_ok(content_type),
            "{path}, {}: Content-Type {content_type:?}",
            request.class
        );
    }
    let (headers, body) = normal;
    let answer = guarded(&app, "POST", path, headers, body.into(), "a normal request").await;
    assert_eq!(answer.status, 200, "{path}: {}", answer.text());
    assert!(
        answer.json()["access_token"].is_string(),
        "{}",
        answer.text()
    );
}

fn katana_json(content_type: &str) -> bool {
    content_type == "application/json;charset=UTF-8"
}

/// Web API answers in whichever of its formatters negotiation picked.
fn web_api(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or("");
    [
        "application/json",
        "text/json",
        "application/xml",
        "text/xml",
    ]
    .contains(&media_type)
}

#[actix_web::test]
async fn vizseek_refuses_every_hostile_class_and_still_grants() {
    survives(
        "/api/Token",
        katana_json,
        (
            &[FORM],
            "grant_type=client_credentials&client_id=demo-client",
        ),
    )
    .await;
}

#[actix_web::test]
async fn swagger_refuses_every_hostile_class_and_still_grants() {
    survives(
        "/api/v1/auth/token",
        web_api,
        (
            &[JSON],
            r#"{"grant_type":"client_credentials","client_id":"demo-confidential","client_secret":"demo-secret"}"#,
        ),
    )
    .await;
}

/// /Token refuses client_credentials (the template grants passwords only), so its normal
/// request is the password grant.
#[actix_web::test]
async fn owin_refuses_every_hostile_class_and_still_grants() {
    survives(
        "/Token",
        katana_json,
        (
            &[FORM],
            "grant_type=password&username=user%40example.com&password=P%40ssw0rd%21",
        ),
    )
    .await;
}
