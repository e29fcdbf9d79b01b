//! `tokengate users import`: the sample export's rows checked and reported one by one, into a
//! TOML directory (`[[user]]` items) and into the postgres directory's Identity tables (both
//! presets, against the real PostgreSQL as tests/api/postgres.rs uses it), the imported users
//! signing in through the legacy `/Token` with their ASP.NET Identity hashes, and reruns that
//! change nothing.

use std::sync::Arc;

use tokengate::engine::FixedClock;

use crate::helpers::{
    FORM, TempDir, form, gateway_from, golden_instant, repo_path, send, service, tokengate,
};
use crate::postgres::{TestDb, config as postgres_config, owin as postgres_owin, postgres_url};

/// `users import --from EXPORT` with `target` (`--out FILE` or `--config FILE`): it must
/// succeed and print no hash of the sample export; its report.
fn run_import(export: &str, target: [&str; 2]) -> String {
    let export = repo_path(export);
    let mut args = vec!["users", "import", "--from", export.to_str().unwrap()];
    args.extend(target);
    let output = tokengate(&args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stdout}{stderr}");
    for hash in export_hashes() {
        assert!(
            !stdout.contains(&hash) && !stderr.contains(&hash),
            "a hash was printed"
        );
    }
    stdout
}

/// Into a TOML directory's `[[user]]` file.
fn import(export: &str, out: &std::path::Path) -> String {
    run_import(export, ["--out", out.to_str().unwrap()])
}

/// Every hash of the sample export, which no output may show.
fn export_hashes() -> Vec<String> {
    let csv = std::fs::read_to_string(repo_path("fixtures/import/AspNetUsers.csv")).unwrap();
    csv.lines()
        .skip(1)
        .map(|line| line.split(',').nth(3).unwrap().to_owned())
        .filter(|hash| hash != "NULL")
        .collect()
}

#[test]
fn a_csv_export_is_checked_row_by_row_and_a_rerun_changes_nothing() {
    let dir = TempDir::new("import");
    let out = dir.path().join("users.toml");
    // Every run also checks that no hash of the export is printed (`run_import`).
    let stdout = import("fixtures/import/AspNetUsers.csv", &out);
    let report: Vec<&str> = stdout.lines().filter(|l| !l.ends_with("rows/s")).collect();
    assert_eq!(
        report,
        [
            "rows read 7, imported 2, updated 0, unchanged 0, skipped 5",
            "  password hashes: 1 ASP.NET Identity v2, 1 ASP.NET Identity v3",
            "skipped row 3 (Id \"b0a1c2d3-0003-4000-8000-000000000003\"): locked out (a [[user]] has no lockout; the postgres directory honours it)",
            "skipped row 4 (Id \"b0a1c2d3-0004-4000-8000-000000000004\"): no PasswordHash: a [[user]] signs in with a password",
            "skipped row 5 (Id \"b0a1c2d3-0005-4000-8000-000000000005\"): PasswordHash: unknown ASP.NET Identity format marker 0x02 (0x00 is v2, 0x01 is v3)",
            "skipped row 6 (Id \"b0a1c2d3-0006-4000-8000-000000000006\"): UserName repeats row 1's",
            "skipped row 7 (Id \"b0a1c2d3-0007-4000-8000-000000000007\"): EmailConfirmed is not a bit (1, 0, True or False)",
        ],
        "{stdout}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the [[user]] file holds hashes");
    }
    let written = std::fs::read_to_string(&out).unwrap();
    let again = import("fixtures/import/AspNetUsers.csv", &out);
    assert!(
        again.starts_with("rows read 7, imported 0, updated 0, unchanged 2, skipped 5\n"),
        "{again}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), written);
    // The JSON export of the same users, as FOR JSON PATH writes it (nulls left out), is the
    // same two users, unchanged.
    let json = import("fixtures/import/AspNetUsers.json", &out);
    assert!(
        json.starts_with("rows read 4, imported 0, updated 0, unchanged 2, skipped 2\n"),
        "{json}"
    );
}

#[actix_web::test]
async fn imported_users_sign_in_through_the_legacy_token_with_their_identity_hashes() {
    let dir = TempDir::new("import-login");
    let out = dir.path().join("users.toml");
    import("fixtures/import/AspNetUsers.csv", &out);
    let config = format!(
        "[signing]\nsecret = \"import-test-signing-secret-0123456789abcdef\"\n\n\
         [[client]]\nid = \"app\"\n\n\
         [[route]]\ndialect = \"owin\"\npath = \"/Token\"\nanonymous_client = \"app\"\n\n{}",
        std::fs::read_to_string(&out).unwrap()
    );
    let clock = Arc::new(FixedClock::new(golden_instant()));
    let app = service(Arc::new(gateway_from(&config, clock))).await;
    // ann holds an Identity v2 hash, bob an Identity v3 (HMAC-SHA256) one, both of "my
    // password" (fixtures/hashes/identity-mono.json).
    for user in ["ann@example.com", "bob@example.com"] {
        let body = form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", "my password"),
        ]);
        let answer = send(&app, "POST", "/Token", &[FORM], body).await;
        assert_eq!(answer.status, 200, "{user}: {}", answer.text());
        assert_eq!(answer.json()["userName"], user);
        let wrong = form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", "not my password"),
        ]);
        let answer = send(&app, "POST", "/Token", &[FORM], wrong).await;
        assert_eq!(answer.status, 400, "{user}");
    }
}

#[test]
fn an_import_into_the_toml_directory_without_out_says_what_is_missing() {
    let export = repo_path("fixtures/import/AspNetUsers.csv");
    let output = tokengate(&["users", "import", "--from", export.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "the directory is the TOML one: name the file of [[user]] items to write with --out\n"
    );
}

#[test]
fn an_unreadable_export_stops_with_one_line_and_writes_nothing() {
    let dir = TempDir::new("import-bad");
    let out = dir.path().join("users.toml");
    let export = dir.path().join("export.json");
    std::fs::write(&export, r#"{"Id": "not an array"}"#).unwrap();
    let output = tokengate(&[
        "users",
        "import",
        "--from",
        export.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("import stopped: not a JSON array of user objects:"),
        "{stderr}"
    );
    assert!(!out.exists());
}

/// Into the postgres directory `config` names.
fn import_into(config: &std::path::Path, export: &str) -> String {
    run_import(export, ["--config", config.to_str().unwrap()])
}

/// A schema of `preset` of the test's own, and a gateway configuration over it in a file.
async fn postgres_directory(
    test: &str,
    preset: &'static str,
) -> Option<(TestDb, TempDir, String, std::path::PathBuf)> {
    let db = TestDb::create(test, preset).await?;
    let dir = TempDir::new(test);
    let text = postgres_config(&db.directory(&postgres_url(), ""));
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, &text).unwrap();
    Some((db, dir, text, config))
}

fn first_line(report: &str) -> &str {
    report.lines().next().unwrap_or_default()
}

#[actix_web::test]
async fn an_export_goes_into_the_identity_core_tables_once_and_its_users_sign_in() {
    let Some((db, dir, text, config)) = postgres_directory("import-core", "identity_core").await
    else {
        return;
    };

    let report = import_into(&config, "fixtures/import/AspNetUsers.csv");
    // The locked-out user and the one without a password are kept, as the legacy table had
    // them: the directory honours the lockout, and the password grant fails for the other.
    assert_eq!(
        first_line(&report),
        "rows read 7, imported 4, updated 0, unchanged 0, skipped 3",
        "{report}"
    );
    assert!(
        report.contains("  1 without a password hash (external logins only: no password grant)"),
        "{report}"
    );
    let row = db
        .client
        .query_one(
            r#"SELECT "NormalizedUserName", "NormalizedEmail", "ConcurrencyStamp" IS NOT NULL,
                      "LockoutEnd" FROM "AspNetUsers" WHERE "Id" = 'b0a1c2d3-0003-4000-8000-000000000003'"#,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "CY@EXAMPLE.COM");
    assert_eq!(row.get::<_, String>(1), "CY@EXAMPLE.COM");
    assert!(
        row.get::<_, bool>(2),
        "a new ConcurrencyStamp, as EF Core writes one"
    );
    assert_eq!(
        row.get::<_, chrono::DateTime<chrono::Utc>>(3).to_rfc3339(),
        "2099-01-01T00:00:00+00:00"
    );

    let again = import_into(&config, "fixtures/import/AspNetUsers.csv");
    assert_eq!(
        first_line(&again),
        "rows read 7, imported 0, updated 0, unchanged 4, skipped 3",
        "{again}"
    );
    // The JSON export of the same four users: nothing to change.
    let json = import_into(&config, "fixtures/import/AspNetUsers.json");
    assert_eq!(
        first_line(&json),
        "rows read 4, imported 0, updated 0, unchanged 4, skipped 0",
        "{json}"
    );

    // A name another id holds in the table is that row's skip, not a failed batch.
    db.exec(
        r#"INSERT INTO "AspNetUsers" ("Id", "UserName", "NormalizedUserName", "EmailConfirmed",
           "PhoneNumberConfirmed", "TwoFactorEnabled", "LockoutEnabled", "AccessFailedCount")
           VALUES ('legacy-1', 'gil@example.com', 'GIL@EXAMPLE.COM', true, false, false, true, 0)"#,
    )
    .await;
    let export = dir.path().join("more.csv");
    std::fs::write(
        &export,
        "Id,UserName,Email,PasswordHash\nnew-1,Gil@Example.com,gil@example.com,NULL\n\
         b0a1c2d3-0001-4000-8000-000000000001,ann@example.com,ann@new.example.com,AGG0+gxwTDYDXoNN79dRQT54fdAT/i2YaO1q+bCYEKU3RuX9RcV7+HVt5CFrEHsffA==\n",
    )
    .unwrap();
    let more = import_into(&config, export.to_str().unwrap());
    assert_eq!(
        first_line(&more),
        "rows read 2, imported 0, updated 1, unchanged 0, skipped 1",
        "{more}"
    );
    assert!(
        more.contains(
            "skipped row 1 (Id \"new-1\"): UserName belongs to another Id in the directory"
        ),
        "{more}"
    );

    let clock = Arc::new(FixedClock::new(golden_instant()));
    let app = service(Arc::new(gateway_from(&text, clock))).await;
    let (status, body) = postgres_owin(&app, "ann@example.com", "my password").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = postgres_owin(&app, "bob@example.com", "my password").await;
    assert_eq!(status, 200);
    // Imported locked out until 2099: the dialect's authentication failure.
    let (status, _) = postgres_owin(&app, "cy@example.com", "my password").await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn an_export_goes_into_identity2_tables_without_normalized_columns() {
    let Some((db, _dir, text, config)) = postgres_directory("import-2", "identity2").await else {
        return;
    };
    let report = import_into(&config, "fixtures/import/AspNetUsers.csv");
    assert_eq!(
        first_line(&report),
        "rows read 7, imported 4, updated 0, unchanged 0, skipped 3",
        "{report}"
    );
    let again = import_into(&config, "fixtures/import/AspNetUsers.csv");
    assert_eq!(
        first_line(&again),
        "rows read 7, imported 0, updated 0, unchanged 4, skipped 3",
        "{again}"
    );
    let lockout: chrono::NaiveDateTime = db
        .client
        .query_one(
            r#"SELECT "LockoutEndDateUtc" FROM "AspNetUsers" WHERE "Id" = 'b0a1c2d3-0003-4000-8000-000000000003'"#,
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(lockout.to_string(), "2099-01-01 00:00:00", "kept as UTC");
    let clock = Arc::new(FixedClock::new(golden_instant()));
    let app = service(Arc::new(gateway_from(&text, clock))).await;
    let (status, body) = postgres_owin(&app, "ANN@example.com", "my password").await;
    assert_eq!(status, 200, "{body}");
}
