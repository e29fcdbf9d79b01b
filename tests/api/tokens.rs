//! Token semantics every dialect shares (docs/tokens.md): the scope table per dialect, refresh
//! tokens bound to their route group, revocations that outlive every token of a family, the
//! retry grace window (inside, outside, concurrent, two gateways on Redis), failed-password
//! counters in the store.

use std::sync::Arc;

use base64::Engine as _;
use chrono::TimeDelta;
use tokengate::engine::FixedClock;
use tokengate::gateway::Gateway;
use tokengate::wire::WireRequest;

use crate::helpers::{
    DEMO_PASSWORD_SHA1, form, gateway_from, golden_instant, redis_available, redis_clear,
    redis_prefix, redis_url,
};

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$GMSvL9ngIzxVl9PKUodX7g$PlO7VrcWtW3f/atZ3XPzygELlT3wykwUa+v20f62MBw";

/// Clients with and without scope rules, the demo user, and a route of each dialect plus the
/// variants the tests need.
fn config(store: &str) -> String {
    format!(
        r#"
[signing]
secret = "tokens-test-signing-secret-0123456789abcdef"

[store]
{store}

[throttle]
# Short, so the tests over a user name's limit do not wait long.
user_delay = "20ms"

[[client]]
id = "scoped"
scopes = ["profile", "email", "api"]
default_scopes = ["profile", "email"]

[[client]]
id = "bare"

[[user]]
username = "user@example.com"
id = "614a1d03-873d-489e-9ab5-fb53b0a0c64f"
password_hash = "{HASH}"

[[route]]
dialect = "vizseek"
path = "/api/Token"

[[route]]
dialect = "vizseek"
path = "/enforce/Token"
scope_policy = "enforce"

[[route]]
dialect = "swagger"
path = "/api/v1/auth/token"

[[route]]
dialect = "owin"
path = "/Token"
anonymous_client = "scoped"
refresh_token_ttl = "1h"

[[route]]
dialect = "vizseek"
path = "/short/Token"
refresh_token_ttl = "30m"

[[route]]
dialect = "vizseek"
path = "/long/Token"
refresh_token_ttl = "14days"

[[route]]
dialect = "vizseek"
path = "/shared-short/Token"
refresh_token_ttl = "30m"
refresh_group = "shared"

[[route]]
dialect = "vizseek"
path = "/shared-long/Token"
refresh_token_ttl = "14days"
refresh_group = "shared"

[[route]]
dialect = "vizseek"
path = "/grace/Token"
refresh_reuse_grace = "30s"

[[route]]
dialect = "vizseek"
path = "/strict/Token"
refresh_reuse_grace = "0s"

[[route]]
dialect = "vizseek"
path = "/explained/Token"
explain_errors = true
"#
    )
}

const MEMORY: &str = "kind = \"memory\"";

fn gateway() -> (Arc<Gateway>, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(golden_instant()));
    (
        Arc::new(gateway_from(&config(MEMORY), clock.clone())),
        clock,
    )
}

struct Reply {
    status: u16,
    json: serde_json::Value,
}

impl Reply {
    fn str(&self, member: &str) -> String {
        self.json[member]
            .as_str()
            .unwrap_or_else(|| panic!("no string {member}: {}", self.json))
            .to_owned()
    }

    fn refresh(&self) -> String {
        self.str("refresh_token")
    }

    /// The JWT access token's `scope` claim.
    fn scope_claim(&self) -> Option<String> {
        let token = self.str("access_token");
        let payload = token.split('.').nth(1).expect("a JWT");
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .expect("base64url"),
        )
        .expect("claims");
        claims["scope"].as_str().map(str::to_owned)
    }

    fn error(&self) -> (u16, String, String) {
        (
            self.status,
            self.json["error"].as_str().unwrap_or("").to_owned(),
            self.json["error_description"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    }
}

async fn post(gateway: &Gateway, path: &str, content_type: &str, body: &str) -> Reply {
    post_from(gateway, "127.0.0.1", path, content_type, body).await
}

async fn post_from(
    gateway: &Gateway,
    peer: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> Reply {
    let route = gateway.route(path).expect("route");
    let headers = vec![("Content-Type".to_owned(), content_type.to_owned())];
    let request = WireRequest {
        method: "POST",
        path,
        headers: &headers,
        peer: peer.parse().expect("ip"),
        from_trusted_proxy: false,
        body: body.as_bytes(),
    };
    let (answer, _) = gateway.handle(route, &request, None).await;
    let json = serde_json::from_slice(&answer.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&answer.body)));
    Reply {
        status: answer.status,
        json,
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

async fn sign_in(gateway: &Gateway, path: &str, client: &str, scope: Option<&str>) -> Reply {
    let mut pairs = vec![
        ("grant_type", "password"),
        ("client_id", client),
        ("username", "user@example.com"),
    ];
    // VizSeek routes take the SHA-1 hex of the password, the others the password.
    let password = if path.ends_with("/Token") && path != "/Token" {
        DEMO_PASSWORD_SHA1
    } else {
        "P@ssw0rd!"
    };
    pairs.push(("password", password));
    if let Some(scope) = scope {
        pairs.push(("scope", scope));
    }
    post(gateway, path, FORM, &form(&pairs)).await
}

async fn refresh(
    gateway: &Gateway,
    path: &str,
    client: &str,
    token: &str,
    scope: Option<&str>,
) -> Reply {
    let mut pairs = vec![
        ("grant_type", "refresh_token"),
        ("client_id", client),
        ("refresh_token", token),
    ];
    if let Some(scope) = scope {
        pairs.push(("scope", scope));
    }
    post(gateway, path, FORM, &form(&pairs)).await
}

fn granted(reply: &Reply) -> &Reply {
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply
}

#[actix_web::test]
async fn swagger_scope_table() {
    let (gw, _) = gateway();
    let path = "/api/v1/auth/token";
    // Named nothing: the client's defaults, in the member and the token.
    let none = sign_in(&gw, path, "scoped", None).await;
    assert_eq!(granted(&none).str("scope"), "profile email");
    assert_eq!(none.scope_claim().as_deref(), Some("profile email"));
    // Allowed: exactly what was asked, without repeats.
    let allowed = sign_in(&gw, path, "scoped", Some("api email api")).await;
    assert_eq!(granted(&allowed).str("scope"), "api email");
    // Unknown to the client: Keycloak's wording, naming what was refused.
    let unknown = sign_in(&gw, path, "scoped", Some("api admin")).await;
    assert_eq!(
        unknown.error(),
        (400, "invalid_scope".into(), "Invalid scopes: admin".into())
    );
    // Narrowed on refresh: the access token gets the part, the family keeps the whole.
    let narrowed = refresh(&gw, path, "scoped", &allowed.refresh(), Some("email")).await;
    assert_eq!(granted(&narrowed).str("scope"), "email");
    let whole = refresh(&gw, path, "scoped", &narrowed.refresh(), None).await;
    assert_eq!(granted(&whole).str("scope"), "api email");
    // Widened on refresh: refused, whatever the client may otherwise have.
    let widened = refresh(&gw, path, "scoped", &whole.refresh(), Some("email profile")).await;
    assert_eq!(
        widened.error(),
        (
            400,
            "invalid_scope".into(),
            "Invalid scopes: profile".into()
        )
    );
    // A client without scope rules: no scope, and asking for one is refused.
    let bare = sign_in(&gw, path, "bare", None).await;
    assert_eq!(granted(&bare).json["scope"], serde_json::Value::Null);
    assert_eq!(bare.scope_claim(), None);
    let bare_asks = sign_in(&gw, path, "bare", Some("api")).await;
    assert_eq!(
        bare_asks.error(),
        (400, "invalid_scope".into(), "Invalid scopes: api".into())
    );
}

#[actix_web::test]
async fn vizseek_and_owin_ignore_scope_as_their_legacy_servers_did() {
    let (gw, _) = gateway();
    for path in ["/api/Token", "/Token"] {
        let none = sign_in(&gw, path, "scoped", None).await;
        assert_eq!(
            granted(&none).scope_claim().as_deref(),
            Some("profile email"),
            "{path}"
        );
        // Unknown, or allowed: never refused, always the defaults.
        for asked in ["admin", "api", "api admin"] {
            let reply = sign_in(&gw, path, "scoped", Some(asked)).await;
            assert_eq!(
                granted(&reply).scope_claim().as_deref(),
                Some("profile email"),
                "{path} scope={asked}"
            );
        }
        // A refresh keeps the family's scope, narrowed or widened alike ignored.
        let token = sign_in(&gw, path, "scoped", None).await.refresh();
        let narrowed = refresh(&gw, path, "scoped", &token, Some("email")).await;
        assert_eq!(
            granted(&narrowed).scope_claim().as_deref(),
            Some("profile email")
        );
        let widened = refresh(&gw, path, "scoped", &narrowed.refresh(), Some("api")).await;
        assert_eq!(
            granted(&widened).scope_claim().as_deref(),
            Some("profile email")
        );
        // No member shows scope in either dialect.
        assert!(widened.json.get("scope").is_none(), "{path}");
    }
}

#[actix_web::test]
async fn a_vizseek_route_that_enforces_scope_refuses_in_vizseek_shape() {
    let (gw, _) = gateway();
    let path = "/enforce/Token";
    let allowed = sign_in(&gw, path, "scoped", Some("api")).await;
    assert_eq!(granted(&allowed).scope_claim().as_deref(), Some("api"));
    let unknown = sign_in(&gw, path, "scoped", Some("admin")).await;
    assert_eq!(
        unknown.error(),
        (
            400,
            "invalid_scope".into(),
            "The requested scope is invalid, unknown, or exceeds what this client may have: admin."
                .into()
        )
    );
    let widened = refresh(&gw, path, "scoped", &allowed.refresh(), Some("api email")).await;
    assert_eq!(widened.error().1, "invalid_scope");
}

#[actix_web::test]
async fn a_refresh_token_is_unknown_on_another_groups_route_and_not_used_up() {
    let (gw, _) = gateway();
    let stolen = sign_in(&gw, "/short/Token", "scoped", None).await.refresh();
    // The thief carries it to the long-lived route: unknown there.
    let carried = refresh(&gw, "/long/Token", "scoped", &stolen, None).await;
    assert_eq!(
        carried.error(),
        (400, "invalid_grant".into(), "Invalid request".into())
    );
    // The client that holds it lost nothing.
    granted(&refresh(&gw, "/short/Token", "scoped", &stolen, None).await);
}

/// The defect this pins: a revocation lived as long as the detecting route's refresh lifetime,
/// so a family carried to a route of longer lifetime outlived it.
#[actix_web::test]
async fn a_revoked_family_stays_revoked_on_every_route_of_its_group() {
    let (gw, clock) = gateway();
    let stolen = sign_in(&gw, "/shared-short/Token", "scoped", None)
        .await
        .refresh();
    // The thief redeems the stolen token first, on the route of 14-day tokens.
    let thief = refresh(&gw, "/shared-long/Token", "scoped", &stolen, None).await;
    let thiefs = granted(&thief).refresh();
    // The real client's redemption, after the retry grace, is a replay: the family is revoked.
    clock.advance(TimeDelta::seconds(11));
    let replay = refresh(&gw, "/shared-short/Token", "scoped", &stolen, None).await;
    assert_eq!(replay.error().1, "invalid_grant");
    // Long after the short route's 30 minutes, the thief's 14-day token is still refused.
    for after in [TimeDelta::minutes(31), TimeDelta::days(13)] {
        clock.set(golden_instant() + after);
        let later = refresh(&gw, "/shared-long/Token", "scoped", &thiefs, None).await;
        assert_eq!(later.error().1, "invalid_grant", "after {after}");
    }
}

#[actix_web::test]
async fn a_retry_within_the_grace_gets_the_first_answers_refresh_token() {
    let (gw, clock) = gateway();
    let path = "/grace/Token";
    let parent = sign_in(&gw, path, "scoped", None).await.refresh();
    let first = refresh(&gw, path, "scoped", &parent, None).await;
    let child = granted(&first).refresh();
    clock.advance(TimeDelta::seconds(29));
    let retry = refresh(&gw, path, "scoped", &parent, None).await;
    assert_eq!(granted(&retry).refresh(), child, "the same rotation");
    assert_ne!(retry.str("access_token"), first.str("access_token"));
    // The family goes on from the one successor.
    granted(&refresh(&gw, path, "scoped", &child, None).await);
}

#[actix_web::test]
async fn a_reuse_after_the_grace_revokes_the_family() {
    let (gw, clock) = gateway();
    let path = "/grace/Token";
    let parent = sign_in(&gw, path, "scoped", None).await.refresh();
    let child = granted(&refresh(&gw, path, "scoped", &parent, None).await).refresh();
    clock.advance(TimeDelta::seconds(31));
    let late = refresh(&gw, path, "scoped", &parent, None).await;
    assert_eq!(late.error().1, "invalid_grant");
    let revoked = refresh(&gw, path, "scoped", &child, None).await;
    assert_eq!(revoked.error().1, "invalid_grant", "the family is revoked");
}

#[actix_web::test]
async fn a_retry_after_the_successor_was_used_revokes_the_family() {
    let (gw, _) = gateway();
    let path = "/grace/Token";
    let parent = sign_in(&gw, path, "scoped", None).await.refresh();
    let child = granted(&refresh(&gw, path, "scoped", &parent, None).await).refresh();
    let grandchild = granted(&refresh(&gw, path, "scoped", &child, None).await).refresh();
    let retry = refresh(&gw, path, "scoped", &parent, None).await;
    assert_eq!(retry.error().1, "invalid_grant");
    let revoked = refresh(&gw, path, "scoped", &grandchild, None).await;
    assert_eq!(revoked.error().1, "invalid_grant", "the family is revoked");
}

#[actix_web::test]
async fn without_a_grace_a_second_redemption_is_a_replay_at_once() {
    let (gw, _) = gateway();
    let path = "/strict/Token";
    let parent = sign_in(&gw, path, "scoped", None).await.refresh();
    let child = granted(&refresh(&gw, path, "scoped", &parent, None).await).refresh();
    let again = refresh(&gw, path, "scoped", &parent, None).await;
    assert_eq!(again.error().1, "invalid_grant");
    let revoked = refresh(&gw, path, "scoped", &child, None).await;
    assert_eq!(revoked.error().1, "invalid_grant");
}

/// Strict mode, as documented: of two redemptions of one token by its own client at once, one
/// rotates and the other is a replay that revokes the family, the winner's new token included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_strict_mode_the_loser_of_two_concurrent_redemptions_revokes_the_winner() {
    let (gw, _) = gateway();
    let path = "/strict/Token";
    let parent = sign_in(&gw, path, "scoped", None).await.refresh();
    let (a, b) = (gw.clone(), gw.clone());
    let (pa, pb) = (parent.clone(), parent.clone());
    let first = tokio::spawn(async move { refresh(&a, path, "scoped", &pa, None).await });
    let second = tokio::spawn(async move { refresh(&b, path, "scoped", &pb, None).await });
    let replies = [first.await.expect("task"), second.await.expect("task")];
    let winners: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one rotation");
    let child = winners[0].refresh();
    let revoked = refresh(&gw, path, "scoped", &child, None).await;
    assert_eq!(
        revoked.error().1,
        "invalid_grant",
        "the loser revoked the family"
    );
}

/// The default: a retry grace of 10 s. A second redemption by the same client at once gets
/// the first one's refresh token; 10 s later it is still a retry, after that a replay.
#[actix_web::test]
async fn the_default_grace_answers_a_retry_within_10_seconds_and_no_later() {
    let (gw, clock) = gateway();
    let path = "/api/Token";
    let parent = sign_in(&gw, path, "scoped", None).await.refresh();
    let child = granted(&refresh(&gw, path, "scoped", &parent, None).await).refresh();
    let retry = refresh(&gw, path, "scoped", &parent, None).await;
    assert_eq!(granted(&retry).refresh(), child);
    clock.advance(TimeDelta::seconds(10));
    let retry = refresh(&gw, path, "scoped", &parent, None).await;
    assert_eq!(
        granted(&retry).refresh(),
        child,
        "10 s is within the window"
    );
    clock.advance(TimeDelta::milliseconds(1));
    let late = refresh(&gw, path, "scoped", &parent, None).await;
    assert_eq!(late.error().1, "invalid_grant");
    let revoked = refresh(&gw, path, "scoped", &child, None).await;
    assert_eq!(
        revoked.error().1,
        "invalid_grant",
        "the replay revoked the family"
    );
}

/// Another client presenting a token within the grace is no retry: the family is revoked.
#[actix_web::test]
async fn within_the_grace_another_clients_redemption_revokes_the_family() {
    let (gw, _) = gateway();
    let path = "/api/Token";
    let parent = sign_in(&gw, path, "scoped", None).await.refresh();
    let child = granted(&refresh(&gw, path, "scoped", &parent, None).await).refresh();
    let stolen = refresh(&gw, path, "bare", &parent, None).await;
    assert_eq!(stolen.error().1, "invalid_grant");
    let revoked = refresh(&gw, path, "scoped", &child, None).await;
    assert_eq!(revoked.error().1, "invalid_grant", "the family is revoked");
}

/// A redemption into a full store (the memory store at its cap) takes its parent's slot: it is
/// answered and the family goes on, where it used to answer 503 and leave the client's retry to
/// be taken for a replay. A new sign-in is what the cap refuses.
#[actix_web::test]
async fn a_redemption_into_a_full_store_takes_its_parents_slot() {
    let clock = Arc::new(FixedClock::new(golden_instant()));
    let gw = gateway_from(&config("kind = \"memory\"\nmax_entries = 3"), clock.clone());
    let parent = sign_in(&gw, "/long/Token", "scoped", None).await.refresh();
    // Other sign-ins take the last slots.
    for _ in 0..2 {
        granted(&sign_in(&gw, "/short/Token", "scoped", None).await);
    }
    let child = granted(&refresh(&gw, "/long/Token", "scoped", &parent, None).await).refresh();
    granted(&refresh(&gw, "/long/Token", "scoped", &child, None).await);
    let refused = sign_in(&gw, "/short/Token", "scoped", None).await;
    assert_eq!(refused.status, 503, "{}", refused.json);
}

/// Many redemptions of one token at once by its client, with the grace on: one rotation.
/// Each one succeeds with the same refresh token (the rotation stores the successor in the
/// step that uses the parent, so no redemption finds one "in flight"), and the family goes on.
#[test]
fn concurrent_redemptions_within_the_grace_make_one_rotation() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (gw, _) = gateway();
        let path = "/grace/Token";
        for trial in 0..5 {
            let parent = sign_in(&gw, path, "scoped", None).await.refresh();
            let mut tasks = Vec::new();
            for _ in 0..100 {
                let gw = gw.clone();
                let parent = parent.clone();
                tasks.push(tokio::spawn(async move {
                    refresh(&gw, path, "scoped", &parent, None).await
                }));
            }
            let mut children = std::collections::BTreeSet::new();
            for task in tasks {
                let reply = task.await.expect("task");
                assert_eq!(reply.status, 200, "trial {trial}: {}", reply.json);
                children.insert(reply.refresh());
            }
            assert_eq!(children.len(), 1, "trial {trial}: {children:?}");
            let child = children.pop_first().expect("one");
            granted(&refresh(&gw, path, "scoped", &child, None).await);
        }
    });
}

#[actix_web::test]
async fn two_gateways_on_one_redis_share_the_grace_window() {
    if !redis_available("tokens::two_gateways_on_one_redis_share_the_grace_window").await {
        return;
    }
    let prefix = redis_prefix();
    let store = format!(
        "kind = \"redis\"\nurl = \"{}\"\nkey_prefix = \"{prefix}\"\ntimeout = \"2s\"",
        redis_url()
    );
    let clock = Arc::new(FixedClock::new(golden_instant()));
    let a = gateway_from(&config(&store), clock.clone());
    let b = gateway_from(&config(&store), clock.clone());
    let path = "/grace/Token";
    let parent = sign_in(&a, path, "scoped", None).await.refresh();
    let child = granted(&refresh(&a, path, "scoped", &parent, None).await).refresh();
    clock.advance(TimeDelta::seconds(10));
    let retry = refresh(&b, path, "scoped", &parent, None).await;
    assert_eq!(granted(&retry).refresh(), child);
    clock.advance(TimeDelta::seconds(30));
    let late = refresh(&b, path, "scoped", &parent, None).await;
    assert_eq!(late.error().1, "invalid_grant");
    let revoked = refresh(&a, path, "scoped", &child, None).await;
    assert_eq!(revoked.error().1, "invalid_grant", "revoked for both");
    redis_clear(&prefix).await;
}

#[actix_web::test]
async fn failed_passwords_are_counted_in_the_store() {
    let (gw, _) = gateway();
    let wrong = form(&[
        ("grant_type", "password"),
        ("client_id", "scoped"),
        ("username", "User@Example.com"),
        ("password", &"0".repeat(40)),
    ]);
    // The default limit is 10 per user.
    for _ in 0..10 {
        let reply = post(&gw, "/api/Token", FORM, &wrong).await;
        assert_eq!(reply.error().1, "invalid_grant");
    }
    let right = sign_in(&gw, "/api/Token", "scoped", None).await;
    assert_eq!(
        right.error(),
        (
            400,
            "invalid_grant".into(),
            "User authentication failed.".into()
        )
    );
}

#[actix_web::test]
async fn a_raw_password_fails_like_a_wrong_one_unless_the_route_explains() {
    let (gw, _) = gateway();
    let raw = form(&[
        ("grant_type", "password"),
        ("client_id", "scoped"),
        ("username", "user@example.com"),
        ("password", "P@ssw0rd!"),
    ]);
    let faithful = post(&gw, "/api/Token", FORM, &raw).await;
    assert_eq!(
        faithful.error(),
        (
            400,
            "invalid_grant".into(),
            "User authentication failed.".into()
        )
    );
    let explained = post(&gw, "/explained/Token", FORM, &raw).await;
    assert_eq!(
        explained.error(),
        (
            400,
            "invalid_request".into(),
            "password must be the SHA-1 hex digest of the password (40 hexadecimal digits): \
             expected 40 hexadecimal digits, got 9 characters."
                .into()
        )
    );
}

#[actix_web::test]
async fn vizseek_app_tokens_carry_a_refresh_token_that_redeems() {
    let (gw, _) = gateway();
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "scoped"),
    ]);
    let app = post(&gw, "/api/Token", FORM, &body).await;
    let token = granted(&app).refresh();
    assert_eq!(token.len(), 36, "a dashed GUID: {token}");
    let next = refresh(&gw, "/api/Token", "scoped", &token, None).await;
    assert_ne!(granted(&next).refresh(), token);
}

/// An app token without a refresh token reads nothing from the store (it has no user, so no
/// not-before marker): Swagger's client_credentials keeps answering while the store is down,
/// and VizSeek's (which stores a refresh token) says the store is unavailable.
#[actix_web::test]
async fn client_credentials_without_a_refresh_token_needs_no_store() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port();
    let store =
        format!("kind = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\ntimeout = \"200ms\"");
    let clock = Arc::new(FixedClock::new(golden_instant()));
    let gw = gateway_from(&config(&store), clock);
    let body = r#"{"grant_type":"client_credentials","client_id":"scoped"}"#;
    let swagger = post(&gw, "/api/v1/auth/token", "application/json", body).await;
    assert_eq!(
        granted(&swagger).json["refresh_token"],
        serde_json::Value::Null
    );
    let form = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "scoped"),
    ]);
    let vizseek = post(&gw, "/api/Token", FORM, &form).await;
    assert_eq!(vizseek.error().0, 503);
}

/// RFC 6819 §5.1.4.2.3's warning: a lockout per user name lets anyone lock out the user. Here
/// guesses spread over addresses only slow the user name down; the user still signs in from
/// their own address, and each guessing address is refused past its tight limit for the pair.
#[actix_web::test]
async fn guesses_from_elsewhere_cannot_lock_the_user_out_of_their_own_address() {
    let (gw, _) = gateway();
    let wrong = form(&[
        ("grant_type", "password"),
        ("client_id", "scoped"),
        ("username", "user@example.com"),
        ("password", &"0".repeat(40)),
    ]);
    let right = form(&[
        ("grant_type", "password"),
        ("client_id", "scoped"),
        ("username", "user@example.com"),
        ("password", DEMO_PASSWORD_SHA1),
    ]);
    // 4 addresses x 4 failures: 16, over the user name's 10, under each pair's 5.
    for n in 1..=4 {
        let attacker = format!("192.0.2.{n}");
        for _ in 0..4 {
            let reply = post_from(&gw, &attacker, "/api/Token", FORM, &wrong).await;
            assert_eq!(reply.error().1, "invalid_grant");
        }
    }
    let user = post_from(&gw, "198.51.100.7", "/api/Token", FORM, &right).await;
    granted(&user);
    // One more failure makes a guessing address's fifth for the pair: refused from then on,
    // even with the right password.
    let fifth = post_from(&gw, "192.0.2.1", "/api/Token", FORM, &wrong).await;
    assert_eq!(fifth.error().1, "invalid_grant");
    let refused = post_from(&gw, "192.0.2.1", "/api/Token", FORM, &right).await;
    assert_eq!(
        refused.error(),
        (
            400,
            "invalid_grant".into(),
            "User authentication failed.".into()
        )
    );
}
