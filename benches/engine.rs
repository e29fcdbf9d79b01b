//! Criterion benchmarks of the engine and the dialects, each measuring one thing: parsing a
//! VizSeek form, a Swagger JSON and a DataContract XML request; minting a JWT; rendering a grant
//! as VizSeek JSON, Swagger JSON and Swagger XML; Web API content negotiation; one whole
//! client_credentials grant through the engine, and the same through the framework-free gateway
//! (parse + grant + render); and JSON and form bodies of 1k, 10k and 50k distinct parameters
//! (`wide_body`), whose times should scale linearly; and Katana tickets (HMACSHA256 + AES-256,
//! the template's purposes): protecting and reading one, and the client_credentials grant of a
//! `katana_ticket` route beside the JWT route's.
//! Run: `cargo bench --bench engine`.

// A failed assumption in a test or a bench is a failure to see, not a request to survive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tokengate::config::{Source, load_with_env};
use tokengate::dialect::codec::BodyReader;
use tokengate::dialect::form;
use tokengate::dialect::negotiate::{NoMatch, negotiate};
use tokengate::dialect::value::Echo;
use tokengate::domain::{Claims, Secret};
use tokengate::engine::katana::{
    ACCESS_TOKEN_PURPOSES, Decryption, MachineKey, TicketFormat, TicketUser, Validation,
    access_ticket,
};
use tokengate::engine::keys::HeaderLayout;
use tokengate::engine::{FixedClock, Key, Keyring, OsIds};
use tokengate::gateway::Gateway;
use tokengate::http::{Runtime, build_gateway};
use tokengate::wire::WireRequest;

const CONFIG: &str = r#"
[signing]
secret = "bench-signing-secret-0123456789abcdef0123"
[[client]]
id = "demo-client"
[[route]]
dialect = "vizseek"
path = "/api/Token"
[[route]]
dialect = "swagger"
path = "/api/v1/auth/token"
[[route]]
dialect = "vizseek"
path = "/katana/Token"
access_token_format = "katana_ticket"
[katana]
validation = "HMACSHA256"
validation_key = "2e7a2ad4fb1e4a7a8b6c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c"
decryption = "AES"
decryption_key = "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"
"#;

fn gateway() -> Gateway {
    let settings = load_with_env(&Source::Text(CONFIG.into()), false).expect("bench config");
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    // The allocator `tokengate serve` runs a memory store with (see `tokengate::sys`).
    tokengate::sys::map_large_allocations();
    build_gateway(
        settings,
        Runtime {
            clock,
            ids: Arc::new(OsIds),
        },
    )
    .expect("gateway")
}

fn headers() -> Vec<(String, String)> {
    vec![(
        "Content-Type".into(),
        "application/x-www-form-urlencoded".into(),
    )]
}

const CLIENT_CREDENTIALS: &[u8] = b"grant_type=client_credentials&client_id=demo-client";
const PASSWORD: &[u8] = b"grant_type=password&client_id=demo-client&username=user%40example.com&password=076d3e6c4b9f654b5b220b9045b7458ab6b4cbc6";

fn request<'a>(headers: &'a Vec<(String, String)>, body: &'a [u8]) -> WireRequest<'a> {
    WireRequest {
        method: "POST",
        path: "/api/Token",
        headers,
        peer: std::net::Ipv4Addr::LOCALHOST.into(),
        from_trusted_proxy: false,
        body,
    }
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let gateway = gateway();
    let route = gateway.route("/api/Token").expect("route");
    let headers = headers();

    c.bench_function("vizseek/parse_password_request", |b| {
        let wire = request(&headers, PASSWORD);
        b.iter(|| black_box(route.parse(black_box(&wire))))
    });

    let keys = Keyring::single(
        Key::hs256(
            &Secret::new("bench-signing-secret-0123456789abcdef0123"),
            None,
        )
        .expect("key"),
    );
    let claims = Claims {
        iss: "tokengate".into(),
        sub: "614a1d03-873d-489e-9ab5-fb53b0a0c64f".into(),
        aud: None,
        iat: 1_599_989_733,
        nbf: 1_599_989_733,
        exp: 1_599_991_533,
        jti: "2fd2b7a9-5644-46d2-a7f8-7041a41a52bb".into(),
        client_id: "demo-client".into(),
        scope: None,
        sid: "554bbbdd-40d1-486a-b7c4-f55ece9dd844".into(),
        name: Some("user@example.com".into()),
        role: Some("Administrator".into()),
    };
    c.bench_function("jwt/mint_hs256", |b| {
        b.iter(|| black_box(keys.sign(None, HeaderLayout::default(), black_box(&claims))))
    });

    let wire = request(&headers, CLIENT_CREDENTIALS);
    let parsed = route.parse(&wire).expect("parses").request;
    let grant = runtime
        .block_on(gateway.engine().grant(parsed.clone(), route.policy()))
        .expect("grant");
    let rendering = route.rendering(&headers).expect("json");
    c.bench_function("vizseek/render_grant", |b| {
        b.iter(|| black_box(route.render_grant(black_box(&grant), &Echo::default(), &rendering)))
    });

    c.bench_function("engine/client_credentials_grant", |b| {
        b.iter(|| {
            runtime
                .block_on(gateway.engine().grant(parsed.clone(), route.policy()))
                .expect("grant")
        })
    });

    c.bench_function("gateway/vizseek_client_credentials", |b| {
        b.iter(|| runtime.block_on(gateway.handle(route, black_box(&wire), None)))
    });

    swagger(c, &runtime, &gateway);
    katana(c, &runtime, &gateway);
}

fn katana(c: &mut Criterion, runtime: &tokio::runtime::Runtime, gateway: &Gateway) {
    let route = gateway.route("/katana/Token").expect("katana route");
    let headers = headers();
    let wire = WireRequest {
        path: "/katana/Token",
        ..request(&headers, CLIENT_CREDENTIALS)
    };
    let parsed = route.parse(&wire).expect("parses").request;
    c.bench_function("engine/client_credentials_grant_katana_ticket", |b| {
        b.iter(|| {
            runtime
                .block_on(gateway.engine().grant(parsed.clone(), route.policy()))
                .expect("grant")
        })
    });

    let key = MachineKey::new(
        Validation::HmacSha256,
        &"2e".repeat(64),
        Decryption::Aes,
        &"00".repeat(32),
    )
    .expect("machine key");
    let format = TicketFormat::new(&key, ACCESS_TOKEN_PURPOSES.map(String::from).to_vec());
    let at = chrono::DateTime::from_timestamp(1_599_989_733, 0).expect("instant");
    let ticket = access_ticket(
        &TicketUser {
            id: "614a1d03-873d-489e-9ab5-fb53b0a0c64f",
            name: "user@example.com",
            role: Some("Administrator"),
        },
        &tokengate::engine::katana::Extra::default(),
        at,
        at + chrono::TimeDelta::days(14),
    );
    c.bench_function("katana/protect_ticket", |b| {
        b.iter(|| black_box(format.protect(black_box(&ticket), &OsIds)))
    });
    let text = format.protect(&ticket, &OsIds);
    c.bench_function("katana/read_ticket", |b| {
        b.iter(|| black_box(format.unprotect(black_box(&text)).expect("reads")))
    });
    c.bench_function("katana/refuse_tampered_ticket", |b| {
        let mut tampered = text.clone().into_bytes();
        tampered[40] ^= 1;
        let tampered = String::from_utf8(tampered).expect("ascii");
        b.iter(|| black_box(format.unprotect(black_box(&tampered)).is_err()))
    });
}

/// The exact bytes Mono's DataContractSerializer writes for a password TokenRequest.
const MONO_XML: &[u8] = b"<TokenRequest xmlns=\"http://schemas.datacontract.org/2004/07/IO.Swagger.Models\" xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><WindowsAuthentication i:nil=\"true\"/><client_id>demo-client</client_id><client_secret i:nil=\"true\"/><grant_type>password</grant_type><password>P@ssw0rd!</password><refresh_token i:nil=\"true\"/><scope i:nil=\"true\"/><username>user@example.com</username></TokenRequest>";
const SWAGGER_JSON: &[u8] = br#"{"grant_type":"password","client_id":"demo-client","username":"user@example.com","password":"P@ssw0rd!"}"#;

fn swagger(c: &mut Criterion, runtime: &tokio::runtime::Runtime, gateway: &Gateway) {
    let route = gateway.route("/api/v1/auth/token").expect("swagger route");
    let json_headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let xml_headers = vec![
        (
            "Content-Type".to_owned(),
            "application/xml; charset=utf-8".to_owned(),
        ),
        ("Accept".to_owned(), "application/xml".to_owned()),
    ];
    let swagger_request = |headers, body| WireRequest {
        path: "/api/v1/auth/token",
        ..request(headers, body)
    };
    let json = swagger_request(&json_headers, SWAGGER_JSON);
    let xml = swagger_request(&xml_headers, MONO_XML);
    c.bench_function("swagger/parse_json_request", |b| {
        b.iter(|| black_box(route.parse(black_box(&json))))
    });
    c.bench_function("swagger/parse_xml_request", |b| {
        b.iter(|| black_box(route.parse(black_box(&xml))))
    });

    let app_body: &[u8] = br#"{"grant_type":"client_credentials","client_id":"demo-client"}"#;
    let app = swagger_request(&json_headers, app_body);
    let parsed = route.parse(&app).expect("parses").request;
    let grant = runtime
        .block_on(gateway.engine().grant(parsed, route.policy()))
        .expect("grant");
    let as_json = route.rendering(&json_headers).expect("json");
    let as_xml = route.rendering(&xml_headers).expect("xml");
    c.bench_function("swagger/render_json", |b| {
        b.iter(|| black_box(route.render_grant(black_box(&grant), &Echo::default(), &as_json)))
    });
    c.bench_function("swagger/render_xml", |b| {
        b.iter(|| black_box(route.render_grant(black_box(&grant), &Echo::default(), &as_xml)))
    });

    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    c.bench_function("negotiate/browser_accept", |b| {
        b.iter(|| {
            black_box(negotiate(
                Some(black_box(browser)),
                None,
                Some("application/json"),
                NoMatch::FallBackToJson,
            ))
        })
    });
    c.bench_function("negotiate/no_accept", |b| {
        b.iter(|| {
            black_box(negotiate(
                None,
                None,
                Some(black_box("application/xml; charset=utf-8")),
                NoMatch::FallBackToJson,
            ))
        })
    });
}

/// Bodies of `n` distinct parameters read at `max_params = n`: the time per body should grow
/// with `n`, not `n²` (issue 13: duplicate names found by a hash, not a scan of those kept).
fn wide_bodies(c: &mut Criterion) {
    let mut group = c.benchmark_group("wide_body");
    group.sample_size(10);
    for n in [1_000usize, 10_000, 50_000] {
        let json = wide_json(n);
        group.bench_with_input(BenchmarkId::new("json", n), &json, |b, body| {
            b.iter(|| {
                BodyReader::Json
                    .read(black_box(body), None, n)
                    .expect("reads")
            })
        });
        let form = wide_form(n);
        group.bench_with_input(BenchmarkId::new("form", n), &form, |b, body| {
            b.iter(|| form::parse(black_box(body), n).expect("reads"))
        });
    }
    group.finish();
}

/// `{"k0":"v","k1":"v",...}` with `n` members.
fn wide_json(n: usize) -> Vec<u8> {
    let members: Vec<String> = (0..n).map(|i| format!("\"k{i}\":\"v\"")).collect();
    format!("{{{}}}", members.join(",")).into_bytes()
}

/// `k0=v&k1=v&...` with `n` pairs.
fn wide_form(n: usize) -> Vec<u8> {
    let pairs: Vec<String> = (0..n).map(|i| format!("k{i}=v")).collect();
    pairs.join("&").into_bytes()
}

criterion_group!(engine, benches, wide_bodies);
criterion_main!(engine);
