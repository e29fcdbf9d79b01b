//! Legacy password hashes end to end: ASP.NET Identity hashes made by Mono (an implementation
//! independent of the Rust under test) verified through `StoredHash`; every kind signing in
//! through a dialect, and every failure (wrong password, truncated, unknown marker, wrong salt
//! length) answered with the dialect's own authentication-failure shape; `check`'s lines for
//! malformed hashes and for a route whose clients' proofs cannot be checked against them.

use std::sync::Arc;

use tokengate::config::{self, Source};
use tokengate::domain::{ClientId, PasswordProof, Secret, Sha1Hex, UserId, Username};
use tokengate::engine::{
    Attributes, Client, ClientScopes, Directory, FixedClock, HashInput, InputSetting, SeededIds,
    Standing, StoredHash, User,
};
use tokengate::http::{Runtime, build_gateway};

use crate::helpers::{FORM, TestApp, form, gateway_from, golden_instant, repo_path, send, service};

/// One hash of `MakeHashes.cs`'s output.
#[derive(Debug, serde::Deserialize)]
struct Vector {
    kind: String,
    prf: String,
    iterations: u32,
    hash_input: HashInput,
    password: String,
    hash: String,
}

fn read_vectors(path: &std::path::Path) -> Vec<Vector> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read hash vectors {}: {e}", path.display()));
    let vectors: Vec<Vector> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not MakeHashes.cs's JSON: {e}", path.display()));
    assert!(!vectors.is_empty(), "{} holds no vectors", path.display());
    vectors
}

fn plain(password: &str) -> PasswordProof {
    PasswordProof::Plain(Secret::new(password))
}

fn digest(password: &str) -> PasswordProof {
    PasswordProof::Sha1Hex(Sha1Hex::of_password(&Secret::new(password)))
}

/// Each vector verifies its password (and, over the SHA-1 hex, the client's digest too), and
/// nothing else; its parsed header names the PRF and iteration count Mono was given.
fn verify_all(vectors: &[Vector]) {
    for v in vectors {
        let input = InputSetting {
            user: Some(v.hash_input),
            directory: None,
        };
        let stored = StoredHash::parse(&v.hash, input).unwrap_or_else(|e| panic!("{v:?}: {e}"));
        let shown = format!("{stored:?}");
        let version = match v.kind.as_str() {
            "identity_v2" => "ASP.NET Identity v2",
            "identity_v3" => "ASP.NET Identity v3",
            other => panic!("unknown kind {other}"),
        };
        let expected = format!(
            "StoredHash({version}, HMAC-{}, {} iterations, 16-byte salt, 32-byte subkey, over {})",
            v.prf,
            v.iterations,
            v.hash_input.as_str()
        );
        assert_eq!(shown, expected, "{v:?}");
        assert!(stored.verify(&plain(&v.password)), "{v:?}");
        let by_digest = v.hash_input == HashInput::Sha1Hex;
        assert_eq!(stored.verify(&digest(&v.password)), by_digest, "{v:?}");
        // A wrong password, as the proof this hash's routes send (each run of .NET 7's 100 000
        // SHA512 iterations is costly in a debug build; one wrong proof per vector suffices).
        let wrong = format!("{}!", v.password);
        let wrong = if by_digest {
            digest(&wrong)
        } else {
            plain(&wrong)
        };
        assert!(!stored.verify(&wrong), "{v:?}");
    }
    // Every PRF and count the issue names, over both inputs.
    for (kind, prf, iterations) in [
        ("identity_v2", "SHA1", 1000),
        ("identity_v3", "SHA1", 10_000),
        ("identity_v3", "SHA256", 10_000),
        ("identity_v3", "SHA512", 100_000),
    ] {
        for input in [HashInput::Plain, HashInput::Sha1Hex] {
            assert!(
                vectors.iter().any(|v| v.kind == kind
                    && v.prf == prf
                    && v.iterations == iterations
                    && v.hash_input == input),
                "no {kind} {prf} {iterations} over {input:?}"
            );
        }
    }
}

#[test]
fn mono_made_identity_hashes_verify_their_passwords_only() {
    verify_all(&read_vectors(&repo_path(
        "fixtures/hashes/identity-mono.json",
    )));
}

/// `.ci/run` makes fresh vectors (random salts) with Mono and names the file here; unset, the
/// committed fixture above stands in and this says so.
#[test]
fn fresh_mono_vectors_named_by_the_environment_verify() {
    match std::env::var_os("TOKENGATE_HASH_VECTORS") {
        Some(path) => verify_all(&read_vectors(std::path::Path::new(&path))),
        None => eprintln!(
            "skipped: TOKENGATE_HASH_VECTORS is unset (.ci/run sets it to vectors Mono makes)"
        ),
    }
}

fn mono_vector(kind: &str, prf: &str, input: HashInput, password: &str) -> String {
    read_vectors(&repo_path("fixtures/hashes/identity-mono.json"))
        .into_iter()
        .find(|v| v.kind == kind && v.prf == prf && v.hash_input == input && v.password == password)
        .map(|v| v.hash)
        .expect("vector")
}

const SIGNING: &str = "[signing]\nsecret = \"hashes-test-signing-secret-0123456789abcdef\"\n";
const CLIENT: &str = "[[client]]\nid = \"demo-client\"\n";
/// aspnetcore's PasswordHasherTest.cs vectors of "my password".
const ASPNET_V2: &str = "AAABAgMEBQYHCAkKCwwNDg+ukCEMDf0yyQ29NYubggHIVY0sdEUfdyeM+E1LtH1uJg==";
const ASPNET_V3_SHA256: &str =
    "AQAAAAEAACcQAAAAEAABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw==";
/// openwall crypt_blowfish's wrapper.c vector of "U*U".
const BCRYPT_U: &str = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
/// The demo user's: argon2id over the SHA-1 hex of "P@ssw0rd!".
const DEMO_ARGON2ID: &str = "$argon2id$v=19$m=19456,t=2,p=1$GMSvL9ngIzxVl9PKUodX7g$PlO7VrcWtW3f/atZ3XPzygELlT3wykwUa+v20f62MBw";

fn user(name: &str, hash: &str, extra: &str) -> String {
    format!(
        "[[user]]\nusername = \"{name}\"\nid = \"{name}-id\"\npassword_hash = \"{hash}\"\n{extra}"
    )
}

fn sha1_upper(password: &str) -> String {
    Sha1Hex::of_password(&Secret::new(password))
        .to_lower_hex()
        .to_uppercase()
}

/// (user, password): one user of each kind, for a route whose clients send the plain password.
fn plain_users() -> Vec<(&'static str, &'static str, String)> {
    vec![
        ("v2@example.com", "my password", ASPNET_V2.to_owned()),
        (
            "core@example.com",
            "my password",
            ASPNET_V3_SHA256.to_owned(),
        ),
        (
            "net7@example.com",
            "my password",
            mono_vector("identity_v3", "SHA512", HashInput::Plain, "my password"),
        ),
        ("bcrypt@example.com", "U*U", BCRYPT_U.to_owned()),
        ("sha1@example.com", "P@ssw0rd!", sha1_upper("P@ssw0rd!")),
        ("argon@example.com", "P@ssw0rd!", DEMO_ARGON2ID.to_owned()),
    ]
}

async fn owin_login<S: TestApp>(app: &S, username: &str, password: &str) -> (u16, String) {
    let body = form(&[
        ("grant_type", "password"),
        ("username", username),
        ("password", password),
    ]);
    let answer = send(app, "POST", "/Token", &[FORM], body).await;
    (answer.status, answer.text())
}

const OWIN_FAILURE: &str =
    r#"{"error":"invalid_grant","error_description":"The user name or password is incorrect."}"#;
const VIZSEEK_FAILURE: &str =
    r#"{"error":"invalid_grant","error_description":"User authentication failed."}"#;

#[actix_web::test]
async fn every_kind_signs_in_through_the_plain_route_and_fails_as_the_dialect_does() {
    let users: String = plain_users()
        .iter()
        .map(|(name, _, hash)| user(name, hash, ""))
        .collect();
    let text = format!(
        "{SIGNING}{CLIENT}{users}[[route]]\ndialect = \"owin\"\npath = \"/Token\"\nanonymous_client = \"demo-client\"\n"
    );
    let gateway = Arc::new(gateway_from(
        &text,
        Arc::new(FixedClock::new(golden_instant())),
    ));
    let app = service(gateway).await;
    for (name, password, _) in plain_users() {
        let (status, body) = owin_login(&app, name, password).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert!(body.contains(&format!("\"userName\":\"{name}\"")), "{body}");
        let (status, body) = owin_login(&app, name, &format!("{password}x")).await;
        assert_eq!((status, body.as_str()), (400, OWIN_FAILURE), "{name}");
    }
}

#[actix_web::test]
async fn hashes_over_the_sha1_hex_serve_the_digest_route() {
    let users = [
        user(
            "net7@example.com",
            &mono_vector("identity_v3", "SHA512", HashInput::Sha1Hex, "P@ssw0rd!"),
            "",
        ),
        user(
            "v2@example.com",
            &mono_vector("identity_v2", "SHA1", HashInput::Sha1Hex, "P@ssw0rd!"),
            "",
        ),
        user("sha1@example.com", &sha1_upper("P@ssw0rd!"), ""),
        // tokengate's own argon2id: over the SHA-1 hex whatever the directory says.
        user("argon@example.com", DEMO_ARGON2ID, ""),
    ]
    .concat();
    let text = format!(
        "{SIGNING}{CLIENT}[directory]\nhash_input = \"sha1_hex\"\n{users}[[route]]\ndialect = \"vizseek\"\npath = \"/api/Token\"\n"
    );
    let gateway = Arc::new(gateway_from(
        &text,
        Arc::new(FixedClock::new(golden_instant())),
    ));
    let app = service(gateway).await;
    let proof = Sha1Hex::of_password(&Secret::new("P@ssw0rd!")).to_lower_hex();
    let wrong = Sha1Hex::of_password(&Secret::new("P@ssw0rd?")).to_lower_hex();
    for name in [
        "net7@example.com",
        "v2@example.com",
        "sha1@example.com",
        "argon@example.com",
    ] {
        for (password, status) in [(proof.as_str(), 200), (wrong.as_str(), 400)] {
            let body = form(&[
                ("grant_type", "password"),
                ("client_id", "demo-client"),
                ("username", name),
                ("password", password),
            ]);
            let answer = send(&app, "POST", "/api/Token", &[FORM], body).await;
            assert_eq!(answer.status, status, "{name}: {}", answer.text());
            if status == 400 {
                assert_eq!(answer.text(), VIZSEEK_FAILURE, "{name}");
            }
        }
    }
}

/// A hash that does not parse never reaches a TOML directory (`check` refuses it, below); a
/// directory that reads hashes at request time keeps the user with `parse_or_unusable`. Each
/// such user, and a good user with a wrong password, get the same failure, byte for byte.
#[actix_web::test]
async fn malformed_hashes_read_at_request_time_are_authentication_failures() {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut wrong_salt = base64::engine::general_purpose::STANDARD
        .decode(ASPNET_V3_SHA256)
        .expect("base64");
    wrong_salt[12] = 40; // declares a 40-byte salt: the payload has 16 + 32
    let mut short_salt = wrong_salt.clone();
    short_salt[12] = 8;
    let mut marker = wrong_salt.clone();
    marker[0] = 0x03;
    let broken = [
        ("truncated@example.com", ASPNET_V3_SHA256[..40].to_owned()),
        ("truncated-v2@example.com", ASPNET_V2[..60].to_owned()),
        ("marker@example.com", b64(&marker)),
        ("salt@example.com", b64(&wrong_salt)),
        ("short-salt@example.com", b64(&short_salt)),
        ("bcrypt@example.com", BCRYPT_U[..50].to_owned()),
        ("garbage@example.com", "not a hash at all".to_owned()),
    ];
    let text = format!(
        "{SIGNING}{CLIENT}{}[[route]]\ndialect = \"owin\"\npath = \"/Token\"\nanonymous_client = \"demo-client\"\n",
        user("good@example.com", ASPNET_V3_SHA256, "")
    );
    let mut settings = config::load_with_env(&Source::Text(text), false).expect("valid");
    let good = StoredHash::parse(ASPNET_V3_SHA256, InputSetting::default()).expect("parses");
    let decoy = good.decoy();
    let account = |name: &str, password: StoredHash| User {
        id: UserId::new(format!("{name}-id")),
        username: Username::new(name),
        role: None,
        password,
        clients: Vec::new(),
        attributes: Attributes::new(),
        standing: Standing::default(),
        upgrade: None,
        stamp: None,
    };
    let mut users = vec![account("good@example.com", good)];
    for (name, text) in &broken {
        let (hash, error) = StoredHash::parse_or_unusable(text, InputSetting::default(), &decoy);
        assert!(error.is_some(), "{name} parsed");
        assert!(!format!("{hash:?}").contains(text.as_str()));
        users.push(account(name, hash));
    }
    let client = Client {
        id: ClientId::new("demo-client"),
        secret: None,
        grants: Vec::new(),
        scopes: ClientScopes::default(),
        attributes: Attributes::new(),
    };
    settings.directory = Directory::new(vec![client], users).expect("directory");
    let runtime = Runtime {
        clock: Arc::new(FixedClock::new(golden_instant())),
        ids: Arc::new(SeededIds::new(2020)),
    };
    let app = service(Arc::new(build_gateway(settings, runtime).expect("gateway"))).await;
    assert_eq!(
        owin_login(&app, "good@example.com", "my password").await.0,
        200
    );
    let wrong = owin_login(&app, "good@example.com", "my passwore").await;
    assert_eq!(wrong, (400, OWIN_FAILURE.to_owned()));
    for (name, _) in &broken {
        for password in ["my password", "U*U", ""] {
            assert_eq!(owin_login(&app, name, password).await, wrong, "{name}");
        }
    }
}

fn problems(text: &str) -> Vec<String> {
    match config::load_with_env(&Source::Text(text.to_owned()), false) {
        Ok(_) => panic!("loaded:\n{text}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn check_names_each_user_with_a_malformed_hash_and_never_shows_the_hash() {
    let mut wrong_salt =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, ASPNET_V3_SHA256)
            .expect("base64");
    wrong_salt[12] = 40;
    let wrong_salt = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, wrong_salt);
    let cases = [
        (
            "truncated",
            ASPNET_V3_SHA256[..40].to_owned(),
            "user[0].password_hash: malformed ASP.NET Identity v3 hash: the header declares a 16-byte salt, but 17 bytes follow it, less than the salt and a 16-byte subkey (user \"truncated\";",
        ),
        (
            "marker",
            "AwAAAAEAACcQAAAAEAABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw=="
                .to_owned(),
            "user[1].password_hash: unknown ASP.NET Identity format marker 0x03 (0x00 is v2, 0x01 is v3) (user \"marker\";",
        ),
        (
            "salt",
            wrong_salt,
            "user[2].password_hash: malformed ASP.NET Identity v3 hash: the header declares a 40-byte salt, but 48 bytes follow it",
        ),
        (
            "iterations",
            "AQAAAAEAAAAAAAAAEAABAgMEBQYHCAkKCwwNDg+yWU7rLgUwPZb1Itsmra7cbxw2EFpwpVFIEtP+JIuUEw=="
                .to_owned(),
            "user[3].password_hash: malformed ASP.NET Identity v3 hash: 0 iterations is outside 1..=10000000 for a 32-byte HMAC-SHA256 subkey (user \"iterations\";",
        ),
        (
            "bcrypt",
            "$2b$20$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW".to_owned(),
            "user[4].password_hash: malformed bcrypt hash: cost 20 is outside 4..=16 (user \"bcrypt\";",
        ),
        (
            "digest",
            sha1_upper("pw"),
            "user[5].password_hash: hash_input = \"sha1_hex\" does not apply to a SHA-1 hex digest",
        ),
    ];
    let users: String = cases
        .iter()
        .map(|(name, hash, _)| {
            let extra = if *name == "digest" {
                "hash_input = \"sha1_hex\"\n"
            } else {
                ""
            };
            user(name, hash, extra)
        })
        .collect();
    let text = format!(
        "{SIGNING}{CLIENT}{users}[[route]]\ndialect = \"owin\"\npath = \"/Token\"\nanonymous_client = \"demo-client\"\n"
    );
    let shown = problems(&text);
    assert_eq!(shown.len(), cases.len(), "{shown:#?}");
    for ((_, hash, expected), line) in cases.iter().zip(&shown) {
        assert!(line.starts_with(expected), "{line}\nexpected {expected}");
        assert!(!line.contains(hash.as_str()), "{line}");
        assert!(!line.contains(&hash[..20]), "{line}");
    }
}

#[test]
fn check_says_once_per_route_that_digest_proofs_cannot_meet_hashes_over_the_plain_password() {
    let users = [
        user("alice", ASPNET_V3_SHA256, ""),
        user("bob", BCRYPT_U, ""),
        user("carol", ASPNET_V2, ""),
        user("dave", ASPNET_V2, ""),
        // Fine on both routes: tokengate's argon2id (over the SHA-1 hex), a SHA-1 digest, and a
        // hash its owner says is over the hex.
        user("erin", DEMO_ARGON2ID, ""),
        user("frank", &sha1_upper("pw"), ""),
        user("grace", ASPNET_V2, "hash_input = \"sha1_hex\"\n"),
    ]
    .concat();
    let routes = "[[route]]\ndialect = \"vizseek\"\npath = \"/api/Token\"\n\
                  [[route]]\ndialect = \"owin\"\npath = \"/Token\"\nanonymous_client = \"demo-client\"\n\
                  [[route]]\ndialect = \"vizseek\"\npath = \"/api/v2/Token\"\n";
    let shown = problems(&format!("{SIGNING}{CLIENT}{users}{routes}"));
    let expected = |i: usize, path: &str| {
        format!(
            "route[{i}]: vizseek {path:?} takes the SHA-1 hex of the password (request.password = \"sha1_hex\"), \
             but 4 users' hashes are over the plain password, which a digest cannot be checked against: \
             \"alice\" (ASP.NET Identity v3), \"bob\" (bcrypt), \"carol\" (ASP.NET Identity v2), and 1 more; \
             set hash_input = \"sha1_hex\" (on the user or in [directory]) only if those hashes were computed over the SHA-1 hex digest"
        )
    };
    assert_eq!(
        shown,
        vec![expected(0, "/api/Token"), expected(2, "/api/v2/Token")]
    );

    // The directory's setting decides for users without their own; a user's own still wins.
    let over_hex = format!(
        "{SIGNING}{CLIENT}[directory]\nhash_input = \"sha1_hex\"\n{}{}{routes}",
        user("alice", ASPNET_V3_SHA256, ""),
        user("bob", BCRYPT_U, "hash_input = \"plain\"\n"),
    );
    let shown = problems(&over_hex);
    assert_eq!(shown.len(), 2, "{shown:#?}");
    assert!(shown[0].contains("but 1 user's hash is over the plain password, which a digest cannot be checked against: \"bob\" (bcrypt);"), "{shown:#?}");
}

#[test]
fn hash_input_values_are_checked() {
    let text = format!(
        "{SIGNING}{CLIENT}[directory]\nhash_input = \"sha1\"\n{}[[route]]\ndialect = \"owin\"\npath = \"/Token\"\nanonymous_client = \"demo-client\"\n",
        user("alice", ASPNET_V2, "hash_input = \"hex\"\n")
    );
    let shown = problems(&text);
    assert!(
        shown.iter().any(|l| l.starts_with(
            "directory.hash_input: unknown variant `sha1`, expected `plain` or `sha1_hex`"
        )),
        "{shown:#?}"
    );
    assert!(
        shown
            .iter()
            .any(|l| l.starts_with("user[0].hash_input: unknown variant `hex`")),
        "{shown:#?}"
    );
}
