//! Configuration: the demo loads, each invalid file fails naming its key, secrets come from the
//! environment or a file, and environment variables override table keys.

use std::process::Command;

use tokengate::config::{Source, load_with_env};

use crate::helpers::repo_path;

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
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no '# expect: ' line", path.display()));
        match load_with_env(&Source::File(path.clone()), false) {
            Ok(_) => failures.push(format!("{}: loaded, expected {expect:?}", path.display())),
            Err(errors) => {
                let shown = errors.to_string();
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
    let hash = tokengate::engine::StoredHash::parse(phc.trim()).expect("a valid stored hash");
    let plain =
        tokengate::domain::PasswordProof::Plain(tokengate::domain::Secret::new("correct horse"));
    assert!(hash.verify(&plain));
}
