//! Configuration: the demo loads, each invalid file fails naming its key, every mistake is found
//! in one run, defined dialects resolve (inline, from a file, extending each other), secrets come
//! from the environment or a file, environment variables override table keys, and `tokengate
//! profile` prints a route's effective profile.

use std::process::Command;

use tokengate::config::{ProfileError, Source, effective_profile_with_env, load_with_env};

use crate::helpers::{repo_path, tokengate};

#[test]
fn the_embedded_demo_config_loads_with_every_dialect_route() {
    let settings = load_with_env(&Source::Demo, false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(settings.bind.to_string(), "127.0.0.1:8080");
    assert!(
        settings
            .routes
            .iter()
            .any(|r| r.path() == "/api/Token" && r.dialect() == "vizseek")
    );
    assert_eq!(settings.directory.client_count(), 2);
    assert!(settings.directory.user("user@example.com").is_some());
}

#[test]
fn every_invalid_config_fails_naming_the_right_key() {
    let dir = repo_path("fixtures/config/invalid");
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("invalid configs") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        // Every line is checked: one file may show that several problems are found in one run.
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no '# expect: ' line",
            path.display()
        );
        match load_with_env(&Source::File(path.clone()), false) {
            Ok(_) => failures.push(format!("{}: loaded, expected {expected:?}", path.display())),
            Err(errors) => {
                let shown = errors.to_string();
                for expect in expected {
                    if !shown
                        .lines()
                        .any(|line| line.starts_with(expect) || line.contains(expect))
                    {
                        failures.push(format!(
                            "{}: expected {expect:?}, got:\n{shown}",
                            path.display()
                        ));
                    }
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} invalid configs");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_problems_are_reported_at_once() {
    let text = "[server]\nbind = \"nowhere\"\n[signing]\nsecret = \"short\"\n[[route]]\ndialect = \"nope\"\n";
    let errors = load_with_env(&Source::Text(text.into()), false).expect_err("invalid");
    let keys: Vec<_> = errors.0.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["server.bind", "signing.secret", "route[0].dialect"]);
}

fn problems(text: &str) -> Vec<String> {
    load_with_env(&Source::Text(text.into()), false)
        .expect_err("invalid")
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn keys(text: &str) -> Vec<String> {
    load_with_env(&Source::Text(text.into()), false)
        .expect_err("invalid")
        .0
        .into_iter()
        .map(|p| p.key)
        .collect()
}

#[test]
fn one_sections_type_error_hides_no_other_sections_problems() {
    let text = r#"
[sever]
bind = "127.0.0.1:1"
[store]
max_entries = "many"
[throttle]
windw = "1m"
[[signing.key]]
kid = "k"
algorithm = "HS256"
secret = "a-signing-secret-of-at-least-32-bytes!!"
not_before = "2026-01-01"
[[client]]
id = "broken"
grants = "password"
[[client]]
id = "fine"
[[user]]
username = "u"
id = "1"
password = "P@ssw0rd!"
clients = ["broken", "ghost"]
[[route]]
dialect = "vizseek"
anonymous_client = "broken"
require_client_id = false
[[route]]
dialect = "swagger"
response.feilds = []
"#;
    assert_eq!(
        keys(text),
        [
            "sever",
            "signing.key[0].not_before",
            "throttle.windw",
            "store.max_entries",
            "client[0].grants",
            "user[0].password",
            "user[0].password_hash",
            "user[0].clients[1]",
            "route[1].response.feilds",
        ]
    );
    // The unreadable client is reported once: what names it is not told it names nothing.
    let shown = problems(text);
    assert!(
        shown[0].starts_with("sever: unknown field `sever`, expected one of `server`, `signing`"),
        "{shown:#?}"
    );
    assert!(
        shown[3].starts_with("store.max_entries: invalid type: string \"many\""),
        "{shown:#?}"
    );
}

#[test]
fn unknown_keys_after_a_type_error_in_the_same_table_are_still_reported() {
    // Keys are read in order (`a...` before `bind`), so deserializing stops before `zzz`.
    assert_eq!(
        keys("[server]\nbind = 5\nzzz = 1\naaa = 2\n[[route]]\ndialect = \"vizseek\"\n"),
        ["server.aaa", "server.zzz", "server.bind"]
    );
}

#[test]
fn defined_dialects_come_inline_or_from_a_file_and_extend_each_other() {
    let settings = load_with_env(
        &Source::File(repo_path("fixtures/config/defined/gateway.toml")),
        false,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let routes: Vec<(&str, &str)> = settings
        .routes
        .iter()
        .map(|r| (r.path(), r.dialect()))
        .collect();
    assert_eq!(
        routes,
        [
            ("/acme/token", "acme"),
            ("/acme/json/token", "acme-json"),
            ("/legacy/Token", "legacy"),
        ]
    );
    let acme = settings.routes[0].profile();
    assert_eq!(acme.access_token_ttl.as_secs(), 600);
    assert!(!acme.request.body.contains_key("text/xml"));
    assert!(acme.request.body.contains_key("application/xml"));
    let json = settings.routes[1].profile();
    assert_eq!(json.access_token_ttl.as_secs(), 3600);
    assert!(json.description.starts_with("ACME's"));
    let media: Vec<&str> = json.request.body.keys().map(String::as_str).collect();
    assert_eq!(
        media,
        ["application/json", "application/x-www-form-urlencoded"]
    );
}

#[test]
fn a_dialects_own_mistake_is_reported_once_under_its_name() {
    // Two routes name it, and the typo is the dialect's: one problem, keyed by the dialect.
    let text = "[dialect.acme]\nextends = \"vizseek\"\nacess_token_ttl = \"1h\"\n\
        [[route]]\ndialect = \"acme\"\n\
        [[route]]\ndialect = \"acme\"\npath = \"/other\"\nbody_limt = 1\n";
    assert_eq!(
        keys(text),
        ["dialect.acme.acess_token_ttl", "route[1].body_limt"]
    );
}

#[test]
fn a_dialect_may_leave_to_its_routes_what_they_complete() {
    // owin issues tokens for a client each route names; a dialect extending it need not.
    let base = "[[client]]\nid = \"c\"\n[dialect.legacy]\nextends = \"owin\"\n";
    let named = format!("{base}[[route]]\ndialect = \"legacy\"\nanonymous_client = \"c\"\n");
    load_with_env(&Source::Text(named), false).unwrap_or_else(|e| panic!("{e}"));
    // One route completes it and another does not: only the other is at fault.
    let one_not = format!(
        "{base}[[route]]\ndialect = \"legacy\"\nanonymous_client = \"c\"\n\
         [[route]]\ndialect = \"legacy\"\npath = \"/t2\"\n"
    );
    assert_eq!(keys(&one_not), ["route[1].anonymous_client"]);
    // Named by no route, it is compiled all the same, and its gap is its own.
    let unnamed = format!("{base}[[route]]\ndialect = \"vizseek\"\n");
    assert_eq!(keys(&unnamed), ["dialect.legacy.anonymous_client"]);
}

#[test]
fn a_route_naming_a_dialect_that_does_not_resolve_adds_no_problem_of_its_own() {
    let errors = load_with_env(
        &Source::File(repo_path(
            "fixtures/config/invalid/dialect_extends_unknown.toml",
        )),
        false,
    )
    .expect_err("invalid");
    assert_eq!(errors.0.len(), 1, "{errors}");
}

#[test]
fn unknown_dialect_messages_list_the_defined_ones_too() {
    let text = "[dialect.acme]\nextends = \"vizseek\"\npath = \"/acme\"\n\
        [[route]]\ndialect = \"acne\"\n";
    assert_eq!(
        problems(text),
        ["route[0].dialect: unknown dialect \"acne\"; known: vizseek, swagger, owin, acme"]
    );
}

#[test]
fn paths_are_checked_as_routes_match_them() {
    // Case-sensitive, the route no longer takes [revocation]'s path.
    let text =
        "[[route]]\ndialect = \"vizseek\"\npath = \"/OAuth2/Revoke\"\npath_case_sensitive = true\n";
    load_with_env(&Source::Text(text.into()), false).unwrap_or_else(|e| panic!("{e}"));
    // An endpoint turned off frees its path.
    let text =
        "[revocation]\npath = \"\"\n[[route]]\ndialect = \"vizseek\"\npath = \"/oauth2/revoke\"\n";
    load_with_env(&Source::Text(text.into()), false).unwrap_or_else(|e| panic!("{e}"));
    let route = "[[route]]\ndialect = \"vizseek\"\npath = \"/.well-known/JWKS.json\"\n";
    assert_eq!(keys(route), ["route[0].path"]);
    // Moved, [jwks] frees the route's path, and takes the health check's.
    assert_eq!(
        keys(&format!("[jwks]\npath = \"/healthz\"\n{route}")),
        ["jwks.path"]
    );
}

fn printed_profile(output: &std::process::Output) -> toml::Table {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("# route["), "{stdout}");
    toml::from_str(&stdout).unwrap_or_else(|e| panic!("not TOML: {e}\n{stdout}"))
}

#[test]
fn profile_prints_a_demo_routes_effective_profile_as_toml() {
    // Matched as a request's path is: the vizseek route ignores case.
    let profile = printed_profile(&tokengate(&["profile", "/API/TOKEN"]));
    assert_eq!(profile["path"].as_str(), Some("/api/Token"));
    assert_eq!(profile["access_token_ttl"].as_str(), Some("30m"));
    // From common.toml, beneath vizseek.toml.
    assert_eq!(
        profile["errors"]["internal"]["status"].as_integer(),
        Some(500)
    );
    assert!(!profile.contains_key("extends") && !profile.contains_key("dialect"));
    // The profile it prints is one a route could be written from.
    let mut route = profile.clone();
    route.insert("dialect".into(), "vizseek".into());
    let mut config = toml::Table::new();
    config.insert("route".into(), vec![toml::Value::Table(route)].into());
    let rebuilt = toml::to_string(&config).expect("TOML");
    load_with_env(&Source::Text(rebuilt), false).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_effective_profile_is_the_one_the_route_was_compiled_from() {
    let profile = effective_profile_with_env(&Source::Demo, "/token", false).expect("a route");
    assert_eq!((profile.index, profile.dialect.as_str()), (2, "owin"));
    assert_eq!(profile.table["path"].as_str(), Some("/Token"));
    // The demo route's own key, over owin.toml.
    assert_eq!(
        profile.table["anonymous_client"].as_str(),
        Some("demo-client")
    );
    match effective_profile_with_env(&Source::Demo, "/Token/", false) {
        Err(ProfileError::NoRoute { routes, .. }) => assert_eq!(routes.len(), 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn profile_prints_a_defined_dialects_route_after_every_merge() {
    let config = repo_path("fixtures/config/defined/gateway.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(["profile", "/acme/json/token"])
        .env("TOKENGATE_CONFIG", &config)
        .output()
        .expect("runs");
    let profile = printed_profile(&output);
    // The route's override, over acme-json (inline), over acme (its file), over swagger.
    assert_eq!(profile["access_token_ttl"].as_str(), Some("1h"));
    assert!(
        profile["description"]
            .as_str()
            .unwrap()
            .starts_with("ACME's")
    );
    let body = profile["request"]["body"].as_table().unwrap();
    let media: Vec<&str> = body.keys().map(String::as_str).collect();
    assert_eq!(
        media,
        ["application/json", "application/x-www-form-urlencoded"]
    );
    assert_eq!(profile["methods"].as_array().unwrap().len(), 1);
}

#[test]
fn profile_exits_1_naming_the_routes_or_the_problems() {
    let output = tokengate(&["profile", "/nope"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "no route serves \"/nope\"; routes: /api/Token (vizseek), /api/v1/auth/token (swagger), /Token (owin)"
        ),
        "{stderr}"
    );
    let invalid = repo_path("fixtures/config/invalid/many_unknown_keys.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(["profile", "/api/Token", "--config"])
        .arg(&invalid)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("server.worker: unknown field `worker`"),
        "{stderr}"
    );
    assert!(stderr.ends_with("3 problem(s) found\n"), "{stderr}");
}

#[test]
fn secrets_come_from_a_file_relative_to_the_config() {
    let dir = std::env::temp_dir().join(format!("tokengate-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("jwt.key"),
        "a-signing-secret-of-at-least-32-bytes!!\n",
    )
    .expect("key");
    std::fs::write(dir.join("client.secret"), "s3cret\n").expect("secret");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        "[signing]\nsecret_file = \"jwt.key\"\n[[client]]\nid = \"c\"\nsecret_file = \"client.secret\"\n[[route]]\ndialect = \"vizseek\"\n",
    )
    .expect("config");
    let settings = load_with_env(&Source::File(config), false).unwrap_or_else(|e| panic!("{e}"));
    let client = settings
        .directory
        .client(&tokengate::domain::ClientId::new("c"))
        .expect("client");
    assert!(
        client
            .authenticate(Some(&tokengate::domain::Secret::new("s3cret")))
            .is_ok()
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn environment_variables_override_table_keys() {
    let output = Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(["check"])
        .env("TOKENGATE__SERVER__BIND", "127.0.0.1:9123")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("listens on 127.0.0.1:9123"), "{stdout}");
}

#[test]
fn check_prints_every_problem_and_exits_1() {
    let output = Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(["check", "--config"])
        .arg(repo_path("fixtures/config/invalid/unknown_dialect.toml"))
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "route[1].dialect: unknown dialect \"vizseak\"; known: vizseek, swagger, owin"
        ),
        "{stderr}"
    );
}

#[test]
fn hash_password_output_is_accepted_as_a_users_hash() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"correct horse\n")
        .expect("write");
    let output = child.wait_with_output().expect("exits");
    assert!(output.status.success());
    let phc = String::from_utf8(output.stdout).expect("utf8");
    let hash = tokengate::engine::StoredHash::parse(phc.trim(), Default::default())
        .expect("a valid stored hash");
    let plain =
        tokengate::domain::PasswordProof::Plain(tokengate::domain::Secret::new("correct horse"));
    assert!(hash.verify(&plain));
}

/// The file a bare `tokengate` serves, named by TOKENGATE_CONFIG or by a top-level --config,
/// read from its startup lines: the routes it serves, and whether it fell back to the demo.
fn served_without_subcommand(args: &[&str], env_config: Option<&std::path::Path>) -> Vec<String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokengate"));
    command
        .args(args)
        .env_remove("TOKENGATE_CONFIG")
        .env("TOKENGATE__SERVER__BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info");
    if let Some(config) = env_config {
        command.env("TOKENGATE_CONFIG", config);
    }
    let mut spawned = crate::helpers::spawn_gateway(command);
    let _ = spawned.child.kill();
    let _ = spawned.child.wait();
    spawned.before
}

#[test]
fn a_bare_tokengate_serves_the_file_tokengate_config_or_config_names_not_the_demo() {
    let config = repo_path("fixtures/config/defined/gateway.toml");
    let config_arg = config.to_str().expect("utf-8 path");
    for (args, env) in [
        (vec![], Some(config.as_path())),
        (vec!["--config", config_arg], None),
        (vec!["-c", config_arg], None),
    ] {
        let lines = served_without_subcommand(&args, env);
        let log = lines.join("\n");
        assert!(
            !log.contains("embedded demo"),
            "{args:?} with TOKENGATE_CONFIG {env:?} served the demo:\n{log}"
        );
        assert!(
            log.contains("/acme/json/token"),
            "{args:?} did not serve the file's routes:\n{log}"
        );
    }
    // Neither given: the demo, as `cargo run` promises.
    let log = served_without_subcommand(&[], None).join("\n");
    assert!(log.contains("embedded demo"), "{log}");
}

#[test]
fn the_log_section_names_its_format_and_refuses_others_with_the_key() {
    let demo = std::fs::read_to_string(repo_path("fixtures/demo.toml")).unwrap();
    let json = load_with_env(
        &Source::Text(format!("{demo}\n[log]\nformat = \"json\"\n")),
        false,
    )
    .unwrap();
    assert_eq!(json.log.format, tokengate::config::LogFormat::Json);
    let problems = problems(&format!(
        "{demo}\n[log]\nformat = \"xml\"\nlevel = \"debug\"\n"
    ));
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("log.format: ") && p.contains("text")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("log.level: ")),
        "{problems:?}"
    );
}
