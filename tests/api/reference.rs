//! The configuration reference covers the configuration model (issue 16): every key a section
//! reads, as `check` lists them when it meets a key it does not know, is named in the section
//! of the reference that documents it. A key added to the model and not to the docs fails here.
//! And the README's configuration sample is one `check` accepts.

use crate::helpers::{TempDir, repo_path, tokengate};

/// A key no section has, in every section and array item the configuration reads.
const PROBE: &str = r#"zz_probe = 1
[server]
zz_probe = 1
[log]
zz_probe = 1
[signing]
zz_probe = 1
[[signing.key]]
zz_probe = 1
[throttle]
zz_probe = 1
[store]
zz_probe = 1
[introspection]
zz_probe = 1
[revocation]
zz_probe = 1
[jwks]
zz_probe = 1
[discovery]
zz_probe = 1
[metrics]
zz_probe = 1
[katana]
zz_probe = 1
[shadow]
zz_probe = 1
[control]
zz_probe = 1
[testing]
zz_probe = 1
[directory]
zz_probe = 1
[[client]]
zz_probe = 1
[[user]]
zz_probe = 1
[[route]]
dialect = "vizseek"
zz_probe = 1
[dialect.probe]
zz_probe = 1
"#;

/// The keys `check` names for each section: `(section key path, [key])`.
fn model_keys() -> Vec<(String, Vec<String>)> {
    let dir = TempDir::new("reference");
    let path = dir.path().join("probe.toml");
    std::fs::write(&path, PROBE).expect("write");
    let output = tokengate(&["check", "--config", path.to_str().expect("utf-8")]);
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    let mut sections = Vec::new();
    for line in text.lines() {
        let Some((key, message)) = line.split_once(": unknown field `zz_probe`, expected ") else {
            continue;
        };
        let section = key.strip_suffix("zz_probe").unwrap_or(key);
        let section = section.strip_suffix('.').unwrap_or(section).to_owned();
        let keys: Vec<String> = message
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        sections.push((section, keys));
    }
    // Each probe is reported (the top level's own key included), so none went unchecked.
    assert_eq!(sections.len(), 21, "{text}");
    sections
}

/// The part of `doc` under the heading that names `marker`, up to the next heading.
fn under_heading<'a>(doc: &'a str, marker: &str) -> Option<&'a str> {
    doc.split("\n#").find(|chunk| {
        chunk
            .lines()
            .next()
            .is_some_and(|title| title.contains(marker))
    })
}

#[test]
fn every_key_of_the_configuration_model_is_in_the_reference() {
    let read = |name: &str| std::fs::read_to_string(repo_path(name)).expect("doc");
    let (configuration, profiles, directory) = (
        read("docs/configuration.md"),
        read("docs/profiles.md"),
        read("docs/directory.md"),
    );
    let mut missing = Vec::new();
    for (section, keys) in model_keys() {
        // Where each section is documented: a profile's keys in the profile language's
        // reference, the postgres directory's in its own, the rest under their heading here.
        let (file, text) = match section.as_str() {
            "" => ("docs/configuration.md", Some(configuration.as_str())),
            "route[0]" | "dialect.probe" => ("docs/profiles.md", Some(profiles.as_str())),
            "directory" => ("docs/directory.md", Some(directory.as_str())),
            "signing.key[0]" => (
                "docs/configuration.md",
                under_heading(&configuration, "`[[signing.key]]`"),
            ),
            "client[0]" | "user[0]" => {
                let name = section.trim_end_matches("[0]");
                (
                    "docs/configuration.md",
                    under_heading(&configuration, &format!("`[[{name}]]`")),
                )
            }
            name => (
                "docs/configuration.md",
                under_heading(&configuration, &format!("[{name}]")),
            ),
        };
        let Some(text) = text else {
            missing.push(format!("{file}: no heading for [{section}]"));
            continue;
        };
        let whole = match file {
            "docs/profiles.md" => &profiles,
            "docs/directory.md" => &directory,
            _ => &configuration,
        };
        for key in keys {
            // A sub-table has a heading of its own: `[server.tls]`, `[[signing.key]]`.
            let table = [
                format!("`[{section}.{key}]"),
                format!("`[[{section}.{key}]]"),
            ]
            .iter()
            .any(|form| whole.contains(form.as_str()));
            let named = table
                || [
                    format!("`{key}`"),
                    format!(".{key}`"),
                    format!("`{key} "),
                    format!("`{key}."),
                    format!("`[{key}"),
                    format!("`[[{key}"),
                ]
                .iter()
                .any(|form| text.contains(form.as_str()));
            if !named {
                missing.push(format!("{file}: [{section}] {key}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys the configuration reads and the reference does not name:\n{}",
        missing.join("\n")
    );
}

/// The README's configuration sample passes `check` as printed, given the variables it names.
#[test]
fn the_readme_configuration_sample_passes_check() {
    let readme = std::fs::read_to_string(repo_path("README.md")).expect("README");
    let section = &readme[readme.find("\n## Configuration").expect("the section")..];
    let start = section.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let sample = &section[start..start + section[start..].find("\n```").expect("its end")];
    assert!(sample.contains("[[route]]"), "{sample}");
    let dir = TempDir::new("readme-sample");
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, sample).expect("write");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(["check", "--config"])
        .arg(&path)
        .env_remove("TOKENGATE_CONFIG")
        .env(
            "TOKENGATE_SIGNING_SECRET",
            "a-signing-secret-of-at-least-32-bytes",
        )
        .env("MOBILE_APP_SECRET", "mobile-secret")
        .env("RESOURCE_SERVER_SECRET", "resource-secret")
        .env("LEGACY_VALIDATION_KEY", "ab".repeat(32))
        .env("LEGACY_DECRYPTION_KEY", "cd".repeat(32))
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
