//! The control API over HTTP (JSON in and out), served on `[control] bind`: every operation of
//! `docs/testkit.md` and `openapi.json`, behind the control token, plus the console page.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::TestKit;
use super::capture::Query;
use super::faults::FaultSpec;
use crate::domain::ClientId;
use crate::engine::Client;
use crate::gateway::Gateway;

/// The console page (`GET /`).
const CONSOLE: &str = include_str!("console.html");

/// The API's description (`GET /openapi.json`).
const OPENAPI: &str = include_str!("openapi.json");

/// The largest request body the control API reads (a user or a `try` body).
const BODY_LIMIT: usize = 256 * 1024;

/// The most of a `try` answer kept, and how long it may take.
const TRY_LIMIT: usize = 1024 * 1024;
const TRY_TIMEOUT: Duration = Duration::from_secs(30);

/// What the control handlers share.
pub struct Control {
    pub kit: Arc<TestKit>,
    pub gateway: Arc<Gateway>,
    /// The gateway's own listener, which `POST /try` sends to; `None` when it speaks TLS (the
    /// raw bytes would be ciphertext).
    pub gateway_addr: Option<std::net::SocketAddr>,
    /// Shadow mode's log and how many rotated files it keeps, when a route is shadowed.
    pub shadow_log: Option<(std::path::PathBuf, usize)>,
}

/// Adds the control API to an actix `App`.
pub fn configure(control: Arc<Control>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::from(control))
            .app_data(
                web::JsonConfig::default()
                    .limit(BODY_LIMIT)
                    .error_handler(refused("invalid_body")),
            )
            .app_data(web::QueryConfig::default().error_handler(refused("invalid_query")))
            .app_data(web::PathConfig::default().error_handler(refused("invalid_path")))
            .route("/", web::get().to(console))
            .route("/openapi.json", web::get().to(openapi))
            .route("/clock", web::get().to(clock_get))
            .route("/clock", web::put().to(clock_put))
            .route("/clock", web::delete().to(clock_reset))
            .route("/clock/advance", web::post().to(clock_advance))
            .route("/routes", web::get().to(routes))
            .route("/faults", web::get().to(faults_list))
            .route("/faults", web::post().to(faults_add))
            .route("/faults", web::delete().to(faults_clear))
            .route("/faults/{id}", web::delete().to(faults_remove))
            .route("/exchanges", web::get().to(exchanges))
            .route("/exchanges", web::delete().to(exchanges_clear))
            .route("/clients", web::get().to(clients_list))
            .route("/clients/{id}", web::put().to(client_put))
            .route("/clients/{id}", web::delete().to(client_remove))
            .route("/users", web::get().to(users_list))
            .route("/users/{username}", web::put().to(user_put))
            .route("/users/{username}", web::delete().to(user_remove))
            .route("/revoke", web::post().to(revoke))
            .route("/reset", web::post().to(reset))
            .route("/try", web::post().to(try_route))
            .route("/shadow", web::get().to(shadow_summary))
            .default_service(web::to(|| async {
                problem(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such operation (GET /openapi.json lists them)",
                )
            }));
    }
}

/// A request actix could not read (body, query or path) answered as the API's other errors are.
fn refused<E>(code: &'static str) -> impl Fn(E, &HttpRequest) -> actix_web::Error + Send + Sync
where
    E: std::fmt::Debug + std::fmt::Display + 'static,
{
    move |error, _| {
        let message = error.to_string();
        actix_web::error::InternalError::from_response(
            error,
            problem(StatusCode::BAD_REQUEST, code, &message),
        )
        .into()
    }
}

/// `{"error": code, "message": ...}` with `status`.
fn problem(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": code, "message": message }))
}

/// Refuses a request without the control token; `None` lets it through.
fn refuse_unless_authorized(request: &HttpRequest, control: &Control) -> Option<HttpResponse> {
    let presented = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    match presented {
        Some(token) if control.kit.authorizes(token) => None,
        _ => Some(
            HttpResponse::Unauthorized()
                .insert_header(("WWW-Authenticate", "Bearer realm=\"tokengate-control\""))
                .json(json!({
                    "error": "unauthorized",
                    "message": "send the control token as Authorization: Bearer <token>"
                })),
        ),
    }
}

macro_rules! authorized {
    ($request:expr, $control:expr) => {
        if let Some(refused) = refuse_unless_authorized(&$request, &$control) {
            return refused;
        }
    };
}

async fn console() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(CONSOLE)
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI)
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn clock_state(kit: &TestKit) -> HttpResponse {
    use crate::engine::Clock as _;
    let setting = kit.clock.setting();
    HttpResponse::Ok().json(json!({
        "now": instant(kit.clock.now()),
        "frozen": setting.frozen_at.is_some(),
        "offset_ms": setting.offset.num_milliseconds(),
    }))
}

async fn clock_get(request: HttpRequest, control: web::Data<Control>) -> HttpResponse {
    authorized!(request, control);
    clock_state(&control.kit)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    now: Option<DateTime<Utc>>,
    frozen: Option<bool>,
}

async fn clock_put(
    request: HttpRequest,
    control: web::Data<Control>,
    change: web::Json<ClockChange>,
) -> HttpResponse {
    authorized!(request, control);
    let clock = &control.kit.clock;
    match change.frozen {
        Some(true) => clock.freeze(),
        Some(false) => clock.unfreeze(),
        None => {}
    }
    if let Some(at) = change.now {
        clock.set(at);
    }
    clock_state(&control.kit)
}

async fn clock_reset(request: HttpRequest, control: web::Data<Control>) -> HttpResponse {
    authorized!(request, control);
    control.kit.clock.reset();
    clock_state(&control.kit)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    by: String,
}

/// `15m`, `+1h 30m`, `-90s` as a signed span.
fn signed_span(text: &str) -> Result<TimeDelta, String> {
    let text = text.trim();
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let span = humantime::parse_duration(rest.trim())
        .map_err(|e| format!("{text:?} is not a span such as 15m, +1h 30m or -90s: {e}"))?;
    let span = TimeDelta::from_std(span).map_err(|_| format!("{text:?} is too long"))?;
    Ok(if negative { -span } else { span })
}

async fn clock_advance(
    request: HttpRequest,
    control: web::Data<Control>,
    advance: web::Json<Advance>,
) -> HttpResponse {
    authorized!(request, control);
    match signed_span(&advance.by) {
        Ok(span) => {
            control.kit.clock.advance(span);
            clock_state(&control.kit)
        }
        Err(message) => problem(StatusCode::BAD_REQUEST, "invalid_span", &message),
    }
}

/// `GET /shadow`: the differences log summarized, as `tokengate shadow report` prints it.
async fn shadow_summary(request: HttpRequest, control: web::Data<Control>) -> HttpResponse {
    authorized!(request, control);
    let Some((log, keep)) = control.shadow_log.clone() else {
        return HttpResponse::Ok().json(json!({"shadowed": false, "exchanges": 0, "classes": []}));
    };
    let shown = log.display().to_string();
    // The log may be tens of megabytes: read off the control listener's worker.
    let read = web::block(move || crate::shadow::journal::Summary::read(&log, keep)).await;
    let summary = match read {
        Ok(Ok(summary)) => summary,
        Ok(Err(e)) => {
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "shadow_log_unreadable",
                &e.to_string(),
            );
        }
        Err(e) => {
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "shadow_log_unreadable",
                &e.to_string(),
            );
        }
    };
    let classes: Vec<Value> = summary
        .classes
        .iter()
        .map(|((route, class), counted)| {
            let examples: Vec<Value> = counted
                .examples
                .iter()
                .map(|(logged, grant, line)| {
                    json!({
                        "logged": logged.to_rfc3339_opts(SecondsFormat::Secs, true),
                        "grant_type": grant,
                        "at": line.at,
                        "legacy": line.legacy,
                        "gateway": line.gateway,
                    })
                })
                .collect();
            json!({"route": route, "class": class, "count": counted.count, "examples": examples})
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "shadowed": true,
        "log": shown,
        "exchanges": summary.exchanges,
        "unreadable": summary.unreadable,
        "classes": classes,
    }))
}

async fn routes(request: HttpRequest, control: web::Data<Control>) -> HttpResponse {
    authorized!(request, control);
    let routes: Vec<Value> = control
        .gateway
        .routes()
        .iter()
        .map(|route| {
            json!({
                "path": route.path(),
                "dialect": route.dialect(),
                "description": route.profile().description,
                "methods": route.profile().methods,
                "grants": route.policy().grants.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
                "errors": route.error_rows().iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    HttpResponse::Ok().json(routes)
}

async fn faults_list(request: HttpRequest, control: web::Data<Control>) -> HttpResponse {
    authorized!(request, control);
    HttpResponse::Ok().json(control.kit.faults.list())
}

async fn faults_add(
    request: HttpRequest,
    control: web::Data<Control>,
    spec: web::Json<FaultSpec>,
) -> HttpResponse {
    authorized!(request, control);
    match control
        .kit
        .faults
        .add(spec.into_inner(), control.gateway.routes())
    {
        Ok(fault) => HttpResponse::Created().json(fault),
        Err(e) => problem(StatusCode::BAD_REQUEST, "invalid_fault", &e.to_string()),
    }
}

async fn faults_clear(request: HttpRequest, control: web::Data<Control>) -> HttpResponse {
    authorized!(request, control);
    control.kit.faults.clear();
    HttpResponse::NoContent().finish()
}

async fn faults_remove(
    request: HttpRequest,
    control: web::Data<Control>,
    id: web::Path<u64>,
) -> HttpResponse {
    authorized!(request, control);
    if control.kit.faults.remove(*id) {
        HttpResponse::NoContent().finish()
    } else {
        problem(
            StatusCode::NOT_FOUND,
            "unknown_fault",
            "no fault has this id",
        )
    }
}

async fn exchanges(
    request: HttpRequest,
    control: web::Data<Control>,
    query: web::Query<Query>,
) -> HttpResponse {
    authorized!(request, control);
    HttpResponse::Ok().json(control.kit.capture.query(&query))
}

async fn exchanges_clear(request: HttpRequest, control: web::Data<Control>) -> HttpResponse {
    authorized!(request, control);
    control.kit.capture.clear();
    HttpResponse::NoContent().finish()
}

fn client_json(client: &Client) -> Value {
    json!({
        "id": client.id.as_str(),
        "confidential": client.secret.is_some(),
        "grants": client.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
    })
}

async fn clients_list(request: HttpRequest, control: web::Data<Control>) -> HttpResponse {
    authorized!(request, control);
    let clients: Vec<Value> = control
        .gateway
        .engine()
        .directory()
        .clients()
        .iter()
        .map(|client| client_json(client))
        .collect();
    HttpResponse::Ok().json(clients)
}

/// A JSON object as the TOML item it stands for, with `key` set to `value` (the path's).
fn as_item(body: Value, key: &str, value: &str) -> Result<toml::Value, String> {
    let Value::Object(mut members) = body else {
        return Err("the body must be a JSON object".to_owned());
    };
    if let Some(given) = members.get(key)
        && given.as_str() != Some(value)
    {
        return Err(format!("{key} in the body differs from the path's"));
    }
    members.insert(key.to_owned(), Value::String(value.to_owned()));
    toml::Value::try_from(Value::Object(members)).map_err(|e| e.to_string())
}

async fn client_put(
    request: HttpRequest,
    control: web::Data<Control>,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    authorized!(request, control);
    let item = match as_item(body.into_inner(), "id", &id) {
        Ok(item) => item,
        Err(message) => return problem(StatusCode::BAD_REQUEST, "invalid_client", &message),
    };
    match crate::config::client_from_toml(item) {
        Ok(client) => {
            let shown = client_json(&client);
            control.gateway.engine().directory().put_client(client);
            tracing::info!(client = id.as_str(), "test kit: client set");
            HttpResponse::Ok().json(shown)
        }
        Err(errors) => problem(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            &errors.to_string(),
        ),
    }
}

async fn client_remove(
    request: HttpRequest,
    control: web::Data<Control>,
    id: web::Path<String>,
) -> HttpResponse {
    authorized!(request, control);
    if control
        .gateway
        .engine()
        .directory()
        .remove_client(&ClientId::new(id.as_str()))
    {
        HttpResponse::NoContent().finish()
    } else {
        problem(
            StatusCode::NOT_FOUND,
            "unknown_client",
            "no client has this id",
        )
    }
}

fn user_json(user: &crate::engine::User) -> Value {
    json!({
        "username": user.username.as_str(),
        "id": user.id.as_str(),
        "roles": user.role.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
    })
}

/// The TOML directory, `None` when users come from a database.
fn toml_users(control: &Control) -> Option<Arc<crate::engine::TomlUsers>> {
    let engine = control.gateway.engine();
    (engine.users().kind() == "toml").then(|| engine.directory().users())
}

fn not_toml() -> HttpResponse {
    problem(
        StatusCode::CONFLICT,
        "not_toml_directory",
        "users are changed by the test kit only on [directory] kind = \"toml\"",
    )
}

async fn users_list(request: HttpRequest, control: web::Data<Control>) -> HttpResponse {
    authorized!(request, control);
    match toml_users(&control) {
        Some(users) => HttpResponse::Ok().json(
            users
                .list()
                .iter()
                .map(|user| user_json(user))
                .collect::<Vec<_>>(),
        ),
        None => not_toml(),
    }
}

async fn user_put(
    request: HttpRequest,
    control: web::Data<Control>,
    username: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    authorized!(request, control);
    let Some(users) = toml_users(&control) else {
        return not_toml();
    };
    let mut body = body.into_inner();
    // A plain password is hashed as `tokengate hash-password` does, so either proof signs in.
    if let Some(members) = body.as_object_mut()
        && let Some(password) = members.remove("password")
    {
        let Some(password) = password.as_str() else {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_user",
                "password must be a string",
            );
        };
        if members.contains_key("password_hash") {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_user",
                "give password or password_hash, not both",
            );
        }
        let secret = crate::domain::Secret::new(password);
        let hashed = web::block(move || {
            crate::engine::password::hash_password(
                &secret,
                crate::engine::password::NewHashFormat::Argon2id,
            )
        })
        .await;
        match hashed {
            Ok(Ok(hash)) => {
                members.insert("password_hash".to_owned(), Value::String(hash));
            }
            _ => {
                return problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "hash_failed",
                    "the password could not be hashed now",
                );
            }
        }
    }
    if let Some(members) = body.as_object_mut() {
        members
            .entry("id")
            .or_insert_with(|| Value::String(username.to_string()));
    }
    let item = match as_item(body, "username", &username) {
        Ok(item) => item,
        Err(message) => return problem(StatusCode::BAD_REQUEST, "invalid_user", &message),
    };
    let engine = control.gateway.engine();
    let known = engine
        .directory()
        .clients()
        .iter()
        .map(|client| client.id.as_str().to_owned())
        .collect();
    let user = match crate::config::user_from_toml(item, control.kit.hash_input, known) {
        Ok(user) => user,
        Err(errors) => {
            return problem(StatusCode::BAD_REQUEST, "invalid_user", &errors.to_string());
        }
    };
    let shown = user_json(&user);
    match users.put_user(user) {
        Ok(_) => {
            tracing::info!(username = username.as_str(), "test kit: user set");
            HttpResponse::Ok().json(shown)
        }
        Err(e) => problem(StatusCode::CONFLICT, "invalid_user", &e.to_string()),
    }
}

async fn user_remove(
    request: HttpRequest,
    control: web::Data<Control>,
    username: web::Path<String>,
) -> HttpResponse {
    authorized!(request, control);
    match toml_users(&control) {
        Some(users) if users.remove_user(&username) => HttpResponse::NoContent().finish(),
        Some(_) => problem(
            StatusCode::NOT_FOUND,
            "unknown_user",
            "no user has this name",
        ),
        None => not_toml(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Revoke {
    token: String,
}

async fn revoke(
    request: HttpRequest,
    control: web::Data<Control>,
    body: web::Json<Revoke>,
) -> HttpResponse {
    authorized!(request, control);
    let engine = control.gateway.engine();
    let active = match engine.introspect(&body.token, None).await {
        Ok(active) => active,
        Err(e) => {
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                &e.to_string(),
            );
        }
    };
    let caller = Client {
        id: ClientId::new("tokengate-control"),
        secret: None,
        grants: Vec::new(),
        scopes: Default::default(),
        attributes: Default::default(),
    };
    match engine.revoke(&body.token, None, &caller, true).await {
        Ok(()) => HttpResponse::Ok().json(json!({
            "revoked": active.is_some(),
            "kind": active.map(|token| token.kind.as_str()),
        })),
        Err(e) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "revoke_failed",
            &e.to_string(),
        ),
    }
}

async fn reset(request: HttpRequest, control: web::Data<Control>) -> HttpResponse {
    authorized!(request, control);
    match control.kit.reset(&control.gateway) {
        Ok(()) => {
            tracing::info!("test kit: reset (store emptied, clients and users as configured)");
            HttpResponse::NoContent().finish()
        }
        Err(e @ super::ResetError::NotResettable(_)) => {
            problem(StatusCode::CONFLICT, "not_resettable", &e.to_string())
        }
        Err(e) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            &e.to_string(),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Try {
    route: String,
    method: Option<String>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    body: String,
}

async fn try_route(
    request: HttpRequest,
    control: web::Data<Control>,
    body: web::Json<Try>,
) -> HttpResponse {
    authorized!(request, control);
    let Some(addr) = control.gateway_addr else {
        return problem(
            StatusCode::CONFLICT,
            "tls_listener",
            "try shows raw bytes, so it needs the gateway's listener without [server.tls]",
        );
    };
    if control.gateway.route(&body.route).is_none() {
        return problem(
            StatusCode::BAD_REQUEST,
            "unknown_route",
            "no route serves this path (GET /routes lists them)",
        );
    }
    let method = body.method.as_deref().unwrap_or("POST");
    let valid = |text: &str| !text.is_empty() && !text.contains(['\r', '\n', ' ']);
    if !valid(method) || !body.route.starts_with('/') || !valid(&body.route) {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_try",
            "method and route must be one word each",
        );
    }
    let mut raw = format!("{method} {} HTTP/1.1\r\nHost: {addr}\r\n", body.route);
    for (name, value) in &body.headers {
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            continue;
        }
        if name.contains(['\r', '\n', ':']) || value.contains(['\r', '\n']) {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_try",
                "a header name or value holds a line break",
            );
        }
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.body.len()
    ));
    raw.push_str(&body.body);
    match tokio::time::timeout(TRY_TIMEOUT, exchange_raw(addr, raw.as_bytes())).await {
        Ok(Ok(answer)) => {
            let text = String::from_utf8_lossy(&answer).into_owned();
            let status = text
                .split(' ')
                .nth(1)
                .and_then(|code| code.parse::<u16>().ok());
            HttpResponse::Ok().json(json!({
                "status": status,
                "request": raw,
                "response": text,
            }))
        }
        Ok(Err(e)) => problem(StatusCode::BAD_GATEWAY, "try_failed", &e.to_string()),
        Err(_) => problem(
            StatusCode::GATEWAY_TIMEOUT,
            "try_timeout",
            "the gateway did not answer in 30 s",
        ),
    }
}

/// Sends `raw` to `addr` and reads the answer until the gateway closes the connection.
async fn exchange_raw(addr: std::net::SocketAddr, raw: &[u8]) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let target = if addr.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
    let mut stream = actix_web::rt::net::TcpStream::connect(target).await?;
    stream.write_all(raw).await?;
    let mut answer = Vec::new();
    (&mut stream)
        .take(TRY_LIMIT as u64)
        .read_to_end(&mut answer)
        .await?;
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_with_a_sign() {
        assert_eq!(signed_span("15m"), Ok(TimeDelta::minutes(15)));
        assert_eq!(signed_span("+1h 30m"), Ok(TimeDelta::minutes(90)));
        assert_eq!(signed_span("-90s"), Ok(TimeDelta::seconds(-90)));
        assert!(signed_span("soon").is_err());
    }
}
