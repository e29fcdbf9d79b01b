//! Dialects defined in the configuration, for the dimensions no example in `examples/dialects/`
//! needed (no public page we found documents them): parameter names that differ per body
//! format, client credentials in headers of the route's own, required parameters beyond a
//! grant's own, the token's `jti`, epoch-second instants, zero values for absent members, and
//! `{request.NAME}` in an error text.

use std::sync::Arc;

use tokengate::engine::FixedClock;

use crate::helpers::{FORM, gateway_from, golden_instant, send, service};

const CONFIG: &str = r#"
[signing]
secret = "defined-dialect-signing-secret-0123456789abcdef"

[[client]]
id = "api-client"
secret = "s3cret"
scopes = ["api"]

[[user]]
username = "user@example.com"
id = "614a1d03-873d-489e-9ab5-fb53b0a0c64f"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$GMSvL9ngIzxVl9PKUodX7g$PlO7VrcWtW3f/atZ3XPzygELlT3wykwUa+v20f62MBw"

[dialect.camel]
extends = "swagger"
path = "/camel/token"
# camelCase JSON, PascalCase XML, snake_case forms.
request.json_fields = { grant_type = "grantType", username = "userName" }
request.xml_fields = { grant_type = "GrantType", username = "UserName", password = "Password", client_id = "ClientId", client_secret = "ClientSecret" }
request.xml = { root = "Login", namespace = "" }
request.body = { "application/json" = "json", "application/xml" = "xml_serializer", "application/x-www-form-urlencoded" = "katana_form" }
# The client in headers of its own; a password sign-in must also name its scope.
request.client_credentials = [{ header = "X-Client-Id", secret_header = "X-Client-Secret" }]
request.required = { password = ["username", "password", "scope"] }
response.xml = { root = "Token", flavour = "xml_serializer" }
response.fields = [
    { name = "access_token", value = "access_token" },
    { name = "jti", value = "jti" },
    { name = "issued", value = "issued", type = "epoch_seconds" },
    { name = "expires", value = "expires", type = "epoch_seconds", xml = { name = "Expires", type = "iso8601_utc" } },
    { name = "user_id", value = "user.id", type = "string", absent = "zero", json = { name = "userId" } },
    { name = "is_user", value = "user.name", type = "bool", absent = "zero" },
]
errors.missing_parameter = { status = 400, error = "invalid_request", description = "{detail} is required." }
errors.unknown_client.description = "Client '{request.client_id}' is unknown."

[[route]]
dialect = "camel"
refresh_token_ttl = ""
"#;

async fn app() -> impl crate::helpers::TestApp {
    let clock = Arc::new(FixedClock::new(golden_instant()));
    service(Arc::new(gateway_from(CONFIG, clock))).await
}

const CLIENT: [(&str, &str); 2] = [("X-Client-Id", "api-client"), ("X-Client-Secret", "s3cret")];

#[actix_web::test]
async fn each_body_format_reads_its_own_parameter_names() {
    let app = app().await;
    let json = [CLIENT[0], CLIENT[1], ("Content-Type", "application/json")];
    let answer = send(
        &app,
        "POST",
        "/camel/token",
        &json,
        r#"{"grantType":"password","userName":"user@example.com","password":"P@ssw0rd!","scope":"api"}"#,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let xml = [CLIENT[0], CLIENT[1], ("Content-Type", "application/xml")];
    let body = r#"<Login xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><GrantType>password</GrantType><UserName>user@example.com</UserName><Password>P@ssw0rd!</Password><scope>api</scope></Login>"#;
    let answer = send(&app, "POST", "/camel/token", &xml, body).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let form = [CLIENT[0], CLIENT[1], FORM];
    let body = "grant_type=password&username=user%40example.com&password=P%40ssw0rd%21&scope=api";
    let answer = send(&app, "POST", "/camel/token", &form, body).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    // A JSON body named as a form is: its grant type is not read.
    let answer = send(
        &app,
        "POST",
        "/camel/token",
        &json,
        r#"{"grant_type":"password","userName":"user@example.com","password":"P@ssw0rd!","scope":"api"}"#,
    )
    .await;
    assert_eq!(answer.json()["error"], "unsupported_grant_type");
}

#[actix_web::test]
async fn the_client_comes_from_its_headers_and_an_unknown_one_is_named_as_sent() {
    let app = app().await;
    let body = "grant_type=client_credentials";
    let answer = send(
        &app,
        "POST",
        "/camel/token",
        &[CLIENT[0], CLIENT[1], FORM],
        body,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let wrong = [
        ("X-Client-Id", "api-client"),
        ("X-Client-Secret", "nope"),
        FORM,
    ];
    let answer = send(&app, "POST", "/camel/token", &wrong, body).await;
    assert_eq!(answer.json()["error"], "invalid_client");
    let unknown = [("X-Client-Id", "who?"), FORM];
    let answer = send(&app, "POST", "/camel/token", &unknown, body).await;
    assert_eq!(
        answer.json()["error_description"],
        "Client 'who?' is unknown."
    );
    // The body's client_id is not a source on this route.
    let answer = send(
        &app,
        "POST",
        "/camel/token",
        &[FORM],
        format!("{body}&client_id=api-client"),
    )
    .await;
    assert_eq!(answer.json()["error"], "invalid_client");
}

#[actix_web::test]
async fn a_required_parameter_beyond_the_grant_s_own_gets_the_generic_row() {
    let app = app().await;
    let body = "grant_type=password&username=user%40example.com&password=P%40ssw0rd%21";
    let answer = send(
        &app,
        "POST",
        "/camel/token",
        &[CLIENT[0], CLIENT[1], FORM],
        body,
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["error_description"], "scope is required.");
}

#[actix_web::test]
async fn jti_epoch_seconds_and_zero_values_are_written_as_typed() {
    let app = app().await;
    let body = "grant_type=client_credentials";
    let answer = send(
        &app,
        "POST",
        "/camel/token",
        &[CLIENT[0], CLIENT[1], FORM],
        body,
    )
    .await;
    let json = answer.json();
    let jti = json["jti"].as_str().expect("jti");
    assert_eq!(jti.len(), 36, "a dashed GUID: {jti}");
    // The JWT carries the same jti.
    let token = json["access_token"].as_str().expect("token");
    let claims = token.split('.').nth(1).expect("claims");
    use base64::Engine as _;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .expect("base64url");
    let claims: serde_json::Value = serde_json::from_slice(&claims).expect("json");
    assert_eq!(claims["jti"], jti);
    assert_eq!(json["issued"], golden_instant().timestamp());
    assert_eq!(json["expires"], golden_instant().timestamp() + 300);
    // An app token has no user: the members are their types' zero, not null.
    assert_eq!(json["userId"], "");
    assert_eq!(json["is_user"], false);
    let xml = [CLIENT[0], CLIENT[1], FORM, ("Accept", "application/xml")];
    let answer = send(&app, "POST", "/camel/token", &xml, body).await;
    let text = answer.text();
    assert!(
        text.contains("<Expires>2020-09-13T09:40:33Z</Expires>"),
        "{text}"
    );
    assert!(
        text.contains("<user_id /><is_user>false</is_user>"),
        "{text}"
    );
}
