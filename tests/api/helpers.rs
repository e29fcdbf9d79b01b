//! Shared test scaffolding: gateways built from fixture configs with a fixed clock and seeded
//! ids, in-process actix services, and a real server on a random port.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test as actix_test;
use actix_web::{App, http::Method};
use chrono::{DateTime, Utc};
use tokengate::config::{self, Source};
use tokengate::engine::{FixedClock, SeededIds};
use tokengate::gateway::Gateway;
use tokengate::http::{Runtime, build_gateway, configure};

/// The instant golden exchanges run at: the /Token page's `.issued`, plus 0.4 ms, so Katana's
/// `expires_in` arithmetic shows (lifetime - 1) by mechanism.
pub fn golden_instant() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2020-09-13T09:35:33.0004Z")
        .expect("valid instant")
        .with_timezone(&Utc)
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A gateway from a config text, with a fixed clock and seeded ids.
pub fn gateway_from(text: &str, clock: Arc<FixedClock>) -> Gateway {
    let settings = config::load_with_env(&Source::Text(text.to_owned()), false)
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
    build_gateway(
        settings,
        Runtime {
            clock,
            ids: Arc::new(SeededIds::new(2020)),
        },
    )
    .expect("gateway builds")
}

/// The VizSeek fixture gateway at the golden instant.
pub fn vizseek_gateway() -> (Arc<Gateway>, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(golden_instant()));
    let text = std::fs::read_to_string(repo_path("fixtures/vizseek/config.toml")).expect("config");
    (Arc::new(gateway_from(&text, clock.clone())), clock)
}

/// An in-process actix service over a gateway.
pub async fn service(
    gateway: Arc<Gateway>,
) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    actix_test::init_service(App::new().configure(configure(gateway))).await
}

/// A response reduced to what tests compare.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request through an in-process service.
pub async fn send<S>(
    app: &S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> Answer
where
    S: Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
{
    let mut request = actix_test::TestRequest::default()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(path)
        .peer_addr("127.0.0.1:50000".parse().expect("addr"));
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let response =
        actix_test::call_service(app, request.set_payload(body.into()).to_request()).await;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().unwrap_or("<binary>").to_owned(),
            )
        })
        .collect();
    let body = actix_test::read_body(response).await.to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// A form body from pairs, percent-encoded as browsers and `requests` do.
pub fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("encodes")
}

pub const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

/// The SHA-1 hex of the demo password.
pub const DEMO_PASSWORD_SHA1: &str = "076d3e6c4b9f654b5b220b9045b7458ab6b4cbc6";
